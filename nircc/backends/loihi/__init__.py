"""Intel Loihi 2 through Lava and lava-dl netx: CUBA LIF layers with 8-bit synapses.

* ``spec.py``       chip capacity (cores, neurons per core by neuron model, synaptic memory
                    model) and the fixed-point formats of Lava's bit-accurate models, every
                    number cited (``targets/loihi.md`` section, Lava file:line);
* ``program.py``    :class:`~nircc.backends.loihi.program.LoihiProgram`: the ordered layers
                    of a netx network (input, dense, dense_rec, conv, flatten) as integer
                    arrays, lossless JSON (schema ``nircc.loihi.program``, version 2);
* ``weights.py``    Lava's weight rules (sign modes, clip/truncate, netx's exponent choice,
                    the synapses netx builds from a ``.net``);
* ``checks.py``     ``LoihiProgram.validate``: Lava's formats and netx's layer rules;
* ``lower.py``      graph -> program (chain of layers, parameters, quantization, netx checks);
* ``partition.py``  neuron layers -> neurocores through the shared mapper;
* ``emit.py``       the netx ``.net`` file, the program JSON, ``to_sdk`` (netx ``Network``);
* ``emulator.py``   :class:`~nircc.backends.loihi.emulator.LoihiEmulator`: Lava's
                    ``PyLifModelBitAcc`` + ``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc``
                    / ``PyConvModelFixed``, bit-exact, vectorized over neurons and batch.

:class:`LoihiTarget` (registered as ``"loihi"``) ties them to the compiler;
``docs/targets/loihi.md`` documents options, formulas and running the artifact with Lava.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional


from ..base import Target
from . import emit as _emit
from .emulator import LoihiEmulator
from .lower import OPTIONS
from .program import LoihiProgram
from .spec import CAPABILITIES, DEFAULT_VARIANT, VARIANTS


class LoihiTarget(Target):
    """One Loihi 2 chip (default) or a Kapoho Point board: see docs/targets/loihi.md."""

    name = "loihi"
    variants = VARIANTS
    default_variant = DEFAULT_VARIANT
    options = OPTIONS
    label = "Loihi 2"
    capabilities = CAPABILITIES
    description = "Intel Loihi 2 (Lava / lava-dl netx): fixed-point CUBA LIF layers, 128 neurocores per chip"

    emulator_class = LoihiEmulator

    def summary(self, program: LoihiProgram) -> str:
        res = program.report.get("resources", {})
        if not res:
            return ""
        kinds = ", ".join(f"{lay.name} ({lay.kind}, {lay.size})" for lay in program.neuron_layers())
        lines = [f"  neurocores: {res['cores_used']} of {res['cores_available']} ({res['chips_used']} of "
                 f"{res['chips_available']} chip(s)); lower bound {res['lower_bound']}",
                 f"  neurons: {res['neurons']} in {len(res['layers'])} layer(s): {kinds}",
                 f"  synapses: {res['synapses']}; largest core use: {res['max_core_utilization']:.0%}"]
        lat = self.latency(program)
        if lat:
            lines.append(f"  output lag: {max(lat.values())} step(s) (one per synapse)")
        return "\n".join(lines)

    def to_sdk(self, program: LoihiProgram, net_path: Optional[Path] = None, **network_options: Any) -> Any:
        """The lava-dl netx ``Network`` of ``program`` (:func:`nircc.backends.loihi.emit.to_sdk`)."""
        return _emit.to_sdk(program, net_path, **network_options)

