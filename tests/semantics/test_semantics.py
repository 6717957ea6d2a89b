"""nircc.semantics: options, presets, and the detection of dt hidden in r / w_in."""
from __future__ import annotations

import dataclasses
import math

import nir
import numpy as np
import pytest

import nircc
from nircc.errors import NirccError
from nircc.semantics import (CHOICES, DEFAULT_DT, PRESETS, Semantics, detect_dt, implied_dt,
                             resolve_dt)
from tests import paths

DATA = paths.PAPER


def lif_graph(**lifs) -> nircc.Graph:
    """Input(1) -> Linear -> one LIF per keyword (name=(tau, r)) -> Output, in a chain."""
    nodes = {"input": nir.Input(input_type={"input": np.array([1])})}
    edges, prev = [], "input"
    for name, (tau, r) in lifs.items():
        w = f"w_{name}"
        nodes[w] = nir.Linear(weight=np.ones((1, 1)))
        nodes[name] = nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1),
                              v_threshold=np.ones(1), v_reset=np.zeros(1))
        edges += [(prev, w), (w, name)]
        prev = name
    nodes["output"] = nir.Output(output_type={"output": np.array([1])})
    edges.append((prev, "output"))
    return nircc.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


# ----------------------------------------------------------------------------- options
def test_defaults_are_the_nir_documentation():
    s = Semantics()
    assert (s.dt, s.discretization, s.reset, s.reset_timing, s.spike, s.threshold, s.initial_v, s.v_min) == \
        (None, "euler", "zero", "immediate", "single", ">", "zero", "none")
    assert all(getattr(s, k) == v[0] for k, v in CHOICES.items())
    assert Semantics.preset("nir") == dataclasses.replace(s, preset_name="nir")


@pytest.mark.parametrize("name, expected", [
    ("nir", {}),
    ("norse", {"dt": 1e-3, "initial_v": "leak"}),
    ("snntorch", {"reset": "subtract", "reset_timing": "next_step"}),
    ("rockpool", {"discretization": "rockpool", "reset": "subtract", "spike": "multi", "threshold": ">="}),
    ("sinabs", {"dt": 1.0, "discretization": "exact", "reset": "subtract", "spike": "multi", "threshold": ">=",
                "v_min": "-threshold"}),
    ("lava-dl", {}),
    ("spinnaker2", {"discretization": "exact", "reset": "subtract"}),
])
def test_presets(name, expected):
    s = Semantics.preset(name)
    want = dataclasses.replace(Semantics(), preset_name=name, **expected)
    assert s == want
    assert PRESETS[name].source  # every preset names its source


def test_preset_name_case_and_unknown():
    assert Semantics.preset("SnnTorch").preset_name == "snntorch"
    with pytest.raises(NirccError, match="unknown semantics preset 'brian'") as e:
        Semantics.preset("brian")
    assert e.value.field == "semantics"


def test_from_options_overrides_and_ignores_none():
    s = Semantics.from_options("snntorch", reset="zero", dt=1e-4, spike=None)
    assert (s.reset, s.reset_timing, s.dt, s.spike, s.preset_name) == ("zero", "next_step", 1e-4, "single", "snntorch")
    assert Semantics.from_options() == Semantics()
    assert Semantics.from_options(threshold=">=").threshold == ">="
    with pytest.raises(NirccError, match="unknown semantics option") as e:
        Semantics.from_options(refractory=2)
    assert e.value.field == "refractory"


@pytest.mark.parametrize("field, value", [("reset", "soft"), ("threshold", "=>"), ("spike", 2),
                                          ("discretization", "rk4"), ("reset_timing", "later"),
                                          ("initial_v", "rest")])
def test_bad_option_names_the_field(field, value):
    with pytest.raises(NirccError) as e:
        Semantics(**{field: value})
    assert e.value.field == field and repr(value) in e.value.message


@pytest.mark.parametrize("dt", [0, -1e-3, float("nan"), float("inf"), "fast"])
def test_bad_dt(dt):
    with pytest.raises(NirccError) as e:
        Semantics(dt=dt)
    assert e.value.field == "dt"


def test_to_dict_round_trip_and_frozen():
    s = Semantics.from_options("rockpool", dt=2e-4)
    d = s.to_dict()
    assert d == {"dt": 2e-4, "discretization": "rockpool", "reset": "subtract", "reset_timing": "immediate",
                 "spike": "multi", "threshold": ">=", "initial_v": "zero", "v_min": "none",
                 "preset_name": "rockpool"}
    assert Semantics(**d) == s
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.reset = "zero"  # type: ignore[misc]
    assert Semantics(dt=1).dt == 1.0 and isinstance(Semantics(dt=1).dt, float)


# ----------------------------------------------------------------------------- implied dt
def test_implied_dt_snntorch_and_rockpool_invert_their_encodings():
    tau = np.array([1e-3, 2.5e-3, 4e-4])
    dt = 1e-4
    np.testing.assert_allclose(implied_dt("snntorch", tau, tau / dt), dt, rtol=1e-15)
    rock = tau * np.exp(-dt / tau) / dt
    np.testing.assert_allclose(implied_dt("rockpool", tau, rock), dt, rtol=1e-13)
    assert np.isnan(implied_dt("snntorch", tau, np.ones(3))).all()  # r = 1: no information
    assert np.isnan(implied_dt("rockpool", tau, -np.ones(3))).all()


def test_detect_dt_snntorch_braille_files():
    for f in ("braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir"):
        rep = detect_dt(nircc.load(DATA / f))
        assert rep.encoding == "snntorch" and rep.dt == 1e-4 and rep.conflict is None
        assert set(rep.per_node) == {"lif1.lif", "lif2"}
        for dt in rep.per_node.values():
            assert dt == pytest.approx(1e-4, rel=1e-6)
        # both r (tau_mem) and w_in (tau_syn) of both layers are evidence
        assert {(e.node, e.field) for e in rep.evidence if e.encoding == "snntorch"} == \
            {("lif1.lif", "r"), ("lif1.lif", "w_in"), ("lif2", "r"), ("lif2", "w_in")}


def test_detect_dt_rockpool_file():
    rep = detect_dt(nircc.load(DATA / "lif_rockpool.nir"))
    assert rep.encoding == "rockpool" and rep.dt == 1e-4
    # the snnTorch reading of the same r is 1.0408e-4, not a round number: Rockpool wins
    snn = [e for e in rep.evidence if e.encoding == "snntorch"]
    assert snn and snn[0].dt == pytest.approx(2.5e-3 / 24.019737, rel=1e-6)


def test_detect_dt_nothing_in_identity_r():
    for f in ("lif_norse.nir", "two_lif_neurons.nir", "cnn_sinabs.nir"):
        rep = detect_dt(nircc.load(DATA / f))
        assert rep.dt is None and rep.evidence == () and rep.conflict is None


def test_detect_dt_disagreeing_nodes():
    g = lif_graph(a=(1e-3, 10.0), b=(1e-3, 5.0))  # snnTorch: 1e-4 vs 2e-4; Rockpool: 9.1e-5 vs 1.7e-4
    rep = detect_dt(g)
    assert rep.dt is None and rep.conflict is not None
    assert "'a' 0.0001" in rep.conflict and "'b' 0.0002" in rep.conflict


def test_detect_dt_uneven_layer_is_a_conflict():
    g = lif_graph(a=(1e-3, 10.0))
    op = g.op("a")
    g.set_op("a", nir.LIF(tau=np.array([1e-3, 1e-3]), r=np.array([10.0, 20.0]), v_leak=np.zeros(2),
                          v_threshold=np.ones(2), v_reset=np.zeros(2)), in_shape=(2,), out_shape=(2,))
    assert op is not g.op("a")
    assert detect_dt(g).conflict is not None


def test_round_dt_breaks_a_tie_between_encodings():
    # one node fits both encodings; snnTorch gives 1e-4 (round), Rockpool 9.5e-5
    rep = detect_dt(lif_graph(a=(2e-3, 20.0)))
    assert rep.encoding == "snntorch" and rep.dt == 1e-4


# ----------------------------------------------------------------------------- resolve_dt
def test_resolve_user_dt_agreeing_is_silent():
    dt, diags = resolve_dt(nircc.load(DATA / "braille_noDelay_bias_zero.nir"), 1e-4)
    assert dt == 1e-4 and len(diags) == 0


def test_resolve_user_dt_disagreeing_warns():
    dt, diags = resolve_dt(nircc.load(DATA / "braille_noDelay_bias_zero.nir"), 1e-3)
    assert dt == 1e-3
    (d,) = diags
    assert d.level == "warning" and d.code == "dt-mismatch" and "0.0001" in d.message and "snnTorch" in d.message


def test_resolve_detected_dt_is_info():
    dt, diags = resolve_dt(nircc.load(DATA / "lif_rockpool.nir"), None)
    assert dt == 1e-4
    (d,) = diags
    assert d.level == "info" and d.code == "dt-detected" and "Rockpool" in d.message


def test_resolve_default_dt_warns():
    dt, diags = resolve_dt(nircc.load(DATA / "lif_norse.nir"), None)
    assert dt == DEFAULT_DT == 1e-3
    (d,) = diags
    assert d.level == "warning" and d.code == "dt-default"


def test_resolve_conflict_raises_unless_dt_given():
    g = lif_graph(a=(1e-3, 10.0), b=(1e-3, 5.0))
    with pytest.raises(NirccError, match="cannot choose dt") as e:
        resolve_dt(g, None)
    assert e.value.field == "dt" and "'a'" in e.value.message and "'b'" in e.value.message
    dt, diags = resolve_dt(g, 5e-4)
    assert dt == 5e-4 and [d.code for d in diags] == ["dt-conflict"]


def test_resolve_checks_user_dt():
    with pytest.raises(NirccError):
        resolve_dt(lif_graph(), -1.0)
    assert math.isclose(resolve_dt(lif_graph(), 2)[0], 2.0)


def test_implied_dt_of_absurd_parameters_is_nothing():
    got = implied_dt("rockpool", np.full(3, 1e-3), np.array([1e-320, np.inf, 0.0]))
    assert np.isnan(got).all()


def test_decay_and_delay_steps_helpers():
    from nircc.semantics import decay, delay_steps

    a, b = decay([0.01, 0.002], 1e-3, "euler")
    np.testing.assert_allclose(a, [0.9, 0.5], rtol=1e-15)
    np.testing.assert_allclose(b, [0.1, 0.5], rtol=1e-15)
    a, b = Semantics(dt=1e-3, discretization="exact").decay(0.01)
    assert a == math.exp(-0.1) and b == -math.expm1(-0.1)
    with pytest.raises(ValueError, match="needs dt"):
        Semantics().decay(0.01)
    steps, whole = delay_steps([0.0, 3e-4, 2.5e-4, 2.4e-4], 1e-4)
    assert steps.tolist() == [0, 3, 3, 2] and whole.tolist() == [True, True, False, False]


# ----------------------------------------------------------------------------- one coercion
def _subtract_vs_zero_graph() -> nircc.Graph:
    """One LIF driven hard enough that zero and subtract-at-next-step resets differ."""
    return lif_graph(lif=(1e-2, 10.0))


def test_simulate_takes_a_preset_name_as_compile_does():
    g = _subtract_vs_zero_graph()
    x = np.zeros((20, 1, 1))
    x[::2] = 3.0
    by_name = nircc.simulate(g, x, dt=1e-3, semantics="snntorch")
    by_object = nircc.simulate(g, x, dt=1e-3, semantics=Semantics.preset("snntorch"))
    by_dict = nircc.simulate(g, x, dt=1e-3, semantics={"preset": "nir", "reset": "subtract",
                                                        "reset_timing": "next_step"})
    default = nircc.simulate(g, x, dt=1e-3)
    spikes = by_name.outputs["output"]
    assert by_name.semantics.preset_name == "snntorch"
    np.testing.assert_array_equal(spikes, by_object.outputs["output"])
    np.testing.assert_array_equal(spikes, by_dict.outputs["output"])
    assert not np.array_equal(spikes, default.outputs["output"])   # the preset did change the rule


@pytest.mark.parametrize("value, expected", [
    (None, Semantics()), ("SnnTorch", Semantics.preset("snntorch")),
    ({"preset": "norse", "reset": "subtract"}, dataclasses.replace(Semantics.preset("norse"), reset="subtract")),
    ({"threshold": ">="}, Semantics(threshold=">=")),
])
def test_coerce_every_accepted_form(value, expected):
    assert Semantics.coerce(value) == expected
    assert Semantics.coerce(expected) is expected


@pytest.mark.parametrize("value, message", [
    (3, "semantics must be a preset name (nir, norse, snntorch, rockpool, sinabs, lava-dl, spinnaker2), "
        "a nircc.Semantics or a dict of options, not int"),
    ("snntorc", "unknown semantics preset 'snntorc' (known: nir, norse, snntorch, rockpool, sinabs, lava-dl, "
                "spinnaker2)"),
    ({"rest": "zero"}, "unknown semantics option(s) ['rest'] (known: dt, discretization, reset, reset_timing, "
                       "spike, threshold, initial_v, v_min)"),
])
def test_coerce_refuses_with_a_named_error_in_simulate_and_compile(value, message):
    g = _subtract_vs_zero_graph()
    for call in (lambda: nircc.simulate(g, np.zeros((2, 1, 1)), dt=1e-3, semantics=value),
                 lambda: nircc.compile(g, "xylo", dt=1e-3, semantics=value)):
        with pytest.raises(NirccError) as e:
            call()
        assert e.value.message == message
