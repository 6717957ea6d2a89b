"""The Xylo target end to end: lowering of hand-built graphs to hand-computed integers,
every error of the lowering, the example and the paper's Braille graph compiled and run
bit-exact against xylosim, the fidelity figure, the artifact and the CLI, to_sdk."""
from __future__ import annotations

import json
import sys
import types

import nir
import numpy as np
import pytest

from nircc.backends.io import program_io
import nircc
from nircc.backends.xylo.emit import load_program, rockpool_arrays
from nircc.cli import main
from nircc.errors import NirccError
from nircc.semantics import Semantics
from tests import paths

ROOT = paths.ROOT
DATA = ROOT / "tests" / "data" / "nir_paper"
EXAMPLE = ROOT / "examples" / "braille_rnn.nir"
F32 = np.float32
DT = 1e-3
#: the chip's own rule: subtractive reset in the step, v >= threshold, several spikes per step
CHIP = Semantics.from_options(None, reset="subtract", spike="multi", threshold=">=")


def cuba(n: int, tau_syn=2e-3, tau_mem=4e-3, r=4.0, w_in=2.0, thr=1.0, v_leak=0.0) -> nir.CubaLIF:
    full = lambda v: np.full(n, v, F32)  # noqa: E731
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(v_leak),
                       v_threshold=full(thr), v_reset=full(0.0), w_in=full(w_in))


def lif(n: int, tau=4e-3, r=4.0, thr=1.0) -> nir.LIF:
    full = lambda v: np.full(n, v, F32)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(0.0), v_threshold=full(thr), v_reset=full(0.0))


def lin(w) -> nir.Linear:
    return nir.Linear(weight=np.asarray(w, F32))


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


W1 = np.array([[0.5, 0.25], [-0.125, 0.0], [0.0, 0.5]])          # [3 hidden, 2 in]
W2 = np.array([[0.5, 0.0, -0.25], [0.125, 0.5, 0.0]])            # [2 out, 3 hidden]


def small() -> nir.NIRGraph:
    return graph({"in": nir.Input(np.array([2])), "fc1": lin(W1), "h": cuba(3), "fc2": lin(W2), "o": cuba(2),
                  "out": nir.Output(np.array([2]))},
                 [("in", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])


def compile_(g, **kw):
    return nircc.compile(g, "xylo", dt=kw.pop("dt", DT), semantics=kw.pop("semantics", CHIP),
                         variant=kw.pop("variant", None), options=kw)


# ---------------------------------------------------------------------------------------- lowering by hand
def test_small_graph_integers_by_hand():
    """tau_syn = 2 dt, tau_mem = 4 dt (euler): dash_syn 1, dash_mem 2 exactly; b_mem r = 1 and
    b_syn w_in = 1, so the input gain is 1 / alpha_s = 2 (the chip halves I before V reads it).
    threshold 1 at threshold_max 4096 gives the gain 4096; the largest weight 2 * 0.5 = 1 is
    4096 = 64 << 6, so weight_shift 6 and every weight is 2 W 4096 / 64 = 128 W."""
    p = compile_(small(), threshold_max=4096).program
    assert p.n_in == 2 and p.n_hidden == 3 and p.n_out == 2
    assert p.dash_syn.tolist() == [1, 1, 1] and p.dash_mem.tolist() == [2, 2, 2]
    assert p.dash_syn_out.tolist() == [1, 1] and p.dash_mem_out.tolist() == [2, 2]
    assert p.threshold.tolist() == [4096] * 3 and p.threshold_out.tolist() == [4096] * 2
    assert (p.weight_shift_in, p.weight_shift_rec, p.weight_shift_out) == (6, 0, 6)
    assert p.weights_in[..., 0].tolist() == (128 * W1.T).astype(int).tolist()
    assert p.weights_out.tolist() == (128 * W2.T).astype(int).tolist()
    assert not p.weights_rec.any() and not p.weights_in[..., 1].any()
    assert not p.bias_enable and program_io(p).latency == {"out": 1}


def test_channel_and_global_gains():
    """Readout thresholds 1 and 4.  Per-neuron gains (default): 4096 and 1024, both thresholds
    4096, one weight shift (6) for the matrix, so column 1 is 2 W 1024 / 64 = 32 W.  One gain
    (global): 1024 for both, thresholds 1024 and 4096, shift 4, weights 2 W 1024 / 16 = 128 W."""
    g = small()
    g.nodes["o"] = cuba(2, thr=np.array([1.0, 4.0]))
    ch = compile_(g, threshold_max=4096).program
    gl = compile_(g, threshold_max=4096, quantization="global").program
    assert ch.threshold_out.tolist() == [4096, 4096] and ch.weight_shift_out == 6
    assert ch.weights_out[:, 0].tolist() == [64, 0, -32] and ch.weights_out[:, 1].tolist() == [4, 16, 0]
    assert gl.threshold_out.tolist() == [1024, 4096] and gl.weight_shift_out == 4
    assert gl.weights_out.tolist() == (128 * W2.T).astype(int).tolist()


SINGLE = Semantics.from_options(None, reset="subtract", spike="single", threshold=">=")


def test_single_spike_model_gets_threshold_16384():
    """single_spike=true: one spike per step (the model's rule) is kept: every hidden threshold is 16384, so the
    gain is 16384; the largest weight 2 * 0.5 = 1 is 16384 = 64 << 8, so weight_shift 8 and
    again 128 W.  The readout (one spike at most anyway) keeps threshold_max."""
    res = compile_(small(), semantics=SINGLE, threshold_max=4096, single_spike=True)
    p = res.program
    assert res.options.semantics.spike == "single"
    assert p.threshold.tolist() == [16384] * 3 and p.threshold_out.tolist() == [4096] * 2
    assert p.weight_shift_in == 8 and p.weights_in[..., 0].tolist() == (128 * W1.T).astype(int).tolist()
    assert any(d.code == "single-spike" for d in res.diagnostics)
    off = compile_(small(), semantics=SINGLE, threshold_max=4096)
    assert off.options.semantics.spike == "multi" and off.program.threshold.tolist() == [4096] * 3


def test_single_spike_by_saturation_on_the_chip():
    """15 events per step on input 0 put 15 thresholds a step into hidden neuron 0's current:
    with thresholds 16384 its V saturates at 32767 and it fires once per step (V - 16384 is
    below the threshold); without the option (threshold 4095) the saturated current,
    halved before V reads it (dash_syn 1), brings 16383 a step: four spikes."""
    x = np.zeros((6, 1, 2), F32)
    x[:, 0, 0] = 15
    one = compile_(small(), semantics=SINGLE, single_spike=True)
    many = compile_(small(), semantics=SINGLE)
    s1 = one.target.run(one.program, one._inputs(x), record=True).states["h/output"][:, 0]
    sm = many.target.run(many.program, many._inputs(x), record=True).states["h/output"][:, 0]
    assert s1.max() == 1 and s1[:, 0].tolist() == [1] * 6
    assert sm[:, 0].tolist() == [4] * 6


def test_single_spike_global_gain_needs_thresholds_within_2x():
    g = small()
    g.nodes["h"] = cuba(3, thr=np.array([1.0, 1.0, 2.5]))
    err = one_error(g, semantics=SINGLE, quantization="global", single_spike=True)
    assert (err.node, err.field) == ("h", "v_threshold")
    assert err.message == ("thresholds 1..2.5 span more than 2.00x: one gain per block cannot put them all at "
                           "16384..32767 (quantization=channel, or single_spike=false)")
    assert compile_(g, semantics=SINGLE, single_spike=True).program.threshold.tolist() == [16384] * 3


def test_two_hidden_layers_lag_and_recurrence():
    """in -> h1 (recurrent) -> h2 -> o: h1 ids 0..2 (input-fed first), h2 the last ids (it
    feeds the readout); h1 -> h2 and h2 -> o each add one step of lag."""
    g = graph({"in": nir.Input(np.array([2])), "fc1": lin(W1), "h1": cuba(3), "rec": lin(np.eye(3) * 0.25),
               "fc2": lin(np.full((4, 3), 0.25)), "h2": cuba(4), "fc3": lin(np.full((2, 4), 0.25)), "o": cuba(2),
               "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "h1"), ("h1", "rec"), ("rec", "h1"), ("h1", "fc2"), ("fc2", "h2"),
               ("h2", "fc3"), ("fc3", "o"), ("o", "out")])
    res = compile_(g)
    p = res.program
    assert p.meta["hidden"] == {"h1": [0, 3], "h2": [3, 7]} and program_io(p).latency == {"out": 2}
    w = p.weights_rec[..., 0]
    assert np.count_nonzero(w[:3, :3]) == 3 and np.all(w[:3, 3:] > 0) and not w[3:].any()
    assert not p.weights_out[:3].any() and p.weights_out[3:].all()
    assert [(x["node"], x["lag"]) for x in res.report["resources"]["layers"]] == [("h1", 0), ("h2", 1), ("o", 2)]


def test_lif_and_li_readout_and_bias():
    """LIF hidden: no synaptic state (dash_syn 1, total charge kept: gain b r = 1, so weights
    W 4096 / 32 = 128 W); an Affine bias becomes the chip's bias (0.01 v per step: 41); an LI
    readout never fires (threshold 32767) and is read as V / gain."""
    g = graph({"in": nir.Input(np.array([2])), "fc1": nir.Affine(weight=np.asarray(W1, F32),
                                                                  bias=np.array([0.0, 0.0, 0.01], F32)),
               "h": lif(3), "fc2": lin(W2),
               "o": nir.LI(tau=np.full(2, 4e-3, F32), r=np.full(2, 4.0, F32), v_leak=np.zeros(2, F32)),
               "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])
    res = compile_(g, threshold_max=4096)
    p = res.program
    assert p.dash_syn.tolist() == [1, 1, 1] and p.weights_in[..., 0].tolist() == (128 * W1.T).astype(int).tolist()
    assert p.bias_enable and p.bias.tolist() == [0, 0, 41] and p.threshold.tolist() == [4096] * 3
    assert p.threshold_out.tolist() == [32767, 32767]
    codes = {d.code for d in res.diagnostics}
    assert "no-synapse" in codes and "bias-lead" not in codes      # the biased layer has lag 0
    x = {"in": np.zeros((5, 1, 2), np.uint8)}
    y = res.emulate(x).outputs["out"]
    assert y.dtype == np.float64 and y.shape == (5, 1, 2)


# ---------------------------------------------------------------------------------------- errors
def one_error(g, **kw) -> NirccError:
    with pytest.raises(NirccError) as e:
        compile_(g, **kw)
    assert len(e.value.errors) == 1, [str(x) for x in e.value.errors]
    return e.value.errors[0]


def test_too_many_hidden_neurons_names_node_and_limit():
    g = graph({"in": nir.Input(np.array([2])), "fc1": lin(np.full((1001, 2), 0.1)), "h": cuba(1001),
               "fc2": lin(np.full((2, 1001), 0.1)), "o": cuba(2), "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])
    e = one_error(g)
    assert e.node == "h" and e.field == "neurons" and "1001 hidden neurons" in e.message and \
        "audio2's 1000" in e.message


def test_errors_name_node_quantity_limit():
    cases = []
    # a convolution
    cases.append((graph({"in": nir.Input(np.array([1, 4, 4])), "c": nir.Conv2d(
        input_shape=(4, 4), weight=np.ones((1, 1, 3, 3), F32), stride=1, padding=1, dilation=1, groups=1,
        bias=np.zeros(1, F32)), "h": nir.IF(r=np.ones((1, 4, 4), F32), v_threshold=np.ones((1, 4, 4), F32),
        v_reset=np.zeros((1, 4, 4), F32)), "out": nir.Output(np.array([1, 4, 4]))},
        [("in", "c"), ("c", "h"), ("h", "out")]), "c", "convolution"))
    # v_leak != 0
    g = small()
    g.nodes["h"] = cuba(3, v_leak=0.1)
    cases.append((g, "h", "v_leak"))
    # input straight into the readout
    cases.append((graph({"in": nir.Input(np.array([2])), "fc": lin(W2.T[:2]), "o": cuba(2),
                         "out": nir.Output(np.array([2]))}, [("in", "fc"), ("fc", "o"), ("o", "out")]),
                  "o", "directly"))
    # 17 input channels
    cases.append((graph({"in": nir.Input(np.array([17])), "fc1": lin(np.full((3, 17), 0.1)), "h": cuba(3),
                         "fc2": lin(W2), "o": cuba(2), "out": nir.Output(np.array([2]))},
                        [("in", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")]), "in", "16"))
    for g, node, words in cases:
        e = one_error(g)
        assert e.node == node and words in e.message, str(e)


def test_fanout_over_the_limit():
    """Audio 2: at most 64 recurrent targets per hidden neuron (h1 -> h2 all-to-all, 70 wide)."""
    g = graph({"in": nir.Input(np.array([2])), "fc1": lin(np.full((3, 2), 0.3)), "h1": cuba(3),
               "fc2": lin(np.full((70, 3), 0.1)), "h2": cuba(70), "fc3": lin(np.full((2, 70), 0.1)), "o": cuba(2),
               "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "h1"), ("h1", "fc2"), ("fc2", "h2"), ("h2", "fc3"), ("fc3", "o"), ("o", "out")])
    e = one_error(g)
    assert (e.node, e.field) == ("h1", "fanout") and e.message.startswith(
        "neuron 0 has 70 hidden targets > Xylo audio2's max fan-out 64 (3 neuron(s) over)")
    assert compile_(g, variant="audio3").program.fanout().max() == 70


def test_skip_connection_is_a_lag_error():
    """in -> h1 -> h2 and in -> h2 directly: h2 would need lag 0 and 1."""
    g = graph({"in": nir.Input(np.array([2])), "fc1": lin(W1), "h1": cuba(3), "fc2": lin(np.full((2, 3), 0.2)),
               "skip": lin(np.eye(2) * 0.3), "h2": cuba(2), "fc3": lin(np.eye(2) * 0.5), "o": cuba(2),
               "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "h1"), ("h1", "fc2"), ("fc2", "h2"), ("in", "skip"), ("skip", "h2"),
               ("h2", "fc3"), ("fc3", "o"), ("o", "out")])
    e = one_error(g)
    assert e.node == "h2" and e.code == "lag" and "one step late" in e.message


def test_delay_readout_feedback_and_options_are_reported_together():
    g = graph({"in": nir.Input(np.array([2])), "fc1": lin(W1), "d": nir.Delay(delay=np.full(3, 2e-3)),
               "h": cuba(3), "fc2": lin(W2), "o": cuba(2), "back": lin(np.full((3, 2), 0.1)),
               "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "d"), ("d", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out"), ("o", "back"),
               ("back", "h")])
    with pytest.raises(NirccError) as e:
        compile_(g, bogus=1)
    errs = {(x.node, x.field, x.code) for x in e.value.errors}
    assert (None, "bogus", "option") in errs
    with pytest.raises(NirccError) as e:
        compile_(g)
    by_code = {x.code: x for x in e.value.errors}
    assert by_code["delay"].node == "d" and "no synaptic delays" in by_code["delay"].message
    assert by_code["structure"].node == "o" and "no outgoing synapses" in by_code["structure"].message


def test_imu_input_window():
    """Xylo IMU feeds input to the first 128 hidden neurons only."""
    g = graph({"in": nir.Input(np.array([2])), "fc1": lin(np.full((200, 2), 0.1)), "h": cuba(200),
               "fc2": lin(np.full((2, 200), 0.1)), "o": cuba(2), "out": nir.Output(np.array([2]))},
              [("in", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])
    with pytest.raises(NirccError) as e:
        compile_(g, variant="imu")
    msgs = [x.message for x in e.value.errors if x.node == "h"]
    assert any("first 128 hidden neurons (IEN)" in m for m in msgs)
    assert compile_(g).program.n_hidden == 200           # Audio 2 takes it


# ---------------------------------------------------------------------------------------- end to end
def test_example_bit_exact_with_xylosim():
    pytest.importorskip("xylosim")
    from nircc.backends.xylo.xylosim_bridge import XylosimEmulator

    res = nircc.compile(EXAMPLE, "xylo")
    x = res.probe_inputs(200, seed=3)
    ours = res.emulate(x)
    flat = x["input"].reshape(x["input"].shape[:2] + (-1,))
    ref = XylosimEmulator(res.program).run(flat, record=True)
    mine = res.target.emulator(res.program).run(flat, record=True)
    assert np.array_equal(ours.outputs["output"], ref.outputs["readout"])
    for k in ("Spikes", "Vmem", "Isyn", "Vmem_out", "Isyn_out"):
        assert np.array_equal(mine.states[k], ref.states[k]), k


def test_paper_braille_compiles_bit_exact():
    pytest.importorskip("xylosim")
    from nircc.backends.xylo.xylosim_bridge import XylosimEmulator

    res = nircc.compile(DATA / "braille_noDelay_noBias_subtract.nir", "xylo")
    p = res.program
    assert (p.n_in, p.n_hidden, p.n_out) == (12, 40, 7)
    flat = res.probe_inputs(100, seed=0)
    x = next(iter(flat.values()))
    assert np.array_equal(res.target.emulator(p).run(x).outputs["readout"],
                          XylosimEmulator(p).run(x).outputs["readout"])


def test_fidelity_on_a_benign_network():
    """Power-of-two time constants (dash exact), the chip's spike rule and moderate activity
    (the readout rarely needs two spikes in a step, which the chip's readout cannot give):
    93.5 % of the output spike count agrees; the rest comes from the chip's floor rounding of
    every decay (a state loses at least 1 LSB per step) and the int8 weights.  The same net at
    twice the input weights saturates the readout and drops to ~58 %."""
    rng = np.random.default_rng(0)
    g = graph({"in": nir.Input(np.array([8])), "fc1": lin(rng.normal(0.15, 0.15, (20, 8))), "h": cuba(20),
               "rec": lin(rng.normal(0, 0.05, (20, 20))), "fc2": lin(rng.normal(0.1, 0.2, (4, 20))),
               "o": cuba(4), "out": nir.Output(np.array([4]))},
              [("in", "fc1"), ("fc1", "h"), ("h", "rec"), ("rec", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")])
    res = compile_(g)
    f = res.fidelity(res.probe_inputs(300, batch=4, seed=1))
    o = f.outputs["out"]
    assert o.latency == 1
    assert 0.93 <= o.count_agreement < 0.94, f.summary()


def test_cli_compiles_the_example_deterministically(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([str(EXAMPLE), "--target", "xylo", "-o", str(a)]) == 0
    text = capsys.readouterr().out
    assert "38 of 1000 hidden neurons" in text and "spike counts " in text
    assert main([str(EXAMPLE), "--target", "xylo", "-o", str(b), "-q"]) == 0
    names = sorted(f.name for f in a.iterdir())
    assert names == ["report.json", "xylo.json", "xylo_spec.npz"]
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    doc = json.loads((a / "xylo.json").read_text())
    assert doc["schema"] == "nircc.xylo" and doc["samna_module"] == "samna.xyloCore2"
    neurons = doc["configuration"]["reservoir"]["neurons"]
    assert len(neurons) == 38 and set(neurons[0]) == {"i_syn_decay", "i_syn2_decay", "v_mem_decay", "threshold"}
    with np.load(a / "xylo_spec.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2", "dash_syn_out",
                                     "threshold", "threshold_out", "weights_in", "weights_out", "weights_rec"]
        assert npz["weights_in"].shape == (12, 38, 2) and npz["weights_in"].dtype == np.int8
    prog = load_program(a)
    assert prog.equals(nircc.compile(EXAMPLE, "xylo").program)


def test_failed_compile_leaves_the_out_dir(tmp_path):
    out = tmp_path / "out"
    assert main([str(EXAMPLE), "--target", "xylo", "-o", str(out), "-q"]) == 0
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    assert main([str(EXAMPLE), "--target", "xylo", "--variant", "imu", "--option", "bogus=1", "-o", str(out)]) == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


# ---------------------------------------------------------------------------------------- to_sdk
@pytest.fixture
def samna(monkeypatch):
    """A stand-in samna that records what to_sdk sets."""
    calls: list = []

    class Obj:
        def __init__(self, kind):
            object.__setattr__(self, "_kind", kind)

        def __setattr__(self, k, v):
            calls.append((self._kind, k, v))
            object.__setattr__(self, k, v)

    class Config(Obj):
        def __init__(self):
            super().__init__("config")
            for part in ("input", "reservoir", "readout", "debug"):
                object.__setattr__(self, part, Obj(part))

    conf = types.SimpleNamespace(XyloConfiguration=Config, ReservoirNeuron=lambda: Obj("hidden_neuron"),
                                 OutputNeuron=lambda: Obj("readout_neuron"))
    chip = types.SimpleNamespace(configuration=conf,
                                 validate_configuration=lambda c: (calls.append(("validate",)) or (True, "")))
    mod = types.ModuleType("samna")
    mod.xyloCore2 = chip
    monkeypatch.setitem(sys.modules, "samna", mod)
    return calls


def test_to_sdk_sets_rockpools_fields(samna):
    res = nircc.compile(EXAMPLE, "xylo")
    p = res.program
    config = res.target.to_sdk(p)
    assert samna[-1] == ("validate",)
    assert config.input.weights == p.weights_in[..., 0].tolist()
    assert config.reservoir.syn2_weights == p.weights_rec[..., 1].tolist()
    assert config.readout.weight_bit_shift == p.weight_shift_out
    assert [n.threshold for n in config.reservoir.neurons] == p.threshold.tolist()
    assert [n.i_syn_decay for n in config.readout.neurons] == p.dash_syn_out.tolist()
    arrays = rockpool_arrays(p)
    assert np.array_equal(arrays["dash_syn"], [n.i_syn_decay for n in config.reservoir.neurons])
    # rockpool 3.1.0 syns61201/xylo_samna.py config_from_specification, in its order: clocks and
    # RAM power on ("Ensure that RAM power is enabled, and the chip clock is running"), the
    # second synapse on because the arrays have two synapse planes; no bias_enable, no bias clock
    assert [c for c in samna if c[0] in ("config", "debug")] == [
        ("debug", "isyn_clock_enable", True), ("debug", "isyn2_clock_enable", True), ("debug", "ra_clock_enable", True),
        ("debug", "hm_clock_enable", True), ("debug", "ram_power_enable", True), ("config", "synapse2_enable", True)]


def test_to_sdk_biased_sets_the_bias_clock(samna):
    g = small()
    g.nodes["fc1"] = nir.Affine(weight=np.asarray(W1, F32), bias=np.array([0.25, -0.125, 0.0], F32))
    p = compile_(g, bias_source=False).program                 # the bias in the chip's bias registers
    config = nircc.backends.base.get("xylo").to_sdk(p)
    assert [c for c in samna if c[0] in ("config", "debug")] == [
        ("config", "bias_enable", True), ("debug", "isyn_clock_enable", True), ("debug", "isyn2_clock_enable", True),
        ("debug", "ra_clock_enable", True), ("debug", "bias_clock_enable", True), ("debug", "hm_clock_enable", True),
        ("debug", "ram_power_enable", True), ("config", "synapse2_enable", True)]
    assert [n.v_mem_bias for n in config.reservoir.neurons] == p.bias.tolist()
    assert [n.v_mem_bias for n in config.readout.neurons] == p.bias_out.tolist()


def test_to_sdk_without_samna(monkeypatch):
    monkeypatch.setitem(sys.modules, "samna", None)
    res = nircc.compile(EXAMPLE, "xylo")
    with pytest.raises(NirccError) as e:
        res.target.to_sdk(res.program)
    assert "samna" in str(e.value)
