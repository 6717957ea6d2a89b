"""Affine algebra and copy-on-write graph rewrites shared by ``canonicalize`` and
``fuse_affine``.

Three rewrites, each applied to a copy of the graph:

* **chain** ``u1 -> u2 -> ... -> uk`` of affine nodes (Affine, Linear, Scale) where every
  member but the last has exactly one successor (the next member), every member but the
  first exactly one predecessor, and no chain edge is a back edge: replaced by one node
  computing the composition.  The head may sum several inputs (the composition applies to
  the sum) and the tail may fan out (its value survives as the fused node's output).
* **parallel** affine branches ``x -> m_i -> n`` (each ``m_i`` with the single
  predecessor ``x`` and the single successor ``n``), plus a direct edge ``x -> n`` if there
  is one (the identity map): since NIR adds the inputs of a node, they are replaced by one
  node computing the sum of the maps.
* **drop** of an identity node (a Flatten whose input shape equals its output shape, a
  Delay of 0): its predecessors connect to its successors.  Not done when that would put
  a second edge between two nodes (edges cannot carry a sum twice).

Recurrence: :meth:`Graph.schedule` decides which edges carry the previous step's value
(back edges).  A rewrite never removes a back edge; it maps each back edge to the edge
that carries the same delayed value afterwards (endpoints replaced by the node that
absorbed them).  After a batch of rewrites the schedule of the new graph is computed and
must have exactly the mapped back edges; otherwise the batch is retried one rewrite at a
time and a rewrite that moves a delay is not done (an info diagnostic ``kept-recurrence``
says so).  Rewiring keeps every predecessor's successor order, so the depth-first search
behind :meth:`Graph.schedule` sees the same graph up to the contracted nodes.

Numbers: composed and summed parameters are computed and stored in float64, so the new
graph computes the same values as the old one up to float64 rounding.  The result type
is ``Scale`` when only Scales (and identities) were combined, ``Linear`` when no member
had a bias, ``Affine`` when any member was an Affine (its bias may be zero: that is the
"Linear -> Affine with zero bias" of the design, done only where a Linear is combined
with an Affine).  The node keeps the name of its first Affine/Linear member (chain order
for chains, graph order for parallel branches; the first member when all are Scales).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..ir import AFFINE_TYPES, Graph
from ..ir import nir_compat as nir
from ..ir.shapes import Shape

F64 = np.float64


# ----------------------------------------------------------------------------- algebra
@dataclass(frozen=True)
class AffineMap:
    """``y = a * x`` (``kind == "scale"``: element-wise, ``a`` has the value's shape) or
    ``y = a @ x + b`` (``kind == "matrix"``: ``a`` is ``[out, in]``, ``b`` is ``[out]`` or
    ``None`` for no bias).  Arrays are kept as given until combined (then float64)."""

    kind: str
    a: np.ndarray
    b: Optional[np.ndarray] = None

    @staticmethod
    def of(g: Graph, n: str) -> Optional["AffineMap"]:
        """The map of node ``n``, or None if it is not an affine node nircc can combine
        (weights of more than 2 dimensions, a Scale whose shape is unknown)."""
        t = g.type(n)
        if t not in AFFINE_TYPES:
            return None
        op = g.op(n)
        if t == "Scale":
            shape = g.in_shape(n)
            if shape is None:
                return None
            return AffineMap("scale", np.broadcast_to(np.asarray(op.scale), shape))
        w = np.asarray(op.weight)
        if w.ndim != 2:
            return None
        return AffineMap("matrix", w, np.asarray(op.bias) if t == "Affine" else None)

    @staticmethod
    def identity(shape: Shape) -> "AffineMap":
        return AffineMap("scale", np.ones(shape, dtype=F64))

    @property
    def in_shape(self) -> Shape:
        return tuple(self.a.shape) if self.kind == "scale" else (int(self.a.shape[1]),)

    @property
    def out_shape(self) -> Shape:
        return tuple(self.a.shape) if self.kind == "scale" else (int(self.a.shape[0]),)

    @property
    def size(self) -> int:
        return int(self.a.size) + (0 if self.b is None else int(self.b.size))

    def then(self, nxt: "AffineMap") -> Optional["AffineMap"]:
        """``nxt ∘ self``, or None when the shapes do not compose."""
        if self.out_shape != nxt.in_shape:
            return None
        a1, a2 = self.a.astype(F64), nxt.a.astype(F64)
        b1 = None if self.b is None else self.b.astype(F64)
        if self.kind == "scale" and nxt.kind == "scale":
            return AffineMap("scale", a2 * a1)
        if (self.kind == "scale" or nxt.kind == "scale") and a1.ndim + a2.ndim != 3:
            return None  # an element-wise map of a multi-dimensional value next to a matrix
        if self.kind == "scale":
            a, b = a2 * a1[None, :], None
        elif nxt.kind == "scale":
            a, b = a2[:, None] * a1, None if b1 is None else a2 * b1
        else:
            a, b = a2 @ a1, None if b1 is None else a2 @ b1
        if nxt.b is not None:
            b = nxt.b.astype(F64) if b is None else b + nxt.b.astype(F64)
        return AffineMap("matrix", a, b)

    def plus(self, other: "AffineMap") -> Optional["AffineMap"]:
        """``self + other`` (same input and output), or None when they do not add."""
        if self.in_shape != other.in_shape or self.out_shape != other.out_shape:
            return None
        if self.kind == "scale" and other.kind == "scale":
            return AffineMap("scale", self.a.astype(F64) + other.a.astype(F64))
        if self.kind == "scale" or other.kind == "scale":
            m, s = (self, other) if self.kind == "matrix" else (other, self)
            if s.a.ndim != 1:
                return None
            a = m.a.astype(F64, copy=True)
            a[np.diag_indices(a.shape[0])] += s.a.astype(F64)
            return AffineMap("matrix", a, None if m.b is None else m.b.astype(F64))
        a = self.a.astype(F64) + other.a.astype(F64)
        if self.b is None and other.b is None:
            return AffineMap("matrix", a)
        b = np.zeros(a.shape[0], dtype=F64)
        for m in (self, other):
            if m.b is not None:
                b = b + m.b.astype(F64)
        return AffineMap("matrix", a, b)

    def to_op(self, metadata: Optional[dict] = None):
        md = dict(metadata or {})
        if self.kind == "scale":
            return nir.Scale(scale=np.array(self.a, dtype=F64), metadata=md)
        if self.b is None:
            return nir.Linear(weight=np.asarray(self.a, dtype=F64), metadata=md)
        return nir.Affine(weight=np.asarray(self.a, dtype=F64), bias=np.asarray(self.b, dtype=F64), metadata=md)

    def describe(self) -> str:
        t = "Scale" if self.kind == "scale" else ("Linear" if self.b is None else "Affine")
        return f"{t} {list(self.a.shape)}"


def describe_node(g: Graph, n: str) -> str:
    m = AffineMap.of(g, n)
    return f"{g.type(n)} {n!r}" + ("" if m is None else f" {list(m.a.shape)}")


# ----------------------------------------------------------------------------- editing
class Editor:
    """A working copy of a graph plus the back edges mapped through the rewrites so far."""

    def __init__(self, graph: Graph) -> None:
        self.g = graph.copy()
        self.back: set[tuple[str, str]] = set(graph.schedule().back_edges)

    def _map_back(self, fn: Callable[[tuple[str, str]], tuple[str, str]]) -> None:
        self.back = {fn(e) for e in self.back}

    def _set_successors(self, p: str, order: Sequence[str]) -> None:
        """Make ``order`` the successor list of ``p`` (networkx keeps insertion order)."""
        for s in list(self.g.nx.successors(p)):
            self.g.nx.remove_edge(p, s)
        for s in order:
            self.g.nx.add_edge(p, s)

    def replace_chain(self, chain: Sequence[str], survivor: str, m: AffineMap) -> None:
        head, tail = chain[0], chain[-1]
        members = set(chain)
        g = self.g.nx
        ext_preds = [p for p in g.predecessors(head) if p not in members]
        orders = {p: [survivor if s == head else s for s in g.successors(p)] for p in ext_preds}
        tail_succs = [survivor if s == head else s for s in g.successors(tail) if s == head or s not in members]
        metadata = getattr(self.g.op(survivor), "metadata", {})
        for n in chain:
            if n != survivor:
                g.remove_node(n)
        for e in list(g.in_edges(survivor)) + list(g.out_edges(survivor)):
            if g.has_edge(*e):
                g.remove_edge(*e)
        self.g.set_op(survivor, m.to_op(metadata), m.in_shape, m.out_shape)
        for s in tail_succs:
            g.add_edge(survivor, s)
        for p, order in orders.items():
            self._set_successors(p, order)
        self._map_back(lambda e: tuple(survivor if x in members else x for x in e))

    def replace_parallel(self, x: str, n: str, members: Sequence[str], direct: bool, m: AffineMap) -> None:
        survivor = members[0]
        gone = set(members)
        replaced = gone | ({n} if direct else set())
        order: list[str] = []
        for s in self.g.nx.successors(x):  # the survivor takes the place of the first replaced edge
            if s not in replaced:
                order.append(s)
            elif survivor not in order:
                order.append(survivor)
        metadata = getattr(self.g.op(survivor), "metadata", {})
        for b in members[1:]:
            self.g.nx.remove_node(b)
        self._set_successors(x, order)
        self.g.set_op(survivor, m.to_op(metadata), m.in_shape, m.out_shape)
        self._map_back(lambda e: (survivor, n) if (e[0] in gone or e == (x, n)) and e[1] == n else e)

    def drop(self, d: str) -> None:
        g = self.g.nx
        preds, succs = list(g.predecessors(d)), list(g.successors(d))
        for p in preds:
            order: list[str] = []
            for s in g.successors(p):
                order.extend(succs if s == d else [s])
            self._set_successors(p, order)
        g.remove_node(d)
        if preds and succs:
            p0, s0 = preds[0], succs[0]
            self._map_back(lambda e: (p0, s0) if d in e else e)

    def consistent(self) -> bool:
        """Does the new graph delay exactly the values the old one delayed?"""
        return set(self.g.schedule().back_edges) == self.back


# ----------------------------------------------------------------------------- rewrites
@dataclass(frozen=True)
class Rewrite:
    """One planned rewrite: ``kind`` in {"chain", "parallel", "drop"}; ``claims`` are the
    nodes it reads or changes (rewrites of one batch claim disjoint sets)."""

    kind: str
    nodes: tuple[str, ...]          # chain members / parallel members / the dropped node
    claims: frozenset[str]
    m: Optional[AffineMap] = None   # the combined map (chain, parallel)
    x: str = ""                     # parallel: the common source
    n: str = ""                     # parallel: the common destination
    direct: bool = False            # parallel: a direct edge x -> n is summed in too

    @property
    def key(self) -> tuple:
        return (self.kind, self.nodes, self.x, self.n)

    def survivor(self, g: Graph) -> str:
        if self.kind == "chain":
            return next((c for c in self.nodes if g.type(c) != "Scale"), self.nodes[0])
        return self.nodes[0]

    def apply(self, ed: Editor) -> None:
        if self.kind == "chain":
            ed.replace_chain(self.nodes, self.survivor(ed.g), self.m)
        elif self.kind == "parallel":
            ed.replace_parallel(self.x, self.n, self.nodes, self.direct, self.m)
        else:
            ed.drop(self.nodes[0])

    def diagnostic(self, g: Graph) -> tuple[str, str, str]:
        """(code, message, node) of the rewrite, described on the graph before it."""
        if self.kind == "drop":
            d = self.nodes[0]
            if g.type(d) == "Delay":
                return "drop-zero-delay", f"Delay {d!r} delays by 0: removed", d
            return ("drop-identity-flatten", f"Flatten {d!r} is the identity on {list(g.in_shape(d))} "
                    f"(input shape == output shape): removed", d)
        s = self.survivor(g)
        before = sum(AffineMap.of(g, c).size for c in self.nodes)
        parts = ", ".join(describe_node(g, c) for c in self.nodes)
        if self.kind == "chain":
            k = self.nodes.index(s)
            scales = [c for c in self.nodes if g.type(c) == "Scale"]
            if g.type(s) != "Scale" and len(scales) == len(self.nodes) - 1:
                sides = (["columns (input side)"] if k > 0 else []) + \
                        (["rows (output side)"] if k < len(self.nodes) - 1 else [])
                code, msg = "fold-scale", (f"Scale {', '.join(repr(c) for c in scales)} folded into "
                                           f"{describe_node(g, s)}: {' and '.join(sides)} scaled; now "
                                           f"{self.m.describe()}")
            else:
                code, msg = "fuse-chain", f"fused chain {parts} into {self.m.describe()} {s!r}"
        else:
            direct = f" and the direct edge {self.x!r} -> {self.n!r}" if self.direct else ""
            code, msg = "merge-parallel", (f"summed the parallel maps {parts}{direct} from {self.x!r} into "
                                           f"{self.n!r}: one {self.m.describe()} {s!r}")
        return code, f"{msg} ({before} -> {self.m.size} parameters)", s


def affine_maps(g: Graph) -> dict[str, AffineMap]:
    """The :class:`AffineMap` of every affine node nircc can combine."""
    out = {}
    for n in g.nodes:
        m = AffineMap.of(g, n)
        if m is not None:
            out[n] = m
    return out


def find_chains(g: Graph, back: frozenset, maps: dict[str, AffineMap],
                max_matrices: Optional[int]) -> list[Rewrite]:
    """Maximal fusable chains (module docstring), cut where the shapes do not compose or
    where a chain would hold more than ``max_matrices`` Affine/Linear nodes."""
    nx_g = g.nx
    nxt: dict[str, str] = {}
    for u in maps:
        if nx_g.out_degree(u) != 1:
            continue
        v = next(iter(nx_g.successors(u)))
        if v != u and v in maps and nx_g.in_degree(v) == 1 and (u, v) not in back:
            nxt[u] = v
    has_prev = set(nxt.values())
    out: list[Rewrite] = []

    def emit(chain: list[str], m: AffineMap) -> None:
        if len(chain) > 1:
            claims = set(chain) | set(nx_g.predecessors(chain[0])) | set(nx_g.successors(chain[-1]))
            out.append(Rewrite("chain", tuple(chain), frozenset(claims), m))

    for head in g.nodes:
        if head not in nxt or head in has_prev:
            continue
        chain, m = [head], maps[head]
        matrices = int(m.kind == "matrix")
        while chain[-1] in nxt:
            v = nxt[chain[-1]]
            mv = maps[v]
            composed = m.then(mv)
            k = int(mv.kind == "matrix")
            if composed is None or (max_matrices is not None and matrices + k > max_matrices):
                emit(chain, m)
                chain, m, matrices = [v], mv, k
                continue
            chain.append(v)
            m, matrices = composed, matrices + k
        emit(chain, m)
    return out


def find_parallel(g: Graph, back: frozenset, maps: dict[str, AffineMap]) -> list[Rewrite]:
    """Groups of parallel affine branches between the same two nodes (module docstring)."""
    nx_g = g.nx
    index = {n: i for i, n in enumerate(g.nodes)}
    out: list[Rewrite] = []
    for n in g.nodes:
        groups: dict[str, list[str]] = {}
        for m in nx_g.predecessors(n):
            if m in maps and m != n and nx_g.in_degree(m) == 1 and nx_g.out_degree(m) == 1:
                x = next(iter(nx_g.predecessors(m)))
                if x != m and (x, m) not in back:
                    groups.setdefault(x, []).append(m)
        for x, members in groups.items():
            members.sort(key=lambda b: (g.type(b) == "Scale", index[b]))
            direct = nx_g.has_edge(x, n)
            if len(members) < 2 and not direct:
                continue
            total: Optional[AffineMap] = maps[members[0]]
            for b in members[1:]:
                total = total.plus(maps[b]) if total is not None else None
            if direct and total is not None:
                total = total.plus(AffineMap.identity(g.out_shape(x)))
            if total is None:
                continue
            out.append(Rewrite("parallel", tuple(members), frozenset(members) | {x, n}, total, x, n, direct))
    return out


def find_drops(g: Graph, back: frozenset) -> list[Rewrite]:
    """Identity Flatten and zero Delay nodes that can be bypassed (module docstring)."""
    nx_g = g.nx
    out: list[Rewrite] = []
    for d in g.nodes:
        t = g.type(d)
        if t == "Flatten":
            if g.in_shape(d) is None or g.in_shape(d) != g.out_shape(d):
                continue
        elif t != "Delay" or np.any(np.asarray(g.op(d).delay) != 0):
            continue
        preds, succs = list(nx_g.predecessors(d)), list(nx_g.successors(d))
        if d in succs or any(nx_g.has_edge(p, s) for p in preds for s in succs):
            continue
        if any(d in e for e in back) and not (len(preds) == 1 and len(succs) == 1):
            continue
        out.append(Rewrite("drop", (d,), frozenset([d, *preds, *succs])))
    return out


def rewrite(graph: Graph, planners: Sequence[Callable[[Graph, frozenset], list[Rewrite]]],
            stage: str) -> Graph:
    """A copy of ``graph`` with the rewrites the planners find applied, in rounds, until
    none is left; each applied rewrite is an info diagnostic (``stage``)."""
    g = graph.copy()
    blocked: set[tuple] = set()
    while True:
        back = g.schedule().back_edges
        batch: list[Rewrite] = []
        claimed: set[str] = set()
        for plan in planners:
            for r in plan(g, back):
                if r.key not in blocked and not (r.claims & claimed):
                    batch.append(r)
                    claimed |= r.claims
        if not batch:
            return g
        ed = Editor(g)
        for r in batch:
            r.apply(ed)
        if ed.consistent():
            applied, g_new = batch, ed.g
        else:
            applied, g_new = [], g
            for r in batch:
                one = Editor(g_new)
                r.apply(one)
                if one.consistent():
                    applied.append(r)
                    g_new = one.g
                else:
                    blocked.add(r.key)
                    g_new.diagnostics.info(
                        "kept-recurrence", f"{r.kind} rewrite of {', '.join(repr(c) for c in r.nodes)} not done: it "
                        f"would change which value the recurrence delays", r.nodes[0], stage=stage)
            if not applied:
                continue
        for r in applied:
            code, msg, node = r.diagnostic(g)
            g_new.diagnostics.info(code, msg, node, stage=stage)
        g = g_new
