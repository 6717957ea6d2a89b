"""Bit-exact emulator of a :class:`~nircc.backends.xylo.program.XyloProgram`.

The update is xylosim's (``src/v2/cpp/XyloLayer.cpp`` / ``XyloIAFNeuron.cpp``; ``src/v1``
for the ``v1`` variant), restated in xylo.md §2, vectorized with numpy over neurons and
batch.  Every quantity is an integer; the chip's widths are noted as ``int16`` etc.

One time step ``t``
-------------------
1. **Delivery.**  Every synaptic state (hidden syn1/syn2, readout syn) receives, in this
   order, the input events of step ``t`` (``n = min(x[t, i], 15)`` per channel ``i``,
   ascending) and the hidden spike counts of step ``t - 1`` (``n <= 31`` per neuron,
   ascending; through ``weights_rec`` to hidden and ``weights_out`` to readout), each
   event adding its effective weight ``int16(w << shift)`` with int16 saturation::

       I = sat16(I + w_eff)          repeated n times per pre-neuron, pre-neurons in order

   So input -> hidden acts in the same step, hidden -> hidden and hidden -> readout one
   step later.
2. **Synaptic decay** (after this step's input): ``I = I - decay(I, dash_syn)`` with
   ``decay(v, d) = v >> d`` (arithmetic, i.e. floor) except that a positive ``v`` with
   ``v >> d == 0`` decays by 1; 0 stays 0, negative values decay by ``ceil(|v| / 2^d)``;
   ``d = 0`` zeroes the state.
3. **Membrane** (``Isum = Isyn + Isyn2``, exact):

   * v2 (Audio 2/3, IMU)::

         dV = int16(-decay(V, dash_mem))        wraps only for V = -32768, dash_mem = 0
         dV = sat16(dV + Isum)
         dV = sat16(dV + bias)                  only when bias_enable
         V  = sat16(V + dV)

   * v1: ``V = sat16((V - decay(V, dash_mem)) + Isum)`` (no bias).
4. **Spikes**: starting from ``n`` (alias spikes already received, below; 0 for readout)
   ``while V >= threshold and n < max: n += 1; V = int16(V - threshold)`` with ``max`` 31
   for hidden and 1 for readout neurons (subtractive reset; ``threshold <= 0`` fires until
   ``max`` or until the int16 wrap of ``V - threshold`` ends the loop).
5. **Aliases** (hidden only): neurons evolve in index order; after neuron ``i`` fires its
   total ``n_i`` (alias spikes included), each alias target ``a`` gets
   ``buf[a] = min(buf[a] + n_i, 31)``.  A target with a higher index therefore starts
   its own evolve with those spikes counted; a target with a lower index (or ``i``
   itself) just gets them added.  ``buf`` is what the next step delivers and what is
   recorded as ``Spikes``.

Recorded states are taken after step 5, exactly xylosim's recordings.

How it is computed
------------------
*Delivery* runs in two phases per step, inputs then hidden spikes (the delivery order).
Per phase, each synaptic state gets ``P`` and ``N``, the sums of its positive and of its
negative contributions, from a float32 matrix product with the effective weights split
into positive and negative parts (BLAS; input phase always, hidden phase over the
neurons that fired in some sample), or, when few hidden neurons fired, from an
event-driven scatter of their fan-out entries (``np.bincount`` in float64).  Every
contribution is an integer below 2^20, and ``P``/``N`` are sums of same-sign terms:
exact below 2^24, and far above the bounds below otherwise (relative error < 10^-4).
When ``I + P <= 32767`` and ``I + N >= -32768`` every partial sum, in any order, is
inside int16, no add saturates and the result is ``I + P + N``.  The states that fail
this test take the exact sequential rule: their contributions ``a_1..a_L`` (the column's
nonzero weights in pre order times the pre-neuron's count; ``n`` same-sign events of one
pre-neuron are one contribution ``n * w_eff``, since saturating adds of one sign compose
to one saturation) define the clamped walk ``x_k = clip(x_{k-1} + a_k, L, H)``
(``L = -32768``, ``H = 32767``).  With prefix sums ``psi_k = x_0 + a_1 + ... + a_k``:

* if the walk cannot reach ``L`` (``I + N >= L``): ``x_L = psi_L - max(0, max_k psi_k - H)``;
* if it cannot reach ``H``: ``x_L = psi_L - min(0, min_k psi_k - L)``;
* otherwise (both bounds reachable in one step; rare) the two-sided Skorokhod map on
  ``[0, A]`` (Kruk, Lehoczky, Ramanan, Shreve 2007), ``A = H - L``, with
  ``phi_k = psi_k - L`` and suffix minima ``m_s = min(phi_s, ..., phi_L)``::

      x_L = phi_L - max(min(0, m_0), max_s min(phi_s - A, m_s)) + L

The contributions of the failing states are gathered position-major
(``[position, state]``, states grouped by the padded length of their column) and the
prefix sums taken by a loop over positions, each one vector add over the states: the
loop is bounded by the longest column (at most ``N_in`` or ``N_hid`` positions) and runs
only on this slow path; numpy's ``cumsum`` along that axis is several times slower.

*Neurons* are updated with whole-array integer operations over ``[B, N_hid + N_out]``;
``threshold > 0`` uses ``k = min(floor(V / threshold), max - n)`` (float64 true
division: exact for |V|, threshold < 2^15), ``threshold <= 0`` (rare) runs the loop of
step 4 vectorized over those neurons (at most 31 iterations).  Aliases are resolved
level by level: a target's level is one more than the highest level of its lower-index
sources, so each level is vectorized and the number of levels is the longest chain of
increasing-index aliases.

Speed: one step costs a few dozen numpy calls plus the products; BLAS threads are
whatever numpy is configured with (``OPENBLAS_NUM_THREADS``); on a machine whose cores
are busy, one thread is faster.  ``benchmarks/bench_xylo.py`` compares with xylosim.

Inputs and outputs
------------------
``run(inputs, record=False)``: ``inputs`` non-negative integer event counts
``[T, B, N_in]`` or ``[T, N_in]`` (batch 1); counts above 15 act as 15 (the chip clips;
xylosim takes at most 255).  Returns ``EmulatorResult(outputs={"readout": spikes},
states)``: readout spike counts ``[T, B, N_out]`` int32 (0 or 1); with ``record=True``,
``states`` = :data:`STATE_NAMES`: ``Spikes`` hidden spike counts ``[T, B, N_hid]`` uint8
(0..31), ``Vmem``/``Isyn``/``Isyn2`` ``[T, B, N_hid]`` int16, ``Vmem_out``/``Isyn_out``
``[T, B, N_out]`` int16 (rockpool ``XyloSim`` record names).  Every run starts from the
zero state (xylosim ``reset_all``).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...errors import NirccError
from ..base import Emulator, EmulatorResult
from .program import XyloProgram, shifted_weights
from .spec import XyloSpec, get_spec

STATE_NAMES = ("Spikes", "Vmem", "Isyn", "Isyn2", "Vmem_out", "Isyn_out")

I16_MIN, I16_MAX = -32768, 32767
_SPAN = I16_MAX - I16_MIN


def record_buffers(n_t: int, n_b: int, n_hid: int, n_out: int) -> dict[str, np.ndarray]:
    """Zeroed recordings :data:`STATE_NAMES` with their dtypes and shapes (module docstring)."""
    hid, out = (n_t, n_b, n_hid), (n_t, n_b, n_out)
    return {"Spikes": np.zeros(hid, np.uint8), "Vmem": np.zeros(hid, np.int16), "Isyn": np.zeros(hid, np.int16),
            "Isyn2": np.zeros(hid, np.int16), "Vmem_out": np.zeros(out, np.int16),
            "Isyn_out": np.zeros(out, np.int16)}


def as_input_counts(inputs: Any, n_in: int, node: str = "input") -> np.ndarray:
    """``inputs`` as int64 ``[T, B, n_in]`` (a ``[T, n_in]`` array is batch 1); NirccError
    naming ``node`` for another channel count, negative or non-integer values."""
    x = np.asarray(inputs)
    if x.dtype == np.bool_:
        x = x.astype(np.int64)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
            raise NirccError("input event counts must be integers", node=node, field="inputs")
    elif x.dtype.kind not in "iu":
        raise NirccError(f"input event counts must be integers, got dtype {x.dtype}", node=node,
                         field="inputs")
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[2] != n_in:
        raise NirccError(f"inputs of shape {list(np.shape(inputs))}: expected [T, B, {n_in}] or "
                         f"[T, {n_in}]", node=node, field="inputs")
    x = x.astype(np.int64)
    if x.size and int(x.min()) < 0:
        raise NirccError(f"negative input event count {int(x.min())}", node=node, field="inputs")
    return x


def _wrap16(x: np.ndarray) -> np.ndarray:
    """Two's complement int16 wrap of an int32/int64 array (new array)."""
    return ((x - I16_MIN) & 0xFFFF) + I16_MIN


def _decay_inplace(x: np.ndarray, dash: np.ndarray, one_shl: np.ndarray) -> None:
    """``x -= decay(x, dash)``: floor shift, at least 1 for positive values."""
    small_pos = (x > 0) & (x < one_shl)
    x -= x >> dash
    x -= small_pos


class _Columns:
    """One delivery phase's synaptic-state columns for the exact saturating rule: per
    column its nonzero pre rows (ascending = delivery order) and effective weights,
    position-major (``[position, column]``), padded with weight 0; each column belongs to
    a bucket of padded length (its length rounded up, 4 steps per octave)."""

    def __init__(self, w: np.ndarray) -> None:
        nz = w != 0
        lens = nz.sum(axis=0).astype(np.int64)
        width = max(int(lens.max()) if lens.size else 0, 1)
        self.rows = np.zeros((width, w.shape[1]), np.int64)
        self.weights = np.zeros((width, w.shape[1]), np.int32)
        cols, pres = np.nonzero(nz.T)              # ascending column, then ascending pre row
        pos = np.arange(cols.size) - np.repeat(np.cumsum(lens) - lens, lens)
        self.rows[pos, cols] = pres
        self.weights[pos, cols] = w[pres, cols]
        octave = np.floor(np.log2(np.maximum(lens, 1))).astype(np.int64)
        step = np.maximum(4, 1 << np.maximum(octave - 2, 0))
        bucket = np.minimum(-(-np.maximum(lens, 1) // step) * step, width)
        self.bucket_len, rank = np.unique(bucket, return_inverse=True)
        self.rank = rank.astype(np.uint16)


class XyloEmulator(Emulator):
    """The chip's update (module docstring) for one program, bit-exact with xylosim."""

    #: cost of one synaptic event of the event-driven delivery, in multiply-adds of the
    #: dense product (measured: about 10 ns against 0.013 ns)
    SPARSE_COST = 800
    #: fraction of firing neurons above which spikes are computed on the whole array
    DENSE_FIRING = 0.05

    def __init__(self, program: XyloProgram, spec: Optional[XyloSpec] = None) -> None:
        self.spec = spec or get_spec(program.variant)
        program.validate(self.spec, chip=False)
        self.program = program
        p = program
        n_in, n_hid, n_out = p.n_in, p.n_hidden, p.n_out
        self.n_in, self.n_hid, self.n_out = n_in, n_hid, n_out
        self.n_syn = 2 if p.uses_syn2 else 1
        n_v = n_hid + n_out
        self.n_v = n_v
        # Synaptic-state columns: [hidden syn1 | readout | hidden syn2]; the first n_v line up
        # with the neuron columns [hidden | readout].
        n_cols = n_v + (n_hid if self.n_syn == 2 else 0)
        self.n_cols = n_cols
        w = np.zeros((n_in + n_hid, n_cols), np.int64)
        w[:n_in, :n_hid] = shifted_weights(p.weights_in[:, :, 0], p.weight_shift_in)
        w[n_in:, :n_hid] = shifted_weights(p.weights_rec[:, :, 0], p.weight_shift_rec)
        w[n_in:, n_hid:n_v] = shifted_weights(p.weights_out, p.weight_shift_out)
        if self.n_syn == 2:
            w[:n_in, n_v:] = shifted_weights(p.weights_in[:, :, 1], p.weight_shift_in)
            w[n_in:, n_v:] = shifted_weights(p.weights_rec[:, :, 1], p.weight_shift_rec)
        # positive and negative parts side by side: one product gives both sums
        split = np.concatenate([np.maximum(w, 0), np.minimum(w, 0)], axis=1).astype(np.float32)
        self._w_in_split = np.ascontiguousarray(split[:n_in])
        self._w_hid_split = np.ascontiguousarray(split[n_in:])
        self._build_rows(w[n_in:])
        self._cols_in = _Columns(w[:n_in])
        self._cols_hid = _Columns(w[n_in:])

        dash_i = [p.dash_syn, p.dash_syn_out] + ([p.dash_syn2] if self.n_syn == 2 else [])
        self._dash_i = np.concatenate(dash_i).astype(np.int32)
        self._one_i = (np.int32(1) << self._dash_i).astype(np.int32)
        self._dash_v = np.concatenate([p.dash_mem, p.dash_mem_out]).astype(np.int32)
        self._one_v = (np.int32(1) << self._dash_v).astype(np.int32)
        self._dash_v_zero = bool(np.any(self._dash_v == 0))
        self._thr = np.concatenate([p.threshold, p.threshold_out]).astype(np.int32)
        self._thr_div = np.where(self._thr > 0, self._thr, 1).astype(np.float64)
        self._max = np.concatenate([np.full(n_hid, self.spec.max_hidden_spikes),
                                    np.full(n_out, self.spec.max_readout_spikes)]).astype(np.int32)
        self._nonpos = np.flatnonzero(self._thr <= 0)
        use_bias = self.spec.has_bias and p.bias_enable
        bias = np.concatenate([p.bias, p.bias_out]).astype(np.int32)
        self._bias = bias if use_bias and np.any(bias) else None
        self._build_aliases()

    # ------------------------------------------------------------------ set-up
    def _build_rows(self, w_hid: np.ndarray) -> None:
        """Hidden pre rows as compressed sparse rows for the event-driven delivery: per
        entry its target in the [positive | negative] halves and its signed weight."""
        nz = w_hid != 0
        self._row_len = nz.sum(axis=1).astype(np.int64)
        self._row_ptr = np.concatenate([[0], np.cumsum(self._row_len)]).astype(np.int64)
        rows, cols = np.nonzero(nz)
        vals = w_hid[rows, cols]
        self._row_target = (cols + self.n_cols * (vals < 0)).astype(np.int64)
        self._row_val = vals.astype(np.float64)

    def _build_aliases(self) -> None:
        """Alias levels (see the module docstring) as one-hot summation matrices (float32:
        sums of at most 31 * N_hid are exact)."""
        edges = [(i, a) for i, targets in enumerate(self.program.aliases) for a in targets]
        self._alias_levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._alias_after: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        if not edges:
            return
        level = np.zeros(self.n_hid, np.int64)
        for i, a in sorted(edges, key=lambda e: e[1]):
            if i < a:
                level[a] = max(level[a], level[i] + 1)
        for lev in range(1, int(level.max()) + 1):
            fwd = [(i, a) for i, a in edges if i < a and level[a] == lev]
            self._alias_levels.append(self._summation(fwd))
        after = [(i, a) for i, a in edges if i >= a]
        if after:
            self._alias_after = self._summation(after)

    @staticmethod
    def _summation(edges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(targets, sources, one-hot [sources, targets]): ``n[:, sources] @ one-hot`` sums
        the counts of each target's sources."""
        targets = np.unique([a for _, a in edges])
        srcs = np.array([i for i, _ in edges], np.int64)
        onehot = np.zeros((len(edges), targets.size), np.float32)
        onehot[np.arange(len(edges)), np.searchsorted(targets, [a for _, a in edges])] = 1
        return targets, srcs, onehot

    # ------------------------------------------------------------------ delivery
    def _deliver(self, syn: np.ndarray, counts: np.ndarray, spikes: np.ndarray, inputs_any: bool) -> None:
        """Add this step's events to ``syn`` [B, n_cols] (int32, in place): the input events
        (``counts`` [B, N_in] float32, clipped), then the hidden spikes of the previous step
        (``spikes`` int32 [B, N_hid], also as float32 in ``counts[:, N_in:]``).  Each phase
        is [positive sums | negative sums] per state; when even the sum of both phases'
        extremes keeps every state inside int16, both are added at once."""
        n_in, n_b, n_cols = self.n_in, syn.shape[0], self.n_cols
        inp = counts[:, :n_in] @ self._w_in_split if inputs_any else None
        hid = None
        firing = spikes != 0
        pairs = np.flatnonzero(firing)
        if pairs.size:
            pre = pairs % self.n_hid
            lens = self._row_len[pre]
            n_events = int(lens.sum())
            if n_events * self.SPARSE_COST < n_b * min(pairs.size, self.n_hid) * 2 * n_cols:
                hid = self._events(pairs, pre, lens, n_events, spikes, n_b)
            else:
                active = np.flatnonzero(firing.any(axis=0))
                if active.size * 2 > self.n_hid:
                    hid = counts[:, n_in:] @ self._w_hid_split
                else:
                    hid = counts[:, n_in + active] @ self._w_hid_split[active]
        if inp is None or hid is None:
            if inp is not None:
                self._add(syn, inp, counts[:, :n_in], self._cols_in)
            elif hid is not None:
                self._add(syn, hid, counts[:, n_in:], self._cols_hid)
            return
        top = syn.max() + inp[:, :n_cols].max() + hid[:, :n_cols].max()
        bottom = syn.min() + inp[:, n_cols:].min() + hid[:, n_cols:].min()
        if top <= I16_MAX and bottom >= I16_MIN:
            inp += hid
            np.add(inp[:, :n_cols], inp[:, n_cols:], out=inp[:, :n_cols])
            syn += inp[:, :n_cols].astype(np.int32)
            return
        self._add(syn, inp, counts[:, :n_in], self._cols_in)
        self._add(syn, hid, counts[:, n_in:], self._cols_hid)

    def _add(self, syn: np.ndarray, both: np.ndarray, counts: np.ndarray, table: _Columns) -> None:
        """Add one phase's contributions, given as ``both`` = [positive sums | negative
        sums] per state, with int16 saturation after every pre-neuron (module docstring)."""
        n_cols = self.n_cols
        pos, neg = both[:, :n_cols], both[:, n_cols:]
        if syn.max() + pos.max() <= I16_MAX and syn.min() + neg.min() >= I16_MIN:
            np.add(pos, neg, out=pos)
            syn += pos.astype(np.int32)
            return
        synf = syn.astype(np.float32)
        no_top = synf + pos <= I16_MAX
        no_bottom = synf + neg >= I16_MIN
        bad = np.flatnonzero(~(no_top & no_bottom))
        x0 = syn.reshape(-1)[bad]
        np.add(pos, neg, out=pos)
        syn += pos.astype(np.int32)
        bad_b = bad // n_cols
        syn.reshape(-1)[bad] = self._saturating(x0, bad_b, bad - bad_b * n_cols, counts.astype(np.int32),
                                                no_bottom.reshape(-1)[bad], no_top.reshape(-1)[bad], table)

    def _events(self, pairs: np.ndarray, pre: np.ndarray, lens: np.ndarray, n_events: int,
                spikes: np.ndarray, n_b: int) -> np.ndarray:
        """Event-driven hidden delivery of the firing (sample, neuron) ``pairs`` (flat
        indices into ``spikes``; ``pre`` the neurons, ``lens`` their fan-out entries):
        [B, 2 n_cols] float32 sums of the positive and the negative contributions
        (accumulated in float64: exact; float32 is exact below 2^24, see the module docstring)."""
        width = 2 * self.n_cols
        first = np.cumsum(lens) - lens
        idx = np.repeat(self._row_ptr[pre] - first, lens) + np.arange(n_events)
        target = np.repeat((pairs // self.n_hid) * width, lens) + self._row_target[idx]
        value = np.repeat(spikes.reshape(-1)[pairs].astype(np.float64), lens) * self._row_val[idx]
        return np.bincount(target, weights=value, minlength=n_b * width).astype(np.float32).reshape(n_b, width)

    def _saturating(self, x0: np.ndarray, bs: np.ndarray, cs: np.ndarray, counts: np.ndarray,
                    no_bottom: np.ndarray, no_top: np.ndarray, table: _Columns) -> np.ndarray:
        """Exact sequential saturating delivery for the states (bs, cs) starting at x0
        (module docstring).  ``no_bottom`` / ``no_top``: the state provably never reaches
        the lower / upper bound, so the one-sided form ``x = psi_L - max(0, max psi - H)``
        or ``psi_L - min(0, min psi - L)`` applies; otherwise the two-sided one.

        The contributions are gathered position-major (``[position, state]``) and summed
        by a loop over positions, each one vector add over the states: bounded by the
        longest column of the phase (at most N_in or N_hid positions) and several times
        faster than ``np.cumsum`` along that axis."""
        out = np.empty(x0.shape, np.int32)
        ranks = table.rank[cs]
        order = np.argsort(ranks, kind="stable")      # radix sort of small integers
        sizes = np.bincount(ranks, minlength=table.bucket_len.size)
        stops = np.cumsum(sizes)
        flat = counts.reshape(-1)
        n_pre = counts.shape[1]
        for r in np.flatnonzero(sizes):
            length = int(table.bucket_len[r])
            sel = order[stops[r] - sizes[r]:stops[r]]
            b, c = bs[sel], cs[sel]
            idx = np.take(table.rows[:length], c, axis=1)    # C order, [position, state]
            idx += b * n_pre
            a = flat.take(idx)
            a *= np.take(table.weights[:length], c, axis=1)
            for k in range(1, length):             # prefix sums; |sums| < 1016 * 31 * 32768 < 2^31
                a[k] += a[k - 1]
            x = x0[sel]
            res = x + a[-1]
            up, down = no_bottom[sel], no_top[sel]
            over = x + a.max(axis=0) - I16_MAX
            np.clip(over, 0, None, out=over)
            over *= up
            res -= over
            under = x + a.min(axis=0) - I16_MIN
            np.clip(under, None, 0, out=under)
            under *= down & ~up
            res -= under
            both = np.flatnonzero(~(up | down))
            if both.size:
                res[both] = self._two_sided(x[both], a[:, both].T)
            out[sel] = res
        return out

    @staticmethod
    def _two_sided(x0: np.ndarray, cum: np.ndarray) -> np.ndarray:
        """Clamped walk from ``x0`` with prefix sums ``cum`` [m, L] (Kruk et al. 2007)."""
        psi = np.empty((cum.shape[0], cum.shape[1] + 1), np.int64)
        psi[:, 0] = x0.astype(np.int64) - I16_MIN
        psi[:, 1:] = cum
        psi[:, 1:] += psi[:, :1]
        suffix_min = np.minimum.accumulate(psi[:, ::-1], axis=1)[:, ::-1]
        upper = np.minimum(psi - _SPAN, suffix_min).max(axis=1)
        push = np.maximum(np.minimum(suffix_min[:, 0], 0), upper)
        return (psi[:, -1] - push + I16_MIN).astype(np.int32)

    # ------------------------------------------------------------------ neurons
    def _membrane(self, v: np.ndarray, syn: np.ndarray) -> None:
        """Decay V and integrate the synaptic sum (and bias), in place on ``v`` [B, n_v]."""
        n_v, n_hid = self.n_v, self.n_hid
        isum = syn[:, :n_v].copy()
        if self.n_syn == 2:
            isum[:, :n_hid] += syn[:, n_v:]
        if self.spec.update == "v1":
            _decay_inplace(v, self._dash_v, self._one_v)
            v += isum
            np.clip(v, I16_MIN, I16_MAX, out=v)
            return
        dec = v >> self._dash_v
        dec += (v > 0) & (v < self._one_v)         # decay(V, dash_mem)
        isum -= dec                                 # = int16(-decay) + Isum, before saturation
        if self._dash_v_zero:
            isum -= (dec == I16_MIN) * 65536        # int16(-(-32768)) wraps to -32768
        np.clip(isum, I16_MIN, I16_MAX, out=isum)
        if self._bias is not None:
            isum += self._bias
            np.clip(isum, I16_MIN, I16_MAX, out=isum)
        v += isum
        np.clip(v, I16_MIN, I16_MAX, out=v)

    def _fire(self, v: np.ndarray, n0: Optional[np.ndarray], cols: Optional[np.ndarray]) -> np.ndarray:
        """Spike counts (starting from ``n0``) of the neuron columns ``cols`` (all when
        None); subtracts the thresholds from ``v`` in place."""
        if cols is None:
            thr, thr_div, mx, vv, nonpos = self._thr, self._thr_div, self._max, v, self._nonpos
        else:
            thr, thr_div, mx, vv = self._thr[cols], self._thr_div[cols], self._max[cols], v[:, cols]
            nonpos = np.flatnonzero(thr <= 0)
        n = np.zeros(vv.shape, np.int32) if n0 is None else n0.astype(np.int32)
        above = vv >= thr
        if nonpos.size:
            above[:, nonpos] = False
        n_above = np.count_nonzero(above)
        if n_above > self.DENSE_FIRING * above.size:
            k = np.floor(vv / thr_div)              # exact: |V|, thr < 2^15, true division
            k = np.clip(k, 0, mx - n).astype(np.int32)
            if nonpos.size:
                k[:, nonpos] = 0
            vv -= k * thr
            n += k
        elif n_above:
            flat = np.flatnonzero(above)
            b, j = np.divmod(flat, vv.shape[1])
            k = np.minimum(vv[b, j] // thr[j], mx[j] - n[b, j])
            vv[b, j] -= k * thr[j]
            n[b, j] += k
        if nonpos.size:
            vs, ns, ts, ms = vv[:, nonpos], n[:, nonpos], thr[nonpos], mx[nonpos]
            for _ in range(int(ms.max())):
                go = (vs >= ts) & (ns < ms)
                if not go.any():
                    break
                ns += go
                vs = np.where(go, _wrap16(vs - ts), vs)
            vv[:, nonpos], n[:, nonpos] = vs, ns
        if cols is not None:
            v[:, cols] = vv
        return n

    def _spikes(self, v: np.ndarray) -> np.ndarray:
        """Hidden + readout spike counts [B, n_v] with aliases resolved (module docstring)."""
        if not self._alias_levels:
            n = self._fire(v, None, None)
        else:
            level_cols = np.concatenate([lev[0] for lev in self._alias_levels])
            v_before = v[:, level_cols].copy()
            n = self._fire(v, None, None)
            v[:, level_cols] = v_before
            for targets, srcs, onehot in self._alias_levels:
                n0 = np.minimum(n[:, srcs].astype(np.float32) @ onehot, self.spec.max_hidden_spikes)
                n[:, targets] = self._fire(v, n0, targets)
        if self._alias_after is not None:
            targets, srcs, onehot = self._alias_after
            added = n[:, targets] + (n[:, srcs].astype(np.float32) @ onehot).astype(np.int32)
            n[:, targets] = np.minimum(added, self.spec.max_hidden_spikes)
        return n

    # ------------------------------------------------------------------ run
    def run(self, inputs: Any, record: bool = False) -> EmulatorResult:
        x = as_input_counts(inputs, self.n_in)
        n_t, n_b, _ = x.shape
        n_in, n_hid, n_out, n_v = self.n_in, self.n_hid, self.n_out, self.n_v
        x_clip = np.minimum(x, self.spec.max_input_events).astype(np.float32)
        inputs_any = x_clip.reshape(n_t, n_b * n_in).any(axis=1)
        syn = np.zeros((n_b, self.n_cols), np.int32)
        v = np.zeros((n_b, n_v), np.int32)
        counts = np.zeros((n_b, n_in + n_hid), np.float32)
        spikes = np.zeros((n_b, n_hid), np.int32)
        out = np.zeros((n_t, n_b, n_out), np.int32)
        rec: dict[str, np.ndarray] = {}
        if record:
            rec = record_buffers(n_t, n_b, n_hid, n_out)
        for t in range(n_t if n_b else 0):
            counts[:, :n_in] = x_clip[t]
            self._deliver(syn, counts, spikes, bool(inputs_any[t]))
            _decay_inplace(syn, self._dash_i, self._one_i)
            self._membrane(v, syn)
            n = self._spikes(v)
            spikes = np.ascontiguousarray(n[:, :n_hid])
            counts[:, n_in:] = spikes
            out[t] = n[:, n_hid:]
            if record:
                rec["Spikes"][t] = spikes
                rec["Vmem"][t] = v[:, :n_hid]
                rec["Isyn"][t] = syn[:, :n_hid]
                if self.n_syn == 2:
                    rec["Isyn2"][t] = syn[:, n_v:]
                rec["Vmem_out"][t] = v[:, n_hid:]
                rec["Isyn_out"][t] = syn[:, n_hid:n_v]
        return EmulatorResult(outputs={"readout": out}, states=rec)
