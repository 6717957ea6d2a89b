"""Step functions of the neuron populations: I, IF, LI, LIF, CubaLI, CubaLIF.

All six share one update, written once here and in ``docs/semantics.md`` (section
"Neurons"), with per-element float64 coefficients computed once per simulation:

    decay of a time constant tau:  euler  a = 1 - dt/tau,   b = dt/tau
                                   exact  a = exp(-dt/tau), b = -expm1(-dt/tau)  (= 1 - a)
                                   rockpool  a = exp(-dt/tau), b = a (synapse) or
                                             (dt/tau) exp(dt/tau) (membrane)
    synaptic current (CubaLI/F):   i = a_syn * i + (b_syn * w_in) * x
    membrane (LI/F, CubaLI/F):     v = a_mem * v + (b_mem * v_leak) + (b_mem * r) * d
    membrane (I, IF):              v = v + (dt * r) * d
    (d = i for the Cuba types, d = x otherwise; products in parentheses are precomputed;
    the v_leak term is skipped when v_leak is all zero)

then, for the spiking types (IF, LIF, CubaLIF), the threshold and reset of the options in
:class:`nircc.semantics.Semantics`, and with ``v_min="-threshold"`` the floor
``v = max(v, -v_threshold)`` after the reset (sinabs' ``min_v_mem``).  States: ``v`` (all), ``i`` (Cuba types); with
``reset_timing="next_step"`` a private ``_z`` keeps the spikes awaiting their reset.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .registry import BuildContext, Kernel, register, zeros


def decay(ctx: BuildContext, field: str) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the time constant ``field`` (:func:`nircc.semantics.decay`), checked."""
    tau = ctx.param(field)
    if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
        raise ctx.error(f"time constants must be positive and finite, got min {float(np.min(tau)):g}", field)
    a, b = ctx.semantics.decay(tau, "syn" if field == "tau_syn" else "mem")
    if np.any(a < 0):
        ctx.diagnostics.warn(
            "euler-unstable", f"dt = {ctx.dt:g} s exceeds the time constant (min {float(np.min(tau)):g} s): "
            f"the Euler decay 1 - dt/tau = {float(np.min(a)):.3g} is negative and the state oscillates",
            node=ctx.node, field=field, stage="sim")
    return a, b


def _nonzero(arr: np.ndarray) -> Optional[np.ndarray]:
    return arr if np.any(arr != 0) else None


def _spiking(ctx: BuildContext):
    """The threshold and reset of a spiking node: ``fire(v) -> (v_after, spikes)`` for
    immediate resets, plus the parameters the next-step reset needs."""
    sem = ctx.semantics
    thr = ctx.param("v_threshold")
    v_reset = ctx.param("v_reset")
    if sem.reset == "subtract" and np.any(v_reset != 0):
        ctx.diagnostics.info("v-reset-ignored", "reset by subtraction ignores v_reset (not all zero here)",
                             node=ctx.node, field="v_reset", stage="sim")
    if sem.spike == "multi" and np.any(thr <= 0):
        raise ctx.error("several spikes per step (spike='multi') need a positive threshold, "
                        f"got min {float(np.min(thr)):g}", "v_threshold")
    cmp = np.greater if sem.threshold == ">" else np.greater_equal
    # spikes(v, fired) -> spike counts (float64, a new array); fired: bool scratch, filled
    # with where v crossed the threshold
    if sem.spike == "single":
        def spikes(v: np.ndarray, fired: np.ndarray) -> np.ndarray:
            cmp(v, thr, out=fired)
            return fired.astype(np.float64)
    elif sem.threshold == ">=":
        def spikes(v: np.ndarray, fired: np.ndarray) -> np.ndarray:
            # n = floor(v / thr) where v >= thr (at least 1: v/thr may round to 1 - ulp)
            cmp(v, thr, out=fired)
            return np.where(fired, np.maximum(np.floor(v / thr), 1.0), 0.0)
    else:
        def spikes(v: np.ndarray, fired: np.ndarray) -> np.ndarray:
            # n = ceil(v / thr) - 1 where v > thr: the number of k >= 1 with v > k * thr
            cmp(v, thr, out=fired)
            return np.where(fired, np.maximum(np.ceil(v / thr) - 1.0, 1.0), 0.0)
    return thr, v_reset, spikes


def _build(ctx: BuildContext, *, leaky: bool, cuba: bool, spiking: bool) -> Kernel:
    sem = ctx.semantics
    shape = ctx.out_shape
    r = ctx.param("r")
    if cuba:
        a_syn, b_syn = decay(ctx, "tau_syn")
        g_syn = b_syn * ctx.param("w_in")
    if leaky:
        a_mem, b_mem = decay(ctx, "tau_mem" if cuba else "tau")
        v_leak = ctx.param("v_leak")
        c_mem = _nonzero(b_mem * v_leak)
        g_mem = b_mem * r
    else:
        a_mem, c_mem, v_leak = None, None, np.zeros(())
        g_mem = ctx.dt * r
    if spiking:
        thr, v_reset, spikes = _spiking(ctx)
        zero_reset = sem.reset == "zero"
        next_step = sem.reset_timing == "next_step"
        floor = -thr if sem.v_min == "-threshold" else None
    v0 = np.broadcast_to(v_leak, shape) if sem.initial_v == "leak" else np.zeros(shape)

    # The arrays stored in the state (i, v) and the returned spikes are new every step (the
    # simulator records them without copying); products go through the private scratch
    # buffers _tmp (float64) and _fired (bool), which keeps the temporaries to a minimum.
    def step(x: np.ndarray, s: dict) -> np.ndarray:
        tmp = s["_tmp"]
        if cuba:
            i = np.multiply(a_syn, s["i"])
            i += np.multiply(g_syn, x, out=tmp)
            s["i"] = d = i
        else:
            d = x
        v = s["v"]
        if spiking and next_step and zero_reset:
            v = np.where(s["_z"] > 0, v_reset, v)
        if a_mem is None:
            v = v + np.multiply(g_mem, d, out=tmp)
        else:
            v = np.multiply(a_mem, v)
            if c_mem is not None:
                v += c_mem
            v += np.multiply(g_mem, d, out=tmp)
        if not spiking:
            s["v"] = v
            return v
        fired = s["_fired"]
        if next_step:
            if not zero_reset:
                v -= np.multiply(s["_z"], thr, out=tmp)
            z = spikes(v, fired)
            s["_z"] = z
        else:
            z = spikes(v, fired)
            if zero_reset:
                np.copyto(v, v_reset, where=fired)
            else:
                v -= np.multiply(z, thr, out=tmp)
        if floor is not None:
            np.maximum(v, floor, out=v)
        s["v"] = v
        return z

    def init(batch: int) -> dict:
        state = {"v": np.broadcast_to(v0, (batch,) + shape).astype(np.float64),
                 "_tmp": zeros(batch, shape)}
        if cuba:
            state["i"] = zeros(batch, shape)
        if spiking:
            state["_fired"] = np.zeros((batch,) + shape, dtype=bool)
        if spiking and next_step:
            state["_z"] = zeros(batch, shape)
        return state

    def rest(s: dict) -> np.ndarray:
        return np.zeros_like(s["v"]) if spiking else s["v"]

    return Kernel(step, init, rest)


@register("I")
def integrator(ctx: BuildContext) -> Kernel:
    return _build(ctx, leaky=False, cuba=False, spiking=False)


@register("IF")
def integrate_and_fire(ctx: BuildContext) -> Kernel:
    return _build(ctx, leaky=False, cuba=False, spiking=True)


@register("LI")
def leaky_integrator(ctx: BuildContext) -> Kernel:
    return _build(ctx, leaky=True, cuba=False, spiking=False)


@register("LIF")
def leaky_integrate_and_fire(ctx: BuildContext) -> Kernel:
    return _build(ctx, leaky=True, cuba=False, spiking=True)


@register("CubaLI")
def cuba_leaky_integrator(ctx: BuildContext) -> Kernel:
    return _build(ctx, leaky=True, cuba=True, spiking=False)


@register("CubaLIF")
def cuba_leaky_integrate_and_fire(ctx: BuildContext) -> Kernel:
    return _build(ctx, leaky=True, cuba=True, spiking=True)
