"""The SynSense Speck family (Speck 2f, Speck 2e, DYNAP-CNN devkit): spiking CNNs on 9 cores.

* ``spec.py``      limits, per-core memories and number formats per variant, with sources;
* ``program.py``   :class:`~nircc.backends.speck.program.SpeckProgram`, the chip's integers
                   and routing (what the lowering produces and the emitter writes);
* ``routes.py``    the graph side of the lowering: routes from each source, the cores
                   (one per IF) and the square kernel that realises each;
* ``lower.py``     NIR graph -> program: neuron parameters, quantization, relay cores,
                   the program, its I/O map and report (the rules: docs/targets/speck.md);
* ``placement.py`` per-core limits, destinations, ``layer2core`` and core placement;
* ``emit.py``      the samna configuration as JSON, the lossless program, ``to_sdk``;
* ``emulator.py``  two emulators of a program: ``event`` (the chip's event-driven,
                   depth-first rule) and ``binned`` (sinabs' time-stepped ``IAFSqueeze``).

:class:`SpeckTarget` (registered as ``"speck"``) ties them to the compiler.
"""
from __future__ import annotations

from typing import Any, Optional

from ..base import Emulator, Target, check_emulator_options
from . import emulator as _emu
from .lower import OPTIONS
from .program import SpeckProgram
from .spec import CAPABILITIES, DEFAULT_VARIANT, VARIANTS


class SpeckTarget(Target):
    """Speck 2f (default), Speck 2e, DYNAP-CNN: see docs/targets/speck.md."""

    name = "speck"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    options = OPTIONS
    label = "Speck"
    capabilities = CAPABILITIES
    description = "SynSense Speck / DYNAP-CNN: convolutional SNNs on 9 event-driven CNN cores"

    def emulator(self, program: SpeckProgram, mode: Optional[str] = None, **options: Any) -> Emulator:
        """The emulator of ``program``: ``mode`` (default: the compile option ``mode``) and
        its options (``order``, ``overflow`` for event; ``spike`` for binned), defaulting to
        the compile options recorded in the program."""
        rec = dict(program.meta.get("emulator", {}))
        mode = mode or rec.get("mode", "event")
        keys = ("order", "overflow") if mode == "event" else ("spike",)
        check_emulator_options(f"Speck {mode}", keys, options)
        opts = {k: rec[k] for k in keys if k in rec}
        opts.update(options)
        return _emu.emulator(program, mode, **opts)

    def summary(self, program: SpeckProgram) -> str:
        res = self.report(program).get("resources", {})
        lines = [f"  cores used: {res.get('cores_used')} of {res.get('cores_available')} "
                 f"(input: {res.get('input')}, relays: {res.get('relays')})"]
        util = res.get("utilization", {})
        for name, info in res.get("layers", {}).items():
            u = util.get(str(info["core"]), {})
            lines.append(f"  core {info['core']}: {name:<14} {info['input_shape']} -> {info['output_shape']} "
                         f"k{info['kernel']} thr {info['threshold_high']}  kernel {u.get('kernel', 0):.0%} "
                         f"neuron {u.get('neuron', 0):.0%}")
        return "\n".join(lines)


__all__ = ["SpeckTarget"]
