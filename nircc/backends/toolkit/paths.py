"""Synaptic paths between neuron populations: the graph analysis shared by the backends
whose synapses join two neuron populations (SpiNNaker2 projections, Loihi netx layers).

A *population* is an ``Input`` or a neuron node (``LIF``, ``IF``, ``LI``, ``I``,
``CubaLIF``, ``CubaLI``).  Every chain of stateless nodes from a population ``u`` into a
population ``v`` is one :class:`Route`, found by walking backwards from ``v`` through every
predecessor (fan-in and fan-out give one route per chain).  A route must read::

    u -> [Flatten | Delay]* -> [SumPool2d | AvgPool2d -> [Flatten]*] -> [weight] -> [Flatten | Delay]* -> v

with ``weight`` = Affine, Linear, Scale or Conv2d (:meth:`PathWalker.split`).  Flatten is an
index no-op (NIR flattens in C order, as population indices are).  ``back`` counts the
schedule's back edges on the chain: each is one step of delay in the reference simulator
(``docs/semantics.md``).  Delay nodes give ``delay / dt`` whole steps per element
(:func:`nircc.semantics.delay_steps`; a fractional delay is rounded with a warning; more
than ``2**53`` steps is an error).

Biases of Affine and Conv2d nodes reach the post population once per weight node and route
after it (NIR adds a node's output once per edge): :meth:`PathWalker.bias_of`.

A backend subclasses :class:`PathWalker` to set the wording of its messages (``CHIP``,
``UNIT``, ``SYNAPSE``, ``ONE_WEIGHT``, ``BIAS_FROM_START``) and its diagnostic ``STAGE``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...errors import Diagnostics, ErrorCollector
from ...ir import Graph
from ...ir.graph import NEURON_TYPES
from ...ir.shapes import pool_geometry
from ...semantics import delay_steps

POPULATION_TYPES = ("Input",) + NEURON_TYPES
WEIGHT_TYPES = ("Affine", "Linear", "Scale", "Conv2d")
POOL_TYPES = ("SumPool2d", "AvgPool2d")
PASS_TYPES = ("Flatten", "Delay")
MAP_TYPES = WEIGHT_TYPES + POOL_TYPES + PASS_TYPES
F64 = np.float64
#: the most steps a Delay may count: whole numbers of steps stay exact in float64 (and far
#: inside int64) below it
MAX_DELAY_STEPS = 2.0 ** 53


@dataclass(frozen=True)
class Route:
    """One chain of stateless nodes from population ``pre`` (None: a chain with no source)
    into population ``post``; ``nodes`` lists the chain, ``pre``'s side first."""

    pre: Optional[str]
    post: str
    nodes: tuple[str, ...]
    back: int


def size_of(g: Graph, n: str) -> int:
    """Number of elements of a node's output."""
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


def pooling(g: Graph, pool: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(pre index, post index, weight per pair) of a SumPool2d (1) or AvgPool2d (1 / area)."""
    geo = pool_geometry(g.op(pool))
    pre, post, _ = pool_pairs(tuple(g.in_shape(pool)), geo["kernel"], geo["stride"], geo["padding"])
    factor = 1.0 / (geo["kernel"][0] * geo["kernel"][1]) if g.type(pool) == "AvgPool2d" else 1.0
    return pre, post, factor


def compose_pooling(w: np.ndarray, pre: np.ndarray, post: np.ndarray, factor: float, n_pre: int) -> np.ndarray:
    """``W @ P`` as a contiguous ``[n_out, n_pre]`` matrix: a pooling (pairs ``pre -> post``,
    ``factor`` each) followed by the matrix ``w [n_out, n_pooled]``."""
    composed = np.zeros((n_pre, w.shape[0]), F64)
    np.add.at(composed, pre, w.T[post] * factor)
    return np.ascontiguousarray(composed.T)


def output_populations(g: Graph, errs: ErrorCollector, what: str) -> dict[str, str]:
    """Output node -> the neuron population it reads; an Output reading anything else (or
    several nodes) is an error ``reads '<node>' (<type>): <what>``."""
    outputs: dict[str, str] = {}
    for o in g.outputs:
        preds = g.predecessors(o)
        if len(preds) != 1 or g.type(preds[0]) not in NEURON_TYPES:
            found = ", ".join(f"'{p}' ({g.type(p)})" for p in preds) or "nothing"
            errs.add(f"reads {found}: {what}", o, code="output")
            continue
        outputs[o] = preds[0]
    return outputs


class PathWalker:
    """Routes into a population, their parts, delays and biases (module docstring)."""

    STAGE = "paths"
    CHIP = "the chip"                   # "... loops go through neurons"
    UNIT = "neuron population"          # "... has no <UNIT>"
    SYNAPSE = "a synapse"               # "<SYNAPSE> is [Flatten|Delay]* -> ..."
    ONE_WEIGHT = "a synapse carries one weight matrix"
    BIAS_FROM_START = "the chip's bias acts from step 0"

    def __init__(self, g: Graph, dt: float, errs: ErrorCollector, diags: Diagnostics) -> None:
        self.g, self.dt, self.errs, self.diags = g, dt, errs, diags
        self.back_edges = g.schedule().back_edges
        self._delays: dict[str, Optional[np.ndarray]] = {}
        self._bias_seen: set[tuple[str, tuple[str, ...]]] = set()

    # ------------------------------------------------------------------ walking
    def routes(self, post: str) -> list[Route]:
        """Every route into ``post`` (depth first, predecessors in graph order)."""
        g, out = self.g, []

        def rec(node: str, chain: tuple[str, ...], back: int) -> None:
            preds = g.predecessors(node)
            if node != post and not preds:
                out.append(Route(None, post, chain, back))
                return
            for p in preds:
                b = back + int((p, node) in self.back_edges)
                t = g.type(p)
                if t in POPULATION_TYPES:
                    out.append(Route(p, post, chain, b))
                elif t in MAP_TYPES:
                    if p in chain:
                        self.errs.add(f"a cycle through stateless nodes {list((p,) + chain)} has no {self.UNIT}: "
                                      f"{self.CHIP} loops go through neurons", p, code="map-cycle")
                        continue
                    rec(p, (p,) + chain, b)
                # other types have no mapping: the backend's type check names them

        rec(post, (), 0)
        return out

    # ------------------------------------------------------------------ delays
    def delay_of(self, node: str) -> Optional[np.ndarray]:
        """Per-element whole steps of a Delay node (flattened, int64), None after an error."""
        if node not in self._delays:
            g = self.g
            d = np.broadcast_to(np.asarray(g.op(node).delay, F64), g.in_shape(node)).reshape(-1)
            with np.errstate(over="ignore"):
                q = d / self.dt
            if not np.all(np.isfinite(d)) or np.any(d < 0):
                self.errs.add(f"delays must be finite and >= 0 seconds, got min {float(np.min(d)):g}", node, "delay",
                              code="delay")
                self._delays[node] = None
            elif d.size and not float(np.max(q)) < MAX_DELAY_STEPS:
                self.errs.add(f"delay {float(np.max(d)):g} s is {float(np.max(q)):.4g} steps of dt = {self.dt:g} s, "
                              "more than the 2**53 steps nircc counts exactly", node, "delay", code="delay")
                self._delays[node] = None
            else:
                steps, whole = delay_steps(d, self.dt)
                if not np.all(whole):
                    k = int(np.flatnonzero(~whole)[0])
                    self.diags.warn("delay-rounded", f"delay {d[k]:g} s is not a whole number of steps of dt = "
                                    f"{self.dt:g} s; rounded to {int(steps[k])} step(s)", node=node, field="delay",
                                    stage=self.STAGE)
                self._delays[node] = steps.astype(np.int64)
        return self._delays[node]

    def side_delay(self, nodes: tuple[str, ...], n: int) -> Optional[np.ndarray]:
        """Summed steps of the Delay nodes among ``nodes`` (int64 ``[n]``), None after an error."""
        total = np.zeros(n, np.int64)
        for m in nodes:
            if self.g.type(m) == "Delay":
                d = self.delay_of(m)
                if d is None:
                    return None
                total = total + d
        return total

    # ------------------------------------------------------------------ chains
    def split(self, r: Route) -> Optional[tuple[tuple[str, ...], Optional[str], Optional[str], tuple[str, ...]]]:
        """(before, pool, weight, after) of a route, or None after an error."""
        g, chain = self.g, r.nodes
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
            prev = chain[i - 1] if i else r.pre
            if g.type(bad) in WEIGHT_TYPES and weight is not None:
                why = (f"two weight nodes on one path ('{weight}', then '{bad}'): {self.ONE_WEIGHT} (fuse them, or "
                       "put neurons between them)")
            else:
                why = (f"{g.type(bad)} cannot follow '{prev}' ({g.type(prev) if prev else 'nothing'}) on a path: "
                       f"{self.SYNAPSE} is [Flatten|Delay]* -> [pooling] -> [one weight node] -> [Flatten|Delay]*")
            self.errs.add(f"{why} (path {r.pre!r} -> {r.post!r})", bad, code="path")
            return None
        return before, pool, weight, chain[start_after:]

    # ------------------------------------------------------------------ bias
    def bias_of(self, weight: Optional[str], after: tuple[str, ...], post: str) -> Optional[np.ndarray]:
        """The bias ``weight`` (an Affine or Conv2d) adds to ``post`` through the nodes
        ``after`` it (float64 ``[n_post]``), once per weight node and route; None when there
        is none or it was counted already.  A bias behind a nonzero Delay is a warning: the
        reference adds it after the delay, chips from step 0."""
        g = self.g
        if weight is None or g.type(weight) not in ("Affine", "Conv2d"):
            return None
        key = (weight, after + (post,))
        if key in self._bias_seen:
            return None
        self._bias_seen.add(key)
        b = np.asarray(g.op(weight).bias, F64)
        if not np.any(b):
            return None
        if g.type(weight) == "Conv2d":
            b = b.reshape(-1, 1, 1)
        b = np.broadcast_to(b, g.out_shape(weight)).reshape(-1)
        delays = [m for m in after if g.type(m) == "Delay" and self.delay_of(m) is not None and
                  np.any(self.delay_of(m))]
        if delays:
            self.diags.warn("bias-delayed", f"the bias of '{weight}' passes Delay {delays} on its way to '{post}': the "
                            f"reference adds it after the delay, {self.BIAS_FROM_START}", node=weight,
                            field="bias", stage=self.STAGE)
        return b


def warn_bias_lead(diags: Diagnostics, node: str, lag: int, stage: str, bias: str = "the bias",
                   via: str = "one step per synapse") -> None:
    """The one wording of a bias that runs ahead of the input: chips add a neuron's bias from
    their step 0, while the layer's first input arrives ``lag`` steps later (a step per
    synapse), so the membrane enters the reference's step 0 with ``lag`` steps of bias."""
    diags.warn("bias-lead", f"{bias} acts from the chip's step 0, {lag} step(s) before the first input arrives "
               f"({via}): the membrane enters the reference's step 0 with {lag} step(s) of bias", node=node,
               field="bias", stage=stage)
