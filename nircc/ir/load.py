"""The tolerant NIR front end: ``load(path | nir.NIRGraph) -> Graph``.

Real files exported by snnTorch, Norse, Sinabs, Rockpool and Lava-DL are messy and
``nir.read`` rejects some of them.  ``load`` reads the HDF5 layout itself, flattens nested
subgraphs, and repairs what is unambiguous, recording one ``Diagnostic`` (node, field,
what was changed) per repair:

========================  ==========================================================
code                      repair
========================  ==========================================================
``broadcast-scalar``      a scalar parameter broadcast to the node's shape
``infer-shape``           a missing input/output type inferred from the neighbours
``batch-dim``             a leading batch dimension of size 1 dropped from a type
``output-type``           an Output type that contradicts its source replaced by it
``conv-input-shape``      a Conv ``input_shape`` that contradicts its source replaced
``flatten-dims``          a Flatten ``start_dim`` counted with a batch axis shifted
``edge-name``             an edge naming a node by a short or truncated name resolved
``default-field``         a missing optional field given NIR's default (e.g. v_reset=0)
``ignored-field``         an unknown field ignored
========================  ==========================================================

Everything else (unknown node types, missing required fields, dangling, ambiguous or
duplicate edges, inconsistent shapes, ...) is a ``NirccError`` naming node and field.
With ``strict=True`` every repair is an error instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import nir
import numpy as np

from ..errors import Diagnostics, ErrorCollector, NirccError
from .graph import NODE_TYPES, Graph
from .hdf5 import normalize_value, read_hdf5, to_str
from .shapes import ELEMENTWISE_FIELDS, Shape, as_shape, flatten_out, param_shapes

# --------------------------------------------------------------------------- fields
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Input": (),
    "Output": (),
    "Affine": ("weight",),
    "Linear": ("weight",),
    "Scale": ("scale",),
    "Conv1d": ("weight",),
    "Conv2d": ("weight",),
    "SumPool2d": ("kernel_size",),
    "AvgPool2d": ("kernel_size",),
    "Flatten": (),
    "I": ("r",),
    "IF": ("r", "v_threshold"),
    "LI": ("tau", "r", "v_leak"),
    "LIF": ("tau", "r", "v_leak", "v_threshold"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
    "Threshold": ("threshold",),
    "Delay": ("delay",),
}
# optional fields and NIR's defaults (a callable receives the node's raw fields)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "Affine": {"bias": lambda f: np.zeros(np.shape(f["weight"])[:-1], dtype=np.asarray(f["weight"]).dtype)},
    "Conv1d": {"bias": lambda f: np.zeros(np.shape(f["weight"])[0], dtype=np.asarray(f["weight"]).dtype),
               "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "input_shape": None},
    "Conv2d": {"bias": lambda f: np.zeros(np.shape(f["weight"])[0], dtype=np.asarray(f["weight"]).dtype),
               "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "input_shape": None},
    "SumPool2d": {"stride": lambda f: f["kernel_size"], "padding": 0},
    "AvgPool2d": {"stride": lambda f: f["kernel_size"], "padding": 0},
    "Flatten": {"start_dim": 1, "end_dim": -1, "input_type": None},
    "IF": {"v_reset": lambda f: np.zeros_like(np.asarray(f["v_threshold"]))},
    "LIF": {"v_reset": lambda f: np.zeros_like(np.asarray(f["v_threshold"]))},
    "CubaLIF": {"v_reset": lambda f: np.zeros_like(np.asarray(f["v_threshold"])), "w_in": 1.0},
    "CubaLI": {"w_in": 1.0},
}
# defaults that are routine (no warning): an absent Conv input_shape, a Flatten's type
_QUIET_DEFAULTS = {"input_shape", "input_type"}
_META_KEYS = {"type", "metadata"}


def _shape_str(s) -> str:
    return "?" if s is None else str(list(s))


# --------------------------------------------------------------------------- raw tree
def _raw_from_nir(node) -> dict:
    """An in-memory nir node as the same raw dict the HDF5 reader produces."""
    d = node.to_dict()

    def norm(x):
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)):
            return np.array([[to_str(a), to_str(b)] for a, b in x], dtype=str).reshape(-1, 2)
        if x is None:
            return None
        return normalize_value(x)

    return norm(d)


# --------------------------------------------------------------------------- flatten
@dataclass
class _Flat:
    nodes: dict[str, dict] = field(default_factory=dict)  # qualified name -> raw node
    edges: list[tuple[str, str]] = field(default_factory=list)
    ports: set[str] = field(default_factory=set)  # inner Input/Output nodes to eliminate


def _edges_of(raw: dict, scope: str, errs: ErrorCollector) -> list[tuple[str, str]]:
    e = raw.get("edges")
    if e is None:
        return []
    arr = np.asarray(e)
    if arr.size == 0:
        return []
    if arr.size % 2:
        errs.add(f"edges must be [source, destination] pairs, got an array of shape {list(arr.shape)}",
                 node=scope or None, field="edges")
        return []
    return [(to_str(a), to_str(b)) for a, b in arr.reshape(-1, 2)]


def _find_inner(raw: dict, short: str) -> list[list[str]]:
    """Paths (lists of names) of nodes called ``short`` inside the subgraphs of ``raw``."""
    hits = []
    for name, sub in raw.get("nodes", {}).items():
        if isinstance(sub, dict) and sub.get("type") == "NIRGraph":
            for inner_name, inner in sub.get("nodes", {}).items():
                if inner_name == short:
                    hits.append([name, inner_name])
            hits.extend([name] + p for p in _find_inner(sub, short))
    return hits


def _resolve(raw: dict, name: str, scope: str, edge, diags: Diagnostics,
             errs: ErrorCollector) -> Optional[list[str]]:
    """Resolve an edge endpoint inside ``raw`` to a path of names, repairing short names."""
    nodes = raw.get("nodes", {})
    if name in nodes:
        return [name]
    where = scope or None
    # a qualified reference into a subgraph: "sub.inner"
    if "." in name:
        head, rest = name.split(".", 1)
        sub = nodes.get(head)
        if isinstance(sub, dict) and sub.get("type") == "NIRGraph":
            inner = _resolve(sub, rest, f"{scope}{head}.", edge, diags, errs)
            return None if inner is None else [head] + inner
    hits = _find_inner(raw, name)
    how = "by its short name"
    if not hits:
        hits = [[n] for n in nodes if n.startswith(name)]
        how = "by a truncated name"
    if len(hits) == 1:
        target = scope + ".".join(hits[0])
        diags.warn("edge-name", f"edge {edge} names node {name!r} {how}; resolved to {target!r}",
                   node=scope + name, field="edges", stage="load")
        return hits[0]
    if hits:
        cands = sorted(scope + ".".join(h) for h in hits)
        errs.add(f"edge {edge}: node {name!r} is ambiguous, it could be any of {cands}",
                 node=where, field="edges")
    else:
        errs.add(f"edge {edge}: node {name!r} does not exist (nodes: {sorted(nodes)})",
                 node=where, field="edges")
    return None


def _flatten(raw: dict, prefix: str, flat: _Flat, diags: Diagnostics, errs: ErrorCollector) -> tuple[list, list]:
    """Flatten the graph ``raw`` into ``flat``; returns its (input, output) port names."""
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict):
        errs.add("graph has no 'nodes' group", node=prefix.rstrip(".") or None, field="nodes")
        return [], []
    inputs, outputs = [], []
    sub_ports: dict[str, tuple[list, list]] = {}
    for name, node in nodes.items():
        q = prefix + name
        if not isinstance(node, dict) or "type" not in node:
            errs.add("node has no 'type'", node=q, field="type")
            continue
        if node["type"] == "NIRGraph":
            sub_ports[name] = _flatten(node, q + ".", flat, diags, errs)
            continue
        if q in flat.nodes:
            errs.add(f"two nodes have the qualified name {q!r} after flattening subgraphs", node=q)
            continue
        flat.nodes[q] = node
        if prefix and node["type"] in ("Input", "Output"):
            flat.ports.add(q)
        if node["type"] == "Input":
            inputs.append(q)
        elif node["type"] == "Output":
            outputs.append(q)

    def ends(path: list[str], is_src: bool, edge) -> list[str]:
        head = path[0]
        if head in sub_ports and len(path) == 1:
            ins, outs = sub_ports[head]
            cands = outs if is_src else ins
            if len(cands) != 1:
                kind = "Output" if is_src else "Input"
                errs.add(f"edge {edge} connects to subgraph {prefix + head!r} as a whole, but it has "
                         f"{len(cands)} {kind} nodes ({cands}); name one of them",
                         node=prefix + head, field="edges")
                return []
            return cands
        return [prefix + ".".join(path)]

    seen = set()
    for a, b in _edges_of(raw, prefix.rstrip("."), errs):
        edge = (a, b)
        pa = _resolve(raw, a, prefix, edge, diags, errs)
        pb = _resolve(raw, b, prefix, edge, diags, errs)
        if pa is None or pb is None:
            continue
        key = (tuple(pa), tuple(pb))
        if key in seen:
            errs.add(f"duplicate edge {edge}", node=prefix.rstrip(".") or None, field="edges")
            continue
        seen.add(key)
        for s in ends(pa, True, edge):
            for d in ends(pb, False, edge):
                flat.edges.append((s, d))
    return inputs, outputs


def _eliminate_ports(flat: _Flat) -> None:
    """Remove subgraph Input/Output nodes, connecting their sources to their targets."""
    edges = list(flat.edges)
    for p in sorted(flat.ports):
        preds = [a for a, b in edges if b == p]
        succs = [b for a, b in edges if a == p]
        rest = [(a, b) for a, b in edges if a != p and b != p]
        for a in preds:
            for b in succs:
                if (a, b) not in rest:
                    rest.append((a, b))
        edges = rest
        del flat.nodes[p]
    flat.edges = edges


# --------------------------------------------------------------------------- node objects
def _make_op(name: str, raw: dict, diags: Diagnostics, errs: ErrorCollector):
    t = raw.get("type")
    if t not in NODE_TYPES:
        errs.add(f"unknown node type {t!r} (known: {', '.join(sorted(NODE_TYPES))})",
                 node=name, field="type")
        return None
    fields = {k: v for k, v in raw.items() if k not in _META_KEYS}
    # Input/Output keep their shape under "shape" (older files: input_type/output_type)
    if t in ("Input", "Output"):
        key = "shape" if "shape" in fields else ("input_type" if t == "Input" else "output_type")
        shape = fields.pop(key, None)
        if isinstance(shape, dict):
            shape = next(iter(shape.values()), None)
        for k in list(fields):
            if k not in ("input_type", "output_type"):
                diags.warn("ignored-field", f"unknown field {k!r} of {t} ignored", node=name, field=k, stage="load")
        shape = as_shape(shape) if shape is not None else None
        if shape is None:
            shape = ()  # unknown: inferred from the neighbours (Output) or an error (Input)
        arr = np.array(shape, dtype=np.int64)
        return nir.Input(input_type={"input": arr}) if t == "Input" else nir.Output(output_type={"output": arr})

    missing = [f for f in _REQUIRED[t] if fields.get(f) is None]
    if missing:
        for f in missing:
            errs.add(f"{t} node has no {f!r}", node=name, field=f)
        return None
    for f, default in _DEFAULTS.get(t, {}).items():
        if fields.get(f) is None:
            fields[f] = default(fields) if callable(default) else default
            if f not in _QUIET_DEFAULTS:
                diags.warn("default-field", f"{f!r} missing; using NIR's default {_brief(fields[f])}",
                           node=name, field=f, stage="load")
    known = set(_REQUIRED[t]) | set(_DEFAULTS.get(t, {}))
    for k in list(fields):
        if k not in known:
            diags.warn("ignored-field", f"unknown field {k!r} of {t} ignored", node=name, field=k, stage="load")
            del fields[k]
    for k, v in list(fields.items()):
        if isinstance(v, np.ndarray) and v.dtype.kind not in "biuf" and k != "padding":
            errs.add(f"expected numbers, got {v.dtype} data", node=name, field=k)
            return None
    try:
        if t in ELEMENTWISE_FIELDS:
            _broadcast_fields(name, t, fields, None, diags)
        return _construct(t, fields)
    except NirccError as e:
        errs.extend(e)
    except (ValueError, TypeError, AssertionError, IndexError) as e:
        errs.add(f"cannot build a {t} node from the file's fields: {e}", node=name)
    return None


def _brief(v) -> str:
    a = np.asarray(v) if v is not None else None
    if a is None:
        return "None"
    if a.size <= 4:
        return str(a.tolist())
    return f"array{list(a.shape)}"


def _broadcast_fields(name: str, t: str, fields: dict, shape: Optional[Shape], diags: Diagnostics) -> None:
    """Broadcast the element-wise fields of a node to ``shape`` (default: their common shape)."""
    names = [f for f in ELEMENTWISE_FIELDS[t] if fields.get(f) is not None]
    arrays = {f: np.asarray(fields[f]) for f in names}
    try:
        common = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        desc = ", ".join(f"{f} {list(a.shape)}" for f, a in arrays.items())
        raise NirccError(f"parameter shapes do not broadcast: {desc}", node=name, field=names[0]) from None
    target = tuple(shape) if shape is not None else common
    for f, a in arrays.items():
        if a.shape != tuple(target):
            try:
                b = np.broadcast_to(a, target).copy()
            except ValueError:
                raise NirccError(f"shape {list(a.shape)} does not broadcast to the node's shape {list(target)}",
                                 node=name, field=f) from None
            diags.warn("broadcast-scalar",
                       f"{'scalar' if a.ndim == 0 else 'shape ' + str(list(a.shape))} broadcast to {list(target)}",
                       node=name, field=f, stage="load")
            fields[f] = b
        else:
            fields[f] = a


def _construct(t: str, fields: dict):
    cls = NODE_TYPES[t]
    f = dict(fields)
    if t == "Flatten":
        it = f.pop("input_type")
        if isinstance(it, dict):
            it = next(iter(it.values()), None)
        it = None if it is None or np.asarray(it).size == 0 else np.asarray(as_shape(it), dtype=np.int64)
        return nir.Flatten(input_type={"input": it}, start_dim=int(np.asarray(f["start_dim"]).reshape(-1)[0]),
                           end_dim=int(np.asarray(f["end_dim"]).reshape(-1)[0]))
    if t in ("Conv1d", "Conv2d"):
        ish = f.get("input_shape")
        if ish is not None:
            s = as_shape(ish)
            f["input_shape"] = (s[0] if t == "Conv1d" else tuple(s)) if s else None
        pad = f["padding"]
        if isinstance(pad, str):
            f["padding"] = pad
        else:
            p = np.asarray(pad).reshape(-1)
            f["padding"] = int(p[0]) if t == "Conv1d" else (tuple(int(x) for x in p) if p.size > 1 else int(p[0]))
        for k in ("stride", "dilation"):
            v = np.asarray(f[k]).reshape(-1)
            f[k] = int(v[0]) if t == "Conv1d" else (tuple(int(x) for x in v) if v.size > 1 else int(v[0]))
        f["groups"] = int(np.asarray(f["groups"]).reshape(-1)[0])
        w = np.asarray(f["weight"])
        nd = 1 if t == "Conv1d" else 2
        if w.ndim != nd + 2:
            raise NirccError(f"{t} weight must have {nd + 2} axes [C_out, C_in/groups, "
                             f"{'k' if nd == 1 else 'kH, kW'}], got shape {list(w.shape)}", field="weight")
        return cls(**f)
    if t in ("SumPool2d", "AvgPool2d"):
        for k in ("kernel_size", "stride", "padding"):
            v = np.asarray(f[k]).reshape(-1).astype(np.int64)
            f[k] = np.repeat(v, 2) if v.size == 1 else v
        return cls(**f)
    return cls(**{k: (np.asarray(v) if k != "padding" else v) for k, v in f.items()})


# --------------------------------------------------------------------------- shapes
def _expectation(g: Graph, n: str) -> Optional[tuple]:
    """What ``n``'s parameters require of its input (None entries = any)."""
    op, t = g.op(n), g.type(n)
    if t in ("Affine", "Linear"):
        return param_shapes(op)[0]
    if t in ("Conv1d", "Conv2d"):
        c_in = int(np.shape(op.weight)[1]) * int(op.groups)
        return (c_in,) + (None,) * (np.ndim(op.weight) - 2)
    if t in ("SumPool2d", "AvgPool2d"):
        return (None, None, None)
    if t in ELEMENTWISE_FIELDS:
        s = param_shapes(op)[0]
        return s
    return None


def _matches(shape: Shape, pattern: Optional[tuple]) -> bool:
    if pattern is None:
        return True
    return len(shape) == len(pattern) and all(p is None or p == s for s, p in zip(shape, pattern))


def _fix_input_batch(g: Graph, n: str, diags: Diagnostics) -> None:
    """Drop leading size-1 (batch) axes of an Input type when its consumers require it."""
    shape = g.out_shape(n)
    pats = [_expectation(g, s) for s in g.successors(n)]
    pats = [p for p in pats if p is not None]
    if not shape or not pats or all(_matches(shape, p) for p in pats):
        return
    for k in range(1, len(shape)):
        if shape[k - 1] != 1:
            break
        if all(_matches(shape[k:], p) for p in pats):
            new = shape[k:]
            g.set_op(n, nir.Input(input_type={"input": np.array(new, dtype=np.int64)}))
            diags.warn("batch-dim", f"Input type {list(shape)} has {k} leading batch axis of size 1; "
                       f"using {list(new)} (NIR shapes have no batch axis)", node=n, field="shape", stage="load")
            return


def _infer_shapes(g: Graph, diags: Diagnostics, errs: ErrorCollector) -> None:
    """Propagate shapes through the graph, repairing annotations that contradict parameters."""
    declared_out = {}
    for n in g.outputs:  # an Output's type is only an annotation: inferred from its source
        declared_out[n] = g.out_shape(n)
        g.set_shapes(n, None, None)
    for n in g.inputs:
        if not g.out_shape(n):
            errs.add("Input node has no shape", node=n, field="shape")
        else:
            _fix_input_batch(g, n, diags)
    declared_conv = {}
    for n in g.nodes_of_type("Conv1d", "Conv2d"):
        if g.op(n).input_shape is not None:
            declared_conv[n] = g.in_shape(n)
            g.set_shapes(n, None, None)

    order = g.schedule().order
    changed, rounds = True, 0
    while changed and rounds <= len(order) + 1:
        changed, rounds = False, rounds + 1
        for v in order:
            if g.in_shape(v) is not None:
                continue
            for u in g.predecessors(v):
                if g.type(u) == "Flatten":
                    _fix_flatten_dims(g, u, v, diags)
            srcs = {g.out_shape(u) for u in g.predecessors(v)} - {None}
            if len(srcs) != 1:
                continue
            src = next(iter(srcs))
            try:
                i, o = _shapes_from_input(g, v, src, declared_conv, diags)
            except ValueError as e:
                errs.add(f"cannot take input of shape {list(src)}: {e}", node=v)
                g.set_shapes(v, src, None)
                continue
            g.set_shapes(v, i, o)
            changed = True
        # backwards: an all-scalar element-wise node feeding a node that fixes the shape
        for u in order:
            if g.out_shape(u) is None and g.type(u) in ELEMENTWISE_FIELDS:
                pats = {_expectation(g, s) for s in g.successors(u)} - {None}
                pats = {p for p in pats if None not in p}
                if len(pats) == 1:
                    s = next(iter(pats))
                    g.set_shapes(u, s, s)
                    changed = True

    for n in order:
        if g.out_shape(n) is None or g.in_shape(n) is None:
            if not any(e.node == n for e in errs.errors):
                errs.add("cannot infer the shape (no source of known shape reaches it)", node=n)
    for n, decl in declared_out.items():
        got = g.in_shape(n)
        if got is not None and decl and tuple(decl) != got:
            diags.warn("output-type", f"Output type {list(decl)} contradicts its source's shape {list(got)}; "
                       f"using {list(got)}", node=n, field="shape", stage="load")
        if got is not None:
            g.set_op(n, nir.Output(output_type={"output": np.array(got, dtype=np.int64)}), got, got)


def _shapes_from_input(g: Graph, v: str, src: Shape, declared_conv: dict, diags: Diagnostics):
    op, t = g.op(v), g.type(v)
    if t in ("Conv1d", "Conv2d") and v in declared_conv:
        decl = declared_conv[v]
        if decl is not None and tuple(decl) != tuple(src):
            if decl[0] != src[0]:
                raise ValueError(f"the weights need {decl[0]} input channels")
            diags.warn("conv-input-shape", f"input_shape {list(decl[1:])} contradicts the source's "
                       f"{list(src[1:])}; using {list(src[1:])}", node=v, field="input_shape", stage="load")
            op = _with(op, input_shape=(int(src[1]) if t == "Conv1d" else tuple(src[1:])))
            g.set_op(v, op)
        return param_shapes(op, src)
    if t == "Flatten" and op.input_type.get("input") is not None:
        decl = as_shape(op.input_type["input"])
        if tuple(decl) != tuple(src):
            k = len(decl) - len(src)
            if k > 0 and all(x == 1 for x in decl[:k]) and tuple(decl[k:]) == tuple(src):
                sd, ed = int(op.start_dim), int(op.end_dim)
                sd2 = max(sd - k, 0) if sd >= 0 else sd
                ed2 = max(ed - k, 0) if ed >= 0 else ed
                new = nir.Flatten(input_type={"input": np.array(src, dtype=np.int64)}, start_dim=sd2, end_dim=ed2)
                diags.warn("batch-dim", f"Flatten input_type {list(decl)} has a leading batch axis; using "
                           f"{list(src)} with start_dim {sd2}, end_dim {ed2}", node=v, field="input_type", stage="load")
                g.set_op(v, new)
                return param_shapes(new, src)
            raise ValueError(f"the node's input_type is {list(decl)}")
        return param_shapes(op, src)
    if t == "Flatten":
        new = nir.Flatten(input_type={"input": np.array(src, dtype=np.int64)},
                          start_dim=op.start_dim, end_dim=op.end_dim)
        g.set_op(v, new)
        return param_shapes(new, src)
    if t == "Output":
        return src, src
    pat = _expectation(g, v)
    if pat is not None and not _matches(src, pat):
        raise ValueError(f"its parameters need an input of shape {_shape_str(pat)}")
    return param_shapes(op, src)


def _fix_flatten_dims(g: Graph, u: str, v: str, diags: Diagnostics) -> None:
    """A Flatten ``u`` whose start_dim counted a batch axis (its output has a rank its
    consumer ``v`` cannot take, while a full flatten fits) is shifted to start_dim 0."""
    op = g.op(u)
    src, out = g.in_shape(u), g.out_shape(u)
    pat = _expectation(g, v)
    if src is None or out is None or pat is None or int(op.start_dim) <= 0 or _matches(out, pat):
        return
    full = flatten_out(src, 0, int(op.end_dim)) if int(op.end_dim) < 0 or int(op.end_dim) >= int(op.start_dim) else None
    if full is None or not _matches(full, pat):
        return
    new = nir.Flatten(input_type={"input": np.array(src, dtype=np.int64)}, start_dim=0, end_dim=op.end_dim)
    diags.warn("flatten-dims", f"start_dim {int(op.start_dim)} gives {list(out)}, which {v!r} cannot take; "
               f"start_dim counted a batch axis, using 0 -> {list(full)}", node=u, field="start_dim", stage="load")
    g.set_op(u, new, src, full)


def _with(op, **changes):
    """A copy of a nir node with some fields changed (nir dataclasses are not frozen)."""
    import dataclasses

    kw = {f.name: getattr(op, f.name) for f in dataclasses.fields(op) if f.init}
    kw.update(changes)
    return type(op)(**kw)


def _finish_elementwise(g: Graph, diags: Diagnostics, errs: ErrorCollector) -> None:
    """Broadcast all-scalar element-wise nodes to their inferred shape."""
    for n in g.nodes:
        t = g.type(n)
        if t not in ELEMENTWISE_FIELDS or g.in_shape(n) is None:
            continue
        op = g.op(n)
        shape = g.in_shape(n)
        if param_shapes(op)[0] == shape:
            continue
        fields = {f: getattr(op, f) for f in ELEMENTWISE_FIELDS[t] if getattr(op, f, None) is not None}
        try:
            _broadcast_fields(n, t, fields, shape, diags)
            extra = {"v_reset": fields.get("v_reset")} if "v_reset" in fields else {}
            g.set_op(n, _with(op, **{**fields, **extra}), shape, shape)
        except NirccError as e:
            errs.extend(e)


def _fill_conv_input_shape(g: Graph) -> None:
    for n in g.nodes_of_type("Conv1d", "Conv2d"):
        op = g.op(n)
        if op.input_shape is None and g.in_shape(n) is not None:
            s = g.in_shape(n)[1:]
            g.set_op(n, _with(op, input_shape=(int(s[0]) if g.type(n) == "Conv1d" else tuple(s))),
                     g.in_shape(n), g.out_shape(n))


# --------------------------------------------------------------------------- entry point
def load(source: Union[str, os.PathLike, "nir.NIRGraph", Graph], *, strict: bool = False,
         validate: bool = True) -> Graph:
    """Read a NIR graph (a ``.nir`` file or an in-memory ``nir.NIRGraph``) into a flat
    :class:`Graph`, repairing what is unambiguous (see the module docstring).

    Raises :class:`NirccError` (one or several) naming node, field and reason for what
    cannot be repaired, or, with ``strict=True``, for any repair at all.
    """
    from .validate import validate as _validate

    if isinstance(source, Graph):
        return source.copy()
    diags = Diagnostics()
    errs = ErrorCollector()
    meta: dict = {}
    if isinstance(source, nir.NIRNode):
        if not isinstance(source, nir.NIRGraph):
            source = nir.NIRGraph.from_list(source, type_check=False)
        raw = _raw_from_nir(source)
        meta["source"] = "<nir.NIRGraph>"
    elif isinstance(source, (str, os.PathLike)):
        raw, file_meta = read_hdf5(source)
        meta["source"] = os.fspath(source)
        meta.update(file_meta)
    else:
        raise TypeError(f"load() takes a path or a nir.NIRGraph, not {type(source).__name__}")
    if raw.get("type") not in ("NIRGraph", None):
        raise NirccError(f"the root node is a {raw.get('type')!r}, not a NIRGraph", field="type")
    if isinstance(raw.get("metadata"), dict) and raw["metadata"]:
        meta["metadata"] = raw["metadata"]

    flat = _Flat()
    _flatten(raw, "", flat, diags, errs)
    errs.raise_if_any()
    _eliminate_ports(flat)

    g = Graph(meta=meta, diagnostics=diags)
    for name, rnode in flat.nodes.items():
        op = _make_op(name, rnode, diags, errs)
        if op is not None:
            g.nx.add_node(name, op=op, in_shape=None, out_shape=None)
    errs.raise_if_any()
    for a, b in flat.edges:
        g.nx.add_edge(a, b)
    for n in g.nodes:
        try:
            i, o = param_shapes(g.op(n))
        except ValueError as e:
            errs.add(str(e), node=n)
            continue
        g.set_shapes(n, i, o)
    errs.raise_if_any()

    _infer_shapes(g, diags, errs)
    errs.raise_if_any()
    _finish_elementwise(g, diags, errs)
    _fill_conv_input_shape(g)
    errs.raise_if_any()

    if strict and diags.warnings():
        raise _strict_error(diags)
    if validate:
        _validate(g)
    return g


def _strict_error(diags: Diagnostics) -> NirccError:
    from ..errors import NirccErrors

    return NirccErrors(NirccError(f"strict mode: {d.message}", d.node, d.field, code=d.code)
                       for d in diags.warnings())
