"""LoihiEmulator on hand-computed integer sequences (Lava's PyLifModelBitAcc, PyDenseModelBitAcc,
PyDelayDenseModelBitAcc and PyConvModelFixed, lava-nc/lava @b6822fb).

Single-neuron sequences use an input layer with neurons, whose ``a_in`` is the input itself
(no synapse, no delay), so every number below follows from the LIF update alone::

    u = trunc0(u * (4096 - (du + 1)) / 4096) + (a_in << 6)      then Lava's 24-bit wrap of u
    v = clip(trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), +-(2**23 - 1))
    spike = v > vth << 6;  v = 0 where spike                    (trunc0: rounds toward zero)
"""
from __future__ import annotations

import numpy as np
import pytest

from nircc.backends.loihi.emulator import LoihiEmulator
from nircc.backends.loihi.program import (ConvLayer, CubaNeurons, DenseLayer, InputLayer, LoihiProgram, Synapse)
from nircc.errors import NirccError

VTH_MAX = 131071          # effective 8388544, below v's saturation 8388607


def one_neuron(x: list[int], **neuron) -> tuple[list[int], list[int], list[int]]:
    """(u, v, spikes) of one neuron whose a_in is ``x[t]``."""
    p = LoihiProgram([InputLayer("n", (1,), CubaNeurons.uniform(1, **neuron))])
    r = LoihiEmulator(p).run(np.asarray(x, np.int64).reshape(-1, 1, 1), record=True)
    return (r.states["n/i"].ravel().tolist(), r.states["n/v"].ravel().tolist(), r.states["n/output"].ravel().tolist())


def test_decays_round_toward_zero() -> None:
    # du = 1047: u factor 4096 - 1048 = 3048; dv = 1024: v factor 3072 (x 0.75)
    u, v, s = one_neuron([10, 0, -7, 0, 0, -20, 0, 0], du=1047, dv=1024, vth=1000, bias_exp=0)
    assert u == [640,                  # 10 << 6
                 476,                  # 640 * 3048 / 4096 = 476.25
                 -94,                  # 476 * 3048 / 4096 = 354.2 -> 354, - 7 << 6 = -448
                 -69,                  # -94 * 3048 / 4096 = -69.9 -> -69 (floor would give -70)
                 -51,                  # -69 * 3048 / 4096 = -51.3
                 -1317,                # -51 * 3048 / 4096 = -37.95 -> -37, - 20 << 6 = -1280
                 -980,                 # -1317 * 3048 / 4096 = -980.03
                 -729]                 # -980 * 3048 / 4096 = -729.3
    assert v == [640,                  # 0 + 640
                 956,                  # 640 * 0.75 + 476
                 623,                  # 956 * 0.75 = 717, - 94
                 398,                  # 623 * 0.75 = 467.25 -> 467, - 69
                 247,                  # 398 * 0.75 = 298.5 -> 298, - 51
                 -1132,                # 247 * 0.75 = 185.25 -> 185, - 1317
                 -1829,                # -1132 * 0.75 = -849, - 980
                 -2100]                # -1829 * 0.75 = -1371.75 -> -1371 (toward zero), - 729
    assert s == [0] * 8


def test_threshold_equality_does_not_fire() -> None:
    # du = 4095: u = a_in << 6 (no memory); dv = 4095: v factor 1, v / 4096 -> 0 for |v| < 4096
    u, v, s = one_neuron([10, 11, 10, 0], du=4095, dv=4095, vth=10)         # vth << 6 = 640
    assert u == [640, 704, 640, 0]
    assert s == [0, 1, 0, 0]           # 640 > 640 is false, 704 > 640 fires
    assert v == [640, 0, 640, 0]       # reset to zero, probed after the reset


def test_du_4095_clears_current_and_dv_0_does_not_leak() -> None:
    u, v, s = one_neuron([20, 0, 0, 30, 0], du=4095, dv=0, vth=100)
    assert u == [1280, 0, 0, 1920, 0]
    assert v == [1280, 1280, 1280, 3200, 3200]
    assert s == [0] * 5


def test_du_0_decays_by_one_4096th() -> None:
    u, _, _ = one_neuron([64, 0, 0], du=0, dv=0, vth=VTH_MAX)
    assert u == [4096, 4095, 4094]     # factor 4096 - (0 + 1) = 4095 (ds_offset = 1)


def test_bias_with_exponent_and_saturation() -> None:
    p = LoihiProgram([InputLayer("n", (2,), CubaNeurons(du=4095, dv=0, vth=VTH_MAX, bias_mant=np.array([-5, 4095]),
                                                        bias_exp=3))])
    r = LoihiEmulator(p).run(np.zeros((18, 1, 2), np.int64), record=True)
    v, s = r.states["n/v"][:, 0], r.states["n/output"][:, 0]
    assert v[:4, 0].tolist() == [-40, -80, -120, -160]                 # -5 << 3 each step
    p.layers[0].neurons.bias_exp = 7
    r = LoihiEmulator(p).run(np.zeros((18, 1, 2), np.int64), record=True)
    v, s = r.states["n/v"][:, 0], r.states["n/output"][:, 0]
    assert v[:3, 1].tolist() == [524160, 1048320, 1572480]             # 4095 << 7
    assert v[15, 1] == 16 * 524160 == 8386560                          # still <= 8388544
    assert (s[16, 1], v[16, 1], v[17, 1]) == (1, 0, 524160)            # 8910720 saturates to 8388607 > 8388544
    assert v[17, 0] == 18 * -640                                       # -5 << 7


def test_u_wraps_as_lava_writes_it_and_v_saturates() -> None:
    # a_in << 6: 2**23, 2**23 + 64, -2**23, -2**23 - 64, -2**23 + 64, same, 2**31 (int32 wrap)
    x = [131072, 131073, -131072, -131073, -131071, -131071, 33554432]
    u, v, s = one_neuron(x, du=4095, dv=4095, vth=VTH_MAX)
    assert u == [8388608,              # 2**23 is kept: the range is (-2**23, 2**23]
                 -8388544,             # 8388672 - 2**24
                 8388608,              # -2**23 <= -2**23: + 2**24
                 8388544,              # a negative input turns into a large positive current
                 -8388544,
                 -8388544,
                 -2130706432]          # int32(2**31) = -2**31, + 2**24 once: Lava wraps a single time
    assert v == [0,                    # 8388608 saturates to 8388607 > 8388544: spike, reset
                 -8388544,
                 8386561,              # -8388544 / 4096 = -2047.99 -> -2047, + 8388608; below 8388544
                 0,                    # 2047 + 8388544 = 8390591 saturates: spike
                 -8388544,
                 -8388607,             # -2047 - 8388544 saturates at -(2**23 - 1)
                 -8388607]
    assert s == [1, 0, 0, 1, 0, 0, 0]


def dense(weights, exp: int = 0, mode: str = "excitatory", delays=None, **neuron) -> tuple[Synapse, CubaNeurons]:
    w = np.asarray(weights)
    return (Synapse(w, weight_exp=exp, sign_mode=mode, delays=delays),
            CubaNeurons.uniform(w.shape[0], **({"du": 4095, "dv": 4095, "vth": VTH_MAX} | neuron)))


def test_every_dense_adds_one_step() -> None:
    a_syn, a_n = dense([[20]], vth=10)
    b_syn, b_n = dense([[30]], vth=10)
    p = LoihiProgram([InputLayer("in", (1,)), DenseLayer("a", a_syn, a_n), DenseLayer("b", b_syn, b_n)])
    x = np.zeros((8, 1, 1), np.int64)
    x[3] = 1
    r = LoihiEmulator(p).run(x, record=True)
    assert r.states["a/i"].ravel().tolist() == [0, 0, 0, 0, 1280, 0, 0, 0]      # input at 3 -> a at 4
    assert r.states["a/output"].ravel().tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert r.states["b/i"].ravel().tolist() == [0, 0, 0, 0, 0, 1920, 0, 0]      # a at 4 -> b at 5
    assert r.outputs["b"].ravel().tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    assert list(r.outputs) == ["b"] and r.outputs["b"].dtype == np.uint8


@pytest.mark.parametrize("exp,want", [(-2, [0, -64, -128, 0, 0]),          # -4 >> 2 = -1, -6 >> 2 = -2 (floor)
                                      (3, [0, -2048, -3072, 1024, 0]),      # -4 << 3, -6 << 3, 2 << 3
                                      (0, [0, -256, -384, 128, 0])])
def test_weight_exp_shifts_the_sum(exp: int, want: list[int]) -> None:
    syn, n = dense([[-6, 2]], exp=exp, mode="mixed")
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("d", syn, n)])
    x = np.array([[1, 1], [1, 0], [0, 1], [0, 0], [0, 0]]).reshape(5, 1, 2)
    assert LoihiEmulator(p).run(x, record=True).states["d/i"].ravel().tolist() == want


def test_synaptic_delays_arrive_at_t_plus_1_plus_delay() -> None:
    syn, n = dense([[16, 32]], delays=np.array([[0, 3]]))
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("d", syn, n)])
    x = np.zeros((8, 1, 2), np.int64)
    x[1, 0, :] = 1                     # both inputs at 1
    x[4, 0, 0] = 1                     # input 0 (delay 0) at 4
    x[2, 0, 1] = 1                     # input 1 (delay 3) at 2
    u = LoihiEmulator(p).run(x, record=True).states["d/i"].ravel().tolist()
    assert u == [0, 0, 16 * 64, 0, 0, 16 * 64 + 32 * 64, 32 * 64, 0]


def test_recurrent_synapse_feeds_back_one_step_later() -> None:
    syn, n = dense([[40]], vth=30)                                   # 2560 > 1920 fires
    rec = Synapse(np.array([[-20]]), sign_mode="inhibitory")
    p = LoihiProgram([InputLayer("in", (1,)), DenseLayer("r", syn, n, synapse_rec=rec)])
    x = np.zeros((4, 1, 1), np.int64)
    x[0] = 1
    r = LoihiEmulator(p).run(x, record=True)
    assert r.states["r/i"].ravel().tolist() == [0, 2560, -1280, 0]
    assert r.states["r/v"].ravel().tolist() == [0, 0, -1280, 0]
    assert r.states["r/output"].ravel().tolist() == [0, 1, 0, 0]


def test_graded_dense_sum_wraps_to_int32_before_the_shift() -> None:
    # Lava: weights.dot(s) in int32: 254 * 2 * 8388607 = 4261412356 -> -33554940, >> 1 = -16777470,
    # << 6 = -1073758080, + 2**24 = -1056980864 (checked against lava-nc 0.10.0)
    syn, n = dense([[254, 254]], exp=-1)
    p = LoihiProgram([InputLayer("in", (2,)), DenseLayer("d", syn, n)], input_message_bits=24)
    x = np.array([[8388607, 8388607], [0, 0], [0, 0]]).reshape(3, 1, 2)
    r = LoihiEmulator(p).run(x, record=True)
    assert r.states["d/i"].ravel().tolist() == [0, -1056980864, 0]
    assert r.states["d/v"].ravel().tolist() == [0, -8388607, -2047]


def test_binary_sum_is_shifted_in_int64_and_wraps_when_sent() -> None:
    # 66000 * 255 = 16830000, << 7 = 2154240000 (int64), sent as int32: - 2**32 = -2140727296;
    # << 6 in int32: 432406528; > 2**23: - 2**24 = 415629312 (checked against lava-nc 0.10.0)
    n = 66000
    syn, neu = dense(np.full((1, n), 255), exp=7)
    p = LoihiProgram([InputLayer("in", (n,)), DenseLayer("d", syn, neu)])
    x = np.zeros((3, 1, n), np.int64)
    x[0] = 1
    assert LoihiEmulator(p).run(x, record=True).states["d/i"].ravel().tolist() == [0, 415629312, 0]


def direct_conv(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Cross-correlation by loops over every output (``x [C, H, W]``, ``w [Co, C/g, kh, kw]``)."""
    c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((co, ho, wo), np.int64)
    for o in range(co):
        g = o // (co // groups)
        for i in range(ho):
            for j in range(wo):
                for ci in range(cg):
                    for a in range(kh):
                        for b in range(kw):
                            out[o, i, j] += w[o, ci, a, b] * xp[g * cg + ci, i * stride[0] + a * dilation[0],
                                                                j * stride[1] + b * dilation[1]]
    return out


@pytest.mark.parametrize("stride,padding,dilation,groups", [((1, 1), (0, 0), (1, 1), 1),
                                                            ((2, 1), (1, 2), (1, 2), 2),
                                                            ((1, 3), (2, 0), (2, 1), 4)])
def test_conv_is_the_cross_correlation(stride, padding, dilation, groups) -> None:
    rng = np.random.default_rng(7)
    c_in, c_out, shape = 4, 8, (4, 9, 8)
    w = rng.integers(-128, 128, (c_out, c_in // groups, 3, 2)) * 2            # mixed, 8 bits: even
    lay = ConvLayer("c", shape, w, CubaNeurons.uniform(1, du=4095, dv=4095, vth=VTH_MAX), stride=stride,
                    padding=padding, dilation=dilation, groups=groups)
    lay.neurons = CubaNeurons.uniform(int(np.prod(lay.shape)), du=4095, dv=4095, vth=VTH_MAX)
    p = LoihiProgram([InputLayer("in", shape), lay])
    x = (rng.random((5, 3, int(np.prod(shape)))) < 0.4).astype(np.int64)
    u = LoihiEmulator(p).run(x, record=True).states["c/i"]
    assert not u[0].any()
    for t in range(4):
        for b in range(3):
            want = direct_conv(x[t, b].reshape(shape), w, stride, padding, dilation, groups).ravel() << 6
            np.testing.assert_array_equal(u[t + 1, b], want)


def test_conv_accumulator_wraps_at_24_bits() -> None:
    # 8 inputs * 255 * 8191 = 16709640 >= 2**23: signed_clamp(24) gives 16709640 - 2**24 = -67576
    lay = ConvLayer("c", (2, 2, 2), np.full((1, 2, 2, 2), 255), CubaNeurons.uniform(1, du=4095, dv=4095, vth=VTH_MAX),
                    sign_mode="excitatory")
    p = LoihiProgram([InputLayer("in", (2, 2, 2)), lay], input_message_bits=14)
    x = np.zeros((2, 1, 8), np.int64)
    x[0] = 8191
    assert LoihiEmulator(p).run(x, record=True).states["c/i"].ravel().tolist() == [0, -67576 * 64]


def test_inputs_are_checked() -> None:
    syn, n = dense([[2]])
    p = LoihiProgram([InputLayer("in", (1,)), DenseLayer("d", syn, n)])
    emu = LoihiEmulator(p)
    with pytest.raises(NirccError, match=r"0/1 spikes .* input_message_bits"):
        emu.run(np.full((3, 1, 1), 2))
    with pytest.raises(NirccError, match=r"\[T, B, 1\]"):
        emu.run(np.zeros((3, 1)))
    with pytest.raises(NirccError, match="input layer is 'in'"):
        emu.run({"x": np.zeros((3, 1, 1))})
    assert emu.run({"in": np.ones((3, 1, 1))}).outputs["d"].shape == (3, 1, 1)
    graded = LoihiProgram(p.layers, input_message_bits=4)
    with pytest.raises(NirccError, match=r"4-bit signed graded spikes in \[-8, 7\]"):
        LoihiEmulator(graded).run(np.full((2, 1, 1), 8))
    with pytest.raises(NirccError, match="integer-valued"):
        emu.run(np.full((2, 1, 1), 0.5))


def test_invalid_program_is_rejected_by_the_emulator() -> None:
    syn, n = dense([[300]])
    with pytest.raises(NirccError, match="weights outside"):
        LoihiEmulator(LoihiProgram([InputLayer("in", (1,)), DenseLayer("d", syn, n)]))
