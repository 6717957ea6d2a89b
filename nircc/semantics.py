"""Semantic options that NIR files do not carry, and the detection of ``dt``.

NIR defines every neuron as a continuous-time ODE and leaves the discrete-time update to
each backend.  Frameworks disagree on seven points, none of which a ``.nir`` file records
(see ``docs/semantics.md`` for the equations each option selects):

===============  =========================================  ==============================
option           values (default first)                     what it decides
===============  =========================================  ==============================
``dt``           seconds, or ``None`` (detect, see below)   length of one time step
discretization   ``"euler"`` | ``"exact"`` | ``"rockpool"``   decay ``1 - dt/tau`` or
                                                            ``exp(-dt/tau)``, and the
                                                            input gains (:func:`decay`)
reset            ``"zero"`` | ``"subtract"``                ``v = v_reset`` or ``v -= thr``
reset_timing     ``"immediate"`` | ``"next_step"``          reset in the spike's step or in
                                                            the following one (snnTorch)
spike            ``"single"`` | ``"multi"``                 at most one spike per step, or
                                                            ``floor(v / thr)`` spikes
threshold        ``">"`` | ``">="``                         the comparison that fires
initial_v        ``"zero"`` | ``"leak"``                    membrane at t = 0: 0 or v_leak
v_min            ``"none"`` | ``"-threshold"``              a floor on v after the reset:
                                                            none, or ``v >= -v_threshold``
                                                            (sinabs' ``min_v_mem``)
===============  =========================================  ==============================

Defaults follow the NIR documentation where it speaks (``v = v_reset`` right after
``v > v_threshold``) and forward Euler of the documented ODEs where it does not (NIR fixes no
discretization).  A *preset* sets all of them as one framework does;
:data:`PRESETS` lists each preset's settings and the source they were read from.

``dt`` is not stored in NIR, but exporters hide it in ``r`` and ``w_in``:

* snnTorch writes ``r = tau_mem / dt`` and ``w_in = tau_syn / dt`` (so that the Euler step
  adds the input with gain 1);
* Rockpool writes ``r = tau * exp(-dt / tau) / dt``.

:func:`detect_dt` recognises both, per node, and reports the implied ``dt`` (or the
disagreement); :func:`resolve_dt` turns it into the ``dt`` to use plus diagnostics, and
never guesses silently.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

import numpy as np

from .errors import Diagnostics, NirccError

if TYPE_CHECKING:  # pragma: no cover
    from .ir.graph import Graph

#: The ``dt`` used when neither the user nor the file gives one (DESIGN.md "Time").
DEFAULT_DT = 1e-3

#: Allowed values of each option; the first is the default (the NIR documentation's).
CHOICES: dict[str, tuple[str, ...]] = {
    "discretization": ("euler", "exact", "rockpool"),
    "reset": ("zero", "subtract"),
    "reset_timing": ("immediate", "next_step"),
    "spike": ("single", "multi"),
    "threshold": (">", ">="),
    "initial_v": ("zero", "leak"),
    "v_min": ("none", "-threshold"),
}


@dataclass(frozen=True)
class Preset:
    """A named set of options and where they were read."""

    settings: dict[str, Any]
    source: str


#: The presets.  Every setting not listed is the NIR default.  Sources are the frameworks'
#: own code (repository @ commit, file) or the target notes in ``/work/shared/targets``.
PRESETS: dict[str, Preset] = {
    "nir": Preset(
        {},
        "neuromorphs/NIR @ 7232ada nir/ir/neuron.py docstrings (nir 1.0.8): the ODEs, z = 1 if "
        "v > v_thr, then v = v_reset; NIR fixes no discretization (docs/source/primitives.md), "
        "forward Euler is the one Norse, snnTorch's export, Lava (dv = dt/tau) and the paper's "
        "SpiNNaker2 runs use (docs/semantics.md)",
    ),
    "norse": Preset(
        {"dt": 1e-3, "initial_v": "leak"},
        "norse/norse @ 065a3b45 norse/torch/utils/import_nir.py + functional/lif_box.py: "
        "dv = dt*tau_mem_inv*(v_leak - v + i), spike on v_decayed - v_th > 0 (heaviside), "
        "reset_value (v = v_reset) in the same step, initial state v = v_leak; dt = 1e-3 "
        "(LIFBoxCell's default; Norse's to_nir writes no dt); "
        "reproduces paper/01_lif/lif_norse.csv (tests/sim/test_paper.py)",
    ),
    "snntorch": Preset(
        {"reset": "subtract", "reset_timing": "next_step"},
        "jeshraghian/snntorch @ 634fc22 snntorch/_neurons/leaky.py: mem = beta*mem + input - "
        "reset*threshold with reset = heaviside(mem_prev - threshold) (reset_delay=True, "
        "reset_mechanism='subtract' by default), spike = (mem - threshold > 0) "
        "(snntorch/surrogate.py); export_nir.py writes r = tau_mem/dt, w_in = tau_syn/dt, dt = 1e-4",
    ),
    "rockpool": Preset(
        {"discretization": "rockpool", "reset": "subtract", "spike": "multi", "threshold": ">="},
        "synsense/rockpool 3.1.0 rockpool/nn/modules/torch/lif_torch.py LIFTorch.forward: isyn += x, "
        "isyn *= exp(-dt/tau_syn), vmem *= exp(-dt/tau_mem), vmem += isyn (+ bias); spikes = (v >= thr) * "
        "floor(v / thr) (StepPWL), v -= spikes*thr in the same step; nn/modules/torch/nir.py to_nir writes "
        "r = tau_mem exp(-dt/tau_mem)/dt, w_in = 1 (benchmarks/deploy/fixtures/rockpool_lif_ff reproduces)",
    ),
    "sinabs": Preset(
        {"dt": 1.0, "discretization": "exact", "reset": "subtract", "spike": "multi", "threshold": ">=",
         "v_min": "-threshold"},
        "targets/speck.md §2.2/§4 (sinabs 3.1.3): IAF adds the input once per step (v += x, so "
        "NIR's v += dt*r*x with r = 1 needs dt = 1), time constants count steps, MultiSpike "
        "floor(v/thr), MembraneSubtract, spike on v >= thr; min_v_mem = -v_threshold, as sinabs' "
        "from_nir builds it and its Speck tutorials train (IAFSqueeze(min_v_mem=-1.0), threshold 1)",
    ),
    "lava-dl": Preset(
        {},
        "lava-nc/lava-dl @ d825ac5 slayer/neuron/cuba.py ('Loihi spikes if voltage > vth') and "
        "targets/loihi.md §2 (Lava LIF: u = u(1-du) + a_in, v = v(1-dv) + u, s = v > vth, v[s] = 0; "
        "du = dt/tau_syn, dv = dt/tau_mem): Euler, '>', reset to zero in the same step",
    ),
    "spinnaker2": Preset(
        {"discretization": "exact", "reset": "subtract"},
        "targets/spinnaker2.md §2-3 (py-spinnaker2 s2_nir ConversionConfig defaults "
        "integrator=EXPONENTIAL: a = exp(-dt/tau), rf = (1-a)*r; reset=SUBTRACT; "
        "spike(t) = v(t) > threshold, post-reset v recorded in the same step)",
    ),
}


def _check_dt(dt: Any, field: str = "dt") -> Optional[float]:
    if dt is None:
        return None
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise NirccError(f"dt must be a number of seconds, got {dt!r}", field=field) from None
    if not math.isfinite(value) or value <= 0:
        raise NirccError(f"dt must be a positive, finite number of seconds, got {dt!r}", field=field)
    return value


@dataclass(frozen=True)
class Semantics:
    """The discrete-time semantics of one simulation or compilation (see the module doc).

    ``preset_name`` names the preset the options started from (``None``: the NIR defaults);
    it is recorded with the options, which are always authoritative.
    """

    dt: Optional[float] = None
    discretization: str = "euler"
    reset: str = "zero"
    reset_timing: str = "immediate"
    spike: str = "single"
    threshold: str = ">"
    initial_v: str = "zero"
    v_min: str = "none"
    preset_name: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dt", _check_dt(self.dt))
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise NirccError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, "
                                 f"got {value!r}", field=name)
        if self.preset_name is not None and self.preset_name not in PRESETS:
            raise NirccError(f"unknown semantics preset {self.preset_name!r} (known: {', '.join(PRESETS)})",
                             field="semantics")

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return tuple(PRESETS)

    @classmethod
    def preset(cls, name: str) -> "Semantics":
        """The options of the named preset (see :data:`PRESETS`)."""
        key = str(name).lower()
        if key not in PRESETS:
            raise NirccError(f"unknown semantics preset {name!r} (known: {', '.join(PRESETS)})",
                             field="semantics")
        return cls(preset_name=key, **PRESETS[key].settings)

    @classmethod
    def from_options(cls, preset: Optional[str] = None, **overrides: Any) -> "Semantics":
        """Start from ``preset`` (default: the NIR defaults) and apply ``overrides``;
        overrides that are ``None`` are ignored (unset command-line flags)."""
        base = cls.preset(preset) if preset is not None else cls()
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)} - {"preset_name"})
        if unknown:
            raise NirccError(f"unknown semantics option(s) {unknown} (known: dt, {', '.join(CHOICES)})",
                             field=unknown[0])
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(base, **changes) if changes else base

    @classmethod
    def coerce(cls, value: Union[None, str, "Semantics", Mapping[str, Any]]) -> "Semantics":
        """The one reading of a ``semantics=`` argument, for every API that takes one:
        ``None`` (NIR's defaults), a preset name (case-insensitive, e.g. ``"snntorch"``), a
        :class:`Semantics`, or a mapping of options (``{"preset": "norse", "reset":
        "subtract"}``).  Anything else is a NirccError naming the field."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls.preset(value)
        if isinstance(value, Mapping):
            opts = dict(value)
            preset = opts.pop("preset", None) or opts.pop("preset_name", None)
            return cls.from_options(preset, **opts)
        raise NirccError(f"semantics must be a preset name ({', '.join(PRESETS)}), a nircc.Semantics or a "
                         f"dict of options, not {type(value).__name__}", field="semantics")

    def with_dt(self, dt: Optional[float]) -> "Semantics":
        return dataclasses.replace(self, dt=dt)

    def decay(self, tau: Any, role: str = "mem") -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)`` of time constant(s) ``tau`` at this dt (which must be set): the
        update ``v <- a v + b (v_leak + r d)`` of docs/semantics.md; see :func:`decay`."""
        if self.dt is None:
            raise ValueError("Semantics.decay needs dt; resolve it first (resolve_dt / with_dt)")
        return decay(tau, self.dt, self.discretization, role)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able record of every option (written into results and artifacts)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def describe(self, name: bool = True) -> str:
        dt = "detect" if self.dt is None else f"{self.dt:g} s"
        name = f"{self.preset_name}: " if self.preset_name and name else ""
        floor = ", v >= -threshold" if self.v_min == "-threshold" else ""
        return (f"{name}dt={dt}, {self.discretization}, reset {self.reset} ({self.reset_timing}), "
                f"{self.spike} spike, v {self.threshold} threshold, initial v {self.initial_v}{floor}")

    def differences(self, other: "Semantics") -> dict[str, tuple[Any, Any]]:
        """The options (dt included, preset name not) whose values differ: ``name -> (self's, other's)``."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)
                if f.name != "preset_name" and getattr(self, f.name) != getattr(other, f.name)}


def decay(tau: Any, dt: float, discretization: str, role: str = "mem") -> tuple[np.ndarray, np.ndarray]:
    """Decay ``a`` and input gain ``b`` (float64 arrays) of time constant(s) ``tau``, for the
    update ``x <- a x + b (input)`` (``role`` "syn": the synaptic current of a Cuba node,
    "mem": a membrane):

    * ``euler``: ``a = 1 - dt/tau``, ``b = dt/tau`` (forward Euler of ``tau x' = -x + u``);
    * ``exact``: ``a = exp(-dt/tau)``, ``b = -expm1(-dt/tau)`` (= ``1 - a``; the exact
      solution over one step with ``u`` held constant);
    * ``rockpool``: ``a = exp(-dt/tau)``; the synapse adds its input before it decays
      (``b = a``: ``i = a (i + w_in x)``) and the membrane adds the current undecayed with
      the gain rockpool's ``r = tau exp(-dt/tau)/dt`` encodes: ``b = (dt/tau) exp(dt/tau)``, so
      ``b r = 1`` (rockpool's ``LIFTorch``: ``vmem = a vmem + isyn``).

    The single definition used by the simulator and by whoever derives chip decays."""
    h = float(dt) / np.asarray(tau, dtype=np.float64)
    if discretization == "euler":
        return 1.0 - h, h
    if discretization == "exact":
        return np.exp(-h), -np.expm1(-h)
    if discretization == "rockpool":
        a = np.exp(-h)
        return a, (a.copy() if role == "syn" else h * np.exp(h))
    raise ValueError(f"unknown discretization {discretization!r}")


def delay_steps(delay: Any, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """A Delay's ``delay`` (seconds) in whole steps of ``dt``, and where that is exact.

    ``q = delay / dt``; within ``1e-9 * max(1, q)`` of an integer it is that integer
    (``3e-4 / 1e-4`` is 2.9999999999999996), else ``floor(q + 0.5)`` (halves round up).
    Returns ``(steps int64, whole bool)`` element-wise."""
    q = np.asarray(delay, dtype=np.float64) / float(dt)
    near = np.round(q)
    whole = np.abs(q - near) <= 1e-9 * np.maximum(1.0, q)
    return np.where(whole, near, np.floor(q + 0.5)).astype(np.int64), whole


# ----------------------------------------------------------------------------- dt detection
#: Relative tolerance within which implied dts agree (NIR files store float32 parameters).
DT_RTOL = 1e-4

ENCODINGS: dict[str, str] = {
    "snntorch": "snnTorch: r = tau_mem/dt, w_in = tau_syn/dt",
    "rockpool": "Rockpool: r = tau*exp(-dt/tau)/dt",
}

# (tau field, r-like field, encodings that use this pair) per node type
_DT_FIELDS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "LI": (("tau", "r", ("snntorch", "rockpool")),),
    "LIF": (("tau", "r", ("snntorch", "rockpool")),),
    "CubaLI": (("tau_mem", "r", ("snntorch", "rockpool")), ("tau_syn", "w_in", ("snntorch",))),
    "CubaLIF": (("tau_mem", "r", ("snntorch", "rockpool")), ("tau_syn", "w_in", ("snntorch",))),
}


@dataclass(frozen=True)
class DtEvidence:
    """One parameter pair that implies a dt under one encoding."""

    node: str
    encoding: str
    field: str
    dt: float        # mean implied dt over the node's elements
    spread: float    # (max - min) / mean over the elements (0 for a uniform layer)


@dataclass(frozen=True)
class DtReport:
    """What the file's parameters say about dt (see :func:`detect_dt`).

    ``dt`` is the consensus (``None`` when nothing is implied or the evidence conflicts),
    ``encoding`` the exporter convention that explains every parameter, ``conflict`` a
    one-line description of the disagreement, ``per_node`` the implied dt of each node
    under the chosen encoding (or, on conflict, under the best-fitting encoding).
    """

    evidence: tuple[DtEvidence, ...]
    dt: Optional[float]
    encoding: Optional[str]
    per_node: dict[str, float]
    conflict: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"dt": self.dt, "encoding": self.encoding, "per_node": dict(self.per_node),
                "conflict": self.conflict,
                "evidence": [dataclasses.asdict(e) for e in self.evidence]}


def _lambert_w(y: np.ndarray) -> np.ndarray:
    """Principal branch W(y) for y > 0 (x with x e^x = y), Newton/Halley to float64 precision."""
    x = np.log1p(y)  # a good start for y > 0
    for _ in range(60):
        ex = np.exp(x)
        f = x * ex - y
        step = f / (ex * (x + 1) - (x + 2) * f / (2 * x + 2))
        x = x - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(np.abs(x), 1e-300)):
            break
    return x


def implied_dt(encoding: str, tau: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """The dt that ``encoding`` implies for time constant(s) ``tau`` and ``r``/``w_in``
    value(s) ``gain`` (NaN where it implies nothing: gain = 1 exactly, or gain/tau <= 0).

    * snnTorch ``gain = tau/dt``  =>  ``dt = tau / gain``;
    * Rockpool ``gain = tau exp(-dt/tau)/dt``  =>  ``x = dt/tau`` solves ``x e^x = 1/gain``,
      ``dt = tau W(1/gain)`` (Lambert W).
    """
    tau = np.asarray(tau, dtype=np.float64)
    gain = np.asarray(gain, dtype=np.float64)
    tau, gain = np.broadcast_arrays(tau, gain)
    ok = (gain > 0) & (tau > 0) & (gain != 1.0) & np.isfinite(gain) & np.isfinite(tau)
    out = np.full(tau.shape, np.nan)
    if not ok.any():
        return out
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # absurd r: no dt
        if encoding == "snntorch":
            out[ok] = tau[ok] / gain[ok]
        elif encoding == "rockpool":
            out[ok] = tau[ok] * _lambert_w(1.0 / gain[ok])
        else:
            raise ValueError(f"unknown encoding {encoding!r}")
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def _round_number(dt: float) -> bool:
    """At most three significant digits (1e-4, 2.5e-4, 1.25e-3, ...), to float32 precision."""
    m = dt / 10.0 ** math.floor(math.log10(dt))
    return abs(m * 100 - round(m * 100)) <= 1e-4 * m * 100


def _snap(dt: float) -> float:
    """A dt within float32 precision of a round number (see :func:`_round_number`) is that
    number exactly (the float32 parameters of a file give 9.99999927e-05 for 1e-4)."""
    if not _round_number(dt):
        return dt
    e = math.floor(math.log10(dt))
    return float(f"{round(dt / 10.0 ** e, 2)}e{e}")


def _agree(values: list[float]) -> bool:
    return max(values) - min(values) <= DT_RTOL * min(values)


def detect_dt(graph: "Graph") -> DtReport:
    """Recognise the exporter encodings of dt in ``r`` and ``w_in`` (module docstring).

    Every LI/LIF/CubaLI/CubaLIF parameter pair with ``r`` (or ``w_in``) different from 1
    gives one implied dt per encoding.  An encoding explains the file when all its implied
    dts agree (relative :data:`DT_RTOL`), across the elements of each node and across
    nodes.  If both encodings explain it (a single node can fit both), the one with more
    agreeing parameters wins (an snnTorch CubaLIF agrees in ``r`` and ``w_in``), then the one
    whose dt has at most three significant digits; if that does not decide, it is a conflict.
    """
    evidence: list[DtEvidence] = []
    for node in graph.nodes:
        t = graph.type(node)
        for tau_f, gain_f, encs in _DT_FIELDS.get(t, ()):
            op = graph.op(node)
            tau, gain = getattr(op, tau_f, None), getattr(op, gain_f, None)
            if tau is None or gain is None:
                continue
            for enc in encs:
                vals = implied_dt(enc, tau, gain)
                vals = vals[np.isfinite(vals)]
                if vals.size == 0:
                    continue
                mean = float(vals.mean())
                evidence.append(DtEvidence(node, enc, gain_f, mean, float((vals.max() - vals.min()) / mean)))
    if not evidence:
        return DtReport((), None, None, {})

    by_enc: dict[str, list[DtEvidence]] = {}
    for e in evidence:
        by_enc.setdefault(e.encoding, []).append(e)
    fits = {enc: ev for enc, ev in by_enc.items()
            if all(e.spread <= DT_RTOL for e in ev) and _agree([e.dt for e in ev])}

    def per_node(ev: list[DtEvidence]) -> dict[str, float]:
        out: dict[str, list[float]] = {}
        for e in ev:
            out.setdefault(e.node, []).append(e.dt)
        return {n: float(np.mean(v)) for n, v in out.items()}

    def consensus(ev: list[DtEvidence]) -> float:
        return _snap(float(np.mean([e.dt for e in ev])))

    if len(fits) > 1:
        # the encoding with more agreeing parameters (snnTorch CubaLIF: r and w_in) wins,
        # then the one whose dt is a round number
        most = max(len(ev) for ev in fits.values())
        fits = {enc: ev for enc, ev in fits.items() if len(ev) == most}
        if len(fits) > 1:
            fits = {enc: ev for enc, ev in fits.items() if _round_number(consensus(ev))} or fits
    if len(fits) == 1:
        enc, ev = next(iter(fits.items()))
        return DtReport(tuple(evidence), consensus(ev), enc, per_node(ev))

    # conflict: describe every encoding's per-node dts
    candidates = fits or by_enc
    parts = []
    for enc, ev in candidates.items():
        nodes = ", ".join(f"{n!r} {d:.6g}" for n, d in per_node(ev).items())
        parts.append(f"{ENCODINGS[enc].split(':')[0]} encoding implies {nodes}")
    best = max(candidates.values(), key=len)
    if fits:
        msg = "the parameters fit more than one exporter encoding: " + "; ".join(parts)
    else:
        msg = "the nodes imply different dts: " + "; ".join(parts)
    return DtReport(tuple(evidence), None, None, per_node(best), msg)


def resolve_dt(graph: "Graph", dt_option: Optional[float]) -> tuple[float, Diagnostics]:
    """The dt to use and the diagnostics that explain it.

    * user dt given: used; a warning if the file implies another dt (or conflicting ones);
    * none given, the file implies one consistent dt: used, with an info diagnostic;
    * none given, the file implies nothing: :data:`DEFAULT_DT`, with a warning;
    * none given, the implied dts conflict: :class:`NirccError` naming the nodes and dts.
    """
    diags = Diagnostics()
    dt = _check_dt(dt_option)
    report = detect_dt(graph)
    stage = "semantics"
    if dt is not None:
        if report.dt is not None and abs(report.dt - dt) > DT_RTOL * dt:
            diags.warn("dt-mismatch", f"using dt = {dt:g} s as given, but the parameters imply "
                       f"dt = {report.dt:.6g} s ({ENCODINGS[report.encoding]})", field="dt", stage=stage)
        elif report.conflict is not None:
            diags.warn("dt-conflict", f"using dt = {dt:g} s as given; {report.conflict}", field="dt", stage=stage)
        return dt, diags
    if report.dt is not None:
        diags.info("dt-detected", f"dt = {report.dt:.6g} s, implied by the parameters of "
                   f"{len(report.per_node)} node(s) ({ENCODINGS[report.encoding]}); pass dt to override",
                   field="dt", stage=stage)
        return report.dt, diags
    if report.conflict is not None:
        raise NirccError(f"cannot choose dt: {report.conflict}; pass dt explicitly", field="dt",
                         code="dt-conflict")
    diags.warn("dt-default", f"the file implies no dt and none was given; using the default "
               f"dt = {DEFAULT_DT:g} s", field="dt", stage=stage)
    return DEFAULT_DT, diags
