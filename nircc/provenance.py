"""Which framework wrote a NIR file, and the semantics a compile or simulation uses.

A ``.nir`` file does not say which framework exported it, yet the model the user trained is
defined by that framework's rules (its dt, reset and spike rule: :mod:`nircc.semantics`).
Each exporter leaves fingerprints, read here from the graph as loaded:

==========  =================================================================================
exporter    evidence (each rule adds one line to the detection's evidence)
==========  =================================================================================
snntorch    ``r = tau/dt`` (and ``w_in = tau_syn/dt``) on every leaky node with one dt
            (``export_to_nir`` hard-codes dt = 1e-4 s); RSynaptic/RLeaky subgraphs flattened as
            ``<n>.lif`` + ``<n>.w_rec``
rockpool    ``r = tau exp(-dt/tau)/dt`` on every leaky node with one dt; node names
            ``<i>_<Module>Torch`` (``0_LinearTorch``); Input/Output keeping batch and time axes
sinabs      every spiking node an IF with ``r = 1`` (sinabs writes ``IAFSqueeze`` as
            ``IF(r=1, v_threshold)``), none with a leak, and no ``v_reset`` written (sinabs
            pins nir <= 1.0.4) or nodes named by their ``nn.Sequential`` index (``"0"``, ``"1"``)
norse       leaky nodes with ``r = 1``, and an Input that keeps the batch axis (Norse calls
            nirtorch without ``ignore_dims``), or time constants of at most 1e-4 s: Norse 1.1
            writes ``tau = dt * tau_mem`` (norse#411; 1e-5 s for 10 ms at dt = 1 ms)
==========  =================================================================================

Lava-DL files use snnTorch's encoding of dt (``r = tau/dt``; Lava's ``du = dt/tau``) at other
dts: a tau/dt encoding at a dt other than snnTorch's 1e-4 s names both candidates.

:func:`detect_exporter` returns a :class:`Detection`: the exporter whose evidence stands
alone, or none with every candidate named.  :func:`resolve_semantics` is the one place that
turns a ``semantics=`` / ``dt=`` argument into the :class:`~nircc.semantics.Semantics` of a
run: the user's choice, else the detected exporter's preset, else NIR's defaults (with a
hint naming the candidates), with dt resolved and the repairs a preset implies (Norse 1.1's
time constants) applied to a copy of the graph.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np

from .errors import Diagnostics
from .semantics import PRESETS, Semantics, _round_number, detect_dt, resolve_dt

if TYPE_CHECKING:  # pragma: no cover
    from .ir.graph import Graph

#: the node types whose time constants and gains carry exporter encodings
LEAKY = ("LI", "LIF", "CubaLI", "CubaLIF")
SPIKING = ("IF", "LIF", "CubaLIF")
#: snnTorch's export_to_nir writes every file at this dt (snntorch/export_nir.py)
SNNTORCH_DT = 1e-4
#: time constants at or below this (seconds), with r = 1, are Norse 1.1's dt * tau_mem
NORSE_TAU_BUG_MAX = 1e-4
_ROCKPOOL_NAME = re.compile(r"^\d+_[A-Za-z]\w*Torch$")
_TAU_FIELDS = {"LI": ("tau",), "LIF": ("tau",), "CubaLI": ("tau_mem", "tau_syn"),
               "CubaLIF": ("tau_mem", "tau_syn")}


@dataclass(frozen=True)
class Detection:
    """What the file's fingerprints say about its exporter.

    ``exporter``: the preset of the one exporter the evidence points to (``None``: none,
    or several: see ``candidates``); ``evidence``: exporter -> the lines that point to it."""

    exporter: Optional[str]
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(self.evidence)

    @property
    def ambiguous(self) -> bool:
        return self.exporter is None and len(self.evidence) > 1

    def reason(self) -> str:
        """``"r = tau/dt on 3 nodes (dt = 0.0001 s)"`` for the detected exporter, or the
        candidates' evidence."""
        if self.exporter is not None:
            return "; ".join(self.evidence[self.exporter])
        return "; ".join(f"{name}: {', '.join(ev)}" for name, ev in self.evidence.items())

    def to_dict(self) -> dict[str, Any]:
        return {"exporter": self.exporter, "candidates": list(self.candidates),
                "evidence": {k: list(v) for k, v in self.evidence.items()}}


def _nodes(n: int) -> str:
    return f"{n} node{'s' if n != 1 else ''}"


def _all_equal(op: Any, name: str, value: float) -> bool:
    x = getattr(op, name, None)
    return x is not None and np.size(x) > 0 and bool(np.all(np.asarray(x, dtype=np.float64) == value))


def detect_exporter(g: "Graph") -> Detection:
    """The exporter of ``g`` from its fingerprints (module docstring)."""
    ev: dict[str, list[str]] = {}

    def add(name: str, line: str) -> None:
        ev.setdefault(name, []).append(line)

    leaky = [n for n in g.nodes if g.type(n) in LEAKY]
    spiking = [n for n in g.nodes if g.type(n) in SPIKING]
    repairs = {d.code for d in g.diagnostics}

    report = detect_dt(g)
    # an encoding is an exporter's sign only at a dt an exporter would write (1e-4, 2.5e-4: at
    # most three significant digits); a few arbitrary r values can fit one at any dt
    encoded = report.dt is not None and _round_number(report.dt)
    if report.encoding == "snntorch" and encoded:
        k = len(report.per_node)
        where = f"r = tau/dt on {_nodes(k)} (dt = {report.dt:g} s)"
        if abs(report.dt - SNNTORCH_DT) <= 1e-6 * SNNTORCH_DT:
            add("snntorch", where + ", the dt snnTorch's export_to_nir writes")
        else:
            add("snntorch", where)
            add("lava-dl", where + f", not snnTorch's {SNNTORCH_DT:g} s")
    elif report.encoding == "rockpool" and encoded:
        add("rockpool", f"r = tau exp(-dt/tau)/dt on {_nodes(len(report.per_node))} (dt = {report.dt:g} s)")

    rec = [n for n in g.nodes if n.endswith(".w_rec") and n[: -len(".w_rec")] + ".lif" in g]
    if rec:
        add("snntorch", f"recurrent subgraph{'s' if len(rec) > 1 else ''} "
                        f"{', '.join(repr(n[:-6]) for n in rec[:3])} written as '.lif' + '.w_rec' (RSynaptic/RLeaky)")
    torch_names = [n for n in g.nodes if _ROCKPOOL_NAME.match(n)]
    if torch_names:
        add("rockpool", f"rockpool module names ({', '.join(repr(n) for n in torch_names[:2])})")
    if "batch-time-dims" in repairs:
        add("rockpool", "an Input that keeps the batch and time axes")

    if spiking and all(g.type(n) == "IF" for n in spiking) and not leaky \
            and all(_all_equal(g.op(n), "r", 1.0) for n in spiking):
        # an IF network with r = 1 is also what anyone writes by hand: sinabs' needs a second sign
        no_reset = {d.node for d in g.diagnostics if d.code == "default-field" and d.field == "v_reset"}
        body = [n for n in g.nodes if g.type(n) not in ("Input", "Output")]
        signs = []
        if all(n in no_reset for n in spiking):
            signs.append("no v_reset written")
        if body and all(n.isdigit() for n in body):
            signs.append("nodes named by their nn.Sequential index")
        if signs:
            add("sinabs" if "batch-dim" not in repairs else "norse",
                f"every spiking node an IF with r = 1 ({_nodes(len(spiking))}), {' and '.join(signs)}")

    unit = [n for n in leaky if _all_equal(g.op(n), "r", 1.0)
            and (g.type(n) not in ("CubaLI", "CubaLIF") or _all_equal(g.op(n), "w_in", 1.0))]
    if unit and len(unit) == len(leaky) and report.encoding is None:
        tiny = [n for n in unit if all(np.all(np.asarray(getattr(g.op(n), f), np.float64) <= NORSE_TAU_BUG_MAX)
                                       for f in _TAU_FIELDS[g.type(n)])]
        if "batch-dim" in repairs:
            add("norse", f"r = 1 on {_nodes(len(unit))} and an Input that keeps the batch axis")
        if tiny:
            tau = float(np.max(np.asarray(getattr(g.op(tiny[0]), _TAU_FIELDS[g.type(tiny[0])][0]))))
            add("norse", f"tau <= {NORSE_TAU_BUG_MAX:g} s with r = 1 on {_nodes(len(tiny))} (e.g. {tiny[0]!r}: "
                         f"{tau:.3g} s), as Norse 1.1 writes tau = dt * tau_mem")

    evidence = {k: tuple(v) for k, v in ev.items()}
    if len(evidence) == 1:
        return Detection(next(iter(evidence)), evidence)
    if len(evidence) > 1:
        # one exporter with strictly more lines of evidence than every other wins
        ranked = sorted(evidence, key=lambda k: -len(evidence[k]))
        if len(evidence[ranked[0]]) > len(evidence[ranked[1]]):
            return Detection(ranked[0], evidence)
    return Detection(None, evidence)


@dataclass(frozen=True)
class Resolved:
    """The semantics of a run and how they were chosen."""

    semantics: Semantics        # dt set
    detection: Detection
    chosen_by: str              # "user" | "detected" | "default"
    graph: "Graph"              # the graph to run: the input, or a repaired copy
    diagnostics: Diagnostics
    overrides: tuple[str, ...] = ()   # options given on top of the detected/default preset

    def header(self) -> str:
        """``"snntorch, detected from r = tau/dt on 3 nodes (...); --semantics nir to override"``."""
        name = self.semantics.preset_name or "custom"
        given = ""
        if self.overrides:
            given = " with " + ", ".join(f"{k} {getattr(self.semantics, k)!r}" for k in self.overrides) + " as given"
        if self.chosen_by == "detected":
            return f"{name}{given}, detected from {self.detection.reason()}; --semantics nir to override"
        if self.chosen_by == "user":
            return f"{name}, as given" + (f" (the file looks like {self.detection.exporter}'s)"
                                          if self.detection.exporter not in (None, self.semantics.preset_name)
                                          else "")
        if given:
            return f"nir (NIR's defaults){given}"
        if self.detection.ambiguous:
            return (f"nir (NIR's defaults): the file could come from {' or '.join(self.detection.candidates)} "
                    f"({self.detection.reason()}); pass --semantics to choose")
        return "nir (NIR's defaults: no exporter recognised)"

    def to_dict(self) -> dict[str, Any]:
        return {"chosen_by": self.chosen_by, "header": self.header(), **self.detection.to_dict()}


def resolve_semantics(g: "Graph", semantics: Any = None, dt: Optional[float] = None) -> Resolved:
    """The one reading of ``semantics=`` and ``dt=`` for every run (compile, simulate, check).

    ``semantics`` None: the detected exporter's preset (:func:`detect_exporter`), else NIR's
    defaults (a warning names the candidates when several fit); a mapping of options without
    ``"preset"`` (``{"reset": "zero"}``, ``{"dt": 1e-3}``): those options on top of that
    preset; otherwise :meth:`Semantics.coerce`.  ``dt`` (seconds) overrides the semantics' dt; both None: from
    the file (:func:`nircc.semantics.resolve_dt`)."""
    det = detect_exporter(g)
    diags = Diagnostics()
    overrides: dict[str, Any] = {}
    if isinstance(semantics, Mapping) and not {"preset", "preset_name"} & set(semantics):
        overrides = {k: v for k, v in semantics.items() if v is not None}
        semantics = None
    if semantics is not None:
        sem, chosen = Semantics.coerce(semantics), "user"
    elif det.exporter is not None:
        sem, chosen = Semantics.preset(det.exporter), "detected"
        diags.info("semantics-detected", f"semantics {det.exporter!r}, detected from {det.reason()}; pass "
                   "semantics='nir' (--semantics nir) for NIR's defaults", field="semantics", stage="semantics")
    else:
        sem, chosen = Semantics.preset("nir"), "default"
        if det.ambiguous:
            diags.warn("semantics-ambiguous", f"the file could come from {' or '.join(det.candidates)} "
                       f"({det.reason()}); using NIR's defaults: pass --semantics "
                       f"{'|'.join(det.candidates)} for the framework's rules", field="semantics", stage="semantics")
    if overrides:
        sem = Semantics.from_options(sem.preset_name, **overrides)
    if det.exporter is not None and (chosen == "user" or overrides):
        # the reference is the model as the user describes it: say where that is not the
        # exporter's rule (no chip needs such an override: Target.realise_semantics)
        theirs = Semantics.preset(det.exporter)
        diff = {k: v for k, v in sem.differences(theirs).items() if k != "dt"}
        if diff:
            words = ", ".join(f"{k} {mine!r} (not {det.exporter}'s {other!r})" for k, (mine, other) in diff.items())
            diags.warn("semantics-override", f"the reference uses {words} as given, though the file looks like "
                       f"{det.exporter}'s: fidelity is measured against that model; chips need no override (each "
                       "runs its closest rule), so drop it to measure against the model as trained",
                       field="semantics", stage="semantics")
    dt_value, dt_diags = resolve_dt(g, dt if dt is not None else sem.dt)
    diags.extend(dt_diags)
    sem = sem.with_dt(dt_value)
    g = _repair_norse_tau(g, sem, det, diags)
    return Resolved(sem, det, chosen, g, diags, tuple(k for k in overrides if k != "dt"))


def _repair_norse_tau(g: "Graph", sem: Semantics, det: Detection, diags: Diagnostics) -> "Graph":
    """Norse 1.1's ``to_nir`` writes ``tau = dt / tau_mem_inv = dt * tau_mem`` (norse#411).
    With the Norse preset, a leaky node with r = 1 whose time constants are all shorter than
    dt is read as that bug and repaired to ``tau / dt`` (a copy; a named warning per node).
    Otherwise such a node is named with the hint."""
    dt = float(sem.dt)
    bad = []
    for n in g.nodes:
        t = g.type(n)
        if t not in LEAKY or not _all_equal(g.op(n), "r", 1.0):
            continue
        taus = {f: np.asarray(getattr(g.op(n), f), dtype=np.float64) for f in _TAU_FIELDS[t]}
        if all(v.size and np.all(v < dt) for v in taus.values()):
            bad.append((n, taus))
    if not bad:
        return g
    if sem.preset_name != "norse":
        if det.exporter == "norse" or "norse" in det.candidates:
            n = bad[0][0]
            diags.warn("norse-tau", f"time constants shorter than dt = {dt:g} s with r = 1 on {_nodes(len(bad))}, "
                       "as Norse 1.1's to_nir writes them (tau = dt * tau_mem, norse#411); --semantics norse "
                       "repairs them to tau / dt", node=n, field=next(iter(bad[0][1])), stage="semantics")
        return g
    g = g.copy()
    for n, taus in bad:
        new = {f: (v / dt).astype(np.asarray(getattr(g.op(n), f)).dtype) for f, v in taus.items()}
        g.set_op(n, dataclasses.replace(g.op(n), **new), g.in_shape(n), g.out_shape(n))
        f, v = next(iter(taus.items()))
        diags.warn("norse-tau", f"{f} = {float(v.max()):.3g} s is shorter than dt = {dt:g} s: read as Norse 1.1's "
                   f"tau = dt * tau_mem (norse#411) and repaired to tau / dt = {float(v.max()) / dt:.3g} s",
                   node=n, field=f, stage="semantics")
    return g


__all__ = ["Detection", "Resolved", "detect_exporter", "resolve_semantics", "PRESETS"]
