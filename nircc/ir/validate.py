"""Graph validation, run after load and after every pass.

Each rule is a small function returning errors that name the node, the field and the
reason; :func:`validate` runs them all and raises every error found at once.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import networkx as nx
import numpy as np

from ..errors import ErrorCollector, NirccError
from .graph import NODE_TYPES, Graph
from .shapes import conv_geometry, param_shapes, pool_geometry

Rule = Callable[[Graph], Iterator[NirccError]]
_RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    _RULES.append(fn)
    return fn


def _arrays(op) -> Iterator[tuple[str, np.ndarray]]:
    for f in dataclasses.fields(op):
        if f.name in ("input_type", "output_type", "metadata"):
            continue
        v = getattr(op, f.name, None)
        if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            yield f.name, v


@rule
def known_types(g: Graph):
    for n, op in g.items():
        if type(op).__name__ not in NODE_TYPES or not isinstance(op, NODE_TYPES[type(op).__name__]):
            yield NirccError(f"unknown node type {type(op).__name__!r}", n, "type")


@rule
def inputs_and_outputs(g: Graph):
    if not g.inputs:
        roots = [n for n in g.nodes if not g.predecessors(n)]
        if roots:
            yield NirccError(f"the graph has no Input node; nothing feeds {roots}", roots[0], "edges")
        else:
            yield NirccError("the graph has no Input node", field="nodes")
    if not g.outputs:
        leaves = [n for n in g.nodes if not g.successors(n)]
        if leaves:
            yield NirccError(f"the graph has no Output node; nothing reads {leaves}", leaves[0], "edges")
        else:
            yield NirccError("the graph has no Output node", field="nodes")
    for n in g.inputs:
        if g.predecessors(n):
            yield NirccError(f"an Input node has incoming edges (from {g.predecessors(n)})", n, "edges")
    for n in g.outputs:
        if g.successors(n):
            yield NirccError(f"an Output node has outgoing edges (to {g.successors(n)})", n, "edges")


@rule
def finite_parameters(g: Graph):
    for n, op in g.items():
        for f, a in _arrays(op):
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
                yield NirccError(f"{bad} of {a.size} values are NaN or infinite", n, f)


@rule
def positive_time_constants(g: Graph):
    for n, op in g.items():
        for f in ("tau", "tau_mem", "tau_syn"):
            a = getattr(op, f, None)
            if isinstance(a, np.ndarray) and a.dtype.kind in "biuf" and np.any(a <= 0):
                yield NirccError(f"time constant must be > 0, got min {float(np.min(a)):g} "
                                 f"({int(np.sum(a <= 0))} of {a.size} values <= 0)", n, f)
        if type(op).__name__ == "Delay" and np.any(np.asarray(op.delay) < 0):
            yield NirccError(f"delay must be >= 0, got min {float(np.min(op.delay)):g}", n, "delay")


@rule
def operator_parameters(g: Graph):
    for n, op in g.items():
        t = type(op).__name__
        if t == "Affine":
            w, b = np.shape(op.weight), np.shape(op.bias)
            if len(w) >= 2 and tuple(b) != tuple(w[:-1]):
                yield NirccError(f"bias shape {list(b)} does not match the weight's {w[-2]} outputs", n, "bias")
        elif t in ("Conv1d", "Conv2d"):
            yield from _conv_errors(g, n, op)
        elif t in ("SumPool2d", "AvgPool2d"):
            geo = pool_geometry(op)
            for k in ("kernel", "stride"):
                if min(geo[k]) < 1:
                    yield NirccError(f"must be >= 1, got {list(geo[k])}", n, "kernel_size" if k == "kernel" else k)
            if min(geo["padding"]) < 0:
                yield NirccError(f"must be >= 0, got {list(geo['padding'])}", n, "padding")


def _conv_errors(g: Graph, n: str, op):
    w = np.shape(op.weight)
    geo = conv_geometry(op)
    groups = geo["groups"]
    if groups < 1 or w[0] % groups:
        yield NirccError(f"groups={groups} must be >= 1 and divide the {w[0]} output channels", n, "groups")
    if tuple(np.shape(op.bias)) != (w[0],):
        yield NirccError(f"bias shape {list(np.shape(op.bias))} does not match the weight's {w[0]} "
                         f"output channels", n, "bias")
    for k in ("stride", "dilation"):
        if min(geo[k]) < 1:
            yield NirccError(f"must be >= 1, got {list(geo[k])}", n, k)
    if isinstance(geo["padding"], str):
        if geo["padding"] not in ("same", "valid"):
            yield NirccError(f"must be 'same', 'valid' or integers, got {geo['padding']!r}", n, "padding")
    elif min(geo["padding"]) < 0:
        yield NirccError(f"must be >= 0, got {list(geo['padding'])}", n, "padding")
    ish = g.in_shape(n)
    if ish is not None and ish[0] != w[1] * max(groups, 1):
        yield NirccError(f"input has {ish[0]} channels but the weight [C_out, C_in/groups, ...] = {list(w)} "
                         f"with groups={groups} needs {w[1] * groups}", n, "weight")
    osh = g.out_shape(n)
    if osh is not None and min(osh[1:], default=1) < 1:
        yield NirccError(f"output would be {list(osh)}: the kernel {list(geo['kernel'])} (dilation "
                         f"{list(geo['dilation'])}) is larger than the padded input {list(ish or [])}", n, "weight")


@rule
def shapes_along_edges(g: Graph):
    for n in g.nodes:
        if g.type(n) not in NODE_TYPES:
            continue  # reported by known_types
        if g.in_shape(n) is None or g.out_shape(n) is None:
            yield NirccError("shape unknown", n, "input")
            continue
        try:
            p_in, p_out = param_shapes(g.op(n), g.in_shape(n))
        except ValueError as e:
            yield NirccError(str(e), n, "input")
            continue
        if p_in is not None and tuple(p_in) != tuple(g.in_shape(n)):
            yield NirccError(f"recorded input shape {list(g.in_shape(n))} differs from the "
                             f"parameters' {list(p_in)}", n, "input")
        if p_out is not None and tuple(p_out) != tuple(g.out_shape(n)):
            yield NirccError(f"recorded output shape {list(g.out_shape(n))} differs from the "
                             f"parameters' {list(p_out)}", n, "output")
    for u, v in g.edges:
        a, b = g.out_shape(u), g.in_shape(v)
        if a is not None and b is not None and tuple(a) != tuple(b):
            yield NirccError(f"shape mismatch along edge ({u!r}, {v!r}): {u!r} outputs {list(a)}, "
                             f"{v!r} takes {list(b)}", v, "input")


@rule
def reachable(g: Graph):
    seen: set[str] = set()
    for i in g.inputs:
        seen |= nx.descendants(g.nx, i) | {i}
    for n in g.nodes:
        if n not in seen and g.inputs:
            yield NirccError("unreachable: no path from any Input node leads to it", n, "edges")


def check(g: Graph) -> list[NirccError]:
    """All validation errors of ``g`` (empty when valid)."""
    errs = ErrorCollector()
    for r in _RULES:
        for e in r(g):
            errs.extend(e)
    return errs.errors


def validate(g: Graph) -> None:
    """Raise every validation error of ``g`` at once (see :func:`check`)."""
    errs = ErrorCollector()
    for e in check(g):
        errs.extend(e)
    errs.raise_if_any()
