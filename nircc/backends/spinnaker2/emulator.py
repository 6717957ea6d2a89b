"""Float32 emulator of an :class:`~nircc.backends.spinnaker2.program.S2Program`.

The update of ``targets/spinnaker2.md`` §2 ([trace]-checked for ``lif_no_delay``; the rest
[inferred] where the chip code is not public), per time step ``t = 0 .. T-1``, vectorized
over neurons and batch (one numpy operation per population and per projection):

Synaptic input
    A spike emitted at step ``t`` by a pre-synaptic neuron reaches its post neuron at step
    ``t + 1 + delay`` (every projection adds one step of latency; ``delay`` is the raw field,
    0 on the ``*_no_delay`` models and on Conv2DProjections).  ``I(t)`` is the exact integer
    sum of the weights arriving at ``t``, converted to float32 once.  Accumulation runs in
    float32 while the post population's bound ``max_j sum |w_ij|`` (over all its projections,
    x pooling area for conv) is below ``2**24`` (every partial sum is then an exact
    integer), otherwise in float64; the result is the same.  Duplicate rows are summed.
    Float weights (never produced by nircc) are made integers first, as py-spinnaker2
    does with an unknown rule: ``weight_rounding="round"`` (default; ``np.rint``, ties to
    even) or ``"trunc"`` (toward 0).  The paper trace (102.02 -> 102) fits both; nircc's
    lowering emits integers, so the default only matters for float weights from elsewhere,
    and rounding is the smaller error.  (s2_nir truncates conv kernels itself with
    ``astype(np.int8)``; programs hold those as int8 already.)

``lif``, ``lif_no_delay`` and ([inferred]) ``lif_conv2d`` (all float32, in this order, no
fused multiply-add)::

    v = fl(fl(fl(alpha_decay * v) + I) + i_offset)
    spike = v > threshold
    v = v - threshold (reset_by_subtraction)  |  v = v_reset (reset_to_v_reset)   where spike

``lif_curr_exp``, ``lif_curr_exp_no_delay``: two synaptic currents, excitatory (positive
weights) and inhibitory (negative weights, kept negative), with
``I_exc = fl(fl(exc_decay * I_exc) + in_exc)`` (``I_inh`` likewise with ``inh_decay``) and
``I = fl(I_exc + I_inh)`` in the membrane update above.  The order is an option
(``lif_curr_exp_order``; the chip's is unknown, and py-spinnaker2's Brian2 backend is
documented to differ from the chip here):

* ``"current_first"`` (default): the currents are updated with this step's input, then
  ``v`` uses them -- input at step ``t`` moves ``v`` at ``t``.  This is SpiNNaker1's
  (sPyNNaker) synapse-then-neuron order, snnTorch's ``Synaptic`` and nircc.sim's CubaLIF; the
  snnTorch-trained Braille models score higher on the chip (93.57 %) than on Brian2 (90.71 %),
  which fits Brian2 being the one that delays the input;
* ``"voltage_first"``: ``v`` uses the currents of the previous step, then they are updated --
  input at ``t`` moves ``v`` at ``t + 1`` (Brian2's usual schedule).

``t_refrac`` (steps, ``lif_curr_exp*``; [inferred] from SpiNNaker1): after a spike, ``v``
is held (no update, no spike) for ``t_refrac`` steps; the currents keep integrating.

Recorded ``v`` is the value after the reset.  Spikes are 0/1 per step.

Conv2DProjection: sum-pool the pre spikes by ``(pool_y, pool_x)``, pad, cross-correlate with
the int8 kernel and stride ``(stride_y, stride_x)`` (``y`` = rows; geometry in ``program.py``).

Inputs and outputs
------------------
``run(inputs=None, record=False)``: ``inputs`` is a 0/1 raster ``[T, B, N]`` for the
program's only ``spike_list`` population, or a dict ``{population: [T, B, N]}``; a
``spike_list`` population missing from the dict (or ``inputs=None``, then ``T`` =
``program.timesteps`` and ``B = 1``) uses its params ``{neuron: [steps]}`` in every sample.
Returns ``EmulatorResult``: ``outputs[name]`` = ``uint8 [T, B, N]`` spikes of every population
recording ``"spikes"``; ``states[name + "/v"]`` = ``float32 [T, B, N]`` post-reset ``v`` of
every population recording ``"v"``.  With ``record=True`` additionally ``states[name + "/v"]``
of every neuron population, ``states[name + "/output"]`` (uint8 spikes) of every neuron
population and ``states[name + "/i_exc"]`` / ``"/i_inh"`` of the ``lif_curr_exp*`` populations
(the ``<node>/<state>`` keys of :mod:`nircc.backends.io`).

Synapse storage: a projection (per delay value and synapse type) is a dense matrix when
``n_pre * n_post <= dense_limit`` (one matrix product per step), otherwise an event-driven
CSR gather (``np.bincount`` over the synapses of the neurons that spiked).  Both are exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import NirccError
from ..base import Emulator, EmulatorResult
from .program import Conv2DProjection, ListProjection, Population, S2Program, raster_from_spike_list
from .spec import get_model

CURR_EXP_ORDERS = ("current_first", "voltage_first")
WEIGHT_ROUNDINGS = ("round", "trunc")
#: float32 holds every integer of magnitude <= 2**24 exactly
FLOAT32_EXACT = 2 ** 24
DEFAULT_DENSE_LIMIT = 2 ** 22

F32 = np.float32


def quantize_weights(w: np.ndarray, mode: str) -> np.ndarray:
    """Integer weights (int64) of a weight column: unchanged when already integer, else
    ``np.rint`` (``"round"``, ties to even) or ``np.trunc`` (``"trunc"``)."""
    w = np.asarray(w)
    if w.dtype.kind in "iu":
        return w.astype(np.int64)
    return (np.rint(w) if mode == "round" else np.trunc(w)).astype(np.int64)


# ---------------------------------------------------------------------- synaptic paths
@dataclass(eq=False)
class _Path:
    """One (projection, delay, synapse type): spikes of ``pre`` -> input of ``post``."""

    pre: str
    post: str
    delay: int
    channel: int
    n_post: int
    dense: Optional[np.ndarray] = None
    indptr: Optional[np.ndarray] = None
    targets: Optional[np.ndarray] = None
    values: Optional[np.ndarray] = None
    conv: Optional[Conv2DProjection] = None
    kernel: Optional[np.ndarray] = None

    def deliver(self, spikes: np.ndarray, fspikes: np.ndarray) -> Optional[np.ndarray]:
        """Input ``[B, n_post]`` caused by ``spikes`` (bool ``[B, n_pre]``; ``fspikes`` the
        same as float32), or None when nothing arrives."""
        if self.dense is not None:
            s = fspikes if self.dense.dtype == F32 else fspikes.astype(self.dense.dtype)
            return s @ self.dense
        if self.conv is not None:
            return self._conv(fspikes)
        b, i = np.nonzero(spikes)
        starts = self.indptr[i]
        counts = self.indptr[i + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return None
        first = np.cumsum(counts) - counts
        syn = np.repeat(starts - first, counts) + np.arange(total)
        flat = np.repeat(b, counts) * self.n_post + self.targets[syn]
        out = np.bincount(flat, weights=self.values[syn], minlength=spikes.shape[0] * self.n_post)
        return out.reshape(spikes.shape[0], self.n_post)

    def _conv(self, fspikes: np.ndarray) -> np.ndarray:
        q = self.conv
        p = q.conv_params
        c_in, h, w = q.input_shape()
        B = fspikes.shape[0]
        x = fspikes.reshape(B, c_in, h, w)
        if self.kernel.dtype != F32:
            x = x.astype(self.kernel.dtype)
        py, px = p["pool_y"], p["pool_x"]
        if py > 1 or px > 1:
            ph, pw = q.pooled_shape()
            x = x[:, :, :ph * py, :pw * px].reshape(B, c_in, ph, py, pw, px).sum(axis=(3, 5))
        if p["pad_top"] or p["pad_bottom"] or p["pad_left"] or p["pad_right"]:
            x = np.pad(x, ((0, 0), (0, 0), (p["pad_top"], p["pad_bottom"]), (p["pad_left"], p["pad_right"])))
        c_out, ho, wo = q.output_shape()
        kh, kw = self.kernel.shape[2:]
        win = sliding_window_view(x, (kh, kw), axis=(2, 3))
        win = win[:, :, :(ho - 1) * p["stride_y"] + 1:p["stride_y"], :(wo - 1) * p["stride_x"] + 1:p["stride_x"]]
        out = np.tensordot(win, self.kernel, axes=([1, 4, 5], [0, 2, 3]))      # [B, ho, wo, c_out]
        return out.transpose(0, 3, 1, 2).reshape(B, c_out * ho * wo)


def _list_paths(q: ListProjection, n_pre: int, n_post: int, channels: int, rounding: str,
                dense_limit: int) -> tuple[list[_Path], np.ndarray]:
    """The paths of a list projection and the per-post-neuron sum of |w| (for the bound)."""
    pre, post, delay = q.pre_idx, q.post_idx, q.delays
    w = quantize_weights(q.weights, rounding)
    abs_sum = np.bincount(post, weights=np.abs(w).astype(np.float64), minlength=n_post)
    paths = []
    for d in np.unique(delay):
        for ch in range(channels):
            sel = delay == d
            if channels == 2:
                sel &= (w > 0) if ch == 0 else (w < 0)
            sel &= w != 0
            if not sel.any():
                continue
            path = _Path(q.pre, q.post, int(d), ch, n_post)
            if n_pre * n_post <= dense_limit:
                m = np.zeros((n_pre, n_post), np.float64)
                np.add.at(m, (pre[sel], post[sel]), w[sel].astype(np.float64))
                path.dense = m
            else:
                order = np.argsort(pre[sel], kind="stable")
                path.indptr = np.concatenate([[0], np.cumsum(np.bincount(pre[sel], minlength=n_pre))])
                path.targets = post[sel][order]
                path.values = w[sel][order].astype(np.float64)
            paths.append(path)
    return paths, abs_sum


def _conv_path(q: Conv2DProjection) -> tuple[_Path, float]:
    """The path of a conv projection and its bound ``pool area * max_c_out sum |K|``."""
    c_out, ho, wo = q.output_shape()
    k = q.weights.astype(np.float64)
    bound = q.conv_params["pool_y"] * q.conv_params["pool_x"] * float(np.abs(k).sum(axis=(0, 2, 3)).max())
    return _Path(q.pre, q.post, 0, 0, c_out * ho * wo, conv=q, kernel=k), bound


# ---------------------------------------------------------------------- populations
@dataclass(eq=False)
class _Neurons:
    """Constants of one neuron population, as float32 scalars or ``[N]`` arrays."""

    pop: Population
    channels: int
    slots: int = 1
    acc: Any = F32
    threshold: Any = None
    alpha: Any = None
    i_offset: Optional[Any] = None
    v_reset: Any = None
    subtract: bool = True
    exc_decay: Any = None
    inh_decay: Any = None
    t_refrac: Any = None
    paths: list = field(default_factory=list)

    @classmethod
    def build(cls, pop: Population) -> "_Neurons":
        model = get_model(pop.neuron_model)
        prm = pop.params
        n = cls(pop, channels=model.synapse_types)
        n.threshold, n.alpha, n.v_reset = prm["threshold"], prm["alpha_decay"], prm["v_reset"]
        n.i_offset = prm["i_offset"] if np.any(prm["i_offset"] != 0) else None
        n.subtract = prm["reset"] == "reset_by_subtraction"
        if model.has_synaptic_current:
            n.exc_decay, n.inh_decay = prm["exc_decay"], prm["inh_decay"]
            n.t_refrac = prm["t_refrac"] if np.any(prm["t_refrac"] > 0) else None
        return n

    def membrane(self, v: np.ndarray, drive: np.ndarray) -> np.ndarray:
        """``fl(fl(fl(alpha * v) + drive) + i_offset)`` as a new array."""
        out = v * self.alpha
        out += drive
        if self.i_offset is not None:
            out += self.i_offset
        return out

    def fire(self, v: np.ndarray, active: Optional[np.ndarray] = None) -> np.ndarray:
        """Spikes of ``v`` (only where ``active``, when given) and their reset, in place."""
        spikes = v > self.threshold
        if active is not None:
            spikes &= active
        if self.subtract:
            np.subtract(v, self.threshold, out=v, where=spikes)
        else:
            np.copyto(v, np.broadcast_to(self.v_reset, v.shape), where=spikes)
        return spikes


class _State:
    """Per-run state of one neuron population (all ``[B, N]``)."""

    def __init__(self, n: _Neurons, batch: int) -> None:
        size = n.pop.size
        self.v = np.zeros((batch, size), F32)
        self.buf = np.zeros((n.slots, n.channels, batch, size), n.acc)
        if n.channels == 2:
            self.i_exc = np.zeros((batch, size), F32)
            self.i_inh = np.zeros((batch, size), F32)
        if n.t_refrac is not None:
            self.refrac = np.zeros((batch, size), np.int64)


# ---------------------------------------------------------------------- the emulator
class S2Emulator(Emulator):
    """Float32 model of py-spinnaker2's neuron update (module docstring).

    ``lif_curr_exp_order``: ``"current_first"`` (default) | ``"voltage_first"``.
    ``weight_rounding``: ``"round"`` (default) | ``"trunc"``: how float weights become
    integers (integer weights, all that nircc emits, are unaffected).
    ``dense_limit``: largest ``n_pre * n_post`` stored as a dense matrix (speed only).
    """

    def __init__(self, program: S2Program, lif_curr_exp_order: str = "current_first",
                 weight_rounding: str = "round", dense_limit: int = DEFAULT_DENSE_LIMIT) -> None:
        if lif_curr_exp_order not in CURR_EXP_ORDERS:
            raise NirccError(f"unknown lif_curr_exp_order {lif_curr_exp_order!r} (known: "
                             f"{', '.join(CURR_EXP_ORDERS)})", field="lif_curr_exp_order")
        if weight_rounding not in WEIGHT_ROUNDINGS:
            raise NirccError(f"unknown weight_rounding {weight_rounding!r} (known: {', '.join(WEIGHT_ROUNDINGS)})",
                             field="weight_rounding")
        program.validate()
        self.program = program
        self.lif_curr_exp_order = lif_curr_exp_order
        self.weight_rounding = weight_rounding
        self.neurons: dict[str, _Neurons] = {p.name: _Neurons.build(p) for p in program.populations
                                             if not p.is_input}
        self.inputs = [p for p in program.populations if p.is_input]
        bounds = {name: np.zeros(n.pop.size) for name, n in self.neurons.items()}
        conv_bounds = {name: 0.0 for name in self.neurons}
        self.paths: list[_Path] = []
        for q in program.projections:
            post = self.neurons[q.post]
            if isinstance(q, ListProjection):
                paths, abs_sum = _list_paths(q, program.population(q.pre).size, post.pop.size, post.channels,
                                             weight_rounding, dense_limit)
                bounds[q.post] += abs_sum
            else:
                path, bound = _conv_path(q)
                paths = [path]
                conv_bounds[q.post] += bound
            self.paths.extend(paths)
            post.slots = max(post.slots, 1 + max((p.delay for p in paths), default=0))
        for name, n in self.neurons.items():
            total = float(bounds[name].max(initial=0.0)) + conv_bounds[name]
            n.acc = F32 if total < FLOAT32_EXACT else np.float64
        for path in self.paths:
            acc = self.neurons[path.post].acc
            for attr in ("dense", "values", "kernel"):
                arr = getattr(path, attr)
                if arr is not None:
                    setattr(path, attr, arr.astype(acc))

    # ------------------------------------------------------------------ inputs
    def _input_rasters(self, inputs: Any) -> tuple[dict[str, np.ndarray], int, int]:
        given: dict[str, Any]
        if inputs is None:
            given = {}
        elif isinstance(inputs, Mapping):
            given = dict(inputs)
            unknown = sorted(set(given) - {p.name for p in self.inputs})
            if unknown:
                raise NirccError(f"inputs for {unknown}, which are not spike_list populations (those are "
                                 f"{[p.name for p in self.inputs]})", field="inputs")
        else:
            if len(self.inputs) != 1:
                raise NirccError(f"the program has {len(self.inputs)} spike_list populations "
                                 f"{[p.name for p in self.inputs]}: give inputs as a dict by name", field="inputs")
            given = {self.inputs[0].name: inputs}
        rasters: dict[str, np.ndarray] = {}
        shapes = set()
        for p in self.inputs:
            if p.name not in given:
                continue
            r = np.asarray(given[p.name])
            if r.ndim != 3 or r.shape[2] != p.size:
                raise NirccError(f"input raster must be [T, B, {p.size}], got {list(r.shape)}", p.name, "inputs")
            if r.dtype.kind not in "biuf" or not np.all((r == 0) | (r == 1)):
                raise NirccError("input raster must hold 0/1 spikes (one spike per neuron and step)",
                                 p.name, "inputs")
            rasters[p.name] = r.astype(bool)
            shapes.add(r.shape[:2])
        if len(shapes) > 1:
            raise NirccError(f"input rasters disagree on [T, B]: {sorted(shapes)}", field="inputs")
        T, B = shapes.pop() if shapes else (self.program.timesteps, 1)
        for p in self.inputs:
            if p.name not in rasters:
                params = {k: v[v < T] for k, v in p.params.items()}
                one = raster_from_spike_list(params, p.size, T).astype(bool)
                rasters[p.name] = np.broadcast_to(one[:, None, :], (T, B, p.size))
        return rasters, T, B

    # ------------------------------------------------------------------ run
    def run(self, inputs: Any = None, record: bool = False) -> EmulatorResult:
        """Run ``T`` steps from the zero state (module docstring for inputs and outputs)."""
        rasters, T, B = self._input_rasters(inputs)
        states = {name: _State(n, B) for name, n in self.neurons.items()}
        rec_spikes, rec_v, rec_syn = {}, {}, {}
        for p in self.program.populations:
            if p.is_input:
                continue
            if "spikes" in p.record or record:
                rec_spikes[p.name] = np.zeros((T, B, p.size), np.uint8)
            if "v" in p.record or record:
                rec_v[p.name] = np.zeros((T, B, p.size), F32)
            if record and self.neurons[p.name].channels == 2:
                rec_syn[p.name] = (np.zeros((T, B, p.size), F32), np.zeros((T, B, p.size), F32))
        voltage_first = self.lif_curr_exp_order == "voltage_first"
        for t in range(T):
            spikes: dict[str, np.ndarray] = {name: r[t] for name, r in rasters.items()}
            for name, n in self.neurons.items():
                st = states[name]
                slot = t % n.slots
                arrived = st.buf[slot].astype(F32)
                st.buf[slot] = 0
                spikes[name] = self._step(n, st, arrived, voltage_first)
                if name in rec_spikes:
                    rec_spikes[name][t] = spikes[name]
                if name in rec_v:
                    rec_v[name][t] = st.v
                if name in rec_syn:
                    rec_syn[name][0][t] = st.i_exc
                    rec_syn[name][1][t] = st.i_inh
            fspikes: dict[str, np.ndarray] = {}
            for path in self.paths:
                s = spikes[path.pre]
                if path.pre not in fspikes:
                    fspikes[path.pre] = s.astype(F32) if s.any() else None
                if fspikes[path.pre] is None:
                    continue
                contribution = path.deliver(s, fspikes[path.pre])
                if contribution is not None:
                    post = self.neurons[path.post]
                    states[path.post].buf[(t + 1 + path.delay) % post.slots, path.channel] += contribution
        outputs = {name: rec_spikes[name] for name in rec_spikes
                   if "spikes" in self.program.population(name).record}
        result_states = {f"{name}/v": rec_v[name] for name in rec_v}
        if record:
            for name, arr in rec_spikes.items():
                result_states[f"{name}/output"] = arr
            for name, (exc, inh) in rec_syn.items():
                result_states[f"{name}/i_exc"] = exc
                result_states[f"{name}/i_inh"] = inh
        return EmulatorResult(outputs=outputs, states=result_states)

    @staticmethod
    def _step(n: _Neurons, st: _State, arrived: np.ndarray, voltage_first: bool) -> np.ndarray:
        """One step of one population: update ``st`` in place, return its spikes (bool)."""
        if n.channels == 1:
            v_new = n.membrane(st.v, arrived[0])
        else:
            if voltage_first:
                v_new = n.membrane(st.v, st.i_exc + st.i_inh)
            st.i_exc *= n.exc_decay
            st.i_exc += arrived[0]
            st.i_inh *= n.inh_decay
            st.i_inh += arrived[1]
            if not voltage_first:
                v_new = n.membrane(st.v, st.i_exc + st.i_inh)
        if n.t_refrac is None:
            st.v = v_new
            return n.fire(st.v)
        active = st.refrac == 0
        st.v = np.where(active, v_new, st.v)
        spikes = n.fire(st.v, active)
        st.refrac = np.where(spikes, n.t_refrac, np.maximum(st.refrac - 1, 0))
        return spikes
