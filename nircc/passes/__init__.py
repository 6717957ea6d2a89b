"""The compiler middle end: ``Graph -> Graph`` passes over :class:`nircc.ir.Graph`.

* :class:`PassManager` runs named passes with validation after each, ``dump_after`` and
  ``time_passes`` (:mod:`.manager`);
* shared passes: :func:`infer_shapes`, :func:`canonicalize`, :func:`fuse_affine`,
  :class:`QuantizeWeights` (quantization studied in the reference simulator);
  :data:`SHARED_PASSES` maps the names of the first three to them.

What lowerings share below the backend contract (quantization, resource mapping, the route
walker) is :mod:`nircc.backends.toolkit`.
"""
from .canonicalize import canonicalize
from .fuse_affine import fuse_affine
from .infer_shapes import infer_shapes
from .manager import (Pass, PassManager, PassMutationError, PassRecord, PassVerificationError, PipelineResult,
                      as_pass, fingerprint)
from .quantize_weights import QuantizeWeights

#: The shared passes by name (what targets compose and the CLI can name).
SHARED_PASSES = {"infer_shapes": infer_shapes, "canonicalize": canonicalize, "fuse_affine": fuse_affine}

__all__ = [
    "Pass", "PassManager", "PassRecord", "PipelineResult", "PassVerificationError", "PassMutationError",
    "as_pass", "fingerprint", "SHARED_PASSES",
    "infer_shapes", "canonicalize", "fuse_affine",
    "QuantizeWeights",
]
