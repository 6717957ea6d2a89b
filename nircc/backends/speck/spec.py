"""Limits, memories and number formats of the Speck family (one table per variant, cited).

Variants
--------
``speck2f`` (default), ``speck2e`` and ``dynapcnn`` (the DYNAP-CNN development kit).
All three carry the same DYNAP-CNN processor: 9 CNN cores with the same per-core
memories, limits and number formats.  That is why one table serves all three: sinabs
3.1.3 drives 2e and 2f with one config builder (``chips/dynapcnn.py``, whose
``get_constraints`` is the single memory table; ``speck2e.py``/``speck2f.py`` only
change the samna module) and older sinabs drove ``dynapcnndevkit`` with that same
builder.  What differs:

============================  ===============  ===============  ===================
item                          speck2f          speck2e          dynapcnn
============================  ===============  ===============  ===================
samna module                  samna.speck2f    samna.speck2e    samna.dynapcnn
integrated DVS sensor         yes              yes              no (external DVS)
readout feature spacing       4 (errata)       4 (errata)       1 [?]
kill-bit config fields        no               no               yes
decimator / balancer fields   yes              yes              no [?]
============================  ===============  ===============  ===================

Number formats (all two's complement integers, no fractional bits, no shift):

* weights: int8, -128..127 ([doc] datasheet Table 3 "Kernel 8 bits");
* neuron state, ``threshold_high``, ``threshold_low``, ``neurons_initial_value``: int16
  ([doc] datasheet §2.4 "Neuron state resolution 16 bits", §3.2.4.4 thresholds 16 bit);
* biases (leak): int16 ([doc] datasheet Table 3 "Leak 16 bits" and §3.2.4.4 "a single
  16bit int value for biases/leak" per channel).  sinabs' ``discretize`` quantizes biases
  to the int8 range; that is a choice of sinabs, not a limit of the chip.

Sources, as cited in :attr:`SpeckSpec.sources`:

* **datasheet**: SynSense "Speck Dev Kit Datasheet", Aug 2023 (section numbers given);
* **sinabs**: sinabs 3.1.3, ``sinabs/backend/dynapcnn`` (file named);
* **samna**: the public samna API reference (speck2e/speck2f/dynapcnn configuration);
* **[?]**: not documented; the value is an inference and says so.

Memory formulas (sinabs ``DynapcnnLayer.memory_summary``; datasheet §3.2.4.1)::

    K_MT = c * 2^(ceil(log2(k*k)) + ceil(log2(f)))        kernel words
    N_MT = f * 2^(ceil(log2(H_o)) + ceil(log2(W_o)))      neuron words (f not rounded)
    B    = f  (one bias word per output feature; sinabs counts it only when the conv has a bias)

``H_o, W_o`` are the conv output (neuron map) before pooling.  A layer fits a core when
each of the three is within that core's memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ..base import check_variant
from ..capabilities import Capabilities

Ki = 1024

DATASHEET = "datasheet (SynSense Speck Dev Kit Datasheet, Aug 2023)"
SINABS = "sinabs 3.1.3 sinabs/backend/dynapcnn"


def ceil_log2(n: int) -> int:
    """``ceil(log2(n))`` for an integer ``n >= 1``, exactly (no floating point)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"ceil_log2 needs n >= 1, got {n}")
    return (n - 1).bit_length()


def kernel_memory(c: int, f: int, k: int) -> int:
    """Kernel memory words of a core with ``c`` input features, ``f`` output features and a
    square ``k`` x ``k`` kernel: ``c * 2^(ceil(log2(k*k)) + ceil(log2(f)))``."""
    return int(c) * 2 ** (ceil_log2(int(k) * int(k)) + ceil_log2(f))


def neuron_memory(f: int, h_out: int, w_out: int) -> int:
    """Neuron memory words of an ``f`` x ``h_out`` x ``w_out`` neuron map (conv output before
    pooling): ``f * 2^(ceil(log2(h_out)) + ceil(log2(w_out)))``."""
    return int(f) * 2 ** (ceil_log2(h_out) + ceil_log2(w_out))


def layer_memory(c: int, f: int, k: int, h_out: int, w_out: int, bias: bool = True) -> dict[str, int]:
    """The three memories a layer needs: ``{"kernel", "neuron", "bias"}`` in words."""
    return {
        "kernel": kernel_memory(c, f, k),
        "neuron": neuron_memory(f, h_out, w_out),
        "bias": int(f) if bias else 0,
    }


@dataclass(frozen=True)
class DvsSpec:
    """The DVS pre-processing layer (core id 13 on the monitor bus)."""

    #: polarity channels of a DVS event (OFF = 0, ON = 1 [?]: samna's convention, not verified)
    polarities: int = 2
    #: largest sensor / input array, x and y
    max_size: int = 128
    #: sum pooling per axis (kernel = stride)
    poolings: tuple[int, ...] = (1, 2, 4)
    #: fan-out: destinations of the DVS layer
    n_destinations: int = 2
    #: True on Speck (sensor on the die); the DYNAP-CNN devkit takes an external DVS
    sensor: bool = True


@dataclass(frozen=True)
class ReadoutSpec:
    """The readout (post-processing) layer."""

    n_classes: int = 15
    #: destination id that addresses the readout
    layer_id: int = 12
    #: CNN output feature ``spacing * (k - 1)`` reaches class ``k`` (errata on 2e/2f: 4)
    feature_spacing: int = 4
    #: moving-average windows in slow-clock ticks
    averaging_windows: tuple[int, ...] = (1, 16, 32)


_COMMON_SOURCES: dict[str, str] = {
    "n_cores": f"{DATASHEET} §2.4 'Up to 9 DYNAPCNN layers'",
    "kernel_memory": f"{DATASHEET} Table 1; {SINABS}/chips/dynapcnn.py get_constraints",
    "neuron_memory": f"{DATASHEET} Table 1; {SINABS}/chips/dynapcnn.py get_constraints",
    "bias_memory": f"{DATASHEET} Table 1 'Leak memory 1 Ki'; {SINABS}/chips/dynapcnn.py",
    "max_input_size": f"{DATASHEET} §2.4 'Max input dimension 128*128'",
    "max_features": f"{DATASHEET} §2.4 'Max feature number 1024', §3.2.4.1",
    "max_output_size": f"{DATASHEET} §2.4 'Max feature output size 64*64'",
    "max_kernel": f"{DATASHEET} §2.4 'Max kernel size 16*16'; square: samna kernel_size is one int",
    "strides": f"{DATASHEET} §2.4 'Stride {{1,2,4,8}} independent in X/Y'",
    "max_padding": f"{DATASHEET} §2.4 'Padding [0..7] independent in X/Y'",
    "poolings": f"{DATASHEET} §2.4 'Pooling 1:1, 1:2, 1:4' (square, stride = kernel)",
    "n_destinations": f"{DATASHEET} §3.2.4.8 fan-out of 2; samna CnnLayerConfig.destinations[2]",
    "weight_bits": f"{DATASHEET} §2.4 and Table 3 (kernel 8 bits)",
    "state_bits": f"{DATASHEET} §2.4 and Table 3 (neuron 16 bits)",
    "threshold_bits": f"{DATASHEET} §3.2.4.4 (one 16 bit threshold_high/low per layer)",
    "bias_bits": f"{DATASHEET} Table 3 (leak 16 bits), §3.2.4.4; sinabs discretize uses int8",
    "threshold_low_zero_bug": f"{DATASHEET} §3.2.4.6.3 known bug: threshold_low cannot be 0; "
                              "DYNAP-CNN not stated, assumed same core design",
    "state_margin": "nircc choice: int16 overflow behaviour is undocumented [?]; thresholds are "
                    "kept 128 inside int16 so that v + w never leaves int16 (speck.md §2.1)",
    "dvs": f"{DATASHEET} §3.2.3 (pooling 1/2/4, ROI, mirror, polarity, fan-out 2); "
           f"{SINABS}/dvs_layer.py (order merge -> pool -> crop -> flip)",
    "dvs_sensor": f"{DATASHEET} §1.1 (DVS and DYNAP-CNN on one die)",
    "dvs_layer_id": "samna monitor events of the DVS layer carry layer = 13 (speck.md §1)",
    "readout": f"{DATASHEET} §2.5/§3.2.5 (15 classes, windows 1/16/32, id 12)",
    "readout_feature_spacing": f"{SINABS}/utils.py extend_readout_layer (2E and 2F: x4)",
}


@dataclass(frozen=True)
class SpeckSpec:
    """Limits and number formats of one Speck variant (see the module docstring)."""

    name: str
    description: str
    samna_module: str
    #: sinabs / samna device names of this variant
    devices: tuple[str, ...]
    n_cores: int = 9
    #: kernel memory per core, words
    kernel_memory: tuple[int, ...] = (16 * Ki, 16 * Ki, 16 * Ki, 32 * Ki, 32 * Ki, 64 * Ki, 64 * Ki, 16 * Ki, 16 * Ki)
    #: neuron memory per core, words
    neuron_memory: tuple[int, ...] = (64 * Ki, 64 * Ki, 64 * Ki, 32 * Ki, 32 * Ki, 16 * Ki, 16 * Ki, 16 * Ki, 16 * Ki)
    #: bias (leak) memory per core, words
    bias_memory: tuple[int, ...] = (Ki,) * 9
    #: largest input map per core, x and y
    max_input_size: int = 128
    #: most input features and most output features per core
    max_features: int = 1024
    #: largest neuron map (conv output before pooling), x and y
    max_output_size: int = 64
    max_kernel: int = 16
    strides: tuple[int, ...] = (1, 2, 4, 8)
    max_padding: int = 7
    poolings: tuple[int, ...] = (1, 2, 4)
    n_destinations: int = 2
    weight_bits: int = 8
    state_bits: int = 16
    threshold_bits: int = 16
    bias_bits: int = 16
    #: threshold_low == 0 misbehaves on the chip (use -1)
    threshold_low_zero_bug: bool = True
    #: headroom kept between the thresholds and the int16 bounds (see ``sources``)
    state_margin: int = 128
    dvs_layer_id: int = 13
    #: samna has weights_kill_bit / biases_kill_bit / neurons_value_kill_bit fields
    kill_bits: bool = False
    #: samna has output_decimator_* and input_congestion_balancer_enable fields
    decimator: bool = True
    dvs: DvsSpec = field(default_factory=DvsSpec)
    readout: ReadoutSpec = field(default_factory=ReadoutSpec)
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(_COMMON_SOURCES)))

    # ------------------------------------------------------------------ number ranges
    @staticmethod
    def _range(bits: int) -> tuple[int, int]:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    @property
    def weight_range(self) -> tuple[int, int]:
        return self._range(self.weight_bits)

    @property
    def state_range(self) -> tuple[int, int]:
        return self._range(self.state_bits)

    @property
    def threshold_range(self) -> tuple[int, int]:
        return self._range(self.threshold_bits)

    @property
    def bias_range(self) -> tuple[int, int]:
        return self._range(self.bias_bits)

    @property
    def safe_threshold_high_max(self) -> int:
        """Largest ``threshold_high`` with which ``v + w`` cannot exceed int16 (32639)."""
        return self.state_range[1] - self.state_margin

    @property
    def safe_threshold_low_min(self) -> int:
        """Smallest ``threshold_low`` with which ``v + w`` cannot go below int16 (-32640)."""
        return self.state_range[0] + self.state_margin

    # ------------------------------------------------------------------ memories
    def capacity(self, core: int) -> dict[str, int]:
        """The memories of ``core`` in words: ``{"kernel", "neuron", "bias"}``."""
        return {"kernel": self.kernel_memory[core], "neuron": self.neuron_memory[core],
                "bias": self.bias_memory[core]}

    def fits(self, core: int, memory: Mapping[str, int]) -> bool:
        """Whether a layer needing ``memory`` (as :func:`layer_memory` returns) fits ``core``."""
        cap = self.capacity(core)
        return all(int(memory.get(k, 0)) <= cap[k] for k in cap)

    def cores_that_fit(self, memory: Mapping[str, int]) -> list[int]:
        """Every core (ascending) a layer needing ``memory`` fits."""
        return [c for c in range(self.n_cores) if self.fits(c, memory)]

    def table(self) -> list[tuple[str, Any, str]]:
        """(item, value, source) rows: the limits of this variant with their sources."""
        values = {key: getattr(self, key) for key in (
            "n_cores", "kernel_memory", "neuron_memory", "bias_memory", "max_input_size",
            "max_features", "max_output_size", "max_kernel", "strides", "max_padding", "poolings",
            "n_destinations", "weight_bits", "state_bits", "threshold_bits", "bias_bits",
            "threshold_low_zero_bug", "state_margin", "dvs", "dvs_layer_id", "readout",
            "samna_module", "kill_bits", "decimator")}
        values["dvs_sensor"] = self.dvs.sensor
        values["readout_feature_spacing"] = self.readout.feature_spacing
        return [(key, value, self.sources.get(key, "")) for key, value in values.items()]


def _sources(**extra: str) -> Mapping[str, str]:
    d = dict(_COMMON_SOURCES)
    d.update(extra)
    return MappingProxyType(d)


SPECK2F = SpeckSpec(
    name="speck2f",
    description="SynSense Speck 2f (DYNAP-CNN processor + 128x128 DVS on one die)",
    samna_module="samna.speck2f",
    devices=("speck2fmodule", "speck2fdevkit"),
    sources=_sources(
        samna_module=f"{SINABS}/chips/speck2f.py get_samna_module",
        kill_bits=f"{SINABS}/chips/speck2f.py (sinabs <= 2.x popped the kill bits for 2f)",
        decimator=f"{DATASHEET} §3.2.4.2-3; samna speck2f CnnLayerConfig",
    ),
)

SPECK2E = SpeckSpec(
    name="speck2e",
    description="SynSense Speck 2e (same DYNAP-CNN processor and DVS as 2f; samna.speck2e)",
    samna_module="samna.speck2e",
    devices=("speck2e", "speck2edevkit"),
    sources=_sources(
        samna_module=f"{SINABS}/chips/speck2e.py get_samna_module",
        kill_bits="sinabs <= 2.x chips/speck2e.py pops weights/biases/neurons_value kill bits",
        decimator="samna speck2e CnnLayerConfig (output_decimator_*, input_congestion_balancer_enable)",
    ),
)

DYNAPCNN = SpeckSpec(
    name="dynapcnn",
    description="SynSense DYNAP-CNN development kit (same 9-core processor, external DVS input)",
    samna_module="samna.dynapcnn",
    devices=("dynapcnndevkit",),
    kill_bits=True,
    decimator=False,
    dvs=DvsSpec(sensor=False),
    readout=ReadoutSpec(feature_spacing=1),
    sources=_sources(
        samna_module="sinabs <= 2.x chip_factory 'dynapcnndevkit': DynapcnnConfigBuilder (samna.dynapcnn)",
        kill_bits="sinabs <= 2.x chips/dynapcnn.py writes weights_kill_bit / biases_kill_bit",
        decimator="[?] not in the dynapcnn config fields sinabs writes; nircc does not use it",
        dvs_sensor="sinabs docs/speck/overview.md: DYNAP-CNN devkits take an external DVS",
        readout_feature_spacing="[?] the x4 errata is documented for 2E/2F only",
    ),
)

SPECS: dict[str, SpeckSpec] = {s.name: s for s in (SPECK2F, SPECK2E, DYNAPCNN)}
DEFAULT_VARIANT = "speck2f"
VARIANTS: tuple[str, ...] = tuple(SPECS)


def get_spec(variant: Optional[str] = None) -> SpeckSpec:
    """The spec of ``variant`` (default ``speck2f``); NirccError for an unknown name."""
    return SPECS[check_variant("speck", SPECS, DEFAULT_VARIANT, variant)]


def fits(core: int, memory: Mapping[str, int], spec: Optional[SpeckSpec] = None) -> bool:
    """Whether a layer needing ``memory`` fits ``core`` of ``spec`` (default Speck 2f)."""
    return (spec or SPECK2F).fits(core, memory)


#: What Speck's neurons can do (:mod:`nircc.backends.capabilities`; docs/targets/speck.md).
CAPABILITIES = Capabilities(
    chip="Speck",
    nodes={"IF": "one CNN core (integrate-and-fire, no leak per step)",
           "Conv2d": "the core's int8 kernel (square, dilation 1)",
           "Affine": "a conv whose kernel covers the map; the bias per feature (leak per slow-clock tick)",
           "Linear": "a conv whose kernel covers the map",
           "SumPool2d": "destination pooling 1/2/4 (8/16/32 through a relay core)",
           "AvgPool2d": "SumPool2d with the next weights scaled by 1/k^2", "Flatten": "an index no-op"},
    unsupported={"LIF": "the chip has no leak per time step (Speck neurons are non-leaky integrate-and-fire: use IF; "
                        "a negative bias leaks once per slow-clock tick)",
                 "CubaLIF": "the chip has no synaptic state (weights go straight into the membrane; use IF)",
                 "CubaLI": "the chip has no synaptic state and cannot read out a membrane",
                 "LI": "the chip has no leak per time step and cannot read out a membrane (no non-spiking neurons)",
                 "I": "the chip cannot read out a membrane (no non-spiking integrators; use IF)",
                 "Threshold": "the chip has no stateless threshold units (use IF with reset zero)",
                 "Delay": "the chip has no synaptic or axonal delays",
                 "Scale": "a Scale not next to an Affine/Linear (canonicalize folds those): Speck has no element-wise "
                          "gain stage",
                 "Conv1d": "Speck cores convolve 2-D maps (use Conv2d on a [C, 1, L] or [C, L, 1] map)"},
    rules={"reset_timing": ("immediate",), "initial_v": ("zero",)},
    rule_words={("reset_timing", "immediate"): "in the spike's event"},
    threshold=">=", resets=("subtract", "zero"), bias="membrane-per-tick",
    per_neuron=("bias per feature",), per_layer=("threshold_high", "threshold_low", "reset"),
    decay="none", delay_steps=0, recurrent=False,
    formats={"weights": "int8", "threshold_high, threshold_low, v": "int16", "bias (leak)": "int16"},
)
