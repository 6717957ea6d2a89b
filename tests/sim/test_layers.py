"""Maps, Threshold and Delay of nircc.sim against direct Python loops and hand values."""
from __future__ import annotations

import itertools

import nir
import numpy as np
import pytest

import nircc
from nircc.errors import NirccError
from nircc.semantics import Semantics
from nircc.sim import Simulator, simulate

RNG = np.random.default_rng(7)


def through(node, x: np.ndarray, in_shape, dt: float = 1e-3, **sem) -> tuple[np.ndarray, nircc.sim.SimResult]:
    """Run ``x`` [T, B, *in_shape] through Input -> node -> Output."""
    g = nircc.load(nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array(in_shape)}), "x": node,
               "output": nir.Output(output_type={"output": np.array([1])})},
        edges=[("input", "x"), ("x", "output")], type_check=False))
    res = simulate(g, x, semantics=Semantics(dt=dt, **sem))
    return res.outputs["output"], res


# ----------------------------------------------------------------------------- affine
def test_affine_and_linear_against_loops():
    w, b = RNG.normal(size=(4, 3)), RNG.normal(size=4)
    x = RNG.normal(size=(2, 5, 3))
    y, _ = through(nir.Affine(weight=w, bias=b), x, [3])
    ref = np.zeros((2, 5, 4))
    for t, n, o in itertools.product(range(2), range(5), range(4)):
        ref[t, n, o] = sum(w[o, i] * x[t, n, i] for i in range(3)) + b[o]
    np.testing.assert_allclose(y, ref, rtol=1e-13)
    y, _ = through(nir.Linear(weight=w), x, [3])
    np.testing.assert_allclose(y, ref - b, rtol=1e-12, atol=1e-14)


def test_affine_multidimensional_weight():
    # W[..., out, in] acts on x[..., in] independently per leading index (NIR's Affine types)
    w, b = RNG.normal(size=(2, 4, 3)), RNG.normal(size=(2, 4))
    x = RNG.normal(size=(1, 3, 2, 3))
    y, _ = through(nir.Affine(weight=w, bias=b), x, [2, 3])
    assert y.shape == (1, 3, 2, 4)
    for n, h, o in itertools.product(range(3), range(2), range(4)):
        assert y[0, n, h, o] == pytest.approx(sum(w[h, o, i] * x[0, n, h, i] for i in range(3)) + b[h, o], rel=1e-13)


def test_scale_flatten_threshold():
    x = RNG.normal(size=(1, 2, 3, 2, 2))
    s = RNG.normal(size=(3, 2, 2))
    y, _ = through(nir.Scale(scale=s), x, [3, 2, 2])
    np.testing.assert_array_equal(y, x * s)
    y, _ = through(nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=1, end_dim=2), x, [3, 2, 2])
    np.testing.assert_array_equal(y, x.reshape(1, 2, 3, 4))
    y, _ = through(nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0, end_dim=-1), x, [3, 2, 2])
    np.testing.assert_array_equal(y, x.reshape(1, 2, 12))
    thr = np.array([0.0, 0.5, 1.0])
    v = np.array([[[0.0, 0.5, 2.0]]])
    assert through(nir.Threshold(threshold=thr), v, [3])[0].tolist() == [[[0, 0, 1]]]
    assert through(nir.Threshold(threshold=thr), v, [3], threshold=">=")[0].tolist() == [[[1, 1, 1]]]


# ----------------------------------------------------------------------------- conv
def conv_loops(x, w, b, stride, pad, dil, groups):
    """Direct loops over every output element (x [B, C, *S], NIR/PyTorch layout)."""
    nd = x.ndim - 2
    if pad == "same":
        tot = [dil[i] * (w.shape[2 + i] - 1) for i in range(nd)]
        pads = [(t // 2, t - t // 2) for t in tot]
    else:
        pads = [(p, p) for p in pad]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    c_out, cg = w.shape[:2]
    og = c_out // groups
    out_sz = [(xp.shape[2 + i] - dil[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((x.shape[0], c_out) + tuple(out_sz))
    for bi, o in itertools.product(range(x.shape[0]), range(c_out)):
        g = o // og
        for pos in itertools.product(*(range(n) for n in out_sz)):
            acc = b[o]
            for c in range(cg):
                for k in itertools.product(*(range(n) for n in w.shape[2:])):
                    idx = tuple(pos[i] * stride[i] + k[i] * dil[i] for i in range(nd))
                    acc += w[(o, c) + k] * xp[(bi, g * cg + c) + idx]
            y[(bi, o) + pos] = acc
    return y


CONV2D_CASES = [
    # stride, padding, dilation, groups, kernel
    ((1, 1), (0, 0), (1, 1), 1, (3, 3)),
    ((2, 1), (1, 2), (1, 1), 1, (3, 2)),
    ((1, 2), (0, 1), (2, 1), 1, (2, 3)),
    ((2, 2), (1, 1), (2, 2), 2, (3, 3)),
    ((1, 1), "same", (1, 1), 4, (2, 3)),
    ((1, 1), "same", (2, 1), 2, (3, 3)),
    ((1, 1), "valid", (1, 1), 1, (1, 1)),
]


@pytest.mark.parametrize("stride, pad, dil, groups, kernel", CONV2D_CASES)
def test_conv2d_against_loops(stride, pad, dil, groups, kernel):
    c_in, c_out = 4, 4
    w = RNG.normal(size=(c_out, c_in // groups) + kernel)
    b = RNG.normal(size=c_out)
    x = RNG.normal(size=(2, 3, c_in, 7, 6))  # T=2, B=3
    node = nir.Conv2d(input_shape=(7, 6), weight=w, stride=stride, padding=pad, dilation=dil, groups=groups, bias=b)
    y, _ = through(node, x, [c_in, 7, 6])
    pad_arg = (0, 0) if pad == "valid" else pad
    ref = np.stack([conv_loops(x[t], w, b, stride, pad_arg, dil, groups) for t in range(2)])
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, pad, dil, groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 3), (1, "same", 2, 1)])
def test_conv1d_against_loops(stride, pad, dil, groups):
    w = RNG.normal(size=(3, 3 // groups, 3))
    b = RNG.normal(size=3)
    x = RNG.normal(size=(1, 2, 3, 9))
    node = nir.Conv1d(input_shape=9, weight=w, stride=stride, padding=pad, dilation=dil, groups=groups, bias=b)
    y, _ = through(node, x, [3, 9])
    ref = conv_loops(x[0], w, b, (stride,), "same" if pad == "same" else (pad,), (dil,), groups)
    np.testing.assert_allclose(y[0], ref, rtol=1e-12, atol=1e-12)


def test_conv_same_with_stride_is_an_error():
    node = nir.Conv2d(input_shape=(5, 5), weight=np.ones((1, 1, 3, 3)), stride=2, padding="same", dilation=1,
                      groups=1, bias=np.zeros(1))
    with pytest.raises(NirccError) as e:
        through(node, np.zeros((1, 1, 1, 5, 5)), [1, 5, 5])
    assert (e.value.node, e.value.field) == ("x", "padding")


# ----------------------------------------------------------------------------- pooling
def pool_loops(x, k, s, p, average):
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    oh, ow = (xp.shape[2] - k[0]) // s[0] + 1, (xp.shape[3] - k[1]) // s[1] + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for b, c, i, j in itertools.product(range(x.shape[0]), range(x.shape[1]), range(oh), range(ow)):
        tot = 0.0
        for u, v in itertools.product(range(k[0]), range(k[1])):
            tot += xp[b, c, i * s[0] + u, j * s[1] + v]
        y[b, c, i, j] = tot / (k[0] * k[1]) if average else tot
    return y


@pytest.mark.parametrize("cls", [nir.SumPool2d, nir.AvgPool2d])
@pytest.mark.parametrize("k, s, p", [((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 2), (1, 0)), ((2, 3), (2, 2), (1, 1)),
                                     ((2, 2), (2, 2), (0, 0))])
def test_pooling_against_loops(cls, k, s, p):
    x = RNG.normal(size=(2, 2, 3, 7, 8))  # odd height: the tiled path crops the remainder
    node = cls(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    y, _ = through(node, x, [3, 7, 8])
    ref = np.stack([pool_loops(x[t], k, s, p, cls is nir.AvgPool2d) for t in range(2)])
    np.testing.assert_allclose(y, ref, rtol=1e-13, atol=1e-14)


# ----------------------------------------------------------------------------- delay
def test_delay_whole_steps():
    x = RNG.normal(size=(6, 2, 2))
    y, res = through(nir.Delay(delay=np.array([3e-3, 3e-3])), x, [2])
    np.testing.assert_array_equal(y[3:], x[:3])
    np.testing.assert_array_equal(y[:3], 0.0)
    assert not res.diagnostics.with_code("delay-rounded")


def test_delay_per_element_and_zero():
    x = RNG.normal(size=(6, 2, 3))
    y, _ = through(nir.Delay(delay=np.array([0.0, 1e-3, 4e-3])), x, [3])
    np.testing.assert_array_equal(y[:, :, 0], x[:, :, 0])
    np.testing.assert_array_equal(y[1:, :, 1], x[:-1, :, 1])
    np.testing.assert_array_equal(y[4:, :, 2], x[:2, :, 2])
    np.testing.assert_array_equal(y[:4, :, 2], 0.0)
    y, _ = through(nir.Delay(delay=np.zeros(3)), x, [3])
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("delay, steps", [(2.4e-3, 2), (2.5e-3, 3), (2.6e-3, 3)])
def test_delay_rounding(delay, steps):
    x = np.arange(1.0, 7.0).reshape(6, 1, 1)
    y, res = through(nir.Delay(delay=np.array([delay])), x, [1])
    np.testing.assert_array_equal(y[steps:, 0, 0], x[:6 - steps, 0, 0])
    np.testing.assert_array_equal(y[:steps, 0, 0], 0.0)
    (d,) = res.diagnostics.with_code("delay-rounded")
    assert d.node == "x" and f"{steps} step" in d.message


def test_delay_of_a_third_of_a_step_multiple_is_whole():
    # 3e-4 / 1e-4 = 2.9999999999999996 in binary: counted as 3 whole steps, no warning
    _, res = through(nir.Delay(delay=np.array([3e-4])), np.zeros((4, 1, 1)), [1], dt=1e-4)
    assert not res.diagnostics.with_code("delay-rounded")


def test_negative_delay():
    with pytest.raises(NirccError) as e:
        through(nir.Delay(delay=np.array([-1e-3])), np.zeros((2, 1, 1)), [1])
    assert (e.value.node, e.value.field) == ("x", "delay")


def test_delay_state_survives_streaming():
    g = nircc.load(nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([1])}), "d": nir.Delay(delay=np.array([2e-3])),
               "output": nir.Output(output_type={"output": np.array([1])})},
        edges=[("input", "d"), ("d", "output")], type_check=False))
    sim = Simulator(g, batch=1, dt=1e-3)
    got = [float(sim.step(np.array([[v]]))["output"][0, 0]) for v in (1.0, 2.0, 3.0, 4.0)]
    assert got == [0.0, 0.0, 1.0, 2.0]
    sim.reset()
    assert float(sim.step(np.array([[9.0]]))["output"][0, 0]) == 0.0
