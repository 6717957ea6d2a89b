"""S2Program: normalization, validation (every error at once, naming population or
projection, field, value and limit) and the lossless JSON round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nircc.backends.spinnaker2.program import (FORMAT, Conv2DProjection, ListProjection, NirProvenance, Population,
                                               S2Program, raster_from_spike_list, spike_list_from_raster)
from nircc.errors import NirccError
from nircc.util import dumps

F32 = np.float32

CONV = dict(in_height=4, in_width=4, stride_x=1, stride_y=1, pool_x=2, pool_y=2, pad_top=1, pad_bottom=1,
            pad_left=1, pad_right=1)


def lif_params(n: int, **over) -> dict:
    d = {"threshold": np.linspace(1, 2, n), "alpha_decay": 0.96, "i_offset": np.zeros(n), "v_reset": 0.0,
         "reset": "reset_by_subtraction"}
    d.update(over)
    return d


def full_program() -> S2Program:
    """Every model and both projection kinds."""
    rng = np.random.default_rng(0)
    cexp = lif_params(3, exc_decay=[0.5, 0.6, 0.7], inh_decay=0.25, t_refrac=[0, 1, 2])
    pops = [
        Population("in", "spike_list", 16, {0: [1, 5], "2": [7], 15: []}),
        Population("lif", "lif", 3, lif_params(3), record=["spikes"], max_atoms_per_core=64),
        Population("nod", "lif_no_delay", 3, lif_params(3, reset="reset_to_v_reset"), record=["v", "spikes"],
                   nir=NirProvenance("lif1", [25.0, 25.0, 12.5], 3.7)),
        Population("ce", "lif_curr_exp", 3, cexp),
        Population("cend", "lif_curr_exp_no_delay", 3, dict(cexp, t_refrac=0)),
        Population("conv", "lif_conv2d", 2 * 3 * 3, lif_params(18), record=["spikes"]),
    ]
    projs = [
        ListProjection("p_lif", "in", "lif", [[0, 0, 15, 7], [2, 1, -15, 0]]),
        ListProjection("p_nod", "lif", "nod", [[0, 0, 127, 0], [1, 2, -127, 0]]),
        ListProjection("p_ce", "nod", "ce", [[2, 2, -3, 5]]),
        ListProjection("p_cend", "ce", "cend", np.zeros((0, 4), np.int64)),
        ListProjection("p_float", "lif", "cend", [[0, 1, 2.5, 0]]),
        Conv2DProjection("c", "in", "conv", rng.integers(-128, 128, (1, 2, 2, 2)), CONV),
    ]
    return S2Program(pops, projs, timesteps=10, sys_tick_in_s=2.5e-3, model_dt_s=1e-4, meta={"source": "test"})


def test_full_program_validates_and_normalizes():
    p = full_program()
    p.validate()
    inp = p.population("in")
    assert set(inp.params) == {0, 2, 15}
    assert inp.params[0].dtype == np.int64 and inp.params[15].size == 0
    lif = p.population("lif").params
    assert lif["threshold"].dtype == F32 and isinstance(lif["alpha_decay"], np.float32)
    assert p.population("ce").params["t_refrac"].dtype == np.int64
    assert p.projections[0].connections.dtype == np.int64
    assert p.projections[4].connections.dtype == np.float64
    assert p.projections[5].weights.dtype == np.int8
    assert p.projections[5].output_shape() == (2, 3, 3)
    assert p.population("nod").nir.voltage_scale.tolist() == [92.5, 92.5, 46.25]


def test_json_round_trip_is_lossless():
    p = full_program()
    text = p.to_json()
    d = json.loads(text)
    assert {"schema", "schema_version", "nircc_version", "variant", "dt"} <= set(d)     # the common header
    assert (d["schema"], d["schema_version"], d["dt"]) == ("nircc.spinnaker2", 2, p.model_dt_s)
    old = {k: v for k, v in d.items() if k not in ("schema", "schema_version", "dt")}   # version 1
    assert S2Program.from_dict({**old, "format": FORMAT, "model_dt_s": p.model_dt_s}).to_json() == text
    assert d["populations"][0]["params"] == {"0": [1, 5], "2": [7], "15": []}
    assert d["projections"][5]["weights_int8_shape"] == [1, 2, 2, 2]
    assert "max_atoms_per_core" not in d["populations"][0] and d["populations"][1]["max_atoms_per_core"] == 64
    q = S2Program.from_dict(d)
    assert q.to_json() == text
    q.validate()
    for a, b in zip(p.populations, q.populations):
        for k, v in a.params.items():
            np.testing.assert_array_equal(v, b.params[k])
            assert np.asarray(v).dtype == np.asarray(b.params[k]).dtype
    for a, b in zip(p.projections, q.projections):
        assert type(a) is type(b)
        if isinstance(a, ListProjection):
            np.testing.assert_array_equal(a.connections, b.connections)
            assert a.connections.dtype == b.connections.dtype
        else:
            np.testing.assert_array_equal(a.weights, b.weights)
            assert b.weights.dtype == np.int8 and a.conv_params == b.conv_params


def test_float32_values_survive_json_exactly():
    odd = np.array([0.1, 1 / 3, 255.05, 3.4e38], F32)
    p = S2Program([Population("a", "lif_no_delay", 4, lif_params(4, threshold=odd))], [], timesteps=1)
    q = S2Program.from_dict(json.loads(p.to_json()))
    np.testing.assert_array_equal(q.population("a").params["threshold"], odd)


def test_from_dict_checks_format_and_kind():
    d = full_program().to_dict()
    with pytest.raises(NirccError, match="a SpiNNaker2 program is not a nircc.spinnaker2 document") as e:
        S2Program.from_dict(dict(d, schema="nircc.spinnaker2/0"))
    assert e.value.field == "schema"
    d["projections"][0]["kind"] = "sparse"
    with pytest.raises(NirccError, match="unknown projection kind") as e:
        S2Program.from_dict(d)
    assert e.value.node == "p_lif"


def test_validate_reports_every_error_at_once():
    pops = [
        Population("in", "spike_list", 4, {0: [3, 1], 9: [2], 1: [12]}, record=["spikes"]),
        Population("a", "lif", 2, lif_params(2, threshold=[1.0, np.inf], reset="zero", bogus=1)),
        Population("b", "lif_no_delay", 2, {"threshold": [1.0, 2.0, 3.0], "alpha_decay": 1.0, "i_offset": 0.0,
                                            "reset": "reset_to_v_reset"}, record=["i"]),
        Population("c", "lif_curr_exp_no_delay", 1, lif_params(1, exc_decay=0.5, inh_decay=0.5, t_refrac=-1)),
        Population("d", "lif_conv2d", 5, lif_params(5)),
        Population("e", "izhikevich", 1, {}),
        Population("a", "lif", 1, lif_params(1), max_atoms_per_core=0),
    ]
    projs = [
        ListProjection("w1", "in", "a", [[0, 0, 16, 0], [4, 1, 3, 8]]),
        ListProjection("w2", "in", "b", [[0, 0, 127, 1], [0, 2, -128, 0]]),
        ListProjection("w3", "in", "d", [[0, 0, 1, 0]]),
        ListProjection("w4", "ghost", "in", [[0, 0, 1, 0]]),
        Conv2DProjection("k1", "in", "d", np.full((1, 1, 3, 3), 200), dict(CONV, stride_x=0)),
        Conv2DProjection("k2", "in", "d", np.ones((1, 1, 3, 3), np.int8), dict(CONV)),
        ListProjection("w1", "in", "c", [[0, 0, 0.5, 0.5]]),
    ]
    p = S2Program(pops, projs, timesteps=10, sys_tick_in_s=0)
    with pytest.raises(NirccError) as e:
        p.validate()
    errs = e.value.errors
    where = {(x.node, x.field) for x in errs}
    expected = {
        (None, "sys_tick_in_s"),
        ("in", "record"), ("in", "params[0]"), ("in", "params[9]"), ("in", "params[1]"),
        ("a", "name"), ("a", "params"), ("a", "params.threshold"), ("a", "params.reset"),
        ("a", "max_atoms_per_core"),
        ("b", "params"), ("b", "params.threshold"), ("b", "record"),
        ("c", "params.t_refrac"),
        ("e", "neuron_model"),
        ("w1", "connections[:, 2]"), ("w1", "connections[:, 0]"), ("w1", "connections[:, 3]"),
        ("w2", "connections[:, 3]"), ("w2", "connections[:, 1]"), ("w2", "connections[:, 2]"),
        ("w3", "kind"), ("w4", "pre"), ("w4", "kind"),
        ("k1", "weights"), ("k1", "conv_params.stride_x"),
        ("k2", "conv_params"),
        ("w1", "name"),
    }
    assert expected <= where, expected - where
    text = str(e.value)
    # value and limit are named
    assert "1 of 2 weights outside lif's [-15, 15] (they span [3, 16]); first row 0: [0, 0, 16, 0]" in text
    assert "neuron 1 has inf" in text
    assert "lif_no_delay's delay field 0..0 (delays need lif or lif_curr_exp)" in text
    assert "delay value(s) outside lif's delay field 0..7; first row 1: [4, 1, 3, 8]" in text
    assert "pre index value(s) outside 0..3" in text
    assert "spike times in [12, 12] not in 0..9" in text
    assert "strictly increasing" in text
    assert "neuron index 9 not in 0..3" in text
    assert "reset 'zero' not in ['reset_by_subtraction', 'reset_to_v_reset']" in text
    assert "lif has no parameters ['bogus']" in text
    assert "lif_no_delay needs ['v_reset']" in text
    assert "shape [3] is neither a scalar nor [2]" in text
    assert "t_refrac -1 must be >= 0 steps" in text
    assert "kernel values in [200, 200] exceed int8 [-128, 127]" in text
    assert "output 1x2x2 = 4 neurons, but post population 'd' has 5" in text
    assert "(lif_conv2d) takes conv2d projections, not list" in text
    assert "'in' (spike_list) takes no input" in text
    # the float-weight row of the duplicate "w1": delays must be integers
    assert "delay indices must be integers" in text


def test_float_weights_must_lie_in_range_before_rounding():
    p = S2Program([Population("in", "spike_list", 1, {}), Population("a", "lif", 1, lif_params(1))],
                  [ListProjection("w", "in", "a", [[0, 0, 15.2, 0]])], timesteps=2)
    with pytest.raises(NirccError, match=r"\[-15, 15\] \(they span \[15.2, 15.2\]\)") as e:
        p.validate()
    assert (e.value.node, e.value.field) == ("w", "connections[:, 2]")


def test_conv_geometry_errors():
    conv = dict(CONV, pool_x=5, pool_y=5)
    p = S2Program([Population("in", "spike_list", 16, {}), Population("d", "lif_conv2d", 1, lif_params(1))],
                  [Conv2DProjection("k", "in", "d", np.ones((1, 1, 1, 1), np.int8), conv)], timesteps=2)
    with pytest.raises(NirccError, match="leaves a 0x0 map"):
        p.validate()
    big = Conv2DProjection("k", "in", "d", np.ones((1, 1, 9, 9), np.int8), CONV)
    p.projections = [big]
    with pytest.raises(NirccError, match="larger than the padded 2x2 input"):
        p.validate()
    wrong_pre = Conv2DProjection("k", "in", "d", np.ones((2, 1, 1, 1), np.int8), CONV)
    p.projections = [wrong_pre]
    with pytest.raises(NirccError, match="input 2x4x4 = 32 neurons, but pre population 'in' has 16"):
        p.validate()


def test_variant_mismatch():
    from nircc.backends.spinnaker2.spec import get_spec
    p = full_program()
    p.validate(get_spec("chip"))
    with pytest.raises(NirccError, match="board48"):
        p.validate(get_spec("board48"))


def test_spike_list_raster_helpers():
    r = np.zeros((6, 3), np.uint8)
    r[[1, 4], 0] = 1
    r[5, 2] = 1
    params = spike_list_from_raster(r)
    assert params == {0: [1, 4], 1: [], 2: [5]}
    np.testing.assert_array_equal(raster_from_spike_list(params, 3, 6), r)
    with pytest.raises(NirccError, match=r"\[T, N\]"):
        spike_list_from_raster(np.zeros(3))


def test_json_is_deterministic_text():
    assert full_program().to_json() == dumps(full_program().to_dict())
