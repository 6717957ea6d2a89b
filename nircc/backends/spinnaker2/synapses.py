"""Synaptic paths of a graph for SpiNNaker2: which population feeds which, through which
weights and which delays.

A *population* is an ``Input`` or a neuron node (``LIF``, ``IF``, ``LI``, ``I``,
``CubaLIF``, ``CubaLI``).  Every chain of stateless nodes from a population ``u`` to a
population ``v`` (found by walking backwards from ``v`` through every predecessor, so fan-in
and fan-out give one chain per route) is one :class:`SynPath` and becomes one
py-spinnaker2 projection.  A chain must read::

    u -> [Flatten | Delay]* -> core -> [Flatten | Delay]* -> v

    core = (nothing)                   identity, weight 1 per neuron
         | W                           W = Affine, Linear, Scale or Conv2d
         | Pool                        Pool = SumPool2d or AvgPool2d: weight 1 (1/area) per
                                       window element
         | Pool -> [Flatten]* -> W     Affine/Linear: one matrix W @ P; Scale: per window;
                                       Conv2d: fused pooling (kernel = stride, padding 0)

Flatten is an index no-op (NIR's flattening is C-order, as are population indices).  Two
weight nodes on one chain (``Affine -> Delay -> Affine``, which ``fuse_affine`` cannot
merge) are an error, as in s2_nir.

The linear map of a core (:class:`LinearMap`) is kept in float64 NIR units:

* ``dense``  ``matrix [n_post, n_pre]`` (Affine/Linear, alone or after a pooling);
* ``sparse`` ``(pre, post, values)`` (identity, Scale, pooling into a neuron);
* ``conv``   ``kernel [C_out, C_in, kH, kW]`` (PyTorch's cross-correlation; grouped kernels
  expanded with zeros, dilated kernels with zero rows and columns, an AvgPool's ``1/area``
  folded in) and py-spinnaker2's ``conv_params``.

Delays: each Delay's ``delay / dt`` in whole steps (:func:`nircc.semantics.delay_steps`),
per element, summed per side: ``pre_delay [n_pre]`` before the core, ``post_delay [n_post]``
after it.  ``back`` counts the schedule's back edges on the chain (each is one step of
delay in the reference simulator, see ``docs/semantics.md``).

Biases of Affine and Conv2d nodes go to the post population's constant input, once per
weight node and route to ``v`` (NIR adds a node's output once per edge); a bias behind a
Delay acts from step 0 on the chip (warning ``bias-delayed``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...errors import Diagnostics, ErrorCollector
from ...ir import Graph
from ...ir.graph import NEURON_TYPES
from ...ir.shapes import conv_geometry, conv_padding, pool_geometry
from ...semantics import delay_steps

STAGE = "spinnaker2"
POPULATION_TYPES = ("Input",) + NEURON_TYPES
WEIGHT_TYPES = ("Affine", "Linear", "Scale", "Conv2d")
POOL_TYPES = ("SumPool2d", "AvgPool2d")
PASS_TYPES = ("Flatten", "Delay")
MAP_TYPES = WEIGHT_TYPES + POOL_TYPES + PASS_TYPES
F64 = np.float64


@dataclass
class LinearMap:
    """The weights of one path (module docstring), float64 in NIR units."""

    kind: str                                   # "dense" | "sparse" | "conv"
    n_pre: int
    n_post: int
    matrix: Optional[np.ndarray] = None         # dense: [n_post, n_pre]
    pre: Optional[np.ndarray] = None            # sparse: int64 [nnz]
    post: Optional[np.ndarray] = None
    values: Optional[np.ndarray] = None         # sparse: float64 [nnz]
    kernel: Optional[np.ndarray] = None         # conv: [C_out, C_in, kH, kW]
    conv_params: dict = field(default_factory=dict)

    @property
    def weights(self) -> np.ndarray:
        """The array the quantizer sees (matrix, values or kernel)."""
        return {"dense": self.matrix, "sparse": self.values, "conv": self.kernel}[self.kind]


@dataclass
class SynPath:
    """One chain of stateless nodes from population ``pre`` to population ``post``."""

    pre: str
    post: str
    nodes: tuple[str, ...]                      # the chain, ``pre``'s side first
    weight_node: Optional[str]
    lin: LinearMap
    pre_delay: np.ndarray                       # int64 [n_pre], steps
    post_delay: np.ndarray                      # int64 [n_post], steps
    back: int                                   # back edges on the chain

    def delay_range(self) -> tuple[int, int]:
        """Least and largest delay (steps) of the chain, back edges included."""
        ends = [(int(d.min()), int(d.max())) if d.size else (0, 0) for d in (self.pre_delay, self.post_delay)]
        return ends[0][0] + ends[1][0] + self.back, ends[0][1] + ends[1][1] + self.back


@dataclass
class Network:
    """Populations (graph order), paths, constant inputs and outputs of a graph."""

    populations: list[str]
    paths: list[SynPath]
    bias: dict[str, np.ndarray]                 # post -> float64 [n_post], NIR input units
    outputs: dict[str, str]                     # Output node -> population


def size_of(g: Graph, n: str) -> int:
    return int(np.prod(g.out_shape(n), dtype=np.int64))


def pool_pairs(shape: tuple[int, int, int], kernel: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """(pre index, post index) of every (input element, window) pair of a 2-D pooling over
    a ``(C, H, W)`` map (zero padding contributes nothing), and the output shape."""
    c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    ch, oy, ox, ky, kx = np.meshgrid(np.arange(c), np.arange(ho), np.arange(wo), np.arange(kh), np.arange(kw),
                                     indexing="ij")
    iy, ix = oy * sh - ph + ky, ox * sw - pw + kx
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    pre = ((ch * h + iy) * w + ix)[ok].astype(np.int64)
    post = ((ch * ho + oy) * wo + ox)[ok].astype(np.int64)
    return pre, post, (c, ho, wo)


def _dense_kernel(op, geo: dict, node: str, diags: Diagnostics) -> np.ndarray:
    """NIR's Conv2d kernel with groups and dilation expanded (zeros), float64."""
    w = np.asarray(op.weight, F64)
    groups, (dy, dx) = geo["groups"], geo["dilation"]
    if groups > 1:
        c_out, c_in_g = w.shape[:2]
        full = np.zeros((c_out, c_in_g * groups) + w.shape[2:], F64)
        per_out = c_out // groups
        for gi in range(groups):
            full[gi * per_out:(gi + 1) * per_out, gi * c_in_g:(gi + 1) * c_in_g] = w[gi * per_out:(gi + 1) * per_out]
        w = full
        diags.info("groups-expanded", f"groups = {groups}: kernel expanded to a dense [C_out, C_in] kernel with "
                   "zeros (exact)", node=node, field="groups", stage=STAGE)
    if dy > 1 or dx > 1:
        kh, kw = w.shape[2:]
        dil = np.zeros(w.shape[:2] + (dy * (kh - 1) + 1, dx * (kw - 1) + 1), F64)
        dil[:, :, ::dy, ::dx] = w
        w = dil
        diags.info("dilation-expanded", f"dilation {[dy, dx]}: kernel expanded to {list(w.shape[2:])} with zero "
                   "rows and columns (exact)", node=node, field="dilation", stage=STAGE)
    return w


class _Extractor:
    def __init__(self, g: Graph, dt: float, errs: ErrorCollector, diags: Diagnostics) -> None:
        self.g, self.dt, self.errs, self.diags = g, dt, errs, diags
        self.back_edges = g.schedule().back_edges
        self._delays: dict[str, Optional[np.ndarray]] = {}
        self._bias_seen: set[tuple[str, tuple[str, ...]]] = set()

    # ------------------------------------------------------------------ walking
    def routes(self, post: str) -> list[tuple[Optional[str], tuple[str, ...], int]]:
        """(pre population or None for a source-less map, chain, back edges) per route."""
        g, out = self.g, []

        def rec(node: str, chain: tuple[str, ...], back: int) -> None:
            preds = g.predecessors(node)
            if node != post and not preds:
                out.append((None, chain, back))
                return
            for p in preds:
                b = back + int((p, node) in self.back_edges)
                t = g.type(p)
                if t in POPULATION_TYPES:
                    out.append((p, chain, b))
                elif t in MAP_TYPES:
                    if p in chain:
                        self.errs.add(f"a cycle through stateless nodes {list((p,) + chain)} has no neuron "
                                      "population: SpiNNaker2 loops go through neurons", p, code="map-cycle")
                        continue
                    rec(p, (p,) + chain, b)

        rec(post, (), 0)
        return out

    # ------------------------------------------------------------------ delays
    def delay_of(self, node: str) -> Optional[np.ndarray]:
        """Per-element whole steps of a Delay node (flattened), None after an error."""
        if node not in self._delays:
            op, g = self.g.op(node), self.g
            d = np.broadcast_to(np.asarray(op.delay, F64), g.in_shape(node)).reshape(-1)
            if not np.all(np.isfinite(d)) or np.any(d < 0):
                self.errs.add(f"delays must be finite and >= 0 seconds, got min {float(np.min(d)):g}", node,
                              "delay", code="delay")
                self._delays[node] = None
            else:
                steps, whole = delay_steps(d, self.dt)
                if not np.all(whole):
                    k = int(np.flatnonzero(~whole)[0])
                    self.diags.warn("delay-rounded", f"delay {d[k]:g} s is not a whole number of steps of dt = "
                                    f"{self.dt:g} s; rounded to {int(steps[k])} step(s)", node=node, field="delay",
                                    stage=STAGE)
                self._delays[node] = steps.astype(np.int64)
        return self._delays[node]

    def side_delay(self, nodes: tuple[str, ...], n: int) -> Optional[np.ndarray]:
        total = np.zeros(n, np.int64)
        for m in nodes:
            if self.g.type(m) == "Delay":
                d = self.delay_of(m)
                if d is None:
                    return None
                total += d
        return total

    # ------------------------------------------------------------------ chains
    def split(self, pre: Optional[str], post: str, chain: tuple[str, ...]):
        """(before, pool, weight, after) of a chain, or None after an error."""
        g = self.g
        i, n = 0, len(chain)
        while i < n and g.type(chain[i]) in PASS_TYPES:
            i += 1
        before = chain[:i]
        pool = weight = None
        if i < n and g.type(chain[i]) in POOL_TYPES:
            pool = chain[i]
            i += 1
            while i < n and g.type(chain[i]) == "Flatten":
                i += 1
        if i < n and g.type(chain[i]) in WEIGHT_TYPES:
            weight = chain[i]
            i += 1
        start_after = i
        while i < n and g.type(chain[i]) in PASS_TYPES:
            i += 1
        if i < n:
            bad = chain[i]
            prev = chain[i - 1] if i else pre
            if g.type(bad) in WEIGHT_TYPES and weight is not None:
                why = (f"two weight nodes on one path ('{weight}', then '{bad}'): a SpiNNaker2 projection carries "
                       "one weight matrix (fuse them, or put neurons between them)")
            else:
                why = (f"{g.type(bad)} cannot follow '{prev}' ({g.type(prev) if prev else 'nothing'}) on a path: "
                       "a SpiNNaker2 projection is [Flatten|Delay]* -> [pooling] -> [one weight node] -> "
                       "[Flatten|Delay]*")
            self.errs.add(f"{why} (path {pre!r} -> {post!r})", bad, code="path")
            return None
        return before, pool, weight, chain[start_after:]

    def linear_map(self, pre: str, post: str, pool: Optional[str], weight: Optional[str]) -> Optional[LinearMap]:
        g = self.g
        n_pre, n_post = size_of(g, pre), size_of(g, post)
        pairs = None
        factor = 1.0
        if pool is not None:
            geo = pool_geometry(g.op(pool))
            pairs = pool_pairs(tuple(g.in_shape(pool)), geo["kernel"], geo["stride"], geo["padding"])
            if g.type(pool) == "AvgPool2d":
                factor = 1.0 / (geo["kernel"][0] * geo["kernel"][1])
        if weight is None:
            if pairs is None:
                idx = np.arange(n_pre, dtype=np.int64)
                return LinearMap("sparse", n_pre, n_post, pre=idx, post=idx.copy(), values=np.ones(n_pre))
            return LinearMap("sparse", n_pre, n_post, pre=pairs[0], post=pairs[1], values=np.full(pairs[0].size, factor))
        t, op = g.type(weight), g.op(weight)
        if t == "Scale":
            s = np.broadcast_to(np.asarray(op.scale, F64), g.in_shape(weight)).reshape(-1)
            if pairs is None:
                idx = np.arange(n_pre, dtype=np.int64)
                return LinearMap("sparse", n_pre, n_post, pre=idx, post=idx.copy(), values=s.copy())
            return LinearMap("sparse", n_pre, n_post, pre=pairs[0], post=pairs[1], values=s[pairs[1]] * factor)
        if t in ("Affine", "Linear"):
            w = np.asarray(op.weight, F64)
            if w.ndim != 2:
                self.errs.add(f"an Affine/Linear weight of {w.ndim} dimensions {list(w.shape)}: SpiNNaker2 "
                              "projections take one [out, in] matrix", weight, "weight", code="weight-shape")
                return None
            if pairs is None:
                return LinearMap("dense", n_pre, n_post, matrix=w)
            composed = np.zeros((n_pre, w.shape[0]), F64)
            np.add.at(composed, pairs[0], w.T[pairs[1]] * factor)
            return LinearMap("dense", n_pre, n_post, matrix=np.ascontiguousarray(composed.T))
        return self.conv_map(pre, post, pool, weight, factor)

    def conv_map(self, pre: str, post: str, pool: Optional[str], weight: str, factor: float) -> Optional[LinearMap]:
        g = self.g
        op = g.op(weight)
        geo = conv_geometry(op)
        c_in, h, w = g.in_shape(weight)
        pool_y = pool_x = 1
        in_h, in_w = h, w
        if pool is not None:
            pgeo = pool_geometry(g.op(pool))
            if pgeo["kernel"] != pgeo["stride"] or any(pgeo["padding"]):
                self.errs.add(f"pooling before Conv2d '{weight}' fuses into the Conv2DProjection only with kernel = "
                              f"stride and no padding; got kernel {list(pgeo['kernel'])}, stride "
                              f"{list(pgeo['stride'])}, padding {list(pgeo['padding'])}", pool, "stride",
                              code="conv-geometry")
                return None
            pool_y, pool_x = pgeo["kernel"]
            _, in_h, in_w = g.in_shape(pool)
        kernel = _dense_kernel(op, geo, weight, self.diags) * factor
        pads = conv_padding(geo, (h, w))
        sy, sx = geo["stride"]
        if sy != sx or pool_y != pool_x:
            self.diags.warn("conv-axes", f"stride {[sy, sx]}, pooling {[pool_y, pool_x]} differ per axis: nircc writes "
                            "the row (height) values into stride_y/pool_y; s2_nir writes NIR's first value into "
                            "stride_x/pool_x, and which axis py-spinnaker2 reads is not confirmed", node=weight,
                            field="stride", stage=STAGE)
        params = {"in_height": int(in_h), "in_width": int(in_w), "stride_x": int(sx), "stride_y": int(sy),
                  "pool_x": int(pool_x), "pool_y": int(pool_y), "pad_top": int(pads[0][0]),
                  "pad_bottom": int(pads[0][1]), "pad_left": int(pads[1][0]), "pad_right": int(pads[1][1])}
        return LinearMap("conv", size_of(g, pre), size_of(g, post), kernel=kernel, conv_params=params)

    # ------------------------------------------------------------------ bias
    def add_bias(self, weight: Optional[str], after: tuple[str, ...], post: str, bias: dict[str, np.ndarray]) -> None:
        g = self.g
        if weight is None or g.type(weight) not in ("Affine", "Conv2d"):
            return
        key = (weight, after + (post,))
        if key in self._bias_seen:
            return
        self._bias_seen.add(key)
        b = np.asarray(g.op(weight).bias, F64)
        if not np.any(b):
            return
        if g.type(weight) == "Conv2d":
            b = np.broadcast_to(b.reshape(-1, 1, 1), g.out_shape(weight))
        else:
            b = np.broadcast_to(b, g.out_shape(weight))
        bias[post] = bias[post] + b.reshape(-1)
        delays = [m for m in after if g.type(m) == "Delay"]
        if any(np.any(self.delay_of(m)) for m in delays if self.delay_of(m) is not None):
            self.diags.warn("bias-delayed", f"the bias of '{weight}' passes Delay {delays} on its way to '{post}': "
                            "the reference adds it after the delay, the chip's i_offset from step 0", node=weight,
                            field="bias", stage=STAGE)


def extract(g: Graph, dt: float, errs: ErrorCollector, diags: Diagnostics) -> Network:
    """The :class:`Network` of ``g`` (after infer_shapes, canonicalize, fuse_affine):
    populations are the Inputs, then the neuron nodes in schedule order.  Every problem
    goes to ``errs`` (node, field, reason), approximations to ``diags``."""
    ex = _Extractor(g, dt, errs, diags)
    pops = g.inputs + [n for n in g.schedule().order if g.type(n) in NEURON_TYPES]
    bias = {n: np.zeros(size_of(g, n), F64) for n in pops if g.type(n) != "Input"}
    paths: list[SynPath] = []
    for post in pops:
        if g.type(post) == "Input":
            continue
        for pre, chain, back in ex.routes(post):
            parts = ex.split(pre, post, chain)
            if parts is None:
                continue
            before, pool, weight, after = parts
            ex.add_bias(weight, after, post, bias)
            if pre is None:
                continue
            lin = ex.linear_map(pre, post, pool, weight)
            pre_d = ex.side_delay(before, size_of(g, pre))
            post_d = ex.side_delay(after, size_of(g, post))
            if lin is None or pre_d is None or post_d is None:
                continue
            paths.append(SynPath(pre, post, chain, weight, lin, pre_d, post_d, back))
    outputs: dict[str, str] = {}
    for o in g.outputs:
        preds = g.predecessors(o)
        if len(preds) != 1 or g.type(preds[0]) not in NEURON_TYPES:
            what = ", ".join(f"'{p}' ({g.type(p)})" for p in preds) or "nothing"
            errs.add(f"reads {what}: a SpiNNaker2 output is one neuron population (its spikes, or v of an LI/I/"
                     "CubaLI read-out)", o, code="output")
            continue
        outputs[o] = preds[0]
    return Network(pops, paths, bias, outputs)
