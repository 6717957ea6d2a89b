"""Legalizations (nircc.passes.legalize): each rewritten graph computes what the original
computes in the float reference, and the targets that read the capabilities apply them."""
from __future__ import annotations

import nir
import numpy as np
import pytest

import nircc
from nircc.backends import base as backends
from nircc.backends.capabilities import Capabilities
from nircc.backends.io import IOMap, Port
from nircc.passes import canonicalize, fuse_affine, infer_shapes
from nircc.passes.legalize import CONSTANT_INPUTS, bias_sources

F32 = np.float32
RNG = np.random.default_rng(7)
W_IN = RNG.normal(0, 0.6, (5, 3)).astype(F32)
B_IN = RNG.normal(0.3, 0.2, 5).astype(F32)
W_REC = RNG.normal(0, 0.3, (5, 5)).astype(F32)
B_REC = RNG.normal(0, 0.1, 5).astype(F32)
W_OUT = RNG.normal(0, 0.5, (2, 5)).astype(F32)
B_OUT = RNG.normal(0.1, 0.1, 2).astype(F32)


def cuba(n: int, **kw) -> nir.CubaLIF:
    p = dict(tau_syn=np.full(n, 5e-3, F32), tau_mem=np.full(n, 1e-2, F32), r=np.full(n, 10.0, F32),
             v_leak=np.zeros(n, F32), v_threshold=np.ones(n, F32), v_reset=np.zeros(n, F32),
             w_in=np.ones(n, F32))
    p.update(kw)
    return nir.CubaLIF(**p)


def rnn() -> nircc.ir.Graph:
    """Input(3) -> Affine -> CubaLIF(5) [<- Affine rec] -> Affine -> CubaLIF(2) -> Output."""
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "fc": nir.Affine(W_IN, B_IN),
             "h": cuba(5), "rec": nir.Affine(W_REC, B_REC), "fo": nir.Affine(W_OUT, B_OUT), "o": cuba(2),
             "out": nir.Output(output_type={"output": np.array([2])})}
    edges = [("in", "fc"), ("fc", "h"), ("h", "rec"), ("rec", "h"), ("h", "fo"), ("fo", "o"), ("o", "out")]
    return nircc.load(nir.NIRGraph(nodes=nodes, edges=edges))


MEMBRANE = Capabilities(chip="test", nodes=("CubaLIF", "Affine", "Linear"), bias="membrane")


def prepared(g):
    return fuse_affine(canonicalize(infer_shapes(g)))


@pytest.mark.parametrize("semantics", ["nir", "snntorch", "norse"])
def test_bias_source_equals_the_original_in_the_reference(semantics):
    g = prepared(rnn())
    out = bias_sources(g, MEMBRANE)
    assert out.meta[CONSTANT_INPUTS] == {"in": 1}
    assert out.out_shape("in") == (4,) and out.type("fc") == "Linear" and out.type("rec") == "Linear"
    np.testing.assert_array_equal(np.asarray(out.op("fc").weight)[:, 3], (B_IN.astype(np.float64) + B_REC))
    np.testing.assert_array_equal(np.asarray(out.op("fc").weight)[:, :3], W_IN)
    assert out.type("fo") == "Affine"                       # fed by a neuron, not the Input: kept
    x = (RNG.random((300, 4, 3)) < 0.3).astype(F32)
    x1 = np.concatenate([x, np.ones((300, 4, 1), F32)], axis=2)
    a = nircc.simulate(g, {"in": x}, dt=1e-3, semantics=semantics, record=True)
    b = nircc.simulate(out, {"in": x1}, dt=1e-3, semantics=semantics, record=True)
    np.testing.assert_array_equal(a.outputs["out"], b.outputs["out"])
    assert a.outputs["out"].sum() > 50                      # the network does something
    sa, sb = a.flat_states(), b.flat_states()
    np.testing.assert_allclose(sb["h/i"], sa["h/i"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sb["h/v"], sa["h/v"], rtol=1e-6, atol=1e-6)
    assert "bias-source" in [d.code for d in out.diagnostics] and g.meta.get(CONSTANT_INPUTS) is None


def test_no_rewrite_where_the_chip_or_the_graph_does_not_call_for_it():
    g = prepared(rnn())
    for caps in (None, Capabilities(chip="t", nodes=("CubaLIF",), bias="membrane-per-tick"),
                 Capabilities(chip="t", nodes=("LIF",), bias="membrane")):
        assert bias_sources(g, caps) is g
    # the Input also feeds a neuron directly: it cannot be widened
    nodes = {"in": nir.Input(input_type={"input": np.array([5])}), "fc": nir.Affine(np.eye(5, dtype=F32), B_IN),
             "h": cuba(5), "h2": cuba(5), "out": nir.Output(output_type={"output": np.array([5])}),
             "out2": nir.Output(output_type={"output": np.array([5])})}
    g2 = prepared(nircc.load(nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "h"), ("h", "out"),
                                                                ("in", "h2"), ("h2", "out2")])))
    assert bias_sources(g2, MEMBRANE) is g2
    # a biased Affine that also feeds another neuron keeps its bias (the other reads it too)
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "fc": nir.Linear(W_IN),
             "fb": nir.Affine(W_IN, B_IN), "h": cuba(5), "h2": cuba(5),
             "out": nir.Output(output_type={"output": np.array([5])}),
             "out2": nir.Output(output_type={"output": np.array([5])})}
    g3 = prepared(nircc.load(nir.NIRGraph(nodes=nodes, edges=[
        ("in", "fc"), ("fc", "h"), ("in", "fb"), ("fb", "h"), ("fb", "h2"), ("h", "out"), ("h2", "out2")])))
    assert sorted(g3.predecessors("h")) == ["fb", "fc"] and bias_sources(g3, MEMBRANE) is g3
    # one more channel would not fit the chip
    full = bias_sources(g, MEMBRANE, input_capacity=3)
    assert CONSTANT_INPUTS not in full.meta and [d.code for d in full.diagnostics][-1] == "bias-source-skipped"
    assert "bias-source-skipped" not in [d.code for d in g.diagnostics]      # the input graph untouched


def test_constant_ports_are_driven_and_kept_out_of_the_user_inputs():
    io = IOMap((Port("in", (4,), "in", 0),), (Port("out", (2,), "o"),), layout="keys")
    c = io.with_constants({"in": 1})
    assert c.inputs == (Port("in", (3,), "in", 0),) and c.constants == (Port("in/on", (1,), "in", 3),)
    x = np.array([[[1, 0, 2]], [[0, 0, 0]]])
    np.testing.assert_array_equal(c.encode({"in": x})["in"], [[[1, 0, 2, 1]], [[0, 0, 0, 1]]])
    assert IOMap.from_dict(c.to_dict()) == c and "constants" not in io.to_dict()
    ch = IOMap((Port("in", (4,), "", 2),), (Port("out", (2,), "o"),), channels=8).with_constants({"in": 1})
    np.testing.assert_array_equal(ch.encode({"in": x})[0, 0], [0, 0, 1, 0, 2, 1, 0, 0])


@pytest.mark.parametrize("target", ["spinnaker2", "loihi"])
def test_targets_apply_it_and_run_the_model_shaped_input(target):
    res = nircc.compile(rnn(), target, dt=1e-3, semantics="nir")
    io = nircc.backends.io.program_io(res.program)
    assert [p.name for p in io.inputs] == ["in"] and io.inputs[0].shape == (3,)
    assert [p.name for p in io.constants] == ["in/on"]
    assert "bias-source" in [d.code for d in res.diagnostics]
    x = (RNG.random((100, 2, 3)) < 0.3).astype(np.uint8)
    out = res.target.run(res.program, {"in": x})
    assert out.outputs["out"].shape == (100, 2, 2)
    assert "h" not in {d.node for d in res.diagnostics.warnings() if d.field == "bias"}


def test_every_builtin_target_declares_where_its_bias_enters():
    for name in backends.names():
        assert backends.get(name).capabilities.bias in ("membrane", "membrane-per-tick", "none")
