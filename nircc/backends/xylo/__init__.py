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

from typing import Optional


from ...errors import ErrorCollector
from ..base import Target
from .emulator import XyloEmulator
from .lower import OPTIONS
from .program import XyloProgram
from .spec import CAPABILITIES, DEFAULT_VARIANT, VARIANTS


class XyloTarget(Target):
    """Xylo Audio 2 (default), Audio 3, IMU, v1: see docs/targets/xylo.md."""

    name = "xylo"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    options = OPTIONS
    label = "Xylo"
    capabilities = CAPABILITIES
    description = "SynSense Xylo: one recurrent block of up to 1000 integer LIF neurons, 16 inputs, 8-32 readouts"

    emulator_class = XyloEmulator

    def rules_for(self, options=None) -> dict[str, tuple[str, ...]]:
        rules = self.semantics_rules
        if options is None or not options.option_values(ErrorCollector())["single_spike"]:
            rules["spike"] = ("multi",)
        return rules

    def input_capacity(self, variant: Optional[str]) -> Optional[int]:
        return self.spec(variant).n_input

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

