"""Speck emulators: hand-computed event sequences for the chip's event rule, address
arithmetic against a direct loop, routing, the two modes' agreement in the regime of
speck.md §2.3 (property test) and their documented disagreements outside it."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nircc.backends.speck.emulator import (BinnedEmulator, EventEmulator, EventStream, dvs_events, emulator,
                                           events_from_raster)
from nircc.backends.speck.program import CnnLayer, Destination, Exit, SpeckInput, SpeckProgram, conv_out_shape
from nircc.errors import NirccError
from tests.backends.speck.test_program import layer, program


# ----------------------------------------------------------------------------- helpers
def neuron(w: Sequence[int], thr: int, tlo: Optional[int] = None, **kw) -> SpeckProgram:
    """One neuron on core 0 with one 1x1 input per channel (weights ``w``)."""
    lay = layer("n", 0, (len(w), 1, 1), 1, weights=np.asarray(w), thr=thr,
                tlo=-thr if tlo is None else tlo, monitor=True, **kw)
    return program([lay])


def stream(events: Sequence[Sequence[int]], n_bins: int) -> EventStream:
    return EventStream(np.asarray(events, dtype=np.int64).reshape(-1, 4), n_bins)


def run_event(p: SpeckProgram, inputs, **kw):
    return EventEmulator(p, **kw).run(inputs, record=True)


def out(res, name: str = "n") -> list:
    return res.outputs[name].reshape(res.outputs[name].shape[0], -1).sum(axis=1).tolist()


def v_of(res, name: str = "n") -> list:
    return res.states[name + "/v"][:, 0].reshape(res.states[name + "/v"].shape[0], -1)[:, 0].tolist()


# ----------------------------------------------------------------------------- the event rule
def test_weight_equal_threshold_one_event_one_spike():
    # sinabs test_single_neuron_hardware: weight 127, threshold 127, one event -> one spike
    res = run_event(neuron([127], 127), stream([[0, 0, 0, 0]], 1))
    assert out(res) == [1] and v_of(res) == [0]
    # v >= threshold (not >): 126 + 1 fires
    p = neuron([1], 127)
    p.layer(0).neurons_initial_value[...] = 126
    res = run_event(p, stream([[0, 0, 0, 0]], 2))
    assert out(res) == [1, 0] and v_of(res) == [0, 0]


def test_weight_above_threshold_fires_once_per_input_only():
    # w = 10 >= theta = 4: one spike per input event, residual grows by 6, silent without input
    res = run_event(neuron([10], 4), stream([[0, 0, 0, 0]] * 3, 2))
    assert out(res) == [3, 0] and v_of(res) == [18, 18]
    res = run_event(neuron([10], 4), stream([[0, 0, 0, 0]] * 3 + [[1, 0, 0, 0]], 2))
    assert out(res) == [3, 1] and v_of(res) == [18, 24]


def test_subtract_versus_return_to_zero():
    ev = stream([[0, 0, 0, 0]] * 3 + [[1, 0, 0, 0]], 2)
    res = run_event(neuron([3], 5), ev)                        # 3, 6->1 (spike), 4 | 7->2 (spike)
    assert out(res) == [1, 1] and v_of(res) == [4, 2]
    res = run_event(neuron([3], 5, return_to_zero=True), ev)   # 3, 6->0 (spike), 3 | 6->0 (spike)
    assert out(res) == [1, 1] and v_of(res) == [3, 0]


def test_clamp_at_threshold_low_on_every_update():
    # w = (-3, +2), theta_low = -5: -3, -6->-5, -8->-5, then +2 -> -3 (unclamped it would be -7)
    res = run_event(neuron([-3, 2], 5, -5), stream([[0, 0, 0, 0]] * 3 + [[0, 1, 0, 0]], 1))
    assert out(res) == [0] and v_of(res) == [-3]


def _merge_program(input_dests: Sequence[int]) -> SpeckProgram:
    """Input -> core 0 (relay, spikes on every event) -> core 2 channel 1 (+5); the input also
    goes straight to core 2 channel 0 (-5).  Core 2: theta 5, theta_low -5."""
    relay = layer("relay", 0, (1, 1, 1), 1, weights=5, thr=5, tlo=-5, dests=[Destination(2, feature_shift=1)])
    merge = layer("merge", 2, (2, 1, 1), 1, weights=np.array([-5, 5]), thr=5, tlo=-5, monitor=True)
    return program([relay, merge], in_shape=(1, 1, 1), dests=input_dests)


def test_depth_first_across_cores():
    # depth-first: the relay's spike reaches core 2 (+5 -> spike) before the input's own copy (-5)
    res = run_event(_merge_program([0, 2]), stream([[0, 0, 0, 0]], 1))
    assert out(res, "merge") == [1] and res.states["merge/v"][0, 0, 0, 0, 0] == -5
    # the other destination order: -5 first, then +5 -> 0, no spike
    res = run_event(_merge_program([2, 0]), stream([[0, 0, 0, 0]], 1))
    assert out(res, "merge") == [0] and res.states["merge/v"][0, 0, 0, 0, 0] == 0
    # the binned mode sums first: -5 + 5 = 0, no spike, whatever the order
    assert BinnedEmulator(_merge_program([0, 2])).run(stream([[0, 0, 0, 0]], 1)).outputs["merge"].sum() == 0


def test_fan_out_destination_order():
    def prog(first: int, second: int) -> SpeckProgram:
        src = layer("src", 0, (1, 1, 1), 1, weights=1, thr=1, tlo=-1, dests=[Destination(first), Destination(second)])
        r1 = layer("r1", 1, (1, 1, 1), 1, weights=1, thr=1, tlo=-1, dests=[Destination(3)])
        r2 = layer("r2", 2, (1, 1, 1), 1, weights=1, thr=1, tlo=-1, dests=[Destination(3, feature_shift=1)])
        sink = layer("sink", 3, (2, 1, 1), 1, weights=np.array([5, -5]), thr=5, tlo=-5, monitor=True)
        return program([src, r1, r2, sink])
    # destination 0 (and everything behind it) before destination 1
    assert out(run_event(prog(1, 2), stream([[0, 0, 0, 0]], 1)), "sink") == [1]
    assert out(run_event(prog(2, 1), stream([[0, 0, 0, 0]], 1)), "sink") == [0]


def test_spikes_of_one_update_in_feature_order():
    def prog(w_sink) -> SpeckProgram:
        src = layer("src", 0, (1, 1, 1), 2, weights=1, thr=1, tlo=-1, dests=[Destination(1)])
        sink = layer("sink", 1, (2, 1, 1), 1, weights=np.array(w_sink), thr=5, tlo=-5, monitor=True)
        return program([src, sink])
    # feature 0's spike is routed before feature 1's
    assert out(run_event(prog([5, -5]), stream([[0, 0, 0, 0]], 1)), "sink") == [1]
    assert out(run_event(prog([-5, 5]), stream([[0, 0, 0, 0]], 1)), "sink") == [0]


@pytest.mark.parametrize("mode", ["event", "binned"])
def test_pooling_feature_shift_and_remainder(mode):
    # core 0: 2 relay features on a 5x5 map -> pooled by 2 (row/col 4 dropped), shifted by 1
    src = layer("src", 0, (1, 5, 5), 2, weights=1, thr=1, tlo=-1, dests=[Destination(1, pooling=2, feature_shift=1)])
    ident = np.eye(3, dtype=np.int64).reshape(3, 3, 1, 1)
    sink = layer("sink", 1, (3, 2, 2), 3, weights=ident, thr=1, tlo=-1, monitor=True)
    p = program([src, sink], exits=[Exit("sink", 1), Exit("total", 1, pooling=2)])
    raster = np.random.default_rng(3).integers(0, 3, size=(2, 1, 1, 5, 5))
    res = emulator(p, mode).run(raster)
    pooled = raster[:, 0, 0, :4, :4].reshape(2, 2, 2, 2, 2).sum(axis=(2, 4))
    got = res.outputs["sink"][:, 0]
    assert np.array_equal(got[:, 0], np.zeros((2, 2, 2)))
    assert np.array_equal(got[:, 1], pooled) and np.array_equal(got[:, 2], pooled)
    assert res.outputs["total"].shape == (2, 1, 3, 1, 1) and res.outputs["total"].dtype == np.int32
    assert np.array_equal(res.outputs["total"][:, 0, :, 0, 0], np.stack([[0, s, s] for s in pooled.sum(axis=(1, 2))]))


GEOMETRIES = [  # (k, stride, padding, H, W)
    (3, 1, 1, 5, 6), (5, 2, 1, 9, 8), (2, 4, 0, 9, 9), (3, 2, 3, 4, 4), (1, 8, 0, 17, 17), (16, 1, 7, 10, 10),
    (4, 2, 2, 7, 5),
]


@pytest.mark.parametrize("k,s,p,h,w", GEOMETRIES)
def test_address_arithmetic_against_direct_loop(k, s, p, h, w):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    C, F = 2, 3
    lay = layer("n", 0, (C, h, w), F, k, stride=s, padding=p, thr=32000, tlo=-32000, monitor=True,
                weights=rng.integers(-50, 51, size=(F, C, k, k)))
    prog = program([lay])
    _, ho, wo = lay.output_shape
    n = C * h * w
    raster = np.eye(n, dtype=np.int64).reshape(1, n, C, h, w)     # sample b: one event at address b
    expect = np.zeros((n, F, ho, wo), np.int64)
    reached = 0
    for b in range(n):
        c, y, x = np.unravel_index(b, (C, h, w))
        for oy in range(ho):
            for ox in range(wo):
                ky, kx = y + p - oy * s, x + p - ox * s
                if 0 <= ky < k and 0 <= kx < k:
                    expect[b, :, oy, ox] += lay.weights[:, c, ky, kx]
                    reached += F
    emu = EventEmulator(prog)
    res = emu.run(raster, record=True)
    assert np.array_equal(res.states["n/v"][0], expect)
    assert emu.stats["synaptic_updates"]["n"] == reached and emu.stats["events"]["n"] == n
    resb = BinnedEmulator(prog).run(raster, record=True)
    assert np.array_equal(resb.states["n/v"][0], expect)


def test_leak_once_per_bin_after_events_without_firing():
    # bias -2 per bin; theta_low -5 floors it
    p = neuron([3], 10, -5, biases=np.array([-2]), leak_enable=True)
    res = run_event(p, stream([[0, 0, 0, 0]], 5))
    assert v_of(res) == [1, -1, -3, -5, -5]
    # positive bias: reaching threshold on a leak tick does not fire; the next update does
    p = neuron([1], 5, -5, biases=np.array([5]), leak_enable=True)
    res = run_event(p, stream([[1, 0, 0, 0]], 2))
    assert out(res) == [0, 1] and v_of(res) == [5, 6]
    # binned: the bias joins the bin's input before the threshold (sinabs: conv bias every bin)
    resb = BinnedEmulator(p).run(stream([[1, 0, 0, 0]], 2), record=True)
    assert out(resb) == [1, 1] and v_of(resb) == [0, 1]


def test_overflow_error_and_saturation():
    ev = stream([[0, 0, 0, 0]] * 300, 1)     # w = 127 >= theta = 1: v grows by 126 per event
    with pytest.raises(NirccError) as e:
        EventEmulator(neuron([127], 1)).run(ev)
    assert e.value.node == "n" and e.value.field == "state" and "int16 overflow in bin 0" in str(e.value)
    emu = EventEmulator(neuron([127], 1), overflow="saturate")
    res = emu.run(ev, record=True)
    # 126 * 260 = 32760 after 260 events; the 261st saturates at 32767, fires, 32766; and so on
    assert out(res) == [300] and v_of(res) == [32766]
    assert emu.stats["saturations"]["n"] == 40
    # programs without overflow risk are never checked and never saturate
    emu = EventEmulator(neuron([3], 5), overflow="saturate")
    emu.run(ev)
    assert emu.stats["saturations"]["n"] == 0 and emu.stats["spikes"]["n"] == 180


def test_stats_count_events_updates_spikes():
    p = _merge_program([0, 2])
    emu = EventEmulator(p)
    emu.run(stream([[0, 0, 0, 0], [1, 0, 0, 0]], 2))
    assert emu.stats["input_events"] == 2
    assert emu.stats["events"] == {"relay": 2, "merge": 4}
    assert emu.stats["synaptic_updates"] == {"relay": 2, "merge": 4}
    assert emu.stats["spikes"]["relay"] == 2


# ----------------------------------------------------------------------------- event order
def test_event_orders_within_a_bin():
    raster = np.zeros((2, 2, 2, 2), np.int64)
    A, B, C = (0, 0, 1), (0, 1, 0), (1, 0, 0)
    raster[0][A], raster[0][B], raster[0][C] = 2, 1, 2
    raster[1][B] = 3

    def seq(order):
        return [tuple(r) for r in events_from_raster(raster, order).tolist()]
    a, b, c = (0,) + A, (0,) + B, (0,) + C
    b1 = (1,) + B
    # sinabs raster_to_events: counts from high to low, each count's block repeated
    assert seq("sinabs") == [a, c, a, c, b, b1, b1, b1]
    assert seq("address") == [a, a, b, c, c, b1, b1, b1]
    assert seq("round_robin") == [a, b, c, a, c, b1, b1, b1]


def test_order_changes_results_only_outside_the_regime():
    # negative and positive weights on one neuron: the order of the same counts matters
    p = neuron([5, -5], 5, -5)
    raster = np.array([[[[[1]], [[2]]]]])          # T=1, B=1: one +5, two -5
    assert out(EventEmulator(p, order="sinabs").run(raster)) == [0]       # -5 -5 (+5): v -> -5
    assert out(EventEmulator(p, order="address").run(raster)) == [1]      # +5 spike, -5, -5
    assert out(EventEmulator(p, order="round_robin").run(raster)) == [1]  # +5 spike, -5, -5


def test_raster_and_stream_inputs_and_batch():
    prog = _random_regime_program(np.random.default_rng(7))
    raster = np.random.default_rng(8).integers(0, 3, size=(3, 3) + prog.input.shape)
    emu = EventEmulator(prog, order="round_robin")
    full = emu.run(raster, record=True)
    for b in range(3):
        one = emu.run(EventStream(events_from_raster(raster[:, b], "round_robin"), 3), record=True)
        for k in full.outputs:
            assert np.array_equal(full.outputs[k][:, b], one.outputs[k][:, 0])
        for k in full.states:
            assert np.array_equal(full.states[k][:, b], one.states[k][:, 0])
    streams = [EventStream(events_from_raster(raster[:, b], "round_robin"), 3) for b in range(3)]
    again = emu.run(streams)
    assert all(np.array_equal(again.outputs[k], full.outputs[k]) for k in full.outputs)


def test_input_errors():
    p = neuron([1], 5)
    emu = EventEmulator(p)
    with pytest.raises(NirccError, match=r"must be \[T, B, 1, 1, 1\]"):
        emu.run(np.zeros((2, 1, 2, 1, 1), np.int64))
    with pytest.raises(NirccError, match="non-negative"):
        emu.run(-np.ones((2, 1, 1, 1, 1), np.int64))
    with pytest.raises(NirccError, match="integer event counts"):
        emu.run(np.ones((2, 1, 1, 1, 1)) * 0.5)
    with pytest.raises(NirccError, match="event c outside"):
        emu.run(stream([[0, 1, 0, 0]], 1))
    with pytest.raises(NirccError, match="must not decrease"):
        stream([[1, 0, 0, 0], [0, 0, 0, 0]], 2)
    with pytest.raises(NirccError, match="0..1"):
        stream([[2, 0, 0, 0]], 2)
    with pytest.raises(NirccError, match="same n_bins"):
        emu.run([stream([], 1), stream([], 2)])
    with pytest.raises(NirccError, match="unknown event order"):
        EventEmulator(p, order="random")
    with pytest.raises(NirccError, match="unknown overflow"):
        EventEmulator(p, overflow="wrap")
    with pytest.raises(NirccError, match="unknown spike"):
        BinnedEmulator(p, spike="max")
    with pytest.raises(NirccError, match="unknown Speck emulator mode"):
        emulator(p, "specksim")
    bad = neuron([1], 5)
    bad.layer(0).kernel = 17
    with pytest.raises(NirccError):
        EventEmulator(bad)


# ----------------------------------------------------------------------------- DVS layer
def test_dvs_event_transform():
    inp = SpeckInput((2, 8, 8), [0], dvs=True, pooling=(2, 2), origin=(1, 0), cut=(3, 2), mirror_x=True,
                     on_channel=False)
    ev = np.array([[0, 0, 2, 1],     # OFF (0): pooled (1, 0) -> roi (0, 0) -> mirror x -> (0, 2)
                   [0, 1, 2, 1],     # ON: dropped (on_channel off)
                   [0, 0, 0, 0],     # pooled (0, 0): above the ROI, dropped
                   [1, 0, 7, 5],     # pooled (3, 2) -> roi (2, 2) -> (2, 0)
                   [1, 0, 4, 7]])    # pooled (2, 3): right of the cut, dropped
    assert dvs_events(inp, ev).tolist() == [[0, 0, 0, 2], [1, 0, 2, 0]]
    inp = SpeckInput((2, 8, 8), [0], dvs=True, merge=True, mirror_diagonal=True, mirror_y=True)
    # merge -> p 0; mirror y: y 1 -> 6; diagonal: (6, 5) -> (5, 6)
    assert dvs_events(inp, np.array([[0, 1, 1, 5]])).tolist() == [[0, 0, 5, 6]]


# ----------------------------------------------------------------------------- the two modes
def _random_layer(rng, name, core, in_shape, dests=(), monitor=False) -> CnnLayer:
    c, h, w = in_shape
    p = int(rng.integers(0, 2))
    k = int(rng.integers(1, min(4, min(h, w) + 2 * p) + 1))
    s = int(rng.choice([1, 2]))
    f = int(rng.integers(1, 4))
    thr = int(rng.integers(1, 21))
    tlo = -int(rng.integers(1, 21))
    out = conv_out_shape(in_shape, f, k, (s, s), (p, p))
    return CnnLayer(name, core, in_shape, out, k, rng.integers(0, thr, size=(f, c, k, k)), thr, tlo, s, p,
                    neurons_initial_value=rng.integers(tlo, thr, size=out), destinations=list(dests),
                    monitor=monitor)


def _random_dvs(rng) -> SpeckInput:
    hs, ws = (int(x) for x in rng.integers(4, 13, size=2))
    pool = tuple(int(x) for x in rng.choice([1, 2], size=2))
    ph, pw = hs // pool[0], ws // pool[1]
    oy, ox = int(rng.integers(0, ph)), int(rng.integers(0, pw))
    cy, cx = int(rng.integers(oy, ph)), int(rng.integers(ox, pw))
    on = bool(rng.integers(0, 2))
    return SpeckInput((2, hs, ws), [0], dvs=True, pooling=pool, merge=bool(rng.integers(0, 2)), on_channel=on,
                      off_channel=not on or bool(rng.integers(0, 2)), origin=(oy, ox), cut=(cy, cx),
                      mirror_x=bool(rng.integers(0, 2)), mirror_y=bool(rng.integers(0, 2)),
                      mirror_diagonal=bool(rng.integers(0, 2)))


def _random_regime_program(rng) -> SpeckProgram:
    """A random program inside the regime of speck.md §2.3: weights in [0, theta), subtract
    reset, no leak, initial v in [theta_low, theta).  A chain of 1-3 cores with random pooling
    (optionally behind a random DVS layer), or a diamond 0 -> (1, 2) -> 3 merged by feature_shift."""
    if rng.integers(0, 3) == 0:
        shape = (int(rng.integers(1, 3)),) + tuple(int(x) for x in rng.integers(3, 8, size=2))
        a = _random_layer(rng, "a", 0, shape)
        mid = (a.output_shape[0], a.output_shape[1], a.output_shape[2])
        b = _random_layer(rng, "b", 1, mid)
        c = _random_layer(rng, "c", 2, mid)
        c = CnnLayer("c", 2, mid, (c.output_shape[0],) + b.output_shape[1:], b.kernel,
                     rng.integers(0, c.threshold_high, size=(c.output_shape[0], mid[0], b.kernel, b.kernel)),
                     c.threshold_high, c.threshold_low, b.stride, b.padding)
        fb, fc = b.output_shape[0], c.output_shape[0]
        d = _random_layer(rng, "d", 3, (fb + fc,) + b.output_shape[1:], monitor=True)
        a.destinations = [Destination(1), Destination(2)]
        b.destinations = [Destination(3)]
        c.destinations = [Destination(3, feature_shift=fb)]
        return SpeckProgram(SpeckInput(shape, [0]), [a, b, c, d], [Exit("d", 3)])
    inp = _random_dvs(rng) if rng.integers(0, 2) else None
    shape = inp.output_shape() if inp else (int(rng.integers(1, 3)),) + tuple(int(x) for x in rng.integers(3, 9, size=2))
    layers = []
    n = int(rng.integers(1, 4))
    for i in range(n):
        lay = _random_layer(rng, f"l{i}", [0, 3, 5][i], shape, monitor=i == n - 1 or bool(rng.integers(0, 2)))
        layers.append(lay)
        if i < n - 1:
            _, ho, wo = lay.output_shape
            pool = int(rng.choice([pp for pp in (1, 2, 4) if pp <= min(ho, wo)]))
            lay.destinations = [Destination([0, 3, 5][i + 1], pooling=pool)]
            shape = (lay.output_shape[0], ho // pool, wo // pool)
    exits = [Exit(lay.name, lay.core) for lay in layers if lay.monitor]
    return SpeckProgram(inp or SpeckInput(layers[0].input_shape, [0]), layers, exits)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), order=st.sampled_from(["sinabs", "address", "round_robin"]))
def test_modes_agree_exactly_in_the_regime(seed, order):
    rng = np.random.default_rng(seed)
    prog = _random_regime_program(rng)
    assert prog.overflow_risks() == []
    T, B = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    raster = rng.integers(0, 4, size=(T, B) + prog.input.shape) * (rng.random((T, B) + prog.input.shape) < 0.5)
    ev = EventEmulator(prog, order=order).run(raster, record=True)
    bn = BinnedEmulator(prog).run(raster, record=True)
    assert ev.outputs.keys() == bn.outputs.keys() and ev.states.keys() == bn.states.keys()
    for k in ev.outputs:
        assert np.array_equal(ev.outputs[k], bn.outputs[k]), k
    for k in ev.states:
        assert np.array_equal(ev.states[k], bn.states[k]), k


def test_modes_disagree_with_negative_weights():
    # one +5 then one -5 within a bin: the chip fires on the +5; sinabs sums to 0 first
    p = neuron([5, -5], 5, -5)
    ev = stream([[0, 0, 0, 0], [0, 1, 0, 0]], 1)
    e, b = run_event(p, ev), BinnedEmulator(p).run(ev, record=True)
    assert (out(e), v_of(e)) == ([1], [-5])
    assert (out(b), v_of(b)) == ([0], [0])


def test_modes_disagree_when_weight_reaches_threshold():
    # w = 10, theta = 4, three events in one bin (speck.md §2.3 "w >= theta_high")
    p = neuron([10], 4)
    ev = stream([[0, 0, 0, 0]] * 3, 1)
    e, b = run_event(p, ev), BinnedEmulator(p).run(ev, record=True)
    assert (out(e), v_of(e)) == ([3], [18])
    assert (out(b), v_of(b)) == ([7], [2])
    single = BinnedEmulator(p, spike="single").run(ev, record=True)
    assert (out(single), v_of(single)) == ([1], [26])


def test_modes_disagree_with_return_to_zero_and_several_events_per_bin():
    # w = 3, theta = 5: bin 0 has three events, bin 1 one
    p = neuron([3], 5, return_to_zero=True)
    ev = stream([[0, 0, 0, 0]] * 3 + [[1, 0, 0, 0]], 2)
    e, b = run_event(p, ev), BinnedEmulator(p).run(ev, record=True)
    assert (out(e), v_of(e)) == ([1, 1], [3, 0])     # 3, 6->0, 3 | 6->0
    assert (out(b), v_of(b)) == ([1, 0], [0, 3])     # 9 -> one spike, reset to 0 | 3


def test_binned_conv_in_blocks_equals_one_block(monkeypatch):
    import nircc.backends.speck.emulator as emu_mod
    prog = _random_regime_program(np.random.default_rng(11))
    raster = np.random.default_rng(12).integers(0, 3, size=(4, 2) + prog.input.shape)
    whole = BinnedEmulator(prog).run(raster, record=True)
    monkeypatch.setattr(emu_mod, "IM2COL_BLOCK", 1)     # one sample per im2col block
    blocks = BinnedEmulator(prog).run(raster, record=True)
    for k in whole.states:
        assert np.array_equal(whole.states[k], blocks.states[k]), k
