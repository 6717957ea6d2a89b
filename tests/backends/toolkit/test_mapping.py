"""Resource mapper: exact results against brute force on small cases (exclusive matching
on Speck's 9 heterogeneous cores, fewest shared cores), splitting, lower bounds,
utilization, large chips, and error messages naming population, demand and capacities."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nircc.errors import NirccError
from nircc.backends.toolkit.mapping import Core, MappingError, MapItem, format_amount, linear_cost, map_resources

KI = 1024
SPECK_K = [16, 16, 16, 32, 32, 64, 64, 16, 16]
SPECK_N = [64, 64, 64, 32, 32, 16, 16, 16, 16]


def speck_cores() -> list[Core]:
    return [Core(str(i), {"kernel_words": SPECK_K[i] * KI, "neuron_words": SPECK_N[i] * KI, "bias": 1024})
            for i in range(9)]


def clog2(x: int) -> int:
    return math.ceil(math.log2(x)) if x > 1 else 0


def speck_layer(name: str, c: int, f: int, k: int, h_out: int, w_out: int, bias: bool = False) -> MapItem:
    """targets/speck.md 1.1: K_MT = c 2^(ceil log2(k k) + ceil log2 f), N_MT = f 2^(ceil log2 H + ceil log2 W)."""
    return MapItem(name, {"kernel_words": c * 2 ** (clog2(k * k) + clog2(f)),
                             "neuron_words": f * 2 ** (clog2(h_out) + clog2(w_out)), "bias": f if bias else 0})


# ----------------------------------------------------------------------------- exclusive (Speck)
def test_speck_doc_example_fits_no_core():
    # Conv2d(16 -> 32, 3x3, pad 1) on 64x64: K = 16 * 2^(4+5) = 8Ki, N = 32 * 2^(6+6) = 128Ki
    layer = speck_layer("3", 16, 32, 3, 64, 64)
    assert dict(layer.demand) == {"kernel_words": 8 * KI, "neuron_words": 128 * KI, "bias": 0}
    with pytest.raises(NirccError) as e:
        map_resources([layer], speck_cores(), exclusive=True, noun="layer")
    assert str(e.value) == ("node '3', field 'neuron_words': layer '3' needs neuron_words 128Ki; cores offer "
                            "neuron_words 64Ki, 64Ki, 64Ki, 32Ki, 32Ki, 16Ki, 16Ki, 16Ki, 16Ki")


def test_speck_nmnist_like_net_goes_in_order():
    # the NIR paper CNN shape: 2x34x34 -> conv 16 -> pool -> conv 16 -> pool -> conv 8 -> flatten -> 256 -> 10
    layers = [speck_layer("0", 2, 16, 3, 34, 34), speck_layer("1", 16, 16, 3, 17, 17),
              speck_layer("2", 16, 8, 3, 8, 8), speck_layer("3", 8, 256, 4, 1, 1), speck_layer("4", 256, 10, 1, 1, 1)]
    m = map_resources(layers, speck_cores(), exclusive=True, noun="layer")
    assert [m.core_of(p.name) for p in layers] == ["0", "1", "2", "3", "4"]
    assert m.cores_used == 5 == m.lower_bound and m.optimal and m.method == "matching (lexicographic)"
    # the 8x4x4 -> 256 layer needs 32Ki kernel words: only cores 3..6
    assert m.placements[3].demand["kernel_words"] == 32 * KI
    assert m.utilization()["3"] == {"bias": 0.0, "kernel_words": 1.0, "neuron_words": 256 / (32 * KI)}


def test_memory_forces_a_big_layer_onto_cores_5_6():
    layers = [speck_layer("a", 1, 1, 1, 1, 1), speck_layer("big", 64, 64, 3, 4, 4), speck_layer("c", 1, 1, 1, 1, 1)]
    assert layers[1].demand["kernel_words"] == 64 * KI
    m = map_resources(layers, speck_cores(), exclusive=True, noun="layer")
    assert m.assignment() == {"a": [("0", 0, 1)], "big": [("5", 0, 1)], "c": [("1", 0, 1)]}


def test_hall_violation_names_the_layers_and_cores():
    layers = [MapItem(f"L{i}", {"kernel_words": 64 * KI}) for i in range(3)]
    with pytest.raises(NirccError) as e:
        map_resources(layers, speck_cores(), exclusive=True, noun="layer")
    assert str(e.value) == ("node 'L2', field 'cores': layers 'L0', 'L1', 'L2' fit only cores 5, 6 (3 layers, "
                            "2 cores): no assignment of one layer per core exists")


def test_more_layers_than_cores():
    with pytest.raises(NirccError, match="the layers need 10 cores, one per layer or slice .*the target has 9"):
        map_resources([MapItem(str(i), {}) for i in range(10)], speck_cores(), exclusive=True, noun="layer")


def brute_force_exclusive(demands: list[dict], cores: list[Core]):
    """The lexicographically first injective assignment (permutations come in lexicographic
    order), or None."""
    fits = [[all(v <= c.cap(r) for r, v in d.items()) for c in cores] for d in demands]
    for perm in itertools.permutations(range(len(cores)), len(demands)):
        if all(fits[i][j] for i, j in enumerate(perm)):
            return list(perm)
    return None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 4, 8, 16, 32, 64]), st.sampled_from([1, 2, 4, 8, 16, 32, 64])),
                min_size=1, max_size=5))
def test_exclusive_matches_brute_force(sizes):
    demands = [{"kernel_words": k * KI, "neuron_words": n * KI} for k, n in sizes]
    pops = [MapItem(f"L{i}", d) for i, d in enumerate(demands)]
    cores = speck_cores()
    expect = brute_force_exclusive(demands, cores)
    if expect is None:
        with pytest.raises(NirccError):
            map_resources(pops, cores, exclusive=True, noun="layer")
        return
    m = map_resources(pops, cores, exclusive=True, noun="layer")
    assert [int(m.core_of(p.name)) for p in pops] == expect


# ----------------------------------------------------------------------------- shared
def brute_force_min_cores(demands: list[dict], cores: list[Core]):
    best = None
    for assign in itertools.product(range(len(cores)), repeat=len(demands)):
        load: dict = {}
        for i, j in enumerate(assign):
            for r, v in demands[i].items():
                load[(j, r)] = load.get((j, r), 0) + v
        if all(v <= cores[j].cap(r) for (j, r), v in load.items()):
            used = len(set(assign))
            best = used if best is None else min(best, used)
    return best


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 10), st.integers(0, 10)), min_size=1, max_size=6),
       st.lists(st.tuples(st.integers(5, 12), st.integers(5, 12)), min_size=1, max_size=4))
def test_shared_minimum_matches_brute_force(items, caps):
    demands = [{"neurons": a, "synapses": b} for a, b in items]
    pops = [MapItem(f"p{i}", d) for i, d in enumerate(demands)]
    cores = [Core(f"c{j}", {"neurons": a, "synapses": b}) for j, (a, b) in enumerate(caps)]
    best = brute_force_min_cores(demands, cores)
    if best is None:
        with pytest.raises(NirccError):
            map_resources(pops, cores)
        return
    m = map_resources(pops, cores)
    assert m.cores_used == best and m.optimal
    assert m.lower_bound <= best
    for core, use in m.load().items():
        c = next(c for c in cores if c.name == core)
        assert all(v <= c.cap(r) for r, v in use.items())


def test_refinement_beats_first_fit_decreasing():
    # sizes 4,4,3,3,3,3 into cores of 10: FFD uses 3 ({4,4},{3,3,3},{3}); optimum 2 ({4,3,3} twice)
    pops = [MapItem(f"p{i}", {"n": s}) for i, s in enumerate([4, 4, 3, 3, 3, 3])]
    cores = [Core(f"c{j}", {"n": 10}) for j in range(4)]
    m = map_resources(pops, cores)
    assert m.cores_used == 2 and m.lower_bound == 2 and m.optimal
    assert m.notes == ["refinement: 3 -> 2 cores"]
    heuristic = map_resources(pops, cores, exact_limit=0)
    assert heuristic.cores_used == 3 and not heuristic.optimal and heuristic.method.endswith("core emptying")


def test_exact_search_within_a_budget():
    pops = [MapItem(f"p{i}", {"n": s}) for i, s in enumerate([4, 4, 3, 3, 3, 3])]
    m = map_resources(pops, [Core(f"c{j}", {"n": 10}) for j in range(4)], budget=1)
    assert m.cores_used == 3 and not m.optimal
    assert m.method == "first-fit-decreasing + exact search (budget exhausted)"


def test_exact_search_finds_what_first_fit_misses_on_heterogeneous_cores():
    # first fit puts the small-neuron, big-synapse slice on the only core the other one fits
    pops = [MapItem("p0", {"neurons": 1, "syn": 6}), MapItem("p1", {"neurons": 6, "syn": 0})]
    cores = [Core("c0", {"neurons": 5, "syn": 5}), Core("c1", {"neurons": 6, "syn": 6}),
             Core("c2", {"neurons": 5, "syn": 6})]
    m = map_resources(pops, cores)
    assert m.assignment() == {"p0": [("c2", 0, 1)], "p1": [("c1", 0, 1)]}


def test_large_heterogeneous_exclusive_uses_hopcroft_karp():
    # 30 slices, 30 cores alternating big/small: first fit hands big cores to small slices
    cores = [Core(f"c{j}", {"mem": 10 if j % 2 == 0 else 1}) for j in range(30)]
    pops = [MapItem(f"s{i}", {"mem": 1}) for i in range(15)] + \
           [MapItem(f"b{i}", {"mem": 10}) for i in range(15)]
    m = map_resources(pops, cores, exclusive=True)
    assert m.method == "matching (Hopcroft-Karp)" and m.cores_used == 30
    assert all(int(m.core_of(f"b{i}")[1:]) % 2 == 0 for i in range(15))


def test_core_emptying_frees_a_core():
    # FFD order by size: 6, 5, 5, 4 -> c0 {6, 4}? no: 6+5 > 10 -> c0 {6}, c1 {5, 5}, c0 {6, 4}: 2 cores;
    # a leftover small item lands on a third core that emptying moves back
    pops = [MapItem("a", {"n": 6}), MapItem("b", {"n": 5}), MapItem("c", {"n": 5}),
            MapItem("d", {"n": 3}), MapItem("e", {"n": 1})]
    cores = [Core(f"c{j}", {"n": 10}) for j in range(5)]
    m = map_resources(pops, cores, exact_limit=0)
    assert m.cores_used == 2 and m.optimal  # reaches the lower bound ceil(20 / 10)


def test_utilization_and_report():
    pops = [MapItem("a", {"n": 3, "s": 100}), MapItem("b", {"n": 5})]
    m = map_resources(pops, [Core("x", {"n": 10, "s": 400}), Core("y", {"n": 10, "s": 400})])
    assert m.utilization() == {"x": {"n": 0.8, "s": 0.25}}
    assert m.used_cores == ["x"] and m.to_dict()["cores_available"] == 2
    assert m.table().splitlines()[-1] == "1 of 2 cores used; lower bound 1 (optimal)"


# ----------------------------------------------------------------------------- splitting
def test_split_into_balanced_slices():
    # a slice of k neurons: 1000 + 100 k synapse words (<= 64Ki) and k neurons (<= 1024): k_max = 645
    pop = MapItem("h", linear_cost({"syn": 1000}, {"neurons": 1, "syn": 100}), size=3000, splittable=True)
    cores = [Core(f"c{i}", {"neurons": 1024, "syn": 64 * KI}, group=f"chip{i // 4}") for i in range(8)]
    m = map_resources([pop], cores)
    assert [(p.start, p.stop) for p in m.placements] == [(0, 600), (600, 1200), (1200, 1800), (1800, 2400),
                                                        (2400, 3000)]
    assert m.cores_used == 5 and m.groups_used == ["chip0", "chip1"]
    assert all(p.demand == {"syn": 61000.0, "neurons": 600.0} for p in m.placements)


def test_split_slice_of_one_that_fits_nowhere():
    pop = MapItem("h", linear_cost({"syn": 70 * KI}, {"neurons": 1}), size=10, splittable=True)
    with pytest.raises(NirccError, match=r"node 'h', field 'syn': population 'h' \(a slice of 1 neuron\) needs "
                                         r"syn 70Ki; cores offer syn 64Ki, 64Ki"):
        map_resources([pop], [Core("a", {"syn": 64 * KI, "neurons": 10}), Core("b", {"syn": 64 * KI, "neurons": 10})])


def test_spinnaker2_like_exclusive_pes_over_two_chips():
    # one population slice per PE; neuron state 48 B/neuron and 2 B per incoming synapse row entry in 96 KiB
    dtcm = 96 * KI
    cores = [Core(f"pe{c}.{i}", {"dtcm": dtcm}, group=f"chip{c}") for c in range(2) for i in range(152)]
    pops = [MapItem("hidden", linear_cost({"dtcm": 4 * KI}, {"dtcm": 48 + 2 * 256}), size=30000, splittable=True),
            MapItem("out", linear_cost({"dtcm": 4 * KI}, {"dtcm": 48 + 2 * 30000}), size=100, splittable=True)]
    m = map_resources(pops, cores, exclusive=True)
    k_hidden = (dtcm - 4 * KI) // (48 + 512)      # 168 neurons per PE
    k_out = (dtcm - 4 * KI) // (48 + 60000)       # 1 neuron per PE
    assert m.cores_used == m.lower_bound == math.ceil(30000 / k_hidden) + math.ceil(100 / k_out) == 279
    assert m.groups_used == ["chip0", "chip1"] and m.optimal and m.method == "matching (first fit)"
    sizes = [p.stop - p.start for p in m.placements if p.population == "hidden"]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 30000 and max(sizes) <= k_hidden


def test_loihi_like_shared_cores_large_net():
    # 128 cores/chip x 2; neurons <= 8192 and synapse memory per core; 40 populations of mixed sizes
    rng = np.random.default_rng(3)
    cores = [Core(f"n{c}.{i}", {"neurons": 8192, "syn_bits": 1 << 20}, group=f"chip{c}") for c in range(2)
             for i in range(128)]
    pops = [MapItem(f"p{i}", linear_cost({"syn_bits": 4096}, {"neurons": 1, "syn_bits": int(fan) * 8}),
                       size=int(n), splittable=True)
            for i, (n, fan) in enumerate(zip(rng.integers(50, 5000, 40), rng.integers(10, 200, 40)))]
    m1 = map_resources(pops, cores)
    m2 = map_resources(pops, cores)
    assert m1.to_dict() == m2.to_dict()  # deterministic
    assert m1.lower_bound <= m1.cores_used <= len(cores)
    for core, use in m1.load().items():
        assert use["neurons"] <= 8192 and use["syn_bits"] <= 1 << 20
    covered = {p.name: 0 for p in pops}
    for pl in m1.placements:
        covered[pl.population] += pl.stop - pl.start
    assert covered == {p.name: p.size for p in pops}
    # balanced slices packed first-fit-decreasing need 88 cores; pouring populations into the
    # cores in order (cutting them at core boundaries) reaches the lower bound
    assert m1.method == "next-fit with splitting"
    assert m1.cores_used == m1.lower_bound == 74 and m1.optimal
    assert m1.notes == ["filling cores in order (splitting populations at core boundaries) uses 74 cores, "
                        "first-fit-decreasing 88"]
    assert m1.groups_used == ["chip0"]


def test_many_unsplittable_populations_use_first_fit_decreasing():
    sizes = [7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1]  # 50 in cores of 10: lower bound 5
    pops = [MapItem(f"p{i}", {"n": s}) for i, s in enumerate(sizes)]
    m = map_resources(pops, [Core(f"c{j}", {"n": 10}) for j in range(8)])
    assert m.method == "first-fit-decreasing + core emptying"
    assert m.cores_used == m.lower_bound == 5 and m.optimal


def test_shared_out_of_cores():
    pops = [MapItem(f"p{i}", {"n": 6}) for i in range(5)]
    with pytest.raises(NirccError, match=r"node 'p\d', field 'cores': the populations need at least 3 cores \(lower "
                                         r"bound\); the target has 2 and an exact search found no assignment"):
        map_resources(pops, [Core("a", {"n": 10}), Core("b", {"n": 10})])
    with pytest.raises(NirccError, match=r"the target has 2 and first-fit-decreasing ran out of cores at 'p\d' \(2 of "
                                         r"5 slices placed\)"):
        map_resources(pops, [Core("a", {"n": 10}), Core("b", {"n": 10})], exact_limit=0)
    many = [MapItem(f"q{i}", {"n": 6}) for i in range(20)]
    with pytest.raises(NirccError, match=r"ran out of cores at 'q\d+' \(10 of 20 slices placed\), as did filling "
                                         r"cores in order"):
        map_resources(many, [Core(f"c{j}", {"n": 10}) for j in range(10)])


def test_shared_lower_bound_beyond_the_target_is_not_capped():
    """The bound used to stop at the target's cores + 1 ("at least 2" for 48 units on one core
    of 10): beyond the target it counts further cores of the largest capacity."""
    pops = [MapItem(f"p{i}", {"n": 6}) for i in range(8)]      # 48 units
    with pytest.raises(MappingError) as e:
        map_resources(pops, [Core("a", {"n": 10})])
    assert str(e.value) == ("node 'p1', field 'cores': the populations need at least 5 cores (lower bound); the "
                            "target has 1 and an exact search found no assignment")
    assert e.value.lower_bound == 5
    with pytest.raises(MappingError) as e:                         # 10 + 4 + 4 x 10 >= 48
        map_resources(pops, [Core("a", {"n": 10}), Core("b", {"n": 4})])
    assert e.value.lower_bound == 6 and "need at least 6 cores (lower bound); the target has 2 " in e.value.message
    many = [MapItem(f"q{i}", {"n": 6}) for i in range(20)]      # 120 units, the large-instance path
    with pytest.raises(MappingError) as e:
        map_resources(many, [Core("a", {"n": 10})])
    assert str(e.value) == ("node 'q1', field 'cores': the populations need at least 12 cores (lower bound); the "
                            "target has 1 and first-fit-decreasing ran out of cores at 'q1' (1 of 20 slices placed), "
                            "as did filling cores in order")


def test_exclusive_out_of_cores_is_a_mapping_error_with_the_exact_count():
    pops = [MapItem(f"p{i}", {"n": 1}) for i in range(5)]
    with pytest.raises(MappingError) as e:
        map_resources(pops, [Core("a", {"n": 1}), Core("b", {"n": 1})], exclusive=True)
    assert str(e.value) == ("node 'p0', field 'cores': the populations need 5 cores, one per population or slice "
                            "('p0' alone 1); the target has 2")
    assert e.value.lower_bound == 5


def test_format_amount():
    assert [format_amount(x) for x in (0, 1000, 1024, 1536 * KI, 4 * KI * KI, 4 * KI * KI + KI, 3 * KI * KI + 1,
                                       2.5, 1.0e6 / 3)] == \
        ["0", "1000", "1Ki", "1536Ki", "4Mi", "4097Ki", "3145729", "2.5", "3.333e+05"]


def test_core_dependent_demand():
    # a model that needs twice the memory on "small" cores
    def cost(k, core):
        return {"mem": k * (2 if core.kind == "small" else 1)}

    pops = [MapItem("a", cost, size=6, splittable=False), MapItem("b", cost, size=3)]
    cores = [Core("s", {"mem": 8}, kind="small"), Core("b", {"mem": 6}, kind="big")]
    m = map_resources(pops, cores, exclusive=True)
    assert m.assignment() == {"a": [("b", 0, 6)], "b": [("s", 0, 3)]}
    assert m.placements[1].demand == {"mem": 6}


def test_bad_arguments():
    with pytest.raises(ValueError, match="unique"):
        map_resources([MapItem("a", {}), MapItem("a", {})], [Core("c", {})])
    with pytest.raises(ValueError, match="no cores"):
        map_resources([MapItem("a", {})], [])
    with pytest.raises(ValueError, match="finite"):
        map_resources([MapItem("a", {"n": -1})], [Core("c", {"n": 1})])
