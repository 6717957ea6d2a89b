"""Shape rules of every NIR node type (no batch axis, no time axis).

One place for the formulas, used by the tolerant reader (to infer what files leave out),
by validation and by the ``infer_shapes`` pass:

* Affine / Linear, weight ``W[..., out, in]``: input ``W.shape[:-2] + (in,)``, output
  ``W.shape[:-2] + (out,)``.
* element-wise nodes (neurons, Scale, Threshold, Delay): the broadcast shape of their
  parameters; all-scalar parameters take the shape of their input.
* Conv1d / Conv2d, weight ``[C_out, C_in / groups, *kernel]`` (NIR/PyTorch layout):
  ``out = floor((n + 2 p - d (k - 1) - 1) / s) + 1`` per spatial axis; ``padding='same'``
  keeps ``n``; ``'valid'`` is ``p = 0``.
* SumPool2d / AvgPool2d: the same formula with dilation 1; channels unchanged.
* Flatten(start_dim, end_dim): dimensions ``start..end`` (inclusive, negative counted from
  the end) are merged into one.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

Shape = tuple[int, ...]

#: Parameter fields of element-wise nodes, in NIR's order.
ELEMENTWISE_FIELDS: dict[str, tuple[str, ...]] = {
    "I": ("r",),
    "IF": ("r", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "Threshold": ("threshold",),
    "Delay": ("delay",),
    "Scale": ("scale",),
}

#: Numeric parameter arrays of every node type (what ``param_count`` counts); geometry
#: (stride, padding, ...) and shape annotations are not parameters.
PARAMETER_FIELDS: dict[str, tuple[str, ...]] = {
    "Affine": ("weight", "bias"),
    "Linear": ("weight",),
    "Conv1d": ("weight", "bias"),
    "Conv2d": ("weight", "bias"),
    **ELEMENTWISE_FIELDS,
}


def param_count(op) -> int:
    """Number of parameter entries of a node (sum of the sizes of its parameter arrays)."""
    return sum(int(np.size(getattr(op, f))) for f in PARAMETER_FIELDS.get(type(op).__name__, ())
               if getattr(op, f, None) is not None)


#: The most elements one node's shape may have (2**26 = 67,108,864: far above any chip's
#: neurons per layer, low enough that broadcasting a parameter to it stays in memory).
MAX_ELEMENTS = 2 ** 26


def as_shape(x) -> Optional[Shape]:
    """The shape annotation of a node nircc built, as a tuple of ints (``None`` for
    ``None`` or an object array); files' shapes go through :func:`check_shape` first."""
    if x is None:
        return None
    arr = np.asarray(x)
    if arr.dtype == object:
        return None
    return tuple(int(v) for v in arr.reshape(-1))


def check_shape(x, least: int = 1) -> Optional[Shape]:
    """A shape read from a file as a tuple of ints (``None`` for ``None``), checked: a vector of whole, finite
    numbers >= ``least`` with at most :data:`MAX_ELEMENTS` elements in all.  Raises
    ValueError saying what is wrong (the caller names the node and field).  ``least=0``
    admits the zeros some exporters write as a placeholder (sinabs' Flatten input_type)."""
    if x is None:
        return None
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"a shape must be a list of integers, got {describe_value(arr)}")
    if arr.ndim > 1:
        raise ValueError(f"a shape must be a 1-D list of integers, got a {arr.ndim}-D array of shape "
                         f"{list(arr.shape)}")
    flat = arr.reshape(-1).astype(np.float64)
    if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
        raise ValueError(f"a shape must hold whole numbers, got {flat.tolist()}")
    if np.any(flat < least):
        raise ValueError(f"every dimension of a shape must be >= {least}, got {arr.reshape(-1).tolist()}")
    if np.prod(flat) > MAX_ELEMENTS:
        raise ValueError(f"shape {[int(v) for v in flat]} has {np.prod(flat):.4g} elements; nircc handles at "
                         f"most {MAX_ELEMENTS:,} per node")
    return tuple(int(v) for v in flat)


def describe_value(arr: np.ndarray) -> str:
    """A short description of an array for an error message."""
    kind = "string" if arr.dtype.kind in "SUO" else arr.dtype.name
    if arr.ndim == 0:
        return f"{kind} {arr[()]!r}"
    vals = arr.reshape(-1)[:4].tolist()
    more = ", ..." if arr.size > 4 else ""
    return f"a {kind} array of shape {list(arr.shape)} ({str(vals)[1:-1]}{more})"


def pair(x, n: int = 2) -> tuple[int, ...]:
    """An int or a sequence as an n-tuple of ints (NIR allows both)."""
    arr = np.asarray(x).reshape(-1)
    if arr.size == 1:
        return tuple(int(arr[0]) for _ in range(n))
    if arr.size != n:
        raise ValueError(f"expected {n} values, got {arr.size}")
    return tuple(int(v) for v in arr)


def conv_geometry(op) -> dict:
    """Normalized stride / padding / dilation / groups / kernel of a Conv1d or Conv2d."""
    nd = np.asarray(op.weight).ndim - 2
    pad = op.padding
    if isinstance(pad, bytes):
        pad = pad.decode()
    padding: Union[str, tuple[int, ...]]
    if isinstance(pad, str):
        padding = pad
    else:
        padding = pair(pad, nd)
    return {
        "ndim": nd,
        "kernel": tuple(int(k) for k in np.asarray(op.weight).shape[2:]),
        "stride": pair(op.stride, nd),
        "padding": padding,
        "dilation": pair(op.dilation, nd),
        "groups": int(np.asarray(op.groups).reshape(-1)[0]),
    }


def conv_out_size(n: int, k: int, stride: int, padding: Union[int, str], dilation: int) -> int:
    if stride < 1 or dilation < 1:
        raise ValueError(f"stride {stride} and dilation {dilation} must be >= 1")
    if padding == "same":
        return int(n)
    p = 0 if padding == "valid" else int(padding)
    return (n + 2 * p - dilation * (k - 1) - 1) // stride + 1


def conv_padding(geo: dict, spatial_in: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Explicit (before, after) padding per spatial axis, resolving 'same' / 'valid'
    exactly as PyTorch does (extra padding goes after)."""
    pad = geo["padding"]
    out = []
    for i in range(len(spatial_in)):
        if pad == "valid":
            out.append((0, 0))
        elif pad == "same":
            total = geo["dilation"][i] * (geo["kernel"][i] - 1)
            out.append((total // 2, total - total // 2))
        else:
            out.append((pad[i], pad[i]))
    return tuple(out)


def pool_geometry(op) -> dict:
    return {
        "kernel": pair(op.kernel_size),
        "stride": pair(op.stride),
        "padding": pair(op.padding),
    }


def flatten_out(in_shape: Shape, start_dim: int, end_dim: int) -> Shape:
    nd = len(in_shape)
    if nd == 0:
        return (1,)
    s = int(start_dim) % nd if -nd <= int(start_dim) < nd else None
    e = int(end_dim) % nd if -nd <= int(end_dim) < nd else None
    if s is None or e is None or s > e:
        raise ValueError(
            f"start_dim={start_dim}, end_dim={end_dim} do not fit an input of rank {nd} {list(in_shape)}"
        )
    return tuple(in_shape[:s]) + (int(np.prod(in_shape[s:e + 1])),) + tuple(in_shape[e + 1:])


def elementwise_shape(op) -> Shape:
    """Broadcast shape of an element-wise node's parameters (``()`` if all scalar)."""
    shapes = [np.shape(getattr(op, f)) for f in ELEMENTWISE_FIELDS[type(op).__name__]
              if getattr(op, f, None) is not None]
    return tuple(int(x) for x in np.broadcast_shapes(*shapes)) if shapes else ()


def param_shapes(op, in_shape: Optional[Shape] = None) -> tuple[Optional[Shape], Optional[Shape]]:
    """(input shape, output shape) of a node, from its parameters and, where the node's
    parameters do not fix it, from ``in_shape``.  ``None`` where unknown.  Raises
    ValueError when ``in_shape`` cannot feed the node (the caller names the node)."""
    t = type(op).__name__
    if in_shape is not None:
        in_shape = tuple(int(x) for x in in_shape)
    if t == "Input":
        s = as_shape(op.input_type["input"])
        return s, s
    if t == "Output":
        s = as_shape(op.output_type["output"])
        return s, s
    if t in ("Affine", "Linear"):
        w = np.shape(op.weight)
        if len(w) < 2:
            raise ValueError(f"weight must be at least 2-D, got shape {list(w)}")
        return tuple(w[:-2]) + (w[-1],), tuple(w[:-2]) + (w[-2],)
    if t in ELEMENTWISE_FIELDS:
        s = elementwise_shape(op)
        if s == () and in_shape is not None:
            s = in_shape
        elif s == ():
            return None, None
        return s, s
    if t in ("Conv1d", "Conv2d"):
        geo = conv_geometry(op)
        c_in = int(np.shape(op.weight)[1]) * geo["groups"]
        spatial = None
        if getattr(op, "input_shape", None) is not None:
            spatial = as_shape(op.input_shape)
        elif in_shape is not None:
            spatial = in_shape[1:]
        if spatial is None:
            return None, None
        if len(spatial) != geo["ndim"]:
            raise ValueError(f"input_shape {list(spatial)} has {len(spatial)} spatial axes, "
                             f"the kernel {geo['ndim']}")
        out = tuple(
            conv_out_size(n, geo["kernel"][i], geo["stride"][i],
                          geo["padding"] if isinstance(geo["padding"], str) else geo["padding"][i],
                          geo["dilation"][i])
            for i, n in enumerate(spatial)
        )
        return (c_in,) + tuple(spatial), (int(np.shape(op.weight)[0]),) + out
    if t in ("SumPool2d", "AvgPool2d"):
        if in_shape is None:
            return None, None
        if len(in_shape) != 3:
            raise ValueError(f"pooling needs a [C, H, W] input, got {list(in_shape)}")
        geo = pool_geometry(op)
        out = tuple(conv_out_size(n, geo["kernel"][i], geo["stride"][i], geo["padding"][i], 1)
                    for i, n in enumerate(in_shape[1:]))
        return in_shape, (in_shape[0],) + out
    if t == "Flatten":
        declared = as_shape(op.input_type.get("input")) if op.input_type else None
        src = declared if declared is not None else in_shape
        if src is None:
            return None, None
        return src, flatten_out(src, op.start_dim, op.end_dim)
    raise ValueError(f"unknown node type {t!r}")
