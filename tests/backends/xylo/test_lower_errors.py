"""Every construct the Xylo lowering rejects (a NirccError naming the node or option, the
quantity and the limit; independent problems reported together) and every approximation
it reports (a Diagnostic of stage ``xylo`` naming the node, the requested and the realised
value).  tests/backends/xylo/test_compile.py covers the convolution, v_leak, input straight into
the readout, 17 inputs, 1001 hidden neurons, fan-out 70, the skip connection, delays,
readout feedback and unknown options; this file the rest."""
from __future__ import annotations


import nir
import numpy as np
import pytest

import nircc
from nircc.errors import NirccError
from nircc.semantics import Semantics
from tests import paths

DATA = paths.PAPER
F32 = np.float32
I, O = nir.Input, nir.Output
CHIP = Semantics.from_options(None, reset="subtract", spike="multi", threshold=">=")


def cuba(n: int, tau_syn=2e-3, tau_mem=4e-3, r=4.0, w_in=2.0, thr=1.0) -> nir.CubaLIF:
    full = lambda v: np.broadcast_to(np.asarray(v, F32), (n,)).copy()  # noqa: E731
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(0.0),
                       v_threshold=full(thr), v_reset=full(0.0), w_in=full(w_in))


def li(n: int) -> nir.LI:
    return nir.LI(tau=np.full(n, 4e-3, F32), r=np.full(n, 4.0, F32), v_leak=np.zeros(n, F32))


def lin(w) -> nir.Linear:
    return nir.Linear(weight=np.asarray(w, F32))


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def chain(**nodes) -> nir.NIRGraph:
    names = list(nodes)
    return graph(nodes, list(zip(names, names[1:])))


def net(hidden=None, readout=None, fc=None, fc2=None, n_in=2, n_hid=3, n_out=2) -> nir.NIRGraph:
    """in -> fc -> h -> fc2 -> o -> out with the given parts."""
    return chain(i=I(np.array([n_in])), fc=fc or lin(np.ones((n_hid, n_in))), h=hidden or cuba(n_hid),
                 fc2=fc2 or lin(np.ones((n_out, n_hid))), o=readout or cuba(n_out), out=O(np.array([n_out])))


def compile_(g, **kw) -> nircc.CompileResult:
    return nircc.compile(g, "xylo", dt=kw.pop("dt", 1e-3), semantics=kw.pop("semantics", CHIP),
                         variant=kw.pop("variant", None), options=kw)


def errors_of(g, **kw) -> list[tuple]:
    with pytest.raises(NirccError) as e:
        compile_(g, **kw)
    return [(x.node, x.field, x.code, x.message) for x in e.value.errors]


def warnings_of(res: nircc.CompileResult) -> list[tuple]:
    return [(d.code, d.node, d.field, d.message) for d in res.diagnostics if d.stage == "xylo"]


# ---------------------------------------------------------------------------------------- errors
def test_node_types_without_a_xylo_neuron():
    assert errors_of(chain(i=I(np.array([2])), fc=lin(np.eye(2)), th=nir.Threshold(np.ones(2, F32)),
                           o=O(np.array([2])))) == [
        ("th", "type", "unsupported-node", "Xylo cannot run Threshold: a stateless threshold is not a Xylo neuron (use IF or LIF)")]
    assert errors_of(chain(i=I(np.array([2])), fc=lin(np.eye(2)), n=nir.I(r=np.ones(2, F32)), o=O(np.array([2])))) == [
        ("n", "type", "unsupported-node",
         "Xylo cannot run I: an integrator without spikes is not a Xylo neuron (use IF, or LI as readout)")]


def test_paper_cnn_every_conv_and_pool_at_once():
    with pytest.raises(NirccError) as e:
        nircc.compile(DATA / "cnn_sinabs.nir", "xylo")
    got = sorted((x.node, x.message) for x in e.value.errors)
    conv = "Xylo cannot run Conv2d: a dense recurrent block has no convolutions"
    pool = "Xylo cannot run SumPool2d: the chip has no pooling"
    assert [m for n, m in got if n in ("2", "5")] == [conv, conv]
    assert [m for n, m in got if n in ("4", "7")] == [pool, pool]


def test_paper_single_lif_files():
    """lif_norse: one LIF read straight from the input; two_lif_neurons: v_leak 0.5."""
    with pytest.raises(NirccError) as e:
        nircc.compile(DATA / "lif_norse.nir", "xylo")
    (x,) = e.value.errors
    assert (x.node, x.field, x.code) == ("1", "edges", "structure") and x.message == (
        "Input 'input' feeds readout '1' directly: Xylo's input reaches only hidden neurons (add a hidden layer)")
    with pytest.raises(NirccError) as e:
        nircc.compile(DATA / "two_lif_neurons.nir", "xylo")
    assert [(x.node, x.field, x.code) for x in e.value.errors][0] == ("lif1", "v_leak", "v_leak")


def test_hidden_li_emits_no_spikes():
    assert errors_of(net(hidden=li(3))) == [
        ("h", "type", "type", "LI as a hidden neuron emits no spikes: Xylo's hidden neurons talk by spike events "
                              "(use CubaLIF, LIF, IF, or read it out through an Output)")]


def test_too_many_readout_neurons():
    assert errors_of(net(n_out=9)) == [("o", "neurons", "limit", "9 readout neurons (o: 9) exceed Xylo audio2's 8")]
    assert compile_(net(n_out=9), variant="audio3").program.n_out == 9


def test_imu_output_window():
    """IMU reads out the last 128 of its hidden neurons: h2 (ids 100..299 of 300) is not."""
    g = chain(i=I(np.array([2])), fc=lin(np.ones((100, 2))), h1=cuba(100), fc2=lin(np.full((200, 100), 0.01)),
              h2=cuba(200), fc3=lin(np.ones((2, 200))), o=cuba(2), out=O(np.array([2])))
    assert errors_of(g, variant="imu") == [
        ("h2", "neurons", "limit", "feeds the readout but needs hidden ids 100..299: Xylo imu reads out only the "
                                   "last 128 hidden neurons (OEN, ids >= 172)")]


def test_threshold_not_positive():
    assert errors_of(net(hidden=cuba(3, thr=[1.0, 0.0, -1.0]))) == [
        ("h", "v_threshold", "threshold",
         "v_threshold down to -1: a Xylo neuron with threshold <= 0 fires its maximum every step")]


def test_bias_on_xylo_v1():
    """Xylo v1 has no neuron bias: kept in the chip's bias it is refused; moved onto an
    always-on input channel (the default, nircc.passes.legalize) it is an input weight."""
    g = net(fc=nir.Affine(weight=np.ones((3, 2), F32), bias=np.array([0.0, 0.1, 0.0], F32)))
    assert errors_of(g, variant="v1", bias_source=False) == [
        ("h", "bias", "bias", "Xylo v1 has no neuron bias; 'h' receives one")]
    assert compile_(g, bias_source=False).program.bias.tolist() == [0, 127, 0]        # Audio 2 has one
    v1 = compile_(g, variant="v1").program
    assert not v1.bias_enable and v1.weights_in.shape[0] == 3      # 2 inputs + the always-on one
    np.testing.assert_array_equal(v1.weights_in[:2, :, 0] != 0, np.ones((2, 3), bool))
    np.testing.assert_array_equal(v1.weights_in[2, :, 0] != 0, [False, True, False])


def test_every_bad_option_at_once():
    assert errors_of(net(), quantization="layer", threshold_max=0, tau_tolerance=-1.0) == [
        (None, "quantization", "option", "'layer' not in ['channel', 'global']"),
        (None, "threshold_max", "option", "0 must be an integer in 1..32767"),
        (None, "tau_tolerance", "option", "-1.0 must be a non-negative number")]
    assert errors_of(net(), threshold_max=True, tau_tolerance=float("nan")) == [
        (None, "threshold_max", "option", "True must be an integer in 1..32767"),
        (None, "tau_tolerance", "option", "nan must be a non-negative number")]


def test_loop_from_a_later_layer_back_is_a_lag_error():
    """h2 (lag 1) feeding h1 back would reach h1 one step late, but the input reaches it at lag 0."""
    g = graph({"i": I(np.array([2])), "fc": lin(np.ones((3, 2))), "h1": cuba(3), "f2": lin(np.ones((3, 3))),
               "h2": cuba(3), "back": lin(np.full((3, 3), 0.1)), "f3": lin(np.ones((2, 3))), "o": cuba(2),
               "out": O(np.array([2]))},
              [("i", "fc"), ("fc", "h1"), ("h1", "f2"), ("f2", "h2"), ("h2", "back"), ("back", "h1"), ("h2", "f3"),
               ("f3", "o"), ("o", "out")])
    ((node, field, code, msg),) = errors_of(g)
    assert (node, field, code) == ("h1", None, "lag") and msg.startswith(
        "the path from 'h2' reaches 'h1' 1 step(s) behind the reference, but Input 'i' feeds it in the same step "
        "(lag 0)")


def test_one_output_reading_two_populations():
    g = graph({"i": I(np.array([2])), "fc": lin(np.ones((3, 2))), "h": cuba(3), "f2": lin(np.ones((2, 3))),
               "o1": cuba(2), "f3": lin(np.ones((2, 3))), "o2": cuba(2), "out": O(np.array([2]))},
              [("i", "fc"), ("fc", "h"), ("h", "f2"), ("f2", "o1"), ("h", "f3"), ("f3", "o2"), ("o1", "out"),
               ("o2", "out")])
    assert errors_of(g) == [("out", None, "output", "reads 'o1' (CubaLIF), 'o2' (CubaLIF): a Xylo output is one "
                                                    "population of readout neurons (their spikes, or V of an LI/CubaLI)")]


def test_recurrent_synapses_over_the_memory():
    """600 neurons x 60 recurrent targets = 36000 > Audio 2's 32000 (each under the fan-out 64)."""
    n = 600
    w = sum(np.roll(np.eye(n), k, axis=1) for k in range(1, 61)) * 0.01
    g = graph({"i": I(np.array([2])), "fc": lin(np.ones((n, 2))), "h": cuba(n), "rec": lin(w),
               "f2": lin(np.ones((2, n))), "o": cuba(2), "out": O(np.array([2]))},
              [("i", "fc"), ("fc", "h"), ("h", "rec"), ("rec", "h"), ("h", "f2"), ("f2", "o"), ("o", "out")])
    assert errors_of(g) == [("h", "synapses", "limit", "36000 recurrent synapses > Xylo audio2's 32000")]


def test_independent_problems_are_reported_together():
    g = net(hidden=cuba(3, thr=-1.0), readout=li(2))
    g.nodes["o"] = nir.LI(tau=np.full(2, 4e-3, F32), r=np.full(2, 4.0, F32), v_leak=np.full(2, 0.1, F32))
    got = {(n, f) for n, f, _, _ in errors_of(g)}
    assert got == {("h", "v_threshold"), ("o", "v_leak")}


def test_per_neuron_dt_needs_dt_and_is_then_realised_by_the_gains():
    """r = tau_mem/dt (snnTorch) implying different dts per neuron: without dt the compile
    cannot choose one; with dt = 1 ms each neuron keeps its own r: b_mem r = 1 and 2, so
    k = 2 and 4 and the weights 0.5 k at gain 4095 (threshold-bound) are 4095 and 8190,
    shift 7: 32 and 64."""
    g = net(fc=lin([[0.5], [0.5]]), hidden=cuba(2, r=[4.0, 8.0]), fc2=lin(np.eye(2) * 0.5), n_in=1, n_hid=2)
    with pytest.raises(NirccError) as e:
        nircc.compile(g, "xylo")
    assert e.value.errors[0].code == "dt-conflict" and e.value.errors[0].field == "dt"
    p = compile_(g).program
    assert p.weights_in[..., 0].tolist() == [[32, 64]] and p.weight_shift_in == 7
    assert p.threshold.tolist() == [4095, 4095]


# ---------------------------------------------------------------------------------------- diagnostics
def test_tau_approximated_gives_requested_and_realised():
    res = compile_(net(hidden=cuba(3, tau_mem=3e-3)))
    assert warnings_of(res) == [("tau-approximated", "h", "tau_mem", "dash_mem: requested tau 0.003 s, realised "
                                 "0.004 s by bitshift decay 2 (euler, dt 0.001 s; max relative error 0.333)")]
    assert warnings_of(compile_(net(hidden=cuba(3, tau_mem=3e-3)), tau_tolerance=0.34)) == []


def test_dash_syn_zero_is_raised_to_one():
    """tau_syn = dt (euler): log2(1) = 0 would zero the input; the chip gets dash_syn 1."""
    res = compile_(net(hidden=cuba(3, tau_syn=1e-3)))
    assert ("dash-syn-zero", "h", "tau_syn", "tau_syn down to 0.001 s gives dash_syn 0, which zeroes the input "
            "before it reaches V; using 1") in warnings_of(res)
    assert res.program.dash_syn.tolist() == [1, 1, 1]


def test_if_hidden_has_no_synapse_and_no_leak():
    res = compile_(net(hidden=nir.IF(r=np.ones(3, F32), v_threshold=np.ones(3, F32), v_reset=np.zeros(3, F32))))
    assert [w[:3] for w in warnings_of(res)] == [("no-synapse", "h", "type"), ("if-leak", "h", "type")]
    assert res.program.dash_mem.tolist() == [15] * 3 and res.program.dash_syn.tolist() == [1] * 3


def test_threshold_rounding_to_zero_is_raised():
    """One gain for the readout (global): thresholds 1 and 1e-5 at gain 4095 give 4095 and 0
    -> raised to 1."""
    res = compile_(net(readout=cuba(2, thr=[1.0, 1e-5])), quantization="global")
    assert ("threshold-raised", "o", "v_threshold", "1 of 2 threshold(s) round to 0 at their gain and are raised "
            "to 1 (the chip fires while V >= threshold)") in warnings_of(res)
    assert res.program.threshold_out.tolist() == [4095, 1]


def test_li_beside_a_spiking_readout_is_not_a_clipped_threshold():
    g = graph({"i": I(np.array([2])), "fc": lin(np.ones((3, 2))), "h": cuba(3), "f2": lin(np.ones((2, 3))),
               "o1": cuba(2), "f3": lin(np.ones((2, 3))), "o2": li(2), "out1": O(np.array([2])),
               "out2": O(np.array([2]))},
              [("i", "fc"), ("fc", "h"), ("h", "f2"), ("f2", "o1"), ("h", "f3"), ("f3", "o2"), ("o1", "out1"),
               ("o2", "out2")])
    res = compile_(g)
    assert [w[:2] for w in warnings_of(res)] == [("no-synapse", "o2")]
    assert res.program.threshold_out.tolist() == [4095, 4095, 32767, 32767]


def test_bias_of_a_later_readout():
    """A readout bias: the reference feeds it through the synapse (bias-steady), and the
    readout, one step behind, gets one step of it before its first input (bias-lead)."""
    res = compile_(net(fc2=nir.Affine(weight=np.ones((2, 3), F32), bias=np.array([0.1, 0.0], F32))))
    assert [w[:3] for w in warnings_of(res)] == [("bias-steady", "o", "bias"), ("bias-lead", "o", "bias")]
    assert "1 step(s) before the first input arrives" in warnings_of(res)[1][3]
