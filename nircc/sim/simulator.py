"""The reference simulator: runs a :class:`~nircc.ir.Graph` step by step in float64.

One time step evaluates the nodes in :meth:`Graph.schedule` order.  A node's input is the
sum of its predecessors' outputs (summed in the graph's edge order); along a *back edge*
``(u, v)`` of the schedule, ``v`` reads ``u``'s output of the previous step (at the first
step: ``u``'s output at rest, see :meth:`Simulator.reset`), along every other edge the
output of the same step.  A node without predecessors (other than an Input) reads zeros.

Inputs are float64 arrays ``[T, B, *shape]`` per Input node (see :func:`coerce_inputs` for
what else is accepted); outputs are ``[T, B, *shape]`` per Output node.

Speed: the graph is compiled once into a flat list ``(slot, step, state, sources)``; a
step is one pass over that list with the values kept in a Python list indexed by slot, so
the per-step overhead is a few attribute-free operations per node and all arithmetic is
numpy, vectorised over neurons and batch (``benchmarks/bench_sim.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from ..errors import Diagnostics, NirccError
from ..ir.graph import Graph
from ..ir.load import load
from ..semantics import Semantics
from .registry import BuildContext, builder_for

Record = Union[bool, Sequence[str]]


@dataclass
class SimResult:
    """What :func:`simulate` returns.

    outputs:      Output name -> float64 ``[T, B, *shape]``
    states:       node -> {"output": [T, B, *out_shape], state name -> [T, B, *shape]}
                  for the recorded nodes (state values at the end of each step, i.e.
                  after a reset applied in that step)
    semantics:    the options used, ``dt`` resolved
    diagnostics:  how dt was chosen, approximations (e.g. a delay rounded to steps)
    """

    outputs: dict[str, np.ndarray]
    states: dict[str, dict[str, np.ndarray]]
    semantics: Semantics
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def dt(self) -> float:
        return float(self.semantics.dt)

    def flat_states(self) -> dict[str, np.ndarray]:
        """``states`` keyed ``"<node>/<state>"``, the scheme of every chip emulator's
        recorded states (:mod:`nircc.backends.io`)."""
        return {f"{node}/{name}": a for node, st in self.states.items() for name, a in st.items()}


def _as_graph(graph: Any) -> Graph:
    return graph if isinstance(graph, Graph) else load(graph)


def _input_array(name: str, x: Any, shape: tuple[int, ...], lead: str) -> np.ndarray:
    """``x`` as float64 with the leading axes ``lead`` ("TB" or "B") before ``shape``;
    one missing leading axis (the batch) is added with size 1."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise NirccError(f"input is not an array ({e})", node=name, field="input") from None
    expect = "[" + ", ".join(list(lead) + [str(n) for n in shape]) + "]"
    if a.dtype.kind not in "biuf":
        raise NirccError(f"input has dtype {a.dtype}; expected numbers (bool, int or float) of shape {expect}",
                         node=name, field="input")
    if a.ndim == len(shape) + len(lead) and tuple(a.shape[len(lead):]) == shape:
        pass
    elif a.ndim == len(shape) + len(lead) - 1 and tuple(a.shape[len(lead) - 1:]) == shape:
        a = np.expand_dims(a, len(lead) - 1)  # no batch axis: one sample
    else:
        alt = "[" + ", ".join(list(lead[:-1]) + [str(n) for n in shape]) + "]"
        raise NirccError(f"input has shape {list(a.shape)}; expected {expect} (or {alt} for one sample)",
                         node=name, field="input")
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise NirccError("input contains NaN or infinite values", node=name, field="input")
    return a


def coerce_inputs(graph: Graph, inputs: Any, lead: str = "TB") -> dict[str, np.ndarray]:
    """Check and convert the user's inputs: a dict Input name -> array, or a bare array
    when the graph has exactly one Input.  Each array is ``[T, B, *shape]`` (``lead="TB"``)
    or ``[B, *shape]`` (``lead="B"``, one step); an array without the batch axis is one
    sample (B = 1).  bool and integer arrays are converted to float64.  All inputs must
    agree on T and B.  Mistakes raise :class:`NirccError` naming the Input node and the
    expected shape."""
    names = graph.inputs
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise NirccError(f"the graph has {len(names)} Input nodes {names}; pass a dict name -> array",
                             field="input")
        inputs = {names[0]: inputs}
    missing = [n for n in names if n not in inputs]
    unknown = [n for n in inputs if n not in names]
    if unknown:
        raise NirccError(f"no Input node called {unknown[0]!r} (Input nodes: {names})", node=unknown[0],
                         field="input")
    if missing:
        raise NirccError(f"no data given for this Input node (shape {list(graph.out_shape(missing[0]))})",
                         node=missing[0], field="input")
    out = {n: _input_array(n, inputs[n], tuple(graph.out_shape(n)), lead) for n in names}
    first = names[0] if names else None
    for n in names[1:]:
        if out[n].shape[:len(lead)] != out[first].shape[:len(lead)]:
            raise NirccError(f"input has leading axes {list(out[n].shape[:len(lead)])} ({lead}) but "
                             f"{first!r} has {list(out[first].shape[:len(lead)])}", node=n, field="input")
    return out


class Simulator:
    """Stepping API of the reference simulator (streaming; :func:`simulate` runs whole
    sequences with it).

    >>> sim = Simulator(graph, batch=4, dt=1e-3)            # doctest: +SKIP
    >>> y_t = sim.step({"input": x_t})                      # x_t: [4, *shape]
    >>> sim.state["lif1"]["v"]                              # [4, *shape], end of step

    ``dt`` (seconds) overrides ``semantics.dt``; when both are None it is resolved from
    the file (:func:`nircc.semantics.resolve_dt`).  ``semantics`` defaults to the preset of
    the exporter detected from the file, else NIR's defaults
    (:func:`nircc.provenance.resolve_semantics`); ``resolved`` says which and why, and
    ``diagnostics`` explains the choices made.
    """

    def __init__(self, graph: Any, batch: int = 1, dt: Optional[float] = None,
                 semantics: Union[None, str, Semantics, dict] = None):
        from ..provenance import resolve_semantics

        g = _as_graph(graph)
        if int(batch) < 1:
            raise NirccError(f"batch must be >= 1, got {batch}", field="batch")
        self.resolved = resolve_semantics(g, semantics, dt)
        self.graph = self.resolved.graph
        self.batch = int(batch)
        self.semantics = self.resolved.semantics
        self.diagnostics = self.resolved.diagnostics.copy()
        self._compile()
        self.reset()

    # ------------------------------------------------------------------ build
    def _compile(self) -> None:
        g = self.graph
        order = g.schedule().order
        slot = {n: k for k, n in enumerate(order)}
        self._slot = slot
        self._inputs = [(n, slot[n]) for n in order if g.type(n) == "Input"]
        self._outputs = [(n, slot[n]) for n in order if g.type(n) == "Output"]
        self._kernels: dict[str, Any] = {}
        plan = []
        self._zero_inputs: list[tuple[int, tuple[int, ...]]] = []
        n_slots = len(order)
        for n in order:
            t = g.type(n)
            if t == "Input":
                continue
            in_shape, out_shape = g.in_shape(n), g.out_shape(n)
            if in_shape is None or out_shape is None:
                raise NirccError("the node's shapes are unknown; the simulator needs them", node=n, field="input")
            for u in g.predecessors(n):
                got = g.out_shape(u)
                if got is None or tuple(got) != tuple(in_shape):
                    raise NirccError(f"its source {u!r} gives shape {list(got) if got is not None else 'unknown'}, "
                                     f"but it takes {list(in_shape)}", node=n, field="input")
            ctx = BuildContext(n, g.op(n), t, tuple(in_shape), tuple(out_shape), self.semantics.dt,
                               self.semantics, self.diagnostics)
            kernel = builder_for(t, n)(ctx)
            self._kernels[n] = kernel
            preds = [slot[u] for u in g.predecessors(n)]
            if not preds:  # reads zeros: a slot of its own
                self._zero_inputs.append((n_slots, tuple(in_shape)))
                src: Union[int, tuple[int, ...]] = n_slots
                n_slots += 1
            elif len(preds) == 1:
                src = preds[0]
            else:
                src = tuple(preds)
            plan.append((slot[n], kernel.step, n, src))
        self._plan_template = plan
        self._n_slots = n_slots

    def reset(self) -> None:
        """Initial state (docs/semantics.md "Initial state").

        What back edges carry at step 0 is the graph's output *at rest*, a virtual step -1:
        Inputs give zeros, stateful nodes their ``rest`` output (no spikes, an LI's initial
        voltage, a Delay zeros), stateless nodes their usual map of that (an Affine its
        bias) -- evaluated in schedule order, back edges inside this virtual step read zeros.
        """
        g, b = self.graph, self.batch
        at_rest: list = [None] * self._n_slots
        for n, k in self._slot.items():
            at_rest[k] = np.zeros((b,) + tuple(g.out_shape(n)))
        for k, shape in self._zero_inputs:
            at_rest[k] = np.zeros((b,) + shape)
        self._states = {n: kern.init(b) for n, kern in self._kernels.items()}
        for k, step, n, src in self._plan_template:
            kern, st = self._kernels[n], self._states[n]
            if kern.rest is not None:
                at_rest[k] = kern.rest(st)
            else:
                srcs = (src,) if src.__class__ is int else src
                x = at_rest[srcs[0]]
                for j in srcs[1:]:
                    x = x + at_rest[j]
                at_rest[k] = step(x, st)
        self._vals = at_rest
        self._plan = [(k, step, self._states[n], src) for k, step, n, src in self._plan_template]
        self.t = 0

    # ------------------------------------------------------------------ run
    def _advance(self) -> None:
        vals = self._vals
        for k, step, st, src in self._plan:
            if src.__class__ is int:
                vals[k] = step(vals[src], st)
            else:
                x = vals[src[0]] + vals[src[1]]
                for j in src[2:]:
                    x = x + vals[j]
                vals[k] = step(x, st)
        self.t += 1

    def step(self, inputs_t: Any) -> dict[str, np.ndarray]:
        """Advance one step.  ``inputs_t``: Input name -> ``[B, *shape]`` (or a bare array
        for a single Input).  Returns Output name -> ``[B, *shape]`` (do not modify)."""
        arrays = coerce_inputs(self.graph, inputs_t, lead="B")
        for n, k in self._inputs:
            a = arrays[n]
            if a.shape[0] != self.batch:
                raise NirccError(f"input has batch size {a.shape[0]}, the simulator was built for {self.batch}",
                                 node=n, field="input")
            self._vals[k] = a
        self._advance()
        return {n: self._vals[k] for n, k in self._outputs}

    @property
    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """node -> {state name -> [B, *shape]} after the last step (arrays are replaced,
        not modified, by later steps; do not write into them)."""
        return {n: {k: v for k, v in st.items() if not k.startswith("_")}
                for n, st in self._states.items() if any(not k.startswith("_") for k in st)}

    def run(self, inputs: Any, record: Record = False) -> SimResult:
        """Run ``[T, B, *shape]`` inputs from the current state (call :meth:`reset` first
        for a fresh run); ``record`` True or a list of node names records states."""
        arrays = coerce_inputs(self.graph, inputs, lead="TB")
        if not arrays:
            raise NirccError("the graph has no Input node", field="input")
        steps, batch = next(iter(arrays.values())).shape[:2]
        if batch != self.batch:
            raise NirccError(f"inputs have batch size {batch}, the simulator was built for {self.batch}",
                             field="input")
        g = self.graph
        outs = {n: np.zeros((steps, batch) + tuple(g.out_shape(n))) for n, _ in self._outputs}
        rec_nodes = self._recorded(record)
        recs: dict[str, dict[str, np.ndarray]] = {}
        rec_plan = []
        for n in rec_nodes:
            k = self._slot[n]
            recs[n] = {"output": np.zeros((steps, batch) + tuple(g.out_shape(n)))}
            rec_plan.append((recs[n]["output"], None, k))
            for name, val in self._states.get(n, {}).items():
                if not name.startswith("_"):
                    recs[n][name] = np.zeros((steps,) + val.shape)
                    rec_plan.append((recs[n][name], self._states[n], name))
        in_slots = [(k, arrays[n]) for n, k in self._inputs]
        out_slots = [(k, outs[n]) for n, k in self._outputs]
        vals = self._vals
        for t in range(steps):
            for k, a in in_slots:
                vals[k] = a[t]
            self._advance()
            for k, buf in out_slots:
                buf[t] = vals[k]
            for buf, st, key in rec_plan:
                buf[t] = vals[key] if st is None else st[key]
        return SimResult(outs, recs, self.semantics, self.diagnostics.copy())

    def _recorded(self, record: Record) -> list[str]:
        if record is True:
            return list(self._slot)
        if record is False or record is None:
            return []
        if isinstance(record, str):
            record = [record]
        names = list(record)
        unknown = [n for n in names if n not in self._slot]
        if unknown:
            raise NirccError(f"cannot record {unknown[0]!r}: no such node", node=unknown[0], field="record")
        return names


def simulate(graph: Any, inputs: Any, dt: Optional[float] = None, semantics: Union[None, str, Semantics, dict] = None,
             record: Record = False) -> SimResult:
    """Run the reference simulator on whole sequences.

    graph:      a :class:`~nircc.ir.Graph` (or a path / ``nir.NIRGraph``, loaded first)
    inputs:     Input name -> ``[T, B, *shape]`` (bare array for a single Input; an array
                without the batch axis is one sample: B = 1); bool/int/float
    dt:         seconds; overrides ``semantics.dt``; None: resolved from the file
    semantics:  a preset name, a :class:`~nircc.semantics.Semantics` or a dict of its options
                (:meth:`~nircc.semantics.Semantics.coerce`; default: the detected exporter's
                preset, else NIR's defaults: :func:`nircc.provenance.resolve_semantics`)
    record:     True (every node) or node names: also return per-step states
    """
    g = _as_graph(graph)
    arrays = coerce_inputs(g, inputs, lead="TB")
    batch = next(iter(arrays.values())).shape[1] if arrays else 1
    sim = Simulator(g, batch=batch, dt=dt, semantics=semantics)
    return sim.run(arrays, record=record)
