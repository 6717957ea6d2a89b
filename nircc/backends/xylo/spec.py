"""Limits and number formats of the Xylo family (one table per variant, each value cited).

Variants
--------
============  =========  ======  ========  =======  =====  ========  ==========  ===========
name          chip       hidden  readout   syn/hid  IEN    OEN       max fan-out  simulator
============  =========  ======  ========  =======  =====  ========  ==========  ===========
``audio2``    SYNS61201  1000    8         2        all    all       64          xylosim.v2
``audio3``    SYNS65302  992     32 (16)   2        128    last 128  1024        xylosim.v2
``imu``       SYNS63300  496     16        1        128    last 128  512         xylosim.v2
``v1``        SYNS61300  1000    8         2        all    all       [?]         xylosim.v1
============  =========  ======  ========  =======  =====  ========  ==========  ===========

``audio2`` (Xylo Audio 2) is the default.  All variants take 16 input channels.  IEN: the
input weights reach only the first ``input_expansion`` hidden neurons; OEN: only the last
``output_expansion`` hidden neurons feed the readout.  Audio 3 has 32 readout neurons but
rockpool's design-rule check warns above 16 output channels (``n_output_channels``).

Number formats (two's complement unless said otherwise, no fractional bits)
---------------------------------------------------------------------------
* weights (input, recurrent, readout): int8; the effective weight is ``int16(w << shift)``
  with one shift per matrix, ``shift`` 4-bit unsigned (0..15).  ``int16(...)`` wraps:
  every shift <= 8 is exact, larger shifts wrap for some weights;
* synaptic currents ``Isyn``/``Isyn2``, membrane ``Vmem``: int16, saturating;
* thresholds: int16;
* biases: int16 in the update (xylosim), 8-bit in the chip's bias memory (see
  ``chip_bias_bits``); only ``v1`` has no bias;
* decay shifts ``dash_mem``, ``dash_syn``, ``dash_syn2``: 4-bit unsigned (0..15);
* events per step: input <= 15 per channel (more are clipped), hidden <= 31 per neuron,
  readout <= 1 per neuron.

Two kinds of limit
------------------
*Formats* (every field above, sizes, IEN/OEN windows, aliases in range, no bias on v1,
no second synapse on IMU) bound what the update itself can represent: the emulator and
xylosim both require them.  *Chip* limits are memories and register widths that only the
chip has (bias memory width, fan-out per neuron, total recurrent fan-out entries, one
alias target per neuron): xylosim runs programs beyond them, the board does not.
:meth:`XyloProgram.validate <nircc.backends.xylo.program.XyloProgram.validate>` checks
both unless told ``chip=False``.

Sources, as cited in :attr:`XyloSpec.sources` (tags as in the target notes):

* **xylo.md**: ``shared/targets/xylo.md`` of this project, section given;
* **rockpool**: rockpool 3.1.0, ``rockpool/devices/xylo/<chip folder>/<file>:<line>``;
* **xylosim**: xylosim 0.1.3 C++ source (``src/v2/cpp/*``) and ``xylosim/tools.py``;
* **[?]**: not documented; the value is an inference and says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ..base import check_variant
from ..capabilities import Capabilities

RP = "rockpool 3.1.0 rockpool/devices/xylo"
XS = "xylosim 0.1.3"

_COMMON_SOURCES: dict[str, str] = {
    "n_input": "xylo.md §1 (16 SNN input channels, all variants) [doc]",
    "weight_bits": f"{XS} XyloLayer.h (XyloSynapse.weight is int8_t); xylo.md §1 [code]",
    "weight_shift_bits": f"{RP}/syns65302/reg.py:400-403 (ctrl1 fields iwbs@4, hwbs@8, owbs@12: "
                         "4 bits each); the same width is assumed on the other variants [?]",
    "state_bits": f"{XS} XyloIAFNeuron.h BITS_STATE 16, safe_add saturates [code]",
    "threshold_bits": f"{XS} XyloIAFNeuron.h (int16_t v_th); tools.py writes nthram with 4 hex "
                      "digits [code]",
    "bias_bits": f"{XS} XyloIAFNeuron.h (int16_t bias; the update saturates to int16) [code]",
    "chip_bias_bits": f"{XS} tools.py save_to_RAM_files_V2 writes nbram with 2 hex digits; the "
                      "pybind XyloIAFNeuron constructor takes int8_t bias [code, inferred]",
    "dash_bits": f"{XS} XyloIAFNeuron.h ('should be 4 bits'); tools.py writes 1 hex digit [code]",
    "max_input_events": f"{XS} XyloIAFNeuron.h MAX_NUM_INP_SPIKES 15 (clipped) [code]",
    "max_hidden_spikes": f"{XS} XyloIAFNeuron.h MAX_NUM_SPIKES 31 [code]",
    "max_readout_spikes": f"{XS} XyloIAFNeuron.h MAX_NUM_OUT_SPIKES 1 [code]",
    "max_alias_targets": f"{RP}/syns61201/xylo_samna.py:264 (neuron.alias_target = aliases[i][0]); "
                         f"{XS} tools.py writes one raram entry per neuron [code]",
    "n_syn_readout": "xylo.md §1 (one synaptic state per readout neuron) [doc]",
    "has_aliases": f"xylo.md §1 (aliasing on every variant); {XS} XyloLayer aliases [code]",
}


@dataclass(frozen=True)
class XyloSpec:
    """Limits and number formats of one Xylo variant (see the module docstring)."""

    name: str
    chip: str
    description: str
    #: rockpool device package of the variant
    rockpool_package: str
    #: xylosim module that simulates it ("xylosim.v2" or "xylosim.v1")
    simulator: str
    #: hidden neurons
    n_hidden: int
    #: readout neurons
    n_readout: int
    #: output channels above which rockpool's design-rule check warns
    n_output_channels: int
    #: synaptic states per hidden neuron (1 or 2)
    n_syn: int
    #: first ``input_expansion`` hidden neurons can receive input weights (IEN)
    input_expansion: int
    #: last ``output_expansion`` hidden neurons can feed the readout (OEN)
    output_expansion: int
    #: most recurrent targets of one hidden neuron (None: not documented, not checked)
    max_fanout: Optional[int]
    #: most recurrent fan-out entries over all hidden neurons (None: not checked)
    max_rec_synapses: Optional[int]
    #: the update adds a per-neuron bias (v2 update); v1 has none
    has_bias: bool
    #: "v2": V = sat(V + sat(sat(-decay(V) + Isum) + bias)); "v1": V = sat(V - decay(V) + Isum)
    update: str
    n_input: int = 16
    n_syn_readout: int = 1
    has_aliases: bool = True
    max_alias_targets: int = 1
    weight_bits: int = 8
    weight_shift_bits: int = 4
    state_bits: int = 16
    threshold_bits: int = 16
    bias_bits: int = 16
    chip_bias_bits: int = 8
    dash_bits: int = 4
    max_input_events: int = 15
    max_hidden_spikes: int = 31
    max_readout_spikes: int = 1
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(_COMMON_SOURCES)))

    # ------------------------------------------------------------------ number ranges
    @staticmethod
    def _signed(bits: int) -> tuple[int, int]:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    @property
    def weight_range(self) -> tuple[int, int]:
        return self._signed(self.weight_bits)

    @property
    def state_range(self) -> tuple[int, int]:
        return self._signed(self.state_bits)

    @property
    def threshold_range(self) -> tuple[int, int]:
        return self._signed(self.threshold_bits)

    @property
    def bias_range(self) -> tuple[int, int]:
        return self._signed(self.bias_bits)

    @property
    def chip_bias_range(self) -> tuple[int, int]:
        return self._signed(self.chip_bias_bits)

    @property
    def dash_range(self) -> tuple[int, int]:
        return 0, 2 ** self.dash_bits - 1

    @property
    def weight_shift_range(self) -> tuple[int, int]:
        return 0, 2 ** self.weight_shift_bits - 1

    @property
    def ien_slice(self) -> slice:
        """Hidden neurons that input weights can reach."""
        return slice(0, self.input_expansion)

    def oen_start(self, n_hidden: int) -> int:
        """First hidden neuron (of a program with ``n_hidden``) that may feed the readout:
        the last ``output_expansion`` neurons form the OEN window."""
        return max(0, int(n_hidden) - self.output_expansion)

    def table(self) -> list[tuple[str, Any, str]]:
        """(item, value, source) rows: the limits of this variant with their sources."""
        keys = ("chip", "simulator", "update", "n_input", "n_hidden", "n_readout", "n_output_channels",
                "n_syn", "n_syn_readout", "input_expansion", "output_expansion", "max_fanout",
                "max_rec_synapses", "has_bias", "has_aliases", "max_alias_targets", "weight_bits",
                "weight_shift_bits", "state_bits", "threshold_bits", "bias_bits", "chip_bias_bits",
                "dash_bits", "max_input_events", "max_hidden_spikes", "max_readout_spikes")
        return [(k, getattr(self, k), self.sources.get(k, "")) for k in keys]


def _sources(**extra: str) -> Mapping[str, str]:
    d = dict(_COMMON_SOURCES)
    d.update(extra)
    return MappingProxyType(d)


AUDIO2 = XyloSpec(
    name="audio2",
    chip="SYNS61201",
    description="SynSense Xylo Audio 2 (SYNS61201): 16 in, 1000 hidden (2 synapses), 8 readout",
    rockpool_package="rockpool.devices.xylo.syns61201",
    simulator="xylosim.v2",
    n_hidden=1000,
    n_readout=8,
    n_output_channels=8,
    n_syn=2,
    input_expansion=1000,
    output_expansion=1000,
    max_fanout=64,
    max_rec_synapses=32000,
    has_bias=True,
    update="v2",
    sources=_sources(
        chip="xylo.md §1",
        simulator=f"{RP}/syns61201/xylo_sim.py:10 (from xylosim.v2 import ...) [code]",
        update=f"{XS} src/v2/cpp/XyloIAFNeuron.cpp evolve; xylo.md §2 [code+test]",
        n_hidden=f"xylo.md §1 [doc]; {RP}/syns61201/xylo_mapper.py:312 max_hidden_neurons=1000",
        n_readout=f"xylo.md §1 [doc]; {RP}/syns61201/xylo_mapper.py:313 max_output_neurons=8",
        n_output_channels=f"{RP}/syns61201/xylo_mapper.py:84 le_8_output_channels (warning)",
        n_syn="xylo.md §1 (2 synaptic states per hidden neuron) [doc]",
        input_expansion="xylo.md §1 (input to all 1000 hidden) [doc]",
        output_expansion="xylo.md §1 (readout from all 1000 hidden) [doc]",
        max_fanout="xylo.md §1 (max fan-out 64 per neuron) [doc]",
        max_rec_synapses="xylo.md §1 (average fan-out 32 per neuron, syn1 and syn2 weights share "
                         "an entry): 1000 x 32 [inferred]",
        has_bias=f"{RP}/syns61201/xylo_samna.py:235 (config.bias_enable) [code]",
    ),
)

AUDIO3 = XyloSpec(
    name="audio3",
    chip="SYNS65302",
    description="SynSense Xylo Audio 3 (SYNS65302): 16 in (IEN 128), 992 hidden (2 synapses), "
                "32 readout (OEN 128)",
    rockpool_package="rockpool.devices.xylo.syns65302",
    simulator="xylosim.v2",
    n_hidden=992,
    n_readout=32,
    n_output_channels=16,
    n_syn=2,
    input_expansion=128,
    output_expansion=128,
    max_fanout=1024,
    max_rec_synapses=31744,
    has_bias=True,
    update="v2",
    sources=_sources(
        chip="xylo.md §1",
        simulator=f"{RP}/syns65302/__init__.py:19 (XyloSim of syns63300, on xylosim.v2) [code]",
        update=f"{XS} src/v2/cpp/XyloIAFNeuron.cpp evolve; xylo.md §2 [code+test]",
        n_hidden=f"xylo.md §1 [doc]; {RP}/syns65302/xylo_mapper.py:95 max_hidden_neurons=992",
        n_readout=f"xylo.md §1 [doc]; {RP}/syns65302/xylo_mapper.py:96 max_output_neurons=32",
        n_output_channels=f"{RP}/syns65302/xylo_mapper.py:53-60 le_16_output_channels (warning)",
        n_syn=f"xylo.md §1 [doc]; {RP}/syns65302/xylo_samna.py:109 (raises if Nsyn > 2)",
        input_expansion=f"{RP}/syns65302/xylo_samna.py:237-243 (weights_in[:, :128]); "
                        "IWTRAM 0x800 = 16 x 128 (syns65302/ram.py) [code]",
        output_expansion=f"{RP}/syns65302/xylo_samna.py:245-249 (weights_out[-128:]); "
                         "OWTRAM 0x1000 = 128 x 32 [code]",
        max_fanout="xylo.md §1 (max fan-out 1024) [doc]",
        max_rec_synapses=f"{RP}/syns65302/ram.py: HFORAM = HWTRAM = HWT2RAM = 0x7C00 = 31744 "
                         "entries (992 x 32) [code, inferred sizes]",
        has_bias=f"{RP}/syns65302/xylo_samna.py:231 (config.bias_enable) [code]",
    ),
)

IMU = XyloSpec(
    name="imu",
    chip="SYNS63300",
    description="SynSense Xylo IMU (SYNS63300): 16 in (IEN 128), 496 hidden (1 synapse), "
                "16 readout (OEN 128)",
    rockpool_package="rockpool.devices.xylo.syns63300",
    simulator="xylosim.v2",
    n_hidden=496,
    n_readout=16,
    n_output_channels=16,
    n_syn=1,
    input_expansion=128,
    output_expansion=128,
    max_fanout=512,
    max_rec_synapses=31744,
    has_bias=True,
    update="v2",
    sources=_sources(
        chip="xylo.md §1",
        simulator=f"{RP}/syns63300/xylo_sim.py:10 (from xylosim.v2 import ...) [code]",
        update=f"{XS} src/v2/cpp/XyloIAFNeuron.cpp evolve; xylo.md §2 [code+test]",
        n_hidden=f"xylo.md §1 [doc]; {RP}/syns63300/xylo_mapper.py:109 max_hidden_neurons=496",
        n_readout=f"xylo.md §1 [doc]; {RP}/syns63300/xylo_mapper.py:110 max_output_neurons=16",
        n_output_channels=f"{RP}/syns63300/xylo_mapper.py:53 le_16_output_channels (warning)",
        n_syn=f"xylo.md §1 [doc]; {RP}/syns63300/xylo_mapper.py:71 max_synapses_per_neuron=1",
        input_expansion=f"xylo.md §1 [doc]; {RP}/syns63300/xylo_samna.py:229-233 (weights_in[:, :128])",
        output_expansion=f"xylo.md §1 [doc]; {RP}/syns63300/xylo_samna.py:237-241 (weights_out[-128:])",
        max_fanout="xylo.md §1 (max fan-out 512) [doc]",
        max_rec_synapses="xylo.md §1 (average fan-out 64): 496 x 64 = 31744 [inferred]",
        has_bias=f"{RP}/syns63300/xylo_samna.py:223 (config.bias_enable) [code]",
    ),
)

V1 = XyloSpec(
    name="v1",
    chip="SYNS61300",
    description="SynSense Xylo v1 (SYNS61300): 16 in, 1000 hidden (2 synapses), 8 readout, no bias",
    rockpool_package="rockpool.devices.xylo.syns61300",
    simulator="xylosim.v1",
    n_hidden=1000,
    n_readout=8,
    n_output_channels=8,
    n_syn=2,
    input_expansion=1000,
    output_expansion=1000,
    max_fanout=None,
    max_rec_synapses=None,
    has_bias=False,
    update="v1",
    sources=_sources(
        chip="xylo.md §1 (hardware support removed from rockpool, commit e95c902e)",
        simulator=f"{RP}/syns61300/xylo_sim.py:11 (from xylosim.v1 import ...) [code]",
        update=f"{XS} src/v1/cpp/XyloIAFNeuron.cpp evolve (decayState, one saturation) [code+test]",
        n_hidden=f"{RP}/syns61300/xylo_sim.py:45 default shape (16, 1000, 8) [code]",
        n_readout=f"{RP}/syns61300/xylo_sim.py:45 default shape (16, 1000, 8) [code]",
        n_output_channels=f"{RP}/syns61300/xylo_sim.py:45 [code]",
        n_syn=f"{XS} src/v1 (two synaptic states; rockpool passes [i_syn_decay, i_syn2_decay]) [code]",
        input_expansion="xylo.md §1 (all hidden) [doc]",
        output_expansion="xylo.md §1 (all hidden) [doc]",
        max_fanout="[?] not documented for v1: not checked",
        max_rec_synapses="[?] not documented for v1: not checked",
        has_bias=f"{XS} src/v1/cpp/XyloLayer.h (no bias argument) [code]",
    ),
)

SPECS: dict[str, XyloSpec] = {s.name: s for s in (AUDIO2, AUDIO3, IMU, V1)}
DEFAULT_VARIANT = "audio2"
VARIANTS: tuple[str, ...] = tuple(SPECS)


def get_spec(variant: Optional[str] = None) -> XyloSpec:
    """The spec of ``variant`` (default ``audio2``); NirccError for an unknown name."""
    return SPECS[check_variant("xylo", SPECS, DEFAULT_VARIANT, variant)]


#: What Xylo's neurons can do (:mod:`nircc.backends.capabilities`; docs/targets/xylo.md).
CAPABILITIES = Capabilities(
    chip="Xylo",
    nodes={"CubaLIF": "hidden or readout neurons (one synapse, I and V)",
           "LIF": "hidden or readout neurons (dash_syn 0: the input enters V in its step)",
           "IF": "hidden or readout neurons without a membrane leak (dash_mem 15)",
           "CubaLI": "readout neurons read out as Vmem", "LI": "readout neurons read out as Vmem",
           "Affine": "int8 weights (input, recurrent or readout matrix); the bias per neuron",
           "Linear": "int8 weights", "Scale": "a diagonal weight matrix",
           "Flatten": "an index no-op", "Delay": "only a zero delay (Xylo has no synaptic delays)"},
    unsupported={"Conv1d": "a dense recurrent block has no convolutions",
                 "Conv2d": "a dense recurrent block has no convolutions",
                 "SumPool2d": "the chip has no pooling", "AvgPool2d": "the chip has no pooling",
                 "Threshold": "a stateless threshold is not a Xylo neuron (use IF or LIF)",
                 "I": "an integrator without spikes is not a Xylo neuron (use IF, or LI as readout)"},
    rules={"threshold": (">=",), "spike": ("multi", "single"), "reset": ("subtract",),
           "reset_timing": ("immediate",), "v_min": ("none",), "initial_v": ("zero",)},
    rule_words={("spike", "multi"): "up to 31 spikes per step (hidden), 1 (readout)",
                ("spike", "single"): "one spike per step: hidden thresholds 16384, so the int16 V never holds two"},
    threshold=">=", resets=("subtract",), bias="membrane",
    per_neuron=("threshold", "bias", "dash_syn", "dash_mem"), per_layer=("weight_shift",),
    decay="bit-shift", delay_steps=0, recurrent=True,
    formats={"weights": "int8 << weight_shift (0..15, one per matrix)", "threshold": "int16 (1..threshold_max)",
             "bias": "int8 (int16 in the update)", "V, I": "int16 saturating",
             "dash": "4-bit unsigned (x -= x >> dash)"},
)
