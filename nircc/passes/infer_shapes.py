"""``infer_shapes``: the input and output shape of every node, recomputed from scratch.

The formulas are those of :mod:`nircc.ir.shapes` (:func:`~nircc.ir.shapes.param_shapes`),
never restated here.  A node's shapes come from its own parameters where they fix them
(Affine/Linear weights, element-wise parameter arrays, Input/Output types, a Conv's
``input_shape``, a Flatten's ``input_type``) and otherwise from its sources, in the
evaluation order of :meth:`Graph.schedule` (nodes fed only along back edges are resolved
in a second sweep).  Then every edge is checked, back edges included.

Errors (all found at once, as :class:`~nircc.errors.NirccErrors`) name the node and the
mismatching dimension, e.g.::

    node 'fc2', field 'input': source 'lif1' gives [10] but the node takes [12] (weight [3, 12]):
    dimension 0 is 10, expected 12
"""
from __future__ import annotations

from typing import Optional

import networkx as nx
import numpy as np

from ..errors import ErrorCollector
from ..ir import Graph
from ..ir.shapes import Shape, as_shape, conv_geometry, param_shapes, pool_geometry

__all__ = ["infer_shapes"]


def _mismatch(got: Shape, want: Shape, labels: Optional[dict[int, str]] = None) -> str:
    """Which dimension differs, e.g. 'dimension 1 (H) is 10, expected 12'."""
    if len(got) != len(want):
        return f"rank {len(got)}, expected rank {len(want)}"
    parts = []
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            label = f" ({labels[i]})" if labels and i in labels else ""
            parts.append(f"dimension {i}{label} is {a}, expected {b}")
    return "; ".join(parts)


def _what_fixes_input(g: Graph, n: str) -> tuple[str, Optional[dict[int, str]]]:
    """A short account of why ``n`` takes the input shape it takes, and dimension labels."""
    op, t = g.op(n), g.type(n)
    if t in ("Affine", "Linear"):
        return f"weight {list(np.shape(op.weight))}", None
    if t in ("Conv1d", "Conv2d"):
        geo = conv_geometry(op)
        labels = {0: "channels"} | ({1: "L"} if geo["ndim"] == 1 else {1: "H", 2: "W"})
        why = (f"weight [C_out, C_in/groups, ...] = {list(np.shape(op.weight))} with groups={geo['groups']}")
        if getattr(op, "input_shape", None) is not None:
            why += f", declared input_shape {list(as_shape(op.input_shape))}"
        return why, labels
    if t == "Flatten":
        return "its declared input_type", None
    if t in ("Input", "Output"):
        return f"its declared {t} type", None
    return "its parameter shapes", None


def _out_error(g: Graph, n: str, in_shape: Shape, out_shape: Shape) -> Optional[str]:
    """A message when a conv or pool output would have an empty spatial dimension."""
    t = g.type(n)
    if t not in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d") or min(out_shape[1:], default=1) >= 1:
        return None
    op = g.op(n)
    geo = conv_geometry(op) if t.startswith("Conv") else dict(pool_geometry(op), dilation=None)
    bad = [i for i in range(1, len(out_shape)) if out_shape[i] < 1]
    i = bad[0]
    k = geo["kernel"][i - 1]
    dil = "" if geo["dilation"] is None else f", dilation {geo['dilation'][i - 1]}"
    pad = geo["padding"] if isinstance(geo["padding"], str) else geo["padding"][i - 1]
    return (f"output dimension {i} would be {out_shape[i]}: kernel {k}{dil}, stride {geo['stride'][i - 1]}, "
            f"padding {pad} do not fit the input size {in_shape[i]} (input {list(in_shape)})")


def infer_shapes(graph: Graph) -> Graph:
    """A copy of ``graph`` with ``in_shape``/``out_shape`` of every node recomputed
    (see the module docstring); raises NirccError(s) naming node and dimension."""
    g = graph.copy()
    errs = ErrorCollector()
    order = graph.schedule().order
    fixed: dict[str, tuple[Optional[Shape], Optional[Shape]]] = {}
    ins: dict[str, Shape] = {}
    outs: dict[str, Shape] = {}
    failed: set[str] = set()
    for n in order:
        try:
            fixed[n] = param_shapes(g.op(n), None)
        except ValueError as e:
            errs.add(str(e), n, "weight")
            fixed[n] = (None, None)
            failed.add(n)

    def resolve(n: str) -> bool:
        """Shapes of ``n`` from its parameters or its known sources; False to retry later."""
        if n in failed:
            return True
        p_in, p_out = fixed[n]
        srcs = {u: outs[u] for u in g.predecessors(n) if u in outs}
        if p_in is not None and p_out is not None and g.type(n) not in ("Conv1d", "Conv2d", "Flatten"):
            ins[n], outs[n] = p_in, p_out
            return True
        if not srcs:
            if p_in is not None:  # Conv with input_shape / Flatten with input_type, fed along a back edge
                try:
                    ins[n], outs[n] = param_shapes(g.op(n), p_in)
                    return True
                except ValueError:
                    return False
            return False
        shapes = set(srcs.values())
        if len(shapes) > 1:
            desc = ", ".join(f"{u!r} gives {list(s)}" for u, s in srcs.items())
            errs.add(f"its sources disagree on the shape: {desc}", n, "input")
            failed.add(n)
            return True
        src_shape = next(iter(shapes))
        try:
            new_in, new_out = param_shapes(g.op(n), src_shape)
        except ValueError as e:
            errs.add(f"input {list(src_shape)} from {sorted(srcs)}: {e}", n, "input")
            failed.add(n)
            return True
        if new_in is None or new_out is None:
            new_in = new_out = src_shape
        ins[n], outs[n] = new_in, new_out
        return True

    pending = list(order)
    while pending:
        left = [n for n in pending if not resolve(n)]
        if len(left) == len(pending):
            blocked = set(failed).union(*(nx.descendants(g.nx, f) for f in failed))  # already explained
            for n in left:
                if n not in blocked:
                    errs.add("cannot infer the shape: no source of known shape reaches it", n, "input")
            break
        pending = left

    for n in order:
        if n in failed or n not in ins:
            continue
        msg = _out_error(g, n, ins[n], outs[n])
        if msg:
            errs.add(msg, n, "output")
            failed.add(n)
    for u, v in g.edges:
        if u in failed or v in failed or u not in outs or v not in ins or outs[u] == ins[v]:
            continue
        why, labels = _what_fixes_input(g, v)
        errs.add(f"source {u!r} gives {list(outs[u])} but the node takes {list(ins[v])} ({why}): "
                 f"{_mismatch(outs[u], ins[v], labels)}", v, "input")
    errs.raise_if_any()
    for n in order:
        g.set_shapes(n, ins[n], outs[n])
    return g
