"""Lava's weight rules, as Lava applies them, so that a program's weights are the values
Lava's ``Dense`` multiplies with: :func:`determine_sign_mode`, :func:`clip_weights`,
:func:`truncate_weights` (lava-nc 0.10 ``lava/utils/weightutils.py``), and
:func:`netx_synapse` / :func:`netx_recurrent_synapses`, the synapses Lava ends up with for
the weight matrices written into a ``.net`` file (netx's ``optimize_weight_bits`` followed by
``Dense``'s own sign mode, clip and truncate).  Checked against lava-dl 0.6.0 in
``tests/backends/loihi/test_lava.py``; the formats are in docs/targets/loihi.md.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...errors import NirccError
from .program import Synapse
from .spec import Formats

_FORMATS = Formats()


def determine_sign_mode(weights: np.ndarray) -> str:
    """The sign mode Lava's ``Dense`` picks when none is given (weightutils.py:21-43):
    excitatory when no weight is negative, inhibitory when none is positive, else mixed."""
    w = np.asarray(weights)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def truncate_bits(sign_mode: str, num_weight_bits: int, formats: Formats = _FORMATS) -> int:
    return formats.weight_bits - int(num_weight_bits) + (1 if sign_mode == "mixed" else 0)


def clip_weights(weights: np.ndarray, sign_mode: str, formats: Formats = _FORMATS) -> np.ndarray:
    """``clip_weights(weights, sign_mode, num_bits=8)`` (weightutils.py:250-295), int32."""
    lo, hi = formats.weight_range(sign_mode)
    return np.clip(np.asarray(weights).astype(np.int64), lo, hi).astype(np.int32)


def truncate_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int,
                     formats: Formats = _FORMATS) -> np.ndarray:
    """``truncate_weights`` (weightutils.py:204-247), int32: the low ``8 - num_weight_bits``
    (+1 for mixed) bits cleared, of the magnitude for inhibitory weights.  A negative bit
    count (``num_weight_bits`` 9 outside mixed mode) is a NirccError: numpy's result for a
    negative shift count is platform dependent."""
    k = truncate_bits(sign_mode, num_weight_bits, formats)
    if k < 0:
        raise NirccError(f"num_weight_bits {num_weight_bits} in {sign_mode} mode makes Lava shift by {k} "
                         f"(negative); the result is not defined", field="num_weight_bits")
    w = np.asarray(weights).astype(np.int64)
    if sign_mode == "inhibitory":
        return (-((-w >> k) << k)).astype(np.int32)
    return ((w >> k) << k).astype(np.int32)


def lava_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int,
                      formats: Formats = _FORMATS) -> np.ndarray:
    """What Lava's bit-accurate ``Dense`` computes with: truncate(clip(weights)), int32."""
    return truncate_weights(clip_weights(weights, sign_mode, formats), sign_mode, num_weight_bits, formats)


def netx_optimize_weight_bits(weights: np.ndarray) -> tuple[np.ndarray, int, int, str]:
    """netx's ``optimize_weight_bits`` (netx utils.py:80-158) on a ``.net`` weight matrix:
    ``(weights << scale_bits, num_weight_bits, weight_exp, sign_mode)``, the arguments
    netx passes to ``Dense`` (the sign mode is computed but not passed on).

    NirccError where netx fails or shifts by a negative count: an all-zero matrix
    (``log2(inf)``), positive weights above 255 (excitatory) or negative weights below
    -256 (inhibitory).  Mixed matrices are clipped to ``[-256, 254]`` as netx does."""
    w = np.asarray(weights)
    if w.dtype.kind not in "iub" and (w.size == 0 or np.any(w != np.round(w))):
        raise NirccError("netx weights must be integers (netx reads them with astype(int))", field="weight")
    w = w.astype(np.int64)
    if w.size == 0 or not w.any():
        raise NirccError("netx cannot load an all-zero (or empty) weight matrix: optimize_weight_bits "
                         "takes log2 of 255/0", field="weight")
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:
        mode, signed, scale = "inhibitory", 0, -256 / lo
    elif lo >= 0:
        mode, signed, scale = "excitatory", 0, 255 / hi
    else:
        mode, signed = "mixed", 1
        scale = min(127 / hi if hi > 0 else np.inf, -128 / lo)
    scale_bits = int(np.floor(np.log2(scale))) + signed
    if scale_bits < 0:
        raise NirccError(f"netx cannot fit {mode} weights spanning [{lo}, {hi}] (it would shift them by "
                         f"{scale_bits}); excitatory weights must be <= 255, inhibitory >= -256", field="weight")
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    return (w << scale_bits).astype(np.int32), 8 - scale_bits - n, -scale_bits, mode


def netx_synapse(weights: np.ndarray, delays: Optional[np.ndarray] = None,
                 formats: Formats = _FORMATS) -> "Synapse":
    """The synapse Lava computes with for ``weights`` (and ``delays``) written into a
    ``.net`` dense layer: netx's :func:`netx_optimize_weight_bits`, then ``Dense`` picks its
    own sign mode (:func:`determine_sign_mode`, netx does not pass one) and clips and
    truncates (dense/models.py:83-90).  NirccError when the result is not a valid synapse
    (``num_weight_bits`` outside 1..8, a negative truncation shift)."""
    w_netx, nwb, exp, _ = netx_optimize_weight_bits(weights)
    mode = determine_sign_mode(w_netx)
    if not 1 <= nwb <= formats.weight_bits:
        raise NirccError(f"netx chooses num_weight_bits {nwb} for these {mode} weights (valid 1..{formats.weight_bits}): "
                         f"Lava's truncation would zero or distort them", field="weight")
    return Synapse(weights=lava_weights(w_netx, mode, nwb, formats), weight_exp=exp, num_weight_bits=nwb,
                   sign_mode=mode, delays=delays)


def netx_recurrent_synapses(weights: np.ndarray, weights_rec: np.ndarray,
                            formats: Formats = _FORMATS) -> tuple["Synapse", "Synapse"]:
    """The two synapses Lava computes with for a ``.net`` ``dense_rec`` layer: netx
    optimizes ``[weight | weight_rec]`` together (one exponent and bit count, hdf5.py:401-407),
    then each ``Dense`` picks its own sign mode and clips and truncates."""
    w, w_rec = np.asarray(weights), np.asarray(weights_rec)
    both = netx_synapse(np.hstack([w, w_rec]), formats=formats)
    w_netx = netx_optimize_weight_bits(np.hstack([w, w_rec]))[0]
    parts = w_netx[:, :w.shape[1]], w_netx[:, w.shape[1]:]
    return tuple(Synapse(weights=lava_weights(part, determine_sign_mode(part), both.num_weight_bits, formats),
                         weight_exp=both.weight_exp, num_weight_bits=both.num_weight_bits,
                         sign_mode=determine_sign_mode(part)) for part in parts)
