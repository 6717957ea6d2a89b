"""nircc.sim on whole graphs: recurrence, batches, streaming, several inputs/outputs, and
the checks on the user's inputs."""
from __future__ import annotations

import nir
import numpy as np
import pytest

import nircc
from nircc.errors import NirccError
from nircc.semantics import Semantics
from nircc.sim import SimResult, Simulator, simulate

SEM = Semantics(dt=1e-3)


def build(nodes: dict, edges: list) -> nircc.Graph:
    return nircc.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


def inp(n: int) -> nir.Input:
    return nir.Input(input_type={"input": np.array([n])})


def outp(n: int) -> nir.Output:
    return nir.Output(output_type={"output": np.array([n])})


def if_(n: int = 1) -> nir.IF:
    # r = 1/dt: v += x per step at dt = 1e-3
    return nir.IF(r=np.full(n, 1000.0), v_threshold=np.ones(n), v_reset=np.zeros(n))


def test_two_neuron_loop_has_a_one_step_delay():
    # input -> n1 -> w12 (2) -> n2 -> w21 (-5) -> n1: n1 sees n2's spike one step later
    g = build({"input": inp(1), "n1": if_(), "w12": nir.Linear(weight=np.array([[2.0]])), "n2": if_(),
               "w21": nir.Linear(weight=np.array([[-5.0]])), "output": outp(1)},
              [("input", "n1"), ("n1", "w12"), ("w12", "n2"), ("n2", "w21"), ("w21", "n1"), ("n2", "output")])
    assert g.schedule().back_edges == {("w21", "n1")}
    res = simulate(g, np.full((16, 1, 1), 1.5), semantics=SEM, record=True)
    n1 = res.states["n1"]
    # t0: v = 1.5 > 1 fires (n2 fires in the same step); t1: v = 0 + 1.5 - 5 = -3.5; then
    # -2, -0.5, 1.0 (not > 1), 2.5 (fires at t5); the cycle repeats with period 5
    assert np.flatnonzero(n1["output"][:, 0, 0]).tolist() == [0, 5, 10, 15]
    np.testing.assert_array_equal(n1["v"][:6, 0, 0], [0.0, -3.5, -2.0, -0.5, 1.0, 0.0])
    np.testing.assert_array_equal(res.outputs["output"][:, 0, 0], n1["output"][:, 0, 0])
    # what n1 reads from the loop at step t is w21's output of step t - 1
    np.testing.assert_array_equal(res.states["w21"]["output"][:-1, 0, 0][[0, 5, 10]], [-5.0, -5.0, -5.0])


def test_self_loop_reads_its_own_previous_output():
    # an I&F whose spike feeds back to itself: v += x + z[t-1]
    g = build({"input": inp(1), "n": if_(), "output": outp(1)},
              [("input", "n"), ("n", "n"), ("n", "output")])
    res = simulate(g, np.array([1.5, 0, 0.6, 0.6, 0]).reshape(5, 1, 1), semantics=SEM, record=True)
    # v: 1.5 (fire, 0) | 0 + 0 + 1 = 1 (no) | 1.6 (fire, 0) | 0.6 + 1 = 1.6 (fire) | 0 + 1 = 1
    assert res.outputs["output"][:, 0, 0].tolist() == [1, 0, 1, 1, 0]
    np.testing.assert_allclose(res.states["n"]["v"][:, 0, 0], [0, 1, 0, 0, 1], atol=1e-15)


def test_back_edge_at_step_zero_carries_the_output_at_rest():
    # LI <- input + rec(LI), rec = Affine(0.5, bias 0.3): at t = 0 the loop already adds the
    # bias (rec's output at rest, 0.5 * 0 + 0.3), as snnTorch's RSynaptic adds W 0 + b
    g = build({"input": inp(2), "li": nir.LI(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2)),
               "rec": nir.Affine(weight=0.5 * np.eye(2), bias=np.full(2, 0.3)), "output": outp(2)},
              [("input", "li"), ("li", "rec"), ("rec", "li"), ("li", "output")])
    res = simulate(g, np.ones((2, 1, 2)), semantics=SEM, record=["li", "rec"])
    v0 = 0.1 * (1.0 + 0.3)
    v1 = 0.9 * v0 + 0.1 * (1.0 + 0.5 * v0 + 0.3)
    np.testing.assert_allclose(res.states["li"]["v"][:, 0, 0], [v0, v1], rtol=1e-15)
    # with initial_v = "leak" the LI's output at rest is v_leak, and rec maps it
    g2 = build({"input": inp(2), "li": nir.LI(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.full(2, 2.0)),
                "rec": nir.Affine(weight=0.5 * np.eye(2), bias=np.full(2, 0.3)), "output": outp(2)},
               [("input", "li"), ("li", "rec"), ("rec", "li"), ("li", "output")])
    res = simulate(g2, np.zeros((1, 1, 2)), semantics=Semantics(dt=1e-3, initial_v="leak"), record=["li"])
    assert res.states["li"]["v"][0, 0, 0] == pytest.approx(0.9 * 2.0 + 0.1 * (2.0 + 0.5 * 2.0 + 0.3), rel=1e-15)


def recurrent_net(seed: int = 0) -> nircc.Graph:
    rng = np.random.default_rng(seed)
    n_in, n_h, n_out = 5, 8, 3
    ones = np.ones(n_h)
    return build({
        "input": inp(n_in),
        "fc": nir.Affine(weight=rng.normal(0.3, 1, (n_h, n_in)), bias=rng.normal(0, 0.1, n_h)),
        "lif": nir.CubaLIF(tau_syn=4e-3 * ones, tau_mem=rng.uniform(5e-3, 2e-2, n_h), r=ones, v_leak=0 * ones,
                           v_threshold=0.25 * ones, v_reset=0 * ones, w_in=ones),
        "rec": nir.Linear(weight=rng.normal(0, 0.5, (n_h, n_h))),
        "fc2": nir.Affine(weight=rng.normal(0, 1, (n_out, n_h)), bias=np.zeros(n_out)),
        "li": nir.LI(tau=np.full(n_out, 1e-2), r=np.ones(n_out), v_leak=np.zeros(n_out)),
        "output": outp(n_out),
    }, [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fc2"), ("fc2", "li"),
        ("li", "output")])


@pytest.mark.parametrize("preset", ["nir", "snntorch", "rockpool"])
def test_batch_equals_samples_one_by_one(preset):
    g = recurrent_net()
    x = (np.random.default_rng(3).random((60, 6, 5)) < 0.3).astype(np.float64)
    sem = Semantics.from_options(preset, dt=1e-3)
    res = simulate(g, x, semantics=sem, record=True)
    assert res.states["lif"]["output"].sum() > 50  # the network is active
    for b in range(6):
        one = simulate(g, x[:, b:b + 1], semantics=sem, record=True)
        np.testing.assert_array_equal(one.states["lif"]["output"][:, 0], res.states["lif"]["output"][:, b])
        # float64 rounding differs between BLAS paths (gemm vs gemv): equal to rounding of the
        # largest value (multi-spike subtraction cancels large membranes)
        for got, want in ((one.outputs["output"][:, 0], res.outputs["output"][:, b]),
                          (one.states["lif"]["v"][:, 0], res.states["lif"]["v"][:, b])):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * max(1.0, float(np.abs(want).max())))


def test_stepping_api_equals_simulate():
    g = recurrent_net(1)
    x = (np.random.default_rng(4).random((40, 3, 5)) < 0.3).astype(np.float64)
    sem = Semantics.preset("snntorch").with_dt(1e-3)
    res = simulate(g, x, semantics=sem, record=["lif"])
    sim = Simulator(g, batch=3, semantics=sem)
    for t in range(40):
        y = sim.step({"input": x[t]})
        np.testing.assert_array_equal(y["output"], res.outputs["output"][t])
        np.testing.assert_array_equal(sim.state["lif"]["v"], res.states["lif"]["v"][t])
        np.testing.assert_array_equal(sim.state["lif"]["i"], res.states["lif"]["i"][t])
    assert "_z" not in sim.state["lif"]  # private state is not exposed
    sim.reset()
    np.testing.assert_array_equal(sim.step(x[0])["output"], res.outputs["output"][0])
    # run() continues from the current state: step 0 done, run the rest
    rest = sim.run(x[1:])
    np.testing.assert_array_equal(rest.outputs["output"], res.outputs["output"][1:])


def two_in_two_out() -> nircc.Graph:
    return build({"a": inp(2), "b": inp(2), "sum": nir.Scale(scale=np.array([1.0, 2.0])),
                  "li": nir.LI(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2)),
                  "out_sum": outp(2), "out_li": outp(2)},
                 [("a", "sum"), ("b", "sum"), ("sum", "out_sum"), ("sum", "li"), ("li", "out_li")])


def test_several_inputs_and_outputs():
    g = two_in_two_out()
    xa, xb = np.ones((3, 1, 2)), np.arange(6.0).reshape(3, 1, 2)
    res = simulate(g, {"a": xa, "b": xb}, semantics=SEM)
    np.testing.assert_array_equal(res.outputs["out_sum"], (xa + xb) * [1.0, 2.0])
    v1 = 0.1 * res.outputs["out_sum"][0]
    np.testing.assert_allclose(res.outputs["out_li"][1], 0.9 * v1 + 0.1 * res.outputs["out_sum"][1], rtol=1e-15)


def test_node_without_source_reads_zeros():
    # validation rejects such graphs (unreachable nodes); the simulator still defines them
    g = nircc.load(nir.NIRGraph(type_check=False, nodes={"input": inp(1), "w": nir.Linear(weight=np.ones((1, 1))), "output": outp(1),
               "lone": nir.LI(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.array([1.0, 2.0])), "o2": outp(2)},
              edges=[("input", "w"), ("w", "output"), ("lone", "o2")]), validate=False)
    res = simulate(g, np.zeros((3, 1, 1)), semantics=SEM)
    np.testing.assert_allclose(res.outputs["o2"][:, 0, 1], 2 * (1 - 0.9 ** np.arange(1, 4)), rtol=1e-14)


# ----------------------------------------------------------------------------- inputs
def small() -> nircc.Graph:
    return build({"input": nir.Input(input_type={"input": np.array([2, 3])}), "s": nir.Scale(scale=np.ones((2, 3))),
                  "output": nir.Output(output_type={"output": np.array([2, 3])})},
                 [("input", "s"), ("s", "output")])


def test_input_forms():
    g = small()
    x = np.random.default_rng(0).random((4, 2, 2, 3))
    ref = simulate(g, {"input": x}, semantics=SEM).outputs["output"]
    np.testing.assert_array_equal(simulate(g, x, semantics=SEM).outputs["output"], ref)
    one = simulate(g, x[:, 0], semantics=SEM).outputs["output"]  # [T, *shape]: one sample
    assert one.shape == (4, 1, 2, 3)
    np.testing.assert_array_equal(one[:, 0], ref[:, 0])
    spikes = simulate(g, x > 0.5, semantics=SEM).outputs["output"]  # bool accepted
    np.testing.assert_array_equal(spikes, (x > 0.5).astype(float))
    ints = simulate(g, (x * 3).astype(np.int16), semantics=SEM).outputs["output"]
    assert ints.dtype == np.float64


@pytest.mark.parametrize("x, msg", [
    (np.zeros((4, 2, 3, 2)), r"input has shape \[4, 2, 3, 2\]; expected \[T, B, 2, 3\] \(or \[T, 2, 3\]"),
    (np.zeros((4,)), r"expected \[T, B, 2, 3\]"),
    (np.zeros((4, 1, 2, 3), dtype=np.complex128), "dtype complex128; expected numbers"),
    (np.array([["a"]]), "dtype <U1"),
    (np.full((2, 1, 2, 3), np.nan), "NaN"),
])
def test_bad_input_names_the_input_node_and_shape(x, msg):
    with pytest.raises(NirccError, match=msg) as e:
        simulate(small(), x, semantics=SEM)
    assert (e.value.node, e.value.field) == ("input", "input")


def test_input_dict_mistakes():
    g = two_in_two_out()
    x = np.zeros((3, 1, 2))
    with pytest.raises(NirccError, match="pass a dict"):
        simulate(g, x, semantics=SEM)
    with pytest.raises(NirccError, match="no data given") as e:
        simulate(g, {"a": x}, semantics=SEM)
    assert e.value.node == "b"
    with pytest.raises(NirccError, match="no Input node called 'c'"):
        simulate(g, {"a": x, "b": x, "c": x}, semantics=SEM)
    with pytest.raises(NirccError, match="leading axes") as e:
        simulate(g, {"a": x, "b": np.zeros((4, 1, 2))}, semantics=SEM)
    assert e.value.node == "b"


def test_stepping_batch_mismatch():
    sim = Simulator(small(), batch=2, dt=1e-3)
    with pytest.raises(NirccError, match="batch size 3"):
        sim.step(np.zeros((3, 2, 3)))
    with pytest.raises(NirccError, match="batch must be >= 1"):
        Simulator(small(), batch=0)


# ----------------------------------------------------------------------------- result
def test_result_records_semantics_and_states():
    g = recurrent_net()
    res = simulate(g, np.zeros((5, 2, 5)), record=["lif", "rec"])
    assert isinstance(res, SimResult)
    assert res.dt == 1e-3 and res.semantics.dt == 1e-3
    assert [d.code for d in res.diagnostics] == ["dt-default"]
    assert set(res.states) == {"lif", "rec"}
    assert set(res.states["lif"]) == {"output", "v", "i"} and res.states["lif"]["v"].shape == (5, 2, 8)
    assert set(res.states["rec"]) == {"output"}
    assert res.outputs["output"].shape == (5, 2, 3)
    with pytest.raises(NirccError, match="cannot record 'nope'"):
        simulate(g, np.zeros((5, 2, 5)), record=["nope"])
    assert simulate(g, np.zeros((2, 1, 5)), dt=2e-3, semantics=Semantics(dt=1e-3)).dt == 2e-3  # dt wins


def test_simulate_accepts_a_path_and_a_nir_graph(tmp_path):
    g = small()
    x = np.ones((2, 1, 2, 3))
    ng = g.to_nir()
    assert simulate(ng, x, semantics=SEM).outputs["output"].sum() == 12
    path = tmp_path / "m.nir"
    nircc.save(g, path)
    assert simulate(str(path), x, semantics=SEM).outputs["output"].sum() == 12


def test_every_nir_node_type_has_a_step_function():
    from nircc.ir import NODE_TYPES
    from nircc.sim import register, registered_types

    assert set(registered_types()) == set(NODE_TYPES) - {"Input"}  # Inputs are fed, not stepped
    with pytest.raises(ValueError, match="already registered"):
        register("LIF")(lambda ctx: None)
