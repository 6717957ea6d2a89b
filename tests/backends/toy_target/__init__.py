"""ToyChip: a fifth target that lives outside nircc (issue 15), dense layers of integer LIF
neurons on a few cores, registered by one line (``backends.register("toy", ToyTarget)``).

* ``spec.py``      the variants and every number format;
* ``program.py``   :class:`~.program.ToyProgram` (layers of int8 weights, int16 threshold,
                   decay shift), lossless JSON with the common header;
* ``lower.py``     graph -> program, ``OPTIONS``;
* ``emit.py``      ``toy.json`` and ``load_program``;
* ``emulator.py``  the bit-accurate integer update.

``README.md`` beside this file documents the chip and its options.
"""
from __future__ import annotations


from nircc.backends.base import Target

from .emulator import ToyEmulator
from .lower import OPTIONS
from .spec import CAPABILITIES, DEFAULT_VARIANT, VARIANTS


class ToyTarget(Target):
    """ToyChip (tests/backends/toy_target/README.md).  ``spec``, ``lower``, ``emit`` and ``load`` are the
    base's: they call this folder's ``spec.get_spec``, ``lower.lower``, ``emit.emit`` and
    ``emit.load_program``."""

    name = "toy"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    options = OPTIONS
    label = "ToyChip"
    description = "ToyChip: dense layers of integer LIF neurons (int8 weights, int16 membranes), a test target"
    capabilities = CAPABILITIES

    emulator_class = ToyEmulator
