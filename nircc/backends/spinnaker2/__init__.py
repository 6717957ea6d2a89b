"""SpiNNaker2 (py-spinnaker2): populations and projections of float32 LIF neurons on ARM PEs.

* ``spec.py``       chip limits, the py-spinnaker2 neuron models (parameter keys, weight
                    ranges, delays) and the per-PE memory model, with sources and tags;
* ``program.py``    :class:`~nircc.backends.spinnaker2.program.S2Program`: populations and
                    projections exactly as py-spinnaker2 takes them, JSON format
                    ``nircc.spinnaker2/1``;
* ``synapses.py``   the synaptic paths between populations of a graph;
* ``lower.py``      graph -> program (models, lags and delays, quantization, parameters);
* ``partition.py``  populations -> PEs through the shared mapper and the memory model;
* ``emit.py``       the artifact (JSON + .npz) and ``to_sdk`` (py-spinnaker2 ``snn.Network``);
* ``emulator.py``   :class:`~nircc.backends.spinnaker2.emulator.S2Emulator`: the float32
                    neuron update, vectorized over neurons and batch.

:class:`SpiNNaker2Target` (registered as ``"spinnaker2"``) ties them to the compiler;
``docs/targets/spinnaker2.md`` documents options, formulas and the loader.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..base import Target
from . import emit as _emit
from .emulator import S2Emulator
from .lower import OPTIONS, check_options
from .program import S2Program
from .spec import CAPABILITIES, DEFAULT_VARIANT, VARIANTS


class SpiNNaker2Target(Target):
    """One SpiNNaker2 chip (default) or a 48-chip board: see docs/targets/spinnaker2.md."""

    name = "spinnaker2"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    options = OPTIONS
    label = "SpiNNaker2"
    capabilities = CAPABILITIES
    description = "SpiNNaker2 (py-spinnaker2): float32 LIF populations on 152-PE ARM chips"

    emulator_class = S2Emulator
    emulator_options = ("lif_curr_exp_order", "weight_rounding", "dense_limit")

    def check_options(self, values, errs) -> None:
        check_options(values, errs)

    def summary(self, program: S2Program) -> str:
        res = program.report.get("resources", {})
        if not res:
            return ""
        lines = [f"  PEs: {res['pes_used']} of {res['pes_available']} ({res['chips_used']} of "
                 f"{res['chips_available']} chip(s)); lower bound {res['lower_bound']}",
                 f"  neurons: {res['neurons']} in {len(res['populations'])} populations "
                 f"({res['input_neurons']} input, {res['relay_neurons']} relay), synapses {res['synapses']}, "
                 f"conv projections {res['conv_projections']}",
                 f"  largest PE use: {res['max_pe_utilization']:.0%} of {res['data_memory_per_pe'] // 1024} KiB"]
        lat = self.latency(program)
        if len(set(lat.values())) == 1 and len(lat) > 1:
            lines.append(f"  output lag: {next(iter(lat.values()))} step(s) (all {len(lat)} outputs)")
        elif lat:
            lines.append("  output lag: " + ", ".join(f"{o} {v} step(s)" for o, v in lat.items()))
        return "\n".join(lines)

    def to_sdk(self, program: S2Program, inputs: Optional[Mapping[str, Any]] = None) -> _emit.SDKNetwork:
        """The py-spinnaker2 network (:func:`nircc.backends.spinnaker2.emit.to_sdk`)."""
        return _emit.to_sdk(program, inputs)

