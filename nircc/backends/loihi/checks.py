"""The checks of a :class:`~nircc.backends.loihi.program.LoihiProgram`: Lava's number
formats (spec.Formats) and netx's layer rules, every violation named by layer, field,
value and limit (``LoihiProgram.validate`` calls :func:`validate_program`).  A program the
lowering builds passes them; they guard hand-built and loaded programs.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...errors import ErrorCollector
from ..program import check_header
from .program import LAYER_KINDS, ConvLayer, CubaNeurons, Layer, LoihiProgram, Synapse
from .spec import SIGN_MODES, Formats, LoihiSpec
from .weights import truncate_bits, determine_sign_mode, lava_weights


def validate_program(prog: LoihiProgram, spec: LoihiSpec) -> None:
    """Check every layer of ``prog`` against Lava's formats and netx's layer rules; raise one
    NirccErrors listing every violation (node = layer name, field, value, limit)."""
    fm = spec.formats
    errs = ErrorCollector()
    check_header(prog.variant, prog.dt, spec.name, errs)
    mb = prog.input_message_bits
    if not isinstance(mb, int) or isinstance(mb, bool) or not 0 <= mb <= fm.max_message_bits:
        errs.add(f"input_message_bits {mb!r} not in 0..{fm.max_message_bits} (0 = binary spikes)", None,
                 "input_message_bits")
    if not prog.layers:
        errs.add("a program needs at least an input layer", None, "layers")
        errs.raise_if_any()
    names: set[str] = set()
    prev_shape: Optional[tuple[int, ...]] = None
    prev_kind = ""
    for i, lay in enumerate(prog.layers):
        kind = getattr(lay, "kind", None)
        node = getattr(lay, "name", None)
        if kind not in LAYER_KINDS:
            errs.add(f"layer {i} is {type(lay).__name__}, not a Loihi layer ({', '.join(LAYER_KINDS)})",
                     None, "layers")
            prev_shape = None
            continue
        if not isinstance(node, str) or not node:
            errs.add(f"layer {i} ({kind}) needs a non-empty string name, got {node!r}", None, "name")
        elif node in names:
            errs.add("layer name used twice", node, "name")
        names.add(node)
        if (i == 0) != (kind == "input"):
            errs.add("the first layer, and only the first, must be the input layer" if i else
                     f"the first layer must be the input layer, not {kind}", node, "kind")
        if prev_kind == "flatten" and kind not in ("dense", "dense_rec"):
            errs.add(f"netx applies a flatten to the next dense layer only; {kind} follows "
                     f"{prog.layers[i - 1].name!r}", node, "kind")
        prev_shape = _validate_layer(lay, i, prev_shape, fm, errs)
        prev_kind = kind
    if getattr(prog.layers[-1], "neurons", None) is None:
        errs.add("the last layer must have neurons (its spikes are the output)",
                 getattr(prog.layers[-1], "name", None), "kind")
    errs.raise_if_any()


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_int(value: Any, lo: int, hi: int, what: str, node: str, fld: str, errs: ErrorCollector) -> None:
    if not _is_int(value) or not lo <= value <= hi:
        errs.add(f"{what} {value!r} not in {lo}..{hi}", node, fld)


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _validate_neurons(n: Any, size: Optional[int], fm: Formats, node: str, errs: ErrorCollector) -> None:
    if not isinstance(n, CubaNeurons):
        errs.add(f"neurons must be CubaNeurons, got {type(n).__name__}", node, "neurons")
        return
    _check_int(n.du, 0, fm.decay_max, f"current decay du ({fm.decay_bits}-bit unsigned)", node, "neurons.du", errs)
    _check_int(n.dv, 0, fm.decay_max, f"voltage decay dv ({fm.decay_bits}-bit unsigned)", node, "neurons.dv", errs)
    _check_int(n.vth, 0, fm.vth_max, f"threshold mantissa vth ({fm.vth_bits}-bit unsigned)", node, "neurons.vth",
               errs)
    _check_int(n.bias_exp, 0, fm.bias_exp_max, f"bias_exp ({fm.bias_exp_bits}-bit unsigned)", node,
               "neurons.bias_exp", errs)
    b = np.asarray(n.bias_mant)
    lo, hi = fm.bias_mant_range
    if b.dtype != np.int16:
        errs.add(f"bias_mant must be integers in {lo}..{hi} ({fm.bias_mant_bits}-bit signed), got {b.dtype} "
                 f"spanning [{b.min() if b.size else ''}, {b.max() if b.size else ''}]", node, "neurons.bias_mant")
    else:
        bad = (b < lo) | (b > hi)
        if bad.any():
            i = int(np.argmax(bad))
            errs.add(f"{int(bad.sum())} bias mantissas outside {lo}..{hi} ({fm.bias_mant_bits}-bit signed); "
                     f"neuron {i} has {int(b[i])}", node, "neurons.bias_mant")
    if size is not None and b.size != size:
        errs.add(f"{b.size} bias mantissas for {size} neurons", node, "neurons.bias_mant")
    if b.size < 1:
        errs.add("a neuron population needs at least one neuron", node, "neurons")


def _validate_weights(w: Any, sign_mode: Any, nwb: Any, fm: Formats, node: str, fld: str,
                      errs: ErrorCollector) -> None:
    """Sign mode, bit count and values of a weight array (range, then clip + truncation
    in the declared mode and in the mode Lava picks by itself)."""
    mode_ok = sign_mode in SIGN_MODES
    if not mode_ok:
        errs.add(f"sign_mode {sign_mode!r} not one of {', '.join(SIGN_MODES)}", node, f"{fld}.sign_mode")
    bits_ok = _is_int(nwb) and 1 <= nwb <= fm.weight_bits
    if not bits_ok:
        errs.add(f"num_weight_bits {nwb!r} not in 1..{fm.weight_bits}", node, f"{fld}.num_weight_bits")
    arr = np.asarray(w)
    if arr.dtype != np.int16:
        desc = f"{arr.dtype} spanning [{arr.min()}, {arr.max()}]" if arr.size and arr.dtype.kind in "iuf" else \
            f"{arr.dtype}"
        errs.add(f"weights must be integers in [-256, 255], got {desc}", node, f"{fld}.weights")
        return
    if not mode_ok or arr.size == 0:
        return
    lo, hi = fm.weight_range(sign_mode)
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        idx = _first_bad(bad)
        errs.add(f"{int(bad.sum())} weights outside {sign_mode}'s [{lo}, {hi}] (clip_weights would change them); "
                 f"weight{list(idx)} = {int(arr[idx])}", node, f"{fld}.weights")
        return
    if not bits_ok:
        return
    for mode, why in ((sign_mode, f"num_weight_bits {nwb} in {sign_mode} mode"),
                      (determine_sign_mode(arr), "the sign mode Lava picks when none is passed")):
        eff = lava_weights(arr, mode, nwb, fm)
        changed = eff != arr
        if changed.any():
            idx = _first_bad(changed)
            k = truncate_bits(mode, nwb, fm)
            lo_m, hi_m = fm.weight_range(mode)
            errs.add(f"{int(changed.sum())} weights are changed by Lava's clip and truncation ({why}, {mode}: "
                     f"clip to [{lo_m}, {hi_m}], low {k} bits cleared"
                     f"{' of the magnitude' if mode == 'inhibitory' else ''}); weight{list(idx)} = "
                     f"{int(arr[idx])} becomes {int(eff[idx])}", node, f"{fld}.weights")
            break


def _validate_synapse(s: Any, n_in: Optional[int], n_out: int, fm: Formats, node: str, fld: str,
                      errs: ErrorCollector) -> None:
    if not isinstance(s, Synapse):
        errs.add(f"must be a Synapse, got {type(s).__name__}", node, fld)
        return
    w = np.asarray(s.weights)
    if w.ndim != 2:
        errs.add(f"weights must be a [n_out, n_in] matrix, got shape {list(w.shape)}", node, f"{fld}.weights")
        return
    if w.shape[0] != n_out or (n_in is not None and w.shape[1] != n_in):
        errs.add(f"weights {list(w.shape)} do not connect {n_in} inputs to {n_out} neurons "
                 f"(expected [{n_out}, {n_in}])", node, f"{fld}.weights")
    _validate_weights(w, s.sign_mode, s.num_weight_bits, fm, node, fld, errs)
    _check_int(s.weight_exp, fm.weight_exp_min, fm.weight_exp_max, "weight_exp", node, f"{fld}.weight_exp", errs)
    if s.delays is not None:
        d = np.asarray(s.delays)
        if d.shape != w.shape:
            errs.add(f"delays {list(d.shape)} must have the weights' shape {list(w.shape)}", node, f"{fld}.delays")
        elif d.dtype != np.uint8 or (d.size and d.max() > fm.max_delay):
            desc = f"[{d.min()}, {d.max()}]" if d.size and d.dtype.kind in "iuf" else str(d.dtype)
            errs.add(f"delays must be integer steps in 0..{fm.max_delay} (netx clamps above {fm.max_delay}), "
                     f"got {desc}", node, f"{fld}.delays")


def _validate_layer(lay: Layer, i: int, prev: Optional[tuple[int, ...]], fm: Formats,
                    errs: ErrorCollector) -> Optional[tuple[int, ...]]:
    """Check one layer given the previous layer's output shape; return its output shape
    (None when it cannot be known)."""
    node = lay.name
    kind = lay.kind
    if kind == "input":
        shape = lay.shape
        if len(shape) not in (1, 3) or not all(_is_int(s) and s >= 1 for s in shape):
            errs.add(f"input shape {list(shape)} must be (N,) or (C, H, W) with positive sizes", node, "shape")
            return None
        if lay.neurons is not None:
            _validate_neurons(lay.neurons, lay.size, fm, node, errs)
        return shape
    if kind == "flatten":
        if prev is not None and len(prev) != 3:
            errs.add(f"flatten needs a (C, H, W) input, got {list(prev)}", node, "kind")
        return None if prev is None else (int(np.prod(prev)),)
    if kind in ("dense", "dense_rec"):
        if prev is not None and len(prev) != 1:
            errs.add(f"a dense layer needs a flat input; {list(prev)} needs a flatten layer before it", node, "kind")
        n_in = None if prev is None else int(np.prod(prev))
        _validate_neurons(lay.neurons, None, fm, node, errs)
        n_out = lay.neurons.size if isinstance(lay.neurons, CubaNeurons) else None
        if n_out is None:
            return None
        _validate_synapse(lay.synapse, n_in, n_out, fm, node, "synapse", errs)
        if lay.synapse_rec is not None:
            _validate_synapse(lay.synapse_rec, n_out, n_out, fm, node, "synapse_rec", errs)
        return (n_out,)
    return _validate_conv(lay, prev, fm, errs)


def _validate_conv(lay: ConvLayer, prev: Optional[tuple[int, ...]], fm: Formats,
                   errs: ErrorCollector) -> Optional[tuple[int, ...]]:
    node = lay.name
    _validate_neurons(lay.neurons, None, fm, node, errs)
    ok = True
    if len(lay.in_shape) != 3 or not all(_is_int(s) and s >= 1 for s in lay.in_shape):
        errs.add(f"in_shape {list(lay.in_shape)} must be (C, H, W) with positive sizes", node, "in_shape")
        ok = False
    elif prev is not None and tuple(prev) != tuple(lay.in_shape):
        errs.add(f"in_shape {list(lay.in_shape)} is not the previous layer's output {list(prev)}", node, "in_shape")
    w = np.asarray(lay.weights)
    if w.ndim != 4 or min(w.shape, default=0) < 1:
        errs.add(f"weights must be [C_out, C_in / groups, kH, kW] with positive sizes, got {list(w.shape)}",
                 node, "weights")
        ok = False
    else:
        _validate_weights(w, lay.sign_mode, lay.num_weight_bits, fm, node, "conv", errs)
        if max(w.shape[2:]) > fm.conv_param_max:
            errs.add(f"kernel {list(w.shape[2:])} exceeds Lava's int8 geometry ({fm.conv_param_max})", node, "weights")
    for fld, least in (("stride", 1), ("padding", 0), ("dilation", 1)):
        v = getattr(lay, fld)
        if not (isinstance(v, tuple) and len(v) == 2 and all(_is_int(x) and least <= x <= fm.conv_param_max
                                                                for x in v)):
            errs.add(f"{fld} {v!r} must be a (height, width) pair of integers in {least}..{fm.conv_param_max}",
                     node, fld)
            ok = False
    g = lay.groups
    if not _is_int(g) or not 1 <= g <= fm.conv_param_max:
        errs.add(f"groups {g!r} not in 1..{fm.conv_param_max}", node, "groups")
        ok = False
    if not ok:
        return None
    c_in = lay.in_shape[0]
    if c_in % g or w.shape[0] % g:
        errs.add(f"groups {g} must divide C_in {c_in} and C_out {w.shape[0]}", node, "groups")
        return None
    if w.shape[1] != c_in // g:
        errs.add(f"weights take {w.shape[1]} input channels per group, the input has {c_in} / {g} = {c_in // g}",
                 node, "weights")
        return None
    shape = lay.shape
    if min(shape) < 1:
        errs.add(f"kernel {list(w.shape[2:])} (dilation {list(lay.dilation)}) does not fit the padded input "
                 f"{list(lay.in_shape)} (output {list(shape)})", node, "weights")
        return None
    if isinstance(lay.neurons, CubaNeurons) and lay.neurons.size != int(np.prod(shape)):
        errs.add(f"{lay.neurons.size} neurons for a {list(shape)} output ({int(np.prod(shape))})", node,
                 "neurons.bias_mant")
    return shape
