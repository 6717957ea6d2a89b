"""SpiNNaker2 partitioning: PE bytes of the memory model computed by hand, slicing into
max_atoms_per_core, the placement on chips, the bound the mapper uses against each slice's
exact bytes, and the input-rate assumption."""
from __future__ import annotations

import nir
import numpy as np

import nircc
from nircc.backends.spinnaker2.partition import _window_max

F32 = np.float32
KI = 1024


def lif(n: int) -> nir.LIF:
    one = np.ones(n, F32)
    return nir.LIF(tau=one * 0.01, r=one, v_leak=0 * one, v_threshold=one, v_reset=0 * one)


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def compile_(g, **options):
    return nircc.compile(g, "spinnaker2", dt=1e-3, options=options)


def test_bytes_by_hand():
    g = graph({"inp": nir.Input(np.array([10])), "fc": nir.Linear(weight=np.ones((100, 10), F32)), "n": lif(100),
               "o": nir.Output(np.array([100]))}, [("inp", "fc"), ("fc", "n"), ("n", "o")])
    r = compile_(g).report["resources"]
    pe = {e["population"]: e for e in r["pes"]}
    # lif_no_delay: 4 B x (5 state words + 1 input slot) per neuron; 1000 synapse words; 10 rows;
    # spikes recorded: 1000 steps x round4(ceil(100 / 8)) = 16 B
    assert pe["n"]["parts"] == {"fixed": 8 * KI, "neurons": 2400, "synapses": 4000 + 40, "recording": 16000}
    assert pe["n"]["bytes"] == pe["n"]["bound"] == 30632
    # spike_list: an offset per neuron + ceil(10 x 1000 x 0.1) spike times
    assert pe["inp"]["parts"] == {"fixed": 8 * KI, "neurons": 40 + 4000, "synapses": 0, "recording": 0}
    assert (pe["inp"]["pe"], pe["n"]["pe"]) == ("chip0.pe000", "chip0.pe001")
    assert (r["pes_used"], r["lower_bound"], r["chips_used"], r["pes_available"]) == (2, 2, 1, 148)
    assert pe["n"]["utilization"] == 30632 / (96 * KI)


def test_population_split_into_max_atoms_per_core():
    g = graph({"inp": nir.Input(np.array([20])), "w1": nir.Linear(weight=np.ones((1000, 20), F32)), "h": lif(1000),
               "w2": nir.Linear(weight=np.ones((1, 1000), F32)), "n": lif(1), "o": nir.Output(np.array([1]))},
              [("inp", "w1"), ("w1", "h"), ("h", "w2"), ("w2", "n"), ("n", "o")])
    res = compile_(g)
    # h (not recorded): 8192 + 20 rows x 4 + k x (24 + 20 x 4) <= 96 KiB -> k <= 865: 2 slices of 500
    assert res.program.population("h").max_atoms_per_core == 500
    r = res.report["resources"]
    assert [(e["population"], e["pe"], e["start"], e["stop"]) for e in r["pes"]] == [
        ("inp", "chip0.pe000", 0, 20), ("h", "chip0.pe001", 0, 500), ("h", "chip0.pe002", 500, 1000),
        ("n", "chip0.pe003", 0, 1)]
    assert r["populations"]["h"] == {"model": "lif_no_delay", "size": 1000, "pes": 2, "max_atoms_per_core": 500}
    (n_pe,) = [e for e in r["pes"] if e["population"] == "n"]
    assert n_pe["bytes"] == 8192 + 24 + 1000 * 4 + 1000 * 4 + 1000 * 4       # 1000 synapses, 1000 rows, spikes
    assert r["lower_bound"] == r["pes_used"] == 4 and r["optimal"]


def test_exact_bytes_never_exceed_the_bound():
    rng = np.random.default_rng(3)
    n = 3000
    w = (rng.random((n, 40)) < np.linspace(0.05, 0.9, n)[:, None]) * rng.normal(size=(n, 40))
    g = graph({"inp": nir.Input(np.array([40])), "fc": nir.Linear(weight=w.astype(F32)), "n": lif(n),
               "o": nir.Output(np.array([n]))}, [("inp", "fc"), ("fc", "n"), ("n", "o")])
    res = compile_(g, timesteps=200)
    r = res.report["resources"]
    slices = [e for e in r["pes"] if e["population"] == "n"]
    assert len(slices) > 2 and sum(e["stop"] - e["start"] for e in slices) == n
    for e in r["pes"]:
        assert sum(e["parts"].values()) == e["bytes"] <= e["bound"] <= 96 * KI
    # the denser neurons come last: their slices are fuller than the first
    assert slices[-1]["bytes"] > slices[0]["bytes"]
    assert r["synapses"] == res.program.projections[0].connections.shape[0]


def test_window_max():
    c = np.array([1, 5, 0, 2, 9, 1])
    assert [_window_max(c, k) for k in (0, 1, 2, 3, 6, 9)] == [0, 9, 11, 12, 18, 18]


def test_conv_kernel_bytes():
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((3, 2, 3, 3), F32), stride=1, padding=1, dilation=1,
                      groups=1, bias=np.zeros(3, F32))
    ifn = nir.IF(r=np.ones((3, 4, 4), F32), v_threshold=np.ones((3, 4, 4), F32), v_reset=np.zeros((3, 4, 4), F32))
    g = graph({"inp": nir.Input(np.array([2, 4, 4])), "c": conv, "n": ifn, "o": nir.Output(np.array([3, 4, 4]))},
              [("inp", "c"), ("c", "n"), ("n", "o")])
    r = compile_(g).report["resources"]
    (pe,) = [e for e in r["pes"] if e["population"] == "n"]
    assert pe["parts"]["synapses"] == 56 + 40                  # round4(54 int8 weights) + the conv params
    assert pe["parts"]["neurons"] == 48 * 24


def test_input_rate_sizes_the_spike_lists():
    g = graph({"inp": nir.Input(np.array([5000])), "n": lif(5000), "o": nir.Output(np.array([5000]))},
              [("inp", "n"), ("n", "o")])
    pes = {rate: compile_(g, input_rate=rate).report["resources"]["populations"]["inp"]["pes"]
           for rate in (0.1, 0.01)}
    # 4 + 4 x 1000 x rate bytes per neuron: 404 -> 223 per PE (23 PEs); 44 -> 2048 per PE (3 PEs)
    assert pes == {0.1: 23, 0.01: 3}
