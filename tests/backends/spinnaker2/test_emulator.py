"""S2Emulator: hand-computed sequences of every neuron model, delays, conv2d against a direct
loop, batch consistency, exact input sums and the input forms."""
from __future__ import annotations

import numpy as np
import pytest

from nircc.backends.spinnaker2.emulator import S2Emulator, quantize_weights
from nircc.backends.spinnaker2.program import (Conv2DProjection, ListProjection, Population, S2Program,
                                               spike_list_from_raster)
from nircc.errors import NirccError

F32 = np.float32
BIG = 1e30          # a threshold nothing reaches


def lif(name: str, n: int, model: str = "lif_no_delay", record=("spikes", "v"), **over) -> Population:
    params = {"threshold": BIG, "alpha_decay": 1.0, "i_offset": 0.0, "v_reset": 0.0,
              "reset": "reset_by_subtraction"}
    if model.startswith("lif_curr_exp"):
        params.update(exc_decay=0.0, inh_decay=0.0, t_refrac=0)
    params.update(over)
    return Population(name, model, n, params, record=list(record))


def source(n: int, name: str = "in") -> Population:
    return Population(name, "spike_list", n, {})


def program(pops, projs, T: int = 10) -> S2Program:
    return S2Program(populations=list(pops), projections=list(projs), timesteps=T)


def raster(T: int, n: int, spikes: dict[int, list[int]], batch: int = 1) -> np.ndarray:
    """[T, batch, n] with neuron k spiking at the steps spikes[k] (all samples alike)."""
    r = np.zeros((T, batch, n), np.uint8)
    for k, ts in spikes.items():
        r[ts, :, k] = 1
    return r


def run_v(prog: S2Program, inp: np.ndarray, name: str = "p", **opts) -> tuple[np.ndarray, np.ndarray]:
    res = S2Emulator(prog, **opts).run(inp)
    return res.states[name + "/v"][:, 0], res.outputs[name][:, 0]


# ---------------------------------------------------------------------- lif
def test_lif_decay_threshold_and_reset_to_v_reset():
    # weight 10, alpha 0.5 (exact in float32), threshold 12; input at steps 0 and 1
    p = program([source(1), lif("p", 1, alpha_decay=0.5, threshold=12.0, v_reset=-1.0, reset="reset_to_v_reset")],
                [ListProjection("w", "in", "p", [[0, 0, 10, 0]])], T=6)
    v, s = run_v(p, raster(6, 1, {0: [0, 1]}))
    # t0: nothing arrived; t1: 10; t2: 5 + 10 = 15 > 12 -> spike, v = v_reset; then decay
    np.testing.assert_array_equal(v[:, 0], F32([0, 10, -1, -0.5, -0.25, -0.125]))
    np.testing.assert_array_equal(s[:, 0], [0, 0, 1, 0, 0, 0])


def test_lif_reset_by_subtraction():
    p = program([source(1), lif("p", 1, alpha_decay=0.5, threshold=12.0)],
                [ListProjection("w", "in", "p", [[0, 0, 10, 0]])], T=5)
    v, s = run_v(p, raster(5, 1, {0: [0, 1]}))
    np.testing.assert_array_equal(v[:, 0], F32([0, 10, 3, 1.5, 0.75]))
    np.testing.assert_array_equal(s[:, 0], [0, 0, 1, 0, 0])


def test_threshold_is_strictly_greater():
    p = program([source(1), lif("p", 1, threshold=10.0)], [ListProjection("w", "in", "p", [[0, 0, 10, 0]])], T=3)
    v, s = run_v(p, raster(3, 1, {0: [0]}))
    np.testing.assert_array_equal(v[:, 0], F32([0, 10, 10]))
    assert not s.any()


def test_i_offset_drives_a_periodic_neuron():
    # alpha 1, i_offset 0.25, threshold 1: 0.25 .. 1.0 (not > 1), 1.25 fires -> 0.25, ...
    p = program([source(1), lif("p", 1, i_offset=0.25, threshold=1.0)], [], T=10)
    v, s = run_v(p, raster(10, 1, {}))
    np.testing.assert_array_equal(v[:, 0], F32([0.25, 0.5, 0.75, 1.0, 0.25, 0.5, 0.75, 1.0, 0.25, 0.5]))
    np.testing.assert_array_equal(np.nonzero(s[:, 0])[0], [4, 8])


def test_per_neuron_parameter_arrays():
    p = program([source(1), lif("p", 3, alpha_decay=[1.0, 0.5, 0.25], threshold=[BIG, BIG, 5.0])],
                [ListProjection("w", "in", "p", [[0, 0, 8, 0], [0, 1, 8, 0], [0, 2, 8, 0]])], T=3)
    v, s = run_v(p, raster(3, 1, {0: [0]}))
    np.testing.assert_array_equal(v[1], F32([8, 8, 3]))
    np.testing.assert_array_equal(v[2], F32([8, 4, 0.75]))
    np.testing.assert_array_equal(s[1], [0, 0, 1])


@pytest.mark.parametrize("model", ["lif", "lif_curr_exp"])
def test_delays_0_to_7_arrive_at_t_plus_1_plus_d(model):
    # input neuron d -> post neuron d with delay field d and weight 15 (the lif maximum)
    conns = [[d, d, 15, d] for d in range(8)]
    p = program([source(8), lif("p", 8, model=model)], [ListProjection("w", "in", "p", conns)], T=14)
    v, _ = run_v(p, raster(14, 8, {d: [2] for d in range(8)}))
    first = np.argmax(v != 0, axis=0)
    np.testing.assert_array_equal(first, 2 + 1 + np.arange(8))
    np.testing.assert_array_equal(v[-1], np.full(8, 15, F32))


def test_recurrent_self_connection_with_delay():
    # a neuron kicked once re-excites itself 3 steps (delay field 2) after each spike
    p = program([source(1), lif("p", 1, model="lif", threshold=5.0, v_reset=0.0, reset="reset_to_v_reset")],
                [ListProjection("w", "in", "p", [[0, 0, 10, 0]]),
                 ListProjection("rec", "p", "p", [[0, 0, 10, 2]])], T=12)
    _, s = run_v(p, raster(12, 1, {0: [0]}))
    np.testing.assert_array_equal(np.nonzero(s[:, 0])[0], [1, 4, 7, 10])


def test_duplicate_rows_are_summed():
    p = program([source(1), lif("p", 1)], [ListProjection("w", "in", "p", [[0, 0, 100, 0], [0, 0, 27, 0]])], T=2)
    v, _ = run_v(p, raster(2, 1, {0: [0]}))
    assert v[1, 0] == F32(127)


# ---------------------------------------------------------------------- lif_curr_exp
def curr_exp_program(order_T: int = 6, **over) -> S2Program:
    params = dict(exc_decay=0.5, inh_decay=0.25)
    params.update(over)
    return program([source(2), lif("p", 1, model="lif_curr_exp_no_delay", **params)],
                   [ListProjection("w", "in", "p", [[0, 0, 8, 0], [1, 0, -64, 0]])], T=order_T)


def test_lif_curr_exp_current_first():
    res = S2Emulator(curr_exp_program(), lif_curr_exp_order="current_first").run(
        raster(6, 2, {0: [0], 1: [2]}), record=True)
    # exc: 8 arrives at t1, then halves; inh: -64 arrives at t3, then quarters
    np.testing.assert_array_equal(res.states["p/i_exc"][:, 0, 0], F32([0, 8, 4, 2, 1, 0.5]))
    np.testing.assert_array_equal(res.states["p/i_inh"][:, 0, 0], F32([0, 0, 0, -64, -16, -4]))
    # v(t) = v(t-1) + I_exc(t) + I_inh(t)  (alpha 1)
    np.testing.assert_array_equal(res.states["p/v"][:, 0, 0], F32([0, 8, 12, -50, -65, -68.5]))


def test_lif_curr_exp_voltage_first():
    res = S2Emulator(curr_exp_program(), lif_curr_exp_order="voltage_first").run(
        raster(6, 2, {0: [0], 1: [2]}), record=True)
    np.testing.assert_array_equal(res.states["p/i_exc"][:, 0, 0], F32([0, 8, 4, 2, 1, 0.5]))
    # v(t) = v(t-1) + I(t-1): the input moves v one step later
    np.testing.assert_array_equal(res.states["p/v"][:, 0, 0], F32([0, 0, 8, 12, -50, -65]))


def test_lif_curr_exp_default_order_is_current_first():
    inp = raster(6, 2, {0: [0], 1: [2]})
    a = S2Emulator(curr_exp_program()).run(inp).states["p/v"]
    b = S2Emulator(curr_exp_program(), lif_curr_exp_order="current_first").run(inp).states["p/v"]
    np.testing.assert_array_equal(a, b)


def test_lif_curr_exp_refractory_holds_v():
    # IF (alpha 1), threshold 10, constant input current 4 (i_offset), t_refrac 2, reset to 0:
    # 4, 8, 12 -> spike, v = 0; held 2 steps; 4, 8, 12 -> spike ...
    p = program([source(1), lif("p", 1, model="lif_curr_exp_no_delay", i_offset=4.0, threshold=10.0,
                                reset="reset_to_v_reset", exc_decay=0.5, inh_decay=0.5, t_refrac=2)], [], T=12)
    v, s = run_v(p, raster(12, 1, {}))
    np.testing.assert_array_equal(v[:, 0], F32([4, 8, 0, 0, 0, 4, 8, 0, 0, 0, 4, 8]))
    np.testing.assert_array_equal(np.nonzero(s[:, 0])[0], [2, 7])


def test_refractory_currents_keep_integrating():
    # a spike arriving during the refractory period still charges I_exc
    p = program([source(1), lif("p", 1, model="lif_curr_exp", threshold=5.0, reset="reset_to_v_reset",
                                exc_decay=0.5, inh_decay=0.5, t_refrac=1)],
                [ListProjection("w", "in", "p", [[0, 0, 8, 0]])], T=5)
    res = S2Emulator(p).run(raster(5, 1, {0: [0, 1]}), record=True)
    np.testing.assert_array_equal(res.states["p/i_exc"][:, 0, 0], F32([0, 8, 12, 6, 3]))
    # t1: v = 8 > 5 spike -> 0; t2 refractory (held 0); t3: 0 + 6 = 6 > 5 spike -> 0; t4 held
    np.testing.assert_array_equal(res.states["p/v"][:, 0, 0], F32([0, 0, 0, 0, 0]))
    np.testing.assert_array_equal(res.outputs["p"][:, 0, 0], [0, 1, 0, 1, 0])


# ---------------------------------------------------------------------- float32 order and exact sums
def test_membrane_update_is_float32_in_the_documented_order():
    rng = np.random.default_rng(3)
    alpha = rng.uniform(0.5, 1.0, 16).astype(F32)
    i_off = rng.uniform(-0.3, 0.3, 16).astype(F32)
    T = 30
    r = (rng.random((T, 1, 16)) < 0.3).astype(np.uint8)
    conns = [[k, k, int(w), 0] for k, w in enumerate(rng.integers(-127, 128, 16))]
    p = program([source(16), lif("p", 16, alpha_decay=alpha, i_offset=i_off, threshold=50.0)],
                [ListProjection("w", "in", "p", conns)], T=T)
    v_emu = S2Emulator(p).run(r).states["p/v"][:, 0]
    w = np.array([c[2] for c in conns], F32)
    v = np.zeros(16, F32)
    for t in range(T):
        drive = w * r[t - 1, 0] if t else np.zeros(16, F32)
        v = F32(F32(alpha * v) + drive) + i_off          # fl(fl(fl(a*v) + I) + i_offset)
        v = np.where(v > F32(50.0), v - F32(50.0), v).astype(F32)
        np.testing.assert_array_equal(v_emu[t], v)


def test_input_sum_is_exact_beyond_float32_accumulation():
    # 140000 synapses of 127 plus one of 1: the exact sum 17780001 > 2**24 is converted to
    # float32 once (17780000); a float32 running sum would drift
    n = 140001
    conns = np.zeros((n, 4), np.int64)
    conns[:, 0] = np.arange(n)
    conns[:, 2] = 127
    conns[-1, 2] = 1
    p = program([source(n), lif("p", 1, record=("v",))], [ListProjection("w", "in", "p", conns)], T=2)
    res = S2Emulator(p).run(np.ones((2, 1, n), np.uint8))
    assert res.states["p/v"][1, 0, 0] == F32(17780001)
    assert S2Emulator(p).neurons["p"].acc == np.float64


@pytest.mark.parametrize("mode, expect", [("round", [2, 3, -3, 4]), ("trunc", [2, 2, -2, 3])])
def test_float_weights_rounding(mode, expect):
    conns = [[0, 0, 2.5, 0], [0, 1, 2.7, 0], [0, 2, -2.7, 0], [0, 3, 3.5, 0]]
    p = program([source(1), lif("p", 4, alpha_decay=0.0)], [ListProjection("w", "in", "p", conns)], T=2)
    v, _ = run_v(p, raster(2, 1, {0: [0]}), weight_rounding=mode)
    np.testing.assert_array_equal(v[1], F32(expect))


def test_quantize_weights_leaves_integers_alone():
    np.testing.assert_array_equal(quantize_weights(np.array([3, -4]), "trunc"), [3, -4])
    assert quantize_weights(np.array([0.5, 1.5, -0.5]), "round").tolist() == [0, 2, 0]


# ---------------------------------------------------------------------- conv2d
def conv_reference(x: np.ndarray, k: np.ndarray, cp: dict) -> np.ndarray:
    """Direct loops: sum-pool (pool_y rows, pool_x columns, floor), pad, cross-correlate."""
    c_in, h, w = x.shape
    py, px = cp["pool_y"], cp["pool_x"]
    ph, pw = h // py, w // px
    pooled = np.zeros((c_in, ph, pw))
    for c in range(c_in):
        for i in range(ph):
            for j in range(pw):
                pooled[c, i, j] = x[c, i * py:(i + 1) * py, j * px:(j + 1) * px].sum()
    hp, wp = ph + cp["pad_top"] + cp["pad_bottom"], pw + cp["pad_left"] + cp["pad_right"]
    padded = np.zeros((c_in, hp, wp))
    padded[:, cp["pad_top"]:cp["pad_top"] + ph, cp["pad_left"]:cp["pad_left"] + pw] = pooled
    _, c_out, kh, kw = k.shape
    ho, wo = (hp - kh) // cp["stride_y"] + 1, (wp - kw) // cp["stride_x"] + 1
    out = np.zeros((c_out, ho, wo))
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                y0, x0 = i * cp["stride_y"], j * cp["stride_x"]
                for c in range(c_in):
                    for a in range(kh):
                        for b in range(kw):
                            out[o, i, j] += padded[c, y0 + a, x0 + b] * k[c, o, a, b]
    return out


CONV_CASES = [
    dict(in_height=6, in_width=5, stride_x=1, stride_y=1, pool_x=1, pool_y=1, pad_top=0, pad_bottom=0,
         pad_left=0, pad_right=0),
    dict(in_height=7, in_width=6, stride_x=1, stride_y=2, pool_x=1, pool_y=1, pad_top=1, pad_bottom=2,
         pad_left=0, pad_right=1),
    dict(in_height=9, in_width=8, stride_x=2, stride_y=1, pool_x=2, pool_y=3, pad_top=0, pad_bottom=1,
         pad_left=2, pad_right=0),
    dict(in_height=8, in_width=8, stride_x=2, stride_y=2, pool_x=2, pool_y=2, pad_top=1, pad_bottom=1,
         pad_left=1, pad_right=1),
]


@pytest.mark.parametrize("cp", CONV_CASES)
def test_conv2d_matches_direct_loop(cp):
    rng = np.random.default_rng(7)
    c_in, c_out, kh, kw = 2, 3, 3, 2
    k = rng.integers(-128, 128, (c_in, c_out, kh, kw)).astype(np.int8)
    q = Conv2DProjection("c", "in", "p", k, cp)
    co, ho, wo = q.output_shape()
    n_in = c_in * cp["in_height"] * cp["in_width"]
    T, B = 4, 3
    x = (rng.random((T, B, n_in)) < 0.4).astype(np.uint8)
    # alpha 0 and an unreachable threshold: v(t) = I(t), the conv of the spikes of t-1
    p = program([source(n_in), lif("p", co * ho * wo, model="lif_conv2d", alpha_decay=0.0)], [q], T=T)
    v = S2Emulator(p).run(x).states["p/v"]
    assert not v[0].any()
    for t in range(1, T):
        for b in range(B):
            ref = conv_reference(x[t - 1, b].reshape(c_in, cp["in_height"], cp["in_width"]), k, cp)
            np.testing.assert_array_equal(v[t, b], ref.reshape(-1).astype(F32))


def test_conv2d_output_shape_formula():
    cp = CONV_CASES[2]
    q = Conv2DProjection("c", "in", "p", np.zeros((2, 3, 3, 2), np.int8), cp)
    # pooled 9//3 x 8//2 = 3 x 4; padded 4 x 6; kernel 3x2, strides y1 x2 -> 2 x 3
    assert q.pooled_shape() == (3, 4)
    assert q.output_shape() == (3, 2, 3)


# ---------------------------------------------------------------------- networks, batch, storage
def random_network(model: str, seed: int = 0, n_in: int = 20, n: int = 30, T: int = 40) -> tuple[S2Program, np.ndarray]:
    rng = np.random.default_rng(seed)
    wmax, dmax = (15, 7) if model in ("lif", "lif_curr_exp") else (127, 0)
    scale = wmax / 15
    extra = dict(exc_decay=rng.uniform(0.5, 0.9, n), inh_decay=rng.uniform(0.3, 0.9, n), t_refrac=1) \
        if model.startswith("lif_curr_exp") else {}
    pop = lif("p", n, model=model, threshold=rng.uniform(8, 20, n) * scale, alpha_decay=rng.uniform(0.7, 0.99, n),
              i_offset=rng.uniform(-0.2, 0.5, n) * scale, **extra)

    def conns(n_pre, density):
        pre, post = np.nonzero(rng.random((n_pre, n)) < density)
        return np.stack([pre, post, rng.integers(-wmax, wmax + 1, pre.size), rng.integers(0, dmax + 1, pre.size)], 1)

    p = program([source(n_in), pop], [ListProjection("in_p", "in", "p", conns(n_in, 0.5)),
                                      ListProjection("rec", "p", "p", conns(n, 0.2))], T=T)
    x = (rng.random((T, 5, n_in)) < 0.3).astype(np.uint8)
    return p, x


@pytest.mark.parametrize("model", ["lif", "lif_no_delay", "lif_curr_exp", "lif_curr_exp_no_delay"])
def test_batch_equals_samples_one_by_one(model):
    p, x = random_network(model)
    emu = S2Emulator(p)
    whole = emu.run(x)
    assert whole.outputs["p"].sum() > 0
    for b in range(x.shape[1]):
        one = emu.run(x[:, b:b + 1])
        np.testing.assert_array_equal(one.outputs["p"][:, 0], whole.outputs["p"][:, b])
        np.testing.assert_array_equal(one.states["p/v"][:, 0], whole.states["p/v"][:, b])


@pytest.mark.parametrize("model", ["lif", "lif_curr_exp_no_delay"])
def test_sparse_and_dense_storage_agree(model):
    p, x = random_network(model, seed=1)
    dense = S2Emulator(p).run(x)
    sparse_emu = S2Emulator(p, dense_limit=0)
    assert all(path.dense is None for path in sparse_emu.paths)
    sparse = sparse_emu.run(x)
    np.testing.assert_array_equal(dense.outputs["p"], sparse.outputs["p"])
    np.testing.assert_array_equal(dense.states["p/v"], sparse.states["p/v"])


# ---------------------------------------------------------------------- inputs and outputs
def test_inputs_from_params_dict_match_the_raster():
    p, x = random_network("lif_no_delay", T=25)
    p.populations[0].params = spike_list_from_raster(x[:, 0])
    p = S2Program.from_dict(p.to_dict())
    emu = S2Emulator(p)
    from_params = emu.run()
    from_raster = emu.run(x[:, :1])
    from_dict = emu.run({"in": x[:, :1]})
    assert from_params.outputs["p"].shape == (25, 1, 30)
    np.testing.assert_array_equal(from_params.outputs["p"], from_raster.outputs["p"])
    np.testing.assert_array_equal(from_params.states["p/v"], from_dict.states["p/v"])


def test_two_sources_dict_with_one_from_params():
    p = program([source(1, "a"), Population("b", "spike_list", 1, {0: [1]}), lif("p", 1)],
                [ListProjection("wa", "a", "p", [[0, 0, 1, 0]]), ListProjection("wb", "b", "p", [[0, 0, 10, 0]])],
                T=4)
    res = S2Emulator(p).run({"a": raster(4, 1, {0: [0, 1]}, batch=2)})
    np.testing.assert_array_equal(res.states["p/v"][:, 1, 0], F32([0, 1, 12, 12]))


def test_outputs_follow_record_and_record_true_adds_states():
    p = program([source(1), lif("p", 1, record=("v",)), lif("q", 1, model="lif_curr_exp_no_delay",
                                                            record=("spikes",))],
                [ListProjection("w", "in", "p", [[0, 0, 1, 0]]), ListProjection("w2", "in", "q", [[0, 0, 1, 0]])],
                T=3)
    emu = S2Emulator(p)
    res = emu.run(raster(3, 1, {0: [0]}))
    assert set(res.outputs) == {"q"} and set(res.states) == {"p/v"}
    assert res.outputs["q"].dtype == np.uint8 and res.states["p/v"].dtype == F32
    full = emu.run(raster(3, 1, {0: [0]}), record=True)
    assert set(full.outputs) == {"q"}
    assert set(full.states) == {"p/v", "q/v", "p/output", "q/output", "q/i_exc", "q/i_inh"}


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 1, 2)), r"\[T, B, 1\]"),
    (np.full((3, 1, 1), 2), "0/1"),
])
def test_bad_inputs_are_errors(bad, match):
    p = program([source(1), lif("p", 1)], [ListProjection("w", "in", "p", [[0, 0, 1, 0]])], T=3)
    with pytest.raises(NirccError, match=match) as e:
        S2Emulator(p).run(bad)
    assert e.value.node == "in" and e.value.field == "inputs"


def test_input_dict_errors():
    p = program([source(1, "a"), source(1, "b"), lif("p", 1)], [], T=3)
    with pytest.raises(NirccError, match="give inputs as a dict"):
        S2Emulator(p).run(np.zeros((3, 1, 1)))
    with pytest.raises(NirccError, match="not spike_list"):
        S2Emulator(p).run({"p": np.zeros((3, 1, 1))})
    with pytest.raises(NirccError, match="disagree"):
        S2Emulator(p).run({"a": np.zeros((3, 1, 1)), "b": np.zeros((4, 1, 1))})


def test_options_and_program_are_checked():
    p = program([source(1), lif("p", 1)], [], T=3)
    with pytest.raises(NirccError, match="lif_curr_exp_order"):
        S2Emulator(p, lif_curr_exp_order="both")
    with pytest.raises(NirccError, match="weight_rounding"):
        S2Emulator(p, weight_rounding="floor")
    bad = program([source(1), lif("p", 1)], [ListProjection("w", "in", "p", [[0, 0, 500, 0]])], T=3)
    with pytest.raises(NirccError, match=r"\[-127, 127\]"):
        S2Emulator(bad)
