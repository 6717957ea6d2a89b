"""Small shared helpers: atomic file output and deterministic JSON."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

from .errors import NirccError


def _make_dir(path: Path, output: Path) -> None:
    """Create the directory ``path`` and its parents for ``output``; a NirccError (field
    ``output``) when it or one of its parents is an existing file."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "" if p == output else f"'{p}' in "
                raise NirccError(f"output {where}'{output}' exists and is not a directory", field="output")
            break
    path.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def atomic_path(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one
    ``os.replace`` (readers never see a half-written file), on failure it is removed."""
    path = Path(path)
    _make_dir(path.parent, path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path`` whose files are moved into ``path``
    only when the block succeeds (each file by ``os.replace``); on failure nothing in
    ``path`` changes."""
    path = Path(path)
    _make_dir(path, path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for f in sorted(tmp.rglob("*")):
            if f.is_file():
                dest = path / f.relative_to(tmp)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def to_jsonable(x: Any) -> Any:
    """numpy scalars/arrays and tuples as plain JSON types (recursively)."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


def dumps(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, fixed separators, trailing newline)."""
    return json.dumps(to_jsonable(obj), indent=1, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: Union[str, os.PathLike], obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(dumps(obj))


def save_npz(path: Union[str, os.PathLike], arrays: dict) -> None:
    """Write arrays to an ``.npz`` atomically and deterministically: entries in sorted
    order with a fixed timestamp (``np.savez`` stamps the current time, so its bytes
    change from run to run).  Read back with ``np.load(path, allow_pickle=False)``."""
    import io
    import zipfile

    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())
