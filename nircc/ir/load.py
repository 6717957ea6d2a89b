"""The tolerant NIR front end: ``load(path | nir.NIRGraph) -> Graph``.

Real files exported by snnTorch, Norse, Sinabs, Rockpool and Lava-DL are messy and
``nir.read`` rejects some of them.  ``load`` reads the HDF5 layout itself, flattens nested
subgraphs, and repairs what is unambiguous, recording one ``Diagnostic`` (node, field,
what was changed) per repair:

========================  ==========================================================
code                      repair
========================  ==========================================================
``broadcast-scalar``      a scalar parameter broadcast to the node's shape
``infer-shape``           a missing shape inferred from the neighbours: an Input or
                          Output without a type, an element-wise node whose
                          parameters are all scalars (snnTorch ``Synaptic``)
``batch-dim``             a leading batch dimension of size 1 dropped from a type
``batch-time-dims``       leading batch and time axes dropped from an Input or Output
                          type (rockpool's ``[1, T, N]``) whose trailing axes are what
                          the graph needs there (the consumers fix at least one size;
                          an Output's source gives its shape)
``output-type``           an Output type that contradicts its source replaced by it
``conv-input-shape``      a Conv ``input_shape`` that contradicts its source replaced
``flatten-input-type``    a Flatten ``input_type`` that contradicts its source
                          (e.g. a placeholder) replaced by the source's shape
``flatten-dims``          a Flatten ``start_dim`` counted with a batch axis shifted
``edge-name``             an edge naming a node by a short or truncated name resolved
``default-field``         a missing optional field given NIR's default (e.g. v_reset=0)
``ignored-field``         an unknown field ignored
``add-input``             a graph without Input nodes: one added before each node
                          without incoming edges (as ``nir``'s type inference does)
``add-output``            a graph without Output nodes: one added after each node
                          without outgoing edges
``type-array``            a node ``type`` stored as a one-element string array read
                          as that string
========================  ==========================================================

Annotations (Output types, Conv ``input_shape``, Flatten ``input_type``) are checked against
the shape that flows from the sources and the parameters, which are trusted.  Strings may be
stored as bytes, ``str`` or fixed-length arrays, datasets gzip-compressed or not, numbers as
scalar (0-d) datasets; edges may name nodes by number.

Everything else (unknown node types, a type or shape that is not a string or a list of
whole numbers >= 1, a group where a field belongs, shapes over ``MAX_ELEMENTS`` elements,
missing required fields, dangling, ambiguous or duplicate edges, inconsistent shapes, ...)
is a ``NirccError`` naming node and field: nothing else escapes from malformed input
(``tests/ir/test_fuzz.py``).
With ``strict=True`` every repair is an error instead.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import networkx as nx
import numpy as np

from ..errors import Diagnostics, ErrorCollector, NirccError, NirccErrors
from . import nir_compat as nir
from .graph import NODE_TYPES, Graph, type_name
from .hdf5 import normalize_value, read_hdf5, to_str
from .shapes import ELEMENTWISE_FIELDS, Shape, as_shape, check_shape, describe_value, flatten_out, param_shapes

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
    "CubaLIF": {"v_reset": lambda f: np.zeros_like(np.asarray(f["v_threshold"])),
                "w_in": lambda f: np.ones_like(np.asarray(f["v_threshold"]))},
    "CubaLI": {"w_in": lambda f: np.ones_like(np.asarray(f["v_leak"]))},
}
# defaults that are routine (no warning): an absent Conv input_shape, a Flatten's type
_QUIET_DEFAULTS = {"input_shape", "input_type"}
_META_KEYS = {"type", "metadata"}


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


# --------------------------------------------------------------------------- types
def _type_string(value: Any, name: Optional[str], diags: Diagnostics, errs: ErrorCollector) -> Optional[str]:
    """A node's ``type`` as a string: a string as it is, a one-element string array
    repaired (with a warning), anything else an error naming the node."""
    if isinstance(value, str):
        return value
    arr = np.asarray(value) if isinstance(value, np.ndarray) else None
    if arr is not None and arr.dtype.kind == "U" and arr.size == 1:
        text = str(arr.reshape(-1)[0])
        diags.warn("type-array", f"type stored as an array of shape {list(arr.shape)}; using {text!r}",
                   node=name, field="type", stage="load")
        return text
    got = describe_value(np.asarray(value)) if isinstance(value, np.ndarray) else f"a {type(value).__name__}"
    errs.add(f"a node's type must be a string naming a NIR node type, got {got}", node=name, field="type")
    return None


def _normalize_types(raw: dict, prefix: str, diags: Diagnostics, errs: ErrorCollector) -> None:
    """Every node's ``type`` in the tree as a string, so that the rest of the reader can
    compare it; a node whose type is unusable is dropped here with an error."""
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict):
        return
    for name in list(nodes):
        node, q = nodes[name], prefix + name
        if not isinstance(node, dict):
            errs.add(f"a node must be an HDF5 group of fields, got a dataset ({_brief(node)})", node=q,
                     field="type")
            del nodes[name]
            continue
        if "type" not in node:
            continue  # reported by _flatten, with the hint about truncated files
        t = _type_string(node["type"], q, diags, errs)
        if t is None:
            del nodes[name]
            continue
        node["type"] = t
        if t == "NIRGraph":
            _normalize_types(node, q + ".", diags, errs)


# --------------------------------------------------------------------------- flatten
@dataclass
class _Flat:
    nodes: dict[str, dict] = field(default_factory=dict)  # qualified name -> raw node
    edges: list[tuple[str, str]] = field(default_factory=list)
    ports: set[str] = field(default_factory=set)  # inner Input/Output nodes to eliminate
    # qualified subgraph name -> (its Input port names, its Output port names)
    subgraphs: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)


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
            if short in sub.get("nodes", {}):
                hits.append([name, short])
            hits.extend([name] + p for p in _find_inner(sub, short))
    return hits


def _resolve(raw: dict, name: str, scope: str, edge, diags: Diagnostics,
             errs: ErrorCollector) -> Optional[list[str]]:
    """Resolve an edge endpoint inside ``raw`` to a path of names, repairing short names."""
    nodes = raw.get("nodes", {})
    if name in nodes:
        return [name]
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
                   node=target, field="edges", stage="load")
        return hits[0]
    if hits:
        cands = sorted(scope + ".".join(h) for h in hits)
        errs.add(f"edge {edge}: node {name!r} is ambiguous, it could be any of {cands}",
                 node=scope + name, field="edges")
    else:
        errs.add(f"edge {edge} names node {name!r}, which does not exist (nodes: {sorted(nodes)})",
                 node=scope + name, field="edges")
    return None


def _flatten(raw: dict, prefix: str, flat: _Flat, diags: Diagnostics, errs: ErrorCollector) -> tuple[list, list]:
    """Flatten the graph ``raw`` into ``flat``; returns its (input, output) port names."""
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict):
        errs.add("graph has no 'nodes' group", node=prefix.rstrip(".") or None, field="nodes")
        return [], []
    inputs, outputs = [], []
    for name, node in nodes.items():
        q = prefix + name
        if not isinstance(node, dict) or "type" not in node:
            errs.add("node has no 'type'", node=q, field="type")
            continue
        if node["type"] == "NIRGraph":
            flat.subgraphs[q] = _flatten(node, q + ".", flat, diags, errs)
            continue
        if q in flat.nodes:
            errs.add(f"two nodes have the qualified name {q!r} after flattening subgraphs", node=q, field="nodes")
            continue
        flat.nodes[q] = node
        if prefix and node["type"] in ("Input", "Output"):
            flat.ports.add(q)
        if node["type"] == "Input":
            inputs.append(q)
        elif node["type"] == "Output":
            outputs.append(q)

    def ends(path: list[str], is_src: bool, edge) -> list[str]:
        q = prefix + ".".join(path)
        if q not in flat.subgraphs:
            return [q]
        ins, outs = flat.subgraphs[q]
        cands = outs if is_src else ins
        if len(cands) != 1:
            kind = "Output" if is_src else "Input"
            errs.add(f"edge {edge} connects to subgraph {q!r} as a whole, but it has "
                     f"{len(cands)} {kind} nodes ({cands}); name one of them", node=q, field="edges")
            return []
        return cands

    seen = set()
    for a, b in _edges_of(raw, prefix.rstrip("."), errs):
        edge = (a, b)
        pa = _resolve(raw, a, prefix, edge, diags, errs)
        pb = _resolve(raw, b, prefix, edge, diags, errs)
        if pa is None or pb is None:
            continue
        key = (tuple(pa), tuple(pb))
        if key in seen:
            errs.add(f"duplicate edge {edge}", node=prefix + ".".join(pa), field="edges")
            continue
        seen.add(key)
        for s in ends(pa, True, edge):
            for d in ends(pb, False, edge):
                flat.edges.append((s, d))
    return inputs, outputs


def _eliminate_ports(flat: _Flat) -> None:
    """Remove subgraph Input/Output nodes, connecting their sources to their targets.

    Linear in nodes + edges (plus the fan-in x fan-out of each port): every port's set of
    real (non-port) targets is computed once, following chains of ports through nested
    subgraphs.  Edge order is kept; an edge made twice is kept once.
    """
    if not flat.ports:
        return
    succ: dict[str, list[str]] = {}
    for a, b in flat.edges:
        succ.setdefault(a, []).append(b)
    through: dict[str, list[str]] = {}

    def targets(port: str) -> list[str]:
        if port not in through:
            out: list[str] = []
            seen = {port}
            stack = list(reversed(succ.get(port, [])))
            while stack:
                n = stack.pop()
                if n in seen:
                    continue
                seen.add(n)
                if n in flat.ports:
                    stack.extend(reversed(succ.get(n, [])))
                else:
                    out.append(n)
            through[port] = out
        return through[port]

    edges: dict[tuple[str, str], None] = {}
    for a, b in flat.edges:
        if a in flat.ports:
            continue
        for t in (targets(b) if b in flat.ports else [b]):
            edges[(a, t)] = None
    for p in flat.ports:
        del flat.nodes[p]
    flat.edges = list(edges)


# --------------------------------------------------------------------------- node objects
def _make_op(name: str, raw: dict, diags: Diagnostics, errs: ErrorCollector) -> Optional[tuple[Any, Optional[Shape]]]:
    """The nir node object of a raw node and its declared shape annotation (the shape of an
    Input / Output, the input of a Conv from ``input_shape``, a Flatten's ``input_type``;
    ``None`` when absent).  Annotations are checked against the sources during shape
    inference, so Conv and Flatten objects are built without them."""
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
        try:
            declared = _shape_field(shape, key)
        except NirccError as e:
            errs.add(e.message, node=name, field=e.field)
            return None
        arr = np.array(declared or (), dtype=np.int64)  # empty: inferred from the neighbours
        op = nir.Input(input_type={"input": arr}) if t == "Input" else nir.Output(output_type={"output": arr})
        return op, declared or None

    missing = [f for f in _REQUIRED[t] if fields.get(f) is None]
    if missing:
        for f in missing:
            errs.add(f"{t} node has no {f!r}", node=name, field=f)
        return None
    known = set(_REQUIRED[t]) | set(_DEFAULTS.get(t, {}))
    for k in list(fields):
        if k not in known:
            diags.warn("ignored-field", f"unknown field {k!r} of {t} ignored", node=name, field=k, stage="load")
            del fields[k]
    for k, v in list(fields.items()):
        if k == "padding" and isinstance(v, str) or k in _QUIET_DEFAULTS and (v is None or isinstance(v, dict)):
            continue  # 'same' / 'valid'; the shape annotations are checked where they are read
        if isinstance(v, dict):
            errs.add("expected an array of numbers, got a group", node=name, field=k)
            return None
        if v is None:
            continue  # absent: NIR's default below
        if isinstance(v, str) or v.dtype.kind not in "biuf":
            got = f"the string {v!r}" if isinstance(v, str) else f"{v.dtype} data"
            errs.add(f"expected numbers, got {got}", node=name, field=k)
            return None
    for f, default in _DEFAULTS.get(t, {}).items():
        if fields.get(f) is None:
            fields[f] = default(fields) if callable(default) else default
            if f not in _QUIET_DEFAULTS:
                diags.warn("default-field", f"{f!r} missing; using NIR's default {_brief(fields[f])}",
                           node=name, field=f, stage="load")
    try:
        if t in ELEMENTWISE_FIELDS:
            _broadcast_fields(name, t, fields, None, diags)
        return _construct(t, fields)
    except NirccError as e:
        errs.add(e.message, node=name, field=e.field)
    except (ValueError, TypeError, AssertionError, IndexError) as e:
        errs.add(f"cannot build a {t} node from the file's fields: {e}", node=name, field=_MAIN_FIELD.get(t))
    return None


#: the field an error about a node is most likely about, when nothing more precise is known
_MAIN_FIELD = {"Affine": "weight", "Linear": "weight", "Conv1d": "weight", "Conv2d": "weight",
               "SumPool2d": "kernel_size", "AvgPool2d": "kernel_size", "Flatten": "start_dim",
               **{t: f[0] for t, f in ELEMENTWISE_FIELDS.items()}}


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


def _shape_field(v, field_name: str, least: int = 1) -> Optional[Shape]:
    """A shape annotation of the file (:func:`~nircc.ir.shapes.check_shape`'s checks), as a
    NirccError naming the field when it is not a shape."""
    if isinstance(v, str):
        raise NirccError(f"a shape must be a list of integers, got the string {v!r}", field=field_name)
    try:
        return check_shape(v, least)
    except ValueError as e:
        raise NirccError(str(e), field=field_name) from None


def _ints(v, n: int, field_name: str, least: int) -> tuple[int, ...]:
    """A geometry field (int or n ints, each >= ``least``) as an n-tuple."""
    arr = np.asarray(v).reshape(-1)
    if arr.dtype.kind not in "biuf" or arr.size not in (1, n) or not np.all(np.isfinite(arr)) \
            or not np.all(arr == np.round(arr)):
        raise NirccError(f"expected 1 or {n} integers, got {arr.tolist()}", field=field_name)
    vals = tuple(int(x) for x in np.broadcast_to(arr, (n,)))
    if max(abs(v) for v in vals) >= 2 ** 31:
        raise NirccError(f"expected integers below 2**31 in magnitude, got {list(vals)}", field=field_name)
    if min(vals) < least:
        raise NirccError(f"must be >= {least}, got {list(vals)}", field=field_name)
    return vals


def _construct(t: str, fields: dict) -> tuple[Any, Optional[Shape]]:
    """(nir node object, declared shape annotation) from normalized fields."""
    cls = NODE_TYPES[t]
    f = dict(fields)
    if t == "Flatten":
        it = f.pop("input_type")
        if isinstance(it, dict):
            it = next(iter(it.values()), None)
        declared = None if it is None or np.asarray(it).size == 0 else _shape_field(it, "input_type", least=0)
        op = nir.Flatten(input_type={"input": None}, start_dim=_ints(f["start_dim"], 1, "start_dim", -2**31)[0],
                         end_dim=_ints(f["end_dim"], 1, "end_dim", -2**31)[0])
        return op, declared
    if t in ("Conv1d", "Conv2d"):
        nd = 1 if t == "Conv1d" else 2
        w = np.asarray(f["weight"])
        if w.ndim != nd + 2:
            raise NirccError(f"{t} weight must have {nd + 2} axes [C_out, C_in/groups, "
                             f"{'k' if nd == 1 else 'kH, kW'}], got shape {list(w.shape)}", field="weight")
        pad = f["padding"]
        if isinstance(pad, str):
            if pad not in ("same", "valid"):
                raise NirccError(f"must be 'same', 'valid' or integers, got {pad!r}", field="padding")
        else:
            pad = _ints(pad, nd, "padding", 0)
        stride, dilation = _ints(f["stride"], nd, "stride", 1), _ints(f["dilation"], nd, "dilation", 1)
        groups = _ints(f["groups"], 1, "groups", 1)[0]
        declared = None
        if f.get("input_shape") is not None:
            spatial = _shape_field(f["input_shape"], "input_shape")
            if spatial is None or len(spatial) != nd:
                raise NirccError(f"input_shape {spatial} must have {nd} value(s), the spatial size of the input",
                                 field="input_shape")
            declared = (int(w.shape[1]) * groups,) + spatial
        one = (lambda x: x[0]) if nd == 1 else (lambda x: x)
        op = cls(input_shape=None, weight=w, stride=one(stride), padding=pad if isinstance(pad, str) else one(pad),
                 dilation=one(dilation), groups=groups, bias=np.asarray(f["bias"]))
        return op, declared
    if t in ("Affine", "Linear") and np.ndim(f["weight"]) < 2:
        raise NirccError(f"weight must be at least 2-D [out, in], got shape {list(np.shape(f['weight']))}",
                         field="weight")
    if t in ("SumPool2d", "AvgPool2d"):
        kw = {k: np.array(_ints(f[k], 2, k, least), dtype=np.int64)
              for k, least in (("kernel_size", 1), ("stride", 1), ("padding", 0))}
        return cls(**kw), None
    return cls(**{k: np.asarray(v) for k, v in f.items()}), None


# --------------------------------------------------------------------------- shapes
def _is_free(op) -> bool:
    """An element-wise node whose parameters do not fix its shape (all scalars, or all
    single-element vectors): its shape comes from its neighbours."""
    t = type_name(op)
    if t not in ELEMENTWISE_FIELDS:
        return False
    vals = [getattr(op, f) for f in ELEMENTWISE_FIELDS[t] if getattr(op, f, None) is not None]
    return all(np.ndim(v) <= 1 and np.size(v) == 1 for v in vals)


def _expectation(g: Graph, n: str) -> Optional[tuple]:
    """What ``n`` requires of its input (``None`` entries: any size; ``None``: anything)."""
    op, t = g.op(n), g.type(n)
    if t in ("Affine", "Linear") or t in ELEMENTWISE_FIELDS:
        return g.in_shape(n)
    if t in ("Conv1d", "Conv2d"):
        c_in = int(np.shape(op.weight)[1]) * int(op.groups)
        return (c_in,) + (None,) * (np.ndim(op.weight) - 2)
    if t in ("SumPool2d", "AvgPool2d"):
        return (None, None, None)
    return None


def _matches(shape: Shape, pattern: Optional[tuple]) -> bool:
    if pattern is None:
        return True
    return len(shape) == len(pattern) and all(p is None or p == s for s, p in zip(shape, pattern))


def _consumer_patterns(g: Graph, n: str) -> list[tuple]:
    return [p for p in (_expectation(g, s) for s in g.successors(n)) if p is not None]


def _initial_shapes(g: Graph, errs: ErrorCollector) -> None:
    """Shapes the parameters fix (Affine/Linear, element-wise nodes with arrays) and the
    declared Input shapes; everything else is inferred from the sources."""
    for n, op in g.items():
        t = type_name(op)
        i = o = None
        if t == "Input":
            i = o = as_shape(op.input_type["input"]) or None
        elif t in ("Affine", "Linear") or (t in ELEMENTWISE_FIELDS and not _is_free(op)):
            try:
                i, o = param_shapes(op)
            except ValueError as e:
                errs.add(str(e), node=n, field=_MAIN_FIELD[t])
        g.set_shapes(n, i, o)


def _unique(g: Graph, name: str) -> str:
    out, k = name, 0
    while out in g:
        out, k = f"{name}_{k}", k + 1
    return out


def _add_inputs(g: Graph, declared: dict, diags: Diagnostics, errs: ErrorCollector) -> None:
    """A graph without any Input node gets one per root (a node without incoming edges), as
    ``nir``'s type inference does (named ``input_<root>``), when the root's shape is known."""
    if g.inputs:
        return
    roots = [n for n in g.nodes if g.nx.in_degree(n) == 0 and g.type(n) != "Output"]
    if not roots:
        errs.add("the graph has no Input node, and every node has an incoming edge, so none can be added",
                 field="nodes")
        return
    for r in roots:
        shape = g.in_shape(r) or declared.get(r)
        if shape is None:
            errs.add("the graph has no Input node, and the shape of this node, which has no incoming edge, "
                     "is unknown (its parameters do not fix it)", node=r, field="input_type")
            continue
        name = _unique(g, f"input_{r}")
        g.add_node(name, nir.Input(input_type={"input": np.array(shape, dtype=np.int64)}))
        g.nx.add_edge(name, r)
        diags.warn("add-input", f"the graph has no Input node; added {name!r} of shape {list(shape)} feeding it",
                   node=r, field="input_type", stage="load")


def _fix_inputs(g: Graph, diags: Diagnostics, errs: ErrorCollector) -> None:
    """Infer missing Input shapes from their consumers; drop leading batch axes."""
    for n in g.inputs:
        shape = g.out_shape(n)
        pats = _consumer_patterns(g, n)
        if not shape:
            full = {p for p in pats if None not in p}
            if len(full) == 1 and len(pats) == len(full):
                new = next(iter(full))
                g.set_op(n, nir.Input(input_type={"input": np.array(new, dtype=np.int64)}), new, new)
                diags.warn("infer-shape", f"Input has no shape; using {list(new)}, what its consumers take",
                           node=n, field="shape", stage="load")
            else:
                errs.add("Input node has no shape (and its consumers do not fix one)", node=n, field="shape")
            continue
        if not pats or all(_matches(shape, p) for p in pats):
            continue
        k = _extra_leading_axes(shape, pats)
        if k is None:
            continue  # the shape check of the edges says what is wrong
        new = shape[k:]
        g.set_op(n, nir.Input(input_type={"input": np.array(new, dtype=np.int64)}), new, new)
        code, message = _leading_axes_note("Input", shape, k)
        diags.warn(code, message, node=n, field="shape", stage="load")


def _extra_leading_axes(shape: Shape, pats: list) -> Optional[int]:
    """How many leading axes of a declared Input/Output type to drop so that the rest matches
    every pattern in ``pats`` (what the graph needs there), or ``None``.

    The patterns fix the rank, hence the count ``k``.  Axes of size 1 (batch) are always
    dropped; axes of another size (rockpool's to_nir keeps the time axis: ``[1, T, N]``) only
    when some pattern fixes one of the kept sizes, so that the match is not vacuous."""
    ranks = {len(p) for p in pats}
    if len(ranks) != 1:
        return None
    k = len(shape) - ranks.pop()
    if k < 1 or not all(_matches(shape[k:], p) for p in pats):
        return None
    if all(x == 1 for x in shape[:k]) or any(x is not None for p in pats for x in p):
        return k
    return None


def _leading_axes_note(kind: str, shape: Shape, k: int) -> tuple[str, str]:
    """(code, message) of the diagnostic for ``k`` leading axes dropped from the type
    ``shape`` of an Input or Output (``kind``)."""
    new = list(shape[k:])
    if all(x == 1 for x in shape[:k]):
        return "batch-dim", (f"{kind} type {list(shape)} has {k} leading batch axis of size 1; "
                             f"using {new} (NIR shapes have no batch axis)")
    if k == 2 and shape[0] == 1:
        axes = "the batch and time axes (rockpool's to_nir)"
    else:
        axes = f"{k} leading batch/time ax{'is' if k == 1 else 'es'} (NIR shapes have neither)"
    return "batch-time-dims", f"{kind} type {list(shape)} keeps {axes}; using {new}"


def _from_source(g: Graph, v: str, src: Shape, declared: dict, diags: Diagnostics) -> None:
    """Set the shapes of ``v`` (whose parameters do not fix them) from its source's shape
    ``src``, checking and repairing its declared annotation.  Raises NirccError."""
    op, t = g.op(v), g.type(v)
    if t in ("Conv1d", "Conv2d"):
        w = np.shape(op.weight)
        nd = len(w) - 2
        if len(src) != nd + 1:
            raise NirccError(f"a {t} takes a [C, {'L' if nd == 1 else 'H, W'}] input, its source gives {list(src)}",
                             v, "input")
        if src[0] != w[1] * op.groups:
            raise NirccError(f"input has {src[0]} channels but the weight [C_out, C_in/groups, ...] = {list(w)} "
                             f"with groups={op.groups} needs {w[1] * op.groups}", v, "weight")
        decl = declared.get(v)
        if decl is not None and tuple(decl[1:]) != tuple(src[1:]):
            diags.warn("conv-input-shape", f"input_shape {list(decl[1:])} contradicts the source's "
                       f"{list(src[1:])}; using {list(src[1:])}", node=v, field="input_shape", stage="load")
        new = _with(op, input_shape=(int(src[1]) if nd == 1 else tuple(int(x) for x in src[1:])))
        g.set_op(v, new, *param_shapes(new, src))
    elif t == "Flatten":
        _flatten_from_source(g, v, src, declared.get(v), diags)
    elif t in ("SumPool2d", "AvgPool2d"):
        try:
            g.set_shapes(v, *param_shapes(op, src))
        except ValueError as e:
            raise NirccError(str(e), v, "input") from None
    else:  # Output, element-wise nodes whose parameters are scalars
        g.set_shapes(v, src, src)


def _flatten_from_source(g: Graph, v: str, src: Shape, decl: Optional[Shape], diags: Diagnostics) -> None:
    op = g.op(v)
    sd, ed = int(op.start_dim), int(op.end_dim)
    if decl is not None and tuple(decl) != tuple(src):
        k = len(decl) - len(src)
        if k > 0 and all(x == 1 for x in decl[:k]) and tuple(decl[k:]) == tuple(src):
            sd, ed = (max(sd - k, 0) if sd >= 0 else sd), (max(ed - k, 0) if ed >= 0 else ed)
            diags.warn("batch-dim", f"Flatten input_type {list(decl)} has a leading batch axis; using "
                       f"{list(src)} with start_dim {sd}, end_dim {ed}", node=v, field="input_type", stage="load")
        else:
            diags.warn("flatten-input-type", f"input_type {list(decl)} contradicts the source's shape {list(src)}; "
                       f"using {list(src)}", node=v, field="input_type", stage="load")
    try:
        out = flatten_out(src, sd, ed)
    except ValueError as e:
        raise NirccError(str(e), v, "start_dim") from None
    pats = _consumer_patterns(g, v)
    if sd > 0 and pats and not all(_matches(out, p) for p in pats):
        full = flatten_out(src, 0, ed)
        if all(_matches(full, p) for p in pats):
            diags.warn("flatten-dims", f"start_dim {sd} gives {list(out)}, which its consumers cannot take; "
                       f"start_dim counted a batch axis, using 0 -> {list(full)}", node=v, field="start_dim",
                       stage="load")
            sd, out = 0, full
    new = nir.Flatten(input_type={"input": np.array(src, dtype=np.int64)}, start_dim=sd, end_dim=ed)
    g.set_op(v, new, src, out)


def _infer_shapes(g: Graph, declared: dict, diags: Diagnostics, errs: ErrorCollector) -> None:
    """Propagate shapes from the sources through the graph.

    Forward in evaluation order (one sweep resolves a feed-forward graph), then backward
    for scalar-parameter element-wise nodes without a known source (from what their
    consumers take); repeated until nothing changes (a few sweeps: only cycles need more).
    """
    order = g.schedule().order
    failed: set[str] = set()
    for _ in range(len(order) + 1):
        changed = False
        for v in order:
            if g.in_shape(v) is not None or v in failed:
                continue
            srcs = {g.out_shape(u) for u in g.predecessors(v)} - {None}
            if len(srcs) != 1:
                continue
            try:
                _from_source(g, v, next(iter(srcs)), declared, diags)
            except NirccError as e:
                errs.extend(e)
                failed.add(v)
                continue
            changed = True
        for u in reversed(order):
            if g.out_shape(u) is None and u not in failed and _is_free(g.op(u)):
                pats = set(_consumer_patterns(g, u))
                if len(pats) == 1 and None not in (p := next(iter(pats))):
                    g.set_shapes(u, p, p)
                    changed = True
        if not changed:
            break
    blocked = set(failed).union(*(nx.descendants(g.nx, f) for f in failed))  # errors already said why
    for n in order:
        if n in blocked or (g.in_shape(n) is not None and g.out_shape(n) is not None):
            continue
        known = {u: g.out_shape(u) for u in g.predecessors(n) if g.out_shape(u) is not None}
        if len(set(known.values())) > 1:
            desc = ", ".join(f"{u!r} gives {list(s)}" for u, s in known.items())
            errs.add(f"its sources disagree on the shape: {desc}", node=n, field="input")
        else:
            errs.add("cannot infer the shape (no source of known shape reaches it)", node=n, field="input")


def _with(op, **changes):
    """A copy of a nir node with some fields changed (nir dataclasses are not frozen)."""
    kw = {f.name: getattr(op, f.name) for f in dataclasses.fields(op) if f.init}
    kw.update(changes)
    return type(op)(**kw)


def _finish(g: Graph, declared: dict, diags: Diagnostics, errs: ErrorCollector) -> None:
    """Output types from their sources; scalar-parameter nodes broadcast to their shape."""
    for n in g.outputs:
        got, decl = g.in_shape(n), declared.get(n)
        if not decl:
            diags.warn("infer-shape", f"Output has no type; using its source's shape {list(got)}",
                       node=n, field="shape", stage="load")
        elif tuple(decl) != got and (k := _extra_leading_axes(decl, [got])) is not None \
                and not all(x == 1 for x in decl[:k]):
            # a [1, 1, 1]-style Output (leading axes of size 1 only) stays an 'output-type' repair
            code, message = _leading_axes_note("Output", decl, k)
            diags.warn(code, message, node=n, field="shape", stage="load")
        elif tuple(decl) != got:
            diags.warn("output-type", f"Output type {list(decl)} contradicts its source's shape {list(got)}; "
                       f"using {list(got)}", node=n, field="shape", stage="load")
        g.set_op(n, nir.Output(output_type={"output": np.array(got, dtype=np.int64)}), got, got)
    for n in g.nodes:
        op, t, shape = g.op(n), g.type(n), g.in_shape(n)
        if not _is_free(op) or param_shapes(op)[0] == shape:
            continue
        src = [u for u in g.predecessors(n) if g.out_shape(u) == shape] or g.successors(n)
        diags.warn("infer-shape", f"no parameter fixes the number of neurons (all are scalars); "
                   f"{list(shape)} taken from {src[0]!r}", node=n, field="input_type", stage="load")
        fields = {f: getattr(op, f) for f in ELEMENTWISE_FIELDS[t] if getattr(op, f, None) is not None}
        try:
            _broadcast_fields(n, t, fields, shape, diags)
        except NirccError as e:
            errs.extend(e)
            continue
        g.set_op(n, _with(op, **fields), shape, shape)


def _add_outputs(g: Graph, diags: Diagnostics) -> None:
    """A graph without any Output node gets one per leaf (a node without outgoing edges), as
    ``nir``'s type inference does (named ``output_<leaf>``)."""
    if g.outputs:
        return
    for leaf in [n for n in g.nodes if g.nx.out_degree(n) == 0 and g.type(n) != "Input"]:
        shape = g.out_shape(leaf)
        name = _unique(g, f"output_{leaf}")
        g.add_node(name, nir.Output(output_type={"output": np.array(shape, dtype=np.int64)}))
        g.nx.add_edge(leaf, name)
        diags.warn("add-output", f"the graph has no Output node; added {name!r} of shape {list(shape)} reading it",
                   node=leaf, field="output_type", stage="load")


# --------------------------------------------------------------------------- entry point
def load(source: Union[str, os.PathLike, "nir.NIRGraph", Graph], *, strict: bool = False,
         validate: bool = True, isolate: bool = False) -> Graph:
    """Read a NIR graph (a ``.nir`` file or an in-memory ``nir.NIRGraph``) into a flat
    :class:`Graph`, repairing what is unambiguous (see the module docstring).

    Raises :class:`NirccError` (one or several) naming node, field and reason for what
    cannot be repaired, or, with ``strict=True``, for any repair at all.  ``isolate=True``
    reads a file once in a child process first, so that a file on which libhdf5 crashes or
    hangs is a NirccError too (:func:`nircc.ir.hdf5.probe_hdf5`; the CLI always does).
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
        raw, file_meta = read_hdf5(source, isolate=isolate)
        meta["source"] = os.fspath(source)
        meta.update(file_meta)
    else:
        raise TypeError(f"load() takes a path or a nir.NIRGraph, not {type(source).__name__}")
    if "type" in raw:
        root = _type_string(raw["type"], None, diags, errs)
        errs.raise_if_any()
        if root != "NIRGraph":
            raise NirccError(f"the root node is a {root!r}, not a NIRGraph", field="type")
    _normalize_types(raw, "", diags, errs)
    errs.raise_if_any()   # a node without a usable type: its edges would only repeat the news
    if isinstance(raw.get("metadata"), dict) and raw["metadata"]:
        meta["metadata"] = raw["metadata"]

    flat = _Flat()
    _flatten(raw, "", flat, diags, errs)
    errs.raise_if_any()
    _eliminate_ports(flat)

    g = Graph(meta=meta, diagnostics=diags)
    declared: dict[str, Optional[Shape]] = {}
    for name, rnode in flat.nodes.items():
        made = _make_op(name, rnode, diags, errs)
        if made is not None:
            g.nx.add_node(name, op=made[0], in_shape=None, out_shape=None)
            declared[name] = made[1]
    errs.raise_if_any()
    g.nx.add_edges_from(flat.edges)
    _initial_shapes(g, errs)
    errs.raise_if_any()
    _add_inputs(g, declared, diags, errs)
    _fix_inputs(g, diags, errs)
    errs.raise_if_any()
    _infer_shapes(g, declared, diags, errs)
    errs.raise_if_any()
    _finish(g, declared, diags, errs)
    errs.raise_if_any()
    _add_outputs(g, diags)

    if strict and diags.warnings():
        raise _strict_error(diags)
    if validate:
        _validate(g)
    return g


def _strict_error(diags: Diagnostics) -> NirccError:
    return NirccErrors(NirccError(f"strict mode: {d.message}", d.node, d.field, code=d.code)
                       for d in diags.warnings())
