"""LoihiProgram: validation (every violation at once, naming layer, field, value and limit),
lossless JSON, and Lava's weight rules (weightutils.py, netx optimize_weight_bits) on
hand-computed matrices."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nircc.backends.loihi.emulator import LoihiEmulator
from nircc.backends.loihi.program import (FORMAT, ConvLayer, CubaNeurons, DenseLayer, FlattenLayer, InputLayer,
                                          LoihiProgram, Synapse)
from nircc.backends.loihi.weights import (clip_weights, determine_sign_mode, lava_weights, netx_optimize_weight_bits,
                                          netx_synapse, truncate_weights)
from nircc.errors import NirccError


def neurons(n: int, **kw) -> CubaNeurons:
    return CubaNeurons.uniform(n, **({"du": 100, "dv": 200, "vth": 50} | kw))


def full_program() -> LoihiProgram:
    """Every layer kind: input (C, H, W) -> conv -> conv -> flatten -> dense_rec with delays -> dense."""
    rng = np.random.default_rng(3)
    c1 = ConvLayer("c1", (2, 6, 5), rng.integers(-60, 60, (4, 2, 3, 3)) * 4, neurons(4 * 6 * 5, vth=20),
                   padding=(1, 1), num_weight_bits=7)
    c2 = ConvLayer("c2", (4, 6, 5), rng.integers(0, 64, (4, 2, 2, 2)) * 4, neurons(4 * 3 * 4, vth=20), stride=(2, 1),
                   groups=2, sign_mode="excitatory", num_weight_bits=6)
    rec = Synapse(rng.integers(-32, 32, (6, 6)) * 8, weight_exp=-1, num_weight_bits=6,
                  delays=rng.integers(0, 4, (6, 6)))
    d1 = DenseLayer("d1", Synapse(rng.integers(0, 128, (6, 48)) * 2, weight_exp=1, num_weight_bits=7,
                                  sign_mode="excitatory", delays=rng.integers(0, 3, (6, 48))),
                    CubaNeurons(du=4095, dv=0, vth=300, bias_mant=rng.integers(-100, 100, 6), bias_exp=6),
                    synapse_rec=rec)
    d2 = DenseLayer("d2", Synapse(-rng.integers(0, 255, (3, 6)), sign_mode="inhibitory"),
                    neurons(3, bias_mant=40, bias_exp=6))
    return LoihiProgram([InputLayer("in", (2, 6, 5)), c1, c2, FlattenLayer("flat"), d1, d2], dt=1e-3,
                        meta={"source": "test"})


def test_full_program_is_valid_and_typed() -> None:
    p = full_program()
    p.validate()
    assert [lay.kind for lay in p.layers] == ["input", "conv", "conv", "flatten", "dense_rec", "dense"]
    assert p.shapes() == {"in": (2, 6, 5), "c1": (4, 6, 5), "c2": (4, 3, 4), "flat": (48,), "d1": (6,), "d2": (3,)}
    d1 = p.layer("d1")
    assert d1.synapse.weights.dtype == np.int16 and d1.synapse.delays.dtype == np.uint8
    assert d1.neurons.bias_mant.dtype == np.int16 and p.layer("c1").weights.dtype == np.int16
    assert p.output_layer.name == "d2" and [lay.name for lay in p.neuron_layers()] == ["c1", "c2", "d1", "d2"]


def test_json_round_trip_is_lossless() -> None:
    p = full_program()
    text = p.to_json()
    d = json.loads(text)
    assert {"schema", "schema_version", "nircc_version", "variant", "dt"} <= set(d)     # the common header
    assert (d["schema"], d["schema_version"]) == ("nircc.loihi.program", 2)
    q = LoihiProgram.from_dict(d)
    assert q.to_json() == text
    old = {k: v for k, v in d.items() if k not in ("schema", "schema_version")}     # version 1: "format"
    assert LoihiProgram.from_dict({**old, "format": FORMAT}).to_json() == text
    q.validate()
    x = (np.random.default_rng(0).random((30, 2, 60)) < 0.5).astype(np.uint8)
    a, b = LoihiEmulator(p).run(x, record=True), LoihiEmulator(q).run(x, record=True)
    for key in a.states:
        np.testing.assert_array_equal(a.states[key], b.states[key])
    assert a.outputs["d2"].any()


def test_json_keeps_invalid_values_for_validate() -> None:
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("h", Synapse(np.array([[0.5, 2.0]]),
                                                                       delays=np.array([[-1, 70]])), neurons(1))])
    q = LoihiProgram.from_dict(json.loads(p.to_json()))
    assert errors_of(q) == errors_of(p)
    find(errors_of(q), "h", "synapse.weights", "must be integers", "float64")
    find(errors_of(q), "h", "synapse.delays", "[-1, 70]")


def test_from_dict_rejects_other_formats() -> None:
    with pytest.raises(NirccError, match="a Loihi program is not a nircc.loihi.program document"):
        LoihiProgram.from_dict({"format": "nircc.xylo/1"})
    d = full_program().to_dict()
    d["layers"][1]["kind"] = "pool"
    with pytest.raises(NirccError, match="unknown layer kind 'pool'"):
        LoihiProgram.from_dict(d)


def errors_of(p: LoihiProgram) -> list[tuple]:
    with pytest.raises(NirccError) as info:
        p.validate()
    return [(e.node, e.field, e.message) for e in info.value.errors]


def find(errs: list[tuple], node, field, *words: str) -> None:
    hits = [m for n, f, m in errs if n == node and f == field and all(w in m for w in words)]
    assert hits, f"no error ({node}, {field}) with {words} in {errs}"


def test_neuron_and_synapse_limits_are_named_all_at_once() -> None:
    bad_n = CubaNeurons(du=4096, dv=-1, vth=131072, bias_mant=np.array([0, 4096, -4097]), bias_exp=8)
    syn = Synapse(np.array([[300, 2, 4], [1, 0, 2], [0, 0, 0]]), weight_exp=8, num_weight_bits=8,
                  delays=np.array([[0, 63, 0], [0, 0, 0], [0, 0, 0]]))
    p = LoihiProgram([InputLayer("in", (3,)), DenseLayer("h", syn, bad_n)], input_message_bits=25, dt=-1.0)
    errs = errors_of(p)
    find(errs, "h", "neurons.du", "4096", "0..4095", "12-bit")
    find(errs, "h", "neurons.dv", "-1", "0..4095")
    find(errs, "h", "neurons.vth", "131072", "0..131071", "17-bit")
    find(errs, "h", "neurons.bias_exp", "8", "0..7")
    find(errs, "h", "neurons.bias_mant", "2 bias mantissas outside -4096..4095", "neuron 1 has 4096")
    find(errs, "h", "synapse.weights", "1 weights outside mixed's [-256, 255]", "weight[0, 0] = 300")
    find(errs, "h", "synapse.weight_exp", "8", "-8..7")
    find(errs, "h", "synapse.delays", "0..62", "[0, 63]")
    find(errs, None, "input_message_bits", "25", "0..24")
    find(errs, None, "dt", "-1.0")
    assert len(errs) == 10


def test_truncation_in_both_sign_modes_is_checked() -> None:
    # mixed, 8 bits: the lowest bit is dropped, so 1 would become 0
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("h", Synapse(np.array([[2, -1]])), neurons(1))])
    find(errors_of(p), "h", "synapse.weights", "changed by Lava's clip and truncation", "mixed: clip to [-256, 255], low 1 bits",
         "-1 becomes -2")
    # declared mixed, but Lava picks inhibitory for a matrix without positive weights: -256 is clipped to -255
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("h", Synapse(np.array([[-256, -2]])), neurons(1))])
    find(errors_of(p), "h", "synapse.weights", "the sign mode Lava picks", "inhibitory: clip to [-255, 0]",
         "-256 becomes -255")
    # excitatory with 5 bits: the low 3 bits go
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("h", Synapse(np.array([[8, 12]]), sign_mode="excitatory",
                                                                       num_weight_bits=5), neurons(1))])
    find(errors_of(p), "h", "synapse.weights", "low 3 bits cleared", "12 becomes 8")
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("h", Synapse(np.array([[8, 16]]), sign_mode="inhibitory",
                                                                       num_weight_bits=0), neurons(1))])
    errs = errors_of(p)
    find(errs, "h", "synapse.weights", "inhibitory's [-255, 0]", "weight[0, 0] = 8")
    find(errs, "h", "synapse.num_weight_bits", "0", "1..8")
    p = LoihiProgram([InputLayer("in", (1,)), DenseLayer("h", Synapse(np.array([[2]]), sign_mode="both"), neurons(1))])
    find(errors_of(p), "h", "synapse.sign_mode", "'both'", "mixed, excitatory, inhibitory")


def test_layer_structure_errors() -> None:
    conv = ConvLayer("c", (2, 4, 4), np.zeros((3, 2, 3, 3), np.int64), neurons(3 * 2 * 2))
    dense = DenseLayer("d", Synapse(np.zeros((2, 5), np.int64)), neurons(2))
    p = LoihiProgram([InputLayer("in", (2, 4, 4)), dense, conv, FlattenLayer("f"), FlattenLayer("f")])
    errs = errors_of(p)
    find(errs, "d", "kind", "needs a flat input", "[2, 4, 4]")
    find(errs, "d", "synapse.weights", "[2, 5]", "expected [2, 32]")
    find(errs, "c", "in_shape", "[2, 4, 4]", "previous layer's output [2]")
    find(errs, "f", "name", "used twice")
    find(errs, "f", "kind", "flatten follows 'f'")
    find(errs, "f", "kind", "must have neurons")
    p = LoihiProgram([dense, InputLayer("in", (5,))])
    errs = errors_of(p)
    find(errs, "d", "kind", "first layer must be the input layer, not dense")
    find(errs, "in", "kind", "only the first")
    find(errors_of(LoihiProgram([])), None, "layers", "at least an input layer")
    find(errors_of(LoihiProgram([InputLayer("in", (2, 3))])), "in", "shape", "(N,) or (C, H, W)")
    find(errors_of(LoihiProgram([InputLayer("in", (3,))])), "in", "kind", "must have neurons")


def test_conv_geometry_errors() -> None:
    w = np.zeros((6, 2, 3, 3), np.int64)
    p = LoihiProgram([InputLayer("in", (4, 5, 5)), ConvLayer("c", (4, 5, 5), w, neurons(6 * 3 * 3), groups=3)])
    find(errors_of(p), "c", "groups", "groups 3 must divide C_in 4")
    p = LoihiProgram([InputLayer("in", (4, 5, 5)), ConvLayer("c", (4, 5, 5), w, neurons(6 * 3 * 3))])
    find(errors_of(p), "c", "weights", "2 input channels per group", "4 / 1 = 4")
    w = np.zeros((6, 4, 7, 3), np.int64)
    p = LoihiProgram([InputLayer("in", (4, 5, 5)), ConvLayer("c", (4, 5, 5), w, neurons(1), stride=(0, 1),
                                                             padding=(-1, 0))])
    errs = errors_of(p)
    find(errs, "c", "stride", "(0, 1)", "1..127")
    find(errs, "c", "padding", "(-1, 0)", "0..127")
    p = LoihiProgram([InputLayer("in", (4, 5, 5)), ConvLayer("c", (4, 5, 5), w, neurons(1))])
    find(errors_of(p), "c", "weights", "does not fit the padded input", "output [6, -1, 3]")
    w = np.zeros((6, 4, 3, 3), np.int64)
    p = LoihiProgram([InputLayer("in", (4, 5, 5)), ConvLayer("c", (4, 5, 5), w, neurons(7))])
    find(errors_of(p), "c", "neurons.bias_mant", "7 neurons for a [6, 3, 3] output (54)")


def test_non_integer_values_are_named() -> None:
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("h", Synapse(np.array([[0.5, 2.0]])),
                                                          CubaNeurons(du=1.5, dv=0, vth=10, bias_mant=[0.25]))])
    errs = errors_of(p)
    find(errs, "h", "synapse.weights", "must be integers", "float64")
    find(errs, "h", "neurons.du", "1.5")
    find(errs, "h", "neurons.bias_mant", "must be integers", "float64")


# ---------------------------------------------------------------------- Lava's weight rules
def test_sign_mode_clip_and_truncate() -> None:
    assert [determine_sign_mode(np.array(w)) for w in ([0, 1], [0, -1], [1, -1], [0, 0])] == \
        ["excitatory", "inhibitory", "mixed", "excitatory"]
    assert clip_weights(np.array([-300, -5, 300]), "mixed").tolist() == [-256, -5, 255]
    assert clip_weights(np.array([-300, -5, 300]), "excitatory").tolist() == [0, 0, 255]
    assert clip_weights(np.array([-300, -5, 300]), "inhibitory").tolist() == [-255, -5, 0]
    assert truncate_weights(np.array([3, -3, 255]), "mixed", 8).tolist() == [2, -4, 254]        # floor of w / 2
    assert truncate_weights(np.array([3, 255, 7]), "excitatory", 6).tolist() == [0, 252, 4]
    assert truncate_weights(np.array([-3, -255, -7]), "inhibitory", 6).tolist() == [0, -252, -4]  # of |w|
    assert lava_weights(np.array([-300, 301]), "mixed", 7).tolist() == [-256, 252]
    with pytest.raises(NirccError, match="negative"):
        truncate_weights(np.array([1]), "excitatory", 9)


@pytest.mark.parametrize("w,netx,nwb,exp,mode", [
    ([[1, -1]], [[128, -128]], 2, -7, "mixed"),         # scale min(127, 128) -> 6 + 1 bits
    ([[3, 6]], [[96, 192]], 3, -5, "excitatory"),       # scale 255 / 6 = 42.5 -> 5 bits
    ([[-4, -3]], [[-256, -192]], 2, -6, "inhibitory"),  # scale 256 / 4 = 64 -> 6 bits
    ([[300, -5]], [[254, -5]], 9, 0, "mixed"),          # clipped to 254 as netx does; odd -> 9 bits
])
def test_netx_optimize_weight_bits(w, netx, nwb, exp, mode) -> None:
    got, got_nwb, got_exp, got_mode = netx_optimize_weight_bits(np.array(w))
    assert (got.tolist(), got_nwb, got_exp, got_mode) == (netx, nwb, exp, mode)


def test_netx_synapse_is_what_lava_computes_with() -> None:
    s = netx_synapse(np.array([[1, -1]]))
    assert (s.weights.tolist(), s.weight_exp, s.num_weight_bits, s.sign_mode) == ([[128, -128]], -7, 2, "mixed")
    # netx scales an inhibitory matrix to -256, Lava clips that to -255 and truncates: -4 ends up as -3
    s = netx_synapse(np.array([[-4, -3]]))
    assert (s.weights.tolist(), s.weight_exp) == ([[-192, -192]], -6)
    with pytest.raises(NirccError, match="num_weight_bits 0"):
        netx_synapse(np.array([[-1]]))                   # -256 -> -255 -> 0 bits: every weight would vanish
    with pytest.raises(NirccError, match="num_weight_bits 9"):
        netx_synapse(np.array([[300, -5]]))
    with pytest.raises(NirccError, match="all-zero"):
        netx_synapse(np.zeros((2, 2)))
    with pytest.raises(NirccError, match="<= 255"):
        netx_synapse(np.array([[256, 3]]))
    with pytest.raises(NirccError, match="integers"):
        netx_synapse(np.array([[0.5]]))
    d = np.array([[3, 0]])
    assert netx_synapse(np.array([[2, 4]]), delays=d).delays.tolist() == [[3, 0]]
