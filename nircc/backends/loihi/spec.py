"""Loihi 2: chip capacity and the fixed-point formats of Lava's bit-accurate models.

Everything a lowering, a mapper or the emulator needs to know about the numbers, in one
place.  Every value carries its source (:meth:`LoihiSpec.table`); change any of them with
``dataclasses.replace`` (the spec, :class:`Formats`, :class:`SynapseMemoryModel` and
:class:`NeuronModelCapacity` are frozen dataclasses).

Sources (tags as in ``shared/targets/loihi.md``)
------------------------------------------------
* ``[code]`` read in source: **lava** = lava-nc/lava @ ``b6822fb`` (2025-07-28), paths under
  ``src/lava/``; **netx** = lava-nc/lava-dl @ ``d825ac5``, paths under ``src/lava/lib/dl/netx/``;
  ``file:line`` as in those commits;
* ``[doc]`` public documentation (Intel's Loihi 2 brief, 2021; ``loihi.md`` §1), not checked
  against a chip here;
* ``[assumed]`` a nircc assumption where nothing public says more (the synaptic memory
  model); adjustable.

Fixed-point formats (:class:`Formats`, all integers, two's complement, no fraction bits)
--------------------------------------------------------------------------------------
=================  ==================================================================
quantity           format
=================  ==================================================================
``u``, ``v``       24-bit signed, held in int32 (lava lif/models.py:80-81, 100-102);
                   ``u`` wraps as Lava writes it: one conditional +-2**24 per step, which
                   brings a value less than 2**23 out of range into ``(-2**23, 2**23]``
                   (lif/models.py:161-171); ``v`` saturates to ``[-(2**23 - 1), 2**23 - 1]``
                   (lif/models.py:176-186)
``du``, ``dv``     12-bit unsigned 0..4095, one per layer (lif/models.py:82-83, 252-253;
                   lif/process.py ``Var(shape=(1,))``); decay factors ``4096 - (du + 1)`` and
                   ``4096 - dv`` (``ds_offset = 1``, ``dm_offset = 0``, lif/models.py:94-95),
                   products shifted right by 12 rounding toward zero (lif/models.py:149-152)
``vth``            17-bit unsigned mantissa 0..131071, one per layer; effective threshold
                   ``vth << 6`` (lif/models.py:257, 262, 273); spike when ``v > vth << 6``
                   (lif/models.py:278), then ``v = 0`` (lif/models.py:192)
``bias_mant``      13-bit signed -4096..4095 per neuron (lif/models.py:84, 254-255)
``bias_exp``       3-bit unsigned 0..7 (lif/models.py:85, 256); effective bias
                   ``bias_mant << bias_exp`` (lif/models.py:116-121); netx always uses 6
                   (netx hdf5.py:158)
``a_in``           synaptic input, declared int16/16-bit (lif/models.py:78), enters ``u``
                   as ``a_in << 6`` (lif/models.py:155); Lava's Python models carry it in
                   int32 (dense/models.py:64, the channel takes the sender's dtype)
weights            8-bit mantissa in a sign mode: MIXED ``[-256, 255]``, EXCITATORY
                   ``[0, 255]``, INHIBITORY ``[-255, 0]`` (weightutils.py:250-295), then the low
                   ``8 - num_weight_bits (+1 if MIXED)`` bits cleared (weightutils.py:204-247);
                   ``num_weight_bits`` 1..8 (dense/models.py:83, default 8)
``weight_exp``     shared exponent: the accumulated input is shifted by it (left for > 0,
                   arithmetic right for < 0) before it is sent (dense/models.py:103-107);
                   netx chooses it in -8..0 (netx utils.py:133-149); range kept here -8..7
                   ([?], Loihi 1's 4-bit signed exponent; not documented for Loihi 2)
graded spikes      ``num_message_bits`` 0 (binary) .. 24 (lif/models.py:261 ``s_out``
                   precision 24; conv/models.py:73)
conv accumulator   24-bit, wrapped (``signed_clamp``, conv/models.py:78-79, conv/utils.py:67-84)
conv geometry      stride/padding/dilation/groups/kernel held as int8 (conv/models.py:25-29)
delays             per synapse 0..62 steps: netx clamps to 62 (netx hdf5.py:425-430,
                   utils.py:179-183); Lava's DelayDense takes 0..63 (dense/models.py:297-298,
                   330-334)
=================  ==================================================================

Capacity (:class:`LoihiSpec`)
-----------------------------
128 neurocores per chip (lava magma/compiler/subcompilers/constants.py:9
``NUM_VIRTUAL_CORES_L2 = 128``; loihi.md §1), neurons per core by neuron model
(:data:`NEURON_MODELS`, 8192 for CUBA LIF: the documented per-core maximum, loihi.md §1), and
the synaptic memory model :class:`SynapseMemoryModel` ([assumed], loihi.md §1 says the
memory words per synapse are not public)::

    synapse_bits = num_weight_bits + (delay_bits if the synapse has a delay)
                   + (index_bits if stored sparse)
    words(core)  = n_rows * row_header_words + ceil(n_synapses * synapse_bits / word_bits)
    a core fits when words(core) <= words_per_core = memory_bits // word_bits

where ``n_rows`` is the number of distinct pre-synaptic neurons whose synapses land on the
core (one row each).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ...errors import NirccError
from ..base import check_variant
from ..capabilities import Capabilities

LAVA = "lava-nc/lava@b6822fb src/lava/"
NETX = "lava-nc/lava-dl@d825ac5 src/lava/lib/dl/netx/"

#: Lava's sign modes (weightutils.py:12-18, ``SignMode``), by the names nircc stores.
SIGN_MODES: tuple[str, ...] = ("mixed", "excitatory", "inhibitory")


@dataclass(frozen=True)
class Formats:
    """The fixed-point formats of Lava's bit-accurate models (module docstring table)."""

    #: width of u and v (signed)
    uv_bits: int = 24
    #: width of du, dv (unsigned) and the decay shift
    decay_bits: int = 12
    #: added to du / dv to form the decay constant
    ds_offset: int = 1
    dm_offset: int = 0
    #: threshold mantissa width (unsigned) and its alignment shift
    vth_bits: int = 17
    vth_shift: int = 6
    #: alignment shift of the synaptic input a_in
    act_shift: int = 6
    #: bias mantissa width (signed) and exponent width (unsigned)
    bias_mant_bits: int = 13
    bias_exp_bits: int = 3
    #: the bias exponent netx writes for every CUBA layer
    netx_bias_exp: int = 6
    #: weight mantissa bits (clip_weights num_bits) and the largest num_weight_bits
    weight_bits: int = 8
    #: weight exponent range (inclusive)
    weight_exp_min: int = -8
    weight_exp_max: int = 7
    #: declared width of the synaptic activation (a_out / a_in)
    activation_bits: int = 16
    #: largest graded-spike payload
    max_message_bits: int = 24
    #: conv accumulator width (wrapped)
    conv_accumulator_bits: int = 24
    #: largest conv geometry value (int8 Vars)
    conv_param_max: int = 127
    #: largest synaptic delay (steps) netx passes on, and Lava DelayDense's own limit
    max_delay: int = 62
    lava_max_delay: int = 63

    # ---- derived values
    @property
    def decay_unity(self) -> int:
        """4096: the decay factor of 'no decay'."""
        return 1 << self.decay_bits

    @property
    def decay_max(self) -> int:
        return (1 << self.decay_bits) - 1

    @property
    def max_uv(self) -> int:
        """2**23: u wraps above it, v saturates one below it."""
        return 1 << (self.uv_bits - 1)

    @property
    def vth_max(self) -> int:
        return (1 << self.vth_bits) - 1

    @property
    def bias_mant_range(self) -> tuple[int, int]:
        return -(1 << (self.bias_mant_bits - 1)), (1 << (self.bias_mant_bits - 1)) - 1

    @property
    def bias_exp_max(self) -> int:
        return (1 << self.bias_exp_bits) - 1

    def weight_range(self, sign_mode: str) -> tuple[int, int]:
        """Inclusive range ``clip_weights(num_bits=8)`` keeps for ``sign_mode``."""
        top = (1 << self.weight_bits) - 1
        if sign_mode == "mixed":
            return -(1 << self.weight_bits), top
        if sign_mode == "excitatory":
            return 0, top
        if sign_mode == "inhibitory":
            return -top, 0
        raise NirccError(f"unknown sign mode {sign_mode!r} (known: {', '.join(SIGN_MODES)})", field="sign_mode")


_FORMAT_SOURCES: Mapping[str, str] = MappingProxyType({
    "uv_bits": "lif/models.py:80-81,100-102 (int32 precision 24, uv_bitwidth = 24)",
    "decay_bits": "lif/models.py:82-83,104-105 (uint16 precision 12, decay_shift = 12)",
    "ds_offset": "lif/models.py:89-95 (ds_offset = 1, dm_offset = 0)",
    "dm_offset": "lif/models.py:89-95",
    "vth_bits": "lif/models.py:257,262 (vth: unsigned 17-bit)",
    "vth_shift": "lif/models.py:107,273",
    "act_shift": "lif/models.py:108,155",
    "bias_mant_bits": "lif/models.py:84,254",
    "bias_exp_bits": "lif/models.py:85,256 (unsigned 3-bit 0..7)",
    "netx_bias_exp": NETX + "hdf5.py:158 ('bias_exp': 6)",
    "weight_bits": "dense/models.py:68,83,87 (clip_weights(num_bits=8)); weightutils.py:250-295",
    "weight_exp_min": "[?] netx utils.py:133-149 yields -8..0; Loihi 1 had a 4-bit signed exponent",
    "weight_exp_max": "[?] as weight_exp_min",
    "activation_bits": "lif/models.py:78 (a_in int16 precision 16); dense/models.py:64-65",
    "max_message_bits": "lif/models.py:261 (s_out precision 24); conv/models.py:73",
    "conv_accumulator_bits": "conv/models.py:73-79; conv/utils.py:67-84 (signed_clamp)",
    "conv_param_max": "conv/models.py:25-30 (int8 precision 8)",
    "max_delay": NETX + "hdf5.py:425-430 (clamped to 62), utils.py:179-183 (>= 63 raises)",
    "lava_max_delay": "dense/models.py:297-298,330-334 (6 bits, 0..63)",
})


@dataclass(frozen=True)
class NeuronModelCapacity:
    """How many neurons of one model a neurocore holds."""

    name: str
    neurons_per_core: int
    tag: str
    source: str


#: Neuron models nircc emits (netx ``neuron/type``), with their per-core capacity.
NEURON_MODELS: Mapping[str, NeuronModelCapacity] = MappingProxyType({m.name: m for m in (
    NeuronModelCapacity(
        "CUBA", 8192, "[doc]",
        "loihi.md §1: 'up to 8192 neurons per core, depending on the neuron model's state size'; "
        "taken as the CUBA LIF bound (configurable)"),
)})


@dataclass(frozen=True)
class SynapseMemoryModel:
    """The per-core synaptic memory model (module docstring).  All [assumed] unless noted."""

    #: synaptic memory of one core, bits (Loihi 1's 128 KB per core, loihi.md §1; Loihi 2
    #: shares its per-core memory flexibly between state and synapses)
    memory_bits: int = 128 * 1024 * 8
    #: width of one memory word
    word_bits: int = 64
    #: words of header per synaptic row (one row per pre-synaptic neuron and core)
    row_header_words: int = 1
    #: extra bits per synapse with a delay (delays 0..62 need 6 bits)
    delay_bits: int = 6
    #: extra bits per synapse stored sparse (a post-neuron index, log2(8192))
    index_bits: int = 13

    @property
    def words_per_core(self) -> int:
        return self.memory_bits // self.word_bits

    def synapse_bits(self, num_weight_bits: int, delays: bool = False, sparse: bool = False) -> int:
        return int(num_weight_bits) + (self.delay_bits if delays else 0) + (self.index_bits if sparse else 0)

    def words(self, n_synapses: int, n_rows: int, num_weight_bits: int, delays: bool = False,
              sparse: bool = False) -> int:
        """Memory words of ``n_synapses`` synapses in ``n_rows`` rows on one core."""
        if n_synapses < 0 or n_rows < 0:
            raise ValueError(f"negative synapse count {n_synapses} or row count {n_rows}")
        bits = int(n_synapses) * self.synapse_bits(num_weight_bits, delays, sparse)
        return int(n_rows) * self.row_header_words + -(-bits // self.word_bits)

    def table(self) -> list[tuple[str, int, str]]:
        return [(f.name, getattr(self, f.name), "[assumed]") for f in fields(self)]


DEFAULT_MEMORY = SynapseMemoryModel()


@dataclass(frozen=True)
class LoihiSpec:
    """Capacity and formats of one Loihi 2 system (a chip or a board of ``chips``)."""

    name: str
    description: str
    #: Loihi 2 chips in the system
    chips: int = 1
    #: neurocores per chip
    cores_per_chip: int = 128
    #: embedded x86 (Lakemont) cores per chip Lava allocates for I/O
    embedded_cores_per_chip: int = 3
    formats: Formats = field(default_factory=Formats)
    neuron_models: Mapping[str, NeuronModelCapacity] = field(default_factory=lambda: NEURON_MODELS)
    memory: SynapseMemoryModel = DEFAULT_MEMORY
    chips_tag: str = "[doc]"
    chips_source: str = ""

    @property
    def cores(self) -> int:
        """Neurocores of the whole system."""
        return self.chips * self.cores_per_chip

    def neurons_per_core(self, model: str = "CUBA") -> int:
        if model not in self.neuron_models:
            raise NirccError(f"unknown Loihi neuron model {model!r} (known: {', '.join(self.neuron_models)})",
                             field="neuron_model")
        return self.neuron_models[model].neurons_per_core

    def core_capacity(self, model: str = "CUBA") -> dict[str, int]:
        """One neurocore's capacity per resource, as the shared mapper
        (:class:`nircc.backends.toolkit.mapping.Core`) takes it: neurons of ``model`` and
        synaptic memory words (:class:`SynapseMemoryModel`)."""
        return {"neurons": self.neurons_per_core(model), "synapse_words": self.memory.words_per_core}

    def table(self) -> list[tuple[str, Any, str, str]]:
        """(item, value, tag, source) rows: system, formats, neuron models, memory model."""
        rows: list[tuple[str, Any, str, str]] = [
            ("chips", self.chips, self.chips_tag, self.chips_source),
            ("cores_per_chip", self.cores_per_chip, "[code]",
             LAVA + "magma/compiler/subcompilers/constants.py:9 (NUM_VIRTUAL_CORES_L2 = 128); loihi.md §1"),
            ("embedded_cores_per_chip", self.embedded_cores_per_chip, "[code]",
             LAVA + "magma/compiler/subcompilers/constants.py:12 (MAX_EMBEDDED_CORES_PER_CHIP = 3)"),
        ]
        for f in fields(self.formats):
            src = _FORMAT_SOURCES[f.name]
            tag = "[?]" if src.startswith("[?]") else "[code]"
            rows.append((f"formats.{f.name}", getattr(self.formats, f.name), tag,
                         src if src.startswith(("[?]", NETX)) else LAVA + src))
        for m in self.neuron_models.values():
            rows.append((f"neurons_per_core.{m.name}", m.neurons_per_core, m.tag, m.source))
        for key, value, tag in self.memory.table():
            rows.append((f"memory.{key}", value, tag, "nircc assumption (loihi.md §1: not public); adjustable"))
        return rows


SPECS: Mapping[str, LoihiSpec] = MappingProxyType({s.name: s for s in (
    LoihiSpec("loihi2", "one Loihi 2 chip (Oheo Gulch single-chip system)", chips=1,
              chips_tag="[definition]", chips_source="the variant is one chip"),
    LoihiSpec("kapoho_point", "Kapoho Point board: 8 Loihi 2 chips", chips=8,
              chips_source="[doc] Intel Kapoho Point announcement (2022): 8 Loihi 2 chips per board; "
                           "not verified here"),
)})
DEFAULT_VARIANT = "loihi2"
VARIANTS: tuple[str, ...] = tuple(SPECS)


def get_spec(variant: Optional[str] = None) -> LoihiSpec:
    """The spec of ``variant`` (default ``loihi2``); NirccError for an unknown name."""
    return SPECS[check_variant("loihi", SPECS, DEFAULT_VARIANT, variant)]


#: What Loihi 2's neurons can do through Lava / netx (:mod:`nircc.backends.capabilities`;
#: docs/targets/loihi.md).
CAPABILITIES = Capabilities(
    chip="Loihi 2",
    nodes={"LIF": "a CUBA LIF layer (du 4095: no current state)", "IF": "a CUBA LIF layer without leak",
           "CubaLIF": "a CUBA LIF layer", "LI": "the last layer, read out as v (never fires)",
           "I": "the last layer, read out as v", "CubaLI": "the last layer, read out as v",
           "Affine": "a dense layer; the bias into bias_mant", "Linear": "a dense layer",
           "Scale": "a dense layer with a diagonal matrix (depthwise conv on maps)",
           "Conv2d": "a conv layer (stride, padding, dilation, groups native)",
           "SumPool2d": "folded into a conv or dense layer", "AvgPool2d": "folded into a conv or dense layer",
           "Flatten": "a netx flatten layer", "Delay": "per-synapse delays on dense paths (0..62 steps)"},
    unsupported={"Threshold": "a stateless threshold is not a Lava neuron (use IF or LIF)",
                 "Conv1d": "netx convolutions are 2-D (reshape to Conv2d)"},
    rules={"reset": ("zero",), "reset_timing": ("immediate",), "spike": ("single",), "v_min": ("none",),
           "initial_v": ("zero",)},
    rule_words={("reset", "zero"): "v = 0 after a spike (Lava's LIF: v[s] = 0)"},
    threshold=">", resets=("zero",), bias="membrane",
    per_neuron=("bias",), per_layer=("du", "dv", "vth"),
    decay="fixed-point-12", delay_steps=62, recurrent=True,
    formats={"weights": "int8 mantissa (1..8 bits, sign mode) << weight_exp (-8..0)",
             "vth": "17-bit unsigned << 6", "bias_mant": "13-bit signed << 6", "u, v": "24-bit signed",
             "du, dv": "12-bit unsigned (x * (4096 - d) >> 12)"},
)
