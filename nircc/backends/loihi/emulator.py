"""Bit-exact emulator of a :class:`~nircc.backends.loihi.program.LoihiProgram`.

It computes what Lava's CPU fixed-point models compute for the processes netx builds
(``loihi.md`` §2-3; lava @ ``b6822fb``, paths under ``src/lava/``), vectorized with numpy
over neurons and batch; the Python loops run over time steps, layers and a synapse's
distinct delay values only.

One time step ``t`` (Lava's ``time_step = t + 1``)
---------------------------------------------------
Every layer with neurons, in program order:

1. **Input.**  ``a_in`` (int32) is what its synapses sent at this step: each synapse sends
   the accumulation it computed at an earlier step (below); Lava's ``PyInPort`` adds the
   incoming int32 messages (ports.py ``PyInPortVectorDense.recv``).  An input layer with
   neurons takes the external input ``x[t]`` as ``a_in`` directly (netx ``Input`` block).
2. **LIF** (``AbstractPyLifModelFixed.subthr_dynamics``, lif/models.py:138-186, and
   ``PyLifModelBitAcc``, lif/models.py:268-278), integers throughout::

       u64 = int64(u) * (4096 - (du + 1))
       u   = int32(sign(u64) * (|u64| >> 12)) + (a_in << 6)          int32, wraps
       u   = u - 2**24  if u >  2**23                                 Lava's 24-bit wrap
       u   = u + 2**24  if u <= -2**23    (tested on the first result; same thing)
       v64 = int64(v) * (4096 - dv)
       v   = clip(int32(sign(v64) * (|v64| >> 12)) + u + (bias_mant << bias_exp),
                  -(2**23 - 1), 2**23 - 1)
       s   = v > (vth << 6)                                           strictly greater
       v[s] = 0                                                       reset to zero

3. **Synapses** of the layer compute from this step's spikes of the previous layer (and,
   for ``dense_rec``, of the layer itself) the accumulation they send later:

   * ``Dense`` (dense/models.py:77-107): ``a = W @ s`` (binary: the columns of the spiking
     neurons; graded: ``W.dot(s)`` in int32), then ``a << weight_exp`` (or arithmetic
     ``>> -weight_exp``); sent at ``t + 1`` as int32.  Binary input sums in int64 and wraps
     to int32 when sent; graded input wraps to int32 before the shift, as Lava's int32
     ``dot`` does.
   * ``DelayDense`` (dense/models.py:194-352): the same per delay value ``d``, each
     accumulation shifted and added into an int32 buffer sent at ``t + 1 + d``.
   * ``Conv`` (``PyConvModelFixed``, conv/models.py:18-79): the cross-correlation of the
     ``(C, H, W)`` spikes with the kernel (netx flips it into Lava's convolution), exact,
     then wrapped to 24-bit signed (``signed_clamp``); no weight exponent; sent at ``t + 1``.

   So every synapse adds one step: a spike of layer ``i`` at ``t`` moves ``u`` of layer
   ``i + 1`` at ``t + 1 (+ delay)``; input spikes ``x[t]`` reach the first neuron layer at
   ``t + 1`` (at ``t`` when the input layer has neurons).

Overflow follows Lava's Python arithmetic exactly where Lava defines it: int32 wrap of
``a_in``, of ``a_in << 6`` and of ``u`` before the 24-bit wrap, the 24-bit conv wrap.  A
conv sum beyond int32 (Lava casts a float64 beyond range to int32, which numpy leaves
undefined) is wrapped modulo ``2**24`` here.  ``validate`` (weights within 9 bits) and the
input check (graded values within 24 bits) keep every single product inside int32.

Exact sums
----------
The products run in BLAS when exact: float32 while every partial sum is below ``2**24``
in magnitude (bound: ``max_out sum |w| * max |input|``), float64 below ``2**53``,
otherwise int64.  The result is the same integers.

Probe point
-----------
Recorded ``u`` and ``v`` are the values after step 2 with the reset applied, which is
what a Lava ``Monitor`` reads from the CPU model.  The Loihi 2 hardware probe reads
differently on spike steps: on the NIR paper's single-LIF task it returns 128 where the
CPU model (and this emulator) returns 0, on every spike step, while all other steps agree
(``ecosystem.md`` §3.1; the value before reset was 1695 or 1656 there, so it is not a
pre-reset read).

Inputs and outputs
------------------
``run(inputs, record=False)``: ``inputs`` is ``[T, B, N_in]`` (``N_in`` the input layer's
size, ``(C, H, W)`` inputs flattened ``c*H*W + h*W + w``), or a dict ``{input layer name:
array}``.  Values: 0/1 spikes when the input layer has no neurons and
``input_message_bits == 0``; signed ``input_message_bits``-bit integers for graded input;
int32 currents when the input layer has neurons.  Returns ``EmulatorResult`` with
``outputs = {last layer name: uint8 [T, B, N] spikes}``; with ``record=True``, for every
layer with neurons, ``states[name + "/v"]`` = ``v``, ``states[name + "/i"]`` = ``u`` (Lava's
name for the current; int32 ``[T, B, N]``, post-reset) and ``states[name + "/output"]`` (uint8
spikes): the ``<node>/<state>`` keys of :mod:`nircc.backends.io`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import NirccError
from ..base import Emulator, EmulatorResult
from .program import ConvLayer, CubaNeurons, DenseLayer, InputLayer, LoihiProgram, Synapse
from .spec import Formats, get_spec

F32_EXACT = 2 ** 24
F64_EXACT = 2 ** 53


def _exact_dtype(bound: float) -> Any:
    """The cheapest dtype in which sums bounded by ``bound`` are exact."""
    if bound < F32_EXACT:
        return np.float32
    if bound < F64_EXACT:
        return np.float64
    return np.int64


def _exp_shift(a: np.ndarray, exp: int) -> np.ndarray:
    """``a << exp`` for ``exp > 0``, else ``a >> -exp`` (arithmetic), in ``a``'s dtype."""
    if exp > 0:
        return np.left_shift(a, exp)
    if exp < 0:
        return np.right_shift(a, -exp)
    return a


# ---------------------------------------------------------------------- neurons
@dataclass(eq=False)
class _Lif:
    """Constants of one LIF population."""

    du_factor: int
    dv_factor: int
    bias: Optional[np.ndarray]
    vth: np.int32
    unity: int
    act_shift: int
    max_uv: int

    @classmethod
    def build(cls, n: CubaNeurons, fm: Formats) -> "_Lif":
        mant = np.asarray(n.bias_mant).astype(np.int32)
        bias = np.left_shift(mant, n.bias_exp) if n.bias_exp >= 0 else np.right_shift(mant, -n.bias_exp)
        return cls(du_factor=fm.decay_unity - (n.du + fm.ds_offset), dv_factor=fm.decay_unity - (n.dv + fm.dm_offset),
                   bias=bias.astype(np.int32) if bias.any() else None,
                   vth=np.int32(np.left_shift(np.int64(n.vth), fm.vth_shift)),
                   unity=fm.decay_unity, act_shift=fm.act_shift, max_uv=fm.max_uv)

    def step(self, u: np.ndarray, v: np.ndarray, a_in: np.ndarray) -> np.ndarray:
        """One update of ``u``, ``v`` (int32 ``[B, N]``, in place) with input ``a_in``
        (int32); returns the spikes (bool).

        The decays run in float64: ``x * (factor / 4096)`` is exact (the factor over 4096 is
        a binary fraction and ``|x * factor| < 2**43``) and ``trunc`` rounds toward zero,
        which is Lava's ``sign(p) * (|p| >> 12)``; the result fits int32 exactly.  The sums
        then run in int32 with Lava's wrap-around."""
        act = np.left_shift(a_in, self.act_shift)
        if self.du_factor == 0:
            np.copyto(u, act)
        else:
            x = u * (self.du_factor / self.unity)
            np.trunc(x, out=x)
            u[...] = x
            u += act
        m = self.max_uv
        if u.max(initial=0) > m:
            np.subtract(u, np.int32(2 * m), out=u, where=u > m)
        if u.min(initial=0) <= -m:
            np.add(u, np.int32(2 * m), out=u, where=u <= -m)
        if self.dv_factor != self.unity:
            y = v * (self.dv_factor / self.unity)
            np.trunc(y, out=y)
            v[...] = y
        v += u
        if self.bias is not None:
            v += self.bias
        np.clip(v, -(m - 1), m - 1, out=v)
        s = v > self.vth
        v[s] = 0
        return s


# ---------------------------------------------------------------------- synapses
@dataclass(eq=False)
class _Dense:
    """A ``Dense`` / ``DelayDense``: ``matrix`` is ``[n_in, n_delays * n_out]`` (one block
    of columns per delay value in ``delays``)."""

    matrix: np.ndarray
    delays: tuple[int, ...]
    n_out: int
    weight_exp: int
    graded: bool
    delayed: bool
    #: no sum, shifted sum or int32 conversion can leave int32 (then no wrap can occur)
    fits_int32: bool

    @classmethod
    def build(cls, syn: Synapse, graded: bool, max_in: int) -> Optional["_Dense"]:
        w = np.asarray(syn.weights).astype(np.int64)
        n_out, n_in = w.shape
        d = np.zeros(w.shape, np.int64) if syn.delays is None else np.asarray(syn.delays).astype(np.int64)
        values = tuple(int(x) for x in np.unique(d[w != 0]))
        if not values:
            return None
        blocks = [np.where(d == k, w, 0) for k in values]
        bound = max(float(np.abs(b).sum(axis=1).max()) for b in blocks) * max_in
        matrix = np.ascontiguousarray(np.concatenate([b.T for b in blocks], axis=1), dtype=_exact_dtype(bound))
        exp = int(syn.weight_exp)
        return cls(matrix, values, n_out, exp, graded, syn.delays is not None,
                   fits_int32=bound * 2.0 ** max(exp, 0) < 2 ** 31)

    @property
    def max_delay(self) -> int:
        return max(self.delays)

    def deliver(self, s: np.ndarray, ring: np.ndarray, t: int) -> None:
        """Add the accumulation of input ``s`` (``[B, n_in]``, any numeric dtype) into the
        int32 ``ring`` ``[slots, B, n_out]`` at the slots it is sent from."""
        x = s if s.dtype == self.matrix.dtype else s.astype(self.matrix.dtype)
        acc = x @ self.matrix
        slots = ring.shape[0]
        for j, d in enumerate(self.delays):
            a = acc[:, j * self.n_out:(j + 1) * self.n_out]
            if self.fits_int32:
                out = _exp_shift(a.astype(np.int32), self.weight_exp)
            elif self.graded and not self.delayed:
                out = _exp_shift(a.astype(np.int64).astype(np.int32), self.weight_exp)
            else:
                out = _exp_shift(a.astype(np.int64), self.weight_exp).astype(np.int32)
            ring[(t + 1 + d) % slots] += out


@dataclass(eq=False)
class _Conv:
    """A ``Conv``: ``kernel`` ``[groups, C_in/g * kH * kW, C_out/g]``."""

    kernel: np.ndarray
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    ksize: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    wrap_bits: int
    max_delay: int = 0

    @classmethod
    def build(cls, lay: ConvLayer, max_in: int, fm: Formats) -> "_Conv":
        w = np.asarray(lay.weights).astype(np.int64)
        c_out, c_g, kh, kw = w.shape
        g = lay.groups
        bound = float(np.abs(w).sum(axis=(1, 2, 3)).max()) * max_in
        kernel = np.ascontiguousarray(w.reshape(g, c_out // g, c_g * kh * kw).transpose(0, 2, 1),
                                      dtype=_exact_dtype(bound))
        return cls(kernel, tuple(lay.in_shape), lay.shape, (kh, kw), lay.stride, lay.padding, lay.dilation, g,
                   fm.conv_accumulator_bits)

    def deliver(self, s: np.ndarray, ring: np.ndarray, t: int) -> None:
        B = s.shape[0]
        c, h, w = self.in_shape
        c_out, ho, wo = self.out_shape
        g = self.groups
        x = (s if s.dtype == self.kernel.dtype else s.astype(self.kernel.dtype)).reshape(B, c, h, w)
        ph, pw = self.padding
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        (kh, kw), (sh, sw), (dh, dw) = self.ksize, self.stride, self.dilation
        win = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
        win = win[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]                  # [B, C, ho, wo, kh, kw]
        cols = win.reshape(B, g, c // g, ho, wo, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(g, B * ho * wo, (c // g) * kh * kw)
        out = np.matmul(cols, self.kernel)                                         # [g, B*ho*wo, c_out/g]
        out = out.reshape(g, B, ho, wo, c_out // g).transpose(1, 0, 4, 2, 3).reshape(B, c_out * ho * wo)
        half = 1 << (self.wrap_bits - 1)
        acc = (out.astype(np.int64) + half) & ((1 << self.wrap_bits) - 1)
        acc -= half
        ring[(t + 1) % ring.shape[0]] += acc.astype(np.int32)


# ---------------------------------------------------------------------- stages
@dataclass(eq=False)
class _Stage:
    """One layer with neurons: its LIF, its synapse from the previous layer (None for an
    input layer or when every weight is zero) and its recurrent synapse."""

    name: str
    size: int
    lif: _Lif
    synapse: Optional[Union[_Dense, _Conv]]
    synapse_rec: Optional[_Dense]
    is_input: bool

    @property
    def slots(self) -> int:
        return 1 + max([0] + [syn.max_delay for syn in (self.synapse, self.synapse_rec) if syn is not None])


class LoihiEmulator(Emulator):
    """Lava's bit-accurate CPU models of a netx network (module docstring)."""

    def __init__(self, program: LoihiProgram) -> None:
        program.validate()
        self.program = program
        fm = get_spec(program.variant).formats
        inp = program.input_layer
        mb = program.input_message_bits
        self.input_size = inp.size
        #: how external inputs are read: "current" (input neurons), "graded" or "binary"
        self.input_mode = "current" if inp.neurons is not None else ("graded" if mb > 0 else "binary")
        self.stages: list[_Stage] = []
        graded = self.input_mode == "graded"
        max_in = (1 << (mb - 1)) if graded else 1
        for lay in program.layers:
            if lay.neurons is None:
                continue
            lif = _Lif.build(lay.neurons, fm)
            syn: Optional[Union[_Dense, _Conv]] = None
            rec: Optional[_Dense] = None
            if isinstance(lay, DenseLayer):
                syn = _Dense.build(lay.synapse, graded, max_in)
                if lay.synapse_rec is not None:
                    # netx gives the recurrent Dense the block's input message bits too
                    rec = _Dense.build(lay.synapse_rec, graded, 1)
            elif isinstance(lay, ConvLayer):
                syn = _Conv.build(lay, max_in, fm)
            self.stages.append(_Stage(lay.name, lay.neurons.size, lif, syn, rec, isinstance(lay, InputLayer)))
            graded, max_in = False, 1

    # ------------------------------------------------------------------ inputs
    def _inputs(self, inputs: Any) -> np.ndarray:
        name = self.program.input_layer.name
        if isinstance(inputs, Mapping):
            if set(inputs) != {name}:
                raise NirccError(f"inputs for {sorted(inputs)}; the program's input layer is {name!r}", field="inputs")
            inputs = inputs[name]
        x = np.asarray(inputs)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise NirccError(f"inputs must be [T, B, {self.input_size}], got {list(x.shape)}", name, "inputs")
        if x.dtype.kind not in "biuf":
            raise NirccError(f"inputs must be integers, got {x.dtype}", name, "inputs")
        if x.dtype.kind == "f" and x.size and (not np.all(np.isfinite(x)) or np.any(x != np.round(x))):
            raise NirccError("inputs must be integer-valued", name, "inputs")
        if self.input_mode == "binary":
            lo, hi, what = 0, 1, "0/1 spikes (set input_message_bits for graded input)"
        elif self.input_mode == "graded":
            mb = self.program.input_message_bits
            lo, hi, what = -(1 << (mb - 1)), (1 << (mb - 1)) - 1, f"{mb}-bit signed graded spikes"
        else:
            lo, hi, what = -(2 ** 31), 2 ** 31 - 1, "int32 input currents"
        if x.size and (x.min() < lo or x.max() > hi):
            raise NirccError(f"inputs span [{x.min()}, {x.max()}]; they must be {what} in [{lo}, {hi}]", name,
                             "inputs")
        return x.astype(np.int32)

    # ------------------------------------------------------------------ run
    def run(self, inputs: Any, record: bool = False) -> EmulatorResult:
        """Run ``T`` steps from the zero state (module docstring for inputs and outputs)."""
        x = self._inputs(inputs)
        T, B, _ = x.shape
        xf = x.astype(np.float32) if self.input_mode == "binary" else x
        us = [np.zeros((B, st.size), np.int32) for st in self.stages]
        vs = [np.zeros((B, st.size), np.int32) for st in self.stages]
        rings = [np.zeros((st.slots, B, st.size), np.int32) for st in self.stages]
        out_name = self.program.output_layer.name
        spikes_rec = {st.name: np.zeros((T, B, st.size), np.uint8) for st in self.stages
                      if record or st.name == out_name}
        u_rec = {st.name: np.zeros((T, B, st.size), np.int32) for st in self.stages} if record else {}
        v_rec = {st.name: np.zeros((T, B, st.size), np.int32) for st in self.stages} if record else {}
        for t in range(T):
            prev: Optional[np.ndarray] = xf[t] if x[t].any() else None
            for k, st in enumerate(self.stages):
                ring = rings[k]
                slot = t % ring.shape[0]
                a_in = x[t] if st.is_input else ring[slot]
                s = st.lif.step(us[k], vs[k], a_in)
                ring[slot] = 0
                if st.synapse is not None and prev is not None:
                    st.synapse.deliver(prev, ring, t)
                sf: Optional[np.ndarray] = s.view(np.uint8) if s.any() else None
                if st.synapse_rec is not None and sf is not None:
                    st.synapse_rec.deliver(sf, ring, t)
                prev = sf
                if st.name in spikes_rec:
                    spikes_rec[st.name][t] = s
                if record:
                    u_rec[st.name][t] = us[k]
                    v_rec[st.name][t] = vs[k]
        outputs = {out_name: spikes_rec[out_name]}
        states: dict[str, np.ndarray] = {}
        if record:
            for st in self.stages:
                states[st.name + "/v"] = v_rec[st.name]
                states[st.name + "/i"] = u_rec[st.name]
                states[st.name + "/output"] = spikes_rec[st.name]
        return EmulatorResult(outputs=outputs, states=states)
