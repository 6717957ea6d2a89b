"""Lowering: a NIR graph (after the Speck pipeline) -> :class:`SpeckProgram`.

What maps
=========
A Speck core is ``conv -> integrate-and-fire -> per-destination sum pooling``.  The
lowering cuts the graph at its ``IF`` nodes: every IF becomes one core, fed by the weight
nodes (``Conv2d``, ``Affine``, ``Linear``) in front of it; between a *source* (the Input
or an IF) and a weight node there may be a chain of ``SumPool2d`` / ``AvgPool2d`` /
``Flatten`` nodes.  Fan-out (an IF feeding several chains) becomes the core's
destinations (at most 2); fan-in is summed event streams:

* a weight node fed by several sources: every source sends its events to the same input
  channels of the core (NIR adds a node's inputs; the conv is linear);
* an IF fed by several weight nodes: their kernels are concatenated along the input
  channels of one core (``W = [W_1 | W_2]``) and each source's destination carries a
  ``feature_shift`` (the channel offset of its block).  The blocks must read maps of the
  same size and produce the same neuron map; blocks fed by the Input come first (the
  input layer has no feature shift).

Geometry.  ``Affine``/``Linear`` on a flattened ``(C, H, W)`` map (or on a 1-D vector
``(N,)`` = ``(N, 1, 1)``) is a conv whose kernel covers the map: ``W[F, C*H*W]`` reshaped
C-order to ``[F, C, H, W]`` (NIR's Flatten is C-order), one output neuron per feature.
Speck kernels are square (``K <= 16``), strides ``{1, 2, 4, 8}``, symmetric padding
``<= 7``.  Every block's kernel ``[kh, kw]`` with its own padding (the *before* padding
of NIR's, ``'same'`` resolved as PyTorch does) is placed at offset ``d = P - p`` in the
core's ``K x K`` kernel, which reproduces NIR's conv exactly when
``floor((n + 2P - K) / s) + 1`` equals the block's output size on both axes; the
lowering takes the smallest ``K``, then the smallest stride and padding that fit every
block (an info diagnostic ``kernel-embedded`` when this differs from the node's own
geometry: non-square kernels, asymmetric ``'same'`` padding, a non-square map under a
Linear).  Grouped convs are expanded to dense kernels with zeros (info
``groups-expanded``).  Dilation must be 1.

Pooling.  ``SumPool2d`` and ``AvgPool2d`` must be square with stride = kernel and no
padding; a chain's poolings multiply (``floor(floor(n/a)/b) = floor(n/(ab))``).  AvgPool
``k`` is SumPool ``k`` with the next weights scaled by ``1/k^2`` (exact, in float, before
quantization; sinabs does the same).  A destination pools by 1, 2 or 4.  A total pooling
``P`` of 8, 16 or 32 is realised by a **relay core**: the destination pools by ``d = 4``
and an extra core with an identity kernel of size and stride ``r = P / d`` (``W[f, c] = 1``
iff ``f = c``), ``threshold_high = 1``, forwards every input event as exactly one spike at
``(y // r, x // r)``: exact in the event model and in binned multi-spike mode (binned
single-spike mode keeps at most one per bin).  The relay costs a core (it shows in the
mapping) and is named ``<source>-><layer>.pool<P>``.  The plain input cannot pool (only
relays); the DVS layer pools 1/2/4 per axis (one value for all its destinations).

Parameters (per core; ``g`` = the layer's gain, see Quantization)::

    v += dt * r_f * (theta0 / theta_f) * (W x + b)      folded into W and b per output channel f
    threshold_high = round(g * theta0) + 1   for NIR's '>' (default)  [v > T  <=>  v >= T + 1 on integers]
                   = round(g * theta0)       for '>='
    return_to_zero = (reset == "zero")       ("subtract": v -= threshold_high)
    threshold_low  = -32640 (int16 minus the 128 margin; NIR's IF has no floor), or
                     -round(g * theta0) with semantics v_min="-threshold" (the sinabs preset:
                     sinabs' min_v_mem) or option threshold_low="-threshold",
                     raised to -32768 - min(bias) when a leak could leave int16
    biases         = round(g * dt * r_f * theta0/theta_f * b_f), leak_enable = any(biases != 0)

* ``r`` and ``dt``: NIR's IF integrates ``v += dt * r * x`` per step; the gain ``dt * r``
  is folded into the weights (info ``if-gain-folded`` when it or ``r`` is not 1).  Per-channel
  ``r`` folds too; ``r`` varying inside a channel is an error.
* Thresholds: one per layer on the chip.  Uniform arrays collapse; thresholds that vary
  only per output channel are equalised exactly by scaling channel ``f``'s incoming
  weights and bias by ``theta0 / theta_f`` (``theta0`` = the largest; ``v' = v theta0 /
  theta_f`` crosses ``theta0`` exactly when ``v`` crosses ``theta_f``, and both resets
  commute with the scaling): info ``threshold-per-channel``.  Thresholds varying inside a
  channel, or ``<= 0``, are errors.
* ``v_reset != 0`` with reset ``zero``: error (the chip returns to 0).  Reset ``subtract``
  ignores ``v_reset`` (as the reference does).
* NIR fires on ``v > theta``; Speck on ``v >= threshold_high``.  On integers ``v > T`` is
  ``v >= T + 1``, so ``'>'`` is realised exactly after quantization with reset ``zero``
  (info ``threshold-strict`` per layer); ``'>='`` maps directly.  ``'>'`` with reset
  ``subtract`` has no exact integer form (the chip subtracts ``threshold_high = T + 1``,
  the reference ``T``): warning ``threshold-strict-subtract``.
* Bias: the chip adds it once per slow-clock tick (``leak_enable``), not per time step.
  The emulators apply one tick per time bin (a slow clock of ``1 / dt`` Hz: the emitted
  configuration records it).  Positive biases are errors: a leak tick never fires a neuron,
  so a positive leak raises ``v`` without bound (SynSense: use negative biases).
* Spikes: the chip emits at most one spike per input event and several per time bin, at
  no fixed step: NIR's ``spike`` option cannot be realised (info ``event-driven``).
* Not supported, with the reason in the error: LIF (no leak per time step), CubaLIF /
  CubaLI / LI (no synaptic state, no read-out of membranes), I, Threshold, Delay, Conv1d,
  a Scale canonicalize could not fold, recurrent edges, more than one Input, an Output
  fed by anything but spikes (an IF, through SumPool2d / Flatten).

Quantization (``nircc.backends.toolkit.quantize``)
========================================
One scale group per core (sinabs' ``discretize_conv_spike`` rule, one gain for the whole
layer, limited by every tensor):

==============  ==========================  ================================================
tensor          format                      notes
==============  ==========================  ================================================
weights         int8 [-128, 127]            round half to even
biases          int16 [-32767, 32767]       datasheet: leak 16 bits; sinabs uses int8
                (option bias_bits=8: int8)  (-32768 left out: threshold_low must stay <= -1)
threshold       int16 [1, 32639]            32639 = int16 max - the 128 state margin; minus 1
                                            for '>' (threshold_high = q + 1 <= 32639)
state           int16                       starts at 0 (NIR)
==============  ==========================  ================================================

The gain is ``min(127 / max w, 128 / -min w, bias bounds, 32639 / theta0)``: the best use of
the weight range unless the threshold or a bias would not fit.  Clipping, values rounded to
zero and the errors go to the report (``quantization``) and become warnings; so does a
weight ``>= threshold_high`` (``weight-above-threshold``: one input event then carries a
neuron past threshold more than once, but the chip emits one spike per event, fewer than a
time-binned simulation).

Mapping (``nircc.backends.toolkit.mapping``)
========================================
Every core (relays included) is one population with the fixed demand of the memory
formulas (``spec.layer_memory``: kernel, neuron and bias words) on the 9 cores of the
variant (exclusive: one layer per core; exact bipartite matching, lexicographically first
assignment, so small networks land on cores 0, 1, 2, ...).  ``layer2core`` pins layers
(``"name:core,name:core"`` or a dict).  Failure lists each layer's needs and the cores
that fit it, and every core's capacity.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ...errors import Diagnostics, ErrorCollector, NirccError, NirccErrors
from ...ir import Graph
from ...ir.shapes import conv_geometry, conv_padding, pool_geometry
from ..toolkit.mapping import Core, MapItem, format_amount, map_resources
from ..toolkit.quantize import NumberFormat, QuantizationReport, Tensor, brief, quantize_group
from ..io import IOMap, Port
from ..options import Option, option_table, parse_options
from .program import CnnLayer, Destination, Exit, SpeckInput, SpeckProgram
from ..capabilities import check_node_types
from .spec import CAPABILITIES, SpeckSpec, layer_memory

STAGE = "speck"

#: Target options (``--option key=value``), documented in docs/targets/speck.md.
OPTIONS = option_table([
    Option("mode", "event", "the emulator of the fidelity check: event (the chip's order) or binned", "choice",
           ("event", "binned")),
    Option("order", "sinabs", "event order within a time bin", "choice", ("sinabs", "address", "round_robin")),
    Option("overflow", "error", "a state that can leave int16: an error, or saturate", "choice", ("error", "saturate")),
    Option("spike", "semantics", "the binned emulator's spike rule: the semantics', multi or single", "choice",
           ("semantics", "multi", "single")),
    Option("dvs", "auto", "route the input through the DVS layer: auto, true or false", "choice", ("auto", True, False)),
    Option("dvs_sensor", False, "events come from the chip's own DVS sensor", "choice", (False, True)),
    Option("bias_bits", 16, "bias width: 16 (int16) or 8 (int8)", "choice", (16, 8)),
    Option("threshold_low", "semantics", "floor of the state: the semantics' v_min, min or -threshold", "choice",
           ("semantics", "min", "-threshold")),
    Option("layer2core", None, "explicit placement: {layer: core} or 'name:core,...'", "any"),
])

WEIGHT_TYPES = ("Conv2d", "Affine", "Linear")
CHAIN_TYPES = ("SumPool2d", "AvgPool2d", "Flatten")

Shape3 = tuple[int, int, int]
Pair = tuple[int, int]


# ---------------------------------------------------------------------- options
def _options(options: Any) -> dict:
    """The target options with defaults; NirccError for unknown keys or values."""
    errs = ErrorCollector()
    out = parse_options(getattr(options, "target_options", None), OPTIONS.values(), "speck", errs)
    errs.raise_if_any()
    return out


def _layer2core(value: Any, names: list[str], spec: SpeckSpec, errs: ErrorCollector) -> dict[str, int]:
    """``layer2core`` as {layer: core}: a dict or ``"name:core,name:core"``."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = {}
        for item in value.split(","):
            name, sep, core = item.strip().rpartition(":")
            if not sep or not name:
                errs.add(f"'{item.strip()}' is not name:core", field="layer2core")
                continue
            pairs[name] = core
        value = pairs
    if not isinstance(value, dict):
        errs.add(f"layer2core must be a dict or 'name:core,...', got {type(value).__name__}", field="layer2core")
        return {}
    out: dict[str, int] = {}
    for name, core in value.items():
        try:
            c = int(core)
        except (TypeError, ValueError):
            errs.add(f"core {core!r} is not an integer", node=str(name), field="layer2core")
            continue
        if str(name) not in names:
            errs.add(f"no Speck layer called '{name}' (layers: {', '.join(names)})", node=str(name),
                     field="layer2core")
        elif not 0 <= c < spec.n_cores:
            errs.add(f"core {c} not in 0..{spec.n_cores - 1}", node=str(name), field="layer2core")
        else:
            out[str(name)] = c
    for c in sorted(set(out.values())):
        both = [n for n, v in out.items() if v == c]
        if len(both) > 1:
            errs.add(f"layers {', '.join(both)} are all pinned to core {c}", node=both[1], field="layer2core")
    return out


# ---------------------------------------------------------------------- graph walk
@dataclass
class _Route:
    """A path from a source (the Input or an IF) through pools / flattens to ``end``."""

    source: str
    end: str
    chain: tuple[str, ...]
    pool: int
    scale: float            # product of 1/k^2 of the AvgPool2d nodes
    avg: bool
    shape: Shape3           # the source's map after pooling (before any flatten)


@dataclass
class _Block:
    """The input channels one weight node (at one AvgPool scale) contributes to a core."""

    node: str
    weight: np.ndarray      # [F, C, kh, kw] float64, scale applied
    stride: Optional[Pair]  # None: free (a Linear whose output is 1 x 1)
    padding: Pair           # NIR's 'before' padding per axis
    in_hw: Pair
    out_hw: Pair
    routes: list[_Route] = field(default_factory=list)
    offset: int = 0
    from_input: bool = False
    groups: int = 1


@dataclass
class _Layer:
    """One core before placement (quantized)."""

    name: str
    nodes: list[str]
    in_shape: Shape3
    out_shape: Shape3
    kernel: int
    stride: Pair
    padding: Pair
    weights: np.ndarray
    biases: np.ndarray
    threshold_high: int
    threshold_low: int
    return_to_zero: bool
    relay: bool = False
    info: dict = field(default_factory=dict)

    @property
    def leak(self) -> bool:
        return bool(np.any(self.biases != 0))

    def memory(self) -> dict[str, int]:
        f, h, w = self.out_shape
        return layer_memory(self.in_shape[0], f, self.kernel, h, w, bias=self.leak)


@dataclass
class _Link:
    """Events from ``source`` (a layer name or the Input) to layer ``target``."""

    source: str
    target: str
    pool: int
    shift: int


def _map3(shape: tuple[int, ...]) -> Shape3:
    """A node's output as a ``(C, H, W)`` map: 1-D ``(N,)`` is ``(N, 1, 1)``."""
    if len(shape) == 1:
        return int(shape[0]), 1, 1
    c, h, w = (int(x) for x in shape)
    return c, h, w


def _check_types(g: Graph, errs: ErrorCollector) -> None:
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


def _routes_from(g: Graph, src: str, errs: ErrorCollector, reported: set) -> list[_Route]:
    """Every path from ``src`` through pooling / flatten chains, breadth first (deterministic)."""
    out: list[_Route] = []
    shape0 = _map3(g.out_shape(src))
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
            out.append(_Route(src, n, chain, pool, scale, avg, shape))
        elif t == "IF":
            key = (src, n)
            if key not in reported:
                reported.add(key)
                errs.add(f"fed by '{src}' without a weight layer: every Speck core starts with a conv "
                         "(Conv2d, or Affine/Linear after Flatten)", n, "inputs")
    return out


# ---------------------------------------------------------------------- blocks and geometry
def _conv_block(g: Graph, w: str, routes: list[_Route], scale: float, errs: ErrorCollector) -> Optional[_Block]:
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
    return _Block(w, weight * scale, stride, (pads[0][0], pads[1][0]), (in_shape[1], in_shape[2]),
                  (out[1], out[2]), list(routes), groups=G)


def _linear_block(g: Graph, w: str, routes: list[_Route], scale: float, errs: ErrorCollector) -> Optional[_Block]:
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
    return _Block(w, weight.reshape(f, c, h, wd) * scale, None, (0, 0), (h, wd), (1, 1), list(routes))


def _axis_fits(blocks: list[_Block], axis: int, K: int, s: int, P: int) -> bool:
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


def _geometry(blocks: list[_Block], spec: SpeckSpec) -> Optional[tuple[int, Pair, Pair]]:
    """The smallest square kernel K, then stride and padding (per axis), realising every
    block exactly (module docstring), or None."""
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


def _describe(b: _Block, g: Graph) -> str:
    kh, kw = b.weight.shape[2:]
    if g.type(b.node) == "Conv2d":
        return f"'{b.node}' ({kh}x{kw} kernel, stride {list(b.stride)}, padding {list(b.padding)}, " \
               f"map {b.in_hw[0]}x{b.in_hw[1]} -> {b.out_hw[0]}x{b.out_hw[1]})"
    return f"'{b.node}' (Linear on a {b.in_hw[0]}x{b.in_hw[1]} map = a {kh}x{kw} kernel)"


# ---------------------------------------------------------------------- neuron parameters
def _per_channel(values: Any, shape: Shape3, node: str, fld: str, errs: ErrorCollector) -> Optional[np.ndarray]:
    """A per-neuron IF parameter as one value per output channel, or None (error added)
    when it varies inside a channel."""
    a = np.broadcast_to(np.asarray(values, dtype=np.float64), shape if len(shape) == 3 else shape[:1])
    f = a.shape[0]
    flat = a.reshape(f, -1)
    per = flat[:, 0]
    bad = np.flatnonzero(np.any(flat != per[:, None], axis=1))
    if bad.size:
        ch = int(bad[0])
        errs.add(f"{fld} varies inside output channel {ch} ({flat[ch].min():.6g}..{flat[ch].max():.6g}; "
                 f"{bad.size} channel(s) non-uniform): Speck has one value per layer, and only values "
                 "varying per output channel can be equalised exactly", node, fld)
        return None
    if not np.all(np.isfinite(per)):
        errs.add(f"{fld} must be finite", node, fld)
        return None
    return per


# ---------------------------------------------------------------------- lowering
class _Lowering:
    def __init__(self, graph: Graph, spec: SpeckSpec, options: Any) -> None:
        self.g = graph
        self.spec = spec
        self.options = options
        self.opt = _options(options)
        self.sem = options.semantics
        self.dt = float(self.sem.dt)
        self.diags: Diagnostics = options.diagnostics
        self.errs = ErrorCollector()
        self.quant = QuantizationReport()

    def info(self, code: str, message: str, node: Optional[str] = None, fld: Optional[str] = None) -> None:
        self.diags.info(code, message, node, fld, STAGE)

    def warn(self, code: str, message: str, node: Optional[str] = None, fld: Optional[str] = None) -> None:
        self.diags.warn(code, message, node, fld, STAGE)

    # -------------------------------------------------------------- structure
    def run(self) -> SpeckProgram:
        g, errs = self.g, self.errs
        _check_types(g, errs)
        errs.raise_if_any()
        self.input = g.inputs[0]
        order = g.schedule().order
        self.ifs = [n for n in order if g.type(n) == "IF"]
        self.reported: set = set()
        routes: list[_Route] = []
        for src in [self.input] + self.ifs:
            routes += _routes_from(g, src, errs, self.reported)
        self.routes_into: dict[str, list[_Route]] = {}
        for r in routes:
            self.routes_into.setdefault(r.end, []).append(r)
        for n in order:
            if g.type(n) in WEIGHT_TYPES:
                succ = g.successors(n)
                if len(succ) != 1 or g.type(succ[0]) != "IF":
                    errs.add(f"followed by {[f'{s} ({g.type(s)})' for s in succ] or 'nothing'}: a weight layer "
                             "must feed exactly one IF (Speck: conv -> integrate-and-fire in one core)", n, "outputs")
                if n not in self.routes_into:
                    errs.add("not fed by the Input or an IF (through SumPool2d / AvgPool2d / Flatten)", n, "inputs")
        layers: list[_Layer] = []
        links: list[_Link] = []
        for L in self.ifs:
            built = self._layer(L)
            if built is not None:
                lay, lk = built
                layers.append(lay)
                links += lk
        exits = self._exits()
        self._limits(layers)
        errs.raise_if_any()
        layers, links, input_pool = self._pooling(layers, links)
        self._limits([lay for lay in layers if lay.relay])
        self._check_fanout(links)
        errs.raise_if_any()
        cores, mapping = self._map(layers)
        return self._program(layers, links, exits, cores, mapping, input_pool)

    def _layer(self, L: str) -> Optional[tuple[_Layer, list[_Link]]]:
        g, errs = self.g, self.errs
        n0 = len(errs.errors)
        out3 = _map3(g.out_shape(L))
        F = out3[0]
        weights_in = g.predecessors(L)
        bad = [p for p in weights_in if g.type(p) not in WEIGHT_TYPES]
        if bad:
            if not any(isinstance(k, tuple) and k[1] == L for k in self.reported):  # else said by the walk
                errs.add(f"fed by {[f'{p} ({g.type(p)})' for p in bad]}: an IF is fed by weight layers only "
                         "(Conv2d, Affine, Linear)", L, "inputs")
            return None
        blocks: list[_Block] = []
        bias = np.zeros(F)
        has_bias = False
        for w in weights_in:
            op = g.op(w)
            if g.type(w) in ("Conv2d", "Affine"):
                b = np.asarray(op.bias, dtype=np.float64).reshape(-1)
                if np.any(b != 0):
                    bias = bias + b
                    has_bias = True
            rs = self.routes_into.get(w, [])
            by_scale: dict[float, list[_Route]] = {}
            for r in rs:
                by_scale.setdefault(r.scale, []).append(r)
            for scale, group in by_scale.items():
                make = _conv_block if g.type(w) == "Conv2d" else _linear_block
                blk = make(g, w, group, scale, errs)
                if blk is None:
                    continue
                blk.from_input = any(r.source == self.input for r in group)
                blocks.append(blk)
        if not blocks:
            return None
        if len({b.in_hw for b in blocks}) > 1:
            errs.add("merges maps of different sizes " + ", ".join(_describe(b, g) for b in blocks) +
                     ": one Speck core reads one input map", L, "inputs")
            return None
        for b in blocks:
            if g.type(b.node) == "Conv2d" and b.stride is not None:
                for axis, s in zip("yx", b.stride):
                    if s not in self.spec.strides:
                        errs.add(f"stride {axis} = {s} not in {list(self.spec.strides)}", b.node, "stride")
                for axis, p in zip("yx", b.padding):
                    if p > self.spec.max_padding:
                        errs.add(f"padding {axis} = {p} exceeds {self.spec.max_padding}", b.node, "padding")
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
        geo = _geometry(blocks, self.spec)
        if geo is None:
            kmax = max(max(b.weight.shape[2:]) for b in blocks)
            why = (f"a {kmax}-wide kernel exceeds {self.spec.max_kernel}" if kmax > self.spec.max_kernel else
                   f"no square kernel <= {self.spec.max_kernel}, stride in {list(self.spec.strides)} and padding "
                   f"<= {self.spec.max_padding} reproduces it")
            lin = any(g.type(b.node) != "Conv2d" for b in blocks)
            hint = ("; a Linear/Affine after Flatten becomes a conv whose kernel covers the map: it needs a square "
                    f"map of at most {self.spec.max_kernel}x{self.spec.max_kernel}") if lin else \
                   "; Speck kernels are square"
            errs.add(f"{'; '.join(_describe(b, g) for b in blocks)}: {why}{hint}", L, "kernel")
            return None
        K, stride, pad = geo
        C = off
        H, W = blocks[0].in_hw
        wc = np.zeros((F, C, K, K))
        for b in blocks:
            f, c, kh, kw = b.weight.shape
            if f != F:
                errs.add(f"{f} output features, the IF has {F}", b.node, "weight")
                return None
            dy, dx = pad[0] - b.padding[0], pad[1] - b.padding[1]
            wc[:, b.offset:b.offset + c, dy:dy + kh, dx:dx + kw] = b.weight
            if g.type(b.node) == "Conv2d" and (kh, kw, dy, dx) != (K, K, 0, 0):
                self.info("kernel-embedded", f"{kh}x{kw} kernel (stride {list(b.stride)}, padding "
                          f"{list(b.padding)}) realised as a {K}x{K} kernel at offset ({dy}, {dx}), stride "
                          f"{list(stride)}, padding {list(pad)} (exact)", b.node, "weight")
            if b.groups > 1:
                self.info("groups-expanded", f"groups = {b.groups} expanded to a dense kernel with zeros (exact; "
                          "the zeros cost kernel memory)", b.node, "groups")
        return self._neurons(L, blocks, wc, bias if has_bias else None, (C, H, W), out3, K, stride, pad)

    def _neurons(self, L: str, blocks: list[_Block], wc: np.ndarray, bias: Optional[np.ndarray], in3: Shape3,
                 out3: Shape3, K: int, stride: Pair, pad: Pair) -> Optional[tuple[_Layer, list[_Link]]]:
        g, errs, spec = self.g, self.errs, self.spec
        op = g.op(L)
        F = out3[0]
        shape = tuple(g.out_shape(L))
        theta = _per_channel(op.v_threshold, shape, L, "v_threshold", errs)
        r = _per_channel(op.r, shape, L, "r", errs)
        if theta is None or r is None:
            return None
        if np.any(theta <= 0):
            errs.add(f"v_threshold {float(theta.min()):g} <= 0: Speck thresholds are positive", L, "v_threshold")
            return None
        if self.sem.reset == "zero" and op.v_reset is not None:
            vr = np.asarray(op.v_reset, dtype=np.float64)
            if np.any(vr != 0):
                errs.add(f"v_reset {float(vr[vr != 0].reshape(-1)[0]):g} with reset 'zero': Speck returns to 0 "
                         "(return_to_zero) or subtracts the threshold (--reset subtract)", L, "v_reset")
                return None
        theta0 = float(theta.max())
        gain = self.dt * r * (theta0 / theta)
        if np.any(theta != theta0):
            self.info("threshold-per-channel", f"v_threshold varies per output channel ({theta.min():.6g}.."
                      f"{theta0:.6g}): realised as one threshold {theta0:.6g} with channel f's weights and bias "
                      "scaled by theta0/theta_f (exact before quantization)", L, "v_threshold")
        if np.any(self.dt * r != 1.0) or np.any(r != 1.0):
            u = np.unique(self.dt * r)
            txt = f"{u[0]:.6g}" if u.size == 1 else f"{u.min():.6g}..{u.max():.6g}"
            self.info("if-gain-folded", f"input gain dt*r = {txt} (dt = {self.dt:g} s, r = "
                      f"{', '.join(f'{x:g}' for x in np.unique(r)[:4])}) folded into the weights: NIR's IF "
                      "integrates v += dt*r*x per step, Speck adds the weight", L, "r")
        w_eff = wc * gain[:, None, None, None]
        b_eff = None if bias is None else bias * gain
        if b_eff is not None and np.any(b_eff > 0):
            f = int(np.argmax(b_eff))
            errs.add(f"positive bias {b_eff[f]:.6g} (channel {f}, after the gain dt*r): Speck adds the bias as "
                     "a leak once per slow-clock tick and a leak never fires a neuron, so v would grow without "
                     "bound; only biases <= 0 are supported", L, "bias")
            return None
        strict = self.sem.threshold == ">"
        lo_min = spec.safe_threshold_low_min
        tensors = [Tensor("weight", w_eff, NumberFormat(spec.weight_bits), node=L, field="weight")]
        if b_eff is not None:
            bits = int(self.opt["bias_bits"])      # int16 without -32768: threshold_low = -32768 - min(bias) <= -1
            tensors.append(Tensor("bias", b_eff, NumberFormat(bits, lo=-(2 ** (bits - 1)) + (bits == 16)), node=L,
                                  field="bias"))
        tensors.append(Tensor("threshold", np.array([theta0]),
                              NumberFormat(spec.threshold_bits, lo=1, hi=spec.safe_threshold_high_max - int(strict)),
                              node=L, field="v_threshold"))
        res = self.quant.add(quantize_group(tensors, name=L, node=L))
        wq = res["weight"].q.astype(np.int64)
        bq = res["bias"].q.astype(np.int64) if b_eff is not None else np.zeros(F, np.int64)
        tq = int(res["threshold"].q[0])
        th = tq + 1 if strict else tq
        if strict and self.sem.reset == "subtract":
            self.warn("threshold-strict-subtract", f"NIR fires on v > {theta0:.6g} and subtracts it; on integers "
                      f"v > {tq} is v >= {th}, but the chip then subtracts {th}, one LSB more than the reference "
                      "per spike (no exact integer form; threshold '>=' maps exactly)", L, "v_threshold")
        elif strict:
            self.info("threshold-strict", f"NIR fires on v > {theta0:.6g}; Speck on v >= threshold_high: "
                      f"threshold_high = {tq} + 1 = {th} (v > {tq} <=> v >= {th} on integers)", L, "v_threshold")
        floor = self.opt["threshold_low"]
        if floor == "semantics":      # sinabs' min_v_mem = -v_threshold (semantics v_min) or none
            floor = "-threshold" if self.sem.v_min == "-threshold" else "min"
        tl = -tq if floor == "-threshold" else lo_min
        bmin = int(bq.min()) if bq.size else 0
        if tl + bmin < spec.state_range[0]:
            tl = spec.state_range[0] - bmin
        lay = _Layer(L, [b.node for b in blocks] + [L], in3, out3, K, stride, pad, wq, bq, th, tl,
                     self.sem.reset == "zero")
        lay.info = {"threshold": theta0, "gain": float(res.gain), "input_gain": brief(self.dt * r),
                    "threshold_scale": brief(theta0 / theta), "limited_by": list(res.limited_by),
                    "inputs": [{"source": rt.source, "via": list(rt.chain), "weights": b.node, "pooling": rt.pool,
                                "feature_shift": b.offset} for b in blocks for rt in b.routes]}
        links = [_Link(rt.source, L, rt.pool, b.offset) for b in blocks for rt in b.routes]
        return lay, links

    def _exits(self) -> list[tuple[str, str, int, tuple]]:
        """(output name, source IF, host pooling, output shape) per Output node."""
        g, errs = self.g, self.errs
        out = []
        for o in g.outputs:
            rs = self.routes_into.get(o, [])
            if len(rs) != 1 or g.type(rs[0].source) != "IF":
                src = [r.source for r in rs] or g.predecessors(o)
                errs.add(f"fed by {src}: a Speck output is the spikes of one IF (optionally through SumPool2d and "
                         "Flatten)", o, "inputs")
                continue
            r = rs[0]
            if r.avg:
                errs.add("AvgPool2d before an Output: the chip reports spike counts (use SumPool2d)", o, "inputs")
            elif r.pool not in self.spec.poolings:
                errs.add(f"sum pooling {r.pool} before the Output: host-side pooling of monitored spikes takes "
                         f"{list(self.spec.poolings)}", o, "inputs")
            out.append((o, r.source, r.pool, tuple(g.out_shape(o))))
        return out

    # -------------------------------------------------------------- pooling and relays
    def _pooling(self, layers: list[_Layer], links: list[_Link]) -> tuple[list[_Layer], list[_Link], int]:
        """Pools the destinations (or the DVS layer) cannot do go through relay cores."""
        self.dvs = self._use_dvs()
        spec, errs = self.spec, self.errs
        by_name = {lay.name: lay for lay in layers}
        in_links = [lk for lk in links if lk.source == self.input]
        input_pool = 1
        if self.dvs and in_links:
            wants = [max(d for d in spec.dvs.poolings if lk.pool % d == 0) for lk in in_links]
            input_pool = min(wants)
        out_links: list[_Link] = []
        relays: dict[str, _Layer] = {}
        for lk in links:
            options = (input_pool,) if lk.source == self.input else spec.poolings
            if lk.pool in options:
                out_links.append(lk)
                continue
            d = next((d for d in sorted(options, reverse=True)
                      if lk.pool % d == 0 and lk.pool // d in spec.strides and lk.pool // d <= spec.max_kernel
                      and lk.pool // d > 1), None)
            if d is None:
                where = "the input layer" if lk.source == self.input else f"'{lk.source}'"
                errs.add(f"sum pooling {lk.pool} from {where}: Speck pools {list(options)} there, and a relay core "
                         f"adds a factor in {[s for s in spec.strides if s > 1]}", lk.target, "pooling")
                continue
            rly = self._relay(lk, d, by_name, relays)
            relays[rly.name] = rly
            out_links.append(_Link(lk.source, rly.name, d, 0))
            out_links.append(_Link(rly.name, lk.target, 1, lk.shift))
            self.info("pool-relay", f"sum pooling {lk.pool} from '{lk.source}' = pooling {d} into relay core "
                      f"'{rly.name}' (identity {lk.pool // d}x{lk.pool // d} kernel, stride {lk.pool // d}, "
                      "threshold 1: one spike per event), exact", lk.target, "pooling")
        ordered: list[_Layer] = []
        for lay in layers:
            ordered.append(lay)
            ordered += [r for r in relays.values() if r.info["source"] == lay.name]
        ordered = [r for r in relays.values() if r.info["source"] == self.input] + ordered
        return ordered, out_links, input_pool

    def _relay(self, lk: _Link, d: int, by_name: dict[str, _Layer], taken: dict) -> _Layer:
        r = lk.pool // d
        if lk.source == self.input:
            c, h, w = _map3(self.g.out_shape(self.input))
        else:
            c, h, w = by_name[lk.source].out_shape
        h, w = h // d, w // d
        weights = np.zeros((c, c, r, r), np.int64)
        weights[np.arange(c), np.arange(c)] = 1
        name = base = f"{lk.source}->{lk.target}.pool{lk.pool}"
        i = 1
        while name in taken:                 # two routes with the same ends and pooling
            i += 1
            name = f"{base}#{i}"
        lay = _Layer(name, [], (c, h, w), (c, h // r, w // r), r, (r, r), (0, 0), weights, np.zeros(c, np.int64),
                     1, -1, False, relay=True)
        lay.info = {"source": lk.source, "target": lk.target, "pool": lk.pool}
        return lay

    def _use_dvs(self) -> bool:
        c, h, w = _map3(self.g.out_shape(self.input))
        ok = len(self.g.out_shape(self.input)) == 3 and c == self.spec.dvs.polarities and \
            max(h, w) <= self.spec.dvs.max_size
        want = self.opt["dvs"]
        if want is True and not ok:
            self.errs.add(f"dvs=true needs a [{self.spec.dvs.polarities}, H, W] input with H, W <= "
                          f"{self.spec.dvs.max_size}, got {list(self.g.out_shape(self.input))}", self.input, "dvs")
            return False
        use = ok and want is not False
        if self.opt["dvs_sensor"] and not use:
            self.errs.add("dvs_sensor=true needs the DVS layer (a 2-channel input, dvs not false)", self.input,
                          "dvs_sensor")
        if self.opt["dvs_sensor"] and not self.spec.dvs.sensor:
            self.errs.add(f"{self.spec.name} has no DVS sensor on the die", self.input, "dvs_sensor")
        return use

    def _limits(self, layers: list[_Layer]) -> None:
        """Map sizes and feature counts of every core (before mapping, so that they are
        reported rather than a memory failure they cause)."""
        spec = self.spec
        for lay in layers:
            c, h, w = lay.in_shape
            f, ho, wo = lay.out_shape
            for what, size in (("input map height", h), ("input map width", w)):
                if size > spec.max_input_size:
                    self.errs.add(f"{what} {size} exceeds {spec.max_input_size}", lay.name, "input_shape")
            for what, size in (("input features", c), ("output features", f)):
                if size > spec.max_features:
                    self.errs.add(f"{size} {what} exceed {spec.max_features}", lay.name,
                                  "input_shape" if what.startswith("input") else "output_shape")
            for what, size in (("height", ho), ("width", wo)):
                if size > spec.max_output_size:
                    self.errs.add(f"neuron map {what} {size} exceeds {spec.max_output_size} (the conv output before "
                                  "pooling)", lay.name, "output_shape")

    def _check_fanout(self, links: list[_Link]) -> None:
        per: dict[str, list[_Link]] = {}
        for lk in links:
            per.setdefault(lk.source, []).append(lk)
        for src, lks in per.items():
            n = self.spec.dvs.n_destinations if src == self.input else self.spec.n_destinations
            if len(lks) > n:
                what = "the input layer" if src == self.input else "a core"
                self.errs.add(f"feeds {len(lks)} routes ({', '.join(f'{lk.target} pool {lk.pool}' for lk in lks)}): "
                              f"{what} has {n} destinations", src, "destinations")

    # -------------------------------------------------------------- mapping
    def _map(self, layers: list[_Layer]):
        spec = self.spec
        names = [lay.name for lay in layers]
        pins = _layer2core(self.opt["layer2core"], names, spec, self.errs)
        cores = [Core(str(i), {"kernel": spec.kernel_memory[i], "neuron": spec.neuron_memory[i],
                               "bias": spec.bias_memory[i]}, kind=f"core{i}") for i in range(spec.n_cores)]
        pops = []
        for lay in layers:
            mem = lay.memory()
            if lay.name in pins:
                c = pins[lay.name]
                if not spec.fits(c, mem):
                    cap = spec.capacity(c)
                    self.errs.add(f"pinned to core {c}, but needs {_mem(mem)}; core {c} offers {_mem(cap)}",
                                  lay.name, "layer2core")
                pops.append(MapItem(lay.name, _pinned(mem, str(c))))
            else:
                pops.append(MapItem(lay.name, mem))
        self.errs.raise_if_any()
        try:
            mapping = map_resources(pops, cores, exclusive=True, noun="layer")
        except NirccError as e:
            raise self._map_error(e, layers, pins) from None
        return {p.population: int(p.core) for p in mapping.placements}, mapping

    def _map_error(self, e: NirccError, layers: list[_Layer], pins: dict[str, int]) -> NirccErrors:
        spec = self.spec
        errs = list(e.errors)
        for lay in layers:
            mem = lay.memory()
            fit = spec.cores_that_fit(mem)
            pin = f" (pinned to core {pins[lay.name]})" if lay.name in pins else ""
            errs.append(NirccError(f"needs {_mem(mem)} words; fits cores {fit if fit else 'none'}{pin}",
                                   lay.name, "memory"))
        caps = "; ".join(f"{i}: {_mem(spec.capacity(i))}" for i in range(spec.n_cores))
        errs.append(NirccError(f"core capacities (words): {caps}", None, "cores"))
        return NirccErrors(errs)

    # -------------------------------------------------------------- program
    def _program(self, layers, links, exits, cores, mapping, input_pool) -> SpeckProgram:
        spec, g = self.spec, self.g
        by_src: dict[str, list[_Link]] = {}
        for lk in links:
            by_src.setdefault(lk.source, []).append(lk)
        monitored = {src for _, src, _, _ in exits}
        cnn = []
        for lay in layers:
            dests = [Destination(cores[lk.target], lk.pool, lk.shift) for lk in by_src.get(lay.name, [])]
            cnn.append(CnnLayer(lay.name, cores[lay.name], lay.in_shape, lay.out_shape, lay.kernel, lay.weights,
                                lay.threshold_high, lay.threshold_low, lay.stride, lay.padding, biases=lay.biases,
                                return_to_zero=lay.return_to_zero, leak_enable=lay.leak, destinations=dests,
                                monitor=lay.name in monitored))
        in_shape = _map3(g.out_shape(self.input))
        in_dests = [cores[lk.target] for lk in by_src.get(self.input, [])]
        inp = SpeckInput(in_shape, in_dests, dvs=self.dvs, pooling=(input_pool, input_pool) if self.dvs else (1, 1))
        ex = [Exit(o, cores[src], pool) for o, src, pool, _ in exits]
        # the input events reshaped to the input layer's [C, H, W]; each Output is an exit of
        # its name (the monitored spikes of one layer); the event model has no per-layer delay
        io = IOMap((Port(self.input, g.out_shape(self.input), "input"),),
                   tuple(Port(o, shape, o) for o, _, _, shape in exits), layout="tensor", tensor=in_shape)
        meta = {
            "io": io.to_dict(),
            "layers": {lay.name: lay.nodes for lay in layers},
            "exits": {o: src for o, src, _, _ in exits},
            "emulator": {k: self.opt[k] for k in ("mode", "order", "overflow")} |
                        {"spike": self.sem.spike if self.opt["spike"] == "semantics" else self.opt["spike"]},
            "dvs_sensor": bool(self.opt["dvs_sensor"]),
            "semantics": self.sem.to_dict(),
        }
        prog = SpeckProgram(inp, cnn, ex, variant=spec.name, dt=self.dt, meta=meta)
        self._risks(prog, {lay.name: lay for lay in layers})
        self.diags.extend(self.quant.diagnostics(STAGE))
        self.info("event-driven", f"semantics spike={self.sem.spike!r} is not realised: Speck has no time steps; "
                  "a neuron fires at most once per input event and may fire several times per time bin "
                  "(depth-first event processing)", None, "spike")
        prog.validate(spec)
        prog.report = self._report(prog, layers, mapping)
        return prog

    def _risks(self, prog: SpeckProgram, lays: dict[str, _Layer]) -> None:
        """``overflow_risks``: weights >= threshold warn (the emulator checks int16 at run
        time); anything else would be a lowering bug or a user error."""
        for risk in prog.overflow_risks(self.spec):
            if lays[risk.node].relay:
                continue
            if risk.field == "weights":
                lay = prog.layers[[x.name for x in prog.layers].index(risk.node)]
                self.warn("weight-above-threshold", f"max weight {int(lay.weights.max())} >= threshold_high "
                          f"{lay.threshold_high}: one input event can carry a neuron past threshold more than once, "
                          "but the chip emits one spike per event (fewer spikes than a time-binned simulation); "
                          "with reset 'subtract' the residue can grow (the emulator checks int16)",
                          risk.node, "weight")
            else:
                self.errs.extend(risk)
        self.errs.raise_if_any()

    def _report(self, prog: SpeckProgram, layers: list[_Layer], mapping) -> dict:
        spec = self.spec
        res = mapping.to_dict()
        per = {}
        for lay, cl in zip(layers, prog.layers):
            per[lay.name] = {"core": cl.core, "nir_nodes": lay.nodes, "relay": lay.relay,
                             "input_shape": list(cl.input_shape), "output_shape": list(cl.output_shape),
                             "kernel": cl.kernel, "stride": list(cl.stride), "padding": list(cl.padding),
                             "threshold_high": cl.threshold_high, "threshold_low": cl.threshold_low,
                             "return_to_zero": cl.return_to_zero, "leak_enable": cl.leak_enable,
                             "memory": cl.memory(), "capacity": spec.capacity(cl.core),
                             "destinations": [d.to_dict() for d in cl.destinations], "monitor": cl.monitor,
                             **lay.info}
        resources = {
            "cores_used": res["cores_used"], "cores_available": spec.n_cores, "lower_bound": res["lower_bound"],
            "optimal": res["optimal"], "method": res["method"],
            "layer2core": {cl.name: cl.core for cl in prog.layers},
            "utilization": res["utilization"], "input": "dvs" if prog.input.dvs else "cnn",
            "relays": sum(1 for lay in layers if lay.relay),
            "synapses": int(sum(cl.weights.size for cl in prog.layers)),
            "neurons": int(sum(int(np.prod(cl.output_shape)) for cl in prog.layers)),
            "layers": per,
        }
        return {"resources": resources, "quantization": self.quant.to_dict()}


def _mem(m: dict) -> str:
    return f"kernel {format_amount(m['kernel'])}, neuron {format_amount(m['neuron'])}, bias {format_amount(m['bias'])}"


def _pinned(mem: dict, core: str):
    """A cost model that fits only ``core`` (a resource no core has, elsewhere)."""
    def cost(k: int, c: Core) -> dict:
        return dict(mem) if c.name == core else {**mem, "pinned elsewhere": 1}
    return cost


def lower(graph: Graph, spec: SpeckSpec, options: Any) -> SpeckProgram:
    """Graph (after ``infer_shapes``, ``canonicalize``, ``fuse_affine``) -> SpeckProgram;
    every construct the chip cannot express is a NirccError (all at once); approximations
    and exact rewrites are Diagnostics in ``options.diagnostics`` (stage ``"speck"``)."""
    if options.semantics.dt is None:
        raise NirccError("dt is not resolved", field="dt")
    return _Lowering(graph, spec, options).run()


__all__ = ["lower", "OPTIONS", "STAGE"]
