"""The SynSense Xylo family (Xylo Audio 2 / Audio 3, IMU, v1): recurrent SNN chips.

* ``spec.py``            limits and number formats per variant, with sources;
* ``program.py``         :class:`~nircc.backends.xylo.program.XyloProgram`, one chip
                         configuration as integer arrays (what lowering produces, what the
                         emitter writes, what the emulators run);
* ``lower.py``           graph -> program (layers into the hidden block, lags, neuron
                         parameters, quantization);
* ``emit.py``            the artifact (samna configuration JSON + rockpool's specification
                         arrays) and ``to_sdk`` (samna ``XyloConfiguration``);
* ``emulator.py``        the chip's per-step update, bit-exact with xylosim, vectorized over
                         neurons and batch;
* ``xylosim_bridge.py``  runs a program on the vendor simulator xylosim (optional package).

:class:`XyloTarget` (registered as ``"xylo"``) ties them to the compiler;
``docs/targets/xylo.md`` documents options, formulas and how to load the artifact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from ...errors import NirccError
from ...passes import canonicalize, fuse_affine, infer_shapes
from ..base import EmulatorResult, Target, register
from . import emit as _emit
from .emulator import XyloEmulator, as_input_counts
from .lower import OPTIONS
from .lower import lower as _lower
from .program import XyloProgram
from .spec import DEFAULT_VARIANT, VARIANTS, XyloSpec, get_spec


class XyloTarget(Target):
    """Xylo Audio 2 (default), Audio 3, IMU, v1: see docs/targets/xylo.md."""

    name = "xylo"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    option_names = tuple(OPTIONS)
    label = "Xylo"
    semantics_rules = {"threshold": (">=",), "spike": ("multi",), "reset": ("subtract",),
                       "reset_timing": ("immediate",), "v_min": ("none",), "initial_v": ("zero",)}
    rule_words = {("threshold", ">="): "v >= threshold",
                  ("spike", "multi"): "up to 31 spikes per step (hidden), 1 (readout)",
                  ("reset", "subtract"): "v -= threshold per spike",
                  ("reset_timing", "immediate"): "in the spike's step",
                  ("v_min", "none"): "no floor on v", ("initial_v", "zero"): "v = 0 at the start"}
    description = "SynSense Xylo: one recurrent block of up to 1000 integer LIF neurons, 16 inputs, 8-32 readouts"

    def spec(self, variant: Optional[str] = None) -> XyloSpec:
        return get_spec(self.resolve_variant(variant))

    def pipeline(self, options: Any) -> list:
        return [infer_shapes, canonicalize, fuse_affine]

    def lower(self, graph, spec: XyloSpec, options) -> XyloProgram:
        return _lower(graph, spec, options)

    def emit(self, program: XyloProgram, out_dir: Path) -> list[Path]:
        return _emit.emit(program, out_dir)

    def emulator(self, program: XyloProgram, **options: Any) -> XyloEmulator:
        """:class:`XyloEmulator` of ``program`` (it takes no options)."""
        if options:
            raise NirccError(f"the Xylo emulator takes no options, got {sorted(options)}", field="options")
        return XyloEmulator(program)

    def layer_spikes(self, program: XyloProgram, result: EmulatorResult) -> dict[str, np.ndarray]:
        """Hidden populations from the recorded ``Spikes`` (ids in ``meta["hidden"]``), spiking
        read-outs from the readout spikes of their Output."""
        out = {}
        spikes = result.states.get("Spikes")
        if spikes is not None:
            for node, (a, b) in program.meta.get("hidden", {}).items():
                out[node] = spikes[..., a:b]
        for name, o in program.meta.get("outputs", {}).items():
            if o["kind"] == "spikes" and name in result.outputs:
                out[o["population"]] = result.outputs[name]
        return out

    def run(self, program: XyloProgram, inputs: Mapping[str, np.ndarray], record: bool = False) -> EmulatorResult:
        """NIR inputs (Input name -> spike counts ``[T, B, *shape]``, 0..15 per step: the
        chip clips at 15) -> the emulator -> per NIR Output ``[T, B, *shape]``: readout
        spikes (int32 0/1), or float64 ``V`` / gain for an LI/CubaLI read-out.  Outputs are the
        chip's steps (``latency`` steps behind the reference); ``states`` are the emulator's."""
        io = program.meta.get("inputs")
        if io is None:
            raise NirccError("the program has no NIR inputs recorded (meta['inputs']); run XyloEmulator directly",
                             field="inputs")
        if set(io) != set(inputs):
            raise NirccError(f"inputs {sorted(inputs)} do not match the program's {sorted(io)}", field="inputs")
        parts, t_b = [], None
        for name in sorted(io, key=lambda k: io[k]["offset"]):
            x = np.asarray(inputs[name])
            shape = tuple(io[name]["shape"])
            if x.ndim != 2 + len(shape) or tuple(x.shape[2:]) != shape:
                raise NirccError(f"input must be [T, B, {', '.join(map(str, shape))}], got {list(x.shape)}", name,
                                 "inputs")
            if t_b is not None and x.shape[:2] != t_b:
                raise NirccError(f"input is [T, B] = {list(x.shape[:2])}, others {list(t_b)}", name, "inputs")
            t_b = x.shape[:2]
            parts.append(as_input_counts(x.reshape(x.shape[:2] + (-1,)), io[name]["size"], node=name))
        x = np.concatenate(parts, axis=2)
        outs = program.meta.get("outputs", {})
        need_v = any(o["kind"] == "v" for o in outs.values())
        res = self.emulator(program).run(x, record=record or need_v)
        outputs = {}
        for name, o in outs.items():
            a, n = o["offset"], o["size"]
            if o["kind"] == "spikes":
                y = res.outputs["readout"][..., a:a + n]
            else:
                y = res.states["Vmem_out"][..., a:a + n].astype(np.float64) / np.asarray(o["v_scale"], np.float64)
            outputs[name] = y.reshape(y.shape[:2] + tuple(o["shape"]))
        return EmulatorResult(outputs=outputs, states=res.states if record else {})

    def latency(self, program: XyloProgram) -> dict[str, int]:
        """Steps each output lags the reference: one per hidden->hidden and hidden->readout
        synapse on its path (``lower`` module docstring, step 3)."""
        return {k: int(v) for k, v in program.meta.get("latency", {}).items()}

    def report(self, program: XyloProgram) -> dict:
        return dict(program.report)

    def summary(self, program: XyloProgram) -> str:
        res = program.report.get("resources", {})
        if not res:
            return ""
        lines = [f"  {res['chip']} ({res['variant']}): {res['input_channels']} of {res['input_channels_available']} "
                 f"input channels, {res['hidden_neurons']} of {res['hidden_neurons_available']} hidden neurons, "
                 f"{res['readout_neurons']} of {res['readout_neurons_available']} readout neurons",
                 f"  synapses {res['synapses']}; largest recurrent fan-out {res['max_fanout']}"
                 + (f" of {res['max_fanout_limit']}" if res["max_fanout_limit"] is not None else "")
                 + f"; weight shifts in/rec/out {res['weight_shift']['in']}/{res['weight_shift']['rec']}/"
                 f"{res['weight_shift']['out']}"]
        for lay in res["layers"]:
            lines.append(f"  {lay['role']:<8} {lay['node']:<14} {lay['type']:<8} ids {lay['ids'][0]}..{lay['ids'][1] - 1}"
                         f"  lag {lay['lag']}")
        return "\n".join(lines)

    def to_sdk(self, program: XyloProgram) -> Any:
        """samna's ``XyloConfiguration`` (:func:`nircc.backends.xylo.emit.to_sdk`)."""
        return _emit.to_sdk(program)


register("xylo", XyloTarget)
