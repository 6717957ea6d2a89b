"""Neuron step functions of nircc.sim against hand-computed and closed-form values."""
from __future__ import annotations

import numpy as np
import pytest

import nir
import nircc
from nircc.errors import NirccError
from nircc.semantics import Semantics
from nircc.sim import Simulator, simulate


def one(node, n: int = 1) -> nircc.Graph:
    """Input(n) -> node -> Output."""
    return nircc.load(nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n])}), "x": node,
               "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "x"), ("x", "output")], type_check=False))


def a(*v) -> np.ndarray:
    return np.array(v, dtype=np.float64)


def run(node, x, record=True, **sem):
    """Simulate ``node`` on input x (1-D: T steps of one neuron, or [T, n]); returns
    (output [T, n], states of x [T, n] each)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    dt = sem.pop("dt", 1e-3)
    res = simulate(one(node, x.shape[1]), x, semantics=Semantics(dt=dt, **sem), record=["x"])
    states = {k: v[:, 0] for k, v in res.states["x"].items()}
    return res.outputs["output"][:, 0], states


def lif(tau=0.01, r=1.0, v_leak=0.0, thr=1.0, v_reset=0.0):
    return nir.LIF(tau=a(tau), r=a(r), v_leak=a(v_leak), v_threshold=a(thr), v_reset=a(v_reset))


def integrate_and_fire(r=1000.0, thr=1.0, v_reset=0.0):
    return nir.IF(r=a(r), v_threshold=a(thr), v_reset=a(v_reset))


# ----------------------------------------------------------------------------- LIF, LI
def test_lif_constant_input_fires_at_the_computed_step():
    # Euler: v_k = x (1 - (1 - dt/tau)^(k+1)) for k = 0, 1, ...; x = 2, dt/tau = 0.1, thr 1:
    # first k with 1 - 0.9^(k+1) > 0.5 is k = 6 (0.9^7 = 0.478)
    out, st = run(lif(tau=0.01), np.full(10, 2.0))
    expect_v = 2.0 * (1 - 0.9 ** np.arange(1, 8))
    np.testing.assert_allclose(st["v"][:6, 0], expect_v[:6], rtol=1e-14)
    assert np.flatnonzero(out[:, 0]).tolist()[0] == 6
    assert expect_v[5] < 1.0 < expect_v[6]
    assert st["v"][6, 0] == 0.0  # reset to v_reset in the spike's step (recorded after reset)
    # the step after: v = 0.9 * 0 + 0.1 * 2
    assert st["v"][7, 0] == pytest.approx(0.2, abs=1e-15)


def test_lif_reset_to_nonzero_v_reset_and_subtract():
    x = np.full(8, 2.0)
    out, st = run(lif(v_reset=-0.25), x)
    k = np.flatnonzero(out[:, 0])[0]
    assert st["v"][k, 0] == -0.25
    assert st["v"][k + 1, 0] == pytest.approx(0.9 * -0.25 + 0.2, abs=1e-15)
    out_s, st_s = run(lif(v_reset=-0.25), x, reset="subtract")
    v_pre = 2.0 * (1 - 0.9 ** (k + 1))
    assert np.flatnonzero(out_s[:, 0])[0] == k
    assert st_s["v"][k, 0] == pytest.approx(v_pre - 1.0, abs=1e-14)


def test_li_exact_equals_the_ode_solution_and_euler_its_recursion():
    # constant input x from t = 0: v(t) = x (1 - exp(-t / tau)) exactly for the exact discretization
    x, tau, dt = 0.7, 0.02, 1e-3
    node = nir.LI(tau=a(tau), r=a(1.0), v_leak=a(0.0))
    k = np.arange(1, 31)
    _, ex = run(node, np.full(30, x), discretization="exact")
    np.testing.assert_allclose(ex["v"][:, 0], x * (1 - np.exp(-k * dt / tau)), rtol=1e-13)
    out, eu = run(node, np.full(30, x))
    np.testing.assert_allclose(eu["v"][:, 0], x * (1 - (1 - dt / tau) ** k), rtol=1e-13)
    np.testing.assert_array_equal(out[:, 0], eu["v"][:, 0])  # an LI outputs its voltage


def test_li_r_and_v_leak():
    # v = a v + b (v_leak + r x): with x = 0 it relaxes to v_leak; r scales the input
    node = nir.LI(tau=a(0.01), r=a(3.0), v_leak=a(0.5))
    _, st = run(node, np.zeros(5))
    np.testing.assert_allclose(st["v"][:, 0], 0.5 * (1 - 0.9 ** np.arange(1, 6)), rtol=1e-14)
    _, st = run(node, np.zeros(5), initial_v="leak")
    np.testing.assert_allclose(st["v"][:, 0], 0.5, rtol=1e-15)
    _, st = run(nir.LI(tau=a(0.01), r=a(3.0), v_leak=a(0.0)), a(1.0, 0.0))
    np.testing.assert_allclose(st["v"][:, 0], [0.3, 0.27], rtol=1e-14)


def test_self_spiking_lif_from_v_leak():
    # v_leak = 1.2 > thr = 1, no input: first spike at the first k with 1.2 (1 - 0.9^(k+1)) > 1,
    # i.e. 0.9^(k+1) < 1/6: 0.9^17 = 0.1668, 0.9^18 = 0.1501, so k = 17
    out, _ = run(lif(v_leak=1.2), np.zeros(40))
    k = int(np.ceil(np.log(1 / 6) / np.log(0.9))) - 1
    assert np.flatnonzero(out[:, 0])[0] == k == 17
    # periodic afterwards with the same period (reset to 0 is the initial state)
    assert np.flatnonzero(out[:, 0]).tolist() == [17, 35]


def test_euler_unstable_warning():
    sim = Simulator(one(lif(tau=5e-4)), dt=1e-3)
    (d,) = sim.diagnostics.with_code("euler-unstable")
    assert d.node == "x" and d.field == "tau"
    assert not Simulator(one(lif(tau=5e-4)), semantics=Semantics(dt=1e-3, discretization="exact")) \
        .diagnostics.with_code("euler-unstable")


# ----------------------------------------------------------------------------- I, IF
def test_integrator_and_if():
    # v += dt * r * x (the NIR ODE v' = R I under Euler and exact alike)
    _, st = run(nir.I(r=a(500.0)), a(1.0, 2.0, -1.0))
    np.testing.assert_allclose(st["v"][:, 0], [0.5, 1.5, 1.0], rtol=1e-15)
    _, st_ex = run(nir.I(r=a(500.0)), a(1.0, 2.0, -1.0), discretization="exact")
    np.testing.assert_array_equal(st_ex["v"], st["v"])
    out, st = run(integrate_and_fire(r=400.0), np.ones(6))  # +0.4 per step
    assert out[:, 0].tolist() == [0, 0, 1, 0, 0, 1]
    np.testing.assert_allclose(st["v"][:, 0], [0.4, 0.8, 0, 0.4, 0.8, 0], atol=1e-15)


@pytest.mark.parametrize("cmp, spikes", [(">", [0, 0, 0, 0, 1, 0]), (">=", [0, 0, 0, 1, 0, 0])])
def test_threshold_comparison_at_equality(cmp, spikes):
    # increments of 0.25 are exact in binary: v reaches exactly 1.0 at step 3
    out, st = run(integrate_and_fire(r=250.0), np.ones(6), threshold=cmp)
    assert out[:, 0].tolist() == spikes
    assert st["v"][2, 0] == 0.75


@pytest.mark.parametrize("cmp, reset, spikes, v", [
    # +2.5 per step, thr 1: '>=' counts floor(v), '>' counts ceil(v) - 1
    (">=", "subtract", [2, 3, 2, 3], [0.5, 0.0, 0.5, 0.0]),
    (">", "subtract", [2, 2, 3, 2], [0.5, 1.0, 0.5, 1.0]),
    (">=", "zero", [2, 2, 2, 2], [0.0, 0.0, 0.0, 0.0]),
])
def test_multi_spike(cmp, reset, spikes, v):
    out, st = run(integrate_and_fire(r=2500.0), np.ones(4), spike="multi", threshold=cmp, reset=reset)
    assert out[:, 0].tolist() == spikes
    np.testing.assert_allclose(st["v"][:, 0], v, atol=1e-15)


def test_multi_spike_needs_positive_threshold():
    with pytest.raises(NirccError, match="positive threshold") as e:
        run(integrate_and_fire(thr=0.0), np.ones(2), spike="multi")
    assert (e.value.node, e.value.field) == ("x", "v_threshold")


def test_subtract_ignores_v_reset_with_a_note():
    sim = Simulator(one(lif(v_reset=0.5)), semantics=Semantics(dt=1e-3, reset="subtract"))
    assert [d.code for d in sim.diagnostics] == ["v-reset-ignored"]


def test_bad_time_constant():
    with pytest.raises(NirccError) as e:
        run(lif(tau=-1.0), np.ones(2))
    assert (e.value.node, e.value.field) == ("x", "tau")


# ----------------------------------------------------------------------------- reset timing
# snnTorch-encoded LIF: beta = 0.5 <=> tau = dt / (1 - beta) = 2 dt, r = tau / dt = 2, so that
# the Euler step is exactly v = 0.5 v + x (snnTorch's Leaky: mem = beta mem + input)
SNN_LIF = dict(tau=2e-3, r=2.0)
X_SEQ = a(1.2, 0.0, 0.6, 0.6, 1.0, 0.0)


def test_next_step_subtract_by_hand():
    # snnTorch: reset[t] = (mem[t-1] > 1); mem[t] = 0.5 mem[t-1] + x[t] - reset[t]
    # mem: 1.2 (spike) | 0.6 + 0 - 1 = -0.4 | -0.2 + 0.6 = 0.4 | 0.2 + 0.6 = 0.8 | 0.4 + 1 = 1.4 (spike)
    #      | 0.7 + 0 - 1 = -0.3
    out, st = run(lif(**SNN_LIF), X_SEQ, reset="subtract", reset_timing="next_step")
    assert out[:, 0].tolist() == [1, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(st["v"][:, 0], [1.2, -0.4, 0.4, 0.8, 1.4, -0.3], atol=1e-15)


def test_immediate_subtract_by_hand():
    # v: 1.2 - 1 = 0.2 | 0.1 | 0.65 | 0.925 | 1.4625 - 1 = 0.4625 | 0.23125
    out, st = run(lif(**SNN_LIF), X_SEQ, reset="subtract")
    assert out[:, 0].tolist() == [1, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(st["v"][:, 0], [0.2, 0.1, 0.65, 0.925, 0.4625, 0.23125], atol=1e-15)


def test_next_step_zero_by_hand():
    # the state entering the step after a spike is v_reset (0.1 here), then the update:
    # v: 1.2 (spike) | 0.5 * 0.1 + 0 = 0.05 | 0.625 | 0.9125 | 1.45625 (spike) | 0.05
    out, st = run(lif(v_reset=0.1, **SNN_LIF), X_SEQ, reset_timing="next_step")
    assert out[:, 0].tolist() == [1, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(st["v"][:, 0], [1.2, 0.05, 0.625, 0.9125, 1.45625, 0.05], atol=1e-15)


def test_next_step_multi_subtracts_the_count():
    # I&F +2.5 per step, '>=': v 2.5 (2 spikes) | 2.5 + 2.5 - 2 = 3.0 (3) | 3.0 + 2.5 - 3 = 2.5 (2)
    out, st = run(integrate_and_fire(r=2500.0), np.ones(3), spike="multi", threshold=">=",
                  reset="subtract", reset_timing="next_step")
    assert out[:, 0].tolist() == [2, 3, 2]
    np.testing.assert_allclose(st["v"][:, 0], [2.5, 3.0, 2.5], atol=1e-15)


# ----------------------------------------------------------------------------- CubaLI / CubaLIF
def cuba_closed_form(k, a_s, a_m, r, w, x):
    """Current and voltage after k steps (k = 1, 2, ...) of constant input x from rest:
    i_k = w x (1 - a_s^k);  v_k = r w x [(1 - a_m^k) - (1 - a_m) a_s (a_m^k - a_s^k) / (a_m - a_s)]."""
    i = w * x * (1 - a_s ** k)
    v = r * w * x * ((1 - a_m ** k) - (1 - a_m) * a_s * (a_m ** k - a_s ** k) / (a_m - a_s))
    return i, v


@pytest.mark.parametrize("disc", ["euler", "exact"])
@pytest.mark.parametrize("typ", ["CubaLI", "CubaLIF"])
def test_cuba_closed_form(disc, typ):
    ts, tm, dt, r, w, x = 4e-3, 1e-2, 1e-3, 1.5, 0.8, 0.9
    kw = dict(tau_syn=a(ts), tau_mem=a(tm), r=a(r), v_leak=a(0.0), w_in=a(w))
    node = nir.CubaLI(**kw) if typ == "CubaLI" else nir.CubaLIF(v_threshold=a(100.0), v_reset=a(0.0), **kw)
    _, st = run(node, np.full(25, x), discretization=disc)
    if disc == "euler":
        a_s, a_m = 1 - dt / ts, 1 - dt / tm
    else:
        a_s, a_m = np.exp(-dt / ts), np.exp(-dt / tm)
    i, v = cuba_closed_form(np.arange(1, 26), a_s, a_m, r, w, x)
    np.testing.assert_allclose(st["i"][:, 0], i, rtol=1e-13)
    np.testing.assert_allclose(st["v"][:, 0], v, rtol=1e-12)


def test_cuba_current_reaches_the_membrane_in_the_same_step():
    # synaptic current first: one input at t = 0 moves v already at t = 0
    node = nir.CubaLIF(tau_syn=a(2e-3), tau_mem=a(4e-3), r=a(2.0), v_leak=a(0.0), v_threshold=a(10.0),
                       v_reset=a(0.0), w_in=a(3.0))
    _, st = run(node, a(1.0, 0.0, 0.0))
    i0 = 0.5 * 3.0  # dt/tau_syn * w_in * x
    v0 = 0.25 * 2.0 * i0  # dt/tau_mem * r * i
    np.testing.assert_allclose(st["i"][:, 0], [i0, 0.5 * i0, 0.25 * i0], rtol=1e-15)
    np.testing.assert_allclose(st["v"][:2, 0], [v0, 0.75 * v0 + 0.5 * 0.5 * i0], rtol=1e-15)


def test_cubalif_fires_and_resets_membrane_only():
    node = nir.CubaLIF(tau_syn=a(2e-3), tau_mem=a(2e-3), r=a(2.0), v_leak=a(0.0), v_threshold=a(0.5),
                       v_reset=a(0.0), w_in=a(2.0))
    # step 0: i = 0.5*2*1 = 1, v = 0.5*2*1 = 1 > 0.5: spike, v -> 0, i stays 1
    out, st = run(node, a(1.0, 0.0))
    assert out[:, 0].tolist() == [1, 0]
    assert (st["i"][0, 0], st["v"][0, 0]) == (1.0, 0.0)
    # step 1: i = 0.5, v = 0.5 * 0 + 0.5 * 2 * 0.5 = 0.5: not > 0.5
    assert (st["i"][1, 0], st["v"][1, 0]) == (0.5, 0.5)


def test_per_neuron_parameters_are_elementwise():
    node = nir.LIF(tau=a(0.01, 0.002), r=a(1.0, 2.0), v_leak=a(0.0, 0.0), v_threshold=a(1.0, 0.3),
                   v_reset=a(0.0, 0.0))
    out, st = run(node, np.ones((2, 2)))
    np.testing.assert_allclose(st["v"][0], [0.1, 0.0], atol=1e-15)  # 0.5*2*1 = 1 > 0.3 -> reset
    assert out[0].tolist() == [0, 1]
