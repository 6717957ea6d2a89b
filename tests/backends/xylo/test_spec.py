"""Xylo variant specs and XyloProgram: limits, validation messages, lossless round trips."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nircc.backends.xylo.program import ARRAY_FIELDS, XyloProgram, shifted_weights
from nircc.backends.xylo.spec import DEFAULT_VARIANT, SPECS, VARIANTS, get_spec
from nircc.errors import NirccError


# ----------------------------------------------------------------------------- spec
def test_variant_tables() -> None:
    assert DEFAULT_VARIANT == "audio2" and VARIANTS == ("audio2", "audio3", "imu", "v1")
    rows = {name: (s.chip, s.n_input, s.n_hidden, s.n_readout, s.n_syn, s.input_expansion,
                   s.output_expansion, s.max_fanout, s.has_bias, s.simulator, s.update)
            for name, s in SPECS.items()}
    assert rows == {
        "audio2": ("SYNS61201", 16, 1000, 8, 2, 1000, 1000, 64, True, "xylosim.v2", "v2"),
        "audio3": ("SYNS65302", 16, 992, 32, 2, 128, 128, 1024, True, "xylosim.v2", "v2"),
        "imu": ("SYNS63300", 16, 496, 16, 1, 128, 128, 512, True, "xylosim.v2", "v2"),
        "v1": ("SYNS61300", 16, 1000, 8, 2, 1000, 1000, None, False, "xylosim.v1", "v1"),
    }
    for s in SPECS.values():
        assert (s.weight_range, s.state_range, s.threshold_range, s.bias_range) == \
            ((-128, 127), (-32768, 32767), (-32768, 32767), (-32768, 32767))
        assert (s.dash_range, s.weight_shift_range, s.chip_bias_range) == ((0, 15), (0, 15), (-128, 127))
        assert (s.max_input_events, s.max_hidden_spikes, s.max_readout_spikes, s.max_alias_targets) == (15, 31, 1, 1)
        for item, _, source in s.table():
            assert source, f"{s.name}: no source for {item}"


def test_get_spec() -> None:
    assert get_spec() is SPECS["audio2"] and get_spec("imu").n_hidden == 496
    with pytest.raises(NirccError, match="unknown xylo variant 'audio9'"):
        get_spec("audio9")


def test_expansion_windows() -> None:
    assert get_spec("audio3").oen_start(992) == 864 and get_spec("audio3").oen_start(100) == 0
    assert get_spec("audio2").oen_start(1000) == 0
    assert get_spec("imu").ien_slice == slice(0, 128)


# ----------------------------------------------------------------------------- program
def small(variant: str = "audio2", n_in: int = 3, n_hid: int = 5, n_out: int = 2) -> XyloProgram:
    rng = np.random.default_rng(0)
    p = XyloProgram.zeros(n_in, n_hid, n_out, variant=variant, threshold=np.arange(n_hid) + 100)
    p.weights_in[..., 0] = rng.integers(-128, 128, (n_in, n_hid))
    p.weights_rec[..., 0] = rng.integers(-128, 128, (n_hid, n_hid))
    p.weights_out[:] = rng.integers(-128, 128, (n_hid, n_out))
    return p


def messages(p: XyloProgram, **kw) -> list[str]:
    with pytest.raises(NirccError) as e:
        p.validate(**kw)
    return [str(x) for x in e.value.errors]


def test_dtypes_and_defaults() -> None:
    p = small()
    for name, dtype in ARRAY_FIELDS.items():
        assert getattr(p, name).dtype == dtype, name
    assert p.bias.tolist() == [0] * 5 and p.aliases == [[]] * 5 and not p.bias_enable
    assert (p.n_in, p.n_hidden, p.n_out, p.uses_syn2) == (3, 5, 2, False)
    p.validate()
    two_d = XyloProgram(np.ones((2, 4)), np.zeros((4, 4)), np.zeros((4, 1)), *[np.zeros(4)] * 3,
                        *[np.zeros(1)] * 2, np.ones(4), np.ones(1))
    assert two_d.weights_in.shape == (2, 4, 2) and not two_d.weights_in[..., 1].any()


def test_validate_names_field_value_and_limit() -> None:
    p = small()
    p.dash_syn[3] = 17
    p.threshold = np.array([0, 1, 2, 40000, 5])
    p.weight_shift_rec = 16
    p.weights_out = np.full((5, 2), 200)
    p.aliases[1] = [9]
    errs = messages(p)
    assert "field 'dash_syn': 17 > 15 (4-bit unsigned) at [3]" in errs
    assert "field 'threshold': 40000 > 32767 (int16) at [3]" in errs
    assert "field 'weight_shift_rec': 16 outside 0..15 (4-bit unsigned)" in errs
    assert "field 'weights_out': 200 > 127 (int8) at [0, 0] (10 values out of range)" in errs
    assert "field 'aliases': hidden neuron 1: alias target 9 outside 0..4" in errs
    assert len(errs) == 5


def test_validate_shapes_sizes_and_types() -> None:
    p = small(n_hid=5)
    p.dash_mem = np.zeros(4, np.uint8)
    assert messages(p) == ["field 'dash_mem': shape [4] is not [N_hid=5]"]
    big = XyloProgram.zeros(17, 1001, 9)
    assert messages(big) == ["field 'weights_in': 17 input channels exceed Xylo audio2's 16",
                             "field 'weights_rec': 1001 hidden neurons exceed Xylo audio2's 1000",
                             "field 'weights_out': 9 readout neurons exceed Xylo audio2's 8"]
    frac = small()
    frac.weights_in = frac.weights_in.astype(float) + 0.5
    assert messages(frac)[0].startswith("field 'weights_in': values must be integers, got dtype float64")
    bad = small()
    bad.weights_rec = np.zeros((5, 4, 2), np.int8)
    assert messages(bad) == ["field 'weights_rec': shape [5, 4, 2] is not [N_hid, N_hid, 2]"]


def test_chip_limits_are_separate() -> None:
    p = small()
    p.bias = np.array([0, 300, 0, 0, -129])
    p.bias_enable = True
    p.validate(chip=False)
    assert messages(p) == ["field 'bias': 300 > 127 (the chip's 8-bit bias memory) at [1]",
                           "field 'bias': -129 < -128 (the chip's 8-bit bias memory) at [4]"]
    p.bias[:] = 0
    p.bias[2] = 40000
    assert "field 'bias': 40000 > 32767 (int16) at [2]" in messages(p, chip=False)

    fan = XyloProgram.zeros(1, 100, 1)
    fan.weights_rec[7, :70, 1] = 1
    assert messages(fan) == ["field 'weights_rec': hidden neuron 7 has 70 recurrent targets > Xylo audio2's "
                             "max fan-out 64 (1 neurons over)"]
    fan.validate(chip=False)
    assert fan.fanout()[7] == 70

    total = XyloProgram.zeros(1, 1000, 1)
    for i in range(1000):
        total.weights_rec[i, (np.arange(33) + i) % 1000, 0] = 1
    assert messages(total) == ["field 'weights_rec': 33000 recurrent fan-out entries > Xylo audio2's 32000"]

    alias = small()
    alias.aliases[0] = [1, 2]
    assert messages(alias) == ["field 'aliases': hidden neuron 0: 2 alias targets > 1"]
    alias.validate(chip=False)


def test_variant_structure_rules() -> None:
    a3 = XyloProgram.zeros(2, 200, 3, variant="audio3")
    a3.weights_in[1, 150, 0] = 5
    a3.weights_out[10, 2] = -3
    a3.weights_out[150, 2] = -3                           # inside the OEN window (ids >= 72)
    assert messages(a3) == [
        "field 'weights_in': nonzero input weight to hidden neuron 150: Xylo audio3 feeds input only to "
        "the first 128 hidden neurons (IEN); 1 such weights",
        "field 'weights_out': nonzero readout weight from hidden neuron 10: Xylo audio3 reads out only the "
        "last 128 hidden neurons (OEN, ids >= 72); 1 such weights"]

    imu = XyloProgram.zeros(2, 4, 1, variant="imu")
    assert imu.dash_syn2.tolist() == [0, 0, 0, 0]
    imu.validate()
    imu.weights_rec[0, 1, 1] = 3
    imu.dash_syn2[2] = 4
    assert messages(imu) == [
        "field 'weights_rec': nonzero syn2 weight at [0, 1]: Xylo imu has 1 synapse per hidden neuron; "
        "1 such weights",
        "field 'dash_syn2': must be 0: Xylo imu has no second synapse"]

    v1 = small("v1")
    v1.validate()
    v1.bias_enable = True
    v1.bias_out = np.array([0, 1])
    assert messages(v1) == ["field 'bias_enable': Xylo v1 has no bias", "field 'bias_out': must be 0: Xylo v1 has no bias"]

    wrong = small("imu")
    assert "field 'variant': program built for 'imu', checked against 'audio2'" in messages(wrong, spec=get_spec("audio2"))


def test_round_trip_is_lossless_and_json() -> None:
    p = small()
    p.weights_in[..., 1] = 7
    p.bias = np.array([-32768, 32767, 0, 1, -1], np.int16)
    p.aliases[2] = [4]
    p.weight_shift_out = 9
    p.dt = 2.5e-4
    p.meta = {"source": "test"}
    text = json.dumps(p.to_dict())
    q = XyloProgram.from_dict(json.loads(text))
    assert q.equals(p) and q.differences(p) == []
    for name in ARRAY_FIELDS:
        assert getattr(q, name).dtype == getattr(p, name).dtype
    r = XyloProgram.from_json(p.to_json())
    assert r.equals(p) and p.to_json() == r.to_json()
    q.dash_mem[0] = 3
    q.aliases[0] = [1]
    assert q.differences(p) == ["dash_mem", "aliases"]


def test_out_of_range_values_survive_for_the_error() -> None:
    p = small()
    p.threshold = np.array([1, 2, 3, 4, 70000])
    q = XyloProgram.from_dict(p.to_dict())
    assert q.threshold.dtype == np.int64 and q.threshold[4] == 70000
    assert "field 'threshold': 70000 > 32767 (int16) at [4]" in messages(q)


def test_from_dict_rejects_other_documents() -> None:
    d = small().to_dict()
    with pytest.raises(NirccError, match="not a nircc.xylo.program document"):
        XyloProgram.from_dict({**d, "schema": "nircc.speck.program"})
    with pytest.raises(NirccError, match="version 2 was written by a newer nircc"):
        XyloProgram.from_dict({**d, "schema_version": 2})


def test_effective_weights_wrap_like_int16() -> None:
    w = np.array([127, -128, 1, -1, 64])
    assert shifted_weights(w, 0).tolist() == [127, -128, 1, -1, 64]
    assert shifted_weights(w, 8).tolist() == [32512, -32768, 256, -256, 16384]
    assert shifted_weights(w, 9).tolist() == [-512, 0, 512, -512, -32768]
    assert shifted_weights(w, 15).tolist() == [-32768, 0, -32768, -32768, 0]
    assert shifted_weights(w, 9).dtype == np.int16
