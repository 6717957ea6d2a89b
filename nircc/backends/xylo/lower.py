"""Lowering: a graph (after infer_shapes, canonicalize, fuse_affine) -> :class:`XyloProgram`.

Xylo has one input layer (16 channels), one recurrent block of hidden neurons and one
readout layer.  The graphs users export for it read::

    Input -> W -> hidden_1 [<- W_rec] -> W -> hidden_2 ... -> W -> readout -> Output

with ``W`` = Affine, Linear, Scale or nothing (identity), hidden = CubaLIF, LIF or IF and
readout = CubaLIF, LIF, IF (spikes) or CubaLI, LI (membrane read-out).  Steps, each
collecting every problem before raising (errors name node, quantity and limit;
approximations are diagnostics with stage ``xylo``):

1. options and node types; the semantics the chip realises (``>=`` threshold, up to 31
   spikes per step for hidden and 1 for readout neurons, reset by subtraction in the
   spike's step) against the compile's (one ``semantics`` warning listing differences);
2. routes between populations (:class:`nircc.backends.toolkit.paths.PathWalker`); the readout
   neurons are those Output nodes read; every other neuron is hidden;
3. lags: input -> hidden synapses act in the same step, hidden -> hidden and hidden ->
   readout one step late.  Hidden population ``h`` runs ``L_h`` steps behind the
   reference: ``L = 0`` for the populations the input feeds, ``L_v = L_u + 1`` along a
   forward route ``u -> v`` and ``L_v = L_u`` along a route through a back edge (the
   reference's one-step recurrence is the chip's one-step synapse).  Routes that ask for
   different lags (skip connections, loops across layers) are an error;
4. hidden ids: populations the input feeds first (IEN, the first ``input_expansion``
   ids), those that feed the readout last (OEN, the last ``output_expansion`` ids);
5. neuron parameters (``a, b`` = :func:`nircc.semantics.decay` of the node's time
   constants; ``alpha_s = 1 - 2**-dash_syn`` the chip's synaptic decay; ``beta`` the summed
   bias of the node's input weights)::

       node          dash_syn             dash_mem        input gain k                     V bias per step
       CubaLIF/LI    D(tau_syn), >= 1     D(tau_mem)      b_m r b_s w_in / alpha_s         b_m r w_in beta
       LIF, LI       1 (no synapse)       D(tau)          b r (1 - alpha_s) / alpha_s      b r beta
       IF            1 (no synapse)       15 (no leak)    dt r (1 - alpha_s) / alpha_s     dt r beta

   ``D`` is :func:`nircc.backends.toolkit.quantize.bitshift_decay` (``round(log2(tau/dt))`` for euler,
   ``round(-log2(1 - exp(-dt/tau)))`` for exact, half-even, 0..15).  The chip applies
   ``I = alpha_s (I + W x)`` before ``V`` reads ``I``, hence the ``1 / alpha_s`` in ``k``;
   a neuron without synaptic state gets ``dash_syn = 1`` and the gain that keeps the
   total charge of a spike (warning ``no-synapse``);
6. quantization (:func:`nircc.backends.toolkit.quantize.quantize_group`): one scale group for the hidden
   block (input and recurrent weights ``W k``, thresholds, biases) and one for the
   readout, with one gain per post-neuron (``quantization=channel``, default) or per
   block (``global``, rockpool's ``global_quantize``).  Weights are int8 mantissas with
   a per-matrix shift 0..8 (``weight_shift_in/rec/out``: the effective weight
   ``w << shift`` stays inside int16), thresholds int16 in ``[1, threshold_max]``, or
   :data:`SINGLE_THRESHOLD` for every hidden neuron of a one-spike-per-step model (option
   ``single_spike``: ``V`` saturates below two thresholds, so one spike per step) (one
   that rounds to 0 is raised to 1: ``threshold-raised``), biases
   the chip's int8.  The chip's ``V`` is the reference's ``v`` times the gain.  A
   membrane read-out (LI, CubaLI) has no threshold to bound its gain: ``V`` must hold
   ``readout_headroom`` (default 64) of its largest weight inside ``127 << 8``, so its
   largest weight is ``127 << (8 - log2(headroom))`` (threshold 32767: it never fires
   unless ``V`` saturates).  ``program.report["quantization"]`` holds the two groups, every decay, and ``layers``:
   per NIR population its gain, shifts, requested and realised time constants,
   thresholds and, per incoming matrix, the weight error in the population's ``v`` units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ...errors import Diagnostics, ErrorCollector, NirccError
from ...ir import Graph
from ...ir.graph import NEURON_TYPES
from ..toolkit.quantize import (DecayResult, brief, NumberFormat, QuantizationReport, Tensor, bitshift_decay,
                                quantize_group)
from ...semantics import Semantics, decay
from ..io import IOMap, Port, state_key
from ...passes.legalize import BIAS_SOURCE_OPTION
from ..options import Option, option_table
from ..toolkit.paths import F64, PathWalker, Route, output_populations, size_of, warn_bias_lead
from .program import XyloProgram
from ..capabilities import check_node_types
from .spec import CAPABILITIES, XyloSpec

STAGE = "xylo"
HIDDEN_TYPES = ("CubaLIF", "LIF", "IF")
READOUT_TYPES = ("CubaLIF", "LIF", "IF", "CubaLI", "LI")
SPIKING = ("CubaLIF", "LIF", "IF")
CUBA = ("CubaLIF", "CubaLI")
I16_MAX = 32767
#: the V range a membrane read-out keeps free for ``readout_headroom`` of its largest weight:
#: 127 << 8, so that a power-of-two headroom 2**p gives that weight the full mantissa 127 << (8 - p)
V_RANGE = 127 << 8
#: the hidden threshold of a single-spike model: V saturates at 32767 < 2 * 16384, so the
#: chip's ``while V >= threshold`` loop stops after one spike (docs/targets/xylo.md)
SINGLE_THRESHOLD = 1 << 14
#: the decay shift of a neuron without synaptic state (its input spreads over 1/2, 1/4, ...)
NO_SYNAPSE_DASH = 1

#: Target options (``--option key=value``), documented in docs/targets/xylo.md.
OPTIONS = option_table([
    Option("quantization", "channel", "one gain per post-neuron (channel) or one per block (global)", "choice",
           ("channel", "global")),
    Option("threshold_max", 4095, "largest threshold integer (headroom for V and I below int16)", "int",
           lo=1, hi=I16_MAX),
    Option("tau_tolerance", 0.05, "relative time-constant error above which tau-approximated warns", "number",
           lo=0),
    Option("readout_headroom", 64, "largest weights a membrane read-out's V holds before int16 saturates", "int",
           lo=1, hi=V_RANGE),
    Option("single_spike", False, "a model with one spike per step keeps it: hidden thresholds SINGLE_THRESHOLD, "
           "so V (int16) never holds two (false, default: thresholds up to threshold_max, up to 31 spikes per step)",
           "bool"),
    BIAS_SOURCE_OPTION,
])


class _Walker(PathWalker):
    STAGE = STAGE
    CHIP = "Xylo"
    UNIT = "neuron population"
    SYNAPSE = "a Xylo synapse"
    ONE_WEIGHT = "a Xylo synapse is one weight matrix"
    BIAS_FROM_START = "Xylo adds a neuron's bias to V from step 0"


# ---------------------------------------------------------------------- options and semantics




# ---------------------------------------------------------------------- structure
@dataclass
class XyloNetwork:
    """Populations, their synaptic matrices (float64, NIR units before the input gain) and lags."""

    inputs: list[str]
    hidden: list[str]                          # in chip id order
    readout: list[str]                         # in chip id order
    outputs: dict[str, str]                    # Output node -> readout population
    lag: dict[str, int]                        # hidden and readout populations
    matrices: dict[tuple[str, str], np.ndarray]   # (pre, post) -> [n_post, n_pre]
    bias: dict[str, np.ndarray]                # post -> beta [n_post], NIR input units


def _route_matrix(g: Graph, w: _Walker, r: Route, parts: tuple, errs: ErrorCollector) -> Optional[np.ndarray]:
    """The [n_post, n_pre] matrix of a route (identity, Scale or Affine/Linear), given its
    :meth:`~nircc.backends.toolkit.paths.PathWalker.split` ``parts``."""
    before, pool, weight, after = parts
    if pool is not None:
        errs.add(f"{g.type(pool)} on the path {r.pre!r} -> {r.post!r}: Xylo has no pooling", pool, code="path")
        return None
    delays = [m for m in before + after if g.type(m) == "Delay"]
    for m in delays:
        d = w.delay_of(m)
        if d is not None and np.any(d):
            errs.add(f"a delay of up to {int(d.max())} step(s) on the path {r.pre!r} -> {r.post!r}: Xylo has no "
                     "synaptic delays", m, "delay", code="delay")
            return None
    n_pre, n_post = size_of(g, r.pre), size_of(g, r.post)
    if weight is None:
        if n_pre != n_post:
            errs.add(f"an identity path from {n_pre} to {n_post} neurons", r.post, code="path")
            return None
        return np.eye(n_post)
    if g.type(weight) == "Scale":
        return np.diag(np.broadcast_to(np.asarray(g.op(weight).scale, F64), g.in_shape(weight)).reshape(-1))
    m = np.asarray(g.op(weight).weight, F64)
    if m.ndim != 2 or m.shape != (n_post, n_pre):
        errs.add(f"weight of shape {list(m.shape)} between {n_pre} and {n_post} neurons: a Xylo synapse is one "
                 "[out, in] matrix", weight, "weight", code="weight-shape")
        return None
    return m


def extract(g: Graph, spec: XyloSpec, errs: ErrorCollector, diags: Diagnostics, dt: float) -> Optional[XyloNetwork]:
    """Step 2-4 of the module docstring; None after errors (in ``errs``)."""
    walker = _Walker(g, dt, errs, diags)
    neurons = [n for n in g.schedule().order if g.type(n) in NEURON_TYPES]
    outputs = output_populations(g, errs, "a Xylo output is one population of readout neurons (their spikes, "
                                 "or V of an LI/CubaLI)")
    readout = list(dict.fromkeys(v for v in neurons if v in outputs.values()))
    hidden = [v for v in neurons if v not in readout]
    for v in hidden:
        if g.type(v) not in HIDDEN_TYPES:
            errs.add(f"{g.type(v)} as a hidden neuron emits no spikes: Xylo's hidden neurons talk by spike events "
                     f"(use {', '.join(HIDDEN_TYPES)}, or read it out through an Output)", v, "type", code="type")
    for v in readout:
        if g.type(v) not in READOUT_TYPES:
            errs.add(f"{g.type(v)} has no Xylo readout neuron (use {', '.join(READOUT_TYPES)})", v, "type",
                     code="type")
    matrices: dict[tuple[str, str], np.ndarray] = {}
    bias = {v: np.zeros(size_of(g, v), F64) for v in neurons}
    forward: list[tuple[str, str, int]] = []
    for v in neurons:
        for r in walker.routes(v):
            if r.pre is None:
                errs.add(f"a path into '{v}' starts at '{r.nodes[0]}', which has no input", r.nodes[0],
                         code="structure")
                continue
            if r.pre in readout:
                errs.add(f"readout neuron '{r.pre}' feeds '{v}': Xylo's readout neurons have no outgoing synapses "
                         f"(read '{r.pre}' out, or make it a hidden layer)", r.pre, "edges", code="structure")
                continue
            if g.type(r.pre) == "Input":
                if v in readout:
                    errs.add(f"Input '{r.pre}' feeds readout '{v}' directly: Xylo's input reaches only hidden "
                             "neurons (add a hidden layer)", v, "edges", code="structure")
                    continue
                if r.back:
                    errs.add(f"a recurrent path from Input '{r.pre}' into '{v}'", v, code="structure")
                    continue
            parts = walker.split(r)
            m = None if parts is None else _route_matrix(g, walker, r, parts, errs)
            if m is None:
                continue
            b = walker.bias_of(parts[2], parts[3], v)
            if b is not None:
                bias[v] += b
            key = (r.pre, v)
            matrices[key] = matrices[key] + m if key in matrices else m
            forward.append((r.pre, v, r.back))
    if errs:
        return None
    lag = _lags(g, hidden, readout, forward, errs)
    if lag is None:
        return None
    inputs = list(g.inputs)
    fed = {v for u, v, _ in forward if u in inputs}
    feeds_out = {u for u, v, _ in forward if v in readout}
    hidden.sort(key=lambda v: 0 if v in fed else (2 if v in feeds_out else 1))
    _check_windows(g, spec, hidden, readout, fed, feeds_out, errs)
    return XyloNetwork(inputs, hidden, readout, outputs, lag, matrices, bias)


def _lags(g: Graph, hidden: list[str], readout: list[str], forward: list[tuple[str, str, int]],
          errs: ErrorCollector) -> Optional[dict[str, int]]:
    """Step 3: the lag of every neuron population, or None after errors."""
    inputs = set(g.inputs)
    lag: dict[str, int] = {}
    why: dict[str, str] = {}
    for u, v, _ in forward:
        if u in inputs:
            lag[v] = 0
            why[v] = f"Input '{u}' feeds it in the same step"
    changed = True
    while changed:
        changed = False
        for u, v, back in forward:
            if u in inputs or u not in lag:
                continue
            want = lag[u] + 1 - back
            if v not in lag:
                lag[v], why[v] = want, f"'{u}' (lag {lag[u]}) feeds it through a one-step synapse" + \
                    (" closing a loop" if back else "")
                changed = True
            elif lag[v] != want:
                errs.add(f"the path from '{u}' reaches '{v}' {want} step(s) behind the reference, but {why[v]} "
                         f"(lag {lag[v]}): Xylo's hidden->hidden and hidden->readout synapses deliver one step late, "
                         "so every path from the input must cross the same number of hidden layers (no skip "
                         "connections) and a loop may only close within one layer", v, code="lag")
                return None
    for v in hidden + readout:
        if v not in lag:
            errs.add("no path from an Input reaches this neuron population", v, code="structure")
        elif lag[v] < 0:
            errs.add(f"a loop makes '{v}' run {lag[v]} steps ahead of its input", v, code="lag")
    return None if errs else lag


def _check_windows(g: Graph, spec: XyloSpec, hidden: list[str], readout: list[str], fed: set, feeds_out: set,
                   errs: ErrorCollector) -> None:
    """Counts against the variant's limits; IEN/OEN windows of the hidden ids."""
    n_in = sum(size_of(g, i) for i in g.inputs)
    if n_in > spec.n_input:
        errs.add(f"{n_in} input channels exceed Xylo {spec.name}'s {spec.n_input}", g.inputs[0], "shape",
                 code="limit")
    n_out = sum(size_of(g, v) for v in readout)
    if n_out > spec.n_readout:
        errs.add(f"{n_out} readout neurons ({', '.join(f'{v}: {size_of(g, v)}' for v in readout)}) exceed Xylo "
                 f"{spec.name}'s {spec.n_readout}", readout[0], "neurons", code="limit")
    n_hid = sum(size_of(g, v) for v in hidden)
    if n_hid > spec.n_hidden:
        errs.add(f"{n_hid} hidden neurons ({', '.join(f'{v}: {size_of(g, v)}' for v in hidden)}) exceed Xylo "
                 f"{spec.name}'s {spec.n_hidden}", hidden[0], "neurons", code="limit")
        return
    start = 0
    oen = spec.oen_start(n_hid)
    for v in hidden:
        stop = start + size_of(g, v)
        if v in fed and stop > spec.input_expansion:
            errs.add(f"receives input but needs hidden ids {start}..{stop - 1}: Xylo {spec.name} feeds input only "
                     f"to the first {spec.input_expansion} hidden neurons (IEN)", v, "neurons", code="limit")
        if v in feeds_out and start < oen:
            errs.add(f"feeds the readout but needs hidden ids {start}..{stop - 1}: Xylo {spec.name} reads out only "
                     f"the last {spec.output_expansion} hidden neurons (OEN, ids >= {oen})", v, "neurons",
                     code="limit")
        start = stop


# ---------------------------------------------------------------------- neurons
@dataclass
class XyloNeuronPlan:
    """Per-neuron parameters of one population in NIR units (module docstring step 5)."""

    dash_syn: np.ndarray          # uint8
    dash_mem: np.ndarray          # uint8
    k_in: np.ndarray              # v per unit of synaptic input
    bias_v: np.ndarray            # v per step from the input bias
    thr: Optional[np.ndarray]     # None: a membrane read-out (never fires)
    decays: list[DecayResult]


def _param(g: Graph, v: str, name: str) -> np.ndarray:
    return np.broadcast_to(np.asarray(getattr(g.op(v), name), F64), g.out_shape(v)).reshape(-1)


def neuron_plan(g: Graph, v: str, sem: Semantics, beta: np.ndarray, errs: ErrorCollector,
                diags: Diagnostics) -> Optional[XyloNeuronPlan]:
    t, dt = g.type(v), float(sem.dt)
    n = size_of(g, v)
    if t in ("LIF", "LI", "CubaLIF", "CubaLI") and np.any(_param(g, v, "v_leak") != 0):
        errs.add("v_leak != 0: Xylo's membrane decays toward 0 (a constant drive would need a bias the NIR node "
                 "does not have)", v, "v_leak", code="v_leak")
        return None
    decays: list[DecayResult] = []
    r = _param(g, v, "r")
    if t in CUBA:
        ds_res = bitshift_decay(_param(g, v, "tau_syn"), dt, discretization=sem.discretization, name="dash_syn",
                                node=v, field="tau_syn")
        decays.append(ds_res)
        ds = ds_res.q.astype(np.int64)
        if np.any(ds == 0):
            diags.warn("dash-syn-zero", f"tau_syn down to {float(np.min(_param(g, v, 'tau_syn'))):g} s gives "
                       "dash_syn 0, which zeroes the input before it reaches V; using 1", node=v, field="tau_syn",
                       stage=STAGE)
            ds = np.maximum(ds, 1)
    else:
        ds = np.full(n, NO_SYNAPSE_DASH, np.int64)
        diags.warn("no-synapse", f"{t} has no synaptic state, Xylo's neurons have one: the input is spread over "
                   f"the chip's synaptic decay (dash_syn {NO_SYNAPSE_DASH}: 1/2, 1/4, ... of each spike's charge "
                   "per step, total kept)", node=v, field="type", stage=STAGE)
    alpha_s = 1.0 - 2.0 ** -ds
    if t == "IF":
        dm = np.full(n, 15, np.int64)
        diags.warn("if-leak", "IF has no leak; Xylo's membrane always decays: dash_mem 15 (tau = 32768 dt, and at "
                   "least 1 LSB toward 0 per step)", node=v, field="type", stage=STAGE)
        gain_v = dt * r
    else:
        tau_name = "tau_mem" if t in CUBA else "tau"
        dm_res = bitshift_decay(_param(g, v, tau_name), dt, discretization=sem.discretization, name="dash_mem",
                                node=v, field=tau_name)
        decays.append(dm_res)
        dm = dm_res.q.astype(np.int64)
        _, b_mem = decay(_param(g, v, tau_name), dt, sem.discretization)
        gain_v = b_mem * r
    if t in CUBA:
        _, b_syn = decay(_param(g, v, "tau_syn"), dt, sem.discretization, "syn")
        w_in = _param(g, v, "w_in")
        k = gain_v * b_syn * w_in / alpha_s
        bias_v = gain_v * w_in * beta
    else:
        k = gain_v * (1.0 - alpha_s) / alpha_s
        bias_v = gain_v * beta
    thr = None
    if t in SPIKING:
        thr = _param(g, v, "v_threshold")
        if np.any(thr <= 0):
            errs.add(f"v_threshold down to {float(thr.min()):g}: a Xylo neuron with threshold <= 0 fires its maximum "
                     "every step", v, "v_threshold", code="threshold")
            return None
    if np.any(beta) and t in CUBA:
        diags.warn("bias-steady", "the bias enters the synaptic current in the reference (rising over tau_syn); "
                   "Xylo adds its steady state b_mem r w_in bias to V from the first step", node=v, field="bias",
                   stage=STAGE)
    return XyloNeuronPlan(ds.astype(np.uint8), dm.astype(np.uint8), k, bias_v, thr, decays)


# ---------------------------------------------------------------------- quantization
def _formats(spec: XyloSpec, opts: dict) -> tuple[NumberFormat, NumberFormat, NumberFormat]:
    """(weights, thresholds, biases): int8 mantissas << 0..8, int16 in [0, threshold_max]
    (0 is the placeholder of a non-spiking read-out, and a spiking threshold that rounds to
    0 is raised to 1 afterwards: warning ``threshold-raised``), the chip's bias width."""
    # the largest shift keeps w << shift inside int16 (127 << 8 = 32512): no wrap
    w = NumberFormat(spec.weight_bits, signed=True, exponents=(0, spec.state_bits - spec.weight_bits),
                     name=f"int{spec.weight_bits}<<ws")
    thr = NumberFormat(spec.threshold_bits, signed=True, lo=0, hi=int(opts["threshold_max"]), dtype="int16",
                       name=f"int{spec.threshold_bits}[0,{opts['threshold_max']}]")
    b = NumberFormat(spec.chip_bias_bits, signed=True, dtype="int16")
    return w, thr, b


def quantize_block(name: str, weights: list[tuple[str, np.ndarray, Optional[str]]], plan_thr: np.ndarray,
                   spiking: np.ndarray, bias_v: np.ndarray, spec: XyloSpec, opts: dict, has_bias: bool,
                   qreport: QuantizationReport, node: str, single: bool = False):
    """One scale group (module docstring step 6).  ``weights``: (tensor name, values
    [n_pre, n_post], node); ``plan_thr`` the thresholds (0 for read-outs, masked by
    ``spiking``).  A neuron that does not spike (a membrane read-out) has no threshold to
    bound its gain; ``v_range`` does instead: ``readout_headroom`` times its largest
    weight must fit in ``V_RANGE``, else its V saturates (and fires at 32767).
    ``single``: every neuron spikes and its gain puts its threshold at
    :data:`SINGLE_THRESHOLD` (one gain per block: the lowest threshold's; the others
    must stay below 2 ** 15), weights and bias saturating where they exceed their
    formats at that gain."""
    fw, fthr, fb = _formats(spec, opts)
    channel = opts["quantization"] == "channel"
    n = plan_thr.size
    gain = None
    if single:
        fthr = NumberFormat(spec.threshold_bits, signed=True, lo=0, hi=I16_MAX, dtype="int16",
                            name=f"int{spec.threshold_bits}[0,{I16_MAX}]")
        gain = SINGLE_THRESHOLD / (plan_thr if channel else np.min(plan_thr))
        if not channel and np.max(plan_thr) * gain > I16_MAX:
            raise NirccError(f"thresholds {float(np.min(plan_thr)):g}..{float(np.max(plan_thr)):g} span more than "
                             f"{I16_MAX / SINGLE_THRESHOLD:.2f}x: one gain per block cannot put them all at "
                             f"{SINGLE_THRESHOLD}..{I16_MAX} (quantization=channel, or single_spike=false)",
                             node, "v_threshold")
    tensors = [Tensor(t, x, fw, axis=1 if channel else None, node=nd, field="weight") for t, x, nd in weights]
    if np.any(spiking):
        tensors.append(Tensor("threshold", np.where(spiking, plan_thr, 0.0), fthr, axis=0 if channel else None,
                              node=node, field="v_threshold"))
    if not np.all(spiking):
        largest = np.max([np.abs(x).max(axis=0) for _, x, _ in weights], axis=0)
        room = np.where(spiking, 0.0, float(opts["readout_headroom"]) * largest)
        tensors.append(Tensor("v_range", room, NumberFormat(spec.state_bits, signed=True, hi=V_RANGE, dtype="int16",
                                                            name=f"int{spec.state_bits}[..{V_RANGE}]"),
                              axis=0 if channel else None, node=node, field="v"))
    if has_bias and np.any(bias_v):
        tensors.append(Tensor("bias", bias_v, fb, axis=0 if channel else None, node=node, field="bias"))
    res = quantize_group(tensors, channels=n if channel else None, gain=gain, name=name, node=node)
    qreport.add(res)
    return res


# ---------------------------------------------------------------------- lowering
def lower(graph: Graph, spec: XyloSpec, options) -> XyloProgram:
    """Graph -> XyloProgram (module docstring); NirccError(s) for what the chip cannot do."""
    g, sem, diags = graph, options.semantics, options.diagnostics
    errs = ErrorCollector()
    opts = options.option_values(errs)
    check_node_types(g, CAPABILITIES, errs)
    errs.raise_if_any()
    net = extract(g, spec, errs, diags, float(sem.dt))
    errs.raise_if_any()
    assert net is not None
    plans = {v: neuron_plan(g, v, sem, net.bias[v], errs, diags) for v in net.hidden + net.readout}
    if not spec.has_bias and any(np.any(p.bias_v) for p in plans.values() if p is not None):
        first = next(v for v, p in plans.items() if p is not None and np.any(p.bias_v))
        errs.add(f"Xylo {spec.name} has no neuron bias; '{first}' receives one", first, "bias", code="bias")
    errs.raise_if_any()

    sizes = {v: size_of(g, v) for v in net.inputs + net.hidden + net.readout}
    offsets: dict[str, int] = {}
    for group in (net.inputs, net.hidden, net.readout):
        at = 0
        for v in group:
            offsets[v] = at
            at += sizes[v]
    n_in = sum(sizes[v] for v in net.inputs)
    n_hid = sum(sizes[v] for v in net.hidden)
    n_out = sum(sizes[v] for v in net.readout)

    def cat(pops: list[str], attr: str) -> np.ndarray:
        return np.concatenate([getattr(plans[v], attr) for v in pops]) if pops else np.zeros(0)

    def block(pres: list[str], posts: list[str], n_pre: int, n_post: int) -> np.ndarray:
        """The weights ``W k`` [n_pre, n_post] (float64) from populations ``pres`` to ``posts``."""
        m = np.zeros((n_pre, n_post))
        for (u, v), w in net.matrices.items():
            if u in pres and v in posts:
                k = plans[v].k_in
                m[offsets[u]:offsets[u] + sizes[u], offsets[v]:offsets[v] + sizes[v]] += (w * k[:, None]).T
        return m

    qreport = QuantizationReport()
    for p in plans.values():
        for d in p.decays:
            qreport.add(d)
    w_in = block(net.inputs, net.hidden, n_in, n_hid)
    w_rec = block(net.hidden, net.hidden, n_hid, n_hid)
    w_out = block(net.hidden, net.readout, n_hid, n_out)
    _check_fanout(net, offsets, sizes, w_rec, spec, errs)
    errs.raise_if_any()
    spk_h = np.ones(n_hid, bool)
    thr_h = cat(net.hidden, "thr")
    single = sem.spike == "single" and bool(opts["single_spike"])
    if single:
        diags.info("single-spike", f"one spike per step, as the model's rule: hidden thresholds {SINGLE_THRESHOLD}, "
                   f"so V (int16, saturating at {I16_MAX}) never holds two thresholds; V's range is about +-2 "
                   "thresholds and weights above 1.98 thresholds saturate (single_spike=false: up to 31 spikes per "
                   "step, thresholds up to threshold_max)", node=net.hidden[0], field="v_threshold", stage=STAGE)
    try:
        hid = quantize_block("hidden", [("weights_in", w_in, net.hidden[0]),
                                        ("weights_rec", w_rec, net.hidden[0])],
                             thr_h, spk_h, cat(net.hidden, "bias_v"), spec, opts, spec.has_bias, qreport,
                             net.hidden[0], single=single)
    except NirccError as e:
        errs.extend(e)
        errs.raise_if_any()
    thr_o = np.concatenate([plans[v].thr if plans[v].thr is not None else np.zeros(sizes[v]) for v in net.readout])
    spk_o = np.concatenate([np.full(sizes[v], plans[v].thr is not None) for v in net.readout])
    out = quantize_block("readout", [("weights_out", w_out, net.readout[0])], thr_o, spk_o,
                         cat(net.readout, "bias_v"), spec, opts, spec.has_bias, qreport, net.readout[0])
    for d in qreport.diagnostics(STAGE, tau_tolerance=float(opts["tau_tolerance"])):
        diags.add(d)

    def ints(res, name: str, n: int, default: int = 0) -> np.ndarray:
        return res[name].q.astype(np.int64) if name in res.tensors else np.full(n, default, np.int64)

    thr_hq = ints(hid, "threshold", n_hid)
    thr_oq = np.where(spk_o, ints(out, "threshold", n_out), I16_MAX)
    for v in net.hidden + net.readout:
        q = (thr_hq if v in net.hidden else thr_oq)[offsets[v]:offsets[v] + sizes[v]]
        low = int(np.count_nonzero(q < 1)) if plans[v].thr is not None else 0
        if low:
            diags.warn("threshold-raised", f"{low} of {sizes[v]} threshold(s) round to 0 at their gain and are raised "
                       "to 1 (the chip fires while V >= threshold)", node=v,
                       field="v_threshold", stage=STAGE)
    thr_hq, thr_oq = np.maximum(thr_hq, 1), np.maximum(thr_oq, 1)
    bias_h, bias_o = ints(hid, "bias", n_hid), ints(out, "bias", n_out)

    def with_syn2(w: np.ndarray) -> np.ndarray:
        return np.stack([w, np.zeros_like(w)], axis=2)

    gains_h = np.broadcast_to(np.asarray(hid.gain, F64), (n_hid,))
    gains_o = np.broadcast_to(np.asarray(out.gain, F64), (n_out,))
    meta = _meta(g, net, sizes, offsets, gains_o, plans)
    prog = XyloProgram(
        weights_in=with_syn2(hid["weights_in"].q), weights_rec=with_syn2(hid["weights_rec"].q),
        weights_out=out["weights_out"].q,
        dash_mem=cat(net.hidden, "dash_mem"), dash_syn=cat(net.hidden, "dash_syn"), dash_syn2=np.zeros(n_hid),
        dash_mem_out=cat(net.readout, "dash_mem"), dash_syn_out=cat(net.readout, "dash_syn"),
        threshold=thr_hq, threshold_out=thr_oq, bias=bias_h, bias_out=bias_o,
        weight_shift_in=hid["weights_in"].exponent, weight_shift_rec=hid["weights_rec"].exponent,
        weight_shift_out=out["weights_out"].exponent, bias_enable=bool(np.any(bias_h) or np.any(bias_o)),
        variant=spec.name, dt=float(sem.dt), meta=meta)
    prog.validate(spec)
    for v in net.hidden + net.readout:
        if np.any(plans[v].bias_v) and net.lag[v] > 0:
            warn_bias_lead(diags, v, int(net.lag[v]), STAGE, via="one step per hidden->hidden/readout synapse")
    floats = {"weights_in": (w_in, hid["weights_in"]), "weights_rec": (w_rec, hid["weights_rec"]),
              "weights_out": (w_out, out["weights_out"])}
    prog.report = {"resources": _resources(g, net, prog, spec, sizes, offsets),
                   "quantization": {**qreport.to_dict(), "gains": {"hidden": brief(gains_h),
                                                                   "readout": brief(gains_o)},
                                    "layers": _layer_report(g, net, prog, plans, floats, sizes, offsets,
                                                            np.concatenate([gains_h, gains_o]))}}
    return prog


def _layer_report(g: Graph, net: XyloNetwork, prog: XyloProgram, plans: dict, floats: dict, sizes: dict,
                  offsets: dict, gains: np.ndarray) -> list[dict]:
    """Per NIR population (chip order): its gain, decay shifts with requested and realised
    time constants, thresholds, and per incoming matrix (``pre -> node``) the largest weight
    error in the node's ``v`` units (the float ``W k`` against ``q 2**shift / gain``)."""
    layers = []
    for v in net.hidden + net.readout:
        hidden = v in net.hidden
        a, n = offsets[v], sizes[v]
        col = slice(a, a + n)
        at = a if hidden else prog.n_hidden + a
        thr = (prog.threshold if hidden else prog.threshold_out)[col]
        entry: dict[str, Any] = {
            "node": v, "type": g.type(v), "role": "hidden" if hidden else "readout", "gain": brief(gains[at:at + n]),
            "dash_syn": brief(plans[v].dash_syn), "dash_mem": brief(plans[v].dash_mem),
            "taus": {d.field: {"requested": brief(d.tau), "realised": brief(d.tau_effective),
                               "max_rel_error": float(d.max_rel_tau_error)} for d in plans[v].decays},
            "threshold": brief(thr) if plans[v].thr is not None else None}
        synapses = []
        for u in sorted(u for u, post in net.matrices if post == v):
            name = "weights_in" if u in net.inputs else ("weights_rec" if hidden else "weights_out")
            x, qt = floats[name]
            rows = slice(offsets[u], offsets[u] + sizes[u])
            want, got = x[rows, col], qt.dequantize()[rows, col]
            err = np.abs(want - got)
            big = float(np.max(np.abs(want))) if want.size else 0.0
            synapses.append({"pre": u, "matrix": name, "nonzero": int(np.count_nonzero(want)),
                             "zeroed": int(np.count_nonzero((want != 0) & (qt.q[rows, col] == 0))),
                             "max_abs_error": float(err.max()) if err.size else 0.0,
                             "max_rel_error": float(err.max()) / big if big else 0.0})
        entry["synapses"] = synapses
        layers.append(entry)
    return layers


def _check_fanout(net: XyloNetwork, offsets: dict, sizes: dict, w_rec: np.ndarray, spec: XyloSpec,
                  errs: ErrorCollector) -> None:
    """Recurrent fan-out (targets per hidden neuron) and its total against the variant's
    memories, named by population and neuron."""
    fan = np.count_nonzero(w_rec, axis=1)
    if spec.max_fanout is not None:
        for v in net.hidden:
            f = fan[offsets[v]:offsets[v] + sizes[v]]
            if f.size and int(f.max()) > spec.max_fanout:
                i = int(np.argmax(f))
                errs.add(f"neuron {i} has {int(f[i])} hidden targets > Xylo {spec.name}'s max fan-out "
                         f"{spec.max_fanout} ({int(np.count_nonzero(f > spec.max_fanout))} neuron(s) over)", v,
                         "fanout", code="limit")
    if spec.max_rec_synapses is not None and int(fan.sum()) > spec.max_rec_synapses:
        errs.add(f"{int(fan.sum())} recurrent synapses > Xylo {spec.name}'s {spec.max_rec_synapses}", net.hidden[0],
                 "synapses", code="limit")


def _meta(g: Graph, net: XyloNetwork, sizes: dict, offsets: dict, gains_o: np.ndarray, plans: dict) -> dict:
    """The program's I/O map (:mod:`nircc.backends.io`: input channels at their offsets;
    readout spikes, or ``Vmem_out`` over the gain for a membrane read-out; each population's
    slice of the emulator's registers as ``<node>/<state>``) and the ids of every population
    (JSON-able)."""
    inputs = tuple(Port(i, g.out_shape(i), "input", offsets[i]) for i in net.inputs)
    outputs = []
    for o, v in net.outputs.items():
        a, n = offsets[v], sizes[v]
        spikes = plans[v].thr is not None
        outputs.append(Port(o, g.in_shape(o), "readout" if spikes else "Vmem_out", a, "spikes" if spikes else "v",
                            None if spikes else tuple(float(x) for x in gains_o[a:a + n]), int(net.lag[v])))
    states = []                                  # the emulator's registers (xylosim's names) per node
    for v in net.hidden + net.readout:
        a, n = offsets[v], sizes[v]
        regs = ((("output", "Spikes", "state"), ("v", "Vmem", "state"), ("i", "Isyn", "state"),
                 ("i2", "Isyn2", "state")) if v in net.hidden else
                (("v", "Vmem_out", "state"), ("i", "Isyn_out", "state"))
                + ((("output", "readout", "spikes"),) if plans[v].thr is not None else ()))
        states += [Port(state_key(v, name), (n,), key, a, kind) for name, key, kind in regs]
    io = IOMap(inputs, tuple(outputs), layout="channels", channels=sum(sizes[i] for i in net.inputs),
               states=tuple(states))
    hidden = {v: [offsets[v], offsets[v] + sizes[v]] for v in net.hidden}
    readout = {v: [offsets[v], offsets[v] + sizes[v]] for v in net.readout}
    return {"io": io.to_dict(), "hidden": hidden, "readout": readout, "output_populations": dict(net.outputs)}


def _resources(g: Graph, net: XyloNetwork, prog: XyloProgram, spec: XyloSpec, sizes: dict, offsets: dict) -> dict:
    fan = prog.fanout()
    return {
        "variant": spec.name, "chip": spec.chip,
        "input_channels": prog.n_in, "input_channels_available": spec.n_input,
        "hidden_neurons": prog.n_hidden, "hidden_neurons_available": spec.n_hidden,
        "readout_neurons": prog.n_out, "readout_neurons_available": spec.n_readout,
        "max_fanout": int(fan.max()) if fan.size else 0, "max_fanout_limit": spec.max_fanout,
        "recurrent_synapses": int(fan.sum()),
        "synapses": int(np.count_nonzero(prog.weights_in) + np.count_nonzero(prog.weights_rec) +
                        np.count_nonzero(prog.weights_out)),
        "layers": [{"node": v, "type": g.type(v), "role": "hidden" if v in net.hidden else "readout",
                    "ids": [offsets[v], offsets[v] + sizes[v]], "lag": int(net.lag[v])}
                   for v in net.hidden + net.readout],
        "weight_shift": {"in": prog.weight_shift_in, "rec": prog.weight_shift_rec, "out": prog.weight_shift_out},
    }
