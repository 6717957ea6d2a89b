"""The pass manager: an ordered list of named ``Graph -> Graph`` passes, verified after each.

A *pass* is a plain function ``Graph -> Graph`` (its ``__name__`` is its name), a
:class:`Pass` (name + function), a ``(name, function)`` pair, or any callable object with
a ``name`` attribute.  A pass never mutates its input graph: it copies it and replaces
node objects (see :mod:`nircc.ir.graph`).

:class:`PassManager` runs the passes in order and, after each one,

* runs :func:`nircc.ir.validate` on the result, so a broken pass fails *at the pass*: the
  error (:class:`PassVerificationError`) reads ``pass 'fuse_affine' produced an invalid
  graph: ...``.  The input graph is validated first (a user's invalid graph raises the
  ordinary :class:`~nircc.errors.NirccError`, never blamed on a pass); ``verify_input=False``
  skips that for a graph built by hand whose shapes a first ``infer_shapes`` fills in;
* optionally writes the graph as a ``.nir`` file (``dump_after``, the CLI's
  ``--dump-after PASS``): ``<dump_dir>/<NN>-<pass>.nir`` with NN the pass's position
  (1-based, two digits), ``"all"`` dumps after every pass;
* records a :class:`PassRecord` (name, seconds spent in the pass and in verification,
  nodes and edges before/after, the diagnostics the pass added);
* optionally (``check_immutable=True``, for tests and debugging) checks that the pass
  left its input graph unchanged, by a fingerprint of every node object, shape, edge and
  diagnostic.

``time_passes=True`` (the CLI's ``--time-passes``) prints a timing table to ``stream``
(default ``sys.stderr``) after the run.  Targets compose their pipelines from the shared
passes::

    PassManager([infer_shapes, canonicalize, fuse_affine, my_target_pass]).run(g)
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, TextIO, Union

import numpy as np

from ..errors import Diagnostic, NirccError
from ..ir import Graph, save, validate

PassFn = Callable[[Graph], Graph]


@dataclass(frozen=True)
class Pass:
    """A named pass: ``fn(graph) -> graph`` that never mutates its input."""

    name: str
    fn: PassFn

    def __call__(self, graph: Graph) -> Graph:
        return self.fn(graph)


PassLike = Union[Pass, PassFn, tuple[str, PassFn]]


def as_pass(p: PassLike) -> Pass:
    """Normalize a function, ``(name, function)`` pair or named callable to a :class:`Pass`."""
    if isinstance(p, Pass):
        return p
    if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and callable(p[1]):
        return Pass(p[0], p[1])
    if callable(p):
        name = getattr(p, "name", None) or getattr(p, "__name__", None)
        if isinstance(name, str) and name and name != "<lambda>":
            return Pass(name, p)
    raise TypeError(f"not a pass (a named Graph -> Graph callable): {p!r}")


@dataclass(frozen=True)
class PassRecord:
    """What one pass did (one row of the pipeline log)."""

    name: str
    seconds: float          # time inside the pass
    verify_seconds: float   # time of the validation after it
    nodes_before: int
    nodes_after: int
    edges_before: int
    edges_after: int
    diagnostics: tuple[Diagnostic, ...]   # diagnostics the pass added
    dumped: Optional[Path] = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["diagnostics"] = [x.to_dict() for x in self.diagnostics]
        d["dumped"] = None if self.dumped is None else str(self.dumped)
        return d


@dataclass
class PipelineResult:
    """The final graph and the per-pass log."""

    graph: Graph
    log: list[PassRecord]

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds + r.verify_seconds for r in self.log)

    def record(self, name: str) -> PassRecord:
        """The (first) record of the pass called ``name``."""
        for r in self.log:
            if r.name == name:
                return r
        raise KeyError(name)

    def timing_table(self) -> str:
        """The ``--time-passes`` table: one line per pass, then the total."""
        w = max([len(r.name) for r in self.log] + [5])
        lines = [f"{'pass':<{w}}  {'pass ms':>9}  {'verify ms':>9}  {'nodes':>11}  {'edges':>11}  {'diags':>5}"]
        for r in self.log:
            lines.append(f"{r.name:<{w}}  {r.seconds * 1e3:9.2f}  {r.verify_seconds * 1e3:9.2f}  "
                         f"{f'{r.nodes_before}->{r.nodes_after}':>11}  {f'{r.edges_before}->{r.edges_after}':>11}  "
                         f"{len(r.diagnostics):>5}")
        lines.append(f"{'total':<{w}}  {sum(r.seconds for r in self.log) * 1e3:9.2f}  "
                     f"{sum(r.verify_seconds for r in self.log) * 1e3:9.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"passes": [r.to_dict() for r in self.log], "total_seconds": self.total_seconds}


class PassVerificationError(RuntimeError):
    """A pass returned a graph that fails validation (a bug in the pass, so an ordinary
    exception with a traceback; ``errors`` holds the validation errors)."""

    def __init__(self, pass_name: str, errors: NirccError) -> None:
        self.pass_name = pass_name
        self.errors = errors
        super().__init__(f"pass '{pass_name}' produced an invalid graph: {errors}")


class PassMutationError(RuntimeError):
    """A pass changed its input graph (found with ``check_immutable=True``)."""

    def __init__(self, pass_name: str) -> None:
        self.pass_name = pass_name
        super().__init__(f"pass '{pass_name}' mutated its input graph (passes must copy, then replace node objects)")


def _feed(h: "hashlib._Hash", value: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"nd{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else repr(value.tolist()).encode())
    elif isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _feed(h, value[k])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(repr(value).encode())


def fingerprint(graph: Graph) -> str:
    """A digest of everything a pass could change: node names and order, node objects
    (type and every field, arrays by value), shapes, edges in order, meta keys and the
    diagnostics.  Equal fingerprints mean an unchanged graph."""
    h = hashlib.sha256()
    for n, attrs in graph.nx.nodes(data=True):
        op = attrs["op"]
        h.update(f"node {n} {type(op).__name__} {attrs.get('in_shape')} {attrs.get('out_shape')}".encode())
        for f in dataclasses.fields(op):
            h.update(f.name.encode())
            _feed(h, getattr(op, f.name))
    for u, v in graph.nx.edges:
        h.update(f"edge {u} {v}".encode())
    h.update(repr(sorted(graph.meta, key=str)).encode())
    for d in graph.diagnostics:
        h.update(repr(d).encode())
    return h.hexdigest()


class PassManager:
    """Runs passes in order with validation, dumps, timing and a log (module docstring)."""

    def __init__(self, passes: Sequence[PassLike], *, dump_after: Iterable[str] = (),
                 dump_dir: Optional[Union[str, Path]] = None, time_passes: bool = False,
                 verify_input: bool = True, check_immutable: bool = False,
                 stream: Optional[TextIO] = None) -> None:
        self.passes = [as_pass(p) for p in passes]
        names = [p.name for p in self.passes]
        self.dump_after = set(dump_after)
        unknown = sorted(self.dump_after - set(names) - {"all"})
        if unknown:
            raise NirccError(f"--dump-after names {', '.join(repr(u) for u in unknown)}, which this pipeline does "
                             f"not run (passes: {', '.join(names) or 'none'}; or 'all')", field="dump_after")
        if self.dump_after and dump_dir is None:
            raise ValueError("dump_after needs a dump_dir")
        self.dump_dir = None if dump_dir is None else Path(dump_dir)
        self.time_passes = time_passes
        self.verify_input = verify_input
        self.check_immutable = check_immutable
        self.stream = stream

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.passes]

    def run(self, graph: Graph) -> PipelineResult:
        """Run every pass on ``graph`` (left unchanged) and return the final graph and log."""
        if self.verify_input:
            validate(graph)
        log: list[PassRecord] = []
        g = graph
        for i, p in enumerate(self.passes, start=1):
            before_print = fingerprint(g) if self.check_immutable else None
            n_diag = len(g.diagnostics)
            nodes_before, edges_before = len(g), g.nx.number_of_edges()
            t0 = time.perf_counter()
            out = p(g)
            t1 = time.perf_counter()
            if not isinstance(out, Graph):
                raise TypeError(f"pass '{p.name}' returned {type(out).__name__}, not a Graph")
            if before_print is not None and fingerprint(g) != before_print:
                raise PassMutationError(p.name)
            try:
                validate(out)
            except NirccError as e:
                raise PassVerificationError(p.name, e) from e
            t2 = time.perf_counter()
            dumped = None
            if "all" in self.dump_after or p.name in self.dump_after:
                assert self.dump_dir is not None
                dumped = self.dump_dir / f"{i:02d}-{p.name}.nir"
                save(out, dumped)
            added = tuple(out.diagnostics)[n_diag:]
            log.append(PassRecord(p.name, t1 - t0, t2 - t1, nodes_before, len(out), edges_before,
                                  out.nx.number_of_edges(), added, dumped))
            g = out
        result = PipelineResult(g, log)
        if self.time_passes:
            print(result.timing_table(), file=self.stream or sys.stderr)
        return result
