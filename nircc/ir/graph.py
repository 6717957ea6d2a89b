"""The one graph representation of nircc, from load to lowering.

A :class:`Graph` is a thin wrapper over a ``networkx.DiGraph``:

* node attribute ``op``: the NIR node object (a ``nir`` dataclass, never re-declared here);
* node attributes ``in_shape`` / ``out_shape``: tuples of ints (no batch, no time axis);
* graph-level ``meta``: provenance (source file, NIR version of the file, ...);
* ``diagnostics``: the repairs and notes collected so far (load, passes, backends).

Nested NIR subgraphs never reach this class: :func:`nircc.ir.load` flattens them into
qualified names (``outer.inner``).  Edges mean "the source's output is added to the
destination's input", as in NIR.  A cycle is recurrence; :meth:`Graph.schedule` decides,
once and deterministically, which edges of a cycle carry the previous step's value.

Passes never mutate their input graph: they call :meth:`Graph.copy` and then *replace*
node objects (``set_op``) instead of editing the ``nir`` dataclasses in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import networkx as nx

from ..errors import Diagnostics, NirccError
from . import nir_compat as nir
from .shapes import Shape, param_shapes

#: NIR node types nircc knows, by class name.
NODE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Scale, nir.Conv1d, nir.Conv2d,
        nir.SumPool2d, nir.AvgPool2d, nir.Flatten, nir.I, nir.IF, nir.LI, nir.LIF,
        nir.CubaLI, nir.CubaLIF, nir.Threshold, nir.Delay,
    )
}

#: Node types that hold state across time steps (a cycle through one of them is well posed).
STATEFUL_TYPES = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF", "Delay")
#: Neuron populations (what "neurons" counts): stateful element-wise dynamics.
NEURON_TYPES = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
#: Node types that emit spikes.
SPIKING_TYPES = ("IF", "LIF", "CubaLIF", "Threshold")
#: Node types that are linear maps (no state).
AFFINE_TYPES = ("Affine", "Linear", "Scale")


def type_name(op: object) -> str:
    return type(op).__name__


@dataclass(frozen=True)
class Schedule:
    """Evaluation order of one time step.

    ``order`` lists every node once.  ``back_edges`` are the edges ``(u, v)`` along which
    ``v`` reads ``u``'s output of the *previous* step (one per cycle, chosen by a depth
    first search from the inputs in file order: feed-forward paths are instantaneous, the
    edge that closes a cycle is delayed).
    """

    order: tuple[str, ...]
    back_edges: frozenset[tuple[str, str]]


class Graph:
    """A flat NIR graph on networkx (see the module docstring)."""

    def __init__(self, meta: Optional[dict] = None, diagnostics: Optional[Diagnostics] = None):
        self.nx = nx.DiGraph()
        self.meta: dict = dict(meta or {})
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()

    # ------------------------------------------------------------------ building
    def add_node(self, name: str, op: object, in_shape: Optional[Shape] = None,
                 out_shape: Optional[Shape] = None) -> None:
        """Add a node; shapes implied by the node's parameters are filled in."""
        if name in self.nx:
            raise ValueError(f"node {name!r} already exists")
        self.nx.add_node(name, op=op)
        self._set_shapes(name, op, in_shape, out_shape)

    def set_op(self, name: str, op: object, in_shape: Optional[Shape] = None,
               out_shape: Optional[Shape] = None) -> None:
        """Replace the node object of ``name`` (copy-on-write passes use this).  Shapes not
        given are those the new parameters fix, else derived from the old input shape."""
        if name not in self.nx:
            raise KeyError(name)
        old_in = self.nx.nodes[name].get("in_shape")
        if in_shape is None:
            in_shape = param_shapes(op, old_in)[0] or old_in
        self.nx.nodes[name]["op"] = op
        self._set_shapes(name, op, in_shape, out_shape)

    def _set_shapes(self, name, op, in_shape, out_shape) -> None:
        p_in, p_out = param_shapes(op, in_shape)
        attrs = self.nx.nodes[name]
        attrs["in_shape"] = tuple(int(x) for x in in_shape) if in_shape is not None else p_in
        attrs["out_shape"] = tuple(int(x) for x in out_shape) if out_shape is not None else p_out

    def set_shapes(self, name: str, in_shape: Optional[Shape], out_shape: Optional[Shape]) -> None:
        attrs = self.nx.nodes[name]
        attrs["in_shape"] = None if in_shape is None else tuple(int(x) for x in in_shape)
        attrs["out_shape"] = None if out_shape is None else tuple(int(x) for x in out_shape)

    def add_edge(self, src: str, dst: str) -> None:
        for end in (src, dst):
            if end not in self.nx:
                raise NirccError(f"edge ({src!r}, {dst!r}) names node {end!r}, which does not exist")
        self.nx.add_edge(src, dst)

    def remove_node(self, name: str) -> None:
        self.nx.remove_node(name)

    def remove_edge(self, src: str, dst: str) -> None:
        self.nx.remove_edge(src, dst)

    def copy(self) -> "Graph":
        """A new graph sharing the (immutable by convention) node objects."""
        g = Graph(meta=dict(self.meta), diagnostics=self.diagnostics.copy())
        g.nx = self.nx.copy()
        return g

    # ------------------------------------------------------------------ access
    @property
    def nodes(self) -> list[str]:
        return list(self.nx.nodes)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return list(self.nx.edges)

    def __contains__(self, name: object) -> bool:
        return name in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __iter__(self) -> Iterator[str]:
        return iter(self.nx.nodes)

    def op(self, name: str):
        return self.nx.nodes[name]["op"]

    def type(self, name: str) -> str:
        return type_name(self.op(name))

    def in_shape(self, name: str) -> Optional[tuple[int, ...]]:
        return self.nx.nodes[name].get("in_shape")

    def out_shape(self, name: str) -> Optional[tuple[int, ...]]:
        return self.nx.nodes[name].get("out_shape")

    def predecessors(self, name: str) -> list[str]:
        return list(self.nx.predecessors(name))

    def successors(self, name: str) -> list[str]:
        return list(self.nx.successors(name))

    def nodes_of_type(self, *types: str) -> list[str]:
        return [n for n in self.nx.nodes if self.type(n) in types]

    @property
    def inputs(self) -> list[str]:
        return self.nodes_of_type("Input")

    @property
    def outputs(self) -> list[str]:
        return self.nodes_of_type("Output")

    def items(self) -> Iterable[tuple[str, object]]:
        return ((n, d["op"]) for n, d in self.nx.nodes(data=True))

    # ------------------------------------------------------------------ structure
    def schedule(self) -> Schedule:
        """Evaluation order and the delayed (back) edges; see :class:`Schedule`."""
        color: dict[str, int] = {}  # 0/absent white, 1 on stack, 2 done
        back: set[tuple[str, str]] = set()
        for root in self.inputs + list(self.nx.nodes):
            if color.get(root):
                continue
            color[root] = 1
            stack = [(root, iter(self.nx.successors(root)))]
            while stack:
                node, it = stack[-1]
                for succ in it:
                    c = color.get(succ, 0)
                    if c == 1:
                        back.add((node, succ))
                    elif c == 0:
                        color[succ] = 1
                        stack.append((succ, iter(self.nx.successors(succ))))
                        break
                else:
                    color[node] = 2
                    stack.pop()
        dag = nx.DiGraph()
        dag.add_nodes_from(self.nx.nodes)
        dag.add_edges_from(e for e in self.nx.edges if e not in back)
        index = {n: i for i, n in enumerate(self.nx.nodes)}
        order = tuple(nx.lexicographical_topological_sort(dag, key=index.__getitem__))
        return Schedule(order, frozenset(back))

    def recurrent_cycles(self) -> list[list[str]]:
        """The strongly connected components with a cycle (recurrent blocks), sorted."""
        index = {n: i for i, n in enumerate(self.nx.nodes)}
        out = []
        for comp in nx.strongly_connected_components(self.nx):
            if len(comp) > 1 or any(self.nx.has_edge(n, n) for n in comp):
                out.append(sorted(comp, key=index.__getitem__))
        return sorted(out, key=lambda c: index[c[0]])

    # ------------------------------------------------------------------ export
    def to_nir(self) -> nir.NIRGraph:
        """A ``nir.NIRGraph`` with the same node objects and edges (no type check)."""
        return nir.NIRGraph(
            nodes={n: self.op(n) for n in self.nx.nodes},
            edges=[(a, b) for a, b in self.nx.edges],
            metadata={},
            type_check=False,
        )

    def __repr__(self) -> str:
        return f"<nircc Graph: {len(self)} nodes, {self.nx.number_of_edges()} edges>"
