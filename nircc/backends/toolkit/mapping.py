"""Resource mapping framework: populations (or slices of them) -> cores.

A target declares its **cores** (:class:`Core`: a name, a capacity per resource, e.g.
``{"neurons": 8192, "synapse_bytes": 131072}`` or Speck's
``{"kernel_words": 16384, "neuron_words": 65536, "bias": 1024}``, a ``kind`` for
core-dependent costs and a ``group``, e.g. the chip) and its **populations**
(:class:`MapItem`: a name, a number of neurons and a demand, either a fixed mapping
resource -> amount or a cost model ``cost(k, core) -> demand`` of a slice of ``k``
neurons on ``core``; :func:`linear_cost` builds ``per_slice + k * per_neuron``).  A resource
a core does not declare has capacity 0 there.

:func:`map_resources` assigns every population, or every slice of a splittable one, to a
core:

* ``exclusive=True`` (one population or slice per core, e.g. Speck's layers, SpiNNaker2's
  PEs): bipartite matching (Hopcroft-Karp from networkx) between slices and the cores they
  fit.  Exact: it finds an assignment whenever one exists.  Deterministic: for small
  instances (slices x cores <= 400) the lexicographically first one (slice 0 on the lowest
  core that still leaves a complete assignment for the rest, then slice 1, ...), so a
  small sequential network lands on cores 0, 1, 2, ... when memory allows; otherwise
  first-fit in core order when that places everything, else the Hopcroft-Karp matching.
* ``exclusive=False`` (several populations share a core, e.g. Loihi neurocores):
  first-fit-decreasing (slices sorted by their largest fraction of a core, each on the
  first core with room, cores in the given order), then refinement: with at most
  ``exact_limit`` slices an exact branch-and-bound search for the fewest cores (within
  ``budget`` search nodes; it also finds packings first fit misses on heterogeneous
  cores); with more, repeatedly emptying the least loaded core into the others, compared
  with next-fit with splitting (populations poured into the cores in order, each cut where
  a core is full: more, uneven slices but cores filled to the brim), keeping the one with
  fewer cores (first-fit-decreasing on a tie).

Splitting: a splittable population of ``n`` neurons is cut into the fewest slices that
fit a core: ``k_max`` = the largest slice fitting an empty core (binary search; the cost
must not decrease with ``k``), ``ceil(n / k_max)`` slices of sizes differing by at most 1.

The result (:class:`ResourceMapping`) gives the placements (population, neuron range,
core), the cores used, the utilization of every core and resource, and a **lower bound**
on the cores needed: exclusive: the number of slices; shared: per resource the fewest
cores whose capacities add up to the total demand of the fewest-slices slicing (past the
target's cores, further cores of its largest capacity: the bound is not capped at the
target's size), the largest over resources (a bound for every slicing when cutting a slice never lowers the
total demand, ``cost(a) + cost(b) >= cost(a + b)``, as with :func:`linear_cost`).
``optimal`` says whether the result is proven minimal (it reaches the lower bound, or the
exact search finished; every exclusive assignment uses exactly one core per slice).

Failures are :class:`~nircc.errors.NirccError` naming the population, its demand and each
core's capacity (:class:`MappingError`, carrying the lower bound, when every population fits
a core but not all together), e.g. ``node '3', field 'neuron_words': layer '3' needs neuron_words 128Ki;
cores offer neuron_words 64Ki, 64Ki, 64Ki, 32Ki, 32Ki, 16Ki, 16Ki, 16Ki, 16Ki``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import networkx as nx
from networkx.algorithms import bipartite

from ...errors import NirccError

__all__ = ["Core", "MappingError", "MapItem", "Placement", "ResourceMapping", "format_amount", "linear_cost",
           "map_resources"]

Demand = Mapping[str, float]
CostFn = Callable[[int, "Core"], Demand]


@dataclass(frozen=True)
class Core:
    """A core: ``capacity`` per resource; ``kind`` (passed to cost models) and ``group``
    (e.g. the chip, reported as groups used) are free-form labels."""

    name: str
    capacity: Mapping[str, float]
    kind: str = ""
    group: str = ""
    type_key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # cores with the same kind and capacities are interchangeable (cost caching, symmetry)
        object.__setattr__(self, "type_key", (self.kind, tuple(sorted((k, float(v)) for k, v in self.capacity.items()))))

    def cap(self, resource: str) -> float:
        return float(self.capacity.get(resource, 0))


@dataclass(frozen=True)
class MapItem:
    """A population of ``size`` neurons with a fixed ``demand`` or a slice cost model
    ``demand(k, core)``; ``splittable`` lets the mapper cut it into slices."""

    name: str
    demand: Union[Demand, CostFn]
    size: int = 1
    splittable: bool = False

    def cost(self, k: int, core: Core) -> Demand:
        return self.demand(k, core) if callable(self.demand) else self.demand


def linear_cost(per_slice: Optional[Demand] = None, per_neuron: Optional[Demand] = None) -> CostFn:
    """The cost model ``per_slice + k * per_neuron`` (the same on every core)."""
    a, b = dict(per_slice or {}), dict(per_neuron or {})

    def cost(k: int, core: Core) -> Demand:
        return {r: a.get(r, 0.0) + k * b.get(r, 0.0) for r in a.keys() | b.keys()}

    return cost


class MappingError(NirccError):
    """The populations fit the cores one by one, but not all together: ``lower_bound`` is the
    mapper's lower bound on the cores they need (exact for ``exclusive``)."""

    def __init__(self, message: str, node: Optional[str] = None, field: Optional[str] = None, *,
                 lower_bound: int) -> None:
        super().__init__(message, node, field)
        self.lower_bound = lower_bound


@dataclass(frozen=True)
class Placement:
    """Neurons ``start:stop`` of ``population`` on ``core``, with their demand there."""

    population: str
    core: str
    start: int
    stop: int
    demand: Mapping[str, float]


@dataclass
class ResourceMapping:
    """The result of :func:`map_resources` (see the module docstring)."""

    placements: list[Placement]
    cores: list[Core]
    method: str
    lower_bound: int
    optimal: bool
    notes: list[str] = field(default_factory=list)

    @property
    def used_cores(self) -> list[str]:
        used = {p.core for p in self.placements}
        return [c.name for c in self.cores if c.name in used]

    @property
    def cores_used(self) -> int:
        return len(self.used_cores)

    @property
    def groups_used(self) -> list[str]:
        used = set(self.used_cores)
        return sorted({c.group for c in self.cores if c.name in used})

    def assignment(self) -> dict[str, list[tuple[str, int, int]]]:
        """population -> [(core, start, stop), ...]."""
        out: dict[str, list[tuple[str, int, int]]] = {}
        for p in self.placements:
            out.setdefault(p.population, []).append((p.core, p.start, p.stop))
        return out

    def core_of(self, population: str) -> str:
        """The core of an unsplit population."""
        cores = [p.core for p in self.placements if p.population == population]
        if len(cores) != 1:
            raise KeyError(f"population {population!r} is on {len(cores)} cores")
        return cores[0]

    def load(self) -> dict[str, dict[str, float]]:
        """core -> resource -> amount used (cores in use only)."""
        out: dict[str, dict[str, float]] = {}
        for p in self.placements:
            d = out.setdefault(p.core, {})
            for r, v in p.demand.items():
                d[r] = d.get(r, 0.0) + float(v)
        return out

    def utilization(self) -> dict[str, dict[str, float]]:
        """core -> resource -> used / capacity (every declared resource of cores in use)."""
        load = self.load()
        out: dict[str, dict[str, float]] = {}
        for c in self.cores:
            if c.name not in load:
                continue
            res = sorted(set(c.capacity) | set(load[c.name]))
            out[c.name] = {r: (load[c.name].get(r, 0.0) / c.cap(r) if c.cap(r) > 0 else
                               (0.0 if load[c.name].get(r, 0.0) == 0 else math.inf)) for r in res}
        return out

    def to_dict(self) -> dict:
        return {
            "method": self.method, "cores_used": self.cores_used, "cores_available": len(self.cores),
            "lower_bound": self.lower_bound, "optimal": self.optimal, "groups_used": self.groups_used,
            "placements": [{"population": p.population, "core": p.core, "start": p.start, "stop": p.stop,
                            "demand": dict(p.demand)} for p in self.placements],
            "utilization": self.utilization(), "notes": list(self.notes),
        }

    def table(self) -> str:
        """One line per core in use: its populations and its utilization per resource."""
        util = self.utilization()
        lines = []
        for c in self.cores:
            if c.name not in util:
                continue
            pops = ", ".join(f"{p.population}[{p.start}:{p.stop}]" for p in self.placements if p.core == c.name)
            u = ", ".join(f"{r} {v:.0%}" for r, v in util[c.name].items())
            lines.append(f"{c.name:<10} {pops:<40} {u}")
        lines.append(f"{self.cores_used} of {len(self.cores)} cores used; lower bound {self.lower_bound}"
                     f"{' (optimal)' if self.optimal else ''}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- helpers
def format_amount(x: float) -> str:
    """An amount as messages print it: a whole multiple of 2**20 as ``<n>Mi``, of 2**10 as
    ``<n>Ki``, other integers in full, anything else with 4 significant digits."""
    if float(x).is_integer():
        i = int(x)
        if i >= 1 << 20 and i % (1 << 20) == 0:
            return f"{i >> 20}Mi"
        if i >= 1 << 10 and i % (1 << 10) == 0:
            return f"{i >> 10}Ki"
        return str(i)
    return f"{x:.4g}"



def _fits(demand: Demand, load: Mapping[str, float], core: Core) -> bool:
    return all(load.get(r, 0.0) + float(v) <= core.cap(r) for r, v in demand.items() if v)


@dataclass(frozen=True)
class _Item:
    pop: int
    start: int
    stop: int


class _Costs:
    """Demands of slices, cached per (population, size, core type)."""

    def __init__(self, pops: Sequence[MapItem]) -> None:
        self.pops = pops
        self._cache: dict[tuple, Demand] = {}

    def __call__(self, pop: int, k: int, core: Core) -> Demand:
        key = (pop, k, core.type_key)
        if key not in self._cache:
            d = self.pops[pop].cost(k, core)
            bad = [r for r, v in d.items() if not (float(v) >= 0 and math.isfinite(float(v)))]
            if bad:
                raise ValueError(f"population {self.pops[pop].name!r}: demand {bad} must be finite and >= 0")
            self._cache[key] = dict(d)
        return self._cache[key]


def _no_fit_error(pop: MapItem, demand_of: Callable[[Core], Demand], cores: Sequence[Core], noun: str,
                  what: str = "") -> NirccError:
    """The population fits no core: name what it needs and what every core offers."""
    lacking: list[str] = []
    for c in cores:
        for r, v in demand_of(c).items():
            if float(v) > c.cap(r) and r not in lacking:
                lacking.append(r)
    d0 = demand_of(cores[0])
    need = ", ".join(f"{r} {format_amount(d0.get(r, 0))}" for r in lacking)
    offer = "; ".join(f"{r} " + ", ".join(format_amount(c.cap(r)) for c in cores) for r in lacking)
    return NirccError(f"{noun} '{pop.name}'{what} needs {need}; cores offer {offer}", pop.name,
                      lacking[0] if lacking else None)


def _slice(pops: Sequence[MapItem], cores: Sequence[Core], costs: _Costs, noun: str) -> list[_Item]:
    """The fewest slices per population that fit an empty core (module docstring)."""
    items: list[_Item] = []
    for i, p in enumerate(pops):
        if p.size < 1:
            raise ValueError(f"population {p.name!r} has size {p.size}")
        if not p.splittable:
            if not any(_fits(costs(i, p.size, c), {}, c) for c in cores):
                raise _no_fit_error(p, lambda c: costs(i, p.size, c), cores, noun)
            items.append(_Item(i, 0, p.size))
            continue
        kmax = 0
        for c in _distinct(cores):
            lo, hi = 0, p.size
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if _fits(costs(i, mid, c), {}, c):
                    lo = mid
                else:
                    hi = mid - 1
            kmax = max(kmax, lo)
        if kmax == 0:
            raise _no_fit_error(p, lambda c: costs(i, 1, c), cores, noun, " (a slice of 1 neuron)")
        m = -(-p.size // kmax)
        base, extra = divmod(p.size, m)
        start = 0
        for s in range(m):
            stop = start + base + (1 if s < extra else 0)
            items.append(_Item(i, start, stop))
            start = stop
    return items


def _distinct(cores: Sequence[Core]) -> list[Core]:
    seen, out = set(), []
    for c in cores:
        if c.type_key not in seen:
            seen.add(c.type_key)
            out.append(c)
    return out


def _label(pops: Sequence[MapItem], it: _Item) -> str:
    p = pops[it.pop]
    return f"'{p.name}'" if (it.start, it.stop) == (0, p.size) else f"'{p.name}'[{it.start}:{it.stop}]"


# ----------------------------------------------------------------------------- exclusive
def _map_exclusive(pops, cores, items, costs, noun) -> tuple[list[int], str]:
    fit = [[j for j, c in enumerate(cores) if _fits(costs(it.pop, it.stop - it.start, c), {}, c)]
           for it in items]
    if len(items) > len(cores):
        per_pop = [sum(1 for it in items if it.pop == k) for k in range(len(pops))]
        big = max(range(len(pops)), key=per_pop.__getitem__)
        raise MappingError(f"the {noun}s need {len(items)} cores, one per {noun} or slice ({pops[big].name!r} alone "
                           f"{per_pop[big]}); the target has {len(cores)}", pops[big].name, "cores",
                           lower_bound=len(items))

    n = len(items)

    def matching(sub_items: Sequence[int], free: set[int]) -> dict[int, int]:
        """A maximum matching slice -> core.  Nodes are ints (slices 0..n-1, core j is n + j):
        their hashes, unlike those of strings, do not change between runs, so neither does
        the matching."""
        g = nx.Graph()
        g.add_nodes_from(sub_items)
        g.add_nodes_from(n + j for j in sorted(free))
        g.add_edges_from((i, n + j) for i in sub_items for j in fit[i] if j in free)
        m = bipartite.hopcroft_karp_matching(g, top_nodes=list(sub_items))
        return {i: m[i] - n for i in sub_items if i in m}

    all_items = list(range(n))
    m = matching(all_items, set(range(len(cores))))
    unmatched = [i for i in all_items if i not in m]
    if unmatched:
        raise _hall_error(pops, cores, items, fit, m, unmatched[0], noun)
    if len(items) * len(cores) <= 400:
        out: list[int] = []
        free = set(range(len(cores)))
        for i in all_items:
            rest = all_items[i + 1:]
            for j in fit[i]:
                if j in free and len(matching(rest, free - {j})) == len(rest):
                    out.append(j)
                    free.discard(j)
                    break
        return out, "matching (lexicographic)"
    taken: set[int] = set()
    greedy: list[int] = []
    for i in all_items:
        j = next((j for j in fit[i] if j not in taken), None)
        if j is None:
            break
        taken.add(j)
        greedy.append(j)
    if len(greedy) == len(items):
        return greedy, "matching (first fit)"
    return [m[i] for i in all_items], "matching (Hopcroft-Karp)"


def _hall_error(pops, cores, items, fit, m, u, noun) -> NirccError:
    """An unmatched slice ``u``: the slices reachable from it along alternating paths fit
    only the cores matched to the others of them (Hall's condition fails)."""
    mate = {j: i for i, j in m.items()}
    seen_items, seen_cores = {u}, set()
    frontier = [u]
    while frontier:
        i = frontier.pop()
        for j in fit[i]:
            if j in seen_cores:
                continue
            seen_cores.add(j)
            if j in mate and mate[j] not in seen_items:
                seen_items.add(mate[j])
                frontier.append(mate[j])
    its = sorted(seen_items)
    names = ", ".join(_label(pops, items[i]) for i in its)
    cs = ", ".join(cores[j].name for j in sorted(seen_cores)) or "none"
    return NirccError(f"{noun}s {names} fit only cores {cs} ({len(its)} {noun}s, {len(seen_cores)} cores): no "
                      f"assignment of one {noun} per core exists", pops[items[u].pop].name, "cores")


# ----------------------------------------------------------------------------- shared
class _Packing:
    def __init__(self, cores: Sequence[Core]) -> None:
        self.cores = cores
        self.load: list[dict[str, float]] = [{} for _ in cores]
        self.count = [0] * len(cores)

    def put(self, j: int, d: Demand) -> None:
        for r, v in d.items():
            self.load[j][r] = self.load[j].get(r, 0.0) + float(v)
        self.count[j] += 1

    def take(self, j: int, d: Demand) -> None:
        for r, v in d.items():
            self.load[j][r] -= float(v)
        self.count[j] -= 1

    @property
    def used(self) -> int:
        return sum(1 for c in self.count if c)


def _size_key(costs, kinds: Sequence[Core], it: _Item) -> float:
    """The largest fraction of a core (of any type) the slice takes."""
    best = 0.0
    for c in kinds:
        d = costs(it.pop, it.stop - it.start, c)
        best = max([best] + [float(v) / c.cap(r) if c.cap(r) > 0 else math.inf for r, v in d.items() if v])
    return best


def _ffd(items, cores, costs, order) -> tuple[list[int], int]:
    """First fit in ``order``: (core per slice, -1 where unplaced; how many were placed
    before the first slice that found no room)."""
    pack = _Packing(cores)
    where = [-1] * len(items)
    for k, i in enumerate(order):
        it = items[i]
        for j, c in enumerate(cores):
            d = costs(it.pop, it.stop - it.start, c)
            if _fits(d, pack.load[j], c):
                pack.put(j, d)
                where[i] = j
                break
        else:
            return where, k
    return where, len(order)


def _empty_cores(items, cores, costs, where: list[int]) -> list[int]:
    """Local refinement: empty the least loaded core into the others while possible."""
    where = list(where)
    pack = _Packing(cores)
    for i, j in enumerate(where):
        pack.put(j, costs(items[i].pop, items[i].stop - items[i].start, cores[j]))
    failed: set[int] = set()
    while True:
        used = [j for j in range(len(cores)) if pack.count[j] and j not in failed]
        if len(used) <= 1:
            return where
        j0 = min(used, key=lambda j: (sum(v / cores[j].cap(r) for r, v in pack.load[j].items() if cores[j].cap(r) > 0),
                                      -j))
        moved: list[tuple[int, int]] = []
        for i in [i for i, j in enumerate(where) if j == j0]:
            it = items[i]
            pack.take(j0, costs(it.pop, it.stop - it.start, cores[j0]))
            for j, c in enumerate(cores):
                d = costs(it.pop, it.stop - it.start, c)
                if j != j0 and pack.count[j] and _fits(d, pack.load[j], c):
                    pack.put(j, d)
                    moved.append((i, j))
                    break
            else:
                pack.put(j0, costs(it.pop, it.stop - it.start, cores[j0]))
                for mi, mj in moved:  # undo
                    mit = items[mi]
                    pack.take(mj, costs(mit.pop, mit.stop - mit.start, cores[mj]))
                    pack.put(j0, costs(mit.pop, mit.stop - mit.start, cores[j0]))
                moved = []
                failed.add(j0)
                break
        else:
            for mi, mj in moved:
                where[mi] = mj


def _exact(items, cores, costs, order, incumbent: Optional[list[int]], lower: int,
           budget: int) -> tuple[Optional[list[int]], bool]:
    """Branch and bound for the fewest cores, starting from ``incumbent`` (or from nothing):
    (the best assignment found or None, whether the search finished)."""
    best = None if incumbent is None else list(incumbent)
    best_used = len(cores) + 1 if incumbent is None else len(set(incumbent))
    if best_used <= lower:
        return best, True
    pack = _Packing(cores)
    where = [-1] * len(items)
    nodes = 0
    exhausted = False

    def rec(k: int) -> None:
        nonlocal best, best_used, nodes, exhausted
        if best_used <= lower or exhausted:
            return
        nodes += 1
        if nodes > budget:
            exhausted = True
            return
        if k == len(order):
            if pack.used < best_used:
                best, best_used = list(where), pack.used
            return
        i = order[k]
        it = items[i]
        opened_types: set = set()
        for j, c in enumerate(cores):
            if pack.count[j] == 0:
                if c.type_key in opened_types or pack.used + 1 >= best_used:
                    continue
                opened_types.add(c.type_key)
            d = costs(it.pop, it.stop - it.start, c)
            if not _fits(d, pack.load[j], c):
                continue
            pack.put(j, d)
            where[i] = j
            rec(k + 1)
            pack.take(j, d)
            where[i] = -1

    rec(0)
    return best, not exhausted


def _fill(pops, cores, costs, pop_order: Sequence[int]) -> Optional[tuple[list[_Item], list[int]]]:
    """Next-fit with splitting: cores in order, each population poured into the current
    core (the largest slice that still fits its remaining room), the rest into the next;
    unsplittable populations go to the first core with room.  None if the cores run out."""
    pack = _Packing(cores)
    items: list[_Item] = []
    where: list[int] = []
    j = 0
    for pi in pop_order:
        p = pops[pi]
        if not p.splittable:
            jj = next((jj for jj, c in enumerate(cores) if _fits(costs(pi, p.size, c), pack.load[jj], c)), None)
            if jj is None:
                return None
            pack.put(jj, costs(pi, p.size, cores[jj]))
            items.append(_Item(pi, 0, p.size))
            where.append(jj)
            continue
        start = 0
        while start < p.size:
            if j >= len(cores):
                return None
            c = cores[j]
            lo, hi = 0, p.size - start
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if _fits(costs(pi, mid, c), pack.load[j], c):
                    lo = mid
                else:
                    hi = mid - 1
            if lo == 0:
                j += 1
                continue
            pack.put(j, costs(pi, lo, c))
            items.append(_Item(pi, start, start + lo))
            where.append(j)
            start += lo
    return items, where


def _map_shared(pops, cores, items, costs, lower, exact_limit, budget, noun):
    """Several slices per core: (items, core per item, method, optimal, notes)."""
    kinds = _distinct(cores)
    keys = [_size_key(costs, kinds, it) for it in items]
    order = sorted(range(len(items)), key=lambda i: -keys[i])
    ffd, placed = _ffd(items, cores, costs, order)
    notes: list[str] = []
    small = len(items) <= exact_limit
    if small:
        if placed < len(items):  # heterogeneous cores: first fit can miss a packing
            found, _ = _exact(items, cores, costs, order, None, lower, budget)
            if found is None:
                it = items[order[placed]]
                raise MappingError(f"the {noun}s need at least {lower} cores (lower bound); the target has "
                                   f"{len(cores)} and an exact search found no assignment", pops[it.pop].name,
                                   "cores", lower_bound=lower)
            ffd, placed = found, len(items)
        where, optimal = _exact(items, cores, costs, order, ffd, lower, budget)
        method = "first-fit-decreasing + exact search" + ("" if optimal else " (budget exhausted)")
        if len(set(where)) < len(set(ffd)):
            notes.append(f"refinement: {len(set(ffd))} -> {len(set(where))} cores")
    else:
        weight = [0.0] * len(pops)
        for it, k in zip(items, keys):
            weight[it.pop] += k
        filled = _fill(pops, cores, costs, sorted(range(len(pops)), key=lambda i: -weight[i]))
        if placed < len(items) and filled is None:
            it = items[order[placed]]
            raise MappingError(f"the {noun}s need at least {lower} cores (lower bound); the target has "
                               f"{len(cores)} and first-fit-decreasing ran out of cores at {_label(pops, it)} "
                               f"({placed} of {len(items)} slices placed), as did filling cores in order",
                               pops[it.pop].name, "cores", lower_bound=lower)
        where = _empty_cores(items, cores, costs, ffd) if placed == len(items) else None
        method = "first-fit-decreasing + core emptying"
        if where is not None and len(set(where)) < len(set(ffd)):
            notes.append(f"refinement: {len(set(ffd))} -> {len(set(where))} cores")
        if filled is not None and (where is None or len(set(filled[1])) < len(set(where))):
            if where is not None:
                notes.append(f"filling cores in order (splitting populations at core boundaries) uses "
                             f"{len(set(filled[1]))} cores, first-fit-decreasing {len(set(where))}")
            items, where = filled
            method = "next-fit with splitting"
        optimal = len(set(where)) <= lower
    return items, where, method, optimal, notes


def _lower_bound(items, cores, costs, exclusive: bool) -> int:
    if not items:
        return 0
    if exclusive:
        return len(items)
    kinds = _distinct(cores)
    total: dict[str, float] = {}
    for it in items:
        per_type = [costs(it.pop, it.stop - it.start, c) for c in kinds]
        for r in set().union(*per_type):
            total[r] = total.get(r, 0.0) + min(float(d.get(r, 0.0)) for d in per_type)
    lb = 1
    for r, need in total.items():
        caps = sorted((c.cap(r) for c in cores), reverse=True)
        acc, m = 0.0, 0
        while acc < need and m < len(caps):
            acc += caps[m]
            m += 1
        if acc < need:  # beyond the target: count on more cores of the largest capacity
            m += math.ceil((need - acc) / caps[0]) if caps and caps[0] > 0 else 1
        lb = max(lb, m)
    return lb


def map_resources(populations: Sequence[MapItem], cores: Sequence[Core], *, exclusive: bool = False,
                  exact_limit: int = 12, budget: int = 200_000, noun: str = "population") -> ResourceMapping:
    """Assign populations (or slices) to cores; see the module docstring.  ``noun`` names a
    population in error messages (e.g. ``"layer"``)."""
    pops, cores = list(populations), list(cores)
    if not cores:
        raise ValueError("no cores")
    names = [p.name for p in pops]
    if len(set(names)) != len(names):
        raise ValueError(f"population names must be unique, got {names}")
    core_names = [c.name for c in cores]
    if len(set(core_names)) != len(core_names):
        raise ValueError(f"core names must be unique, got {core_names}")
    costs = _Costs(pops)
    items = _slice(pops, cores, costs, noun)
    lower = _lower_bound(items, cores, costs, exclusive)
    if exclusive:
        where, method = _map_exclusive(pops, cores, items, costs, noun)
        optimal, notes = True, []
    else:
        items, where, method, optimal, notes = _map_shared(pops, cores, items, costs, lower, exact_limit, budget, noun)
    placements = [Placement(pops[it.pop].name, cores[j].name, it.start, it.stop,
                            dict(costs(it.pop, it.stop - it.start, cores[j]))) for it, j in zip(items, where)]
    placements.sort(key=lambda p: (names.index(p.population), p.start))
    return ResourceMapping(placements, cores, method, lower, optimal, notes)

