"""Lowering: a graph (after infer_shapes, canonicalize, fuse_affine) -> :class:`ToyProgram`.

ToyChip runs a chain ``Input -> W_1 -> n_1 -> W_2 -> n_2 ... -> n_L -> Output``: each
``W_i`` a Linear (or an Affine with a zero bias) with a ``[out, in]`` matrix, each ``n_i``
an IF or LIF with ``v_reset = 0`` (and ``v_leak = 0``), no fan-in, fan-out or recurrence.
Every problem is collected and raised as one NirccError naming node and field.

Per layer, with ``k`` the reference's input gain per neuron (LIF: ``b r`` with ``b`` of
:func:`nircc.semantics.decay`; IF: ``dt r``), thresholds ``thr`` and ``c = max(thr) / thr``
(per-neuron thresholds realised exactly, as the chip resets to zero)::

    weights    int8   round(G * W * (k c)[:, None])     one scale group per layer,
    threshold  int16  round(G * max(thr))               gain G (``quantize_group``)
    shift      uint4  bitshift_decay(tau, dt)           LIF: 1..15, IF: 0 (no leak)

``G`` is the largest gain at which the weights fit int8 (or the option ``weight_scale``).
With the semantics ``threshold = ">="`` the stored threshold is one less (the chip fires on
``v > threshold``).  A layer reads the previous layer's spikes of the previous step, so the
output lags the reference by ``L - 1`` steps (the I/O map's ``latency``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from nircc.backends.capabilities import check_node_types
from nircc.backends.io import IOMap, Port
from nircc.backends.options import Option, option_table
from nircc.backends.toolkit.quantize import NumberFormat, QuantizationReport, Tensor, bitshift_decay, quantize_group
from nircc.errors import ErrorCollector, NirccError
from nircc.ir import Graph

from .program import ToyLayer, ToyProgram
from .spec import CAPABILITIES, ToySpec

STAGE = "toy"
F64 = np.float64
WEIGHTS, NEURONS = ("Linear", "Affine"), ("IF", "LIF")
ROUNDINGS = {"nearest": "half_even", "trunc": "trunc"}

#: Target options (``--option key=value``), documented in tests/backends/toy_target/README.md.
OPTIONS = option_table([
    Option("rounding", "nearest", "how weights and thresholds round: nearest (half-even) or trunc (toward zero)",
           "choice", tuple(ROUNDINGS)),
    Option("weight_scale", None, "a fixed gain G (integer units per unit of NIR voltage) for every layer", "number",
           lo=0, lo_open=True),
    Option("tau_tolerance", 0.05, "relative time-constant error above which a tau-approximated warning is given",
           "number", lo=0),
])


def chain(g: Graph, errs: ErrorCollector) -> tuple[Optional[str], list[tuple[str, str]]]:
    """The Input and the (weight, neuron) pairs of the chain, in order (module docstring)."""
    check_node_types(g, CAPABILITIES, errs)
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        errs.add(f"ToyChip takes one Input and one Output, got {len(g.inputs)} and {len(g.outputs)}",
                 code="structure")
    if errs:
        return None, []
    node, pairs = g.inputs[0], []
    while True:
        succ = g.successors(node)
        if len(succ) != 1:
            errs.add(f"feeds {succ or 'nothing'}: a ToyChip layer feeds exactly the next one", node, code="structure")
            break
        nxt = succ[0]
        if g.type(nxt) == "Output":
            if not pairs:
                errs.add("the Input feeds the Output directly: ToyChip needs at least one layer", node,
                         code="structure")
            break
        post = g.successors(nxt)
        if g.type(nxt) not in WEIGHTS or len(post) != 1 or g.type(post[0]) not in NEURONS:
            errs.add(f"'{node}' must feed one Linear into one IF/LIF, it feeds {g.type(nxt)} '{nxt}'", nxt,
                     code="structure")
            break
        for m, pre in ((nxt, node), (post[0], nxt)):
            if g.predecessors(m) != [pre]:
                errs.add(f"reads {g.predecessors(m)}: a ToyChip layer reads only the layer before it", m,
                         code="structure")
        if errs:
            break
        pairs.append((nxt, post[0]))
        node = post[0]
    return g.inputs[0], pairs


def layer(g: Graph, weight: str, neuron: str, sem, opts: dict, qreport: QuantizationReport,
          errs: ErrorCollector) -> Optional[tuple[ToyLayer, float]]:
    """One layer's integers and its gain (module docstring), or None after an error."""
    n_errors = len(errs.errors)
    op, w = g.op(neuron), np.asarray(g.op(weight).weight, F64)
    if w.ndim != 2 or tuple(g.in_shape(weight)) != (w.shape[1],):
        errs.add(f"weight {list(w.shape)} on input {list(g.in_shape(weight))}: ToyChip needs one [out, in] matrix "
                 "on a flat input", weight, "weight")
        return None
    n = w.shape[0]
    if g.type(weight) == "Affine" and np.any(np.asarray(g.op(weight).bias)):
        errs.add("ToyChip neurons have no bias input", weight, "bias")

    def per_neuron(name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(getattr(op, name), F64), (n,))

    thr, r = per_neuron("v_threshold"), per_neuron("r")
    if np.any(thr <= 0):
        errs.add(f"threshold {float(thr.min()):g}: ToyChip thresholds are positive", neuron, "v_threshold")
    if np.any(per_neuron("v_reset")):
        errs.add("ToyChip resets to 0; v_reset must be 0", neuron, "v_reset")
    shift = 0
    if g.type(neuron) == "LIF":
        if np.any(per_neuron("v_leak")):
            errs.add("ToyChip's leak decays toward 0; v_leak must be 0", neuron, "v_leak")
        tau = per_neuron("tau")
        _, b = sem.decay(tau)
        k = b * r
        try:
            d = qreport.add(bitshift_decay(tau, float(sem.dt), discretization=sem.discretization,
                                           fmt=NumberFormat(4, signed=False, lo=1), node=neuron, field="tau"))
        except NirccError as e:
            errs.extend(e)
            return None
        shifts = sorted(set(d.q.tolist()))
        if len(shifts) > 1:
            errs.add(f"time constants give decay shifts {shifts}: ToyChip has one shift per layer", neuron, "tau")
        shift = shifts[0]
    else:
        k = float(sem.dt) * r
    if len(errs.errors) > n_errors:
        return None
    c = thr.max() / thr
    fmt = dict(rounding=ROUNDINGS[opts["rounding"]])
    res = qreport.add(quantize_group(
        [Tensor("weight", w * (k * c)[:, None], NumberFormat(8, **fmt), node=weight, field="weight"),
         Tensor("threshold", [thr.max()], NumberFormat(16, lo=0, **fmt), node=neuron, field="v_threshold")],
        gain=opts["weight_scale"], name=neuron, node=neuron))
    q_thr = int(res["threshold"].q[0])
    if sem.threshold == ">=":
        if q_thr == 0:
            errs.add(f"the threshold rounds to 0 at gain {res.gain:g}: v >= 0 is not a ToyChip threshold", neuron,
                     "v_threshold")
            return None
        q_thr -= 1
    return ToyLayer(neuron, res["weight"].q, q_thr, shift), float(res.gain)


def lower(graph: Graph, spec: ToySpec, options) -> ToyProgram:
    """Graph -> ToyProgram (module docstring); NirccError(s) for what ToyChip cannot do."""
    g, sem = graph, options.semantics
    errs = ErrorCollector()
    opts = options.option_values(errs)
    errs.raise_if_any()
    inp, pairs = chain(g, errs)
    errs.raise_if_any()
    qreport = QuantizationReport()
    layers, gains, used, rows = [], {}, 0, []
    for weight, neuron in pairs:
        n, fan_in = int(np.prod(g.out_shape(neuron))), int(np.prod(g.in_shape(weight)))
        cores = -(-n // spec.neurons_per_core)
        used += cores
        if used > spec.cores:
            errs.add(f"{n} neurons need {cores} core(s) of {spec.neurons_per_core}: with the layers before, "
                     f"{used} of {spec.name}'s {spec.cores} cores", neuron, "neurons", code="capacity")
        if fan_in > spec.max_fan_in:
            errs.add(f"fan-in {fan_in} exceeds {spec.name}'s {spec.max_fan_in}", weight, "weight", code="capacity")
        got = layer(g, weight, neuron, sem, opts, qreport, errs)
        if got is not None:
            layers.append(got[0])
            gains[neuron] = got[1]
            rows.append({"name": neuron, "neurons": n, "cores": cores, "fan_in": fan_in,
                         "synapses": int(np.count_nonzero(got[0].weights))})
    errs.raise_if_any()
    options.diagnostics.extend(qreport.diagnostics(STAGE, tau_tolerance=float(opts["tau_tolerance"])))
    last, (out,) = layers[-1].name, g.outputs
    io = IOMap((Port(inp, g.out_shape(inp), inp),),
               (Port(out, g.out_shape(out), last, latency=len(layers) - 1),), layout="channels")
    meta = {"io": io.to_dict(), "gains": gains, "semantics": sem.to_dict(), "source": g.meta.get("source")}
    program = ToyProgram(layers, variant=spec.name, dt=sem.dt, meta=meta)
    program.validate(spec)
    program.report = {
        "resources": {"cores_used": used, "cores_available": spec.cores, "neurons": sum(x["neurons"] for x in rows),
                      "synapses": sum(x["synapses"] for x in rows), "layers": rows},
        "latency": io.latency, "quantization": {**qreport.to_dict(), "rounding": opts["rounding"]}}
    return program
