"""Legalizations: Graph -> Graph rewrites into an exactly equivalent form that a target can
run, chosen from what the target declares it can do
(:class:`~nircc.backends.capabilities.Capabilities`).  Each is derived in docs/semantics.md
("Legalizations") and tested against the float reference: the rewritten graph computes the
same outputs as the original, to float rounding.

Bias sources (:func:`bias_sources`)
===================================
NIR's ``Affine`` adds its bias ``b`` to what it passes on; into a ``CubaLIF`` / ``CubaLI``
that is the synaptic current: ``I`` integrates ``w_in (W x + b)`` every step and the
membrane sees the bias only through ``I``'s filter.  A chip whose bias enters the membrane
(``capabilities.bias == "membrane"``: Xylo, Loihi, SpiNNaker2) can only approximate that
(a steady-state bias on ``v`` from step 0), and the bias shares the layer's number format,
where it can cap the gain of every weight (Xylo's int8 bias).

The exact form: a source that emits one event at every step, with weight ``b`` into the
same current.  ``W x + b = [W | b] [x; 1]``: widening the Input ``x`` by one channel that is
always 1 and giving the Affine the column ``b`` (its bias set to zero) computes the same
sum at every step, in every discretization (the rewrite is linear and happens before any
state).  The summed bias of all the Affines into the neuron goes into the one fed by the
Input.  The chip sees an ordinary input channel and an ordinary weight; ``IOMap.constants``
records the channel, ``Target.run`` drives it, and a board must drive it too.  Where the
bias is larger than the Affine's largest weight it is split over ``k`` channels (``b/k``
each, ``k = ceil(max|b| / max|W|)``, at most :data:`MAX_CHANNELS`, fewer where the chip has
no room), so that the bias column does not cap the gain of the matrix it joins.

Applied to each ``CubaLIF`` / ``CubaLI`` whose inputs carry a non-zero bias, when one of
its Affines reads a 1-D ``Input`` alone, feeds only that neuron, and every reader of that
Input is an Affine or Linear with a 2-D weight (they gain a zero column), and the widened
Input still fits the chip (``input_capacity``).  Other biases stay as they are (the
lowering's own approximation, with its warning).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..backends.options import Option
from ..errors import ErrorCollector
from ..ir import Graph
from ..ir import nir_compat as nir

SYNAPTIC = ("CubaLIF", "CubaLI")
#: graph.meta key: Input name -> number of always-on channels appended to it
CONSTANT_INPUTS = "constant_inputs"
#: at most this many always-on channels per Input
MAX_CHANNELS = 8
#: the target option of every target whose bias enters the membrane (its OPTIONS table lists it)
BIAS_SOURCE_OPTION = Option("bias_source", True, "biases into synaptic currents on always-on input channels "
                            "(true, exact) or in the chip's bias (false, its steady state from step 0)",
                            "choice", (True, False))


def _matrix(g: Graph, n: str) -> bool:
    """An Affine or Linear with a 2-D weight."""
    return g.type(n) in ("Affine", "Linear") and np.ndim(g.op(n).weight) == 2


def _bias(g: Graph, n: str) -> np.ndarray:
    if g.type(n) != "Affine":
        return np.zeros(np.asarray(g.op(n).weight).shape[0])
    return np.asarray(g.op(n).bias, dtype=np.float64).reshape(-1)


def bias_sources(graph: Graph, capabilities: Any = None, input_capacity: Optional[int] = None) -> Graph:
    """``graph`` with the biases into synaptic currents moved onto always-on input channels
    (module docstring); ``graph`` itself when nothing applies."""
    if capabilities is None or getattr(capabilities, "bias", None) != "membrane" or \
            not any(t in getattr(capabilities, "nodes", ()) for t in SYNAPTIC):
        return graph
    g0 = graph
    back = g0.schedule().back_edges
    plans: list[tuple[str, str, str, np.ndarray, list[str]]] = []   # (neuron, affine, input, bias, biased)
    for n in g0.schedule().order:
        if g0.type(n) not in SYNAPTIC:
            continue
        preds = g0.predecessors(n)
        if not preds or not all(_matrix(g0, p) for p in preds):
            continue
        biased = [p for p in preds if g0.type(p) == "Affine" and np.any(_bias(g0, p) != 0)]
        if not biased or any(g0.successors(p) != [n] for p in biased):    # a bias others read stays
            continue
        total = np.sum([_bias(g0, p) for p in biased], axis=0)
        feeder = next((p for p in preds if (p, n) not in back and g0.successors(p) == [n]
                       and len(g0.predecessors(p)) == 1 and g0.type(g0.predecessors(p)[0]) == "Input"), None)
        if feeder is None:
            continue
        x = g0.predecessors(feeder)[0]
        shape = g0.out_shape(x)
        if shape is None or len(shape) != 1 or not all(_matrix(g0, s) for s in g0.successors(x)):
            continue
        plans.append((n, feeder, x, total, biased))
    if not plans:
        return graph
    # k always-on channels per Input: the bias split over k columns, so that no column is
    # larger than the feeder's largest weight (a larger one would cap the gain of every
    # weight of that matrix when the chip quantizes it); one channel per Input at least
    widen: dict[str, int] = {}
    for n, feeder, x, total, _ in plans:
        wmax = float(np.abs(np.asarray(g0.op(feeder).weight)).max())
        k = 1 if wmax <= 0 else max(1, int(np.ceil(float(np.abs(total).max()) / wmax - 1e-9)))
        widen[x] = max(widen.get(x, 0), min(k, MAX_CHANNELS))
    used = sum(int(np.prod(g0.out_shape(i))) for i in g0.inputs)
    if input_capacity is not None and used + sum(widen.values()) > input_capacity:
        room = input_capacity - used
        if room < len(widen):
            g = g0.copy()
            g.diagnostics.info("bias-source-skipped", f"an always-on input channel would exceed the chip's "
                               f"{input_capacity} input channels: the biases stay in the Affines (the lowering "
                               "approximates them)", plans[0][0], "bias", "legalize")
            return g
        while sum(widen.values()) > room:                  # fewer channels: larger columns
            big = max(widen, key=lambda i: (widen[i], i))
            widen[big] -= 1
    g = g0.copy()
    new_cols: dict[str, np.ndarray] = {}
    for n, feeder, x, total, biased in plans:
        new_cols[feeder] = np.repeat(total[:, None] / widen[x], widen[x], axis=1)
        for p in biased:
            if p != feeder:
                g.set_op(p, nir.Linear(weight=np.asarray(g.op(p).weight)))
    for x, k in widen.items():
        size = int(g0.out_shape(x)[0])
        g.set_op(x, nir.Input(input_type={"input": np.array([size + k])}), in_shape=(size + k,),
                 out_shape=(size + k,))
        for s in g0.successors(x):
            w = np.asarray(g0.op(s).weight, dtype=np.float64)      # float64, as fused nodes are
            cols = new_cols.get(s, np.zeros((w.shape[0], k)))
            g.set_op(s, nir.Linear(weight=np.concatenate([w, cols], axis=1)), in_shape=(size + k,),
                     out_shape=(w.shape[0],))
    for n, feeder, x, total, biased in plans:
        size, k = int(g0.out_shape(x)[0]), widen[x]
        where = f"channel {size}" if k == 1 else f"channels {size}..{size + k - 1}, 1/{k} of it each"
        g.diagnostics.info("bias-source", f"the bias into {n}'s synaptic current ({', '.join(biased)}; largest "
                           f"|b| {float(np.abs(total).max()):.6g}) enters through always-on input '{x}' ({where}; "
                           "one event every step) with weights = the bias: exact, and the bias no longer "
                           "shares the layer's number format", n, "bias", "legalize")
    g.meta[CONSTANT_INPUTS] = {**dict(g0.meta.get(CONSTANT_INPUTS, {})), **widen}
    return g


@dataclass(frozen=True)
class BiasSources:
    """The :func:`bias_sources` pass for one target (its capabilities and input capacity);
    a no-op with the target option ``bias_source=false``."""

    capabilities: Any
    input_capacity: Optional[int] = None
    enabled: bool = True
    name: str = "bias_sources"

    @classmethod
    def for_target(cls, target: Any, options: Any) -> "BiasSources":
        enabled = True
        if options is not None and hasattr(options, "option_values"):
            # a bad option value is the lowering's error to report (with the graph's)
            enabled = options.option_values(ErrorCollector()).get("bias_source", True) is not False
        return cls(target.capabilities, target.input_capacity(getattr(options, "variant", None)), enabled)

    def __call__(self, graph: Graph) -> Graph:
        return bias_sources(graph, self.capabilities, self.input_capacity) if self.enabled else graph


__all__ = ["bias_sources", "BiasSources", "BIAS_SOURCE_OPTION", "CONSTANT_INPUTS"]
