"""Step functions of the stateless maps and of Threshold, Delay and Output.

Equations (``docs/semantics.md``, section "Maps"), batch axis first, float64:

* Affine  ``y[..., o] = sum_i W[..., o, i] x[..., i] + b[..., o]`` (``W`` of shape
  ``[..., out, in]``; a 2-D weight is one ``x @ W.T`` per step); Linear the same without b;
* Scale ``y = x * s``; Flatten a reshape (C order) of the unbatched axes;
* Conv1d / Conv2d: cross-correlation in NIR's (PyTorch's) layout ``W[C_out, C_in/groups,
  *k]`` with stride, zero padding (``'same'`` pads ``d (k - 1)`` split with the extra
  element after, as PyTorch), dilation and groups, plus ``bias[C_out]``; computed as one
  batched matrix product of an im2col view per group;
* SumPool2d: sum over each (zero-padded) window; AvgPool2d: that sum / ``kH * kW``
  (padded zeros count, PyTorch's ``count_include_pad=True``);
* Threshold ``y = 1 if x > threshold else 0`` (or ``>=``, the ``threshold`` option);
* Delay ``y[t] = x[t - n]``, ``n = delay / dt`` rounded to a whole number of steps (halves
  up), zeros before the first input arrives;
* Output: its input, unchanged.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir.shapes import conv_geometry, conv_padding, pool_geometry
from ..semantics import delay_steps
from .registry import BuildContext, Kernel, register


def _no_state(batch: int) -> dict:
    return {}


@register("Output")
def output(ctx: BuildContext) -> Kernel:
    return Kernel(lambda x, s: x, _no_state)


def _affine(ctx: BuildContext, bias: bool) -> Kernel:
    w = ctx.param("weight")
    b = ctx.param("bias") if bias else None
    if b is not None and not np.any(b):
        b = None
    if w.ndim == 2:
        wt = np.ascontiguousarray(w.T)
        if b is None:
            def step(x: np.ndarray, s: dict) -> np.ndarray:
                return x @ wt
        else:
            def step(x: np.ndarray, s: dict) -> np.ndarray:
                y = x @ wt
                y += b
                return y
    else:
        # W[..., out, in] applied to x[B, ..., in]: a stack of matrix-vector products
        def step(x: np.ndarray, s: dict) -> np.ndarray:
            y = np.matmul(w, x[..., None])[..., 0]
            if b is not None:
                y += b
            return y
    return Kernel(step, _no_state)


@register("Affine")
def affine(ctx: BuildContext) -> Kernel:
    return _affine(ctx, bias=True)


@register("Linear")
def linear(ctx: BuildContext) -> Kernel:
    return _affine(ctx, bias=False)


@register("Scale")
def scale(ctx: BuildContext) -> Kernel:
    s_ = ctx.param("scale")
    return Kernel(lambda x, s: x * s_, _no_state)


@register("Flatten")
def flatten(ctx: BuildContext) -> Kernel:
    out = tuple(ctx.out_shape)
    return Kernel(lambda x, s: x.reshape((x.shape[0],) + out), _no_state)


@register("Threshold")
def threshold(ctx: BuildContext) -> Kernel:
    thr = ctx.param("threshold")
    cmp = np.greater if ctx.semantics.threshold == ">" else np.greater_equal
    return Kernel(lambda x, s: cmp(x, thr).astype(np.float64), _no_state)


# --------------------------------------------------------------------------- windows
class _Padder:
    """Zero padding into a buffer reused across steps (the interior is overwritten each
    step; the border stays zero).  ``pads`` are (before, after) per spatial axis."""

    def __init__(self, pads: tuple[tuple[int, int], ...]):
        self.pads = pads
        self.any = any(p for pair in pads for p in pair)
        self.buf: dict[tuple, np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.any:
            return x
        full = x.shape[:2] + tuple(n + a + b for n, (a, b) in zip(x.shape[2:], self.pads))
        buf = self.buf.get(full)
        if buf is None:
            buf = self.buf[full] = np.zeros(full, dtype=np.float64)
        inner = (slice(None), slice(None)) + tuple(slice(a, a + n) for n, (a, _) in zip(x.shape[2:], self.pads))
        buf[inner] = x
        return buf


def _windows(xp: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """View ``[B, C, *out, *kernel]`` of the (padded) input: element ``[.., o, k]`` is
    ``xp[.., o * stride + k * dilation]`` per spatial axis."""
    nd = len(kernel)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    win = sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
    sel = (slice(None), slice(None))
    sel += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
    sel += tuple(slice(None, None, d) for d in dilation)
    return win[sel]


def _conv(ctx: BuildContext) -> Kernel:
    geo = conv_geometry(ctx.op)
    nd, kernel, groups = geo["ndim"], geo["kernel"], geo["groups"]
    if geo["padding"] == "same" and any(s != 1 for s in geo["stride"]):
        raise ctx.error(f"padding 'same' with stride {list(geo['stride'])} is undefined (PyTorch rejects it); "
                        "give the padding as integers", "padding")
    w = ctx.param("weight")
    c_out, c_in_g = w.shape[0], w.shape[1]
    if c_out % groups:
        raise ctx.error(f"{c_out} output channels are not divisible by groups={groups}", "groups")
    c_out_g = c_out // groups
    k_size = math.prod(kernel)
    # [G, C_in/G * prod(k), C_out/G]: the right operand of one matmul per group
    wm = np.ascontiguousarray(w.reshape(groups, c_out_g, c_in_g * k_size).transpose(0, 2, 1))
    bias = ctx.param("bias").reshape((c_out,) + (1,) * nd)
    if not np.any(bias):
        bias = None
    spatial_in = ctx.in_shape[1:]
    out = tuple(ctx.out_shape[1:])
    pad = _Padder(conv_padding(geo, spatial_in))
    stride, dilation = geo["stride"], geo["dilation"]
    n_out = math.prod(out)
    # axes of the window view [B, G, Cg, *out, *k] -> [G, B, *out, Cg, *k]
    perm = (1, 0) + tuple(range(3, 3 + nd)) + (2,) + tuple(range(3 + nd, 3 + 2 * nd))

    def step(x: np.ndarray, s: dict) -> np.ndarray:
        batch = x.shape[0]
        win = _windows(pad(x), kernel, stride, dilation, out)
        win = win.reshape((batch, groups, c_in_g) + out + kernel).transpose(perm)
        cols = win.reshape(groups, batch * n_out, c_in_g * k_size)  # copies (im2col)
        y = np.matmul(cols, wm)  # [G, B * n_out, C_out/G]
        # [G, B, *out, C_out/G] -> [B, G, C_out/G, *out] -> [B, C_out, *out]
        y = y.reshape((groups, batch) + out + (c_out_g,))
        y = y.transpose((1, 0, nd + 2) + tuple(range(2, 2 + nd))).reshape((batch, c_out) + out)
        if bias is not None:
            y = y + bias
        return y

    return Kernel(step, _no_state)


@register("Conv1d")
def conv1d(ctx: BuildContext) -> Kernel:
    return _conv(ctx)


@register("Conv2d")
def conv2d(ctx: BuildContext) -> Kernel:
    return _conv(ctx)


def _pool(ctx: BuildContext, average: bool) -> Kernel:
    geo = pool_geometry(ctx.op)
    kernel, stride, padding = geo["kernel"], geo["stride"], geo["padding"]
    out = tuple(ctx.out_shape[1:])
    scale_ = 1.0 / math.prod(kernel) if average else None
    pad = _Padder(tuple((p, p) for p in padding))
    tiled = kernel == stride and not pad.any  # non-overlapping windows: a reshape and a sum
    (kh, kw), (oh, ow) = kernel, out

    def step(x: np.ndarray, s: dict) -> np.ndarray:
        if tiled:
            b, c = x.shape[:2]
            y = x[:, :, :oh * kh, :ow * kw].reshape(b, c, oh, kh, ow, kw).sum(axis=(3, 5))
        else:
            y = _windows(pad(x), kernel, stride, (1, 1), out).sum(axis=(-2, -1))
        if scale_ is not None:
            y *= scale_
        return y

    return Kernel(step, _no_state)


@register("SumPool2d")
def sum_pool2d(ctx: BuildContext) -> Kernel:
    return _pool(ctx, average=False)


@register("AvgPool2d")
def avg_pool2d(ctx: BuildContext) -> Kernel:
    return _pool(ctx, average=True)


# --------------------------------------------------------------------------- delay
def _delay_steps(ctx: BuildContext) -> np.ndarray:
    """Per-element delay in whole steps (:func:`nircc.semantics.delay_steps`); a warning
    when a delay is not a whole number of steps."""
    d = ctx.param("delay")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ctx.error(f"delays must be finite and >= 0 seconds, got min {float(np.min(d)):g}", "delay")
    steps, whole = delay_steps(d, ctx.dt)
    if not np.all(whole):
        first = np.flatnonzero(~whole.reshape(-1))[0]
        ctx.diagnostics.warn(
            "delay-rounded", f"delay {float(d.reshape(-1)[first]):g} s is not a whole number of steps of "
            f"dt = {ctx.dt:g} s; rounded to {int(steps.reshape(-1)[first])} step(s)",
            node=ctx.node, field="delay", stage="sim")
    return np.broadcast_to(steps, ctx.out_shape)


@register("Delay")
def delay(ctx: BuildContext) -> Kernel:
    steps = _delay_steps(ctx)
    shape = ctx.out_shape
    n = int(steps.max()) if steps.size else 0
    if n == 0:
        return Kernel(lambda x, s: x, _no_state)
    length = n + 1
    uniform = bool(np.all(steps == n))
    flat = steps.reshape(-1)
    cols = np.arange(flat.size)

    def step(x: np.ndarray, s: dict) -> np.ndarray:
        buf, t = s["_buf"], s["_t"]
        buf[t % length] = x.reshape(x.shape[0], -1)
        if uniform:
            y = buf[(t - n) % length].copy()
        else:
            y = buf[(t - flat) % length, :, cols].T  # [N, B] gathered, then [B, N]
        s["_t"] = t + 1
        return y.reshape((x.shape[0],) + shape)

    def init(batch: int) -> dict:
        return {"_buf": np.zeros((length, batch, flat.size)), "_t": 0}

    def rest(s: dict) -> np.ndarray:
        return np.zeros((s["_buf"].shape[1],) + shape)

    return Kernel(step, init, rest)
