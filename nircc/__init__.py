"""nircc: compile NIR spiking neural networks to neuromorphic chips.

    result = nircc.compile("model.nir", target="xylo")
    result.save("out/")                       # the chip artifact + report.json
    result.fidelity(result.probe_inputs())    # float reference vs chip emulator
"""
from ._version import __version__
from .compiler import CompileOptions, CompileResult, compile
from .errors import Diagnostic, Diagnostics, NirccError, NirccErrors
from .ir import Graph, load, save
from .semantics import Semantics
from .sim import simulate

__all__ = ["__version__", "load", "save", "compile", "simulate", "Graph", "Semantics", "CompileResult",
           "CompileOptions", "NirccError", "NirccErrors", "Diagnostic", "Diagnostics"]
