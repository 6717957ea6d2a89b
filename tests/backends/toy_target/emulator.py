"""ToyChip's update, bit-accurate in int64 and vectorized over neurons and batch.

Step ``t``, layer ``i`` (in order; ``s_{-1}[t]`` is the input ``x[t]``)::

    v_i  = v_i - (v_i >> shift_i)              if shift_i >= 1 (arithmetic shift)
    v_i  = clip(v_i + s_{i-1} @ W_i.T, -32768, 32767)
    s_i  = v_i > threshold_i                   (0 or 1)
    v_i  = 0 where s_i

where layer ``i >= 1`` reads ``s_{i-1}`` of step ``t - 1`` (spikes cross to the next
layer's cores in one step; the first layer reads the input of step ``t``), so the last
layer lags the reference by ``L - 1`` steps.  All state starts at zero.  Recorded
(``record=True``): ``"<layer>/v"`` (after the reset) and ``"<layer>/output"`` (spikes), ``[T, B, N]``.
"""
from __future__ import annotations

import numpy as np

from nircc.backends.base import Emulator, EmulatorResult
from nircc.errors import NirccError

from .program import ToyProgram

V_MIN, V_MAX = -(1 << 15), (1 << 15) - 1


class ToyEmulator(Emulator):
    def __init__(self, program: ToyProgram) -> None:
        self.program = program

    def run(self, inputs, record: bool = False) -> EmulatorResult:
        """``inputs``: ``[T, B, channels]`` non-negative integer event counts."""
        layers = self.program.layers
        x = np.asarray(inputs)
        width = layers[0].weights.shape[1]
        if x.ndim != 3 or x.shape[2] != width or x.dtype.kind not in "iub":
            raise NirccError(f"ToyChip input must be integer [T, B, {width}], got {x.dtype} {list(x.shape)}",
                             field="inputs")
        x = x.astype(np.int64)
        if x.size and x.min() < 0:
            raise NirccError("ToyChip inputs are event counts: non-negative", field="inputs")
        steps, batch = x.shape[:2]
        w = [lay.weights.astype(np.int64).T for lay in layers]
        thr = [np.int64(lay.threshold) for lay in layers]
        v = [np.zeros((batch, lay.size), np.int64) for lay in layers]
        s = [np.zeros((batch, lay.size), np.int64) for lay in layers]
        rec = {f"{lay.name}/{k}": np.zeros((steps, batch, lay.size), np.int16 if k == "v" else np.int64)
               for lay in layers for k in ("v", "output")} if record else {}
        out = np.zeros((steps, batch, layers[-1].size), np.int64)
        for t in range(steps):
            prev = [x[t]] + s[:-1]                      # the spikes each layer reads (of step t - 1)
            for i, lay in enumerate(layers):
                if lay.shift:
                    v[i] = v[i] - (v[i] >> lay.shift)
                v[i] = np.clip(v[i] + prev[i] @ w[i], V_MIN, V_MAX)
                fired = v[i] > thr[i]
                s[i] = fired.astype(np.int64)
                v[i] = np.where(fired, 0, v[i])
                if record:
                    rec[f"{lay.name}/v"][t] = v[i]
                    rec[f"{lay.name}/output"][t] = s[i]
            out[t] = s[-1]
        return EmulatorResult(outputs={layers[-1].name: out}, states=rec)
