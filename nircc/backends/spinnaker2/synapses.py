"""Synaptic paths of a graph for SpiNNaker2: which population feeds which, through which
weights and which delays.

A *population* is an ``Input`` or a neuron node (``LIF``, ``IF``, ``LI``, ``I``,
``CubaLIF``, ``CubaLI``).  Every chain of stateless nodes from a population ``u`` to a
population ``v`` (a :class:`nircc.backends.toolkit.paths.Route`, found by the shared
:class:`~nircc.backends.toolkit.paths.PathWalker`) is one :class:`SynPath` and becomes one
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
from ..toolkit.paths import F64, PathWalker, output_populations, compose_pooling, pooling, size_of

STAGE = "spinnaker2"


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
class S2Network:
    """Populations (graph order), paths, constant inputs and outputs of a graph."""

    populations: list[str]
    paths: list[SynPath]
    bias: dict[str, np.ndarray]                 # post -> float64 [n_post], NIR input units
    outputs: dict[str, str]                     # Output node -> population


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


class _Extractor(PathWalker):
    STAGE = STAGE
    CHIP = "SpiNNaker2"
    UNIT = "neuron population"
    SYNAPSE = "a SpiNNaker2 projection"
    ONE_WEIGHT = "a SpiNNaker2 projection carries one weight matrix"
    BIAS_FROM_START = "the chip's i_offset from step 0"

    def linear_map(self, pre: str, post: str, pool: Optional[str], weight: Optional[str]) -> Optional[LinearMap]:
        g = self.g
        n_pre, n_post = size_of(g, pre), size_of(g, post)
        pairs, factor = None, 1.0
        if pool is not None:
            *pairs, factor = pooling(g, pool)
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
            if pairs is not None:
                w = compose_pooling(w, pairs[0], pairs[1], factor, n_pre)
            return LinearMap("dense", n_pre, n_post, matrix=w)
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


def extract(g: Graph, dt: float, errs: ErrorCollector, diags: Diagnostics) -> S2Network:
    """The :class:`S2Network` of ``g`` (after infer_shapes, canonicalize, fuse_affine):
    populations are the Inputs, then the neuron nodes in schedule order.  Every problem
    goes to ``errs`` (node, field, reason), approximations to ``diags``."""
    ex = _Extractor(g, dt, errs, diags)
    pops = g.inputs + [n for n in g.schedule().order if g.type(n) in NEURON_TYPES]
    bias = {n: np.zeros(size_of(g, n), F64) for n in pops if g.type(n) != "Input"}
    paths: list[SynPath] = []
    for post in pops:
        if g.type(post) == "Input":
            continue
        for r in ex.routes(post):
            pre, chain, back = r.pre, r.nodes, r.back
            parts = ex.split(r)
            if parts is None:
                continue
            before, pool, weight, after = parts
            b = ex.bias_of(weight, after, post)
            if b is not None:
                bias[post] = bias[post] + b
            if pre is None:
                continue
            lin = ex.linear_map(pre, post, pool, weight)
            pre_d = ex.side_delay(before, size_of(g, pre))
            post_d = ex.side_delay(after, size_of(g, post))
            if lin is None or pre_d is None or post_d is None:
                continue
            paths.append(SynPath(pre, post, chain, weight, lin, pre_d, post_d, back))
    outputs = output_populations(g, errs, "a SpiNNaker2 output is one neuron population (its spikes, or v of an "
                                 "LI/I/CubaLI read-out)")
    return S2Network(pops, paths, bias, outputs)
