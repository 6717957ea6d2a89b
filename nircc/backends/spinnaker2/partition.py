"""Partitioning of an :class:`S2Program` over PEs: the spec's memory model through
:func:`nircc.backends.toolkit.mapping`.

py-spinnaker2 cuts every population into slices of at most ``max_atoms_per_core``
consecutive neurons and places each slice on its own PE.  nircc chooses that number from
the PE data-memory model of :mod:`.spec` (:func:`~nircc.backends.spinnaker2.spec.pe_memory`)
instead of a hand-set value: a slice of ``k`` neurons costs (a bound for *any* ``k``
consecutive neurons, since py-spinnaker2 slices from neuron 0 while the mapper evens the
slices out)::

    n_incoming_synapses = the most list synapses any k consecutive neurons receive
    n_rows              = sum over list projections of min(n_pre, that projection's
                          most synapses into k consecutive neurons)   (one row per pre neuron)
    conv                = every Conv2DProjection's whole kernel (each PE holds it)
    recording           = program.timesteps steps of the population's record list
    spike_list          = ceil(k * timesteps * input_rate) spike times (the inputs are not
                          known at compile time; ``input_rate`` is a compile option)

Each population is splittable; the mapper (``exclusive=True``: one slice per PE) cuts it
into the fewest slices that fit one PE's ``data_memory`` and assigns them to PEs
(``chip<c>.pe<i>``, ``app_pes_per_chip`` per chip).  On a multi-chip variant the mapper
is given the PEs of the fewest chips that can hold the slices (chips filled in order);
more slices than the variant has PEs is an error naming the largest population.

The report gives PEs and chips used, the mapper's lower bound (one PE per slice), and per
PE its slice and its exact bytes (the slice's real synapse and row counts) next to the
bound the mapping used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import NirccError
from ..toolkit.mapping import Core, MapItem, map_resources
from .program import ListProjection, S2Program
from .spec import MemoryModel, S2Spec, get_model, pe_memory_breakdown

RESOURCE = "dtcm_bytes"


def _window_max(counts: np.ndarray, k: int) -> int:
    """The largest sum of ``k`` consecutive entries."""
    if k <= 0 or counts.size == 0:
        return 0
    cs = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    k = min(k, counts.size)
    return int((cs[k:] - cs[:-k]).max())


@dataclass
class _Lists:
    """The list projections into one population, sorted by post neuron."""

    n_pre: int
    counts: np.ndarray          # synapses per post neuron
    post: np.ndarray            # post index, sorted
    pre: np.ndarray             # pre index, in the same order


@dataclass
class _Stats:
    """What the memory model needs of one population."""

    model: str
    size: int
    record: list[str]
    timesteps: int
    input_rate: float
    memory: MemoryModel
    lists: list[_Lists] = field(default_factory=list)
    kernel_weights: int = 0
    n_conv: int = 0

    def __post_init__(self) -> None:
        self.total = np.zeros(self.size, np.int64)
        self._cache: dict[int, int] = {}

    def add_list(self, q: ListProjection, n_pre: int) -> None:
        post, pre = q.post_idx, q.pre_idx
        order = np.argsort(post, kind="stable")
        counts = np.bincount(post, minlength=self.size).astype(np.int64)
        self.total += counts
        self.lists.append(_Lists(n_pre, counts, post[order], pre[order]))

    def _parts(self, k: int, synapses: int, rows: int) -> dict[str, int]:
        spikes = math.ceil(k * self.timesteps * self.input_rate) if get_model(self.model).is_input else 0
        return pe_memory_breakdown(self.model, k, synapses, self.record, self.timesteps, n_rows=rows,
                                   conv_kernel_weights=self.kernel_weights, n_conv=self.n_conv,
                                   n_input_spikes=spikes, memory=self.memory)

    def bound(self, k: int) -> int:
        """Bytes of the worst slice of ``k`` consecutive neurons (module docstring)."""
        if k not in self._cache:
            rows = sum(min(ls.n_pre, _window_max(ls.counts, k)) for ls in self.lists)
            self._cache[k] = sum(self._parts(k, _window_max(self.total, k), rows).values())
        return self._cache[k]

    def exact(self, start: int, stop: int) -> dict[str, int]:
        """Bytes of neurons ``start:stop`` per part (their real synapses and rows)."""
        synapses = int(self.total[start:stop].sum())
        rows = 0
        for ls in self.lists:
            a, b = np.searchsorted(ls.post, [start, stop])
            rows += int(np.unique(ls.pre[a:b]).size)
        return self._parts(stop - start, synapses, rows)


def _stats(program: S2Program, spec: S2Spec, input_rate: float) -> dict[str, _Stats]:
    stats = {}
    for p in program.populations:
        stats[p.name] = _Stats(p.neuron_model, p.size, list(p.record), program.timesteps, input_rate, spec.memory)
    for q in program.projections:
        s = stats[q.post]
        if isinstance(q, ListProjection):
            s.add_list(q, program.population(q.pre).size)
        else:
            s.kernel_weights += int(q.weights.size)
            s.n_conv += 1
    return stats


def _largest_fit(s: _Stats, budget: int) -> int:
    lo, hi = 0, s.size
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if s.bound(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def partition(program: S2Program, spec: S2Spec, input_rate: float, relays: frozenset[str] = frozenset()) -> dict:
    """Map ``program`` onto ``spec``'s PEs; sets every population's ``max_atoms_per_core``
    and returns the resource report (module docstring).  ``relays``: the names of relay
    populations (counted apart from the network's neurons)."""
    stats = _stats(program, spec, input_rate)
    budget = spec.data_memory
    fits = {name: _largest_fit(s, budget) for name, s in stats.items()}
    slices = {name: -(-stats[name].size // k) if k else 0 for name, k in fits.items()}
    total = sum(slices.values())
    if all(fits.values()) and total > spec.app_pes:
        big = max(slices, key=slices.get)
        hint = " (the variant board48 has 48 chips: --variant board48)" if spec.n_chips == 1 else ""
        raise NirccError(f"the network needs {total} PEs, one per slice of <= max_atoms_per_core neurons "
                         f"('{big}' alone {slices[big]} slices of {fits[big]}); {spec.name} has {spec.app_pes} PEs"
                         f"{hint}", big, "pes", code="capacity")
    chips = max(1, -(-total // spec.app_pes_per_chip)) if all(fits.values()) else spec.n_chips
    cores = [Core(f"chip{c}.pe{i:03d}", {RESOURCE: budget}, kind="pe", group=f"chip{c}")
             for c in range(min(chips, spec.n_chips)) for i in range(spec.app_pes_per_chip)]
    pops = [MapItem(name, (lambda k, core, s=s: {RESOURCE: s.bound(k)}), size=s.size, splittable=True)
            for name, s in stats.items()]
    mapping = map_resources(pops, cores, exclusive=True, noun="population")
    per_pop: dict[str, dict] = {}
    pes = []
    for pl in mapping.placements:
        s = stats[pl.population]
        parts = s.exact(pl.start, pl.stop)
        used = sum(parts.values())
        pes.append({"pe": pl.core, "population": pl.population, "start": pl.start, "stop": pl.stop, "bytes": used,
                    "bound": int(pl.demand[RESOURCE]), "utilization": used / budget, "parts": parts})
        rec = per_pop.setdefault(pl.population, {"model": s.model, "size": s.size, "pes": 0,
                                                 "max_atoms_per_core": 0})
        rec["pes"] += 1
        rec["max_atoms_per_core"] = max(rec["max_atoms_per_core"], pl.stop - pl.start)
    for p in program.populations:
        p.max_atoms_per_core = per_pop[p.name]["max_atoms_per_core"]
    neurons = sum(p.size for p in program.populations if not p.is_input)
    n_relay = sum(p.size for p in program.populations if p.name in relays)
    return {
        "pes_used": mapping.cores_used, "pes_available": spec.app_pes, "chips_used": len(mapping.groups_used),
        "chips_available": spec.n_chips, "lower_bound": mapping.lower_bound, "optimal": mapping.optimal,
        "method": mapping.method, "data_memory_per_pe": budget,
        "max_pe_utilization": max((e["utilization"] for e in pes), default=0.0),
        "neurons": neurons - n_relay, "relay_neurons": n_relay,
        "input_neurons": sum(p.size for p in program.populations if p.is_input),
        "synapses": int(sum(q.connections.shape[0] for q in program.projections if isinstance(q, ListProjection))),
        "conv_projections": sum(1 for q in program.projections if not isinstance(q, ListProjection)),
        "populations": per_pop, "pes": pes,
    }
