"""The registry of step functions: one builder per NIR node type.

A node type is supported by one function that turns the node into a :class:`Kernel`::

    @register("LIF")
    def lif(ctx: BuildContext) -> Kernel:
        a = ...                                  # coefficients, computed once, float64
        def step(x, s):                          # one time step
            v = a * s["v"] + x
            s["v"] = v
            return (v > 1).astype(np.float64)
        return Kernel(step, lambda batch: {"v": np.zeros((batch,) + ctx.out_shape)})

Contract of ``step(x, s) -> y`` (the simulator records and passes arrays on without
copying them, so these rules keep every recorded value intact):

* ``x`` is the node's input of this step, float64 ``[B, *in_shape]``: never write into it;
* ``s`` is the node's state dict, made by ``Kernel.init(batch)``.  Public entries are arrays
  ``[B, *shape]`` that are recorded and exposed; *replace* them (``s["v"] = new``), never
  write into an array already stored.  Entries whose name starts with ``_`` are private
  (buffers, counters) and may be updated in place;
* the returned array (float64 ``[B, *out_shape]``) must never be written to afterwards;
* a node with state also gives ``rest(state)``, its output before the first step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import Diagnostics, NirccError
from ..semantics import Semantics

StepFn = Callable[[np.ndarray, dict], np.ndarray]


@dataclass(frozen=True)
class BuildContext:
    """What a builder may use: the node, its shapes, the resolved dt and semantics, and a
    place for diagnostics (approximations such as a delay rounded to whole steps)."""

    node: str
    op: object
    type: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dt: float
    semantics: Semantics
    diagnostics: Diagnostics

    def param(self, field: str) -> np.ndarray:
        """A parameter as a float64 array (broadcastable to the node's shape)."""
        return np.asarray(getattr(self.op, field), dtype=np.float64)

    def error(self, message: str, field: str) -> NirccError:
        return NirccError(message, node=self.node, field=field)


@dataclass(frozen=True)
class Kernel:
    """A built node: ``step(x, state) -> y`` and ``init(batch) -> state`` (a fresh dict).

    ``rest(state) -> y`` is the output of a *stateful* node before the first step (what it
    emits at rest: no spikes, an LI its initial voltage, a Delay zeros); it defines what
    recurrent (back) edges carry at step 0.  Stateless nodes leave it ``None``: their
    output at rest is ``step`` applied to their input at rest (an Affine gives its bias).
    """

    step: StepFn
    init: Callable[[int], dict]
    rest: Optional[Callable[[dict], np.ndarray]] = None


Builder = Callable[[BuildContext], Kernel]
_BUILDERS: dict[str, Builder] = {}


def register(node_type: str) -> Callable[[Builder], Builder]:
    """Decorator: ``@register("LIF")`` makes the function the builder of LIF nodes."""

    def deco(fn: Builder) -> Builder:
        if node_type in _BUILDERS:
            raise ValueError(f"a simulator builder for {node_type!r} is already registered")
        _BUILDERS[node_type] = fn
        return fn

    return deco


def builder_for(node_type: str, node: str) -> Builder:
    try:
        return _BUILDERS[node_type]
    except KeyError:
        raise NirccError(f"the reference simulator has no step function for {node_type} nodes "
                         f"(supported: {', '.join(sorted(_BUILDERS))})", node=node, field="type") from None


def registered_types() -> tuple[str, ...]:
    return tuple(sorted(_BUILDERS))


def zeros(batch: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros((batch,) + tuple(shape), dtype=np.float64)
