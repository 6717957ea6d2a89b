"""SpiNNaker2: chip limits, py-spinnaker2 neuron models and a per-PE memory model (cited).

Everything here comes from ``/work/shared/targets/spinnaker2.md``; its source ids (S1..S9)
and reliability tags are kept with every value (:data:`SOURCES`, :meth:`S2Spec.table`):

* ``[code]``     read in source code that drives py-spinnaker2 (s2_nir, paper scripts, Fugu);
* ``[doc]``      datasheet or documentation;
* ``[trace]``    checked numerically against the NIR paper's py-spinnaker2 trace;
* ``[inferred]`` a reading of the above, not confirmed;
* ``[2nd]``      a third-party summary of unknown reliability;
* ``[assumed]``  a nircc assumption (memory model below), adjustable.

The py-spinnaker2 core (``snn.py``, the ARM neuron applications) is not public, so the
neuron update, the weight quantization and the PE memory layout are not read from the
chip's code.  The neuron equations are in :mod:`nircc.backends.spinnaker2.emulator`.

Number formats
--------------
* neuron state and parameters (``v``, ``threshold``, ``alpha_decay``, ``i_offset``,
  ``v_reset``, ``exc_decay``, ``inh_decay``, synaptic currents): IEEE-754 binary32
  (float32, Cortex-M4F FPv4-SP, no double precision) [doc]/[trace];
* list-projection weights: signed integers, ``[-15, 15]`` on ``lif`` / ``lif_curr_exp``
  (4-bit magnitude + sign [inferred]) with a 3-bit delay field ``0..7``; ``[-127, 127]`` on the
  ``*_no_delay`` models (8-bit, delay must be 0) [code S1/S2/S5];
* ``lif_conv2d`` kernels: int8 ``[-128, 127]`` (s2_nir ``astype(np.int8)``) [code S1];
* ``t_refrac``: non-negative integer number of steps [inferred];
* spike times of ``spike_list``: non-negative integer steps [code S3].

PE memory model
---------------
A PE's data memory (DTCM, ~96 KiB of the 128 KiB SRAM) holds the neuron state, the
synapse rows, the recording buffers and the application's fixed data.  The layout of
py-spinnaker2's neuron applications is not public: :class:`MemoryModel` is a documented
*assumption* with every size adjustable (``dataclasses.replace``).  :func:`pe_memory`
gives the bytes a PE needs for one slice of a population::

    fixed      = fixed_bytes
    neurons    = n * 4 * (state_words[model] + buffer_slots * synapse_types)
    synapses   = n_incoming_synapses * synapse_bytes + n_rows * row_header_bytes
                 + round4(conv_kernel_weights * kernel_weight_bytes) + n_conv * conv_params_bytes
    recording  = timesteps * (round4(ceil(n / 8)) if "spikes")    one bit per neuron and step
               + timesteps * 4 * n              if "v"           one float32 per neuron and step
    inputs     = n * 4 + n_input_spikes * 4     (spike_list: an offset per neuron + the times)

``buffer_slots`` is ``max_delay + 1`` (the input ring buffer of a delayed model).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

from ...errors import NirccError
from ..base import check_variant
from ..capabilities import Capabilities

Ki = 1024

#: Source ids of ``targets/spinnaker2.md`` ("Sources used").
SOURCES: Mapping[str, str] = MappingProxyType({
    "S1": "spinnaker2/s2_nir.py, a public fork copy (ConversionConfig, IntegratorMethod, ResetMethod, AvgPool2d)",
    "S2": "later upstream s2_nir variant, copied in SpiNNakerManchester/sPiNNIRker (spinnirker/convert.py)",
    "S3": "neuromorphs/NIR @7232ada paper/01_lif/lif_spinnaker2.{py,csv}, paper/02_cnn/s2_apply.ipynb, "
          "paper/03_rnn/s2_apply.py, docs/.../spinnaker2",
    "S4": "bvogginger/NIR_Tutorial_at_NICE_2024 @dbd2fed notebooks/spinnaker2_demo (Brian2 backend)",
    "S5": "Sandia Fugu spinnaker2 backend (uses py-spinnaker2 directly)",
    "S6": "py-spinnaker2 example lif_fugu (weight bits comment)",
    "S7": "SpiNNaker2 datasheet v0.03, 19 Aug 2021",
    "S8": "third-party surveys of the SpiNNaker2 stack (read as pointers, not as fact)",
    "S9": "third-party 'nuro' SpiNNaker2 backend (weights [-15, 15], delay [0, 7])",
    "nircc": "nircc assumption (no public source); adjustable",
})

#: The neuron models nircc emits or reads, in the order of the table.
MODEL_NAMES: tuple[str, ...] = (
    "spike_list", "lif", "lif_no_delay", "lif_curr_exp", "lif_curr_exp_no_delay", "lif_conv2d")

#: Parameter keys of every ``lif*`` model [code S1/S3/S4].
LIF_PARAMS: tuple[str, ...] = ("threshold", "alpha_decay", "i_offset", "v_reset", "reset")
#: Extra keys of the ``lif_curr_exp*`` models [code S1].
CURR_EXP_PARAMS: tuple[str, ...] = ("exc_decay", "inh_decay", "t_refrac")
#: The two reset modes [code S1].
RESETS: tuple[str, ...] = ("reset_by_subtraction", "reset_to_v_reset")
#: What a population can record [code S3/S4].
RECORDABLE: tuple[str, ...] = ("spikes", "v")


@dataclass(frozen=True)
class NeuronModel:
    """One py-spinnaker2 neuron model as nircc uses it.

    ``params``: the parameter keys (``spike_list`` takes ``{neuron: [steps]}`` instead).
    ``projections``: the projection kinds this model accepts as post-synaptic population.
    ``weight_range``: inclusive integer range of the weights it receives.
    ``max_delay``: largest delay field (latency = field + 1 steps); 0 means delay must be 0.
    ``synapse_types``: input channels (2 for exc/inh synaptic currents, split by weight sign).
    ``state_words``: 4-byte words of state and parameters per neuron (memory model, [assumed]).
    """

    name: str
    params: tuple[str, ...]
    projections: tuple[str, ...]
    weight_range: Optional[tuple[int, int]]
    max_delay: int
    synapse_types: int
    state_words: int
    tag: str
    source: str

    @property
    def is_input(self) -> bool:
        return self.name == "spike_list"

    @property
    def has_synaptic_current(self) -> bool:
        return self.synapse_types == 2

    @property
    def buffer_slots(self) -> int:
        """Input ring-buffer slots per synapse type: ``max_delay + 1``."""
        return self.max_delay + 1


_LIF_STATE = 5          # v, threshold, alpha_decay, i_offset, v_reset
_CURR_EXP_STATE = 11    # + i_exc, i_inh, exc_decay, inh_decay, t_refrac, refractory counter

MODELS: Mapping[str, NeuronModel] = MappingProxyType({m.name: m for m in (
    NeuronModel("spike_list", (), (), None, 0, 0, 1, "[code]",
                "S3/S4: params {neuron_idx: [timesteps]}, loaded before the run"),
    NeuronModel("lif", LIF_PARAMS, ("list",), (-15, 15), 7, 1, _LIF_STATE, "[code]",
                "S5 'Synaptic weights are integers in [-15,15]', maxDelay = 8 ('s2 always adds 1'); S9"),
    NeuronModel("lif_no_delay", LIF_PARAMS, ("list",), (-127, 127), 0, 1, _LIF_STATE, "[code]",
                "S1/S2 'scale weights to maximum dynamic range [-127, 127]'; trace S3"),
    NeuronModel("lif_curr_exp", LIF_PARAMS + CURR_EXP_PARAMS, ("list",), (-15, 15), 7, 2, _CURR_EXP_STATE,
                "[code]/[inferred]", "S1 convert_CubaLIF keys; weight/delay format as lif (S5, S9)"),
    NeuronModel("lif_curr_exp_no_delay", LIF_PARAMS + CURR_EXP_PARAMS, ("list",), (-127, 127), 0, 2,
                _CURR_EXP_STATE, "[code]", "S1/S2 convert_CubaLIF, 127 scaling"),
    NeuronModel("lif_conv2d", LIF_PARAMS, ("conv2d",), (-128, 127), 0, 1, _LIF_STATE, "[code]/[inferred]",
                "S1 get_conv2d_params: kernel astype(np.int8), Conv2DProjection needs conn_delay 0; the "
                "neuron update is taken to be lif's; list projections into it are not seen, so not accepted"),
)})


@dataclass(frozen=True)
class MemoryModel:
    """Sizes of the PE data-memory model (module docstring).  All [assumed] unless noted;
    change them with ``dataclasses.replace(DEFAULT_MEMORY, ...)``."""

    #: application globals, stack, population/routing tables per PE
    fixed_bytes: int = 8 * Ki
    #: one synapse word ``| weight | delay | index |`` (SpiNNaker1 heritage, [inferred] S8)
    synapse_bytes: int = 4
    #: header of one synaptic row (one pre-synaptic neuron's synapses on this PE)
    row_header_bytes: int = 4
    #: one int8 kernel weight of a Conv2DProjection ([code] S1: int8)
    kernel_weight_bytes: int = 1
    #: the conv_params record of one Conv2DProjection (10 int32 fields)
    conv_params_bytes: int = 40
    #: one spike time of a spike_list population (uint32)
    spike_time_bytes: int = 4
    #: per spike_list neuron: the offset of its times
    input_neuron_bytes: int = 4
    #: one recorded voltage (float32)
    voltage_bytes: int = 4

    def table(self) -> list[tuple[str, int, str]]:
        """(item, bytes, tag) rows."""
        tags = {"synapse_bytes": "[inferred] S8", "kernel_weight_bytes": "[code] S1",
                "voltage_bytes": "[doc] float32"}
        return [(k, getattr(self, k), tags.get(k, "[assumed]")) for k in self.__dataclass_fields__]


DEFAULT_MEMORY = MemoryModel()


def _round4(nbytes: int) -> int:
    return (int(nbytes) + 3) // 4 * 4


def pe_memory_breakdown(model: str, n_neurons: int, n_incoming_synapses: int = 0,
                        record: Iterable[str] = (), timesteps: int = 0, *, n_rows: int = 0,
                        conv_kernel_weights: int = 0, n_conv: int = 0, n_input_spikes: int = 0,
                        memory: MemoryModel = DEFAULT_MEMORY) -> dict[str, int]:
    """Bytes of PE data memory for ``n_neurons`` of ``model`` (module docstring), per part:
    ``{"fixed", "neurons", "synapses", "recording"}``.

    ``n_incoming_synapses``: list-projection synapses whose post neuron is on this PE;
    ``n_rows``: their distinct pre-synaptic neurons (row headers); ``conv_kernel_weights``
    and ``n_conv``: kernel weights and number of Conv2DProjections into this PE;
    ``n_input_spikes``: spike times held by a ``spike_list`` slice.
    """
    m = get_model(model)
    n = int(n_neurons)
    rec = set(record)
    unknown = rec - set(RECORDABLE)
    if n < 0 or int(timesteps) < 0 or unknown:
        raise ValueError(f"pe_memory: n_neurons {n}, timesteps {timesteps}, record {sorted(rec)}")
    if m.is_input:
        neurons = n * memory.input_neuron_bytes + int(n_input_spikes) * memory.spike_time_bytes
    else:
        neurons = n * 4 * (m.state_words + m.buffer_slots * m.synapse_types)
    synapses = (int(n_incoming_synapses) * memory.synapse_bytes + int(n_rows) * memory.row_header_bytes
                + _round4(int(conv_kernel_weights) * memory.kernel_weight_bytes)
                + int(n_conv) * memory.conv_params_bytes)
    recording = 0
    if "spikes" in rec:
        recording += int(timesteps) * _round4((n + 7) // 8)
    if "v" in rec:
        recording += int(timesteps) * memory.voltage_bytes * n
    return {"fixed": memory.fixed_bytes, "neurons": neurons, "synapses": synapses, "recording": recording}


def pe_memory(model: str, n_neurons: int, n_incoming_synapses: int, record: Iterable[str], timesteps: int,
              **kwargs: Any) -> int:
    """Total bytes of PE data memory (sum of :func:`pe_memory_breakdown`; same keywords)."""
    return sum(pe_memory_breakdown(model, n_neurons, n_incoming_synapses, record, timesteps, **kwargs).values())


def get_model(name: str) -> NeuronModel:
    """The neuron model ``name``; NirccError naming the known ones otherwise."""
    if name not in MODELS:
        raise NirccError(f"unknown SpiNNaker2 neuron model {name!r} (known: {', '.join(MODEL_NAMES)})",
                         field="neuron_model")
    return MODELS[name]


_CHIP_ROWS: tuple[tuple[str, str, str], ...] = (
    ("n_pes", "[doc]", "S7: 152 ARM Cortex-M4F PEs (38 QuadPEs x 4) + 1 periphery M4; S8"),
    ("app_pes_per_chip", "[2nd]", "S8: 148 PEs usable by applications per chip"),
    ("sram_per_pe", "[doc]", "S7: 128 KB local code and data memory per PE"),
    ("code_memory", "[2nd]", "S8: ~32 KB ITCM (code)"),
    ("data_memory", "[2nd]", "S8: ~96 KB DTCM (synapse rows, neuron state, recordings)"),
    ("state_format", "[doc]/[trace]", "S7 FPv4-SP single precision; trace S3 matches float32 to 1 ulp"),
    ("router_entries", "[doc]", "S7: 16,384 associative (key/mask) multicast routing entries"),
    ("chip_links", "[doc]", "S7: 6 chip-to-chip links"),
    ("host_link", "[code]", "S3/S9: 1 GbE, UDP (hardware.SpiNNaker2Chip(eth_ip=...))"),
    ("n_chips", "[code]/[2nd]", "S9/S8: SpiNNcloud 48-node board (hardware.SpiNNcloud48NodeBoard)"),
    ("max_delay_steps", "[code]", "S5: maxDelay = 8 steps (field 0..7, latency field + 1)"),
    ("sys_tick_in_s", "[code]", "S3/S4: hw.run(net, T, sys_tick_in_s=1e-3); 2.5e-3 seen"),
)


@dataclass(frozen=True)
class S2Spec:
    """Limits of one SpiNNaker2 system (a single chip or a board of ``n_chips``)."""

    name: str
    description: str
    n_chips: int = 1
    #: PEs per chip (ARM Cortex-M4F)
    n_pes: int = 152
    #: PEs per chip available to applications
    app_pes_per_chip: int = 148
    #: SRAM per PE, bytes
    sram_per_pe: int = 128 * Ki
    #: instruction memory (ITCM) per PE, bytes (approximate split)
    code_memory: int = 32 * Ki
    #: data memory (DTCM) per PE, bytes: the budget of :func:`pe_memory`
    data_memory: int = 96 * Ki
    state_format: str = "float32"
    router_entries: int = 16384
    chip_links: int = 6
    host_link: str = "1 GbE (UDP)"
    #: largest synaptic latency in steps of the delayed models (delay field 7 + 1)
    max_delay_steps: int = 8
    #: default timer tick of hw.run
    sys_tick_in_s: float = 1e-3
    models: Mapping[str, NeuronModel] = field(default_factory=lambda: MODELS)
    memory: MemoryModel = DEFAULT_MEMORY

    @property
    def app_pes(self) -> int:
        """PEs available to applications on the whole system."""
        return self.n_chips * self.app_pes_per_chip

    def model(self, name: str) -> NeuronModel:
        return get_model(name)

    def pe_memory(self, model: str, n_neurons: int, n_incoming_synapses: int, record: Iterable[str],
                  timesteps: int, **kwargs: Any) -> int:
        """:func:`pe_memory` with this spec's memory model."""
        kwargs.setdefault("memory", self.memory)
        return pe_memory(model, n_neurons, n_incoming_synapses, record, timesteps, **kwargs)

    def table(self) -> list[tuple[str, Any, str, str]]:
        """(item, value, tag, source) rows: chip limits, then one row per neuron model
        (weight range, delays, inputs), then the memory model."""
        rows: list[tuple[str, Any, str, str]] = [
            (key, getattr(self, key), tag, src) for key, tag, src in _CHIP_ROWS]
        rows.append(("app_pes", self.app_pes, "[2nd]", "S8: 148 per chip x n_chips (7,104 on a 48-node board)"))
        for m in self.models.values():
            value = {"params": list(m.params) or "{neuron: [steps]}", "projections": list(m.projections),
                     "weight_range": m.weight_range, "delay_field": (0, m.max_delay)}
            rows.append((f"model.{m.name}", value, m.tag, m.source))
        for key, value, tag in self.memory.table():
            rows.append((f"memory.{key}", value, tag, SOURCES["nircc"] if tag == "[assumed]" else tag))
        return rows


SPECS: Mapping[str, S2Spec] = MappingProxyType({s.name: s for s in (
    S2Spec("chip", "one SpiNNaker2 chip (hardware.SpiNNaker2Chip)"),
    S2Spec("board48", "SpiNNcloud 48-node board (hardware.SpiNNcloud48NodeBoard)", n_chips=48),
)})
DEFAULT_VARIANT = "chip"
VARIANTS: tuple[str, ...] = tuple(SPECS)


def get_spec(variant: Optional[str] = None) -> S2Spec:
    """The spec of ``variant`` (default ``chip``); NirccError for an unknown name."""
    return SPECS[check_variant("spinnaker2", SPECS, DEFAULT_VARIANT, variant)]


#: What SpiNNaker2's py-spinnaker2 neuron models can do (:mod:`nircc.backends.capabilities`;
#: docs/targets/spinnaker2.md).
CAPABILITIES = Capabilities(
    chip="SpiNNaker2",
    nodes={"LIF": "a lif / lif_no_delay population", "IF": "a lif population with alpha_decay 1",
           "CubaLIF": "a lif_curr_exp population", "LI": "a lif population recording v (never fires)",
           "I": "a lif population recording v, alpha_decay 1", "CubaLI": "a lif_curr_exp population recording v",
           "Affine": "a list projection; the bias into i_offset", "Linear": "a list projection",
           "Scale": "a one-to-one list projection", "Conv2d": "a Conv2DProjection",
           "SumPool2d": "fused into a Conv2DProjection or a list projection",
           "AvgPool2d": "fused into a Conv2DProjection or a list projection",
           "Flatten": "an index no-op", "Delay": "the synapse delay field (0..7) or relay populations"},
    unsupported={"Threshold": "a stateless threshold is not a py-spinnaker2 neuron model (use IF or LIF)",
                 "Conv1d": "py-spinnaker2 convolutions are 2-D Conv2DProjections (reshape to Conv2d)"},
    rules={"spike": ("single",), "reset_timing": ("immediate",), "v_min": ("none",), "initial_v": ("zero",)},
    threshold=">", resets=("subtract", "to_v_reset"), bias="membrane",
    per_neuron=("threshold", "alpha_decay", "i_offset", "v_reset", "exc_decay", "inh_decay"),
    decay="float32", delay_steps=7, recurrent=True,
    formats={"weights": "integers [-15, 15] (lif, lif_curr_exp) or [-127, 127] (*_no_delay)",
             "v, currents, parameters": "float32"},
)
