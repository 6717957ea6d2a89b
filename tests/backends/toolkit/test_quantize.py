"""Quantization framework: formats and rounding, the gain rule (sinabs' measured examples,
rockpool's threshold guard, per-channel gains, percentile clipping, Loihi-style exponents),
round-trip error bounds (hypothesis), decay quantizers, the report and the pass."""
from __future__ import annotations

import math

import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nircc
from nircc.errors import NirccError
from nircc.backends.toolkit.quantize import (NumberFormat, QuantizationReport, Tensor, bitshift_decay, effective_tau,
                                             linear_decay, quantize_group, quantize_tensor)
from nircc.passes import PassManager, QuantizeWeights

INT8, INT16 = NumberFormat(8), NumberFormat(16)


# ----------------------------------------------------------------------------- formats
def test_format_ranges_and_dtypes():
    assert (INT8.qmin, INT8.qmax, INT8.np_dtype, INT8.label) == (-128, 127, np.int8, "int8")
    u4 = NumberFormat(4, signed=False)
    assert (u4.qmin, u4.qmax, u4.np_dtype, u4.label) == (0, 15, np.uint8, "uint4")
    s2 = NumberFormat(8, lo=-127)
    assert (s2.qmin, s2.qmax, s2.label) == (-127, 127, "int8[-127,127]")
    vth = NumberFormat(17, signed=False, exponents=(6, 6))
    assert (vth.qmax, vth.np_dtype, vth.label) == (131071, np.uint32, "uint17<<6")
    assert NumberFormat(13, exponents=(0, 7)).label == "int13<<[0,7]"
    assert NumberFormat(13).np_dtype == np.int16
    assert NumberFormat(8, dtype="int16").np_dtype == np.int16
    assert NumberFormat(5, lo=-15, hi=15, name="s2-delay").label == "s2-delay"


@pytest.mark.parametrize("kwargs", [dict(bits=0), dict(bits=8, rounding="up"), dict(bits=8, lo=-200),
                                    dict(bits=8, signed=False, lo=-1), dict(bits=8, exponents=(3, 1)),
                                    dict(bits=16, dtype="int8")])
def test_bad_formats(kwargs):
    with pytest.raises(ValueError):
        NumberFormat(**kwargs)


X = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6])


@pytest.mark.parametrize("mode,expected", [
    ("half_even", [-2, -2, 0, 0, 2, 2, 2, -3]),
    ("half_away", [-3, -2, -1, 1, 2, 3, 2, -3]),
    ("floor", [-3, -2, -1, 0, 1, 2, 2, -3]),
    ("trunc", [-2, -1, 0, 0, 1, 2, 2, -2]),
])
def test_rounding_modes(mode, expected):
    np.testing.assert_array_equal(NumberFormat(8, rounding=mode).round(X), expected)
    q = quantize_tensor(X, NumberFormat(8, rounding=mode), gain=1.0)
    np.testing.assert_array_equal(q.q, expected)
    assert q.q.dtype == np.int8


# ----------------------------------------------------------------------------- the gain rule
def test_sinabs_examples():
    # targets/speck.md 2.4: (w=3,-2; thr=10; thr_lo=-10) -> (127,-85; 423; -423)
    r = quantize_group([Tensor("w", [3.0, -2.0], INT8), Tensor("thr", [-10.0, 10.0], INT16)])
    assert r.gain == pytest.approx(127 / 3)
    assert r["w"].q.tolist() == [127, -85] and r["thr"].q.tolist() == [-423, 423]
    assert r.limited_by == ("w",)
    # thr_lo None means -2**15: the scale stays 1
    r = quantize_group([Tensor("w", [3.0, -2.0], INT8), Tensor("thr", [-32768.0, 10.0], INT16)])
    assert r.gain == 1.0 and r["w"].q.tolist() == [3, -2] and r["thr"].q.tolist() == [-32768, 10]
    # (1,1; thr=1; thr_lo=-1; b=-0.1) -> (127,127; 127; -127; b=-13)
    r = quantize_group([Tensor("w", [1.0, 1.0], INT8), Tensor("b", [-0.1], INT8), Tensor("thr", [-1.0, 1.0], INT16)])
    assert (r["w"].q.tolist(), r["thr"].q.tolist(), r["b"].q.tolist()) == ([127, 127], [-127, 127], [-13])
    # a bias of 40 limits the scale to 127/40
    r = quantize_group([Tensor("w", [1.0], INT8), Tensor("b", [40.0], INT8), Tensor("thr", [1.0], INT16)])
    assert r.gain == pytest.approx(127 / 40) and r.limited_by == ("b",)
    assert r["b"].q.tolist() == [127] and r["w"].q.tolist() == [3]


def test_negative_side_bounds_the_gain():
    r = quantize_tensor([1.0, -2.0], INT8)  # -128 / -2 = 64 < 127 / 1
    assert r.gain == 64.0 and r.q.tolist() == [64, -128]


def test_threshold_guard_lowers_the_whole_layer():
    # Xylo: int8 weights, int16 threshold; the threshold bounds the gain: 32767/1000 < 127/1
    w_in = np.array([[0.5, -1.0], [0.25, 0.0]])
    w_rec = np.array([[0.0, 0.75], [-0.5, 0.0]])
    thr = np.array([1000.0, 500.0])
    r = quantize_group([Tensor("w_in", w_in, INT8), Tensor("w_rec", w_rec, INT8), Tensor("threshold", thr, INT16),
                        Tensor("bias", np.zeros(2), INT16)], name="hidden")
    g = 32767 / 1000
    assert r.gain == pytest.approx(g) and r.limited_by == ("threshold",)
    assert r["threshold"].q.tolist() == [32767, 16384]  # 16383.5 rounds to even
    np.testing.assert_array_equal(r["w_in"].q, np.rint(w_in * g))
    np.testing.assert_array_equal(r["w_rec"].q, np.rint(w_rec * g))
    assert r["bias"].q.tolist() == [0, 0] and r["bias"].q.dtype == np.int16


def test_per_channel_gains():
    # rockpool channel_quantize: one gain per post neuron (column), thresholds of that neuron scaled alike
    w = np.array([[1.0, -0.5, 0.0], [0.5, 0.25, 0.0]])   # [pre, post]
    thr = np.array([2.0, 1.0, 3.0])
    r = quantize_group([Tensor("w", w, INT8, axis=1), Tensor("thr", thr, INT16, axis=0)], channels=3)
    np.testing.assert_allclose(r.gain, [127.0, 256.0, 32767 / 3])  # column 1: -128 / -0.5
    assert r["w"].q.tolist() == [[127, -128, 0], [64, 64, 0]]
    assert r["thr"].q.tolist() == [254, 256, 32767]
    np.testing.assert_allclose(r["w"].dequantize(), [[1.0, -0.5, 0.0], [64 / 127, 0.25, 0.0]])
    with pytest.raises(ValueError, match="channel axis"):
        quantize_group([Tensor("w", w, INT8)], channels=3)
    with pytest.raises(ValueError, match="3 entries along axis 1, the group 2 channels"):
        quantize_group([Tensor("w", w, INT8, axis=1)], channels=2)


def test_percentile_clips_the_rest():
    # SpiNNaker2 weight_scale_percentile: gain = 127 / percentile(|W|, p)
    w = np.array([1.0, 2.0, 3.0, 4.0, -10.0])
    fmt = NumberFormat(8, lo=-127)
    r = quantize_tensor(w, fmt, percentile=80)  # 80th percentile of |w| = 5.2
    assert r.gain == pytest.approx(127 / 5.2)
    assert r.q.tolist() == [24, 49, 73, 98, -127]
    assert r.clipped == 1 and r.max_abs_error == pytest.approx(10 - 127 * 5.2 / 127)


def test_loihi_style_exponents():
    # weights: 8-bit mantissa with a per-layer exponent in [-8, 7]; threshold: 17-bit mantissa << 6
    r = quantize_group([Tensor("w", [0.5, -0.25], NumberFormat(8, exponents=(-8, 7))),
                        Tensor("vth", [1.0], NumberFormat(17, signed=False, exponents=(6, 6)))])
    assert r.gain == 127 * 2 ** 7 / 0.5 and r.limited_by == ("w",)
    assert (r["w"].q.tolist(), r["w"].exponent, r["vth"].q.tolist(), r["vth"].exponent) == ([127, -64], 7, [508], 6)
    # small weights take the smallest exponent that fits (best precision)
    r = quantize_group([Tensor("w", [0.0001], NumberFormat(8, exponents=(-8, 7))),
                        Tensor("vth", [1.0], NumberFormat(17, signed=False, exponents=(6, 6)))])
    assert r.gain == 131071 * 64 and r.limited_by == ("vth",)
    assert r["vth"].q.tolist() == [131071]
    assert r["w"].exponent == 3 and r["w"].q.tolist() == [105]  # 0.0001 * 8388544 / 2**3 = 104.86


def test_unsigned_format_clips_negative_values():
    r = quantize_tensor([-1.0, 2.0], NumberFormat(8, signed=False))
    assert r.gain == 255 / 2 and r.q.tolist() == [0, 255] and r.clipped == 1


def test_fixed_gain_and_no_clip_errors():
    r = quantize_tensor([1.0, 2.5], INT8, gain=10.0)
    assert r.q.tolist() == [10, 25] and r.step == 0.1
    with pytest.raises(NirccError, match=r"node 'fc', field 'weight': 1 of 2 values of 'weight' exceed int8 "
                                         r"\[-128, 127\] at gain 100"):
        quantize_tensor([1.0, 2.5], NumberFormat(8, clip=False), gain=100.0, name="weight", node="fc",
                        field="weight")
    r = quantize_tensor([1.0, 2.5], INT8, gain=100.0)
    assert r.q.tolist() == [100, 127] and r.clipped == 1


def test_follower_tensor_does_not_bound_the_gain():
    r = quantize_group([Tensor("w", [1.0], INT8), Tensor("v0", [5.0], INT8, bounds_gain=False)])
    assert r.gain == 127 and r["v0"].q.tolist() == [127] and r["v0"].clipped == 1


def test_all_zero_group_gets_gain_one_and_zero_errors():
    r = quantize_group([Tensor("w", np.zeros((2, 2)), INT8), Tensor("b", np.zeros(0), INT16)])
    assert r.gain == 1.0 and r.limited_by == ()
    assert r["w"].max_rel_error == 0 and r["b"].size == 0


def test_non_finite_values_are_an_error():
    with pytest.raises(NirccError, match="node 'a', field 'weight': cannot quantize 'w': 1 values are NaN"):
        quantize_tensor([1.0, np.nan], INT8, name="w", node="a", field="weight")


def test_report_counts():
    r = quantize_tensor([1.0, 0.003, -0.004, 0.0], INT8)  # gain 127: 0.381 -> 0, -0.508 -> -1
    assert r.q.tolist() == [127, 0, -1, 0]
    assert r.zeroed == 1 and r.clipped == 0 and r.size == 4
    assert r.max_abs_error == pytest.approx(1 / 127 - 0.004)
    assert r.max_rel_error == pytest.approx(1 / 127 - 0.004)


# ----------------------------------------------------------------------------- round trip
@st.composite
def case(draw):
    bits = draw(st.integers(2, 16))
    signed = draw(st.booleans())
    e0 = draw(st.integers(-6, 4))
    e1 = draw(st.integers(e0, e0 + 4))
    rounding = draw(st.sampled_from(["half_even", "half_away", "floor", "trunc"]))
    fmt = NumberFormat(bits, signed=signed, exponents=(e0, e1), rounding=rounding)
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2 ** 31))
    rng = np.random.default_rng(seed)
    mag = 10.0 ** draw(st.integers(-4, 4))
    x = rng.normal(size=n) * mag
    if not signed:
        x = np.abs(x)
    return fmt, x


@settings(max_examples=300, deadline=None, derandomize=True)
@given(case(), case())
def test_round_trip_error_bounds(a, b):
    (fa, xa), (fb, xb) = a, b
    r = quantize_group([Tensor("a", xa, fa), Tensor("b", xb, fb)])
    for fmt, x, name in ((fa, xa, "a"), (fb, xb, "b")):
        t = r[name]
        assert t.clipped == 0
        assert t.q.dtype == fmt.np_dtype
        assert fmt.qmin <= int(t.q.min()) and int(t.q.max()) <= fmt.qmax
        err = np.abs(x - t.q * t.step)
        tol = 1e-9 * t.step
        if fmt.rounding in ("half_even", "half_away"):
            assert np.all(err <= t.step / 2 + tol)
        else:
            assert np.all(err < t.step + tol)
        assert t.max_abs_error == pytest.approx(err.max(), rel=1e-9, abs=tol)
        assert fmt.exponents[0] <= t.exponent <= fmt.exponents[1]
        if t.exponent > fmt.exponents[0]:  # a smaller exponent would not fit
            assert not fmt.fits(x * r.gain / 2.0 ** (t.exponent - 1))
    # the gain is the best one: a limiting tensor's extreme value lands on the end of its
    # range at its largest exponent
    assert r.limited_by
    for name in r.limited_by:
        t = r[name]
        x = {"a": xa, "b": xb}[name]
        assert t.exponent == t.fmt.exponents[1]
        scaled = np.array([x.max(), x.min()]) * r.gain / 2.0 ** t.exponent
        assert np.isclose(scaled[0], t.fmt.qmax, rtol=1e-9) or np.isclose(scaled[1], t.fmt.qmin, rtol=1e-9)


# ----------------------------------------------------------------------------- decays
def test_bitshift_decay_euler_and_exact():
    d = bitshift_decay([0.02, 0.005], 1e-3, discretization="euler", node="lif", field="tau_mem")
    assert d.q.tolist() == [4, 2] and d.q.dtype == np.uint8  # round(log2(20)=4.32), round(log2(5)=2.32)
    np.testing.assert_allclose(d.decay, [1 - 2 ** -4, 1 - 2 ** -2])
    np.testing.assert_allclose(d.tau_effective, [0.016, 0.004])  # euler: dt * 2**dash
    assert d.max_rel_tau_error == pytest.approx(0.2)
    e = bitshift_decay(0.02, 1e-3, discretization="exact")  # -log2(1 - exp(-0.05)) = 4.358
    assert e.q.tolist() == 4
    assert float(e.tau_effective) == pytest.approx(-1e-3 / math.log(1 - 2 ** -4))


def test_bitshift_ties_to_even_and_clips():
    d = bitshift_decay([2 ** 2.5, 2 ** 3.5, 2 ** 20, 1.0], 1.0, discretization="euler")
    assert d.q.tolist() == [2, 4, 15, 0] and d.clipped == 1
    assert d.tau_effective.tolist() == [4.0, 16.0, 2.0 ** 15, 1.0]


def test_linear_decay_loihi():
    d = linear_decay(0.02, 1e-3, discretization="euler")  # round(4096 * 0.05) = round(204.8)
    assert int(d.q) == 205 and d.q.dtype == np.uint16
    assert float(d.decay) == (4096 - 205) / 4096
    assert float(d.tau_effective) == pytest.approx(1e-3 * 4096 / 205)
    assert int(linear_decay(0.02, 1e-3, discretization="exact").q) == 200  # 4096 (1 - e^-0.05) = 199.75
    u = linear_decay(0.02, 1e-3, discretization="euler", offset=1)  # lava ds_offset: 203.8 -> 204
    assert int(u.q) == 204 and float(u.decay) == (4096 - 205) / 4096
    fast = linear_decay([1e-3, 1e6], 1e-3, discretization="exact")  # decay e^-1; nearly 1
    assert fast.q.tolist() == [2589, 0] and fast.tau_effective[1] == np.inf


def test_effective_tau_edges():
    assert effective_tau([1.0, 0.0, 0.5], 1e-3, "euler").tolist() == [np.inf, 1e-3, 2e-3]
    np.testing.assert_allclose(effective_tau([1.0, 0.0, 0.5], 1e-3, "exact"), [np.inf, 0.0, 1e-3 / math.log(2)])
    with pytest.raises(ValueError):
        effective_tau(0.5, 1e-3, "rk4")


def test_decay_errors():
    with pytest.raises(NirccError, match="node 'l', field 'tau': tau 0.0005 < dt 0.001"):
        bitshift_decay(5e-4, 1e-3, discretization="euler", node="l", field="tau")
    with pytest.raises(NirccError, match="time constants must be finite and > 0"):
        linear_decay([0.0], 1e-3, discretization="exact")
    with pytest.raises(NirccError, match="dt must be > 0"):
        linear_decay([1.0], 0.0, discretization="exact")


# ----------------------------------------------------------------------------- report
def test_report_diagnostics_and_summary():
    rep = QuantizationReport()
    rep.add(quantize_group([Tensor("w", [1.0, 0.001, 300.0], INT8, node="fc", field="weight")], gain=1.0,
                           name="fc", node="fc"))
    rep.add(bitshift_decay([0.02], 1e-3, discretization="euler", name="dash_mem", node="lif", field="tau_mem"))
    diags = rep.diagnostics("xylo")
    assert [(d.code, d.node, d.field, d.stage) for d in diags] == [
        ("quant-clipped", "fc", "weight", "xylo"), ("quant-zeroed", "fc", "weight", "xylo"),
        ("tau-approximated", "lif", "tau_mem", "xylo")]
    assert diags[0].message == "1 of 3 values of 'w' saturated to int8 [-128, 127] (max |x| 300, step 1)"
    assert diags[2].message == ("dash_mem: requested tau 0.02 s, realised 0.016 s by bitshift decay 4 (euler, "
                                "dt 0.001 s; max relative error 0.2)")
    assert rep.diagnostics("xylo", tau_tolerance=0.25)[-1].code == "quant-zeroed"
    d = rep.to_dict()
    assert d["groups"][0]["tensors"][0]["clipped"] == 1 and d["decays"][0]["q"] == 4.0
    assert d["groups"][0]["tensors"][0]["effective"] == {"min": 0.0, "max": 127.0, "count": 3}
    nircc.util.dumps(d)
    assert "dash_mem" in rep.table() and "fc" in rep.table()


# ----------------------------------------------------------------------------- the pass
def test_quantize_weights_pass():
    nodes = {"i": nir.Input(input_type={"input": np.array([2])}),
             "a": nir.Affine(weight=np.array([[1.0, -0.5], [0.25, 2.0]]), bias=np.array([0.5, 0.0])),
             "n": nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
             "l": nir.Linear(weight=np.array([[0.5, 1e-4]])),
             "o": nir.Output(output_type={"output": np.array([1])})}
    g = nircc.load(nir.NIRGraph(nodes=nodes, edges=[("i", "a"), ("a", "n"), ("n", "l"), ("l", "o")]))
    res = PassManager([QuantizeWeights(dequantize=True)]).run(g)
    out = res.graph
    rep = out.meta["quantization"]
    assert [gr.name for gr in rep.groups] == ["a", "l"]
    assert rep.groups[0]["weight"].q.tolist() == [[64, -32], [16, 127]]
    assert rep.groups[0]["bias"].q.tolist() == [32, 0] and rep.groups[0].gain == 63.5
    np.testing.assert_array_equal(out.op("a").weight, np.array([[64, -32], [16, 127]]) / 63.5)
    np.testing.assert_array_equal(out.op("l").weight, [[0.5, 0.0]])
    assert [(d.code, d.node) for d in res.record("quantize").diagnostics] == [("quant-zeroed", "l")]
    assert "quantization" not in g.meta and g.op("l").weight[0, 1] == 1e-4
    per_ch = QuantizeWeights(per_channel=True)(g).meta["quantization"]
    np.testing.assert_allclose(per_ch.groups[0].gain, [127.0, 63.5])
