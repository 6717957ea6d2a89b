"""Reading the NIR HDF5 layout into plain Python, tolerantly and without unpickling.

The layout written by ``nir.write`` is: a root group with a ``version`` string and a
``node`` group; every node group holds a ``type`` string and one dataset per field; a
``NIRGraph`` node holds a ``nodes`` group (one sub-group per node) and an ``edges``
dataset of ``[source, destination]`` string pairs.

Exporters differ in the details, all accepted here: strings stored as bytes, ``str``,
fixed-length ``S`` arrays or variable-length objects; scalar (0-d) datasets; gzip, lzf or
no compression; the ``type`` as a dataset or an attribute.  Only HDF5 is parsed: nothing
is ever unpickled (h5py never does, and no ``np.load(allow_pickle=True)`` happens here).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import NirccError


def to_str(x: Any) -> str:
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode("utf8")
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return to_str(x[()])
    return str(x)


def normalize_value(v: Any) -> Any:
    """A dataset's value as numpy (numbers) or str (strings)."""
    if isinstance(v, (bytes, np.bytes_, str)):
        return to_str(v)
    arr = np.asarray(v)
    if arr.dtype.kind in ("S", "U", "O"):
        if arr.ndim == 0:
            return to_str(arr[()])
        return np.vectorize(to_str, otypes=[object])(arr).astype(str)
    return arr


def _read_group(group, metadata: bool = False) -> dict:
    """A group as a dict.  Outside ``metadata`` groups, bytes that are not UTF-8 text where a
    string is expected are an error naming the dataset; inside, they are kept as bytes
    (metadata is free-form and never interpreted)."""
    import h5py

    out: dict[str, Any] = {}
    for key, item in group.items():
        key = to_str(key)
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item, metadata or key == "metadata")
            continue
        value = item[()]
        try:
            out[key] = normalize_value(value)
        except UnicodeDecodeError:
            if not metadata:
                raise NirccError(f"dataset {item.name!r} holds bytes that are not UTF-8 text where a "
                                 f"name or string was expected") from None
            out[key] = value
    if "type" not in out and "type" in group.attrs:
        out["type"] = normalize_value(group.attrs["type"])
    return out


#: Seconds a first, isolated read of a file may take (``NIRCC_READ_TIMEOUT`` overrides).
READ_TIMEOUT = 60.0


def _read_timeout() -> float:
    raw = os.environ.get("NIRCC_READ_TIMEOUT")
    if raw is None:
        return READ_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise NirccError(f"NIRCC_READ_TIMEOUT must be a positive number of seconds, got {raw!r}",
                         field="NIRCC_READ_TIMEOUT")
    return value


def _probe_child(path: str) -> None:
    """In the child: read every dataset as :func:`read_hdf5` does.  Errors are the parent's
    to report (it reads the file again); only a crash or a hang is the child's news."""
    try:
        read_hdf5(path)
    except BaseException:  # noqa: BLE001 - any Python-level outcome means libhdf5 returned
        pass


def probe_hdf5(path: Union[str, os.PathLike], timeout: Optional[float] = None) -> None:
    """Read ``path`` once in a child process, so that a file on which libhdf5 itself
    crashes (a signal) or loops for ever (seen on byte-flipped global heaps) ends in a
    NirccError instead of taking the caller down or hanging it.  Costs a fork and a second
    read of the file; :func:`nircc.load` does it with ``isolate=True`` (as the CLI does)."""
    import multiprocessing as mp
    import signal

    timeout = _read_timeout() if timeout is None else float(timeout)
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    proc = ctx.Process(target=_probe_child, args=(os.fspath(path),), daemon=True)
    proc.start()
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise NirccError(f"{path}: the HDF5 library did not finish reading the file in {timeout:g} s "
                         f"(libhdf5 loops on some corrupt files); the file is damaged, or set "
                         f"NIRCC_READ_TIMEOUT to wait longer")
    if proc.exitcode != 0:
        code = proc.exitcode
        why = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() \
            else f"exit status {code}"
        raise NirccError(f"{path}: the HDF5 library crashed reading the file ({why}); the file is damaged")


def read_hdf5(path: Union[str, os.PathLike], isolate: bool = False) -> tuple[dict, dict]:
    """The raw node tree of a ``.nir`` file and the file-level metadata.

    Every failure to read is a :class:`NirccError` naming the file and the reason.  With
    ``isolate`` the file is first read in a child process (:func:`probe_hdf5`).
    """
    import h5py

    p = Path(path)
    if not p.exists():
        raise NirccError(f"{p}: no such file")
    if p.is_dir():
        raise NirccError(f"{p}: is a directory, not a .nir file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as e:
        raise NirccError(f"{p}: cannot read ({e.strerror})") from None
    if head != b"\x89HDF\r\n\x1a\n" and not h5py.is_hdf5(p):  # is_hdf5 also finds a user block
        raise NirccError(f"{p}: not an HDF5 file (a .nir file is HDF5; the file starts with {head[:8]!r})")
    if isolate:
        probe_hdf5(p)
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f or not isinstance(f["node"], h5py.Group):
                keys = sorted(f.keys())
                raise NirccError(f"HDF5 file without the NIR layout: no 'node' group at the root (found {keys})")
            tree = _read_group(f["node"])
            file_meta = {}
            if isinstance(f.get("version"), h5py.Dataset):
                version = normalize_value(f["version"][()])
                if isinstance(version, str):
                    file_meta["nir_version"] = version
    except NirccError as e:
        raise NirccError(f"{p}: {e.message}", e.node, e.field) from None
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as e:
        raise NirccError(f"{p}: unreadable or truncated HDF5 file ({e})") from None
    return tree, file_meta
