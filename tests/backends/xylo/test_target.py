"""XyloTarget around the lowering: every variant end to end (summary, artifact layout,
samna/rockpool names), to_sdk per variant against a stand-in samna, the exact
discretization by hand, the per-layer quantization report, run() on NIR-shaped inputs
(several Inputs, input clipping at 15, errors naming the NIR Input), load_program."""
from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import nir
import numpy as np
import pytest

from nircc.backends.io import program_io
import nircc
from nircc.backends.xylo.emit import load_program
from nircc.errors import NirccError
from nircc.semantics import Semantics
from tests.backends.xylo.test_compile import W1, W2, graph, lin
from tests import paths

ROOT = paths.ROOT
EXAMPLE = ROOT / "examples" / "braille_rnn.nir"
F32 = np.float32
I, O = nir.Input, nir.Output
DT = 1e-3


def chip(discretization: str = "euler") -> Semantics:
    return Semantics.from_options(None, reset="subtract", spike="multi", threshold=">=",
                                  discretization=discretization)


def cuba(n: int, tau_syn=2e-3, tau_mem=4e-3, r=4.0, w_in=2.0, thr=1.0) -> nir.CubaLIF:
    full = lambda v: np.broadcast_to(np.asarray(v, F32), (n,)).copy()  # noqa: E731
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(0.0),
                       v_threshold=full(thr), v_reset=full(0.0), w_in=full(w_in))


def small(w1=W1, **neuron) -> nir.NIRGraph:
    return graph({"spikes": I(np.array([2])), "fc1": lin(w1), "h": cuba(3, **neuron), "fc2": lin(W2),
                  "o": cuba(2, **neuron), "out": O(np.array([2]))},
                 [("spikes", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])


def compile_(g, discretization="euler", **opts) -> nircc.CompileResult:
    return nircc.compile(g, "xylo", dt=DT, semantics=chip(discretization), options=opts)


# ---------------------------------------------------------------------------------------- variants
@pytest.mark.parametrize("variant, chip_name, hidden, readout, fanout, module, block, arrays", [
    ("audio2", "SYNS61201", 1000, 8, " of 64", "samna.xyloCore2", "reservoir", 10),
    ("audio3", "SYNS65302", 992, 32, " of 1024", "samna.xyloAudio3", "hidden", 10),
    ("imu", "SYNS63300", 496, 16, " of 512", "samna.xyloImu", "hidden", 9),
    ("v1", "SYNS61300", 1000, 8, "", None, "reservoir", 10),
])
def test_every_variant_compiles_the_example(tmp_path, variant, chip_name, hidden, readout, fanout, module, block,
                                            arrays):
    res = nircc.compile(EXAMPLE, "xylo", variant=variant)
    assert res.target.summary(res.program).splitlines() == [
        f"  {chip_name} ({variant}): 12 of 16 input channels, 38 of {hidden} hidden neurons, 7 of {readout} "
        "readout neurons",
        f"  synapses 2125; largest recurrent fan-out 38{fanout}; weight shifts in/rec/out 8/8/8",
        "  hidden   lif1           CubaLIF  ids 0..37  lag 0",
        "  readout  lif2           CubaLIF  ids 0..6  lag 1"]
    res.save(tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "xylo.json").read_text())
    assert doc["samna_module"] == module and block in doc["configuration"]
    with np.load(tmp_path / "out" / "xylo_spec.npz", allow_pickle=False) as npz:
        assert len(npz.files) == arrays
        assert npz["weights_rec"].shape == ((38, 38) if variant == "imu" else (38, 38, 2))
    assert load_program(tmp_path / "out").equals(res.program)


# ---------------------------------------------------------------------------------------- to_sdk
def stand_in_samna(monkeypatch, sub: str, neuron_cls: str, block: str, valid=(True, "")) -> list:
    """A samna whose configuration objects record every attribute set."""
    calls: list = []

    class Obj:
        def __init__(self, kind):
            object.__setattr__(self, "_kind", kind)

        def __setattr__(self, k, v):
            calls.append((self._kind, k))
            object.__setattr__(self, k, v)

    class Config(Obj):
        def __init__(self):
            super().__init__("config")
            for part in ("input", block, "readout", "debug"):
                object.__setattr__(self, part, Obj(part))

    conf = types.SimpleNamespace(XyloConfiguration=Config, OutputNeuron=lambda: Obj("readout_neuron"))
    setattr(conf, neuron_cls, lambda: Obj("hidden_neuron"))
    mod = types.ModuleType("samna")
    setattr(mod, sub, types.SimpleNamespace(configuration=conf, validate_configuration=lambda c: valid))
    monkeypatch.setitem(sys.modules, "samna", mod)
    return calls


@pytest.mark.parametrize("variant, sub, neuron_cls, two_synapses, config_fields", [
    # rockpool 3.1.0 syns65302/xylo_samna.py config_from_specification: synapse2_enable, no debug field
    ("audio3", "xyloAudio3", "HiddenNeuron", True, [("config", "synapse2_enable")]),
    # syns63300/xylo_samna.py: imu_if_input_enable = False, debug.always_update_omp_stat = True
    ("imu", "xyloImu", "HiddenNeuron", False, [("config", "imu_if_input_enable"), ("debug", "always_update_omp_stat")]),
])
def test_to_sdk_hidden_block_variants(monkeypatch, variant, sub, neuron_cls, two_synapses, config_fields):
    calls = stand_in_samna(monkeypatch, sub, neuron_cls, "hidden")
    res = nircc.compile(EXAMPLE, "xylo", variant=variant)
    config = res.target.to_sdk(res.program)
    p = res.program
    assert [c for c in calls if c[0] in ("config", "debug")] == config_fields      # no bias_enable: unbiased
    assert config.hidden.weights == p.weights_rec[..., 0].tolist()
    assert [n.v_mem_decay for n in config.hidden.neurons] == p.dash_mem.tolist()
    assert ("input", "syn2_weights") in calls if two_synapses else ("input", "syn2_weights") not in calls
    assert (("hidden_neuron", "i_syn2_decay") in calls) == two_synapses
    assert ("hidden_neuron", "v_mem_bias") not in calls            # the example has no bias
    assert ("hidden_neuron", "alias_target") not in calls          # nor aliases


def test_to_sdk_reports_samnas_refusal(monkeypatch):
    stand_in_samna(monkeypatch, "xyloCore2", "ReservoirNeuron", "reservoir", valid=(False, "threshold too large"))
    res = nircc.compile(EXAMPLE, "xylo")
    with pytest.raises(NirccError) as e:
        res.target.to_sdk(res.program)
    assert e.value.field == "configuration" and e.value.message == "samna refuses the configuration: threshold too large"


def test_to_sdk_refuses_xylo_v1(monkeypatch):
    stand_in_samna(monkeypatch, "xyloCore2", "ReservoirNeuron", "reservoir")
    res = nircc.compile(EXAMPLE, "xylo", variant="v1")
    with pytest.raises(NirccError) as e:
        res.target.to_sdk(res.program)
    assert e.value.field == "variant" and "no longer support this chip" in e.value.message


# ---------------------------------------------------------------------------------------- lowering by hand
def test_exact_discretization_by_hand():
    """exp(-dt/tau_syn) = 1/2 and exp(-dt/tau_mem) = 3/4: dash_syn 1 and dash_mem 2 exactly,
    b_syn = 1/2, b_mem = 1/4, so with r = 4, w_in = 2 the input gain is again
    b_mem r b_syn w_in / alpha_s = 1 / (1/2) = 2: the same integers as the euler case
    (tests/backends/xylo/test_compile.py, weights 128 W at shift 6)."""
    p = compile_(small(tau_syn=DT / math.log(2), tau_mem=-DT / math.log(0.75)), "exact", threshold_max=4096).program
    assert p.dash_syn.tolist() == [1, 1, 1] and p.dash_mem.tolist() == [2, 2, 2]
    assert p.dash_syn_out.tolist() == [1, 1] and p.dash_mem_out.tolist() == [2, 2]
    assert p.weight_shift_in == 6 and p.weights_in[..., 0].tolist() == (128 * W1.T).astype(int).tolist()
    assert p.threshold.tolist() == [4096] * 3


def test_quantization_report_per_layer():
    """W1[0, 1] = 0.3: 2 * 0.3 * 4096 / 64 = 38.4 -> 38, an error of 0.4 * 64 / 4096 =
    0.00625 v per spike, relative to the largest W k of the matrix (1.0); every other weight
    is exact.  Requested taus are powers of two of dt: realised exactly."""
    w1 = W1.copy()
    w1[0, 1] = 0.3
    res = compile_(small(w1), threshold_max=4096)
    h, o = res.report["quantization"]["layers"]
    assert {k: h[k] for k in ("node", "type", "role", "gain", "dash_syn", "dash_mem", "threshold")} == {
        "node": "h", "type": "CubaLIF", "role": "hidden", "gain": 4096.0, "dash_syn": 1.0, "dash_mem": 2.0,
        "threshold": 4096.0}
    assert h["taus"]["tau_syn"] == {"requested": pytest.approx(2e-3), "realised": pytest.approx(2e-3),
                                    "max_rel_error": pytest.approx(0.0, abs=1e-6)}
    assert h["taus"]["tau_mem"]["realised"] == pytest.approx(4e-3)
    (syn,) = h["synapses"]
    assert (syn["pre"], syn["matrix"], syn["nonzero"], syn["zeroed"]) == ("spikes", "weights_in", 4, 0)
    # 1e-5: the float32 taus make k = 2 (1 +- 1e-7)
    assert syn["max_abs_error"] == pytest.approx(0.00625, rel=1e-5)
    assert syn["max_rel_error"] == pytest.approx(0.00625, rel=1e-5)
    assert res.program.weights_in[1, 0, 0] == 38
    assert (o["node"], o["role"]) == ("o", "readout")
    ((pre, matrix, err),) = [(s["pre"], s["matrix"], s["max_abs_error"]) for s in o["synapses"]]
    assert (pre, matrix) == ("h", "weights_out") and err < 1e-6           # 128 W2: exact up to float32


# ---------------------------------------------------------------------------------------- run()
def test_run_concatenates_inputs_and_clips_at_15():
    """Two NIR Inputs fill channels 0..1 and 2; counts above 15 act as 15 on the chip."""
    g = graph({"a": I(np.array([2])), "b": I(np.array([1])), "fa": lin(np.full((3, 2), 0.5)),
               "fb": lin(np.full((3, 1), 0.25)), "h": cuba(3), "f2": lin(np.full((2, 3), 0.5)), "o": cuba(2),
               "out": O(np.array([2]))},
              [("a", "fa"), ("b", "fb"), ("fa", "h"), ("fb", "h"), ("h", "f2"), ("f2", "o"), ("o", "out")])
    res = compile_(g)
    p = res.program
    io = program_io(p)
    assert [(q.name, q.offset, q.size, q.shape) for q in io.inputs] == [("a", 0, 2, (2,)), ("b", 2, 1, (1,))]
    assert (io.layout, io.channels) == ("channels", 3)
    assert p.weights_in[..., 0].tolist() == [[64] * 3, [64] * 3, [32] * 3]
    rng = np.random.default_rng(0)
    a = rng.integers(0, 40, (30, 2, 2))
    b = rng.integers(0, 40, (30, 2, 1))
    loud = res.emulate({"a": a, "b": b}, record=True)
    clipped = res.emulate({"a": np.minimum(a, 15), "b": np.minimum(b, 15)}, record=True)
    assert np.array_equal(loud.outputs["out"], clipped.outputs["out"])
    assert loud.states.keys() == clipped.states.keys() and "h/v" in loud.states
    assert all(np.array_equal(loud.states[k], clipped.states[k]) for k in loud.states)
    raw = res.target.emulator(p).run(np.minimum(np.concatenate([a, b], axis=2), 15), record=True)
    (lo, hi), = p.meta["hidden"].values()
    assert np.array_equal(loud.states["h/v"], raw.states["Vmem"][..., lo:hi])      # the register, sliced
    assert np.array_equal(loud.states["h/output"], raw.states["Spikes"][..., lo:hi])
    assert np.array_equal(loud.states["o/i"], raw.states["Isyn_out"]) and "o/output" in loud.states
    direct = res.target.emulator(p).run(np.concatenate([a, b], axis=2)).outputs["readout"]
    assert np.array_equal(loud.outputs["out"], direct) and loud.outputs["out"].sum() > 0


def test_run_errors_name_the_nir_input():
    res = compile_(small())
    cases = [({"x": np.zeros((5, 1, 2), int)}, None, "inputs ['x'] do not match the program's ['spikes']"),
             ({"spikes": np.full((5, 1, 2), 0.5)}, "spikes",
              "inputs are event counts per step: they must be non-negative integers"),
             ({"spikes": np.full((5, 1, 2), -1)}, "spikes",
              "inputs are event counts per step: they must be non-negative integers, got -1")]
    for inputs, node, message in cases:
        with pytest.raises(NirccError) as e:
            res.target.run(res.program, inputs)
        assert (e.value.node, e.value.field, e.value.message) == (node, "inputs", message)
    with pytest.raises(NirccError) as e:
        res.target.emulator(res.program, seed=1)
    assert e.value.message == "the Xylo emulator takes no options, got seed"


# ---------------------------------------------------------------------------------------- load_program
def test_load_program_refusals(tmp_path):
    with pytest.raises(NirccError) as e:
        load_program(tmp_path / "missing")
    assert e.value.message == f"{str(tmp_path / 'missing')!r} does not exist"
    with pytest.raises(NirccError) as e:
        load_program(tmp_path)
    assert e.value.message.startswith("no Xylo artifact (xylo.json and xylo_spec.npz)")
    out = tmp_path / "out"
    compile_(small()).save(out)
    doc = json.loads((out / "xylo.json").read_text())
    where = repr(str(out / "xylo.json"))
    for version, why in ((4, "was written by a newer nircc (0.1.0); this nircc (0.1.0) reads versions 1, 2, 3"),
                         (0, "is not one this nircc reads (1, 2, 3)")):
        (out / "xylo.json").write_text(json.dumps({**doc, "schema_version": version}))
        with pytest.raises(NirccError) as e:
            load_program(out / "xylo.json")
        assert (e.value.field, e.value.message) == ("schema_version", f"{where}: nircc.xylo version {version} {why}")
    (out / "xylo.json").write_text(json.dumps({**doc, "schema_version": "2"}))
    with pytest.raises(NirccError) as e:
        load_program(out)
    assert e.value.message == f"{where}: schema_version '2' is not an integer"
    (out / "xylo.json").write_text(json.dumps({**doc, "schema": "nircc.speck"}))
    with pytest.raises(NirccError) as e:
        load_program(out)
    assert (e.value.field, e.value.message) == ("schema", f"{where} is not a nircc.xylo document (schema 'nircc.speck')")


def legacy(doc: dict, version: int) -> dict:
    """``doc`` (a version-3 ``xylo.json``) as versions 1 and 2 wrote the header."""
    for key in ("schema", "schema_version", "nircc_version"):
        doc.pop(key)
    doc.update({"format": "nircc.xylo", "format_version": version, "nircc_version": "0.1.0"})
    return doc


def _biased_artifact(tmp_path) -> tuple[Path, nircc.CompileResult]:
    g = small()
    g.nodes["fc1"] = nir.Affine(weight=np.asarray(W1, F32), bias=np.array([0.25, -0.125, 0.0], F32))
    res = compile_(g, bias_source=False)                      # the artifact's bias arrays under test
    assert res.program.bias_enable and res.program.bias.tolist() != [0, 0, 0]
    res.save(tmp_path / "out")
    return tmp_path / "out", res


def test_artifact_uses_rockpools_keyword_names(tmp_path):
    """Version 2: the arrays and ``rockpool.kwargs`` are exactly keyword arguments of rockpool
    3.1.0's ``config_from_specification`` (syns61201/xylo_samna.py): ``bias_hidden``, not
    ``bias``, which its ``**kwargs`` would drop."""
    out, res = _biased_artifact(tmp_path)
    doc = json.loads((out / "xylo.json").read_text())
    assert {"schema", "schema_version", "nircc_version", "variant", "dt"} <= set(doc)     # the common header
    assert (doc["schema"], doc["schema_version"]) == ("nircc.xylo", 3)
    assert doc["rockpool"] == {"function": "config_from_specification", "arrays": "xylo_spec.npz", "dt": DT,
                               "kwargs": {"weight_shift_in": res.program.weight_shift_in,
                                          "weight_shift_rec": res.program.weight_shift_rec,
                                          "weight_shift_out": res.program.weight_shift_out, "aliases": None}}
    with np.load(out / "xylo_spec.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["bias_hidden", "bias_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
                                     "dash_syn_out", "threshold", "threshold_out", "weights_in", "weights_out",
                                     "weights_rec"]
        assert npz["bias_hidden"].tolist() == res.program.bias.tolist()
    assert load_program(out).equals(res.program)


def test_biased_v1_program_has_no_rockpool_arguments():
    from nircc.backends.xylo.emit import rockpool_arrays
    from nircc.backends.xylo.program import XyloProgram

    with pytest.raises(NirccError) as e:
        rockpool_arrays(XyloProgram.zeros(2, 3, 1, variant="v1", bias_enable=True))
    assert (e.value.field, e.value.message) == (
        "bias_enable", "Xylo v1: rockpool's XyloSim.from_specification takes no ['bias_hidden', 'bias_out']")


def test_load_program_reads_version_1(tmp_path):
    """A version-1 artifact (hidden biases as ``bias``, scalars flat in ``rockpool``) still
    gives back its program, biases included."""
    out, res = _biased_artifact(tmp_path)
    doc = json.loads((out / "xylo.json").read_text())
    kw = doc["rockpool"].pop("kwargs")
    del doc["rockpool"]["function"]
    doc["rockpool"].update(kw, aliases=[[] for _ in range(res.program.n_hidden)])
    legacy(doc, 1)
    (out / "xylo.json").write_text(json.dumps(doc))
    with np.load(out / "xylo_spec.npz", allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    a["bias"] = a.pop("bias_hidden")
    np.savez(out / "xylo_spec.npz", **a)
    assert load_program(out).equals(res.program)


def test_load_program_refuses_arrays_rockpool_would_drop(tmp_path):
    """A version-2 artifact holding ``bias`` (the version-1 name) is refused, naming it:
    rockpool would configure the board without those biases."""
    out, _ = _biased_artifact(tmp_path)
    doc = json.loads((out / "xylo.json").read_text())
    (out / "xylo.json").write_text(json.dumps(legacy(doc, 2)))
    with np.load(out / "xylo_spec.npz", allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    a["bias"] = a.pop("bias_hidden")
    np.savez(out / "xylo_spec.npz", **a)
    with pytest.raises(NirccError) as e:
        load_program(out)
    assert e.value.field == "arrays" and e.value.message.startswith(
        f"{str(out / 'xylo_spec.npz')!r} holds ['bias'], which are no arguments of "
        "rockpool.devices.xylo.syns61201.config_from_specification (version 2 artifact; it takes ['bias_hidden', ")


# ---------------------------------------------------------------------------------------- membrane read-outs
def li_readout(**opts) -> nircc.CompileResult:
    g = graph({"spikes": I(np.array([2])), "fc1": lin(W1), "h": cuba(3), "fc2": lin(W2),
               "o": nir.LI(tau=np.full(2, 4e-3, F32), r=np.full(2, 4.0, F32), v_leak=np.zeros(2, F32)),
               "out": O(np.array([2]))},
              [("spikes", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])
    return compile_(g, **opts)


def test_membrane_readout_gain_leaves_headroom_by_hand():
    """LI readout: dash_syn 1, so k = b r (1 - alpha_s) / alpha_s = 1; the largest weight of
    each read-out neuron is 0.5.  V must hold 64 of them in 127 << 8 = 32512: gain
    32512 / 32 = 1016, largest weight 508 = 127 << 2, mantissas W2 * 254 (-63.5 -> -64,
    half-even).  Headroom 16: gain 4064, the same mantissas at shift 4."""
    p = li_readout().program
    assert p.weight_shift_out == 2 and p.weights_out.tolist() == [[127, 32], [0, 127], [-64, 0]]
    assert program_io(p).output("out").scale == pytest.approx([1016.0, 1016.0], rel=1e-6)   # float32 taus
    q = li_readout(readout_headroom=16).program
    assert q.weight_shift_out == 4 and q.weights_out.tolist() == p.weights_out.tolist()
    assert program_io(q).output("out").scale == pytest.approx([4064.0, 4064.0], rel=1e-6)
    with pytest.raises(NirccError) as e:
        li_readout(readout_headroom=0)
    assert (e.value.field, e.value.message) == ("readout_headroom", "0 must be an integer in 1..32512")


def test_membrane_readout_fidelity():
    """A CubaLI read-out behind a 20-neuron recurrent CubaLIF layer (power-of-two taus, the
    chip's spike rule): V / gain against the reference's v correlates at 0.996 over 300
    steps x 4 samples; the rest is the int8 weights, the floor-rounded decays and the
    hidden layer's spike differences.  With headroom 1 the largest weight fills 127 << 8,
    V saturates within a few spikes and the correlation drops to 0.35."""
    rng = np.random.default_rng(0)
    n = 4
    ro = nir.CubaLI(tau_syn=np.full(n, 2e-3, F32), tau_mem=np.full(n, 8e-3, F32), r=np.full(n, 8.0, F32),
                    v_leak=np.zeros(n, F32), w_in=np.full(n, 2.0, F32))
    g = graph({"in": I(np.array([8])), "fc1": lin(rng.normal(0.15, 0.15, (20, 8))), "h": cuba(20),
               "rec": lin(rng.normal(0, 0.05, (20, 20))), "fc2": lin(rng.normal(0.1, 0.2, (n, 20))), "o": ro,
               "out": O(np.array([n]))},
              [("in", "fc1"), ("fc1", "h"), ("h", "rec"), ("rec", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])
    res = compile_(g)
    x = res.probe_inputs(300, batch=4, seed=1)
    o = res.fidelity(x).outputs["out"]
    assert not o.spiking and o.latency == 1
    assert 0.995 <= o.correlation < 0.997
    assert int(np.abs(res.emulate(x, record=True).states["o/v"]).max()) < 8192
    tight = compile_(g, readout_headroom=1)
    assert tight.fidelity(x).outputs["out"].correlation < 0.5
