"""Limits and number formats of ToyChip, one frozen table per variant.

ToyChip is a test chip (issue 15): dense layers of integer LIF neurons, each layer on
``ceil(neurons / neurons_per_core)`` cores of its own.  Number formats, all two's
complement integers with no fractional bits:

* weights: ``int8`` (signed, 8 bits, [-128, 127]), one matrix ``[out, in]`` per layer,
  no shift (the effective weight is the stored integer);
* membrane ``v``: ``int16`` (signed, 16 bits, [-32768, 32767]), saturating after the
  input is added; computed in int64 before the saturation;
* threshold: ``int16`` (signed, 16 bits), one per layer, non-negative in a program
  (``0 .. 32767``); a neuron fires where ``v > threshold``;
* decay shift: ``uint4`` (unsigned, 4 bits, 0..15), one per layer: ``v -= v >> shift``
  (an arithmetic right shift, rounding toward -inf) for ``shift >= 1``; ``0`` = no leak (IF);
* reset: to zero (``v = 0`` in the spike's step); no bias, no refractory period;
* inputs: non-negative event counts per channel and step (int64), at most
  ``max_fan_in`` channels into any layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nircc.backends.base import check_variant
from nircc.backends.capabilities import Capabilities


@dataclass(frozen=True)
class ToySpec:
    """One ToyChip variant (module docstring for the formats)."""

    name: str
    neurons_per_core: int
    cores: int
    max_fan_in: int
    weight_bits: int = 8          # signed
    v_bits: int = 16              # signed, saturating
    threshold_bits: int = 16      # signed, non-negative values
    shift_bits: int = 4           # unsigned

    @property
    def neurons(self) -> int:
        return self.neurons_per_core * self.cores


SPECS: dict[str, ToySpec] = {
    "toy1": ToySpec("toy1", neurons_per_core=64, cores=4, max_fan_in=256),
    "toy2": ToySpec("toy2", neurons_per_core=256, cores=8, max_fan_in=1024),
}
VARIANTS = tuple(SPECS)
DEFAULT_VARIANT = "toy1"


def get_spec(variant: Optional[str] = None) -> ToySpec:
    """The spec of ``variant`` (default ``toy1``); NirccError for an unknown name."""
    return SPECS[check_variant("toy", VARIANTS, DEFAULT_VARIANT, variant)]


#: What ToyChip's neurons can do (nircc.backends.capabilities).
CAPABILITIES = Capabilities(
    chip="ToyChip",
    nodes={"IF": "a layer with shift 0", "LIF": "a layer with a decay shift",
           "Linear": "the layer's int8 weights", "Affine": "the layer's int8 weights (zero bias only)"},
    rules={"reset": ("zero",), "spike": ("single",), "reset_timing": ("immediate",), "v_min": ("none",),
           "initial_v": ("zero",)},
    threshold=">", resets=("zero",), bias="none", per_layer=("threshold", "shift"), decay="bit-shift",
    formats={"weights": "int8", "v": "int16 saturating", "threshold": "int16 (0..32767)", "shift": "uint4"},
)
