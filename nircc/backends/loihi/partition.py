"""Partitioning of a :class:`LoihiProgram` over neurocores: the spec's capacity model through
:func:`nircc.backends.toolkit.mapping`.

Every layer with neurons is a splittable population of the shared mapper; several slices
share a neurocore (``exclusive=False``).  A slice of ``k`` consecutive neurons (netx order,
``c*H*W + h*W + w``) needs, on one core (:meth:`LoihiSpec.core_capacity`)::

    neurons        k                                        (<= 8192 CUBA neurons per core)
    synapse_words  min(dense, sparse) words of SynapseMemoryModel.words with
                   S = the most nonzero synapses any k consecutive neurons receive
                       (input and recurrent synapses; a conv neuron's fan-in counts the
                       kernel taps that land inside its input, padding excluded)
                   R = min(S, the pre-synaptic neurons the slice can read)   (one row each:
                       a dense layer's inputs; a conv slice's input rows under the
                       output rows it spans, ceil(k / W_out) + 1, times W_in and the input
                       channels of the groups it spans)
                   dense  = words(R * k synapses, R rows)              (rows of k entries)
                   sparse = words(S synapses, R rows, sparse index per synapse)
                   with the layer's num_weight_bits and delay bits if it has delays

The bound is monotone in ``k`` as the mapper needs.  Cores are ``chip<c>.core<i>`` (128 per
chip, ``chips`` of the variant, filled in order by first-fit-decreasing), so the chips
used are the chips needed; a network beyond one chip's cores on ``loihi2`` is an error
suggesting ``--variant kapoho_point`` (or saying that its 1024 cores are too few as well,
when the mapper's lower bound exceeds them).  The input layer has no neurons on the chip (its
spikes come from the host) and a flatten layer is an index no-op: neither is mapped.

The report gives cores and chips used and available, the mapper's lower bound and method,
per layer its neurons, synapses and cores, and per core its slices and utilization.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...errors import ErrorCollector, NirccError
from ..toolkit.mapping import Core, MappingError, MapItem, map_resources
from .program import ConvLayer, LoihiProgram
from . import spec as spec_table
from .spec import LoihiSpec

MODEL = "CUBA"


@dataclass
class _FanIn:
    """What the synaptic memory model needs of one layer."""

    counts: np.ndarray           # nonzero synapses per neuron (int64)
    rows: int                    # pre-synaptic neurons (input + recurrent)
    num_weight_bits: int
    delays: bool
    conv: Optional[ConvLayer] = None

    def __post_init__(self) -> None:
        self.cumsum = np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)])

    def window(self, k: int) -> int:
        """The most synapses any ``k`` consecutive neurons receive."""
        k = min(k, self.counts.size)
        return int((self.cumsum[k:] - self.cumsum[:-k]).max()) if k > 0 else 0

    def rows_of(self, k: int) -> int:
        """Pre-synaptic neurons any ``k`` consecutive neurons can read: all of them for a
        dense layer; for a conv layer the input rows under the output rows the slice spans
        (at most ``ceil(k / W_out) + 1``), over the input channels of the groups it spans."""
        if self.conv is None:
            return self.rows
        lay = self.conv
        c_in, h_in, w_in = lay.in_shape
        c_out, h_out, w_out = lay.shape
        kh = np.asarray(lay.weights).shape[2]
        span = min(h_out, -(-k // w_out) + 1)
        in_rows = min(h_in, (span - 1) * lay.stride[0] + (kh - 1) * lay.dilation[0] + 1)
        per_group = c_out // lay.groups
        groups = min(lay.groups, -(-min(c_out, -(-k // (h_out * w_out)) + 1) // per_group) + 1)
        return min(self.rows, min(c_in, groups * (c_in // lay.groups)) * w_in * in_rows)


def _conv_counts(lay: ConvLayer) -> np.ndarray:
    """Nonzero kernel taps inside the input (padding excluded), per output neuron."""
    w = np.asarray(lay.weights)
    mask = (w != 0).sum(axis=1).astype(np.int64)                 # [C_out, kH, kW]
    _, h, wd = lay.in_shape
    c_out, ho, wo = lay.shape
    valid = []
    for n_in, n_out, k, s, p, d in ((h, ho, w.shape[2], lay.stride[0], lay.padding[0], lay.dilation[0]),
                                    (wd, wo, w.shape[3], lay.stride[1], lay.padding[1], lay.dilation[1])):
        i = np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d
        valid.append(((i >= 0) & (i < n_in)).astype(np.int64))
    return np.einsum("ckl,yk,xl->cyx", mask, valid[0], valid[1]).reshape(-1)


def fan_in(program: LoihiProgram) -> dict[str, _FanIn]:
    """Per neuron layer: its synapse counts (module docstring)."""
    out: dict[str, _FanIn] = {}
    for lay in program.layers:
        if lay.kind in ("dense", "dense_rec"):
            w = np.asarray(lay.synapse.weights)
            counts = (w != 0).sum(axis=1).astype(np.int64)
            rows = w.shape[1]
            if lay.synapse_rec is not None:
                counts = counts + (np.asarray(lay.synapse_rec.weights) != 0).sum(axis=1)
                rows += lay.size
            out[lay.name] = _FanIn(counts, rows, int(lay.synapse.num_weight_bits), lay.synapse.delays is not None)
        elif lay.kind == "conv":
            out[lay.name] = _FanIn(_conv_counts(lay), int(np.prod(lay.in_shape)), int(lay.num_weight_bits), False,
                                   conv=lay)
    return out


def partition(program: LoihiProgram, spec: LoihiSpec) -> dict:
    """Map ``program``'s neuron layers onto ``spec``'s neurocores; the resource report
    (module docstring)."""
    mem = spec.memory
    stats = fan_in(program)

    def cost(f: _FanIn):
        def demand(k: int, core: Core) -> dict[str, float]:
            s = f.window(k)
            r = min(s, f.rows_of(k))
            dense = mem.words(r * k, r, f.num_weight_bits, f.delays)
            sparse = mem.words(s, r, f.num_weight_bits, f.delays, sparse=True)
            return {"neurons": k, "synapse_words": min(dense, sparse)}
        return demand

    cap = spec.core_capacity(MODEL)
    cores = [Core(f"chip{c}.core{i:03d}", cap, kind="neurocore", group=f"chip{c}")
             for c in range(spec.chips) for i in range(spec.cores_per_chip)]
    errs = ErrorCollector()
    for lay in program.neuron_layers():
        f = stats[lay.name]
        one = cost(f)(1, cores[0])["synapse_words"]
        if one > cap["synapse_words"]:
            worst = int(f.counts.max())
            errs.add(f"one neuron needs {one} synapse words ({worst} synapses, {min(worst, f.rows_of(1))} rows); a "
                     f"neurocore holds {cap['synapse_words']} (SynapseMemoryModel): its fan-in does not fit a core",
                     lay.name, "synapse_words", code="capacity")
    errs.raise_if_any()
    pops = [MapItem(lay.name, cost(stats[lay.name]), size=lay.size, splittable=True)
            for lay in program.neuron_layers()]
    try:
        mapping = map_resources(pops, cores, exclusive=False, noun="layer")
    except NirccError as e:
        hint, big = "", max(spec_table.SPECS.values(), key=lambda s: s.cores)
        if isinstance(e, MappingError) and big.cores > len(cores):
            hint = (f" (the variant {big.name} has {big.chips} chips: --variant {big.name})"
                    if e.lower_bound <= big.cores else
                    f" (more than the {big.cores} cores of the largest variant, {big.name}, as well)")
        raise NirccError(f"{e.message}{hint}", e.node, e.field, code="capacity") from None
    util = mapping.utilization()
    per_layer: dict[str, dict] = {}
    for pl in mapping.placements:
        rec = per_layer.setdefault(pl.population, {"neurons": 0, "synapses": int(stats[pl.population].counts.sum()),
                                                   "cores": 0})
        rec["neurons"] += pl.stop - pl.start
        rec["cores"] += 1
    per_core = []
    for name in mapping.used_cores:
        slices = [f"{p.population}[{p.start}:{p.stop}]" for p in mapping.placements if p.core == name]
        load = mapping.load()[name]
        per_core.append({"core": name, "layers": slices, "neurons": int(load.get("neurons", 0)),
                         "synapse_words": int(load.get("synapse_words", 0)), "utilization": util[name]})
    return {
        "cores_used": mapping.cores_used, "cores_available": len(cores), "chips_used": len(mapping.groups_used),
        "chips_available": spec.chips, "lower_bound": mapping.lower_bound, "optimal": mapping.optimal,
        "method": mapping.method, "capacity": {k: int(v) for k, v in cap.items()},
        "neurons": sum(lay.size for lay in program.neuron_layers()),
        "synapses": sum(int(f.counts.sum()) for f in stats.values()),
        "max_core_utilization": max((max(u.values()) for u in util.values()), default=0.0),
        "layers": per_layer, "cores": per_core, "notes": list(mapping.notes),
    }
