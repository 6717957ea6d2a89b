"""Quantization framework: float parameters -> a target's integer formats, with a report.

Backends declare number formats and call this module; they do not hand-roll quantization.

Vocabulary
==========
*Scale group*: the tensors a chip adds or compares in one integer domain (the weights,
bias, threshold and state of one layer).  The group has one real **gain** ``g`` (or one per
channel, e.g. per post-synaptic neuron): a float value ``x`` is ``x * g`` in the integer
domain.  Each tensor stores integer mantissas ``q`` in its :class:`NumberFormat`; a mantissa
means ``q * 2**e`` in the integer domain, ``e`` being the tensor's exponent (chosen from the
format's exponent range, 0 when the format has none).  Hence::

    x  ~  q * step,      step = 2**e / g      (the float value of one LSB)

rockpool's and sinabs' ``scale`` (``W_int = round(scale * W)``) is the gain ``g`` here.

Choice of the gain ("use the range best without clipping"): every tensor bounds it by the
largest gain at which its extreme values still round into its range with its largest
exponent, on both sides: ``g <= q_max 2**e_max / max(x)`` if ``max(x) > 0`` and
``g <= q_min 2**e_max / min(x)`` if ``min(x) < 0`` (sinabs' ``discretize`` rule: the
scale is limited by every tensor of the layer).  The group gain is the smallest bound, per
channel for per-channel groups.  So a threshold that would exceed int16 at the weights'
gain lowers the gain for the whole group (rockpool's threshold guard, done in one step).
A tensor with ``percentile=p`` bounds the gain by the p-th percentile of ``|x|`` instead
and clips the rest (SpiNNaker2's ``weight_scale_percentile``).  A tensor with
``bounds_gain=False`` follows the gain chosen by the others (and may clip); a gain given
by the caller is used as is.  A channel (or group) that nothing bounds (all zeros) gets
gain 1.  Then each tensor takes the *smallest* exponent of its range at which its values
fit (best precision).  Per-channel groups share one exponent per tensor.

Number formats
==============
:class:`NumberFormat` = ``bits``, ``signed``, an optional narrower range ``lo``/``hi``
(e.g. SpiNNaker2's symmetric [-127, 127]), an exponent range ``exponents=(e_min, e_max)``
(a fixed shift when ``e_min == e_max``, e.g. Loihi's threshold ``<< 6``), a rounding mode,
whether out-of-range values saturate (``clip=True``) or are an error, and the numpy storage
dtype (default: the smallest signed/unsigned integer type holding the range).

==============  =====================================================================
rounding        integer nearest to ``x``
==============  =====================================================================
``half_even``   nearest, ties to even (``numpy.round``, ``torch.round``; rockpool, sinabs)
``half_away``   nearest, ties away from zero (C ``round``)
``floor``       toward -inf (an arithmetic right shift)
``trunc``       toward zero (a C cast, ``tensor.int()``)
==============  =====================================================================

Formats of the four chips (the backends' specs hold the authoritative tables):

==========  ===============================================================================
Xylo        weights int8 (input, recurrent, output matrices), threshold int16, bias int16,
            one gain per layer or per post-neuron (rockpool ``global_quantize`` /
            ``channel_quantize``); decays 4-bit unsigned ``dash``: ``decay = 1 - 2**-dash``
            (:func:`bitshift_decay`)
Speck       weights int8, biases int8, thresholds and state int16, one gain per layer
            limited by every tensor (sinabs ``discretize_conv_spike``)
Loihi 2     weights: ``num_weight_bits``-bit mantissa (signed for the mixed sign mode,
            unsigned for excitatory/inhibitory on ``|w|``) with a per-layer exponent range;
            threshold 17-bit unsigned mantissa with fixed exponent 6; bias 13-bit signed
            mantissa with exponent 0..7; du/dv 12-bit unsigned linear decays
            ``x *= (4096 - d) / 4096`` (:func:`linear_decay`)
SpiNNaker2  weights integers in [-127, 127] (``lo=-127``), [-15, 15] for models with delays,
            one float gain per post population; threshold and i_offset stay float32,
            multiplied by the same gain
==========  ===============================================================================

Report
======
Every tensor result carries the gain(s), its exponent and step, the values the integers
represent (``dequantize()``; ``effective`` in summaries), the maximum absolute error
``max |x - q step|`` (float units), the maximum relative error (that error divided by
``max |x|`` of the tensor), the count of clipped values and the count of nonzero values
rounded to zero.  Decay results carry the realised decay factor and the effective time
constant under the chosen discretization.  :class:`QuantizationReport` collects results,
turns them into JSON-able summaries and into diagnostics (clipping, values lost to zero,
approximated time constants).

Without clipping, ``|x - q step| <= step / 2`` for the round-to-nearest modes and
``< step`` for ``floor``/``trunc``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

from ...errors import Diagnostic, NirccError

__all__ = [
    "ROUNDING", "NumberFormat", "Tensor", "QuantizedTensor", "GroupResult", "DecayResult",
    "QuantizationReport", "quantize_group", "quantize_tensor", "bitshift_decay", "linear_decay",
    "effective_tau",
]

ROUNDING = ("half_even", "half_away", "floor", "trunc")
DISCRETIZATIONS = ("euler", "exact", "rockpool")   # the last two decay by exp(-dt/tau)
F64 = np.float64
ArrayLike = Union[np.ndarray, float, Sequence[float]]


# ----------------------------------------------------------------------------- formats
def _smallest_int_dtype(lo: int, hi: int) -> np.dtype:
    kinds = (np.uint8, np.uint16, np.uint32, np.uint64) if lo >= 0 else (np.int8, np.int16, np.int32, np.int64)
    for t in kinds:
        info = np.iinfo(t)
        if info.min <= lo and hi <= info.max:
            return np.dtype(t)
    raise ValueError(f"no numpy integer type holds [{lo}, {hi}]")


@dataclass(frozen=True)
class NumberFormat:
    """An integer mantissa format (see the module docstring).

    bits:      mantissa width; range ``[-2**(bits-1), 2**(bits-1) - 1]`` if ``signed``,
               else ``[0, 2**bits - 1]``
    lo, hi:    a narrower range inside that one (e.g. ``lo=-127`` for [-127, 127])
    exponents: ``(e_min, e_max)``: a mantissa ``q`` means ``q * 2**e`` with ``e`` chosen in
               this range (``(6, 6)``: a fixed left shift by 6; negative: right shifts)
    rounding:  one of :data:`ROUNDING`
    clip:      saturate out-of-range values (counted in the report); False: raise
    dtype:     numpy storage dtype (default: the smallest integer type holding the range)
    name:      a label for reports (default e.g. ``"int8"``, ``"uint17<<6"``)
    """

    bits: int
    signed: bool = True
    lo: Optional[int] = None
    hi: Optional[int] = None
    exponents: tuple[int, int] = (0, 0)
    rounding: str = "half_even"
    clip: bool = True
    dtype: Optional[str] = None
    name: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 63:
            raise ValueError(f"bits must be in 1..63, got {self.bits}")
        if self.rounding not in ROUNDING:
            raise ValueError(f"rounding must be one of {ROUNDING}, got {self.rounding!r}")
        full_lo = -(1 << (self.bits - 1)) if self.signed else 0
        full_hi = (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1
        if not full_lo <= self.qmin <= self.qmax <= full_hi:
            raise ValueError(f"range [{self.qmin}, {self.qmax}] does not fit {self.bits} "
                             f"{'signed' if self.signed else 'unsigned'} bits [{full_lo}, {full_hi}]")
        e0, e1 = self.exponents
        if e0 > e1:
            raise ValueError(f"exponents {self.exponents}: e_min > e_max")
        info = np.iinfo(self.np_dtype)
        if self.qmin < info.min or self.qmax > info.max:
            raise ValueError(f"dtype {self.dtype} does not hold [{self.qmin}, {self.qmax}]")

    @property
    def qmin(self) -> int:
        if self.lo is not None:
            return int(self.lo)
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        if self.hi is not None:
            return int(self.hi)
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype) if self.dtype is not None else _smallest_int_dtype(self.qmin, self.qmax)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        s = f"{'int' if self.signed else 'uint'}{self.bits}"
        full = NumberFormat(self.bits, self.signed)
        if (self.qmin, self.qmax) != (full.qmin, full.qmax):
            s += f"[{self.qmin},{self.qmax}]"
        e0, e1 = self.exponents
        if (e0, e1) != (0, 0):
            s += f"<<{e0}" if e0 == e1 else f"<<[{e0},{e1}]"
        return s

    def round(self, x: np.ndarray) -> np.ndarray:
        """``x`` rounded to integers (float64) by this format's rounding mode."""
        x = np.asarray(x, dtype=F64)
        if self.rounding == "half_even":
            return np.rint(x)
        if self.rounding == "half_away":
            return np.sign(x) * np.floor(np.abs(x) + 0.5)
        if self.rounding == "floor":
            return np.floor(x)
        return np.trunc(x)

    @property
    def tolerance(self) -> float:
        """Slack (in LSB) for float rounding of ``x * gain`` at the ends of the range: a
        gain chosen as ``q_max / max(x)`` may give ``q_max (1 + 1e-16)``."""
        return 1e-9 + 8 * np.finfo(F64).eps * max(-self.qmin, self.qmax)

    def fits(self, x: np.ndarray) -> bool:
        """Do all of ``x`` (integer-domain values / 2**e) lie in ``[qmin, qmax]`` (up to
        :attr:`tolerance`)?  The test the gain rule uses, for every rounding mode."""
        if np.size(x) == 0:
            return True
        tol = self.tolerance
        return bool(np.min(x) >= self.qmin - tol and np.max(x) <= self.qmax + tol)

    def clipped(self, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Where rounding ``x`` gave ``r`` outside the range by more than float rounding
        at its ends (those saturate silently)."""
        tol = self.tolerance
        return ((r < self.qmin) & (x < self.qmin - tol)) | ((r > self.qmax) & (x > self.qmax + tol))


# ----------------------------------------------------------------------------- tensors
@dataclass(frozen=True)
class Tensor:
    """One tensor of a scale group.

    axis:        the channel axis (per-channel groups only)
    percentile:  bound the gain by this percentile of ``|x|`` (0 < p <= 100), clipping above
    bounds_gain: False: do not limit the group gain (the tensor follows it and may clip)
    node, field: where the values come from (for the report and errors)
    """

    name: str
    values: ArrayLike
    fmt: NumberFormat
    axis: Optional[int] = None
    percentile: Optional[float] = None
    bounds_gain: bool = True
    node: Optional[str] = None
    field: Optional[str] = None


@dataclass(frozen=True)
class QuantizedTensor:
    """A quantized tensor: ``q`` (dtype ``fmt.np_dtype``) means ``q * 2**exponent / gain``."""

    name: str
    q: np.ndarray
    fmt: NumberFormat
    exponent: int
    gain: Union[float, np.ndarray]
    axis: Optional[int]
    size: int
    max_abs: float           # max |x| of the input
    max_abs_error: float     # max |x - q step|
    max_rel_error: float     # max_abs_error / max |x| (0 for an all-zero tensor)
    clipped: int             # values saturated to the range
    zeroed: int              # nonzero values whose mantissa is 0
    node: Optional[str] = None
    field: Optional[str] = None

    @property
    def step(self) -> Union[float, np.ndarray]:
        """The float value of one LSB (per channel for per-channel groups)."""
        return (2.0 ** self.exponent) / self.gain

    def _expand(self, per_channel: np.ndarray) -> np.ndarray:
        if np.ndim(per_channel) == 0 or self.axis is None:
            return np.asarray(per_channel, dtype=F64)
        shape = [1] * self.q.ndim
        shape[self.axis] = -1
        return np.asarray(per_channel, dtype=F64).reshape(shape)

    def dequantize(self) -> np.ndarray:
        """The values the integers represent, in float units (float64)."""
        return self.q.astype(F64) * self._expand(self.step)

    def summary(self) -> dict:
        return {
            "name": self.name, "node": self.node, "field": self.field, "format": self.fmt.label,
            "dtype": self.fmt.np_dtype.name, "exponent": self.exponent, "gain": brief(self.gain),
            "step": brief(self.step), "effective": brief(self.dequantize()), "size": self.size,
            "max_abs": self.max_abs,
            "max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
            "clipped": self.clipped, "zeroed": self.zeroed,
        }


@dataclass(frozen=True)
class GroupResult:
    """A quantized scale group: the gain (scalar or ``[channels]``) and its tensors."""

    name: str
    gain: Union[float, np.ndarray]
    tensors: dict[str, QuantizedTensor]
    limited_by: tuple[str, ...]     # the tensor(s) whose bound set the gain
    node: Optional[str] = None

    def __getitem__(self, name: str) -> QuantizedTensor:
        return self.tensors[name]

    def summary(self) -> dict:
        return {"name": self.name, "node": self.node, "gain": brief(self.gain), "limited_by": list(self.limited_by),
                "tensors": [t.summary() for t in self.tensors.values()]}


def brief(x) -> Union[float, dict]:
    """A float, or min/max/count of an array (for JSON summaries)."""
    a = np.asarray(x, dtype=F64)
    if a.ndim == 0:
        return float(a)
    if a.size and np.all(a == a.flat[0]):
        return float(a.flat[0])
    return {"min": float(a.min()), "max": float(a.max()), "count": int(a.size)}


def _values(t: Tensor) -> np.ndarray:
    x = np.asarray(t.values, dtype=F64)
    if x.size and not np.all(np.isfinite(x)):
        raise NirccError(f"cannot quantize {t.name!r}: {int(np.sum(~np.isfinite(x)))} values are NaN or infinite",
                         t.node, t.field or t.name)
    return x


def _channel_view(x: np.ndarray, axis: Optional[int], channels: Optional[int], name: str) -> np.ndarray:
    """``x`` as ``[channels, rest]`` (per-channel) or ``[1, all]``."""
    if channels is None:
        return x.reshape(1, -1)
    if axis is None or x.ndim == 0:
        raise ValueError(f"per-channel group: tensor {name!r} needs a channel axis")
    if x.shape[axis] != channels:
        raise ValueError(f"tensor {name!r} has {x.shape[axis]} entries along axis {axis}, the group {channels} channels")
    return np.moveaxis(x, axis, 0).reshape(channels, -1)


def _gain_bound(t: Tensor, xc: np.ndarray) -> np.ndarray:
    """Per channel: the largest gain at which ``t`` fits its format with its largest
    exponent (inf where nothing bounds it)."""
    fmt = t.fmt
    top = 2.0 ** fmt.exponents[1]
    c = xc.shape[0]
    bound = np.full(c, np.inf)
    if xc.shape[1] == 0:
        return bound
    with np.errstate(divide="ignore", invalid="ignore"):
        if t.percentile is not None:
            mag = np.percentile(np.abs(xc), t.percentile, axis=1)
            room = min(fmt.qmax, -fmt.qmin) if fmt.qmin < 0 else fmt.qmax
            bound = np.where(mag > 0, room * top / mag, np.inf)
        else:
            hi = xc.max(axis=1)
            lo = xc.min(axis=1)
            if fmt.qmax > 0:
                bound = np.minimum(bound, np.where(hi > 0, fmt.qmax * top / hi, np.inf))
            if fmt.qmin < 0:
                bound = np.minimum(bound, np.where(lo < 0, fmt.qmin * top / lo, np.inf))
    return bound


def _choose_exponent(t: Tensor, xg: np.ndarray) -> int:
    """The smallest exponent of the format at which ``xg`` (integer-domain values, or the
    percentile-bounded part of them) lies in the range; the largest if none does."""
    e0, e1 = t.fmt.exponents
    if t.percentile is not None and xg.size:
        m = float(np.percentile(np.abs(xg), t.percentile))
        probe = np.array([-m if t.fmt.qmin < 0 else 0.0, m])
    elif xg.size:
        probe = np.array([xg.min(), xg.max()])
    else:
        return e0
    for e in range(e0, e1 + 1):
        if t.fmt.fits(probe / 2.0 ** e):
            return e
    return e1


def quantize_group(tensors: Sequence[Tensor], *, channels: Optional[int] = None,
                   gain: Optional[ArrayLike] = None, name: str = "", node: Optional[str] = None) -> GroupResult:
    """Quantize tensors that share one gain (or one per channel when ``channels`` is given,
    each tensor then naming its channel ``axis``).  ``gain``: a fixed gain instead of the
    best one.  Raises NirccError when a format with ``clip=False`` would clip."""
    if not tensors:
        raise ValueError("a scale group needs at least one tensor")
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise ValueError(f"tensor names must be unique, got {names}")
    xs = [_values(t) for t in tensors]
    views = [_channel_view(x, t.axis, channels, t.name) for x, t in zip(xs, tensors)]
    n_ch = 1 if channels is None else channels
    limited_by: tuple[str, ...] = ()
    if gain is None:
        bounds = [(t.name, _gain_bound(t, v)) for t, v in zip(tensors, views) if t.bounds_gain]
        g = np.full(n_ch, np.inf)
        for _, b in bounds:
            g = np.minimum(g, b)
        limited_by = tuple(nm for nm, b in bounds if np.any((b == g) & np.isfinite(g)))
        g = np.where(np.isfinite(g), g, 1.0)
    else:
        g = np.broadcast_to(np.asarray(gain, dtype=F64), (n_ch,)).copy()
        if np.any(~(g > 0)) or not np.all(np.isfinite(g)):
            raise ValueError(f"gain must be positive and finite, got {gain!r}")
    gain_out: Union[float, np.ndarray] = float(g[0]) if channels is None else g
    results: dict[str, QuantizedTensor] = {}
    for t, x, v in zip(tensors, xs, views):
        xg_c = v * g[:, None]
        e = _choose_exponent(t, xg_c)
        scaled = xg_c / 2.0 ** e
        r = t.fmt.round(scaled)
        clipped = int(np.count_nonzero(t.fmt.clipped(scaled, r)))
        if clipped and not t.fmt.clip:
            raise NirccError(f"{clipped} of {x.size} values of {t.name!r} exceed {t.fmt.label} "
                             f"[{t.fmt.qmin}, {t.fmt.qmax}] at gain {brief(gain_out)}", t.node, t.field or t.name)
        qc = np.clip(r, t.fmt.qmin, t.fmt.qmax)
        err = np.abs(v - qc * (2.0 ** e) / g[:, None])
        max_abs = float(np.abs(v).max()) if v.size else 0.0
        max_err = float(err.max()) if err.size else 0.0
        if channels is None:
            q = qc.reshape(x.shape)
        else:
            ax = t.axis % x.ndim
            moved = (x.shape[ax],) + tuple(s for i, s in enumerate(x.shape) if i != ax)
            q = np.moveaxis(qc.reshape(moved), 0, ax)
        results[t.name] = QuantizedTensor(
            name=t.name, q=q.astype(t.fmt.np_dtype), fmt=t.fmt, exponent=int(e), gain=gain_out,
            axis=None if channels is None else t.axis % x.ndim, size=int(x.size), max_abs=max_abs,
            max_abs_error=max_err, max_rel_error=max_err / max_abs if max_abs > 0 else 0.0, clipped=clipped,
            zeroed=int(np.count_nonzero((v != 0) & (qc == 0))), node=t.node if t.node is not None else node,
            field=t.field)
    return GroupResult(name or names[0], gain_out, results, limited_by, node)


def quantize_tensor(values: ArrayLike, fmt: NumberFormat, *, gain: Optional[float] = None,
                    percentile: Optional[float] = None, name: str = "x", node: Optional[str] = None,
                    field: Optional[str] = None) -> QuantizedTensor:
    """A group of one tensor: its own best gain (or ``gain``)."""
    return quantize_group([Tensor(name, values, fmt, percentile=percentile, node=node, field=field)],
                          gain=gain, name=name, node=node)[name]


# ----------------------------------------------------------------------------- decays
def _decay_target(tau: np.ndarray, dt: float, discretization: str) -> np.ndarray:
    """The decay factor per step that ``tau`` means under ``discretization``."""
    if discretization == "euler":
        return 1.0 - dt / tau
    return np.exp(-dt / tau)


def effective_tau(decay: ArrayLike, dt: float, discretization: str) -> np.ndarray:
    """The time constant a per-step decay factor realises: euler ``dt / (1 - decay)``,
    exact ``-dt / ln(decay)`` (inf for decay 1; 0 (exact) or dt (euler) for decay 0)."""
    if discretization not in DISCRETIZATIONS:
        raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {discretization!r}")
    a = np.asarray(decay, dtype=F64)
    with np.errstate(divide="ignore"):
        if discretization == "euler":
            return np.where(a < 1, dt / np.maximum(1.0 - a, 0.0), np.inf)
        return np.where(a >= 1, np.inf, np.where(a <= 0, 0.0, -dt / np.log(np.clip(a, 1e-300, 1.0))))


@dataclass(frozen=True)
class DecayResult:
    """A quantized decay: integers ``q`` realising the factor ``decay`` per step, i.e. the
    time constant ``tau_effective`` under ``discretization`` (requested: ``tau``)."""

    name: str
    kind: str                 # "bitshift" or "linear"
    q: np.ndarray
    fmt: NumberFormat
    tau: np.ndarray
    dt: float
    discretization: str
    decay: np.ndarray
    tau_effective: np.ndarray
    max_rel_tau_error: float  # max |tau_effective - tau| / tau
    clipped: int
    node: Optional[str] = None
    field: Optional[str] = None

    def summary(self) -> dict:
        return {"name": self.name, "node": self.node, "field": self.field, "kind": self.kind,
                "format": self.fmt.label, "dtype": self.fmt.np_dtype.name, "dt": self.dt,
                "discretization": self.discretization, "q": brief(self.q), "tau": brief(self.tau),
                "tau_effective": brief(self.tau_effective), "decay": brief(self.decay),
                "max_rel_tau_error": self.max_rel_tau_error, "clipped": self.clipped}


def _check_tau(tau: ArrayLike, dt: float, discretization: str, node, field) -> np.ndarray:
    if discretization not in DISCRETIZATIONS:
        raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {discretization!r}")
    if not dt > 0:
        raise NirccError(f"dt must be > 0, got {dt}", node, "dt")
    t = np.asarray(tau, dtype=F64)
    if t.size and (not np.all(np.isfinite(t)) or np.any(t <= 0)):
        raise NirccError(f"time constants must be finite and > 0, got min {float(np.min(t)):g}", node, field)
    if discretization == "euler" and t.size and np.any(t < dt):
        raise NirccError(f"tau {float(np.min(t)):g} < dt {dt:g}: forward Euler decay 1 - dt/tau would be "
                         f"negative", node, field)
    return t


def _decay_result(name, kind, q_real, fmt, t, dt, discretization, realised, node, field) -> DecayResult:
    r = fmt.round(q_real)
    over = fmt.clipped(q_real, r)
    q = np.clip(r, fmt.qmin, fmt.qmax)
    decay = realised(q)
    tau_eff = effective_tau(decay, dt, discretization)
    with np.errstate(invalid="ignore"):
        rel = np.abs(tau_eff - t) / t
    return DecayResult(name, kind, q.astype(fmt.np_dtype), fmt, t, float(dt), discretization, decay, tau_eff,
                       float(np.max(rel)) if rel.size else 0.0, int(np.count_nonzero(over)), node, field)


def bitshift_decay(tau: ArrayLike, dt: float, *, discretization: str,
                   fmt: NumberFormat = NumberFormat(4, signed=False), name: str = "dash",
                   node: Optional[str] = None, field: Optional[str] = None) -> DecayResult:
    """A decay by a right shift (Xylo's ``dash``): ``x -= x >> dash``, so the factor per
    step is ``1 - 2**-dash``.  The real-valued shift matching ``tau`` is
    ``log2(tau / dt)`` (euler: ``1 - dt/tau``; rockpool's mapper) or
    ``-log2(1 - exp(-dt/tau))`` (exact); it is rounded by ``fmt.rounding`` (half-even, as
    rockpool's ``np.round``) and clipped to ``fmt`` (default 4-bit unsigned, 0..15)."""
    t = _check_tau(tau, dt, discretization, node, field)
    with np.errstate(divide="ignore"):
        real = np.log2(t / dt) if discretization == "euler" else -np.log2(-np.expm1(-dt / t))
    return _decay_result(name, "bitshift", real, fmt, t, dt, discretization,
                         lambda q: 1.0 - 2.0 ** -q, node, field)


def linear_decay(tau: ArrayLike, dt: float, *, discretization: str, frac_bits: int = 12, offset: int = 0,
                 fmt: Optional[NumberFormat] = None, name: str = "decay", node: Optional[str] = None,
                 field: Optional[str] = None) -> DecayResult:
    """A decay by a fixed-point factor (Loihi's du/dv): ``x *= (2**frac_bits - (q + offset))
    / 2**frac_bits``.  ``q = round(2**frac_bits * (1 - decay)) - offset`` with ``decay`` the
    factor ``tau`` means under ``discretization`` (euler: ``q = round(4096 dt / tau)`` for
    12 bits); ``fmt`` defaults to ``frac_bits``-bit unsigned (0..4095).  ``offset`` is the
    constant the hardware adds (lava's ``ds_offset = 1`` for u, ``dm_offset = 0`` for v)."""
    t = _check_tau(tau, dt, discretization, node, field)
    fmt = fmt if fmt is not None else NumberFormat(frac_bits, signed=False)
    unity = float(1 << frac_bits)
    real = unity * (1.0 - _decay_target(t, dt, discretization)) - offset
    return _decay_result(name, "linear", real, fmt, t, dt, discretization,
                         lambda q: (unity - (q + offset)) / unity, node, field)


# ----------------------------------------------------------------------------- report
def _values_text(a) -> str:
    a = np.asarray(a, dtype=F64)
    if a.size == 0:
        return "[]"
    if np.all(a == a.flat[0]):
        return f"{a.flat[0]:.6g}"
    return f"{a.min():.6g}..{a.max():.6g} ({a.size} values)"


@dataclass
class QuantizationReport:
    """Quantization results of a compilation, for reports and diagnostics."""

    groups: list[GroupResult] = field(default_factory=list)
    decays: list[DecayResult] = field(default_factory=list)

    def add(self, result: Union[GroupResult, DecayResult]) -> Union[GroupResult, DecayResult]:
        (self.groups if isinstance(result, GroupResult) else self.decays).append(result)
        return result

    def to_dict(self) -> dict:
        return {"groups": [g.summary() for g in self.groups], "decays": [d.summary() for d in self.decays]}

    def diagnostics(self, stage: str, tau_tolerance: float = 0.0) -> list[Diagnostic]:
        """Warnings: values clipped (``quant-clipped``), nonzero values rounded to zero
        (``quant-zeroed``), time constants realised with a relative error above
        ``tau_tolerance`` (``tau-approximated``, requested and realised values)."""
        out: list[Diagnostic] = []
        for g in self.groups:
            for t in g.tensors.values():
                where = dict(node=t.node, field=t.field or t.name, stage=stage)
                if t.clipped:
                    out.append(Diagnostic("warning", "quant-clipped", f"{t.clipped} of {t.size} values of {t.name!r} "
                                          f"saturated to {t.fmt.label} [{t.fmt.qmin}, {t.fmt.qmax}] (max |x| "
                                          f"{t.max_abs:.6g}, step {_values_text(t.step)})", **where))
                if t.zeroed:
                    out.append(Diagnostic("warning", "quant-zeroed", f"{t.zeroed} of {t.size} nonzero values of "
                                          f"{t.name!r} round to 0 in {t.fmt.label} (step {_values_text(t.step)})",
                                          **where))
        for d in self.decays:
            if d.max_rel_tau_error > tau_tolerance:
                out.append(Diagnostic("warning", "tau-approximated", f"{d.name}: requested tau "
                                      f"{_values_text(d.tau)} s, realised {_values_text(d.tau_effective)} s by "
                                      f"{d.kind} decay {_values_text(d.q)} ({d.discretization}, dt {d.dt:g} s; "
                                      f"max relative error {d.max_rel_tau_error:.3g})", node=d.node,
                                      field=d.field or d.name, stage=stage))
            if d.clipped:
                out.append(Diagnostic("warning", "quant-clipped", f"{d.clipped} of {d.q.size} {d.name} values "
                                      f"saturated to {d.fmt.label} [{d.fmt.qmin}, {d.fmt.qmax}]", node=d.node,
                                      field=d.field or d.name, stage=stage))
        return out

    def table(self) -> str:
        """One line per tensor and decay (a human-readable summary)."""
        lines = [f"{'node':<16} {'tensor':<12} {'format':<14} {'gain':>10} {'max abs err':>11} "
                 f"{'rel err':>8} {'clipped':>7} {'zeroed':>6}"]
        for g in self.groups:
            for t in g.tensors.values():
                lines.append(f"{str(t.node):<16} {t.name:<12} {t.fmt.label:<14} {_values_text(t.gain):>10} "
                             f"{t.max_abs_error:11.3g} {t.max_rel_error:8.2%} {t.clipped:7d} {t.zeroed:6d}")
        for d in self.decays:
            lines.append(f"{str(d.node):<16} {d.name:<12} {d.fmt.label:<14} tau {_values_text(d.tau)} -> "
                         f"{_values_text(d.tau_effective)} ({d.discretization})")
        return "\n".join(lines)
