"""The Speck lowering's graph side: which NIR nodes form each core, and the one square
kernel that realises them (docs/targets/speck.md, "What maps").

A core is ``conv -> integrate-and-fire``; the graph is cut at its ``IF`` nodes.  ``walk``
finds every path from a *source* (the Input or an IF) through ``SumPool2d`` /
``AvgPool2d`` / ``Flatten`` chains to a weight node or an Output (a :class:`Route`);
``core_kernel`` turns the weight nodes in front of one IF into :class:`Block` s (one per
weight node and AvgPool scale, concatenated along input channels with a feature shift)
and places them in the smallest square ``K x K`` kernel, stride and padding that reproduce
each of them exactly.  Neuron parameters, quantization, relays and core placement are in
lower.py and placement.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ...errors import ErrorCollector
from ...ir import Graph
from ...ir.shapes import conv_geometry, conv_padding, pool_geometry
from ..capabilities import check_node_types
from .spec import CAPABILITIES, SpeckSpec

WEIGHT_TYPES = ("Conv2d", "Affine", "Linear")
CHAIN_TYPES = ("SumPool2d", "AvgPool2d", "Flatten")

Shape3 = tuple[int, int, int]
Pair = tuple[int, int]


@dataclass
class Route:
    """A path from a source (the Input or an IF) through pools / flattens to ``end``."""

    source: str
    end: str
    chain: tuple[str, ...]
    pool: int
    scale: float            # product of 1/k^2 of the AvgPool2d nodes
    avg: bool
    shape: Shape3           # the source's map after pooling (before any flatten)


@dataclass
class Block:
    """The input channels one weight node (at one AvgPool scale) contributes to a core."""

    node: str
    weight: np.ndarray      # [F, C, kh, kw] float64, scale applied
    stride: Optional[Pair]  # None: free (a Linear whose output is 1 x 1)
    padding: Pair           # NIR's 'before' padding per axis
    in_hw: Pair
    out_hw: Pair
    routes: list[Route] = field(default_factory=list)
    offset: int = 0
    from_input: bool = False
    groups: int = 1


@dataclass
class Link:
    """Events from ``source`` (a layer name or the Input) to layer ``target``."""

    source: str
    target: str
    pool: int
    shift: int


def map3(shape: tuple[int, ...]) -> Shape3:
    """A node's output as a ``(C, H, W)`` map: 1-D ``(N,)`` is ``(N, 1, 1)``."""
    if len(shape) == 1:
        return int(shape[0]), 1, 1
    c, h, w = (int(x) for x in shape)
    return c, h, w


def check_structure(g: Graph, errs: ErrorCollector) -> None:
    check_node_types(g, CAPABILITIES, errs)
    back = g.schedule().back_edges
    for u, v in sorted(back):
        errs.add(f"recurrent edge {u} -> {v}: Speck cores form a feed-forward graph (no loops)", v, "edges")
    inputs = g.inputs
    if len(inputs) != 1:
        errs.add(f"{len(inputs)} Input nodes {inputs}: Speck has one input layer", None, "inputs")
    for n in inputs:
        s = g.out_shape(n)
        if s is None or len(s) not in (1, 3):
            errs.add(f"input shape {list(s or ())}: Speck takes [C, H, W] maps or [N] vectors", n, "shape")
    for n in g.nodes_of_type("IF"):
        s = g.out_shape(n)
        if s is None or len(s) not in (1, 3):
            errs.add(f"IF shape {list(s or ())}: Speck neurons form [F, H, W] maps or [F] vectors", n, "shape")


def routes_from(g: Graph, src: str, errs: ErrorCollector, reported: set) -> list[Route]:
    """Every path from ``src`` through pooling / flatten chains, breadth first (deterministic)."""
    out: list[Route] = []
    shape0 = map3(g.out_shape(src))
    queue = [(s, (), 1, 1.0, False, shape0, False) for s in g.successors(src)]
    while queue:
        n, chain, pool, scale, avg, shape, flat = queue.pop(0)
        t = g.type(n)
        if t in ("SumPool2d", "AvgPool2d"):
            geo = pool_geometry(g.op(n))
            (kh, kw), (sh, sw), (ph, pw) = geo["kernel"], geo["stride"], geo["padding"]
            bad = []
            if kh != kw:
                bad.append(f"kernel {kh}x{kw} is not square")
            if (sh, sw) != (kh, kw):
                bad.append(f"stride {sh}x{sw} differs from the kernel {kh}x{kw}")
            if (ph, pw) != (0, 0):
                bad.append(f"padding {ph}x{pw} is not 0")
            if flat:
                bad.append("it follows a Flatten")
            if bad:
                if n not in reported:
                    reported.add(n)
                    errs.add(f"{'; '.join(bad)}: Speck pools square blocks with stride = kernel, no padding", n,
                             "kernel_size")
                continue
            c, h, w = shape
            queue += [(s, chain + (n,), pool * kh, scale / (kh * kw) if t == "AvgPool2d" else scale,
                       avg or t == "AvgPool2d", (c, h // kh, w // kh), flat) for s in g.successors(n)]
        elif t == "Flatten":
            o = g.out_shape(n)
            if o is None or len(o) != 1:
                if n not in reported:
                    reported.add(n)
                    errs.add(f"Flatten to {list(o or ())}: only a flatten to a 1-D vector (before an Affine/Linear "
                             "or an Output) is supported", n, "end_dim")
                continue
            queue += [(s, chain + (n,), pool, scale, avg, shape, True) for s in g.successors(n)]
        elif t in WEIGHT_TYPES or t == "Output":
            out.append(Route(src, n, chain, pool, scale, avg, shape))
        elif t == "IF":
            key = (src, n)
            if key not in reported:
                reported.add(key)
                errs.add(f"fed by '{src}' without a weight layer: every Speck core starts with a conv "
                         "(Conv2d, or Affine/Linear after Flatten)", n, "inputs")
    return out


# ---------------------------------------------------------------------- blocks and geometry
def conv_block(g: Graph, w: str, routes: list[Route], scale: float, errs: ErrorCollector) -> Optional[Block]:
    op = g.op(w)
    geo = conv_geometry(op)
    in_shape = g.in_shape(w)
    if geo["dilation"] != (1, 1):
        errs.add(f"dilation {list(geo['dilation'])}: Speck convolutions have dilation 1", w, "dilation")
        return None
    stride = geo["stride"]
    pads = conv_padding(geo, in_shape[1:])
    weight = np.asarray(op.weight, dtype=np.float64)
    G = geo["groups"]
    if G > 1:
        f, cg = weight.shape[:2]
        dense = np.zeros((f, cg * G) + weight.shape[2:])
        fg = f // G
        for i in range(G):
            dense[i * fg:(i + 1) * fg, i * cg:(i + 1) * cg] = weight[i * fg:(i + 1) * fg]
        weight = dense
    out = g.out_shape(w)
    return Block(w, weight * scale, stride, (pads[0][0], pads[1][0]), (in_shape[1], in_shape[2]),
                  (out[1], out[2]), list(routes), groups=G)


def linear_block(g: Graph, w: str, routes: list[Route], scale: float, errs: ErrorCollector) -> Optional[Block]:
    weight = np.asarray(g.op(w).weight, dtype=np.float64)
    if weight.ndim != 2:
        errs.add(f"weight of shape {list(weight.shape)}: only 2-D Affine/Linear weights map to Speck", w, "weight")
        return None
    shapes = sorted({r.shape for r in routes})
    if len(shapes) > 1:
        errs.add(f"fed by maps of different shapes {[list(s) for s in shapes]}", w, "inputs")
        return None
    c, h, wd = shapes[0]
    f = weight.shape[0]
    return Block(w, weight.reshape(f, c, h, wd) * scale, None, (0, 0), (h, wd), (1, 1), list(routes))


def _axis_fits(blocks: list[Block], axis: int, K: int, s: int, P: int) -> bool:
    for b in blocks:
        k = b.weight.shape[2 + axis]
        if b.stride is not None and b.stride[axis] != s:
            return False
        d = P - b.padding[axis]
        if d < 0 or d + k > K:
            return False
        n = b.in_hw[axis]
        if n + 2 * P < K or (n + 2 * P - K) // s + 1 != b.out_hw[axis]:
            return False
    return True


def geometry(blocks: list[Block], spec: SpeckSpec) -> Optional[tuple[int, Pair, Pair]]:
    """The smallest square kernel K, then stride and padding (per axis), realising every
    block exactly (docs/targets/speck.md, "Kernels"), or None."""
    kmin = max(max(b.weight.shape[2:]) for b in blocks)
    for K in range(kmin, spec.max_kernel + 1):
        found = []
        for axis in (0, 1):
            hit = next(((s, P) for s in spec.strides for P in range(spec.max_padding + 1)
                        if _axis_fits(blocks, axis, K, s, P)), None)
            if hit is None:
                break
            found.append(hit)
        if len(found) == 2:
            return K, (found[0][0], found[1][0]), (found[0][1], found[1][1])
    return None


def describe(b: Block, g: Graph) -> str:
    kh, kw = b.weight.shape[2:]
    if g.type(b.node) == "Conv2d":
        return f"'{b.node}' ({kh}x{kw} kernel, stride {list(b.stride)}, padding {list(b.padding)}, " \
               f"map {b.in_hw[0]}x{b.in_hw[1]} -> {b.out_hw[0]}x{b.out_hw[1]})"
    return f"'{b.node}' (Linear on a {b.in_hw[0]}x{b.in_hw[1]} map = a {kh}x{kw} kernel)"


@dataclass
class Walk:
    """The routes of a graph: ``routes_into[node]`` for every weight node and Output, the
    Input and the IFs in schedule order; ``reported`` keeps an error from being said twice."""

    input: str
    ifs: list[str]
    routes_into: dict[str, list[Route]]
    reported: set


def walk(g: Graph, errs: ErrorCollector) -> Walk:
    """Every route of ``g``; errors (all at once) for what no Speck core can express."""
    input_ = g.inputs[0]
    order = g.schedule().order
    ifs = [n for n in order if g.type(n) == "IF"]
    reported: set = set()
    into: dict[str, list[Route]] = {}
    for src in [input_] + ifs:
        for r in routes_from(g, src, errs, reported):
            into.setdefault(r.end, []).append(r)
    for n in order:
        if g.type(n) in WEIGHT_TYPES:
            succ = g.successors(n)
            if len(succ) != 1 or g.type(succ[0]) != "IF":
                errs.add(f"followed by {[f'{s} ({g.type(s)})' for s in succ] or 'nothing'}: a weight layer "
                         "must feed exactly one IF (Speck: conv -> integrate-and-fire in one core)", n, "outputs")
            if n not in into:
                errs.add("not fed by the Input or an IF (through SumPool2d / AvgPool2d / Flatten)", n, "inputs")
    return Walk(input_, ifs, into, reported)


@dataclass
class CoreKernel:
    """The weight side of one core: its blocks, the dense kernel ``weight[F, C, K, K]``
    (float64, AvgPool scales applied), the summed bias of its Affine/Conv2d nodes (None
    when all are zero), its input and neuron maps and its geometry."""

    blocks: list[Block]
    weight: np.ndarray
    bias: Optional[np.ndarray]
    in_shape: Shape3
    out_shape: Shape3
    kernel: int
    stride: Pair
    padding: Pair


def core_kernel(g: Graph, L: str, w: Walk, spec: SpeckSpec, errs: ErrorCollector,
                info: Callable[[str, str, str, str], None]) -> Optional[CoreKernel]:
    """The kernel of the core of IF ``L``, or None (errors added).  ``info(code, message,
    node, field)`` records the exact rewrites (``kernel-embedded``, ``groups-expanded``)."""
    n0 = len(errs.errors)
    out3 = map3(g.out_shape(L))
    F = out3[0]
    weights_in = g.predecessors(L)
    bad = [p for p in weights_in if g.type(p) not in WEIGHT_TYPES]
    if bad:
        if not any(isinstance(k, tuple) and k[1] == L for k in w.reported):  # else said by the walk
            errs.add(f"fed by {[f'{p} ({g.type(p)})' for p in bad]}: an IF is fed by weight layers only "
                     "(Conv2d, Affine, Linear)", L, "inputs")
        return None
    blocks: list[Block] = []
    bias = np.zeros(F)
    has_bias = False
    for node in weights_in:
        op = g.op(node)
        if g.type(node) in ("Conv2d", "Affine"):
            b = np.asarray(op.bias, dtype=np.float64).reshape(-1)
            if np.any(b != 0):
                bias = bias + b
                has_bias = True
        by_scale: dict[float, list[Route]] = {}
        for r in w.routes_into.get(node, []):
            by_scale.setdefault(r.scale, []).append(r)
        for scale, group in by_scale.items():
            make = conv_block if g.type(node) == "Conv2d" else linear_block
            blk = make(g, node, group, scale, errs)
            if blk is None:
                continue
            blk.from_input = any(r.source == w.input for r in group)
            blocks.append(blk)
    if not blocks:
        return None
    if len({b.in_hw for b in blocks}) > 1:
        errs.add("merges maps of different sizes " + ", ".join(describe(b, g) for b in blocks) +
                 ": one Speck core reads one input map", L, "inputs")
        return None
    for b in blocks:
        if g.type(b.node) == "Conv2d" and b.stride is not None:
            for axis, s in zip("yx", b.stride):
                if s not in spec.strides:
                    errs.add(f"stride {axis} = {s} not in {list(spec.strides)}", b.node, "stride")
            for axis, p in zip("yx", b.padding):
                if p > spec.max_padding:
                    errs.add(f"padding {axis} = {p} exceeds {spec.max_padding}", b.node, "padding")
    if len(errs.errors) > n0:
        return None
    blocks.sort(key=lambda b: not b.from_input)
    off = 0
    for b in blocks:
        b.offset = off
        off += b.weight.shape[1]
        if b.from_input and b.offset:
            both = ", ".join(x.node for x in blocks if x.from_input)
            errs.add(f"two weight layers read the Input into one core ({both}): the input layer has no "
                     "feature shift", L, "inputs")
            return None
    geo = geometry(blocks, spec)
    if geo is None:
        kmax = max(max(b.weight.shape[2:]) for b in blocks)
        why = (f"a {kmax}-wide kernel exceeds {spec.max_kernel}" if kmax > spec.max_kernel else
               f"no square kernel <= {spec.max_kernel}, stride in {list(spec.strides)} and padding "
               f"<= {spec.max_padding} reproduces it")
        lin = any(g.type(b.node) != "Conv2d" for b in blocks)
        hint = ("; a Linear/Affine after Flatten becomes a conv whose kernel covers the map: it needs a square "
                f"map of at most {spec.max_kernel}x{spec.max_kernel}") if lin else "; Speck kernels are square"
        errs.add(f"{'; '.join(describe(b, g) for b in blocks)}: {why}{hint}", L, "kernel")
        return None
    K, stride, pad = geo
    H, W = blocks[0].in_hw
    wc = np.zeros((F, off, K, K))
    for b in blocks:
        f, c, kh, kw = b.weight.shape
        if f != F:
            errs.add(f"{f} output features, the IF has {F}", b.node, "weight")
            return None
        dy, dx = pad[0] - b.padding[0], pad[1] - b.padding[1]
        wc[:, b.offset:b.offset + c, dy:dy + kh, dx:dx + kw] = b.weight
        if g.type(b.node) == "Conv2d" and (kh, kw, dy, dx) != (K, K, 0, 0):
            info("kernel-embedded", f"{kh}x{kw} kernel (stride {list(b.stride)}, padding "
                 f"{list(b.padding)}) realised as a {K}x{K} kernel at offset ({dy}, {dx}), stride "
                 f"{list(stride)}, padding {list(pad)} (exact)", b.node, "weight")
        if b.groups > 1:
            info("groups-expanded", f"groups = {b.groups} expanded to a dense kernel with zeros (exact; "
                 "the zeros cost kernel memory)", b.node, "groups")
    return CoreKernel(blocks, wc, bias if has_bias else None, (off, H, W), out3, K, stride, pad)
