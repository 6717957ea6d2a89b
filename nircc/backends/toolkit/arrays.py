"""The arrays of a chip Program: normalising user- or file-given values to exact integer
dtypes, and a lossless JSON form.

``Program.from_dict`` and the Program constructors accept lists, floats that hold integers
and numpy arrays; :func:`as_int_array` turns them into the field's integer dtype when that
is exact, and otherwise leaves a value the Program's ``validate`` names (a float with a
fraction, an integer outside the dtype's range), never a silently wrapped or rounded one.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def as_int_array(x: Any, dtype: Any) -> Any:
    """``x`` as an array of ``dtype`` when every value is an integer inside its range.
    Otherwise: integers out of range as int64, non-integer or non-finite floats and
    non-numeric arrays unchanged (as arrays), ``None`` as ``None``."""
    if x is None:
        return None
    arr = np.asarray(x)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
            return arr
        if arr.size and np.max(np.abs(arr)) >= 2.0 ** 63:
            return arr
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        return arr
    info = np.iinfo(dtype)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        return arr.astype(np.int64)
    return arr.astype(dtype)


def int_scalar(x: Any) -> Any:
    """An integer-valued number as ``int`` (bools and anything else unchanged)."""
    if isinstance(x, (bool, np.bool_)):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)) and np.isfinite(x) and float(x).is_integer():
        return int(x)
    return x


def array_to_dict(a: np.ndarray) -> dict:
    """An array as JSON-able ``{"dtype", "shape", "data"}`` (C order; exact for integers)."""
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def array_from_dict(d: dict) -> np.ndarray:
    """Inverse of :func:`array_to_dict`."""
    return np.asarray(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])
