"""nircc: compile NIR spiking neural networks to neuromorphic chips."""
from ._version import __version__
from .errors import Diagnostic, Diagnostics, NirccError, NirccErrors
from .ir import Graph, load, save

__all__ = ["__version__", "load", "save", "Graph", "NirccError", "NirccErrors", "Diagnostic", "Diagnostics"]
