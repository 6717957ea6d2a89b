"""Lowering: a graph (after infer_shapes, canonicalize, fuse_affine) -> :class:`LoihiProgram`.

A lava-dl netx network is a chain: layer ``i`` reads the spikes of layer ``i - 1`` only
(netx hdf5.py ``_create``).  The lowering therefore needs the graph to be

    Input -> path -> neurons_1 [<- recurrent path] -> path -> neurons_2 ... -> Output(s)

where every *path* is a chain of stateless nodes (several parallel paths between the same
two layers are merged into one synapse) and every Output reads the last neuron layer.
Steps, each collecting every problem before raising (``NirccError``s name node, quantity
and reason; approximations are diagnostics with stage ``loihi``):

1. options and semantics (``docs/targets/loihi.md``);
2. paths (:class:`Route`) into each neuron node, found by walking back through stateless
   nodes; the chain order of the layers; a path reads::

       [Flatten | Delay]* -> [SumPool2d | AvgPool2d -> [Flatten]*] -> [weight] -> [Flatten | Delay]*

   with weight = Affine, Linear, Scale or Conv2d.  It becomes (:class:`LayerMap`)

   * a netx ``conv`` layer: Conv2d (a pooling before it folded into the kernel: stride
     ``S s``, padding ``P s``, kernel ``(K - 1) D s + k`` per axis, exact where the pooled
     padding reads no real input, checked); or a pooling, Scale or identity into a
     ``(C, H, W)`` neuron (a depthwise conv, ``groups = C``);
   * a netx ``dense`` layer otherwise: ``W``, ``W @ P`` (pooling before an Affine), diag
     (Scale, identity), pooling matrix; per-synapse delays ``pre[i] + post[j]`` (Delay
     nodes before / after the weight, ``delay / dt`` rounded, 0..62 steps);

   a path from the layer to itself (through one back edge, no Delay) is the recurrent
   synapse of a ``dense_rec`` layer;
3. neuron parameters (:func:`neuron_plan`, module table below);
4. quantization (:func:`quantize_layer`) through :func:`nircc.backends.toolkit.quantize.quantize_group` and
   :func:`nircc.passes.linear_decay`; the weights netx will load are checked with
   :func:`~nircc.backends.loihi.weights.netx_synapse` and repaired or refused;
5. 24-bit state ranges (:func:`state_ranges`), partitioning (:mod:`.partition`).

Parameter mapping (``a, b`` = :func:`nircc.semantics.decay` of the node's time constants,
float64 of the file's values; ``beta`` = the summed bias of the node's input paths)::

    node       input gain k           v per step from bias       du                 dv
    LIF, LI    b r                    b (v_leak + r beta)        4095 (no current)  D(tau, 0)
    IF, I      dt r                   dt r beta                  4095               0 (no leak)
    CubaLIF/LI b_mem r b_syn w_in     b_mem (v_leak + r w_in beta)  D(tau_syn, 1)   D(tau_mem, 0)

``D(tau, offset) = R(4096 (1 - a) - offset)`` with ``R`` the rounding option (``trunc``: the
NIR paper's convention, ``nearest``), 12-bit unsigned (Lava's decay factors are
``4096 - (du + 1)`` and ``4096 - dv`` over 4096).  With threshold ``thr`` and the per-neuron
normalisation ``s = max(thr) / thr`` (1 for a uniform threshold; it realises per-neuron
thresholds exactly, as Loihi resets to 0), in units of the layer gain ``G`` (``a_in`` per
unit of NIR voltage of the neuron with the largest threshold)::

    weight (file)  W k s G       rounded, in the format netx can load unchanged
    bias_mant      bias_v s G    13-bit signed, bias_exp 6 (netx's)
    vThMant        thr s G       17-bit unsigned (one per layer)

so Lava's ``v`` is the reference's ``v`` times ``64 s G`` (``a_in << 6``, ``bias << 6`` and
``vth << 6`` share that factor).  Each netx synapse delivers one step late: the ``i``-th
neuron layer runs ``i`` steps behind the reference (``latency``).
"""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ...errors import Diagnostics, ErrorCollector, NirccError
from ...ir import Graph
from ...ir.graph import NEURON_TYPES
from ...ir.shapes import conv_geometry, conv_padding, pool_geometry
from ..toolkit.quantize import (DecayResult, NumberFormat, QuantizationReport, Tensor, linear_decay,
                                quantize_group)
from ...semantics import Semantics, decay
from ..io import IOMap, Port, state_key
from ...passes.legalize import BIAS_SOURCE_OPTION
from ..options import Option, option_table
from ..toolkit.paths import (F64, PathWalker, Route, compose_pooling, pooling, size_of,
                             warn_bias_lead)
from .partition import partition
from .program import ConvLayer, CubaNeurons, DenseLayer, FlattenLayer, InputLayer, LoihiProgram, Synapse
from .weights import determine_sign_mode, netx_recurrent_synapses, netx_synapse
from ..capabilities import check_node_types
from .spec import CAPABILITIES, Formats, LoihiSpec

STAGE = "loihi"
SPIKING = ("LIF", "IF", "CubaLIF")
CUBA = ("CubaLIF", "CubaLI")

#: Target options (``--option key=value``) and their defaults.
ROUNDINGS = {"trunc": "trunc", "nearest": "half_even"}
#: Target options (``--option key=value``), documented in docs/targets/loihi.md.
OPTIONS = option_table([
    Option("weight_scale", None, "a fixed gain G (a_in units per unit of NIR voltage) for every layer", "number",
           lo=0, lo_open=True),
    Option("rounding", "trunc", "trunc (the NIR paper's int()) or nearest (half-even)", "choice", tuple(ROUNDINGS)),
    Option("tau_tolerance", 0.01, "relative time-constant error above which a tau-approximated warning is given",
           "number", lo=0),
    BIAS_SOURCE_OPTION,
])
#: ``rounding = trunc`` truncates toward zero after this relative allowance (two float32 ulps):
#: a value meant to be an integer that the float32 parameters of a file put a hair below it
#: (tau = 0.004 s is 0.0040000002: 25 becomes 24.9999988) keeps its integer
TRUNC_ALLOWANCE = 2.0 ** -22


def _allow(x: np.ndarray, rounding: str) -> np.ndarray:
    """``x`` with the truncation allowance (unchanged for ``nearest``)."""
    return x * (1.0 + TRUNC_ALLOWANCE) if rounding == "trunc" else x


# ---------------------------------------------------------------------- options and semantics




# ---------------------------------------------------------------------- paths
@dataclass
class LayerMap:
    """The synapse of one layer in float64 NIR units (before the neuron's input gain).

    ``dense``: ``matrix [n_post, n_pre]`` and ``delays`` (int64, same shape, or None);
    ``conv``: ``kernel [C_out, C_in / groups, kH, kW]`` on the pre population's
    ``in_shape`` with symmetric ``padding``."""

    kind: str
    nodes: tuple[str, ...]
    matrix: Optional[np.ndarray] = None
    delays: Optional[np.ndarray] = None
    kernel: Optional[np.ndarray] = None
    in_shape: tuple[int, ...] = ()
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


@dataclass
class LayerPlan:
    """One neuron layer: its node, the previous layer, its synapse(s) and input bias."""

    node: str
    pre: str
    syn: LayerMap
    rec: Optional[np.ndarray]                    # [n, n] float64 or None
    bias: np.ndarray                             # beta per neuron, NIR input units
    flatten: bool                                # a netx flatten layer before it
    rec_nodes: tuple[str, ...] = ()


def _pool_reads_padding(n_in: int, n_pooled: int, k: int, s: int, n_out: int, conv_k: int, conv_s: int,
                        conv_p: int, conv_d: int) -> bool:
    """Along one axis: does the folded conv read real input where the pooled conv reads its
    zero padding?  (Pooled row ``i`` outside ``[0, n_pooled)`` covers input rows ``i s ..
    i s + k - 1``; they must all lie outside ``[0, n_in)``.)"""
    i = np.arange(n_out)[:, None] * conv_s - conv_p + np.arange(conv_k)[None, :] * conv_d
    pad = (i < 0) | (i >= n_pooled)
    rows = i[pad][:, None] * s + np.arange(k)[None, :]
    return bool(np.any((rows >= 0) & (rows < n_in)))


class _Paths(PathWalker):
    """Routes (:mod:`nircc.backends.toolkit.paths`) and the linear map of each (module docstring, step 2)."""

    STAGE = STAGE
    CHIP = "Loihi"
    UNIT = "neuron layer"
    SYNAPSE = "a netx synapse"
    ONE_WEIGHT = "a netx layer has one synapse"
    BIAS_FROM_START = "Lava's bias acts from step 0"

    def __init__(self, g: Graph, dt: float, max_delay: int, errs: ErrorCollector, diags: Diagnostics) -> None:
        super().__init__(g, dt, errs, diags)
        self.max_delay = max_delay

    def add_bias(self, weight: Optional[str], after: tuple[str, ...], post: str, bias: np.ndarray) -> None:
        """Add the bias of an Affine / Conv2d to ``bias`` (once per weight node and route)."""
        b = self.bias_of(weight, after, post)
        if b is not None:
            bias += b

    # ------------------------------------------------------------------ maps
    def layer_map(self, r: Route, before, pool, weight, after) -> Optional[LayerMap]:
        g = self.g
        pre, post = r.pre, r.post
        n_pre, n_post = size_of(g, pre), size_of(g, post)
        nodes = tuple(x for x in (pool, weight) if x is not None)
        pre_d = self.side_delay(before, n_pre)
        post_d = self.side_delay(after, n_post)
        if pre_d is None or post_d is None:
            return None
        flat = any(g.type(m) == "Flatten" for m in r.nodes)
        conv = (weight is not None and g.type(weight) == "Conv2d") or \
            (len(g.out_shape(post)) == 3 and not flat and (weight is None or g.type(weight) == "Scale"))
        if conv:
            if np.any(pre_d) or np.any(post_d):
                where = next(m for m in r.nodes if g.type(m) == "Delay")
                self.errs.add(f"netx conv layers take no synaptic delays (path {pre!r} -> {post!r}); put the delay "
                              "on a dense path", where, "delay", code="delay")
                return None
            if len(g.out_shape(pre)) != 3:
                self.errs.add(f"a conv layer needs a (C, H, W) input; '{pre}' gives {list(g.out_shape(pre))}",
                              weight or post, "shape", code="shape")
                return None
            if weight is not None and g.type(weight) == "Conv2d":
                return self.conv_map(pre, post, pool, weight, nodes)
            return self.depthwise_map(pre, post, pool, weight, nodes)
        m = self.dense_matrix(pre, post, pool, weight, n_pre, n_post)
        if m is None:
            return None
        delays = None
        if np.any(pre_d) or np.any(post_d):
            delays = pre_d[None, :] + post_d[:, None]
            worst = int(np.max(np.where(m != 0, delays, 0)))
            if worst > self.max_delay:
                where = next(x for x in r.nodes if g.type(x) == "Delay")
                self.errs.add(f"the path {pre!r} -> {post!r} needs a synaptic delay of {worst} steps; netx takes "
                              f"0..{self.max_delay}", where, "delay", code="delay")
                return None
        return LayerMap("dense", nodes, matrix=m, delays=delays)

    def dense_matrix(self, pre: str, post: str, pool: Optional[str], weight: Optional[str], n_pre: int,
                     n_post: int) -> Optional[np.ndarray]:
        g = self.g
        pairs, factor = None, 1.0
        if pool is not None:
            *pairs, factor = pooling(g, pool)
        if weight is None or g.type(weight) == "Scale":
            n_mid = n_post
            if weight is None:
                w = np.eye(n_mid)
            else:
                w = np.diag(np.broadcast_to(np.asarray(g.op(weight).scale, F64), g.in_shape(weight)).reshape(-1))
        else:
            w = np.asarray(g.op(weight).weight, F64)
            if w.ndim != 2:
                self.errs.add(f"an Affine/Linear weight of {w.ndim} dimensions {list(w.shape)}: a netx dense layer "
                              "takes one [out, in] matrix", weight, "weight", code="weight-shape")
                return None
        if pairs is None:
            return np.ascontiguousarray(w)
        return compose_pooling(w, pairs[0], pairs[1], factor, n_pre)

    def depthwise_map(self, pre: str, post: str, pool: Optional[str], weight: Optional[str],
                      nodes: tuple[str, ...]) -> Optional[LayerMap]:
        """A pooling, Scale or identity into a (C, H, W) neuron: a conv with groups = C."""
        g = self.g
        c = g.out_shape(pre)[0]
        k, s, p, factor = (1, 1), (1, 1), (0, 0), 1.0
        if pool is not None:
            geo = pool_geometry(g.op(pool))
            k, s, p = geo["kernel"], geo["stride"], geo["padding"]
            if g.type(pool) == "AvgPool2d":
                factor = 1.0 / (k[0] * k[1])
        scale = np.ones(c)
        if weight is not None:
            full = np.broadcast_to(np.asarray(g.op(weight).scale, F64), g.in_shape(weight)).reshape(c, -1)
            if np.any(full != full[:, :1]):
                self.errs.add("a Scale into a (C, H, W) layer becomes a depthwise conv, which needs one value per "
                              "channel; this one varies within a channel", weight, "scale", code="scale")
                return None
            scale = full[:, 0]
        kernel = np.ones((c, 1) + tuple(k)) * (scale * factor)[:, None, None, None]
        return LayerMap("conv", nodes, kernel=kernel, in_shape=tuple(g.out_shape(pre)), stride=tuple(s),
                        padding=tuple(p), groups=int(c))

    def conv_map(self, pre: str, post: str, pool: Optional[str], weight: str,
                 nodes: tuple[str, ...]) -> Optional[LayerMap]:
        g = self.g
        op = g.op(weight)
        geo = conv_geometry(op)
        kernel = np.asarray(op.weight, F64)
        pads = conv_padding(geo, g.in_shape(weight)[1:])
        if any(a != b for a, b in pads):
            self.errs.add(f"padding {[list(x) for x in pads]} is not symmetric: netx pads both sides equally "
                          "('same' with an even kernel)", weight, "padding", code="conv-geometry")
            return None
        stride, dilation, padding = tuple(geo["stride"]), tuple(geo["dilation"]), tuple(a for a, _ in pads)
        if pool is None:
            return LayerMap("conv", nodes, kernel=kernel, in_shape=tuple(g.out_shape(pre)), stride=stride,
                            padding=padding, dilation=dilation, groups=geo["groups"])
        pgeo = pool_geometry(g.op(pool))
        if any(pgeo["padding"]):
            self.errs.add(f"a pooling with padding {list(pgeo['padding'])} before Conv2d '{weight}' does not fold "
                          "into the conv (netx has no pooling layer)", pool, "padding", code="pool-fold")
            return None
        factor = 1.0 / (pgeo["kernel"][0] * pgeo["kernel"][1]) if g.type(pool) == "AvgPool2d" else 1.0
        _, h_in, w_in = g.in_shape(pool)
        _, h_p, w_p = g.out_shape(pool)
        _, h_o, w_o = g.out_shape(weight)
        axes = []
        for a, (n_in, n_p, n_o) in enumerate(((h_in, h_p, h_o), (w_in, w_p, w_o))):
            k, s = pgeo["kernel"][a], pgeo["stride"][a]
            kk, ss, pp, dd = kernel.shape[2 + a], stride[a], padding[a], dilation[a]
            if _pool_reads_padding(n_in, n_p, k, s, n_o, kk, ss, pp, dd):
                self.errs.add(f"folding pooling '{pool}' (kernel {k}, stride {s}) into Conv2d '{weight}' (padding "
                              f"{pp}) would read input rows the pooled conv sees as padding: not exact", pool,
                              "stride", code="pool-fold")
                return None
            size = (kk - 1) * dd * s + k
            taps = np.zeros((size, kk))
            for t in range(kk):
                taps[t * dd * s: t * dd * s + k, t] += 1.0
            if (n_in + 2 * pp * s - size) // (ss * s) + 1 != n_o:
                self.errs.add(f"folding pooling '{pool}' into Conv2d '{weight}' changes the output size", pool,
                              "stride", code="pool-fold")
                return None
            axes.append((taps, ss * s, pp * s))
        folded = np.einsum("oikl,yk,xl->oiyx", kernel, axes[0][0], axes[1][0]) * factor
        self.diags.info("pool-folded", f"{g.type(pool)} '{pool}' folded into Conv2d '{weight}': kernel "
                        f"{list(folded.shape[2:])}, stride {[axes[0][1], axes[1][1]]}, padding "
                        f"{[axes[0][2], axes[1][2]]} (exact)", node=pool, stage=STAGE)
        return LayerMap("conv", nodes, kernel=folded, in_shape=tuple(g.in_shape(pool)),
                        stride=(axes[0][1], axes[1][1]), padding=(axes[0][2], axes[1][2]), groups=geo["groups"])


def _merge_dense(maps: list[LayerMap], post: str, errs: ErrorCollector) -> Optional[LayerMap]:
    """Parallel dense paths into one synapse: weights add where the delays agree."""
    if len(maps) == 1:
        return maps[0]
    w = np.zeros_like(maps[0].matrix)
    d = np.full(w.shape, -1, np.int64)
    for m in maps:
        dm = np.zeros(w.shape, np.int64) if m.delays is None else m.delays
        nz = m.matrix != 0
        clash = nz & (d >= 0) & (d != dm)
        if clash.any():
            j, i = (int(x) for x in np.argwhere(clash)[0])
            errs.add(f"parallel paths give synapse [{j}, {i}] two delays ({int(d[j, i])} and {int(dm[j, i])} steps): "
                     "a Loihi synapse has one", post, "delay", code="delay")
            return None
        w += m.matrix
        d = np.where(nz, dm, d)
    d = np.maximum(d, 0)
    nodes = tuple(x for m in maps for x in m.nodes)
    return LayerMap("dense", nodes, matrix=w, delays=d if np.any(d) else None)


def plan_layers(g: Graph, dt: float, fm: Formats, errs: ErrorCollector,
                diags: Diagnostics) -> tuple[str, list[LayerPlan]]:
    """The input node and the chain of neuron layers (module docstring, step 2); the
    problems go to ``errs`` (no plans when the structure is not a chain)."""
    local = ErrorCollector()
    try:
        return _plan_layers(g, dt, fm, local, diags)
    finally:
        errs.errors.extend(local.errors)


def _plan_layers(g: Graph, dt: float, fm: Formats, errs: ErrorCollector,
                 diags: Diagnostics) -> tuple[str, list[LayerPlan]]:
    paths = _Paths(g, dt, fm.max_delay, errs, diags)
    inputs = g.inputs
    if len(inputs) != 1:
        errs.add(f"a netx network has one input layer; the graph has {len(inputs)} Input nodes {inputs}",
                 inputs[1] if len(inputs) > 1 else None, "inputs", code="structure")
        return "", []
    neurons = [n for n in g.schedule().order if g.type(n) in NEURON_TYPES]
    fwd: dict[str, dict[str, list[Route]]] = {}
    recs: dict[str, list[Route]] = {}
    for v in neurons:
        fwd[v] = {}
        recs[v] = []
        for r in paths.routes(v):
            if r.pre is None:
                errs.add(f"a path into '{v}' starts at '{r.nodes[0]}', which has no input", r.nodes[0],
                         code="structure")
            elif r.pre == v:
                recs[v].append(r)
            elif r.back:
                errs.add(f"a recurrent path from '{r.pre}' back into '{v}' crosses layers: netx's only recurrence is "
                         "a layer's own dense_rec synapse", v, code="structure")
            else:
                fwd[v].setdefault(r.pre, []).append(r)
    succ: dict[str, list[str]] = {}
    for v in neurons:
        if len(fwd[v]) > 1:
            errs.add(f"reads {sorted(fwd[v])}: a netx layer reads only the previous layer (a chain, no joins)", v,
                     code="structure")
        elif not fwd[v]:
            errs.add("receives no input from another layer", v, code="structure")
        for p in fwd[v]:
            succ.setdefault(p, []).append(v)
    for p, vs in succ.items():
        if len(vs) > 1:
            errs.add(f"feeds {vs}: a netx layer is read only by the next layer (a chain, no forks)", p,
                     code="structure")
    if errs:
        return inputs[0], []
    order, cur = [], inputs[0]
    while cur in succ:
        cur = succ[cur][0]
        if cur in order:
            break
        order.append(cur)
    for v in neurons:
        if v not in order:
            errs.add(f"is not on the chain of layers from '{inputs[0]}'", v, code="structure")
    if not order:
        errs.add("the graph has no neuron layer: a netx network needs at least one", inputs[0], code="structure")
    plans = []
    for v in order:
        pre = next(iter(fwd[v]))
        bias = np.zeros(size_of(g, v), F64)
        maps = []
        for r in fwd[v][pre]:
            parts = paths.split(r)
            if parts is None:
                continue
            before, pool, weight, after = parts
            paths.add_bias(weight, after, v, bias)
            m = paths.layer_map(r, before, pool, weight, after)
            if m is not None:
                maps.append(m)
        if len(maps) != len(fwd[v][pre]):
            continue
        if any(m.kind == "conv" for m in maps):
            if len(maps) > 1:
                errs.add(f"{len(maps)} parallel paths from '{pre}', one of them a convolution: a netx conv layer has "
                         "one kernel", v, code="structure")
                continue
            syn = maps[0]
        else:
            syn = _merge_dense(maps, v, errs)
            if syn is None:
                continue
        rec, rec_nodes = _recurrent(g, v, recs[v], paths, bias, errs)
        if recs[v] and rec is None:
            continue
        if rec is not None and syn.kind == "conv":
            errs.add("netx has no recurrent conv layer (dense_rec takes a dense input)", v, code="structure")
            continue
        if rec is not None and syn.delays is not None:
            errs.add("a dense_rec layer with synaptic delays on its input: netx gives the recurrent synapse the "
                     "input's delay matrix (and drops the weight exponent); no delays on a recurrent layer's input",
                     v, "delay", code="delay")
            continue
        flatten = syn.kind == "dense" and len(g.out_shape(pre)) == 3
        if len(g.out_shape(v)) not in (1, 3) or (syn.kind == "conv" and len(g.out_shape(v)) != 3):
            errs.add(f"neuron shape {list(g.out_shape(v))}: netx layers are (N,) dense or (C, H, W) conv", v,
                     "shape", code="shape")
            continue
        plans.append(LayerPlan(v, pre, syn, rec, bias, flatten, rec_nodes))
    return inputs[0], plans


def _recurrent(g: Graph, v: str, routes: list[Route], paths: _Paths, bias: np.ndarray,
               errs: ErrorCollector) -> tuple[Optional[np.ndarray], tuple[str, ...]]:
    """The summed recurrent matrix of a layer ([n, n], float64) and its weight nodes."""
    if not routes:
        return None, ()
    n = size_of(g, v)
    total = np.zeros((n, n), F64)
    nodes: list[str] = []
    ok = True
    for r in routes:
        kinds = [g.type(m) for m in r.nodes]
        if "Delay" in kinds:
            errs.add(f"a Delay on the recurrent path of '{v}': netx's dense_rec synapse has no delays of its own",
                     r.nodes[kinds.index("Delay")], "delay", code="delay")
            ok = False
            continue
        bad = [m for m, t in zip(r.nodes, kinds) if t not in ("Affine", "Linear", "Scale", "Flatten")]
        weights = [m for m, t in zip(r.nodes, kinds) if t in ("Affine", "Linear", "Scale")]
        if bad or len(weights) > 1:
            errs.add(f"the recurrent path {list(r.nodes)} of '{v}' must be one Affine, Linear or Scale (netx "
                     "dense_rec)", (bad or weights)[0], code="structure")
            ok = False
            continue
        m = paths.dense_matrix(v, v, None, weights[0] if weights else None, n, n)
        if m is None:
            ok = False
            continue
        paths.add_bias(weights[0] if weights else None, (), v, bias)
        total += m
        nodes.extend(weights)
    return (total if ok else None), tuple(nodes)


# ---------------------------------------------------------------------- neurons
@dataclass
class LoihiNeuronPlan:
    """The neuron parameters of a layer in NIR units (module docstring table)."""

    type: str
    k_in: np.ndarray                  # input gain per neuron (v per unit of synaptic input)
    bias_v: np.ndarray                # v added per step by bias and leak
    thr: Optional[np.ndarray]         # v_threshold (None: never fires)
    du: int
    dv: int
    decays: list[DecayResult] = field(default_factory=list)


def neuron_plan(g: Graph, node: str, beta: np.ndarray, sem: Semantics, rounding: str, fm: Formats,
                errs: ErrorCollector, diags: Diagnostics) -> Optional[LoihiNeuronPlan]:
    """Neuron parameters of ``node`` (module docstring), None after an error."""
    t, op = g.type(node), g.op(node)
    dt = float(sem.dt)
    shape = g.out_shape(node)

    def get(name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(getattr(op, name), F64), shape).reshape(-1).copy()

    fmt = NumberFormat(fm.decay_bits, signed=False, rounding=ROUNDINGS[rounding], name=f"uint{fm.decay_bits}")
    decays: list[DecayResult] = []

    def quantized_decay(fld: str, offset: int, what: str) -> Optional[int]:
        tau = get(fld)
        short = tau / _allow(np.ones(1), rounding)      # the allowance: a shorter tau, a larger 4096 (1 - a)
        if sem.discretization == "euler":
            short = np.where(tau >= dt, np.maximum(short, dt), tau)
        try:
            d = linear_decay(short, dt, discretization=sem.discretization,
                             frac_bits=fm.decay_bits, offset=offset, fmt=fmt, name=f"{node}.{what}", node=node,
                             field=fld)
        except NirccError as e:
            errs.extend(e)
            return None
        rel = np.abs(d.tau_effective - tau) / tau
        q = np.asarray(d.q, np.int64)
        if np.any(q != q[0]):
            # one decay per layer: the median neuron's (its realised tau for every neuron, also
            # in the input gain, so a spike's total charge is kept), with the error it costs
            i = int(np.argsort(q, kind="stable")[(q.size - 1) // 2])
            tau_s = float(d.tau_effective[i])
            rel = np.abs(tau_s - tau) / tau
            diags.warn("tau-shared", f"{fld} spans {float(tau.min()):g}..{float(tau.max()):g} s ({what} "
                       f"{int(q.min())}..{int(q.max())}) and a Loihi layer has one {what}: realised as {what} = "
                       f"{int(q[i])} (tau {tau_s:.4g} s, the median neuron's) for all {q.size} neurons; relative "
                       f"tau error up to {float(rel.max()):.3g} (median {float(np.median(rel)):.3g}). One NIR "
                       "node per time constant would be exact", node, fld, STAGE)
            shared[fld] = tau_s
            q = np.full_like(q, q[i])
            d = dataclasses.replace(d, q=q, tau_effective=np.full(tau.shape, tau_s),
                                    decay=np.full(tau.shape, np.asarray(d.decay).reshape(-1)[i]))
        d = dataclasses.replace(d, tau=tau, max_rel_tau_error=float(np.max(rel)))
        decays.append(d)
        return int(q[0])

    shared: dict[str, float] = {}

    def tau_of(fld: str) -> np.ndarray:
        """The time constant the layer realises: the neuron's own, or the one it shares."""
        return np.full(get(fld).shape, shared[fld]) if fld in shared else get(fld)

    r = get("r")
    if t in ("LIF", "LI"):
        du, dv = fm.decay_max, quantized_decay("tau", fm.dm_offset, "dv")
    elif t in ("IF", "I"):
        du, dv = fm.decay_max, 0
    else:
        du, dv = quantized_decay("tau_syn", fm.ds_offset, "du"), quantized_decay("tau_mem", fm.dm_offset, "dv")
    if du is None or dv is None:
        return None
    if t in ("LIF", "LI"):
        _, b = decay(tau_of("tau"), dt, sem.discretization)
        k_in, bias_v = b * r, b * (get("v_leak") + r * beta)
    elif t in ("IF", "I"):
        k_in, bias_v = dt * r, dt * r * beta
    else:
        _, b_s = decay(tau_of("tau_syn"), dt, sem.discretization, "syn")
        _, b_m = decay(tau_of("tau_mem"), dt, sem.discretization)
        w_in = get("w_in")
        k_in = b_m * r * b_s * w_in
        bias_v = b_m * (get("v_leak") + r * w_in * beta)
        if np.any(beta) and du != fm.decay_max:
            diags.warn("cuba-bias-steady-state", "the bias enters the synaptic current in the reference (rising over "
                       f"tau_syn); Lava adds its steady state b_mem r w_in bias to v from the first step (du = {du})",
                       node=node, field="bias", stage=STAGE)
    for name, x in (("input gain", k_in), ("bias", bias_v)):
        if not np.all(np.isfinite(x)):
            errs.add(f"the {name} is not finite (check r, w_in, v_leak and the time constants)", node, "r",
                     code="param")
            return None
    thr = None
    if t in SPIKING:
        thr = get("v_threshold")
        v_reset = get("v_reset")
        if np.any(v_reset != 0):
            errs.add(f"v_reset = {float(v_reset[v_reset != 0][0]):g}: Lava's LIF resets v to 0", node, "v_reset",
                     code="param")
            return None
        if np.all(thr == thr[0]):
            if thr[0] < 0:
                errs.add(f"v_threshold = {thr[0]:g} < 0: vThMant is unsigned", node, "v_threshold", code="param")
                return None
        elif np.any(thr <= 0):
            errs.add(f"per-neuron thresholds {float(thr.min()):g}..{float(thr.max()):g} are realised by scaling each "
                     "neuron's weights and bias, which needs every v_threshold > 0", node, "v_threshold",
                     code="param")
            return None
        if sem.threshold == ">=":
            diags.warn("threshold-ge", "v >= threshold realised as Lava's v > vth << 6: they differ when v equals the "
                       "quantized threshold exactly", node=node, field="v_threshold", stage=STAGE)
    return LoihiNeuronPlan(t, k_in, bias_v, thr, int(du), int(dv), decays)


# ---------------------------------------------------------------------- quantization
def weight_format(values: np.ndarray, conv: bool, rounding: str, fm: Formats) -> NumberFormat:
    """The format netx (dense) or Lava's Conv (conv) loads unchanged, by the sign of the values:
    excitatory ``[0, 255]``, inhibitory ``[-255, 0]``, mixed ``[-128, 127]`` (dense, odd values:
    netx shifts them left) or even values in ``[-256, 254]`` (exponent 1; always for conv,
    whose 8-bit mixed mode clears the low bit)."""
    rnd = ROUNDINGS[rounding]
    top = (1 << fm.weight_bits) - 1
    if values.size == 0 or values.min() >= 0:
        return NumberFormat(fm.weight_bits, signed=False, rounding=rnd)
    if values.max() <= 0:
        return NumberFormat(fm.weight_bits + 1, signed=True, lo=-top, hi=0, rounding=rnd)
    return NumberFormat(fm.weight_bits, signed=True, exponents=(1, 1) if conv else (0, 1), rounding=rnd)


@dataclass
class QuantizedLayer:
    layer: Any                        # DenseLayer | ConvLayer
    gain: float
    summary: dict


def _netx_dense(q: np.ndarray, n_in: int, delays: Optional[np.ndarray], rec: bool, node: str, errs: ErrorCollector,
                diags: Diagnostics, fm: Formats) -> Optional[tuple[Synapse, Optional[Synapse]]]:
    """The synapse(s) netx and Lava make of the file weights ``q`` ([W | W_rec] for a
    dense_rec layer).  Lava clips an all-nonpositive matrix at -255 after netx shifted it:
    weights that netx turns into -256 (``-2**k`` at the matrix minimum) move one unit
    toward zero (warning ``netx-weight-repair``) until netx loads the matrix unchanged."""
    q = q.astype(np.int64).copy()
    repaired: dict[int, int] = {}
    for _ in range(fm.weight_bits + 2):
        if not q.any():
            errs.add("every weight rounds to 0: netx cannot load an all-zero weight matrix (a larger weight_scale, or "
                     "remove the layer)", node, "weight", code="weight")
            return None
        try:
            if rec:
                syns = netx_recurrent_synapses(q[:, :n_in], q[:, n_in:], fm)
                parts = [(syns[0], q[:, :n_in]), (syns[1], q[:, n_in:])]
            else:
                syns = (netx_synapse(q, delays, fm), None)
                parts = [(syns[0], q)]
        except NirccError as e:
            errs.add(e.message, node, "weight", code="weight")
            return None
        bad = np.hstack([np.asarray(s.weights, np.int64) != (part << -int(s.weight_exp)) for s, part in parts])
        if not bad.any():
            if repaired:
                text = ", ".join(f"{n} at {v}" for v, n in sorted(repaired.items()))
                diags.warn("netx-weight-repair", f"Lava would clip weights netx shifts to -256 (inhibitory matrix): "
                           f"{text} moved one unit toward zero", node=node, field="weight", stage=STAGE)
            return syns
        if np.any(q[bad] >= -1):
            errs.add("netx cannot load this inhibitory matrix unchanged (its -1 weights become -256, clipped by "
                     "Lava); a larger weight_scale avoids it", node, "weight", code="weight")
            return None
        for v in q[bad].tolist():
            repaired[v] = repaired.get(v, 0) + 1
        q[bad] += 1
    raise AssertionError(f"netx weight repair of {node!r} did not converge")


def quantize_layer(plan: LayerPlan, npl: LoihiNeuronPlan, opts: dict, fm: Formats, qreport: QuantizationReport,
                   errs: ErrorCollector, diags: Diagnostics) -> Optional[QuantizedLayer]:
    """Weights, bias and threshold of one layer in one scale group (module docstring)."""
    node, syn = plan.node, plan.syn
    n = npl.k_in.size
    s = np.ones(n) if npl.thr is None or np.all(npl.thr == npl.thr[0]) else npl.thr.max() / npl.thr
    row = npl.k_in * s
    conv = syn.kind == "conv"
    if conv:
        c_out = syn.kernel.shape[0]
        per_ch = row.reshape(c_out, -1)
        if np.any(per_ch != per_ch[:, :1]):
            errs.add("the input gain (r, w_in, thresholds) varies within a channel; a conv kernel is shared by the "
                     "channel's neurons", node, "r", code="non-uniform")
            return None
        w = syn.kernel * per_ch[:, 0][:, None, None, None]
    else:
        w = syn.matrix if plan.rec is None else np.hstack([syn.matrix, plan.rec])
        w = w * row[:, None]
    if not np.any(w):
        errs.add("every weight into the layer is 0: netx cannot load an all-zero weight matrix", node, "weight",
                 code="weight")
        return None
    fmt = weight_format(w, conv, opts["rounding"], fm)
    rnd = ROUNDINGS[opts["rounding"]]
    rounding = opts["rounding"]
    tensors = [Tensor("weight" if plan.rec is None else "weight+weight_rec", _allow(w, rounding), fmt, node=node,
                      field="weight")]
    bias = npl.bias_v * s
    if np.any(bias):
        lo, hi = fm.bias_mant_range
        fmt_bias = NumberFormat(fm.bias_mant_bits, signed=True, lo=lo, hi=hi, rounding=rnd)
        tensors.append(Tensor("bias", _allow(bias, rounding), fmt_bias, node=node, field="bias"))
    if npl.thr is not None:
        tensors.append(Tensor("threshold", _allow((npl.thr * s)[:1], rounding),
                              NumberFormat(fm.vth_bits, signed=False, rounding=rnd), node=node, field="v_threshold"))
    fixed = opts["weight_scale"]
    res = qreport.add(quantize_group(tensors, gain=fixed, name=node, node=node))
    qw = res[tensors[0].name]
    q = qw.q.astype(np.int64) << qw.exponent
    bias_mant = res["bias"].q.astype(np.int64) if "bias" in res.tensors else np.zeros(n, np.int64)
    vth = int(res["threshold"].q[0]) if npl.thr is not None else fm.vth_max
    neurons = CubaNeurons(du=npl.du, dv=npl.dv, vth=vth, bias_mant=bias_mant, bias_exp=fm.netx_bias_exp)
    if conv:
        mode = determine_sign_mode(q)
        if mode == "inhibitory" and q.min() < -((1 << fm.weight_bits) - 1):
            diags.warn("netx-weight-repair", f"{int(np.sum(q == -(1 << fm.weight_bits)))} kernel weights at -256 in an "
                       "inhibitory kernel moved to -255 (Lava's inhibitory range)", node=node, field="weight",
                       stage=STAGE)
            q = np.maximum(q, -((1 << fm.weight_bits) - 1))
        if not q.any():
            diags.warn("weights-zero", "every kernel weight rounds to 0: the layer receives no input", node=node,
                       field="weight", stage=STAGE)
        layer = ConvLayer(node, syn.in_shape, q, neurons, stride=syn.stride, padding=syn.padding,
                          dilation=syn.dilation, groups=syn.groups, num_weight_bits=fm.weight_bits, sign_mode=mode)
        netx = {"sign_mode": mode, "num_weight_bits": fm.weight_bits, "weight_exp": 0}
    else:
        delays = None if syn.delays is None else np.where(q[:, :syn.matrix.shape[1]] != 0, syn.delays, 0)
        built = _netx_dense(q, syn.matrix.shape[1], delays, plan.rec is not None, node, errs, diags, fm)
        if built is None:
            return None
        main, rec = built
        layer = DenseLayer(node, main, neurons, synapse_rec=rec)
        netx = {"sign_mode": main.sign_mode, "num_weight_bits": main.num_weight_bits, "weight_exp": main.weight_exp}
        if rec is not None:
            netx["sign_mode_rec"] = rec.sign_mode
    summary = {
        "layer": node, "type": npl.type, "kind": layer.kind, "weight_nodes": list(syn.nodes + plan.rec_nodes),
        "gain": float(res.gain),
        "gain_source": "weight_scale" if fixed is not None else "best", "limited_by": list(res.limited_by),
        "threshold_normalized": bool(np.any(s != 1)), "vth": vth, "du": npl.du, "dv": npl.dv,
        "bias_exp": fm.netx_bias_exp, **netx,
        "tensors": [{k: v for k, v in t.summary().items() if k not in ("gain", "effective")}
                    for t in res.tensors.values()],
        "decays": [d.summary() for d in npl.decays],
    }
    if np.any(s != 1):
        diags.info("threshold-normalized", f"per-neuron thresholds {float(npl.thr.min()):g}..{float(npl.thr.max()):g} "
                   "realised by scaling each neuron's weights and bias by max(thr)/thr (exact with reset to 0)",
                   node=node, field="v_threshold", stage=STAGE)
    return QuantizedLayer(layer, float(res.gain), summary)


# ---------------------------------------------------------------------- state ranges
def state_ranges(layer: Any, spiking: bool, fm: Formats, diags: Diagnostics) -> dict:
    """Worst-case bounds of ``u`` and ``v`` (every input neuron firing on every step) against
    the 24-bit state; warnings where ``u`` can wrap or ``v`` saturate (module docstring of
    :mod:`~nircc.backends.loihi.emulator` for the arithmetic).  ``v_min`` / ``v_max`` are None
    where ``v`` has no bound (no leak); ``v_max`` is None for spiking layers (the threshold
    bounds it)."""
    n = layer.neurons
    if isinstance(layer, ConvLayer):
        w = np.asarray(layer.weights, np.int64)
        pos = np.clip(w, 0, None).sum(axis=(1, 2, 3)).max()
        neg = np.clip(-w, 0, None).sum(axis=(1, 2, 3)).max()
    else:
        sums = [(np.asarray(s.weights, np.int64), int(s.weight_exp)) for s in (layer.synapse, layer.synapse_rec)
                if s is not None]
        per = [(np.clip(w, 0, None).sum(axis=1) * 2.0 ** e, np.clip(-w, 0, None).sum(axis=1) * 2.0 ** e)
               for w, e in sums]
        pos = float(sum(p for p, _ in per).max())
        neg = float(sum(q for _, q in per).max())
    a = 1 << fm.act_shift
    h_u = (n.du + fm.ds_offset) / fm.decay_unity
    u_pos, u_neg = a * float(pos) / h_u, a * float(neg) / h_u
    bias = np.asarray(n.bias_mant, np.int64) << n.bias_exp
    h_v = (n.dv + fm.dm_offset) / fm.decay_unity
    drive_neg = u_neg + float(np.clip(-bias, 0, None).max())
    drive_pos = u_pos + float(np.clip(bias, 0, None).max())
    v_neg = math.inf if h_v == 0 and drive_neg > 0 else (drive_neg / h_v if h_v else 0.0)
    v_pos = math.inf if h_v == 0 and drive_pos > 0 else (drive_pos / h_v if h_v else 0.0)
    top = fm.max_uv - 1
    node = layer.name
    if max(u_pos, u_neg) > top:
        diags.warn("state-wrap", f"u can reach {max(u_pos, u_neg):.4g} (every input firing every step, du = {n.du}), "
                   f"beyond the 24-bit range +-{top}: Lava wraps it", node=node, field="u", stage=STAGE)
    limits = [("-", v_neg)] + ([] if spiking else [("+", v_pos)])
    for sign, bound in limits:
        if bound <= top:
            continue
        if math.isinf(bound):
            steps = math.ceil(top / (drive_neg if sign == "-" else drive_pos))
            diags.info("state-saturation", f"v has no leak (dv = 0): {steps} step(s) of the strongest "
                       f"{'negative' if sign == '-' else 'positive'} input saturate it at {sign}{top}", node=node,
                       field="v", stage=STAGE)
        else:
            diags.warn("state-saturation", f"v can reach {sign}{bound:.4g} (every input firing every step, dv = "
                       f"{n.dv}), beyond the 24-bit range: Lava saturates it at {sign}{top}", node=node, field="v",
                       stage=STAGE)
    def finite(x: float) -> Optional[float]:
        return None if math.isinf(x) else x

    return {"u_max": u_pos, "u_min": -u_neg, "v_max": None if spiking else finite(v_pos), "v_min": finite(-v_neg),
            "limit": top}


# ---------------------------------------------------------------------- assembly
def lower(graph: Graph, spec: LoihiSpec, options) -> LoihiProgram:
    """Graph -> LoihiProgram (module docstring); NirccError(s) for what Loihi or netx cannot do."""
    g, sem, diags = graph, options.semantics, options.diagnostics
    fm = spec.formats
    errs = ErrorCollector()
    opts = options.option_values(errs)
    check_node_types(g, CAPABILITIES, errs)
    if any(e.code == "unsupported-node" for e in errs.errors):
        errs.raise_if_any()
    inp, plans = plan_layers(g, float(sem.dt), fm, errs, diags)
    if plans:
        last = plans[-1].node
        for i, pl in enumerate(plans[:-1]):
            if g.type(pl.node) not in SPIKING:
                errs.add(f"a non-spiking {g.type(pl.node)} feeds '{plans[i + 1].node}': Loihi layers pass spikes only",
                         pl.node, code="structure")
        for o in g.outputs:
            preds = g.predecessors(o)
            if preds != [last]:
                what = ", ".join(f"'{p}' ({g.type(p)})" for p in preds) or "nothing"
                errs.add(f"reads {what}: netx's output is the last layer '{last}' (its spikes, or v of an LI/I/CubaLI "
                         "read-out)", o, code="output")
    errs.raise_if_any()

    if errs.errors and not plans:
        errs.raise_if_any()
    qreport = QuantizationReport()
    layers: list = [InputLayer(inp, tuple(g.out_shape(inp)))]
    summaries, gains = [], {}
    nplans = [neuron_plan(g, pl.node, pl.bias, sem, opts["rounding"], fm, errs, diags) for pl in plans]
    errs.raise_if_any()
    for i, (pl, npl) in enumerate(zip(plans, nplans)):
        ql = quantize_layer(pl, npl, opts, fm, qreport, errs, diags)
        if ql is None:
            continue
        for d in npl.decays:
            qreport.add(d)
        if pl.flatten:
            layers.append(FlattenLayer(f"{pl.node}:flatten"))
        layers.append(ql.layer)
        ql.summary["state"] = state_ranges(ql.layer, npl.thr is not None, fm, diags)
        if ql.layer.kind == "dense" and ql.layer.synapse.delays is not None:
            d = np.asarray(ql.layer.synapse.delays)[np.asarray(ql.layer.synapse.weights) != 0]
            ql.summary["delays"] = {"min": int(d.min()), "max": int(d.max())}
            diags.info("delay-native", f"synaptic delays {int(d.min())}..{int(d.max())} step(s) (delay / dt) in the "
                       "layer's DelayDense synapse", node=pl.node, field="delay", stage=STAGE)
        if np.any(npl.bias_v):
            warn_bias_lead(diags, pl.node, i + 1, STAGE)
        summaries.append(ql.summary)
        gains[pl.node] = ql.gain
    errs.raise_if_any()
    diags.extend(qreport.diagnostics(STAGE, tau_tolerance=float(opts["tau_tolerance"])))
    last = plans[-1].node
    latency = len(plans)
    spiking_out = g.type(last) in SPIKING
    # the input layer's neurons in NIR order; the last layer's spikes, or its v over the gain
    io = IOMap((Port(inp, g.out_shape(inp), inp),),
               tuple(Port(o, g.out_shape(o), last if spiking_out else state_key(last, "v"), 0,
                          "spikes" if spiking_out else "v",
                          None if spiking_out else (float((1 << fm.act_shift) * gains[last]),), latency)
                     for o in g.outputs), layout="channels")
    meta = {
        "io": io.to_dict(),
        "gains": gains,
        "semantics": sem.to_dict(),
        "source": g.meta.get("source"),
    }
    program = LoihiProgram(layers, input_message_bits=0, dt=sem.dt, variant=spec.name, meta=meta)
    program.validate(spec)
    resources = partition(program, spec)
    program.report = {"resources": resources, "latency": io.latency,
                      "quantization": {"layers": summaries, "rounding": opts["rounding"]}}
    return program
