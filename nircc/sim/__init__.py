"""nircc's float reference simulator: the golden model every backend is judged against.

``simulate(graph, inputs, dt=None, semantics=None, record=False) -> SimResult`` runs whole
sequences; :class:`Simulator` steps one time step at a time (streaming).  The semantics of
every node type are in ``docs/semantics.md``; the options NIR files do not carry are
:class:`nircc.semantics.Semantics`.  A new node type is one builder registered with
``@register("Type")`` (see :mod:`nircc.sim.registry`).
"""
from . import layers, neurons  # the step functions of every node type (registered on import)
from .registry import BuildContext, Kernel, register, registered_types
from .simulator import SimResult, Simulator, coerce_inputs, simulate

__all__ = ["simulate", "Simulator", "SimResult", "coerce_inputs", "register", "registered_types",
           "BuildContext", "Kernel", "layers", "neurons"]
