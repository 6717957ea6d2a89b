"""Loihi lowering on small hand-built graphs: the integers by hand (weights as netx loads
them, du / dv / vth / bias), delays, recurrence, pooling folded into convolutions, per-neuron
thresholds, the netx weight repair, the partition; and exactness: IF networks whose weights
and thresholds lie on the integer grid of a power-of-two gain run step for step like the
reference simulator (the lowering adds nothing but the one-step lag per synapse)."""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest

from nircc.backends.io import program_io
import nircc
from nircc.backends.loihi.partition import partition
from nircc.backends.loihi.program import ConvLayer, DenseLayer, FlattenLayer
from nircc.backends.loihi.weights import netx_synapse
from nircc.backends.loihi.spec import get_spec
from nircc.errors import NirccError
from nircc.semantics import Semantics

F32 = np.float32
I, O = nir.Input, nir.Output


def arr(n, v) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, F32), n if isinstance(n, tuple) else (n,)).copy()


def lif(n, tau=0.004, thr=1.0, r=1.0, v_leak=0.0, v_reset=0.0) -> nir.LIF:
    return nir.LIF(tau=arr(n, tau), r=arr(n, r), v_leak=arr(n, v_leak), v_threshold=arr(n, thr),
                   v_reset=arr(n, v_reset))


def if_(n, thr=1.0, r=1.0) -> nir.IF:
    return nir.IF(r=arr(n, r), v_threshold=arr(n, thr), v_reset=arr(n, 0.0))


def cuba(n, tau_syn=0.002, tau_mem=0.004, r=2.0, w_in=1.0, thr=1.0) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=arr(n, tau_syn), tau_mem=arr(n, tau_mem), r=arr(n, r), v_leak=arr(n, 0.0),
                       v_threshold=arr(n, thr), v_reset=arr(n, 0.0), w_in=arr(n, w_in))


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def chain(**nodes) -> nir.NIRGraph:
    names = list(nodes)
    return graph(nodes, list(zip(names, names[1:])))


def compiled(g, dt=1e-3, semantics=None, **options):
    return nircc.compile(g, "loihi", dt=dt, semantics=semantics, options=options)


def file_weights(syn) -> list:
    return (np.asarray(syn.weights, np.int64) >> -syn.weight_exp).tolist()


# ---------------------------------------------------------------------- hand-computed lowering
def test_lif_dense_by_hand():
    """dt 1 ms, tau 4 ms: b = 0.25; r 1; weight_scale G = 100 (a_in per unit of v).
    weights W b G = [[25, -12.5, 0], [6.25, 12.5, 25]] truncated; bias b beta G = 0.25 * 0.4 * 100 = 10;
    dv = trunc(4096 * 0.25) = 1024; du = 4095 (no current); vth = 1 * G = 100."""
    w = np.array([[1.0, -0.5, 0.0], [0.25, 0.5, 1.0]], F32)
    g = chain(i=I(np.array([3])), fc=nir.Affine(weight=w, bias=np.array([0.4, 0.0], F32)), n=lif(2),
              o=O(np.array([2])))
    res = compiled(g, weight_scale=100)
    prog = res.program
    assert [lay.kind for lay in prog.layers] == ["input", "dense"]
    lay = prog.layer("n")
    assert file_weights(lay.synapse) == [[25, -12, 0], [6, 12, 25]]
    # netx: mixed, scale min(127/25, 128/12) -> 3 bits, all-odd matrix -> 8 - 3 - (0 - 1) = 6 weight bits
    assert (lay.synapse.weight_exp, lay.synapse.num_weight_bits, lay.synapse.sign_mode) == (-3, 6, "mixed")
    assert lay.synapse.weights.tolist() == [[200, -96, 0], [48, 96, 200]]
    n = lay.neurons
    assert (n.du, n.dv, n.vth, n.bias_mant.tolist(), n.bias_exp) == (4095, 1024, 100, [10, 0], 6)
    assert res.target.latency(prog) == {"o": 1}
    q = res.report["quantization"]["layers"][0]
    assert q["gain"] == 100 and q["gain_source"] == "weight_scale" and q["dv"] == 1024
    near = compiled(g, weight_scale=100, rounding="nearest").program.layer("n")
    assert file_weights(near.synapse) == [[25, -12, 0], [6, 12, 25]]     # half-even: -12.5 -> -12, 12.5 -> 12
    # the best gain: the mixed matrix's 254 / 0.25 (even values up to 254), bounded by nothing else
    best = compiled(g).program.layer("n")
    assert file_weights(best.synapse) == [[254, -126, 0], [62, 126, 254]] and best.neurons.vth == 1016
    assert best.neurons.bias_mant.tolist() == [101, 0]                     # 0.1 * 1016 = 101.6


def test_cuba_decays_euler_and_exact():
    """tau_syn 2 ms, tau_mem 4 ms, dt 1 ms.  euler: du = trunc(4096 * 0.5 - 1) = 2047,
    dv = trunc(4096 * 0.25) = 1024; k = b_mem r b_syn w_in = 0.25 * 2 * 0.5 = 0.25.
    exact: du = trunc(4096 (1 - e^-0.5) - 1) = 1610, dv = trunc(4096 (1 - e^-0.25)) = 906."""
    g = chain(i=I(np.array([1])), fc=nir.Linear(weight=np.array([[1.0]], F32)), n=cuba(1), o=O(np.array([1])))
    e = compiled(g, weight_scale=64).program.layer("n")
    assert (e.neurons.du, e.neurons.dv, e.neurons.vth, file_weights(e.synapse)) == (2047, 1024, 64, [[16]])
    x = compiled(g, weight_scale=64, semantics=Semantics(discretization="exact")).program.layer("n")
    k = (1 - np.exp(-0.25)) * 2 * (1 - np.exp(-0.5))
    assert (x.neurons.du, x.neurons.dv, file_weights(x.synapse)) == (1610, 906, [[int(64 * k)]])
    near = compiled(g, weight_scale=64, rounding="nearest").program.layer("n")
    assert (near.neurons.du, near.neurons.dv) == (2047, 1024)
    # tau_syn = dt: the current lasts one step, du = 4096 - 1
    one = chain(i=I(np.array([1])), fc=nir.Linear(weight=np.array([[1.0]], F32)), n=cuba(1, tau_syn=0.001),
                o=O(np.array([1])))
    assert compiled(one).program.layer("n").neurons.du == 4095


def test_if_gain_is_dt_r_and_no_leak():
    g = chain(i=I(np.array([2])), fc=nir.Linear(weight=np.array([[2.0, 1.0]], F32)), n=if_(1, thr=3.0, r=500.0),
              o=O(np.array([1])))
    lay = compiled(g, weight_scale=10).program.layer("n")          # dt r = 0.5: weights [1, 0.5] * 10
    assert (file_weights(lay.synapse), lay.neurons.du, lay.neurons.dv, lay.neurons.vth) == ([[10, 5]], 4095, 0, 30)


def test_leak_and_bias_become_bias_mant():
    """LIF: bias per step b (v_leak + r beta) = 0.25 (0.2 + 2 * 0.1) = 0.1 at G = 50 -> 5."""
    g = chain(i=I(np.array([1])), fc=nir.Affine(weight=np.array([[1.0]], F32), bias=np.array([0.1], F32)),
              n=lif(1, v_leak=0.2, r=2.0, thr=2.0), o=O(np.array([1])))
    res = compiled(g, weight_scale=50)
    n = res.program.layer("n").neurons
    assert (n.bias_mant.tolist(), n.vth) == ([5], 100)
    assert res.diagnostics.with_code("bias-lead")


def test_delays_pre_and_post_sides():
    """Delay (2, 0) steps before the weight and (1, 3) after: synapse [j, i] gets pre[i] + post[j]."""
    g = chain(i=I(np.array([2])), d1=nir.Delay(delay=np.array([0.002, 0.0])),
              fc=nir.Linear(weight=np.array([[1.0, 1.0], [1.0, 0.0]], F32)),
              d2=nir.Delay(delay=np.array([0.001, 0.003])),
              n=lif(2), o=O(np.array([2])))
    res = compiled(g)
    syn = res.program.layer("n").synapse
    assert syn.delays.tolist() == [[3, 1], [5, 0]]       # [1, 0] has no weight: its delay is 0
    assert res.report["quantization"]["layers"][0]["delays"] == {"min": 1, "max": 5}
    assert res.target.latency(res.program) == {"o": 1}


def test_parallel_paths_merge_into_one_synapse():
    g = graph({"i": I(np.array([2])), "a": nir.Linear(weight=np.array([[1.0, 0.0], [0.0, 0.0]], F32)),
               "d": nir.Delay(delay=np.array([0.0, 0.002])),
               "b": nir.Linear(weight=np.array([[0.0, 0.5], [0.0, 1.0]], F32)), "n": lif(2), "o": O(np.array([2]))},
              [("i", "a"), ("a", "n"), ("i", "d"), ("d", "b"), ("b", "n"), ("n", "o")])
    syn = compiled(g, weight_scale=100).program.layer("n").synapse
    assert file_weights(syn) == [[25, 12], [0, 25]] and syn.delays.tolist() == [[0, 2], [0, 2]]


def test_recurrent_layer_is_dense_rec():
    w, w_rec = np.array([[1.0], [0.5]], F32), np.array([[0.0, -1.0], [0.5, 0.0]], F32)
    g = graph({"i": I(np.array([1])), "fc": nir.Linear(weight=w), "n": if_(2), "rec": nir.Linear(weight=w_rec),
               "o": O(np.array([2]))}, [("i", "fc"), ("fc", "n"), ("n", "rec"), ("rec", "n"), ("n", "o")])
    res = compiled(g, dt=1.0, weight_scale=64)
    lay = res.program.layer("n")
    assert lay.kind == "dense_rec"
    assert file_weights(lay.synapse) == [[64], [32]] and file_weights(lay.synapse_rec) == [[0, -64], [32, 0]]
    # netx optimizes [W | W_rec] together: one exponent and bit count, a sign mode each
    assert lay.synapse.weight_exp == lay.synapse_rec.weight_exp == -1
    assert (lay.synapse.sign_mode, lay.synapse_rec.sign_mode) == ("excitatory", "mixed")
    assert res.target.latency(res.program) == {"o": 1}


def test_pool_folds_into_the_next_conv():
    """SumPool 2x2 then a 2x2 kernel [[1, 2], [3, 4]]: one 4x4 kernel of 2x2 blocks, stride 2."""
    g = chain(i=I(np.array([1, 4, 4])), p=nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                         padding=np.array([0, 0])),
              c=nir.Conv2d(input_shape=(2, 2), weight=np.array([[[[1, 2], [3, 4]]]], F32) / 4, stride=1, padding=0,
                           dilation=1, groups=1, bias=np.zeros(1, F32)),
              n=if_((1, 1, 1)), o=O(np.array([1, 1, 1])))
    res = compiled(g, dt=1.0, weight_scale=8)
    lay = res.program.layer("n")
    assert isinstance(lay, ConvLayer) and lay.in_shape == (1, 4, 4)
    assert lay.weights[0, 0].tolist() == [[2, 2, 4, 4], [2, 2, 4, 4], [6, 6, 8, 8], [6, 6, 8, 8]]
    assert (lay.stride, lay.padding, lay.dilation, lay.groups) == ((2, 2), (0, 0), (1, 1), 1)
    assert res.diagnostics.with_code("pool-folded")


def test_pool_alone_is_a_depthwise_conv_and_before_a_dense_a_matrix():
    pool = dict(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    g = chain(i=I(np.array([2, 4, 4])), p=nir.SumPool2d(**pool), n=if_((2, 2, 2), thr=2.0),
              p2=nir.SumPool2d(**pool), f=nir.Flatten(input_type={"input": np.array([2, 1, 1])}),
              fc=nir.Linear(weight=np.array([[1.0, -1.0]], F32)), m=if_(1), o=O(np.array([1])))
    prog = compiled(g, dt=1.0, weight_scale=16).program
    assert [lay.kind for lay in prog.layers] == ["input", "conv", "flatten", "dense"]
    c = prog.layer("n")
    assert c.groups == 2 and c.weights.shape == (2, 1, 2, 2) and np.all(c.weights == 16) and c.neurons.vth == 32
    assert isinstance(prog.layers[2], FlattenLayer)
    m = prog.layer("m")
    assert file_weights(m.synapse) == [[16] * 4 + [-16] * 4]             # W @ P: each window sums 4 neurons


def test_per_neuron_thresholds_scale_rows():
    """thresholds 1 and 4: s = 4 / thr = (4, 1); vth = 4 G for both, row 0 weights x 4."""
    g = chain(i=I(np.array([1])), fc=nir.Linear(weight=np.array([[1.0], [1.0]], F32)),
              n=if_(2, thr=np.array([1.0, 4.0])), o=O(np.array([2])))
    res = compiled(g, dt=1.0, weight_scale=16)
    lay = res.program.layer("n")
    assert (file_weights(lay.synapse), lay.neurons.vth) == ([[64], [16]], 64)
    assert res.diagnostics.with_code("threshold-normalized")
    assert res.report["quantization"]["layers"][0]["threshold_normalized"] is True


def test_netx_inhibitory_repair():
    """An all-negative matrix whose minimum is -128: netx shifts it to -256, which Lava's
    inhibitory mode clips to -255; nircc moves -128 to -127 (netx then shifts by 1: -254)."""
    g = chain(i=I(np.array([2])), fc=nir.Linear(weight=np.array([[-1.0, -0.5]], F32)), n=if_(1),
              o=O(np.array([1])))
    res = compiled(g, dt=1.0, weight_scale=128)
    syn = res.program.layer("n").synapse
    assert file_weights(syn) == [[-127, -64]] and (syn.sign_mode, syn.weight_exp) == ("inhibitory", -1)
    d = res.diagnostics.with_code("netx-weight-repair")
    assert len(d) == 1 and "1 at -128" in d[0].message
    np.testing.assert_array_equal(netx_synapse(np.array([[-127, -64]])).weights, syn.weights)


def test_state_range_warnings():
    """1000 inputs x 255 x 64 = 16.3M > 2**23: u can wrap."""
    g = chain(i=I(np.array([1000])), fc=nir.Linear(weight=np.ones((2, 1000), F32)), n=lif(2),
              o=O(np.array([2])))
    res = compiled(g)
    (d,) = res.diagnostics.with_code("state-wrap")
    assert d.node == "n" and "1.632e+07" in d.message
    assert res.report["quantization"]["layers"][0]["state"]["u_max"] == 64 * 255 * 1000


def test_li_readout_output_in_reference_units():
    g = chain(i=I(np.array([1])), fc=nir.Linear(weight=np.array([[1.0]], F32)),
              n=nir.LI(tau=arr(1, 0.004), r=arr(1, 1.0), v_leak=arr(1, 0.0)), o=O(np.array([1])))
    res = compiled(g, weight_scale=64)
    lay = res.program.layer("n")
    assert lay.neurons.vth == 131071 and program_io(res.program).output("o").kind == "v"
    x = np.zeros((6, 1, 1))
    x[0] = 1
    y = res.emulate(x).outputs["o"][:, 0, 0]
    # one input spike: 16 a_in (0.25 * 64) -> v = 1024 at step 1, then v * 3072 / 4096 per step
    assert y.tolist() == [0, 1024 / 4096, 768 / 4096, 576 / 4096, 432 / 4096, 324 / 4096]


# ---------------------------------------------------------------------- exact against the reference
def grid_conv_net(rng: np.random.Generator) -> nir.NIRGraph:
    """IF layers (dt = 1, r = 1, so v += input) with weights k / 64 (conv: even k, its 8-bit
    mixed mode clears the low bit) and thresholds of powers of two: exactly representable
    at weight_scale 64.  Input (2, 6, 6) -> SumPool 2 -> Conv 3x3 pad 1 -> IF -> Flatten ->
    Linear -> IF (thresholds 1, 2, 4, 1, 2) + recurrent Linear -> Delay -> Linear -> IF."""
    thr = np.array([1.0, 2.0, 4.0, 1.0, 2.0])
    s = 4.0 / thr
    w2 = rng.integers(-20, 30, (5, 27)) / (64 * s[:, None])
    w_rec = rng.integers(-20, 20, (5, 5)) / (64 * s[:, None])
    nodes = {
        "i": I(np.array([2, 6, 6])),
        "p": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "c": nir.Conv2d(input_shape=(3, 3), weight=(2 * rng.integers(-10, 16, (3, 2, 3, 3)) / 64).astype(F32),
                        stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(3, F32)),
        "n1": if_((3, 3, 3), thr=1.0),
        "f": nir.Flatten(input_type={"input": np.array([3, 3, 3])}),
        "fc": nir.Linear(weight=w2.astype(F32)),
        "n2": if_(5, thr=thr),
        "rec": nir.Linear(weight=w_rec.astype(F32)),
        "d": nir.Delay(delay=np.array([0.0, 1.0, 2.0, 3.0, 1.0])),
        "fc3": nir.Linear(weight=(rng.integers(0, 40, (4, 5)) / 64).astype(F32)),
        "n3": if_(4, thr=0.5),
        "o": O(np.array([4])),
    }
    edges = [("i", "p"), ("p", "c"), ("c", "n1"), ("n1", "f"), ("f", "fc"), ("fc", "n2"), ("n2", "rec"),
             ("rec", "n2"), ("n2", "d"), ("d", "fc3"), ("fc3", "n3"), ("n3", "o")]
    return graph(nodes, edges)


def test_exact_on_the_grid():
    res = compiled(grid_conv_net(np.random.default_rng(4)), dt=1.0, weight_scale=64)
    prog = res.program
    assert [lay.kind for lay in prog.layers] == ["input", "conv", "flatten", "dense_rec", "dense"]
    assert prog.layer("n2").neurons.vth == 256 and prog.layer("n3").synapse.delays.max() == 3
    assert not res.diagnostics.with_code("quant-zeroed") and not res.diagnostics.with_code("quant-clipped")
    x = res.probe_inputs(120, 6, 0.3, seed=2)
    f = res.fidelity(x).outputs["o"]
    assert f.latency == 3 and f.ref_spikes > 100
    assert f.step_agreement == 1.0 and f.first_divergence is None
    # the membranes too: Lava's v is the reference's v times 64 G, three steps later per layer depth
    ref = res.simulate(x, record=True).states
    chip = res.target.run(prog, {"i": np.concatenate([x["i"], np.zeros((3,) + x["i"].shape[1:])])},
                          record=True).states
    np.testing.assert_array_equal(chip["n1/v"][1:121].reshape(120, 6, 3, 3, 3), ref["n1"]["v"] * 64 * 64)


# ---------------------------------------------------------------------- partition
def test_partition_words_by_hand():
    """10 neurons, 4 inputs, all 40 synapses nonzero, 8 weight bits (netx: an odd weight above
    127): dense rows 4 * 1 header + ceil(40 * 8 / 64) = 9 words; sparse 4 + ceil(40 * 21 / 64) = 18."""
    w = np.full((10, 4), 0.5, F32)
    w[0, 0] = 1.0
    g = chain(i=I(np.array([4])), fc=nir.Linear(weight=w), n=if_(10), o=O(np.array([10])))
    res = compiled(g, dt=1.0, weight_scale=255)
    assert res.program.layer("n").synapse.num_weight_bits == 8
    r = res.report["resources"]
    assert (r["cores_used"], r["lower_bound"], r["chips_used"], r["neurons"], r["synapses"]) == (1, 1, 1, 10, 40)
    assert r["cores"] == [{"core": "chip0.core000", "layers": ["n[0:10]"], "neurons": 10, "synapse_words": 9,
                           "utilization": {"neurons": 10 / 8192, "synapse_words": 9 / 16384}}]


def test_partition_splits_and_needs_a_second_chip():
    """300 neurons of fan-in 1000 (8-bit): a slice of k costs 1000 + 125 k words (dense rows),
    so 123 neurons fill a core: 3 cores.  With 2 cores per chip, loihi2 cannot hold it;
    kapoho_point uses 2 chips."""
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 1.0, (300, 1000)).astype(F32)
    w[0, 0] = 1.0
    res = compiled(chain(i=I(np.array([1000])), fc=nir.Linear(weight=w), n=if_(300), o=O(np.array([300]))),
                   dt=1.0, weight_scale=255)
    assert res.program.layer("n").synapse.num_weight_bits == 8
    r = res.report["resources"]
    assert (r["cores_used"], r["lower_bound"], r["layers"]["n"]["cores"]) == (3, 3, 3)
    assert all(c["synapse_words"] <= 16384 for c in r["cores"])
    small = dataclasses.replace(get_spec("loihi2"), cores_per_chip=2)
    with pytest.raises(NirccError) as e:
        partition(res.program, small)
    assert "kapoho_point" in str(e.value) and e.value.node == "n"
    board = dataclasses.replace(get_spec("kapoho_point"), cores_per_chip=2)
    rb = partition(dataclasses.replace(res.program, variant="kapoho_point"), board)
    assert (rb["cores_used"], rb["chips_used"], rb["chips_available"]) == (3, 2, 8)


def test_dense_layer_after_conv_gets_flatten_and_program_validates():
    g = chain(i=I(np.array([1, 3, 3])), c=nir.Conv2d(input_shape=(3, 3), weight=np.ones((2, 1, 2, 2), F32), stride=1,
                                                      padding=0, dilation=1, groups=1, bias=np.zeros(2, F32)),
              n=if_((2, 2, 2)), f=nir.Flatten(input_type={"input": np.array([2, 2, 2])}),
              fc=nir.Linear(weight=np.ones((3, 8), F32)), m=if_(3), o=O(np.array([3])))
    prog = compiled(g, dt=1.0).program
    assert [type(lay).__name__ for lay in prog.layers] == ["InputLayer", "ConvLayer", "FlattenLayer", "DenseLayer"]
    assert isinstance(prog.layer("m"), DenseLayer) and prog.layer("m").synapse.shape == (3, 8)
