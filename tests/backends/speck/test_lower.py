"""Speck lowering: hand-built NIR graphs -> SpeckProgram with integers computed by hand,
exact rewrites checked against the reference simulator, and every error naming node,
quantity and limit."""
from __future__ import annotations

from typing import Optional

import nir
import numpy as np
import pytest

from nircc.backends.io import program_io
import nircc
from nircc.errors import NirccError
from nircc.semantics import Semantics
from tests import paths

F32 = np.float32
CNN = paths.PAPER / "cnn_sinabs.nir"
SINABS = Semantics.from_options("sinabs", dt=1.0)       # >=, subtract, multi spike: the event regime
NIR_DT1 = Semantics(dt=1.0)                              # NIR defaults (>, zero, single), dt = 1


# ----------------------------------------------------------------------------- builders
def conv(w, stride=1, padding=0, bias=None, groups=1, dilation=1) -> nir.Conv2d:
    w = np.asarray(w, F32)
    return nir.Conv2d(input_shape=None, weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      bias=np.zeros(w.shape[0], F32) if bias is None else np.asarray(bias, F32))


def if_(shape, thr=1.0, r=1.0, v_reset=0.0) -> nir.IF:
    shape = tuple(shape)
    return nir.IF(r=np.broadcast_to(np.asarray(r, F32), shape).copy(),
                  v_threshold=np.broadcast_to(np.asarray(thr, F32), shape).copy(),
                  v_reset=np.broadcast_to(np.asarray(v_reset, F32), shape).copy())


def pool(k, avg=False, stride=None, padding=0) -> nir.SumPool2d:
    cls = nir.AvgPool2d if avg else nir.SumPool2d
    kk = np.array(k if isinstance(k, (list, tuple)) else [k, k])
    return cls(kernel_size=kk, stride=np.array(stride if stride is not None else kk), padding=np.array([padding] * 2))


def inp(*shape) -> nir.Input:
    return nir.Input(input_type=np.array(shape))


def out(*shape) -> nir.Output:
    return nir.Output(output_type=np.array(shape))


def flatten(*shape) -> nir.Flatten:
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)


def chain(*pairs) -> nir.NIRGraph:
    """A sequential graph from (name, node) pairs."""
    nodes = dict(pairs)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def compile_(g, semantics=NIR_DT1, **options) -> nircc.CompileResult:
    return nircc.compile(g, "speck", semantics=semantics, options=options)


def errors_of(g, semantics=NIR_DT1, **options) -> list[NirccError]:
    with pytest.raises(NirccError) as e:
        compile_(g, semantics, **options)
    return e.value.errors


def one_error(g, node: Optional[str], fld: Optional[str], *fragments: str, semantics=NIR_DT1, **options) -> NirccError:
    errs = errors_of(g, semantics, **options)
    hits = [e for e in errs if e.node == node and e.field == fld and all(f in str(e) for f in fragments)]
    assert hits, "\n".join(str(e) for e in errs)
    return hits[0]


W3 = np.array([[[[3, -2, 1], [0, 2, 1], [1, 0, -1]]],
               [[[1, 1, 1], [2, -2, 0], [0, 1, 3]]]], F32)       # [2, 1, 3, 3], max 3, min -2


def small(thr=10.0, bias=None, r=1.0, v_reset=0.0, thr_shape=(2, 4, 4)) -> nir.NIRGraph:
    return chain(("input", inp(1, 4, 4)), ("conv", conv(W3, padding=1, bias=bias)),
                 ("lif", if_(thr_shape, thr, r, v_reset)), ("output", out(2, 4, 4)))


def lossless(n) -> np.ndarray:
    """Integer weights ``n`` (largest set to 127) as ``n / 64``: sinabs' gain rule picks 64
    and recovers ``n`` exactly (thresholds ``T / 64`` likewise)."""
    n = np.array(n, np.float64)
    n.flat[int(np.argmax(n))] = 127
    return (n / 64).astype(F32)


def rand_input(shape, steps=12, batch=2, rate=0.3, seed=0, hi=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ((rng.random((steps, batch) + tuple(shape)) < rate) * rng.integers(1, hi + 1, (steps, batch) +
                                                                             tuple(shape))).astype(np.int64)


def assert_exact(res: nircc.CompileResult, x, mode="binned") -> None:
    """The emulator equals the reference simulator bit for bit."""
    ref = res.simulate(x).outputs
    chip = res.target.run(res.program, res._inputs(x), mode=mode).outputs
    for k in ref:
        assert np.array_equal(ref[k], chip[k]), (k, ref[k].sum(), chip[k].sum())
    assert sum(int(v.sum()) for v in ref.values()) > 0


# ----------------------------------------------------------------------------- parameters by hand
def test_sinabs_rule_by_hand_strict_threshold():
    # gain = min(127/3, -128/-2, 32638/10) = 42.333; w 3 -> 127, -2 -> -85, 1 -> 42, 2 -> 85
    res = compile_(small())
    lay = res.program.layers[0]
    assert (lay.core, lay.kernel, lay.stride, lay.padding) == (0, 3, (1, 1), (1, 1))
    assert lay.weights[0, 0].tolist() == [[127, -85, 42], [0, 85, 42], [42, 0, -42]]
    assert lay.weights.dtype == np.int8
    # theta 10 -> round(423.33) = 423; NIR's '>' -> >= 424
    assert lay.threshold_high == 424 and lay.threshold_low == -32640
    assert lay.return_to_zero and not lay.leak_enable and lay.monitor
    assert res.program.input.dvs is False and res.program.input.destinations == [0]
    assert [d.code for d in res.diagnostics if d.node == "lif"] == ["threshold-strict"]
    q = res.report["quantization"]["groups"][0]
    assert q["limited_by"] == ["weight"] and q["gain"] == pytest.approx(127 / 3)


def test_ge_subtract_and_sinabs_threshold_low():
    res = compile_(small(), Semantics(dt=1.0, threshold=">=", reset="subtract"), threshold_low="-threshold")
    lay = res.program.layers[0]
    assert (lay.threshold_high, lay.threshold_low, lay.return_to_zero) == (423, -423, False)
    assert not res.diagnostics.with_code("threshold-strict")
    # '>' with subtract: v > 423 is v >= 424, but the chip subtracts 424: inexact, warned
    sub = compile_(small(), Semantics(dt=1.0, reset="subtract"))
    assert sub.program.layers[0].threshold_high == 424
    assert "one LSB more" in sub.diagnostics.with_code("threshold-strict-subtract")[0].message


def test_bias_becomes_leak_and_raises_threshold_low():
    # bias -20: bound -32768/-20 = 1638 > 42.33: q = round(-846.67) = -847;
    # threshold_low = max(-32640, -32768 + 847) so that a leak tick stays in int16
    res = compile_(small(bias=[-20.0, 0.0]))
    lay = res.program.layers[0]
    assert lay.biases.tolist() == [-847, 0] and lay.leak_enable
    assert lay.threshold_low == -32768 + 847
    assert res.program.memory()["lif"]["bias"] == 2


def test_bias_limited_gain_keeps_threshold_low_negative():
    # tiny weights, bias -1: the bias bounds the gain at 32767 -> bias -32767, threshold_low -1 (not the 0 bug)
    res = compile_(chain(("input", inp(1, 2, 2)), ("conv", conv(np.full((1, 1, 1, 1), 1e-4), bias=[-1.0])),
                         ("lif", if_((1, 2, 2), 0.5)), ("output", out(1, 2, 2))))
    lay = res.program.layers[0]
    assert (lay.biases.tolist(), lay.threshold_low, lay.weights.ravel().tolist()) == ([-32767], -1, [3])
    assert lay.threshold_high == round(0.5 * 32767) + 1


def test_bias_bits_8_limits_the_gain():
    # int8 bias: -128/-20 = 6.4 < 42.33 -> gain 6.4: w 3 -> round(19.2) = 19, theta -> 64 (+1)
    res = compile_(small(bias=[-20.0, 0.0]), bias_bits=8)
    lay = res.program.layers[0]
    assert lay.biases.tolist() == [-128, 0] and lay.weights[0, 0, 0, 0] == 19 and lay.threshold_high == 65
    assert res.report["quantization"]["groups"][0]["limited_by"] == ["bias"]


def test_r_and_dt_fold_into_the_weights():
    # dt * r = 0.5 * 4 = 2: weights 6, -4 ..., same integers as before, threshold bound unchanged
    res = compile_(small(r=4.0), Semantics(dt=0.5))
    lay = res.program.layers[0]
    assert lay.weights[0, 0, 0].tolist() == [127, -85, 42]
    # gain = 127 / 6: theta 10 -> round(211.67) = 212 (+1)
    assert lay.threshold_high == 213
    d = res.diagnostics.with_code("if-gain-folded")
    assert len(d) == 1 and d[0].node == "lif" and "dt*r = 2" in d[0].message


def test_per_channel_thresholds_equalised_exactly():
    thr = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 20.0)])
    res = compile_(small(thr=thr))
    lay = res.program.layers[0]
    # channel 0 weights x 20/10: max 6 -> gain 127/6; theta0 = 20 -> round(423.3) = 423 (+1)
    assert lay.threshold_high == 424
    assert lay.weights[0, 0, 0].tolist() == [127, -85, 42] and lay.weights[1, 0, 0].tolist() == [21, 21, 21]
    assert res.diagnostics.with_code("threshold-per-channel")[0].node == "lif"
    # lossless: channel 0 weights m/128 with threshold 100/64 (scaled x2), channel 1 n/64 with 200/64
    rng = np.random.default_rng(5)
    w = np.concatenate([rng.integers(0, 80, (1, 1, 3, 3)) / 128, lossless(rng.integers(0, 80, (1, 1, 3, 3))
                                                                          ).astype(np.float64)]).astype(F32)
    thr = np.stack([np.full((4, 4), 100 / 64), np.full((4, 4), 200 / 64)])
    g = chain(("input", inp(1, 4, 4)), ("conv", conv(w, padding=1)), ("lif", if_((2, 4, 4), thr)),
              ("output", out(2, 4, 4)))
    exact = compile_(g)
    lay = exact.program.layers[0]
    assert lay.threshold_high == 201 and np.array_equal(lay.weights[0], (w[0] * 128).astype(np.int8))
    assert_exact(exact, rand_input((1, 4, 4), hi=3))


def test_uniform_threshold_arrays_collapse_for_the_paper_cnn():
    res = nircc.compile(CNN, "speck", semantics="sinabs")
    assert [lay.threshold_high for lay in res.program.layers] == [72, 128, 205, 108, 197]
    assert not res.diagnostics.with_code("threshold-per-channel")
    assert res.program.cores() == [0, 1, 2, 3, 4]
    assert [lay.kernel for lay in res.program.layers] == [5, 3, 3, 4, 1]
    assert res.program.layer(3).input_shape == (8, 4, 4) and res.program.layer(3).output_shape == (256, 1, 1)
    assert [d.to_dict() for d in res.program.layer(1).destinations] == \
        [{"layer": 2, "pooling": 2, "feature_shift": 0}]
    assert res.program.input.dvs and res.program.exits[0].layer == 4


def test_weight_above_threshold_warns():
    res = compile_(small(thr=1.0))
    d = res.diagnostics.with_code("weight-above-threshold")
    assert len(d) == 1 and d[0].node == "lif" and "127 >= threshold_high" in d[0].message


def test_linear_after_flatten_is_a_full_kernel():
    rng = np.random.default_rng(1)
    w = lossless(rng.integers(-3, 4, (4, 18)) * 20)
    g = chain(("input", inp(2, 3, 3)), ("flat", flatten(2, 3, 3)), ("fc", nir.Linear(weight=w)),
              ("lif", if_((4,), 150 / 64)), ("output", out(4)))
    res = compile_(g)
    lay = res.program.layers[0]
    assert (lay.kernel, lay.input_shape, lay.output_shape, lay.threshold_high) == (3, (2, 3, 3), (4, 1, 1), 151)
    assert np.array_equal(lay.weights, (w.reshape(4, 2, 3, 3) * 64).astype(np.int8))
    assert program_io(res.program).output("output").shape == (4,)
    assert_exact(res, rand_input((2, 3, 3), hi=2))


def test_linear_on_a_non_square_map_uses_stride_and_padding():
    rng = np.random.default_rng(2)
    w = lossless(rng.integers(-2, 4, (3, 2 * 3 * 4)) * 30)
    g = chain(("input", inp(2, 3, 4)), ("flat", flatten(2, 3, 4)), ("fc", nir.Affine(weight=w, bias=np.zeros(3, F32))),
              ("lif", if_((3,), 200 / 64)), ("output", out(3)))
    res = compile_(g, dvs=False)
    lay = res.program.layers[0]
    # K = 4; y: 3 rows need stride 2 and padding 1 (kernel rows 1..3), x: stride 1, padding 0
    assert (lay.kernel, lay.stride, lay.padding) == (4, (2, 1), (1, 0))
    assert np.all(lay.weights[:, :, 0] == 0)
    assert_exact(res, rand_input((2, 3, 4), hi=2))


def test_mlp_on_a_vector_input():
    w1 = lossless([[60, -40, 30], [30, 30, 30]])
    g = chain(("input", inp(3)), ("fc", nir.Linear(weight=w1)), ("lif", if_((2,), 128 / 64)), ("output", out(2)))
    res = compile_(g)
    assert res.program.input.shape == (3, 1, 1) and res.program.layers[0].kernel == 1
    assert_exact(res, rand_input((3,), rate=0.5, hi=2))


def test_avgpool_scales_the_next_weights():
    w2 = np.full((1, 2, 1, 1), 4.0, F32)
    g = chain(("input", inp(1, 4, 4)), ("c1", conv(np.ones((2, 1, 1, 1)))), ("i1", if_((2, 4, 4), 0.5)),
              ("avg", pool(2, avg=True)), ("c2", conv(w2)), ("i2", if_((1, 2, 2), 2.0)), ("output", out(1, 2, 2)))
    res = compile_(g)
    # 4 * 1/4 = 1 -> the only weight, gain 127
    assert res.program.layer(1).weights.ravel().tolist() == [127, 127]
    assert res.program.layer(0).destinations[0].pooling == 2
    assert res.report["resources"]["layers"]["i2"]["inputs"][0]["via"] == ["avg"]
    assert_exact(res, rand_input((1, 4, 4), hi=2))


def test_pooling_8_goes_through_a_relay_core():
    g = chain(("input", inp(1, 16, 16)), ("c1", conv(np.ones((2, 1, 1, 1)))), ("i1", if_((2, 16, 16), 2.0)),
              ("p", pool(8)), ("c2", conv(np.ones((3, 2, 1, 1)))), ("i2", if_((3, 2, 2), 5.0)),
              ("output", out(3, 2, 2)))
    res = compile_(g, SINABS)
    names = [lay.name for lay in res.program.layers]
    assert names == ["i1", "i1->i2.pool8", "i2"]
    relay = res.program.layers[1]
    assert (relay.kernel, relay.stride, relay.input_shape, relay.output_shape) == (2, (2, 2), (2, 4, 4), (2, 2, 2))
    assert relay.weights[:, :, 0, 0].tolist() == [[1, 0], [0, 1]] and relay.threshold_high == 1
    assert res.program.layers[0].destinations[0].pooling == 4
    assert res.diagnostics.with_code("pool-relay")[0].node == "i2"
    x = rand_input((1, 16, 16), steps=8, rate=0.4, hi=2)
    assert_exact(res, x, mode="event")
    assert_exact(res, x, mode="binned")


def test_two_pooled_routes_get_two_relays():
    nodes = {"input": inp(1, 16, 16), "c1": conv(np.ones((2, 1, 1, 1))), "i1": if_((2, 16, 16), 2.0),
             "p": pool(8), "pa": pool(2), "pb": pool(4), "c2": conv(np.ones((3, 2, 1, 1))), "i2": if_((3, 2, 2), 5.0),
             "output": out(3, 2, 2)}
    edges = [("input", "c1"), ("c1", "i1"), ("i1", "p"), ("i1", "pa"), ("pa", "pb"), ("p", "c2"), ("pb", "c2"),
             ("c2", "i2"), ("i2", "output")]
    res = compile_(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), SINABS)
    assert [lay.name for lay in res.program.layers] == ["i1", "i1->i2.pool8", "i1->i2.pool8#2", "i2"]
    assert_exact(res, rand_input((1, 16, 16), steps=6, rate=0.4, hi=2), mode="event")


def test_dvs_layer_pools_and_plain_input_relays():
    w = lossless([[[[40, 80], [0, 40]], [[40, 0], [80, 40]]]])
    g = chain(("input", inp(2, 8, 8)), ("p", pool(2)), ("c", conv(w)), ("lif", if_((1, 3, 3), 180 / 64)),
              ("output", out(1, 3, 3)))
    dvs = compile_(g, SINABS)
    assert dvs.program.input.dvs and dvs.program.input.pooling == (2, 2) and len(dvs.program.layers) == 1
    plain = compile_(g, SINABS, dvs=False)
    assert not plain.program.input.dvs and [lay.name for lay in plain.program.layers] == ["input->lif.pool2", "lif"]
    x = rand_input((2, 8, 8), rate=0.4, hi=2)
    for res in (dvs, plain):
        assert_exact(res, x, mode="event")


def test_fan_out_and_merge_by_feature_shift():
    rng = np.random.default_rng(3)

    def w(f, c):
        return lossless(rng.integers(0, 3, (f, c, 3, 3)) * 40)

    nodes = {"input": inp(1, 6, 6), "ca": conv(w(2, 1), padding=1), "a": if_((2, 6, 6), 4.0),
             "cb": conv(w(3, 2), padding=1), "b": if_((3, 6, 6), 6.0),
             "cc": conv(w(2, 2), padding=1), "c": if_((2, 6, 6), 6.0),
             "cd": conv(w(2, 3), padding=1), "ce": conv(w(2, 2), padding=1), "d": if_((2, 6, 6), 8.0),
             "output": out(2, 6, 6)}
    edges = [("input", "ca"), ("ca", "a"), ("a", "cb"), ("cb", "b"), ("a", "cc"), ("cc", "c"), ("b", "cd"),
             ("c", "ce"), ("cd", "d"), ("ce", "d"), ("d", "output")]
    res = compile_(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), SINABS)
    p = res.program
    assert [lay.name for lay in p.layers] == ["a", "b", "c", "d"]
    assert [(d.layer, d.feature_shift) for d in p.layer(0).destinations] == [(1, 0), (2, 0)]
    d = [lay for lay in p.layers if lay.name == "d"][0]
    assert d.input_shape == (5, 6, 6)
    assert [(x.layer, x.feature_shift) for x in p.layer(2).destinations] == [(3, 3)]
    assert res.program.meta["layers"]["d"] == ["cd", "ce", "d"]
    assert res.report["resources"]["layers"]["d"]["inputs"] == [
        {"source": "b", "via": [], "weights": "cd", "pooling": 1, "feature_shift": 0},
        {"source": "c", "via": [], "weights": "ce", "pooling": 1, "feature_shift": 3}]
    x = rand_input((1, 6, 6), rate=0.4, hi=2)
    assert_exact(res, x, mode="event")
    assert_exact(compile_(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)), x, mode="binned")


def test_two_sources_into_one_weight_node():
    one = np.ones((2, 2, 1, 1), F32)
    nodes = {"input": inp(1, 4, 4), "c0": conv(np.ones((2, 1, 1, 1))), "a": if_((2, 4, 4), 1.0),
             "ca": conv(one), "b": if_((2, 4, 4), 2.0), "cx": conv(one), "x": if_((2, 4, 4), 7.0),
             "output": out(2, 4, 4)}
    edges = [("input", "c0"), ("c0", "a"), ("a", "ca"), ("ca", "b"), ("a", "cx"), ("b", "cx"), ("cx", "x"),
             ("x", "output")]
    res = compile_(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    x_core = res.program.layers[-1]
    assert x_core.name == "x" and x_core.input_shape == (2, 4, 4)
    assert [(d.layer, d.feature_shift) for d in res.program.layer(0).destinations] == [(1, 0), (2, 0)]
    assert_exact(res, rand_input((1, 4, 4), rate=0.4, hi=3))


def test_groups_and_non_square_kernels_are_embedded_exactly():
    wg = lossless(np.arange(1, 13).reshape(4, 1, 1, 3) * 10)    # groups 2: [4, 2/2, 1, 3]
    g = chain(("input", inp(2, 5, 5)), ("c", conv(wg, padding=(0, 1), groups=2)), ("lif", if_((4, 5, 5), 300 / 64)),
              ("output", out(4, 5, 5)))
    res = compile_(g, dvs=False)
    lay = res.program.layers[0]
    # 1x3 kernel, padding (0, 1) = row 1 of a 3x3 kernel with padding (1, 1)
    assert (lay.kernel, lay.padding, lay.input_shape, lay.output_shape) == (3, (1, 1), (2, 5, 5), (4, 5, 5))
    assert lay.weights[0, 0].tolist() == [[0, 0, 0], [10, 20, 30], [0, 0, 0]]
    assert lay.weights[0, 1].sum() == 0 and lay.weights[3, 0].sum() == 0
    codes = {d.code for d in res.diagnostics if d.node == "c"}
    assert codes == {"kernel-embedded", "groups-expanded"}
    assert_exact(res, rand_input((2, 5, 5), rate=0.4, hi=2))


def test_layer2core_pins_and_memory_driven_placement():
    res = compile_(small(), layer2core="lif:6")
    assert res.program.layers[0].core == 6
    assert res.report["resources"]["layer2core"] == {"lif": 6}
    big = nircc.compile(CNN, "speck", semantics="sinabs",
                        options={"layer2core": {"10": 5}})
    assert big.program.cores() == [0, 1, 2, 5, 3]


def test_report_has_resources_and_quantization():
    res = compile_(small())
    rep = res.report
    r = rep["resources"]
    assert (r["cores_used"], r["cores_available"], r["lower_bound"], r["optimal"]) == (1, 9, 1, True)
    assert r["layers"]["lif"]["memory"] == {"kernel": 1 * 2 ** (4 + 1), "neuron": 2 * 4 * 4, "bias": 0}
    assert r["utilization"]["0"]["kernel"] == pytest.approx(32 / 16384)
    t = {x["name"]: x for x in rep["quantization"]["groups"][0]["tensors"]}
    assert t["weight"]["clipped"] == 0 and t["weight"]["max_abs_error"] <= 0.5 * 3 / 127 + 1e-12
    assert "lif" in res.target.summary(res.program)


def test_deterministic_program():
    a = compile_(small()).program.to_json()
    b = compile_(small()).program.to_json()
    assert a == b


# ----------------------------------------------------------------------------- errors
def test_lif_cubalif_rejected_at_once():
    lif = nir.LIF(tau=np.ones(2, F32), r=np.ones(2, F32), v_leak=np.zeros(2, F32), v_threshold=np.ones(2, F32),
                  v_reset=np.zeros(2, F32))
    cuba = nir.CubaLIF(tau_syn=np.ones(2, F32), tau_mem=np.ones(2, F32), r=np.ones(2, F32), v_leak=np.zeros(2, F32),
                       v_threshold=np.ones(2, F32), v_reset=np.zeros(2, F32), w_in=np.ones(2, F32))
    g = chain(("input", inp(2)), ("fc1", nir.Linear(weight=np.eye(2, dtype=F32))), ("lif", lif),
              ("fc2", nir.Linear(weight=np.eye(2, dtype=F32))), ("cuba", cuba), ("output", out(2)))
    errs = errors_of(g)
    by = {e.node: str(e) for e in errs}
    assert "no leak per time step" in by["lif"] and "no synaptic state" in by["cuba"]
    assert all(e.field == "type" for e in errs)


@pytest.mark.parametrize("build, node, fld, fragments", [
    (lambda: small(thr=np.concatenate([np.full((1, 4, 4), 1.0), np.arange(16, dtype=F32).reshape(1, 4, 4) + 1])),
     "lif", "v_threshold", ("varies inside output channel 1", "one value per layer")),
    (lambda: small(thr=-1.0), "lif", "v_threshold", ("<= 0",)),
    (lambda: small(v_reset=0.5), "lif", "v_reset", ("v_reset 0.5", "returns to 0")),
    (lambda: small(bias=[1.0, 0.0]), "lif", "bias", ("positive bias 1", "biases <= 0")),
    (lambda: small(r=np.arange(32, dtype=F32).reshape(2, 4, 4)), "lif", "r", ("varies inside output channel 0",)),
    (lambda: chain(("input", inp(1, 20, 20)), ("c", conv(np.ones((1, 1, 17, 17)))), ("lif", if_((1, 4, 4))),
                   ("output", out(1, 4, 4))), "lif", "kernel", ("17-wide kernel exceeds 16", "square")),
    (lambda: chain(("input", inp(1, 9, 9)), ("c", conv(np.ones((1, 1, 3, 3)), stride=3)), ("lif", if_((1, 3, 3))),
                   ("output", out(1, 3, 3))), "c", "stride", ("stride y = 3 not in [1, 2, 4, 8]",)),
    (lambda: chain(("input", inp(1, 4, 4)), ("c", conv(np.ones((1, 1, 3, 3)), padding=8)),
                   ("lif", if_((1, 18, 18))), ("output", out(1, 18, 18))),
     "c", "padding", ("padding y = 8 exceeds 7",)),
    (lambda: chain(("input", inp(1, 6, 6)), ("c", conv(np.ones((1, 1, 3, 3)), dilation=2)), ("lif", if_((1, 2, 2))),
                   ("output", out(1, 2, 2))), "c", "dilation", ("dilation [2, 2]",)),
    (lambda: chain(("input", inp(1, 70, 70)), ("c", conv(np.ones((1, 1, 3, 3)))), ("lif", if_((1, 68, 68))),
                   ("output", out(1, 68, 68))), "lif", "output_shape", ("neuron map height 68 exceeds 64",)),
    (lambda: chain(("input", inp(1, 1, 20)), ("f", flatten(1, 1, 20)), ("fc", nir.Linear(weight=np.ones((2, 20), F32))),
                   ("lif", if_((2,))), ("output", out(2))), "lif", "kernel", ("square map",)),
    (lambda: chain(("input", inp(1, 4, 4)), ("c", conv(np.ones((1, 1, 1, 1)))), ("lif", if_((1, 4, 4))),
                   ("p", pool(2, stride=1)), ("output", out(1, 3, 3))), "p", "kernel_size", ("stride 1x1 differs",)),
    (lambda: chain(("input", inp(1, 12, 12)), ("c", conv(np.ones((1, 1, 1, 1)))), ("lif", if_((1, 12, 12))),
                   ("p", pool(3)), ("c2", conv(np.ones((1, 1, 1, 1)))), ("lif2", if_((1, 4, 4))),
                   ("output", out(1, 4, 4))), "lif2", "pooling", ("sum pooling 3", "relay")),
    (lambda: chain(("input", inp(1, 4, 4)), ("c", conv(np.ones((1, 1, 1, 1)))), ("lif", if_((1, 4, 4))),
                   ("p", pool(2, avg=True)), ("output", out(1, 2, 2))), "output", "inputs", ("AvgPool2d before",)),
    (lambda: chain(("input", inp(2)), ("fc", nir.Linear(weight=np.ones((2, 2), F32))), ("output", out(2))),
     "fc", "outputs", ("must feed exactly one IF",)),
    (lambda: chain(("input", inp(2)), ("lif", if_((2,))), ("output", out(2))), "lif", "inputs",
     ("without a weight layer",)),
])
def test_errors_name_node_quantity_and_limit(build, node, fld, fragments):
    """One case per rule; kernels, strides and paddings that no square kernel reproduces."""
    one_error(build(), node, fld, *fragments)


def test_errors_of_several_layers_at_once():
    g = chain(("input", inp(1, 210, 210)), ("c1", conv(np.ones((1, 1, 1, 1)), stride=3)), ("a", if_((1, 70, 70))),
              ("c2", conv(np.ones((1, 1, 1, 1)))), ("b", if_((1, 70, 70))), ("output", out(1, 70, 70)))
    errs = {(e.node, e.field) for e in errors_of(g)}
    assert {("c1", "stride"), ("b", "output_shape")} <= errs


def test_if_without_weights_reported_once():
    errs = errors_of(chain(("input", inp(2)), ("lif", if_((2,))), ("output", out(2))))
    assert [(e.node, e.field) for e in errs] == [("lif", "inputs")]


def test_fan_out_beyond_two_destinations():
    one = np.ones((1, 1, 1, 1), F32)
    nodes = {"input": inp(1, 2, 2), "c": conv(one), "a": if_((1, 2, 2))}
    edges = [("input", "c"), ("c", "a")]
    for i in range(3):
        nodes[f"c{i}"], nodes[f"i{i}"], nodes[f"o{i}"] = conv(one), if_((1, 2, 2)), out(1, 2, 2)
        edges += [("a", f"c{i}"), (f"c{i}", f"i{i}"), (f"i{i}", f"o{i}")]
    one_error(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), "a", "destinations", "3 routes",
              "2 destinations")


def test_recurrence_rejected():
    nodes = {"input": inp(2), "fc": nir.Linear(weight=np.eye(2, dtype=F32)), "lif": if_((2,)),
             "rec": nir.Linear(weight=np.eye(2, dtype=F32)), "output": out(2)}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    one_error(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), "lif", "edges", "recurrent edge rec -> lif")


def test_memory_failure_lists_needs_and_capacities():
    g = chain(("input", inp(16, 64, 64)), ("c", conv(np.ones((32, 16, 3, 3)), padding=1)),
              ("lif", if_((32, 64, 64), 100.0)), ("output", out(32, 64, 64)))
    errs = errors_of(g)
    text = "\n".join(str(e) for e in errs)
    assert "layer 'lif' needs neuron 128Ki" in text
    assert any(e.node == "lif" and e.field == "memory" and "kernel 8Ki, neuron 128Ki, bias 0 words; fits cores none"
               in str(e) for e in errs)
    assert "0: kernel 16Ki, neuron 64Ki, bias 1Ki" in text and "5: kernel 64Ki, neuron 16Ki, bias 1Ki" in text


def test_memory_failure_in_mebiwords():
    """(64, 3, 3) -> Linear -> 513 IF: a 3x3 kernel, kernel memory 64 * 2^(4 + 10) = 1Mi words.
    Both lines used to print it wrong: ``1024Mi`` (the mapper) and ``1024Ki`` (the lowering)."""
    g = chain(("input", inp(64, 3, 3)), ("f", flatten(64, 3, 3)), ("fc", nir.Linear(weight=np.ones((513, 576), F32))),
              ("if", if_((513,))), ("output", out(513)))
    errs = errors_of(g)
    assert [str(e) for e in errs[:2]] == [
        "node 'if', field 'kernel': layer 'if' needs kernel 1Mi; cores offer kernel 16Ki, 16Ki, 16Ki, 32Ki, 32Ki, "
        "64Ki, 64Ki, 16Ki, 16Ki",
        "node 'if', field 'memory': needs kernel 1Mi, neuron 513, bias 0 words; fits cores none"]


def test_ten_layers_exceed_nine_cores():
    pairs = [("input", inp(2))]
    for i in range(10):
        pairs += [(f"fc{i}", nir.Linear(weight=np.eye(2, dtype=F32))), (f"i{i}", if_((2,)))]
    errs = errors_of(chain(*pairs, ("output", out(2))))
    assert "need 10 cores" in str(errs[0]) and "the target has 9" in str(errs[0])


def test_layer2core_errors():
    g = chain(("input", inp(8, 4, 4)), ("f", flatten(8, 4, 4)), ("fc", nir.Linear(weight=np.ones((256, 128), F32))),
              ("lif", if_((256,), 1000.0)), ("output", out(256)))
    one_error(g, "lif", "layer2core", "pinned to core 0", "kernel 32Ki", "core 0 offers kernel 16Ki",
              layer2core="lif:0")
    one_error(small(), "nope", "layer2core", "no Speck layer called 'nope'", layer2core="nope:1")
    one_error(small(), "lif", "layer2core", "core 9 not in 0..8", layer2core={"lif": 9})


def test_unknown_options_and_values():
    errs = errors_of(small(), modes="event")
    assert errs[0].field == "modes" and "unknown speck option" in str(errs[0])
    one_error(small(), None, "mode", "'fast' not in ['event', 'binned']", mode="fast")
    one_error(small(), "input", "dvs", "dvs=true needs a [2, H, W] input", dvs=True)
