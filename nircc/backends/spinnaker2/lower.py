"""Lowering: a graph (after infer_shapes, canonicalize, fuse_affine) -> :class:`S2Program`.

Steps (every user-facing problem of a step is collected and raised together, naming the
node, the quantity and the limit; approximations are diagnostics with stage ``spinnaker2``):

1. options and semantics (``docs/targets/spinnaker2.md`` lists both);
2. synaptic paths between populations (:mod:`.synapses`);
3. lags: every projection delivers one step late, so population ``v`` runs ``L_v`` steps
   behind the reference simulator.  ``L`` is the least solution of
   ``L_v >= L_u + 1 - n_uv`` over the paths (``n_uv`` = the path's least delay in the
   reference: Delay nodes plus one per back edge), ``L >= 0``, Inputs ``0`` (Bellman-Ford).
   A path then needs the delay field ``d = L_v - L_u - 1 + n`` per synapse (``>= 0``).  A
   loop that the chip takes longer to go around than the reference (``k`` projections but
   fewer than ``k - 1`` Delay steps) has no solution: error ``recurrent-cycle``;
4. models and delays: ``lif_no_delay`` (LIF, IF, LI, I), ``lif_curr_exp_no_delay`` (CubaLIF,
   CubaLI), ``lif_conv2d`` (fed by Conv2d).  ``delay_mode="native"`` (default): delays up to
   7 go into the delay field of ``lif`` / ``lif_curr_exp`` (weights then [-15, 15]);
   longer ones, and every delay into ``lif_conv2d`` or with ``delay_mode="relay"``, take a
   chain of relay populations for the part all synapses share (each relay hop 1..8 steps;
   more hops than the variant's PEs is an error);
5. quantization (:func:`nircc.backends.toolkit.quantize.quantize_group`): per post population one gain ``g``
   over all its incoming weights, integers in the post model's range (half-even rounding);
   ``weight_scale`` fixes ``g``, ``weight_scale_percentile`` bounds it by a percentile;
6. neuron parameters (float64 formulas, rounded once to float32; ``a, b`` from
   :func:`nircc.semantics.decay`, ``beta`` the summed bias of the node's inputs)::

       LIF, LI     k = b r                 alpha = a      i_offset = b v_leak S + g beta
       IF, I       k = dt r                alpha = 1      i_offset = g beta
       CubaLIF/LI  k = b_m r b_s w_in      alpha = a_m    i_offset = b_m v_leak S + g beta / b_s
                   exc_decay = inh_decay = a_s, t_refrac = 0
       S = g / k   threshold = v_threshold S   (LI, I, CubaLI: the largest float32)
       reset zero: reset_to_v_reset, v_reset = v_reset S;  subtract: reset_by_subtraction

   so that the chip's ``v`` is the reference's ``v`` times ``S`` (``NirProvenance``);
7. partitioning over PEs (:mod:`.partition`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import networkx as nx
import numpy as np

from ...errors import Diagnostics, ErrorCollector
from ...ir import Graph
from ..toolkit.quantize import NumberFormat, QuantizationReport, Tensor, brief, effective_tau, quantize_group
from ...semantics import Semantics, decay
from .partition import partition
from .program import Conv2DProjection, ListProjection, NirProvenance, Population, S2Program
from ..capabilities import check_node_types
from .spec import CAPABILITIES, S2Spec
from ..io import IOMap, Port, state_key
from ...passes.legalize import BIAS_SOURCE_OPTION
from ..options import Option, option_table
from ..toolkit.paths import size_of, warn_bias_lead
from .synapses import STAGE, S2Network, SynPath, extract

F32 = np.float32
F64 = np.float64
FLOAT32_MAX = np.finfo(F32).max
SPIKING = ("LIF", "IF", "CubaLIF")
CUBA = ("CubaLIF", "CubaLI")

#: Target options (``--option key=value``) and their defaults.
DELAY_MODES = ("native", "relay")
RECORD_MODES = ("outputs", "all")
#: Target options (``--option key=value``), documented in docs/targets/spinnaker2.md.
OPTIONS = option_table([
    Option("weight_scale", None, "a fixed gain for every population (the NIR paper's 102.02)", "number",
           lo=0, lo_open=True),
    Option("weight_scale_percentile", None, "(0, 100]: bound each gain by this percentile of |w|", "number",
           lo=0, hi=100, lo_open=True),
    Option("delay_mode", "native", "native (the chip's delay field) or relay (relay populations)", "choice",
           DELAY_MODES),
    Option("timesteps", 1000, "run length: hw.run steps, recording buffers in the memory model", "int", lo=1),
    Option("sys_tick_in_s", None, "real time per step on the chip (default: the spec's 1e-3 s)", "number",
           lo=0, lo_open=True),
    Option("record", "outputs", "which populations record: outputs or all", "choice", RECORD_MODES),
    Option("record_v", False, "also record v of spiking output populations", "bool"),
    Option("input_rate", 0.1, "expected input spikes per neuron and step (spike_list memory)", "number",
           lo=0, hi=1),
    BIAS_SOURCE_OPTION,
])
#: The relay neuron: fires in the step a spike arrives (v = 1 > 0.5), forgets at once.
RELAY_PARAMS = {"threshold": 0.5, "alpha_decay": 0.0, "i_offset": 0.0, "v_reset": 0.0, "reset": "reset_to_v_reset"}


# ---------------------------------------------------------------------- options
def check_options(opts: dict, errs: ErrorCollector) -> None:
    """Rules between the options (``SpiNNaker2Target.check_options``)."""
    if opts["weight_scale"] is not None and opts["weight_scale_percentile"] is not None:
        errs.add("weight_scale fixes every gain and weight_scale_percentile chooses them: give one",
                 field="weight_scale", code="option")




# ---------------------------------------------------------------------- lags
def compute_lags(g: Graph, net: S2Network, errs: ErrorCollector) -> dict[str, int]:
    """Steps each population runs behind the reference (module docstring, step 3)."""
    lag = {p: 0 for p in net.populations}
    edges: dict[tuple[str, str], int] = {}
    for p in net.paths:
        w = 1 - p.delay_range()[0]
        edges[(p.pre, p.post)] = max(edges.get((p.pre, p.post), w), w)
    for _ in range(len(lag) + 1):
        changed = False
        for (u, v), w in edges.items():
            if lag[u] + w > lag[v]:
                lag[v] = lag[u] + w
                changed = True
        if not changed:
            return lag
    dg = nx.DiGraph()
    dg.add_weighted_edges_from((u, v, w) for (u, v), w in edges.items())
    for cycle in nx.simple_cycles(dg):
        steps = sum(dg.edges[u, v]["weight"] for u, v in zip(cycle, cycle[1:] + cycle[:1]))
        if steps > 0:
            loop = " -> ".join(cycle + cycle[:1])
            k = len(cycle)
            errs.add(f"the loop {loop} goes through {k} projection(s), {k} step(s) on SpiNNaker2 (one per "
                     f"projection), but takes {k - steps} step(s) in the reference (one per back edge plus Delay "
                     f"nodes): give the loop at least {k - 1} step(s) of Delay, or make it a self-loop through one "
                     "projection", cycle[0], code="recurrent-cycle")
            break
    return lag


# ---------------------------------------------------------------------- plan
@dataclass
class PathPlan:
    """How one path is realised."""

    path: SynPath
    name: str
    base: int                 # L_v - L_u - 1: added to the path's reference delays
    relay_steps: int = 0      # R: steps carried by relay populations (0: none)
    max_field: int = 0        # the largest delay field left on the final projection


@dataclass
class PostPlan:
    node: str
    model: str
    paths: list[PathPlan] = field(default_factory=list)


def _projection_names(paths: list[SynPath]) -> list[str]:
    base = [p.weight_node or f"{p.pre}->{p.post}" for p in paths]
    names = [b if base.count(b) == 1 else f"{b}:{p.pre}->{p.post}" for b, p in zip(base, paths)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 and names.count(n) == 1 else f"{n}#{k}")
    return out


def plan(g: Graph, net: S2Network, lag: dict[str, int], opts: dict, spec: S2Spec, errs: ErrorCollector,
         diags: Diagnostics) -> dict[str, PostPlan]:
    """The model of every neuron population and the delay realisation of every path."""
    names = _projection_names(net.paths)
    incoming: dict[str, list[tuple[SynPath, str]]] = {n: [] for n in net.populations if g.type(n) != "Input"}
    for p, name in zip(net.paths, names):
        incoming[p.post].append((p, name))
    max_native = spec.model("lif").max_delay
    posts: dict[str, PostPlan] = {}
    for v, ins in incoming.items():
        conv = [name for p, name in ins if p.lin.kind == "conv"]
        lists = [name for p, name in ins if p.lin.kind != "conv"]
        cuba = g.type(v) in CUBA
        if conv and cuba:
            errs.add(f"{g.type(v)} fed by Conv2d ({', '.join(conv)}): lif_conv2d has no synaptic current "
                     "(py-spinnaker2 has no conv model with one)", v, code="conv-target")
            continue
        if conv and lists:
            errs.add(f"lif_conv2d takes only Conv2DProjections, but '{v}' also receives {', '.join(lists)} "
                     f"(besides {', '.join(conv)})", v, code="mixed-projections")
            continue
        plans = []
        for p, name in ins:
            lo, hi = p.delay_range()
            pp = PathPlan(p, name, lag[v] - lag[p.pre] - 1)
            dmin, dmax = pp.base + lo, pp.base + hi
            room = 0 if conv else max_native
            native = dmax == 0 or (opts["delay_mode"] == "native" and dmax <= room)
            pp.relay_steps = 0 if native else dmin
            pp.max_field = dmax - pp.relay_steps
            if pp.max_field > room:
                model = "lif_conv2d (no delay field)" if conv else f"the delay field (0..{room})"
                errs.add(f"path {p.pre!r} -> {v!r} needs delays {dmin}..{dmax} steps: relays carry the {dmin} all "
                         f"synapses share, the remaining spread of {dmax - dmin} exceeds {model}", p.nodes[0] if
                         p.nodes else v, "delay", code="delay-range")
            hops = -(-pp.relay_steps // spec.max_delay_steps)
            if hops > spec.app_pes:
                errs.add(f"path {p.pre!r} -> {v!r} needs {pp.relay_steps} steps of delay carried by relays: {hops} "
                         f"relay populations of at most {spec.max_delay_steps} steps each, more than the "
                         f"{spec.app_pes} PEs of {spec.name} (a population takes one PE or more)",
                         p.nodes[0] if p.nodes else v, "delay", code="delay-range")
                continue
            if pp.relay_steps:
                diags.info("delay-relay", f"{pp.relay_steps} step(s) of the path {p.pre!r} -> {v!r} carried by "
                           f"{hops} relay population(s) of {p.lin.n_pre} neurons", node=name, field="delay",
                           stage=STAGE)
            plans.append(pp)
        delayed = any(pp.max_field > 0 for pp in plans)
        if conv:
            model = "lif_conv2d"
        elif cuba:
            model = "lif_curr_exp" if delayed else "lif_curr_exp_no_delay"
        else:
            model = "lif" if delayed else "lif_no_delay"
        if delayed:
            lo_w, hi_w = spec.model(model).weight_range
            diags.info("delay-native", f"delays up to {max(pp.max_field for pp in plans)} step(s) in the synapse "
                       f"delay field: model {model}, weights in [{lo_w}, {hi_w}] (option delay_mode=relay keeps "
                       f"the {model}_no_delay range and uses relay populations)", node=v, field="delay", stage=STAGE)
        posts[v] = PostPlan(v, model, plans)
    return posts


# ---------------------------------------------------------------------- parameters
def _compact(x: np.ndarray) -> Any:
    """float32 (or int) values: one scalar when uniform, else the array."""
    x = np.asarray(x).reshape(-1)
    return x[0] if x.size and np.all(x == x[0]) else x


def _f32(x: Any) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x, F64).astype(F32)


def neuron_params(g: Graph, node: str, model: str, sem: Semantics, gain: float, bias: np.ndarray,
                  errs: ErrorCollector, diags: Diagnostics) -> Optional[tuple[dict, np.ndarray, dict]]:
    """(py-spinnaker2 params, v_scale per neuron, report) of a neuron node (formulas in the
    module docstring), None after an error."""
    t, op, n = g.type(node), g.op(node), size_of(g, node)
    dt = float(sem.dt)

    def get(name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(getattr(op, name), F64), g.out_shape(node)).reshape(-1).copy()

    def time_constant(name: str) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        tau = get(name)
        if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
            errs.add(f"time constants must be positive and finite, got min {float(np.min(tau)):g}", node, name,
                     code="param")
            return None
        a, b = decay(tau, dt, sem.discretization, "syn" if name == "tau_syn" else "mem")
        if np.any(a < 0):
            diags.warn("euler-unstable", f"dt = {dt:g} s exceeds the time constant (min {float(tau.min()):g} s): "
                       f"alpha {float(a.min()):.3g} < 0", node=node, field=name, stage=STAGE)
        return tau, a, b

    report: dict[str, Any] = {}
    r = get("r")
    v_leak = get("v_leak") if t in ("LIF", "LI") + CUBA else np.zeros(n)
    if t in ("LIF", "LI"):
        tc = time_constant("tau")
        if tc is None:
            return None
        tau, alpha, b = tc
        k = b * r
        report["tau"] = (tau, alpha)
    elif t in ("IF", "I"):
        alpha, b = np.ones(n), None
        k = dt * r
    else:
        tcs, tcm = time_constant("tau_syn"), time_constant("tau_mem")
        if tcs is None or tcm is None:
            return None
        (tau_s, a_s, b_s), (tau_m, alpha, b) = tcs, tcm
        k = b * r * b_s * get("w_in")
        report["tau_syn"], report["tau_mem"] = (tau_s, a_s), (tau_m, alpha)
    if not np.all(np.isfinite(k)) or np.any(k <= 0):
        fld = "w_in" if t in CUBA and np.all(b * r > 0) else "r"
        expr = "b_mem r b_syn w_in" if t in CUBA else "b r" if b is not None else "dt r"
        errs.add(f"min {fld} = {float(np.min(get(fld))):g} makes the input gain {expr} = {float(np.min(k)):g}; it "
                 "must be > 0 (the chip's v is the reference's v times g / gain)", node, fld, code="param")
        return None
    scale = gain / k
    i_offset = gain * bias
    if t in CUBA:
        i_offset = i_offset / b_s
        if np.any(bias):
            diags.warn("cuba-bias-steady-state", "the bias enters the synaptic current in the reference (rising "
                       f"over ~tau_syn = {float(tau_s.max()):g} s); the chip adds its steady state g*bias/b_syn to v "
                       "through i_offset from step 0", node=node, field="bias", stage=STAGE)
    if b is not None and np.any(v_leak):
        i_offset = i_offset + b * v_leak * scale
    params: dict[str, Any] = {"alpha_decay": _compact(_f32(alpha)), "i_offset": _compact(_f32(i_offset))}
    if t in SPIKING:
        thr = _f32(get("v_threshold") * scale)
        if sem.threshold == ">=":
            thr = np.nextafter(thr, F32(-np.inf))
            how = ("v - threshold' after a spike (one float32 ulp less than the reference's)"
                   if sem.reset == "subtract" else "an exact reset")
            diags.warn("threshold-ge", "v >= threshold realised as v > threshold' with threshold' the next float32 "
                       f"below the threshold (the same comparison for float32 v), with {how}", node=node,
                       field="v_threshold", stage=STAGE)
        params["threshold"] = _compact(thr)
    else:
        params["threshold"] = FLOAT32_MAX
    if sem.reset == "zero" and t in SPIKING:
        params["reset"], params["v_reset"] = "reset_to_v_reset", _compact(_f32(get("v_reset") * scale))
    else:
        params["reset"], params["v_reset"] = "reset_by_subtraction", F32(0)
    if t in CUBA:
        params["exc_decay"] = params["inh_decay"] = _compact(_f32(a_s))
        params["t_refrac"] = np.int64(0)
    taus = {}
    for key, (tau, a) in report.items():
        eff = effective_tau(_f32(a).astype(F64), dt, sem.discretization)
        with np.errstate(invalid="ignore"):
            rel = np.abs(eff - tau) / tau
        taus[key] = {"tau": brief(tau), "tau_effective": brief(eff), "decay": brief(_f32(a)),
                     "max_rel_tau_error": float(np.nanmax(rel)) if rel.size else 0.0}
    info = {"model": model, "threshold": brief(params["threshold"]), "i_offset": brief(params["i_offset"]),
            "voltage_scale": brief(scale), "time_constants": taus}
    return params, 1.0 / k, info


# ---------------------------------------------------------------------- quantization
def weight_format(spec: S2Spec, model: str) -> NumberFormat:
    """The integer format of the weights a model receives (its range, half-even rounding)."""
    lo, hi = spec.model(model).weight_range
    bits = int(math.ceil(math.log2(max(-lo, hi + 1)))) + 1
    return NumberFormat(bits, signed=True, lo=lo, hi=hi, rounding="half_even")


@dataclass
class _Quantized:
    gain: float
    q: dict[str, np.ndarray]          # projection name -> integers (matrix, values or kernel)
    summary: dict


def quantize_post(post: PostPlan, spec: S2Spec, opts: dict, qreport: QuantizationReport) -> _Quantized:
    fmt = weight_format(spec, post.model)
    pct = opts["weight_scale_percentile"]
    tensors = [Tensor(pp.name, pp.path.lin.weights, fmt, percentile=pct, node=pp.path.weight_node or pp.path.pre,
                      field="weight") for pp in post.paths]
    fixed = opts["weight_scale"]
    source = "weight_scale" if fixed is not None else f"percentile {pct:g}" if pct is not None else "best"
    if not tensors:
        gain = float(fixed) if fixed is not None else 1.0
        return _Quantized(gain, {}, {"gain": gain, "gain_source": source, "format": fmt.label, "projections": []})
    res = qreport.add(quantize_group(tensors, gain=fixed, name=post.node, node=post.node))
    summary = {"gain": float(res.gain), "gain_source": source, "format": fmt.label,
               "limited_by": list(res.limited_by),
               "projections": [{k: v for k, v in t.summary().items() if k not in ("gain", "format", "dtype")}
                               for t in res.tensors.values()]}
    return _Quantized(float(res.gain), {k: t.q for k, t in res.tensors.items()}, summary)


# ---------------------------------------------------------------------- assembly
def _rows(pp: PathPlan, q: np.ndarray) -> np.ndarray:
    """``[pre, post, weight, delay]`` rows (int64, sorted by pre then post) of a list path."""
    p, lin = pp.path, pp.path.lin
    if lin.kind == "dense":
        pre, post = np.nonzero(q.T)
        w = q.T[pre, post]
    else:
        keep = q != 0
        pre, post, w = lin.pre[keep], lin.post[keep], q[keep]
        order = np.lexsort((post, pre))
        pre, post, w = pre[order], post[order], w[order]
    d = pp.base + p.back + p.pre_delay[pre] + p.post_delay[post] - pp.relay_steps
    return np.stack([pre, post, w.astype(np.int64), d], axis=1).astype(np.int64)


def _relays(pp: PathPlan, spec: S2Spec, taken: set[str]) -> tuple[list[Population], list[ListProjection], str]:
    """The relay chain of a path: populations, projections and the name of the last relay."""
    hops = -(-pp.relay_steps // spec.max_delay_steps)
    lat = [spec.max_delay_steps] * (hops - 1) + [pp.relay_steps - spec.max_delay_steps * (hops - 1)]
    n = pp.path.lin.n_pre
    idx = np.arange(n, dtype=np.int64)
    pops, projs, src = [], [], pp.path.pre
    for k, steps in enumerate(lat):
        name = f"relay{k}:{pp.name}"
        while name in taken:
            name += "'"
        taken.add(name)
        pops.append(Population(name, "lif", n, dict(RELAY_PARAMS)))
        rows = np.stack([idx, idx, np.ones(n, np.int64), np.full(n, steps - 1, np.int64)], axis=1)
        projs.append(ListProjection(f"to_{name}", src, name, rows))
        src = name
    return pops, projs, src


def lower(graph: Graph, spec: S2Spec, options) -> S2Program:
    """Graph -> S2Program (module docstring); NirccError(s) for what the chip cannot do."""
    g, sem, diags = graph, options.semantics, options.diagnostics
    errs = ErrorCollector()
    opts = options.option_values(errs)
    check_node_types(g, CAPABILITIES, errs)
    net = extract(g, sem.dt, errs, diags)
    errs.raise_if_any()
    lag = compute_lags(g, net, errs)
    errs.raise_if_any()
    posts = plan(g, net, lag, opts, spec, errs, diags)
    errs.raise_if_any()

    qreport = QuantizationReport()
    populations: list[Population] = []
    projections: list = []
    extra_pops: list[Population] = []
    taken = set(net.populations)
    spiking_outputs = {p for p in net.outputs.values() if g.type(p) in SPIKING}
    out_pops = set(net.outputs.values())
    qsummary = []
    for name in net.populations:
        t = g.type(name)
        if t == "Input":
            populations.append(Population(name, "spike_list", size_of(g, name), {}))
            continue
        post = posts[name]
        quant = quantize_post(post, spec, opts, qreport)
        built = neuron_params(g, name, post.model, sem, quant.gain, net.bias[name], errs, diags)
        if built is None:
            continue
        params, v_scale, info = built
        if np.any(params["i_offset"]) and lag[name] > 0:
            warn_bias_lead(diags, name, int(lag[name]), STAGE, bias="i_offset", via="one step per projection")
        record: list[str] = []
        if name in out_pops or opts["record"] == "all":
            record = ["spikes"] if t in SPIKING else ["v"]
            if t in SPIKING and opts["record_v"] and name in spiking_outputs:
                record.append("v")
        populations.append(Population(name, post.model, size_of(g, name), params, record=record,
                                      nir=NirProvenance(name, _compact(v_scale), quant.gain)))
        qsummary.append({"population": name, **quant.summary, **info})
        for pp in post.paths:
            q = quant.q[pp.name]
            pre = pp.path.pre
            if pp.relay_steps:
                rp, rq, pre = _relays(pp, spec, taken)
                extra_pops.extend(rp)
                projections.extend(rq)
            if pp.path.lin.kind == "conv":
                projections.append(Conv2DProjection(pp.name, pre, name, np.swapaxes(q, 0, 1).astype(np.int8),
                                                    dict(pp.path.lin.conv_params)))
                continue
            rows = _rows(pp, q)
            if not rows.shape[0]:
                diags.warn("projection-empty", f"every weight of {pp.name!r} ({pp.path.pre!r} -> {name!r}) rounds "
                           f"to 0 at gain {quant.gain:.6g}: no synapse left", node=pp.path.weight_node or name,
                           field="weight", stage=STAGE)
            projections.append(ListProjection(pp.name, pre, name, rows))
    errs.raise_if_any()
    diags.extend(qreport.diagnostics(STAGE))
    populations.extend(extra_pops)
    latency = {o: int(lag[p]) for o, p in net.outputs.items()}
    by_name = {pop.name: pop for pop in populations}

    def out_port(o: str, p: str) -> Port:
        if g.type(p) in SPIKING:
            return Port(o, g.out_shape(o), p, 0, "spikes", None, latency[o])
        scale = np.broadcast_to(np.asarray(by_name[p].nir.voltage_scale, F64), (size_of(g, p),))
        return Port(o, g.out_shape(o), state_key(p, "v"), 0, "v", tuple(float(x) for x in scale), latency[o])

    # each Input is its own spike_list population; outputs read their population's spikes or v
    io = IOMap(tuple(Port(n, g.out_shape(n), n) for n in g.inputs),
               tuple(out_port(o, p) for o, p in net.outputs.items()), layout="keys")
    meta = {
        "io": io.to_dict(), "output_populations": dict(net.outputs),
        "lags": {p: int(v) for p, v in lag.items()}, "semantics": sem.to_dict(),
        "source": g.meta.get("source"),
    }
    tick = spec.sys_tick_in_s if opts["sys_tick_in_s"] is None else opts["sys_tick_in_s"]
    program = S2Program(populations, projections, timesteps=opts["timesteps"], sys_tick_in_s=tick,
                        model_dt_s=sem.dt, variant=spec.name, meta=meta)
    program.validate(spec)
    resources = partition(program, spec, opts["input_rate"], frozenset(p.name for p in extra_pops))
    program.report = {"resources": resources, "latency": latency,
                      "quantization": {"populations": qsummary, "relays": len(extra_pops)}}
    return program
