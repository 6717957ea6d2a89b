"""Two emulators of a :class:`~nircc.backends.speck.program.SpeckProgram`.

``event`` -- the chip's rule (speck.md §2.1, datasheet §3.2.4.4-3.2.4.7)
------------------------------------------------------------------------
Every input event ``(c, y, x)`` reaching a core updates, one synapse each, all neurons
``(f, oy, ox)`` with ``ky = y + p_y - oy*s_y`` and ``kx = x + p_x - ox*s_x`` in ``[0, k)``::

    v += W[f, c, ky, kx]                       (int8 weight into the int16 state)
    if v >= threshold_high:  ONE spike; v = 0 (return_to_zero) or v -= threshold_high
    v = max(v, threshold_low)

So a neuron fires at most once per input event, however far above threshold it is.
Propagation is depth-first: a spike is processed by its destination cores (routed with
sum pooling and ``feature_shift``, see ``program.py``), recursively, before the next
neuron's spike and before the next input event.  Orders this model fixes (the chip's are
undocumented; only the order of output events of one update could differ, never a state
within that core):

* spikes of one update in C order of ``(f, y, x)``; each spike to destination 0, then 1;
* input events within a time bin: given explicitly (:class:`EventStream`), or made from a
  count raster in one of :data:`ORDERS`:

  - ``"sinabs"`` (default): sinabs' ``ChipFactory.raster_to_events`` -- within a bin,
    counts from the largest down; the addresses holding count ``n`` (C order of
    ``(c, y, x)``) are listed as a block, and the block is repeated ``n`` times;
  - ``"address"``: each address's ``n`` events back to back, addresses in C order;
  - ``"round_robin"``: round ``r`` sends one event from every address with count ``> r``.

Leak: a core with ``leak_enable`` gets ``v += bias[f]`` once per time bin, after the bin's
events -- one slow-clock tick per bin, i.e. a slow clock of ``1/dt``.  The tick clamps at
``threshold_low`` and does not fire (undocumented [?]; a neuron pushed over threshold by
a leak fires at its next synaptic update).  Time stamps do not enter the computation.

int16 overflow (undocumented [?]).  The state is computed in int32 and checked against
int16 after every update, on the layers whose :meth:`CnnLayer.overflow_risks` is not empty
(other layers provably stay inside int16).  ``overflow="error"`` (default, the
conservative choice: no output that depends on unknown hardware behaviour) raises a
NirccError naming layer, neuron, bin and value; ``overflow="saturate"`` clamps to
``[-32768, 32767]`` before the threshold check and counts it in ``stats["saturations"]``.

Vectorization: one event updates its whole ``F x n_y x n_x`` window with one numpy slice
operation (basic slicing of the state and a strided slice of the kernel, no index arrays).
Samples of a batch are run one after another: depth-first processing is a sequential
walk whose path depends on each sample's state, so lock-stepping samples would need a
gather/scatter per event instead of a slice view -- slower for the batch sizes used here,
and the chip itself runs one stream at a time.

``binned`` -- sinabs' time-stepped ``IAFSqueeze`` (speck.md §2.2)
-----------------------------------------------------------------
Per time bin ``t``, vectorized over batch and neurons::

    v += conv(x_t) + (bias if leak_enable)
    n  = floor(v / threshold_high) if v > 0 else 0        (spike="multi", sinabs MultiSpike)
       = [v >= threshold_high]                           (spike="single", SingleSpike)
    v -= n * threshold_high   or   v = 0 where n > 0      (return_to_zero)
    v  = max(v, threshold_low)
    x of each destination += sum_pool(n, pooling) shifted by feature_shift

``x_t`` are the event counts of the bin.  The core graph is acyclic, so cores run in
topological order, each over all bins at once (one conv over the ``T*B`` count maps, then
the neuron update bin by bin): the values are those of the bin-by-bin loop, and sinabs'
``DynapcnnNetwork.forward`` computes layer by layer the same way.  Arithmetic is exact integer (int64; the conv
runs as a float64 matrix product, exact below 2**53): equal to sinabs' float32 while
values stay below 2**24.  No int16 saturation (sinabs has none).  sinabs skips the clamp
when ``min_v_mem`` is None; nircc programs always carry ``threshold_low`` (sinabs writes
-32768 for None), so the two differ only if ``v`` falls below -32768.

Inputs and outputs
------------------
``run(inputs, record=False)`` takes a count raster ``[T, B, C, H, W]`` (non-negative
integers, ``(C, H, W)`` = ``program.input.shape``), one :class:`EventStream` (batch 1) or a
list of them (one per sample).  It returns ``EmulatorResult(outputs, states)``:
``outputs[exit.name]`` = spike counts per bin ``[T, B, F, H, W]`` (int32) of the exit's core,
pooled by ``exit.pooling``; with ``record=True``, ``states[layer.name + "/v"]`` = ``v`` at the
end of every bin (after the leak) ``[T, B, F, H_o, W_o]`` and ``states[layer.name + "/output"]``
= that core's unpooled spike counts per bin (the ``<node>/<state>`` keys of
:mod:`nircc.backends.io`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import NirccError
from ..base import Emulator, EmulatorResult
from .program import CnnLayer, SpeckInput, SpeckProgram
from .spec import SpeckSpec, get_spec

MODES = ("event", "binned")
ORDERS = ("sinabs", "address", "round_robin")
SPIKE_FNS = ("multi", "single")
OVERFLOW = ("error", "saturate")


# ---------------------------------------------------------------------- input events
@dataclass(eq=False)
class EventStream:
    """Input events of one sample, processed in row order.

    ``events``: integer array ``[N, 4]`` with columns ``(t, c, y, x)``: time bin, channel
    (DVS polarity), row, column in input coordinates (before the DVS layer); ``t`` must
    not decrease.  ``n_bins``: number of time bins ``T`` (bins without events are allowed).
    """

    events: np.ndarray
    n_bins: int

    def __post_init__(self) -> None:
        ev = np.asarray(self.events)
        if ev.size == 0:
            ev = ev.reshape(0, 4)
        if ev.ndim != 2 or ev.shape[1] != 4 or ev.dtype.kind not in "iu":
            raise NirccError(f"events must be an integer array [N, 4] of (t, c, y, x), got "
                             f"{ev.dtype} {list(ev.shape)}", field="events")
        self.events = ev.astype(np.int64)
        self.n_bins = int(self.n_bins)
        t = self.events[:, 0]
        if t.size and (t.min() < 0 or t.max() >= self.n_bins):
            raise NirccError(f"time bins must be in 0..{self.n_bins - 1}", field="events")
        if t.size > 1 and np.any(np.diff(t) < 0):
            raise NirccError("time bins of the events must not decrease", field="events")


def events_from_raster(raster: np.ndarray, order: str = "sinabs") -> np.ndarray:
    """Events ``[N, 4]`` of ``(t, c, y, x)`` from a count raster ``[T, C, H, W]``, in bin
    order and, within a bin, in ``order`` (see the module docstring)."""
    if order not in ORDERS:
        raise NirccError(f"unknown event order {order!r} (known: {', '.join(ORDERS)})", field="order")
    raster = np.asarray(raster)
    T = raster.shape[0]
    flat = raster.reshape(T, -1)
    t_idx, a_idx = np.nonzero(flat)
    n = flat[t_idx, a_idx].astype(np.int64)
    t_rep = np.repeat(t_idx, n)
    a_rep = np.repeat(a_idx, n)
    n_rep = np.repeat(n, n)
    # occurrence number r of each event within its address: 0..n-1
    starts = np.repeat(np.cumsum(n) - n, n)
    r = np.arange(n_rep.size, dtype=np.int64) - starts
    if order == "sinabs":
        key = np.lexsort((a_rep, r, -n_rep, t_rep))
    elif order == "round_robin":
        key = np.lexsort((a_rep, r, t_rep))
    else:
        key = np.arange(n_rep.size)
    t_out, a_out = t_rep[key], a_rep[key]
    c, y, x = np.unravel_index(a_out, raster.shape[1:])
    return np.stack([t_out, c, y, x], axis=1).astype(np.int64)


def raster_from_events(stream: EventStream, shape: tuple[int, int, int]) -> np.ndarray:
    """The count raster ``[T, C, H, W]`` of an event stream."""
    out = np.zeros((stream.n_bins,) + tuple(shape), np.int64)
    ev = stream.events
    np.add.at(out, (ev[:, 0], ev[:, 1], ev[:, 2], ev[:, 3]), 1)
    return out


def dvs_events(inp: SpeckInput, ev: np.ndarray) -> np.ndarray:
    """The DVS layer's transform of events ``[N, 4]`` ``(t, p, y, x)`` (order kept,
    dropped events removed); identity when ``inp.dvs`` is False."""
    if not inp.dvs:
        return ev
    t, p, y, x = (ev[:, i].copy() for i in range(4))
    keep = np.ones(len(ev), bool)
    if inp.shape[0] == 2:
        if not inp.on_channel:
            keep &= p != 1
        if not inp.off_channel:
            keep &= p != 0
    if inp.merge:
        p[:] = 0
    py, px = inp.pooling
    y //= py
    x //= px
    (oy, ox), (cy, cx) = inp.roi()
    keep &= (y >= oy) & (y <= cy) & (x >= ox) & (x <= cx)
    y -= oy
    x -= ox
    if inp.mirror_y:
        y = (cy - oy) - y
    if inp.mirror_x:
        x = (cx - ox) - x
    if inp.mirror_diagonal:
        y, x = x, y
    return np.stack([t, p, y, x], axis=1)[keep]


def dvs_raster(inp: SpeckInput, raster: np.ndarray) -> np.ndarray:
    """The DVS layer's transform of a count raster ``[T, B, C, H, W]``."""
    if not inp.dvs:
        return raster
    r = raster
    if inp.shape[0] == 2 and not (inp.on_channel and inp.off_channel):
        r = r.copy()
        if not inp.on_channel:
            r[:, :, 1] = 0
        if not inp.off_channel:
            r[:, :, 0] = 0
    if inp.merge:
        r = r.sum(axis=2, keepdims=True)
    py, px = inp.pooling
    ph, pw = inp.pooled_shape()
    T, B, C = r.shape[:3]
    r = r[..., :ph * py, :pw * px].reshape(T, B, C, ph, py, pw, px).sum(axis=(4, 6))
    (oy, ox), (cy, cx) = inp.roi()
    r = r[..., oy:cy + 1, ox:cx + 1]
    if inp.mirror_y:
        r = r[..., ::-1, :]
    if inp.mirror_x:
        r = r[..., ::-1]
    if inp.mirror_diagonal:
        r = r.swapaxes(-1, -2)
    return np.ascontiguousarray(r)


Inputs = Union[np.ndarray, EventStream, Sequence[EventStream]]


def _check_raster(x: Any, shape: tuple[int, int, int]) -> np.ndarray:
    r = np.asarray(x)
    if r.ndim != 5 or tuple(r.shape[2:]) != tuple(shape):
        raise NirccError(f"input raster must be [T, B, {', '.join(map(str, shape))}], got {list(r.shape)}",
                         node="input", field="inputs")
    if r.dtype.kind not in "iub":
        raise NirccError(f"input raster must hold integer event counts, got {r.dtype}", node="input",
                         field="inputs")
    r = r.astype(np.int64)
    if r.size and r.min() < 0:
        raise NirccError("input event counts must be non-negative", node="input", field="inputs")
    return r


def _streams(inputs: Inputs) -> Optional[list[EventStream]]:
    if isinstance(inputs, EventStream):
        return [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(s, EventStream) for s in inputs):
        if len({s.n_bins for s in inputs}) != 1:
            raise NirccError("all event streams of a batch need the same n_bins", node="input", field="inputs")
        return list(inputs)
    return None


def _check_stream(s: EventStream, shape: tuple[int, int, int]) -> None:
    ev = s.events
    for i, (name, size) in enumerate(zip(("c", "y", "x"), shape)):
        col = ev[:, i + 1]
        if col.size and (col.min() < 0 or col.max() >= size):
            raise NirccError(f"event {name} outside 0..{size - 1}", node="input", field="inputs")


def sum_pool(n: np.ndarray, p: int) -> np.ndarray:
    """Sum pooling ``p`` x ``p`` (stride ``p``, remainder dropped) of ``[..., H, W]``."""
    if p == 1:
        return n
    h, w = n.shape[-2] // p, n.shape[-1] // p
    lead = n.shape[:-2]
    return n[..., :h * p, :w * p].reshape(*lead, h, p, w, p).sum(axis=(-3, -1))


# ---------------------------------------------------------------------- event mode
class _EventCore:
    """Per-core tables and state of the event emulator (built per run).  ``routes``:
    ``(target core, pooling, feature_shift, target H, target W)`` per destination;
    ``count``: keep this core's spike counts per bin."""

    def __init__(self, lay: CnnLayer, spec: SpeckSpec, routes: list, count: bool) -> None:
        self.name = lay.name
        f, ho, wo = lay.output_shape
        c, h, w = lay.input_shape
        k = lay.kernel
        self.F = f
        # kernel as [C][F][ky][kx] int32: one contiguous [F, k, k] block per input channel
        wt = np.ascontiguousarray(lay.weights.astype(np.int32).transpose(1, 0, 2, 3))
        self.Wc = [wt[i] for i in range(c)]
        self.ywin = [self._window(i, lay.padding[0], lay.stride[0], k, ho) for i in range(h)]
        self.xwin = [self._window(i, lay.padding[1], lay.stride[1], k, wo) for i in range(w)]
        self.thr = lay.threshold_high
        self.tlo = lay.threshold_low
        self.rtz = bool(lay.return_to_zero)
        v0 = lay.neurons_initial_value.astype(np.int32)
        self.v0 = v0
        self.clamp = bool(lay.weights.size and lay.weights.min() < 0) or self.tlo > 0 or \
            bool(v0.size and v0.min() < self.tlo)
        self.check = bool(lay.overflow_risks(spec))
        self.lo16, self.hi16 = spec.state_range
        self.bias = lay.biases.astype(np.int32).reshape(f, 1, 1) if lay.leak_enable else None
        self.routes = routes
        self.count = count
        self.v = v0.copy()
        self.cnt: Optional[np.ndarray] = None
        self.n_events = self.n_syn = self.n_spikes = self.n_sat = 0

    @staticmethod
    def _window(i: int, p: int, s: int, k: int, n_out: int):
        """(neuron slice, kernel slice, count) reached by input coordinate ``i`` on one
        axis, or None: outputs ``o`` with ``0 <= i + p - o*s < k``, kernel index
        ``i + p - o*s`` falling by ``s`` per output."""
        lo = max(0, -((k - 1 - i - p) // s))          # ceil((i + p - k + 1) / s)
        hi = min(n_out - 1, (i + p) // s)
        n = hi - lo + 1
        if n <= 0:
            return None
        k0 = i + p - lo * s
        stop = k0 - n * s
        return slice(lo, hi + 1), slice(k0, stop if stop >= 0 else None, -s), n


class EventEmulator(Emulator):
    """The chip's event-driven, depth-first rule (module docstring, ``event``).

    After :meth:`run`, ``stats`` holds the number of input events (after the DVS layer)
    and, per layer name, the events it processed, its synaptic updates (one weight added to
    one neuron), spikes and saturations.
    """

    def __init__(self, program: SpeckProgram, order: str = "sinabs", overflow: str = "error",
                 spec: Optional[SpeckSpec] = None) -> None:
        if order not in ORDERS:
            raise NirccError(f"unknown event order {order!r} (known: {', '.join(ORDERS)})", field="order")
        if overflow not in OVERFLOW:
            raise NirccError(f"unknown overflow policy {overflow!r} (known: {', '.join(OVERFLOW)})",
                             field="overflow")
        self.spec = spec or get_spec(program.variant)
        program.validate(self.spec)
        self.program = program
        self.order = order
        self.overflow = overflow
        self.stats: dict[str, Any] = {}
        self._exit_cores = {e.layer for e in program.exits}

    def _build(self, record: bool) -> dict[int, _EventCore]:
        cores = {}
        for lay in self.program.layers:
            routes = []
            for d in lay.destinations:
                tgt = self.program.layer(d.layer)
                routes.append((d.layer, d.pooling, d.feature_shift, tgt.input_shape[1], tgt.input_shape[2]))
            cores[lay.core] = _EventCore(lay, self.spec, routes, record or lay.core in self._exit_cores)
        return cores

    def run(self, inputs: Inputs, record: bool = False) -> EmulatorResult:
        prog = self.program
        inp = prog.input
        streams = _streams(inputs)
        if streams is None:
            raster = _check_raster(inputs, inp.shape)
            T, B = raster.shape[:2]
            per_sample = [events_from_raster(raster[:, b], self.order) for b in range(B)]
        else:
            for s in streams:
                _check_stream(s, inp.shape)
            T, B = streams[0].n_bins, len(streams)
            per_sample = [s.events for s in streams]
        cores = self._build(record)
        counts = {c: np.zeros((T, B) + L.v0.shape, np.int32) for c, L in cores.items() if L.count}
        states = {c: np.zeros((T, B) + L.v0.shape, np.int32) for c, L in cores.items()} if record else {}
        n_input = 0
        for b, ev in enumerate(per_sample):
            ev = dvs_events(inp, ev)
            n_input += len(ev)
            for L in cores.values():
                L.v = L.v0.copy()
            bounds = np.searchsorted(ev[:, 0], np.arange(T + 1), side="left")
            for t in range(T):
                for c, L in cores.items():
                    L.cnt = counts[c][t, b] if L.count else None
                self._bin(cores, ev[bounds[t]:bounds[t + 1], 1:].tolist(), t)
                for L in cores.values():
                    if L.bias is not None:
                        L.v += L.bias
                        if L.check:
                            self._overflow(L, L.v, t, 0, 0)
                        np.maximum(L.v, L.tlo, out=L.v)
                if record:
                    for c, L in cores.items():
                        states[c][t, b] = L.v
        self.stats = {
            "input_events": n_input,
            "events": {L.name: L.n_events for L in cores.values()},
            "synaptic_updates": {L.name: L.n_syn for L in cores.values()},
            "spikes": {L.name: L.n_spikes for L in cores.values()},
            "saturations": {L.name: L.n_sat for L in cores.values()},
        }
        outputs = {e.name: sum_pool(counts[e.layer], e.pooling).astype(np.int32) for e in prog.exits}
        rec: dict[str, np.ndarray] = {}
        if record:
            for c, L in cores.items():
                rec[L.name + "/v"] = states[c]
                rec[L.name + "/output"] = counts[c]
        return EmulatorResult(outputs=outputs, states=rec)

    def _overflow(self, L: _EventCore, vs: np.ndarray, t: int, y0: int, x0: int) -> None:
        hi, lo = int(vs.max()), int(vs.min())
        if hi <= L.hi16 and lo >= L.lo16:
            return
        bad = (vs > L.hi16) | (vs < L.lo16)
        if self.overflow == "error":
            f, y, x = (int(i[0]) for i in np.nonzero(bad))
            raise NirccError(f"int16 overflow in bin {t}: v = {int(vs[f, y, x])} at neuron (f={f}, y={y + y0}, "
                             f"x={x + x0}); the chip's behaviour is undocumented (overflow='saturate' "
                             "models saturation)", node=L.name, field="state")
        L.n_sat += int(bad.sum())
        np.clip(vs, L.lo16, L.hi16, out=vs)

    def _bin(self, cores: dict[int, _EventCore], block: list, t: int) -> None:
        """Process one bin's input events ``(c, y, x)`` depth-first."""
        dests = list(reversed(self.program.input.destinations))
        stack: list[tuple[int, int, int, int]] = []
        push, pop, extend = stack.append, stack.pop, stack.extend
        for c, y, x in block:
            for d in dests:
                push((d, c, y, x))
            while stack:
                core, c, y, x = pop()
                L = cores[core]
                L.n_events += 1
                yw = L.ywin[y]
                xw = L.xwin[x]
                if yw is None or xw is None:
                    continue
                L.n_syn += L.F * yw[2] * xw[2]
                vs = L.v[:, yw[0], xw[0]]
                vs += L.Wc[c][:, yw[1], xw[1]]
                if L.check:
                    self._overflow(L, vs, t, yw[0].start, xw[0].start)
                thr = L.thr
                if vs.max() >= thr:
                    m = vs >= thr
                    if L.rtz:
                        np.copyto(vs, 0, where=m)
                    else:
                        np.subtract(vs, thr, out=vs, where=m)
                    if L.cnt is not None:
                        cw = L.cnt[:, yw[0], xw[0]]
                        cw += m
                    if L.routes:
                        fi, yi, xi = m.nonzero()
                        L.n_spikes += len(fi)
                        y0, x0 = yw[0].start, xw[0].start
                        kids = []
                        for f, oy, ox in zip(fi.tolist(), yi.tolist(), xi.tolist()):
                            oy += y0
                            ox += x0
                            for tc, p, sh, ht, wt in L.routes:
                                ty, tx = oy // p, ox // p
                                if ty < ht and tx < wt:
                                    kids.append((tc, f + sh, ty, tx))
                        kids.reverse()
                        extend(kids)
                    else:
                        L.n_spikes += int(np.count_nonzero(m))
                if L.clamp:
                    np.maximum(vs, L.tlo, out=vs)


# ---------------------------------------------------------------------- binned mode
#: largest im2col block of the binned conv, in float64 elements (64 MB)
IM2COL_BLOCK = 1 << 23


def conv2d_counts(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int],
                  out_hw: tuple[int, int]) -> np.ndarray:
    """Exact integer conv of counts ``x [N, C, H, W]`` with ``w [F, C, k, k]`` (NIR layout)
    -> ``[N, F, H_o, W_o]`` int64, via im2col and a float64 matrix product, in blocks of
    samples whose im2col matrix stays below :data:`IM2COL_BLOCK` elements."""
    N, C = x.shape[:2]
    F, _, k, _ = w.shape
    ho, wo = out_hw
    wm = w.reshape(F, C * k * k).T.astype(np.float64)
    out = np.empty((N, F, ho, wo), np.int64)
    step = max(1, IM2COL_BLOCK // (ho * wo * C * k * k))
    for i in range(0, N, step):
        xp = np.pad(x[i:i + step].astype(np.float64),
                    ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
        n = xp.shape[0]
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride[0], ::stride[1]][:, :, :ho, :wo]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, C * k * k)
        out[i:i + n] = np.rint(cols @ wm).astype(np.int64).reshape(n, ho, wo, F).transpose(0, 3, 1, 2)
    return out


class BinnedEmulator(Emulator):
    """sinabs' time-stepped ``IAFSqueeze`` semantics (module docstring, ``binned``)."""

    def __init__(self, program: SpeckProgram, spike: str = "multi", spec: Optional[SpeckSpec] = None) -> None:
        if spike not in SPIKE_FNS:
            raise NirccError(f"unknown spike function {spike!r} (known: {', '.join(SPIKE_FNS)})", field="spike")
        self.spec = spec or get_spec(program.variant)
        program.validate(self.spec)
        self.program = program
        self.spike = spike
        self.order = program.topological_order()

    def run(self, inputs: Inputs, record: bool = False) -> EmulatorResult:
        prog = self.program
        inp = prog.input
        streams = _streams(inputs)
        if streams is None:
            raster = _check_raster(inputs, inp.shape)
        else:
            for s in streams:
                _check_stream(s, inp.shape)
            raster = np.stack([raster_from_events(s, inp.shape) for s in streams], axis=1)
        raster = dvs_raster(inp, raster)
        T, B = raster.shape[:2]
        layers = {lay.core: lay for lay in prog.layers}
        # input event counts of every core for all bins; a core's are complete once the
        # cores before it in topological order have run (the core graph is acyclic)
        buf = {c: np.zeros((T, B) + lay.input_shape, np.int64) for c, lay in layers.items()}
        for d in inp.destinations:
            buf[d][:, :, :raster.shape[2]] += raster
        counts: dict[int, np.ndarray] = {}
        states: dict[int, np.ndarray] = {}
        for c in self.order:
            lay = layers[c]
            x = buf.pop(c)
            f, ho, wo = lay.output_shape
            drive = conv2d_counts(x.reshape((T * B,) + lay.input_shape), lay.weights.astype(np.int64),
                                  lay.stride, lay.padding, (ho, wo)).reshape((T, B) + lay.output_shape)
            if lay.leak_enable:
                drive += lay.biases.astype(np.int64).reshape(1, 1, f, 1, 1)
            v = np.broadcast_to(lay.neurons_initial_value.astype(np.int64), (B,) + lay.output_shape).copy()
            n_all = np.zeros((T, B) + lay.output_shape, np.int64)
            v_all = np.zeros((T, B) + lay.output_shape, np.int64) if record else None
            thr = lay.threshold_high
            for t in range(T):
                v += drive[t]
                if self.spike == "multi":
                    n = np.where(v > 0, v // thr, 0)
                else:
                    n = (v >= thr).astype(np.int64)
                if lay.return_to_zero:
                    v[n > 0] = 0
                else:
                    v -= n * thr
                np.maximum(v, lay.threshold_low, out=v)
                n_all[t] = n
                if v_all is not None:
                    v_all[t] = v
            counts[c] = n_all
            if v_all is not None:
                states[c] = v_all
            for d in lay.destinations:
                tgt = buf[d.layer]
                ht, wt = tgt.shape[-2:]
                tgt[:, :, d.feature_shift:d.feature_shift + f] += sum_pool(n_all, d.pooling)[..., :ht, :wt]
        outputs = {e.name: sum_pool(counts[e.layer], e.pooling).astype(np.int32) for e in prog.exits}
        rec: dict[str, np.ndarray] = {}
        if record:
            for c, lay in layers.items():
                rec[lay.name + "/v"] = states[c]
                rec[lay.name + "/output"] = counts[c].astype(np.int32)
        return EmulatorResult(outputs=outputs, states=rec)


def emulator(program: SpeckProgram, mode: str = "event", **options: Any) -> Emulator:
    """The emulator of ``program``: ``mode="event"`` (options ``order``, ``overflow``) or
    ``mode="binned"`` (option ``spike``); both take ``spec`` (default: the program's variant)."""
    if mode == "event":
        return EventEmulator(program, **options)
    if mode == "binned":
        return BinnedEmulator(program, **options)
    raise NirccError(f"unknown Speck emulator mode {mode!r} (known: {', '.join(MODES)})", field="mode")
