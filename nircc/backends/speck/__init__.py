"""The SynSense Speck family (Speck 2f, Speck 2e, DYNAP-CNN devkit): spiking CNNs on 9 cores.

* ``spec.py``      limits, per-core memories and number formats per variant, with sources;
* ``program.py``   :class:`~nircc.backends.speck.program.SpeckProgram`, the chip's integers
                   and routing (what the lowering produces and the emitter writes);
* ``lower.py``     NIR graph -> program (layers, quantization, core mapping, routing);
* ``emit.py``      the samna configuration as JSON, the lossless program, ``to_sdk``;
* ``emulator.py``  two emulators of a program: ``event`` (the chip's event-driven,
                   depth-first rule) and ``binned`` (sinabs' time-stepped ``IAFSqueeze``).

:class:`SpeckTarget` (registered as ``"speck"``) ties them to the compiler.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...errors import NirccError
from ...passes import canonicalize, fuse_affine, infer_shapes
from ..base import Emulator, EmulatorResult, Target, register
from . import emit as _emit
from . import emulator as _emu
from .lower import OPTIONS
from .lower import lower as _lower
from .program import SpeckProgram
from .spec import DEFAULT_VARIANT, VARIANTS, SpeckSpec, get_spec


class SpeckTarget(Target):
    """Speck 2f (default), Speck 2e, DYNAP-CNN: see docs/targets/speck.md."""

    name = "speck"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    option_names = tuple(OPTIONS)
    label = "Speck"
    semantics_rules = {"reset_timing": ("immediate",), "initial_v": ("zero",)}
    rule_words = {("reset_timing", "immediate"): "in the spike's event", ("initial_v", "zero"): "v = 0 at the start"}
    description = "SynSense Speck / DYNAP-CNN: convolutional SNNs on 9 event-driven CNN cores"

    def spec(self, variant: Optional[str] = None) -> SpeckSpec:
        return get_spec(self.resolve_variant(variant))

    def pipeline(self, options: Any) -> list:
        return [infer_shapes, canonicalize, fuse_affine]

    def lower(self, graph, spec: SpeckSpec, options) -> SpeckProgram:
        return _lower(graph, spec, options)

    def emit(self, program: SpeckProgram, out_dir: Path) -> list[Path]:
        return _emit.emit(program, out_dir)

    def emulator(self, program: SpeckProgram, mode: Optional[str] = None, **options: Any) -> Emulator:
        """The emulator of ``program``: ``mode`` (default: the compile option ``mode``) and
        its options (``order``, ``overflow`` for event; ``spike`` for binned), defaulting to
        the compile options recorded in the program."""
        rec = dict(program.meta.get("emulator", {}))
        mode = mode or rec.get("mode", "event")
        keys = ("order", "overflow") if mode == "event" else ("spike",)
        opts = {k: rec[k] for k in keys if k in rec}
        opts.update(options)
        return _emu.emulator(program, mode, **opts)

    def run(self, program: SpeckProgram, inputs: dict[str, np.ndarray], record: bool = False,
            mode: Optional[str] = None, **options: Any) -> EmulatorResult:
        """NIR-shaped input counts ``[T, B, *shape]`` -> the emulator -> outputs per NIR Output
        ``[T, B, *shape]`` (int32 spike counts; a Linear read-out's ``[F, 1, 1]`` reshaped to
        ``[F]``).  ``record``: states and unpooled spikes per layer (emulator docstring)."""
        nir = program.meta.get("nir", {})
        name = nir.get("input")
        if name is None or set(inputs) != {name}:
            raise NirccError(f"the program takes one input {name!r}, got {sorted(inputs)}", field="inputs")
        x = np.asarray(inputs[name])
        shape = tuple(nir.get("input_shape", program.input.shape))
        if x.ndim != 2 + len(shape) or tuple(x.shape[2:]) != shape:
            raise NirccError(f"input must be [T, B, {', '.join(map(str, shape))}], got {list(x.shape)}", name,
                             "inputs")
        if x.dtype.kind == "f":
            if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
                raise NirccError("Speck takes event counts: the input must hold non-negative integers", name,
                                 "inputs")
        elif x.dtype.kind not in "iub":
            raise NirccError(f"input of dtype {x.dtype}: Speck takes integer event counts", name, "inputs")
        if x.size and x.min() < 0:
            raise NirccError("event counts must be non-negative", name, "inputs")
        raster = x.astype(np.int64).reshape(x.shape[:2] + program.input.shape)
        res = self.emulator(program, mode, **options).run(raster, record=record)
        outs = {}
        for e in program.exits:
            shape = tuple(nir.get("outputs", {}).get(e.name, {}).get("shape", ()))
            y = res.outputs[e.name]
            outs[e.name] = y.reshape(y.shape[:2] + shape) if shape else y
        return EmulatorResult(outputs=outs, states=res.states)

    def latency(self, program: SpeckProgram) -> dict[str, int]:
        """0 for every output: the event model has no per-layer delay (an event travels
        depth-first through all cores within its bin)."""
        return {e.name: 0 for e in program.exits}

    def report(self, program: SpeckProgram) -> dict:
        return dict(program.meta.get("report", {}))

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

    def to_sdk(self, program: SpeckProgram) -> Any:
        return _emit.to_sdk(program)


register("speck", SpeckTarget)

__all__ = ["SpeckTarget"]
