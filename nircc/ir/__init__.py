"""nircc's graph representation and its NIR front end (see ``graph``, ``load``)."""
from .graph import AFFINE_TYPES, NEURON_TYPES, NODE_TYPES, SPIKING_TYPES, STATEFUL_TYPES, Graph, Schedule, type_name
from .load import load
from .save import save
from .validate import check, validate

__all__ = ["Graph", "Schedule", "load", "save", "validate", "check", "NODE_TYPES", "STATEFUL_TYPES",
           "SPIKING_TYPES", "AFFINE_TYPES", "NEURON_TYPES", "type_name"]
