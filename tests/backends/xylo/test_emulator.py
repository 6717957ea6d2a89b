"""XyloEmulator against the vendor simulator xylosim, step by step, and hand-computed cases.

Oracle tests compare every recorded quantity (readout spikes, hidden spikes, Vmem, Isyn,
Isyn2, readout Vmem and Isyn) with ``np.array_equal`` on random networks of every case
family of xylo.md §5 and the full legal range of every parameter, up to each variant's
maximum size; ``v1`` programs run against ``xylosim.v1``.  Hand-computed cases pin the
update rules themselves (decay rounding, nested saturation, thresholds <= 0, delays,
aliases) independently of xylosim.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from nircc.backends.xylo.emulator import STATE_NAMES, XyloEmulator
from nircc.backends.xylo.program import XyloProgram, shifted_weights
from nircc.backends.xylo.spec import get_spec
from nircc.errors import NirccError

xylosim = pytest.importorskip("xylosim.v2")
from nircc.backends.xylo.xylosim_bridge import XylosimEmulator  # noqa: E402


# ----------------------------------------------------------------------------- helpers
def random_program(rng: np.random.Generator, variant: str = "audio2", n_in: int = 16, n_hid: int = 64,
                   n_out: int = 8, density: float = 0.3, wmax: int = 127, fanout: int | None = None,
                   thr: tuple[int, int] = (1, 20000), dash: tuple[int, int] = (0, 15),
                   shifts: tuple[int, int] = (0, 0), bias: int = 0, bias_enable: bool = False,
                   aliases: str = "none", syn2: bool = True) -> XyloProgram:
    """A random program inside the variant's formats (IEN/OEN windows, 1-synapse IMU).

    ``fanout``: exact recurrent targets per hidden neuron instead of ``density``;
    ``shifts``: range of the three weight shifts; ``bias``: max |bias|; ``aliases``:
    "none", "chain" (increasing and decreasing chains, shared targets, a self alias)."""
    spec = get_spec(variant)
    n_syn = 2 if syn2 and spec.n_syn == 2 else 1

    def weights(shape: tuple[int, ...], dens: float) -> np.ndarray:
        w = rng.integers(-wmax - (wmax == 127), wmax + 1, size=shape)
        return (w * (rng.random(shape) < dens)).astype(np.int8)

    w_in = weights((n_in, n_hid, 2), density)
    if fanout is None:
        w_rec = weights((n_hid, n_hid, 2), density)
    else:
        w_rec = np.zeros((n_hid, n_hid, 2), np.int8)
        for i in range(n_hid):
            targets = rng.choice(n_hid, fanout, replace=False)
            w_rec[i, targets] = weights((fanout, 2), 1.0)
    w_out = weights((n_hid, n_out), density if fanout is None else fanout / n_hid)
    if n_syn == 1:
        w_in[..., 1] = 0
        w_rec[..., 1] = 0
    w_in[:, spec.input_expansion:] = 0
    w_out[:spec.oen_start(n_hid)] = 0
    alias_lists: list[list[int]] = [[] for _ in range(n_hid)]
    if aliases == "chain":
        for src, dst in ((0, 3), (3, 7), (7, 2), (2, 1), (10, 12), (11, 12), (20, 20), (30, 5)):
            if src < n_hid and dst < n_hid:
                alias_lists[src] = [dst]
    lo_d, hi_d = dash
    return XyloProgram(
        w_in, w_rec, w_out,
        dash_mem=rng.integers(lo_d, hi_d + 1, n_hid), dash_syn=rng.integers(lo_d, hi_d + 1, n_hid),
        dash_syn2=rng.integers(lo_d, hi_d + 1, n_hid) if spec.n_syn == 2 else np.zeros(n_hid, int),
        dash_mem_out=rng.integers(lo_d, hi_d + 1, n_out), dash_syn_out=rng.integers(lo_d, hi_d + 1, n_out),
        threshold=rng.integers(thr[0], thr[1] + 1, n_hid), threshold_out=rng.integers(thr[0], thr[1] + 1, n_out),
        bias=rng.integers(-bias, bias + 1, n_hid) if spec.has_bias else None,
        bias_out=rng.integers(-bias, bias + 1, n_out) if spec.has_bias else None,
        bias_enable=bias_enable and spec.has_bias,
        weight_shift_in=int(rng.integers(shifts[0], shifts[1] + 1)),
        weight_shift_rec=int(rng.integers(shifts[0], shifts[1] + 1)),
        weight_shift_out=int(rng.integers(shifts[0], shifts[1] + 1)),
        aliases=alias_lists, variant=variant)


def random_inputs(rng: np.random.Generator, steps: int, batch: int, n_in: int = 16, rate: float = 0.5,
                  high: int = 20) -> np.ndarray:
    """Event counts 1..high (above 15 the chip clips) with probability ``rate``."""
    return rng.integers(1, high + 1, (steps, batch, n_in)) * (rng.random((steps, batch, n_in)) < rate)


SATURATED: list[int] = []


def assert_same_as_xylosim(program: XyloProgram, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run both, compare everything recorded; return xylosim's recording.  The number of
    synaptic states the emulator sent through its exact saturating rule is appended to
    :data:`SATURATED` (evidence that a case exercises saturation)."""
    emu = XyloEmulator(program)
    exact = emu._saturating
    seen = [0]

    def counting(x0: np.ndarray, *args: object) -> np.ndarray:
        seen[0] += x0.size
        return exact(x0, *args)

    emu._saturating = counting
    ours = emu.run(x, record=True)
    SATURATED.append(seen[0])
    ref = XylosimEmulator(program).run(x, record=True)
    assert ours.outputs["readout"].dtype == np.int32
    assert np.array_equal(ours.outputs["readout"], ref.outputs["readout"]), "readout spikes differ"
    for name in STATE_NAMES:
        a, b = ours.states[name], ref.states[name]
        if not np.array_equal(a, b):
            t, batch, neuron = np.argwhere(a != b)[0]
            pytest.fail(f"{name} differs first at step {t}, sample {batch}, neuron {neuron}: "
                        f"emulator {a[t, batch, neuron]}, xylosim {b[t, batch, neuron]}")
    return ref.states


# ----------------------------------------------------------------------------- oracle: case families
FAMILIES = {
    # name: (program kwargs, input kwargs)
    "basic": (dict(), dict()),
    "heavy_saturation": (dict(density=0.9, thr=(20000, 32767), dash=(10, 15)), dict(rate=0.9)),
    "saturation_shifted": (dict(density=0.5, shifts=(4, 8), thr=(5000, 32767)), dict(rate=0.7)),
    "thresholds_nonpositive": (dict(thr=(-32768, 400)), dict()),
    "thresholds_full_range": (dict(thr=(-32768, 32767)), dict()),
    "dash_zero": (dict(dash=(0, 1)), dict()),
    "dash_full_range": (dict(dash=(0, 15), density=0.5), dict(rate=0.8)),
    "shift_wrap": (dict(shifts=(9, 15), density=0.4), dict()),
    "shift_eight": (dict(shifts=(8, 8), density=0.4), dict()),
    "bias_extremes": (dict(bias=32767, bias_enable=True, thr=(-1000, 32767)), dict()),
    "bias_disabled": (dict(bias=32767, bias_enable=False), dict()),
    "aliases": (dict(aliases="chain", thr=(50, 3000), density=0.4), dict(rate=0.8)),
    "aliases_saturated": (dict(aliases="chain", thr=(-5, 40), density=0.2), dict()),
    "recurrent_dense": (dict(density=1.0, wmax=20, thr=(2000, 8000), dash=(1, 6)), dict(rate=0.3)),
    "negative_weights": (dict(wmax=127, thr=(1, 500), dash=(3, 8)), dict(rate=0.6)),
    "realistic_low_activity": (dict(fanout=32, wmax=30, thr=(8000, 16000), dash=(2, 6)),
                               dict(rate=0.1, high=3)),
    "single_synapse_only": (dict(syn2=False, density=0.6), dict()),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_match_xylosim(family: str) -> None:
    prog_kw, in_kw = FAMILIES[family]
    rng = np.random.default_rng(sorted(FAMILIES).index(family) + 100)
    program = random_program(rng, **prog_kw)
    x = random_inputs(rng, 80, 2, **in_kw)
    ref = assert_same_as_xylosim(program, x)
    if family in ("heavy_saturation", "saturation_shifted", "shift_wrap"):
        assert SATURATED[-1] > 100, "the case did not saturate"
    if family == "thresholds_nonpositive":
        assert np.any(ref["Spikes"] == 31)
    if family == "shift_wrap":
        w, s = program.weights_in.astype(np.int64), program.weight_shift_in
        assert np.any(shifted_weights(w, s) != w << s), "no weight wrapped"


@pytest.mark.parametrize("variant,kw", [
    ("audio3", dict(n_hid=300, n_out=32, density=0.3)),
    ("audio3", dict(n_hid=200, n_out=16, density=0.9, thr=(-100, 30000), aliases="chain")),
    ("imu", dict(n_hid=200, n_out=16, density=0.4, bias=32767, bias_enable=True)),
    ("imu", dict(n_hid=150, n_out=4, density=0.8, thr=(-32768, 32767), dash=(0, 3))),
])
def test_expansion_windows_and_single_synapse_variants(variant: str, kw: dict) -> None:
    rng = np.random.default_rng(7 + kw["n_hid"])
    program = random_program(rng, variant=variant, **kw)
    assert_same_as_xylosim(program, random_inputs(rng, 60, 2))


@pytest.mark.parametrize("kw", [
    dict(),
    dict(density=0.9, thr=(20000, 32767), dash=(10, 15)),
    dict(thr=(-32768, 300), dash=(0, 2), aliases="chain"),
    dict(shifts=(8, 12), density=0.5),
])
def test_v1_matches_xylosim_v1(kw: dict) -> None:
    pytest.importorskip("xylosim.v1")
    rng = np.random.default_rng(len(kw) + 40)
    program = random_program(rng, variant="v1", **kw)
    assert XylosimEmulator(program).module.__name__ == "xylosim.v1"
    assert_same_as_xylosim(program, random_inputs(rng, 80, 2, rate=0.8))


def test_v1_and_v2_membrane_saturation_by_hand() -> None:
    """Channel 0 drives both synapses to -32768, channel 1 one step later to +32767
    (weights -128 / 127 << 8, 15 events), dash_syn 1, dash_mem 1.
    t = 0: Isyn = Isyn2 = -16384, V = -32768 on both.
    t = 1: Isyn = Isyn2 = 16384 (Isum 32768), decay(V) = -16384.
      v2: dV = sat(16384 + 32768) = 32767, V = sat(-32768 + 32767) = -1;
      v1: V = sat(-32768 + 16384 + 32768) = 16384."""
    x = np.zeros((2, 1, 2), np.int64)
    x[0, 0, 0] = x[1, 0, 1] = 15
    for variant, v1_expected in (("audio2", -1), ("v1", 16384)):
        p = XyloProgram.zeros(2, 1, 1, variant=variant, dash=1, threshold=np.array([32767]), weight_shift_in=8)
        p.weights_in[0, 0] = [-128, -128]
        p.weights_in[1, 0] = [127, 127]
        res = XyloEmulator(p).run(x, record=True)
        assert res.states["Isyn"][:, 0, 0].tolist() == res.states["Isyn2"][:, 0, 0].tolist() == [-16384, 16384]
        assert res.states["Vmem"][:, 0, 0].tolist() == [-32768, v1_expected]
        assert_same_as_xylosim(p, x)


@pytest.mark.parametrize("variant,n_hid,n_out,regime", [
    ("audio2", 1000, 8, "saturating"),
    ("audio3", 992, 32, "realistic"),
    ("imu", 496, 16, "saturating"),
])
def test_near_maximum_networks(variant: str, n_hid: int, n_out: int, regime: str) -> None:
    rng = np.random.default_rng(n_hid)
    if regime == "saturating":
        kw = dict(fanout=32, wmax=127, thr=(500, 3000), dash=(2, 6))
        in_kw = dict(rate=0.3, high=15)
    else:
        kw = dict(fanout=32, wmax=30, thr=(8000, 16000), dash=(2, 6))
        in_kw = dict(rate=0.1, high=3)
    program = random_program(rng, variant=variant, n_hid=n_hid, n_out=n_out, **kw)
    program.validate()                              # legal on the chip, not only in the simulator
    ref = assert_same_as_xylosim(program, random_inputs(rng, 60, 2, **in_kw))
    if regime == "saturating":
        assert ref["Spikes"].mean() > 1.0


@pytest.mark.slow
def test_largest_network_long_run_saturating() -> None:
    rng = np.random.default_rng(1)
    program = random_program(rng, n_hid=1000, fanout=32, wmax=127, thr=(500, 3000), dash=(2, 6),
                             bias=127, bias_enable=True, aliases="chain")
    assert_same_as_xylosim(program, random_inputs(rng, 1000, 2, rate=0.3, high=15))


def test_batch_equals_samples_one_by_one() -> None:
    rng = np.random.default_rng(3)
    program = random_program(rng, density=0.5, thr=(-50, 5000), aliases="chain", bias=500, bias_enable=True)
    x = random_inputs(rng, 50, 5, rate=0.7)
    emu = XyloEmulator(program)
    whole = emu.run(x, record=True)
    for b in range(x.shape[1]):
        alone = emu.run(x[:, b], record=True)
        assert np.array_equal(whole.outputs["readout"][:, b], alone.outputs["readout"][:, 0])
        for name in STATE_NAMES:
            assert np.array_equal(whole.states[name][:, b], alone.states[name][:, 0]), name
    assert_same_as_xylosim(program, x)


def test_repeated_runs_start_from_zero() -> None:
    rng = np.random.default_rng(9)
    program = random_program(rng)
    x = random_inputs(rng, 30, 1)
    emu = XyloEmulator(program)
    first, second = emu.run(x, record=True), emu.run(x, record=True)
    assert np.array_equal(first.states["Vmem"], second.states["Vmem"])


def test_input_counts_clip_at_fifteen() -> None:
    rng = np.random.default_rng(11)
    program = random_program(rng, density=0.5)
    x = random_inputs(rng, 30, 1, high=15)
    mask = x == 15
    runs = []
    for high in (15, 20, 255, 1000):
        y = x.copy()
        y[mask] = high
        runs.append(XyloEmulator(program).run(y, record=True).states["Isyn"])
        if high <= 255:
            assert_same_as_xylosim(program, y)
    assert all(np.array_equal(runs[0], r) for r in runs[1:])


# ----------------------------------------------------------------------------- hand-computed
def one_neuron(w: int = 100, dash_syn: int = 1, dash_mem: int = 2, threshold: int = 32767, **kw) -> XyloProgram:
    """One input channel -> one hidden neuron (syn 1) -> one readout neuron (weight 0)."""
    fields = dict(dash_syn=np.array([dash_syn]), dash_mem=np.array([dash_mem]),
                  threshold=np.array([threshold]))
    fields.update(kw)
    p = XyloProgram.zeros(1, 1, 1, **fields)
    p.weights_in[0, 0, 0] = w
    return p


def pulse(steps: int, count: int = 1, at: int = 0) -> np.ndarray:
    x = np.zeros((steps, 1), np.int64)
    x[at, 0] = count
    return x


def test_single_neuron_decay_by_hand() -> None:
    """w = +-100, one event at t = 0, dash_syn 1, dash_mem 2.  Isyn decays after the
    input is added (100 -> 50 at t = 0); positive values floor but decay by at least 1,
    negative values floor (so they decay faster); V gets -decay(V) + Isyn."""
    res = XyloEmulator(one_neuron(100)).run(pulse(20), record=True)
    assert res.states["Isyn"][:, 0, 0].tolist() == [50, 25, 13, 7, 4, 2, 1, 0] + [0] * 12
    assert res.states["Vmem"][:, 0, 0].tolist() == [50, 63, 61, 53, 44, 35, 28, 21, 16, 12, 9, 7, 6, 5,
                                                    4, 3, 2, 1, 0, 0]
    neg = XyloEmulator(one_neuron(-100)).run(pulse(8), record=True)
    assert neg.states["Isyn"][:, 0, 0].tolist() == [-50, -25, -12, -6, -3, -1, 0, 0]
    assert neg.states["Vmem"][:, 0, 0].tolist()[:4] == [-50, -62, -58, -49]
    assert not res.states["Spikes"].any()
    assert_same_as_xylosim(one_neuron(100), pulse(20)[:, None, :])
    assert_same_as_xylosim(one_neuron(-100), pulse(8)[:, None, :])


def test_dash_syn_zero_never_reaches_the_membrane() -> None:
    res = XyloEmulator(one_neuron(127, dash_syn=0)).run(pulse(5, 15), record=True)
    assert not res.states["Isyn"].any() and not res.states["Vmem"].any()


def test_saturated_input_fires_at_most_31_and_subtracts() -> None:
    """15 events of 127 << 5 = 4064 saturate Isyn at 32767 (one saturating add per
    event); dash 15 decays it by 1; V = 32766 >= 1000 fires min(32, 31) = 31 times."""
    p = one_neuron(127, dash_syn=15, dash_mem=15, threshold=1000, weight_shift_in=5)
    res = XyloEmulator(p).run(pulse(2, 15), record=True)
    assert res.states["Isyn"][0, 0, 0] == 32766
    assert res.states["Spikes"][0, 0, 0] == 31
    assert res.states["Vmem"][0, 0, 0] == 32766 - 31 * 1000
    assert_same_as_xylosim(p, pulse(2, 15)[:, None, :])


@pytest.mark.parametrize("threshold,spikes,vmem", [
    (0, 31, 0),                 # V = 0 >= 0 fires every time, V unchanged
    (-5, 31, 155),              # each spike raises V by 5
    (-20000, 2, -25536),        # 0 -> 20000 -> 40000 wraps to -25536 < -20000: stops
    (-32768, 31, -32768),       # 0 -> 32768 wraps to -32768 -> 0 -> ...: odd count ends at -32768
])
def test_nonpositive_thresholds_by_hand(threshold: int, spikes: int, vmem: int) -> None:
    p = one_neuron(0, threshold=threshold)
    res = XyloEmulator(p).run(np.zeros((1, 1), np.int64), record=True)
    assert res.states["Spikes"][0, 0, 0] == spikes
    assert res.states["Vmem"][0, 0, 0] == vmem
    assert_same_as_xylosim(p, np.zeros((1, 1, 1), np.int64))


def test_nested_saturation_of_the_membrane_by_hand() -> None:
    """Two synapses at 32767 (-> 32766 after dash 15) and bias -32768:
    dV = sat(0 + 65532) = 32767, then sat(32767 - 32768) = -1, so V = -1
    (the naive sat(V + Isum + bias) would give 32764)."""
    p = one_neuron(127, dash_syn=15, dash_mem=15, weight_shift_in=8, bias=np.array([-32768]),
                   bias_enable=True, dash_syn2=np.array([15]))
    p.weights_in[0, 0, 1] = 127
    res = XyloEmulator(p).run(pulse(1, 2), record=True)
    assert res.states["Isyn"][0, 0, 0] == res.states["Isyn2"][0, 0, 0] == 32766
    assert res.states["Vmem"][0, 0, 0] == -1
    assert_same_as_xylosim(p, pulse(1, 2)[:, None, :])


def test_membrane_decay_of_minus_32768_with_dash_zero_wraps() -> None:
    """Both synapses at -32768 (15 events of -128 << 8), dash_syn 1, dash_mem 0.
    t = 0: Isyn = Isyn2 = -16384, V = sat(-32768) = -32768.
    t = 1: Isyn = Isyn2 = -8192; v2: dV = int16(-(-32768)) = -32768 -> V stays -32768;
    v1: V - decay(V) = 0, V = -16384.  t = 2: v2 -32768 again, v1 -8192."""
    x = np.zeros((3, 1, 1), np.int64)
    x[0] = 15
    for variant, expected in (("audio2", [-32768, -32768, -32768]), ("v1", [-32768, -16384, -8192])):
        p = XyloProgram.zeros(1, 1, 1, variant=variant, threshold=np.array([32767]), weight_shift_in=8,
                              dash_syn=np.array([1]), dash_syn2=np.array([1]), dash_mem=np.array([0]))
        p.weights_in[0, 0] = [-128, -128]
        res = XyloEmulator(p).run(x, record=True)
        assert res.states["Isyn"][:, 0, 0].tolist() == [-16384, -8192, -4096]
        assert res.states["Vmem"][:, 0, 0].tolist() == expected
        assert_same_as_xylosim(p, x)


def test_delays_input_hidden_readout() -> None:
    """input -> h0 acts in the same step, h0 -> h1 and h1 -> readout one step later:
    h0 first spikes at t = 0, h1 at t = 1, the readout at t = 2."""
    p = XyloProgram.zeros(1, 2, 1, dash=15, threshold=np.array([100, 100]), threshold_out=np.array([100]))
    p.weights_in[0, 0, 0] = 127
    p.weights_rec[0, 1, 0] = 127
    p.weights_out[1, 0] = 127
    res = XyloEmulator(p).run(pulse(5), record=True)
    spikes = res.states["Spikes"][:, 0]
    first = [int(np.argmax(spikes[:, 0] > 0)), int(np.argmax(spikes[:, 1] > 0)),
             int(np.argmax(res.outputs["readout"][:, 0, 0] > 0))]
    assert first == [0, 1, 2]
    assert spikes[0, 0] == 1 and spikes[0, 1] == 0 and res.outputs["readout"][:2].sum() == 0
    assert_same_as_xylosim(p, pulse(5)[:, None, :])


def test_aliases_by_hand() -> None:
    """h0 fires 3 and aliases to h2 (higher index: h2 starts its evolve with 3, fires at
    most 28 more and keeps its V); h3 fires 2 and aliases to h1 (lower index: added after
    h1's own 5 spikes)."""
    p = XyloProgram.zeros(4, 4, 1, dash=15, threshold=np.array([1000, 1000, 1000, 1000]),
                          aliases=[[2], [], [], [1]])
    for ch, (neuron, w) in enumerate(((0, 127), (1, 127), (2, 0), (3, 127))):
        p.weights_in[ch, neuron, 0] = w
    p.weight_shift_in = 3                              # 127 << 3 = 1016 per event
    x = np.zeros((1, 1, 4), np.int64)
    x[0, 0] = [3, 5, 0, 2]                             # Isyn (after decay) = V = 3047, 5079, 0, 2031
    res = XyloEmulator(p).run(x, record=True)
    assert res.states["Spikes"][0, 0].tolist() == [3, 5 + 2, 3, 2]
    assert res.states["Vmem"][0, 0].tolist() == [47, 79, 0, 31]
    assert_same_as_xylosim(p, x)


def test_alias_target_counts_saturate_at_31() -> None:
    p = XyloProgram.zeros(1, 3, 1, dash=15, threshold=np.array([-1, -1, 32767]), aliases=[[2], [2], []])
    res = XyloEmulator(p).run(np.zeros((2, 1, 1), np.int64), record=True)
    assert res.states["Spikes"][0, 0].tolist() == [31, 31, 31]
    assert_same_as_xylosim(p, np.zeros((2, 1, 1), np.int64))


def test_two_sided_saturation_within_one_step() -> None:
    """Three input channels in order: +15 x 32512 (to 32767), -15 x 32768 (to -32768),
    +1 x 32512: the walk hits both bounds in one step and ends at -256."""
    p = XyloProgram.zeros(3, 1, 1, dash=15, threshold=np.array([32767]), weight_shift_in=8)
    p.weights_in[:, 0, 0] = [127, -128, 127]
    x = np.array([[[15, 15, 1]]], np.int64)
    res = XyloEmulator(p).run(x, record=True)
    assert res.states["Isyn"][0, 0, 0] == -256 - (-256 >> 15)
    assert_same_as_xylosim(p, x)


# ----------------------------------------------------------------------------- inputs and errors
def test_input_shapes_and_errors() -> None:
    p = XyloProgram.zeros(2, 3, 1)
    emu = XyloEmulator(p)
    assert emu.run(np.zeros((4, 2), int)).outputs["readout"].shape == (4, 1, 1)
    assert emu.run(np.zeros((4, 3, 2), int)).outputs["readout"].shape == (4, 3, 1)
    assert emu.run(np.zeros((4, 2), float)).outputs["readout"].shape == (4, 1, 1)
    with pytest.raises(NirccError, match="negative input event count -1"):
        emu.run(np.array([[0, -1]]))
    with pytest.raises(NirccError, match=r"expected \[T, B, 2\]"):
        emu.run(np.zeros((4, 3)))
    with pytest.raises(NirccError, match="must be integers"):
        emu.run(np.full((4, 2), 0.5))
    with pytest.raises(NirccError, match="must be integers"):
        emu.run(np.full((4, 2), "a"))


def test_emulator_rejects_an_illegal_program() -> None:
    p = XyloProgram.zeros(2, 3, 1)
    p.dash_syn[1] = 16
    with pytest.raises(NirccError, match=r"field 'dash_syn': 16 > 15 \(4-bit unsigned\)"):
        XyloEmulator(p)


def test_emulator_runs_beyond_chip_memories_like_xylosim() -> None:
    """Chip-only limits (bias memory, fan-out) do not stop the emulator or xylosim."""
    rng = np.random.default_rng(2)
    p = random_program(rng, n_hid=100, density=1.0, bias=30000, bias_enable=True)
    with pytest.raises(NirccError):
        p.validate()
    assert_same_as_xylosim(p, random_inputs(rng, 20, 1))


def test_bridge_without_xylosim_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xylosim.v2", None)
    with pytest.raises(NirccError, match="pip install xylosim"):
        XylosimEmulator(XyloProgram.zeros(1, 1, 1))
