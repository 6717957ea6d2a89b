"""The compiler middle end: passes over :class:`nircc.ir.Graph` and the frameworks
backends build on.

* :class:`PassManager` runs named ``Graph -> Graph`` passes with validation after each,
  ``dump_after`` and ``time_passes`` (:mod:`.manager`);
* shared passes: :func:`infer_shapes`, :func:`canonicalize`, :func:`fuse_affine`,
  :class:`QuantizeWeights`; :data:`SHARED_PASSES` maps their names to them;
* :mod:`.quantize`: number formats, scale groups, decay quantizers, reports;
* :mod:`.map_resources`: cores, populations, the mapper and its report.
"""
from .canonicalize import canonicalize
from .fuse_affine import fuse_affine
from .infer_shapes import infer_shapes
from .manager import (Pass, PassManager, PassMutationError, PassRecord, PassVerificationError, PipelineResult,
                      as_pass, fingerprint)
from .map_resources import (Core, MappingError, Placement, Population, ResourceMapping, format_amount, linear_cost,
                            map_resources)
from .quantize import (ROUNDING, DecayResult, GroupResult, NumberFormat, QuantizationReport, QuantizedTensor,
                       QuantizeWeights, Tensor, bitshift_decay, effective_tau, linear_decay, quantize_group,
                       quantize_tensor)

#: The shared passes by name (what targets compose and the CLI can name).
SHARED_PASSES = {"infer_shapes": infer_shapes, "canonicalize": canonicalize, "fuse_affine": fuse_affine}

__all__ = [
    "Pass", "PassManager", "PassRecord", "PipelineResult", "PassVerificationError", "PassMutationError",
    "as_pass", "fingerprint", "SHARED_PASSES",
    "infer_shapes", "canonicalize", "fuse_affine",
    "ROUNDING", "NumberFormat", "Tensor", "QuantizedTensor", "GroupResult", "DecayResult", "QuantizationReport",
    "QuantizeWeights", "quantize_group", "quantize_tensor", "bitshift_decay", "linear_decay", "effective_tau",
    "Core", "MappingError", "Population", "Placement", "ResourceMapping", "format_amount", "linear_cost",
    "map_resources",
]
