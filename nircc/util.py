"""Small shared helpers: atomic file output and deterministic JSON."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from .errors import NirccError, NirccErrors


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise NirccError(f"cannot write '{path}': {e.strerror or e}", field="output") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):  # name the file the user asked for, never the temporary one
            raise NirccError(f"cannot write '{path}': {e.strerror or e}", field="output") from None
        raise


#: The file in every output directory that lists what nircc wrote there (``"files"``).
MANIFEST = "report.json"


def _nircc_files(path: Path) -> Optional[set[str]]:
    """The files an earlier compile wrote into ``path`` (from its manifest), or None when
    the manifest is absent or is not nircc's."""
    try:
        doc = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    files = doc.get("files") if isinstance(doc, dict) and "nircc_version" in doc else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def _old_report(path: Path) -> bool:
    try:
        doc = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "nircc_version" in doc and "files" not in doc


def _entries(path: Path) -> list[str]:
    return sorted(str(f.relative_to(path)) for f in path.rglob("*") if not f.is_dir())


def check_output_dir(path: Union[str, os.PathLike], ours: Iterable[str] = ()) -> Path:
    """Refuse, before any work, an output directory that nircc cannot replace: a path that
    is or runs through a file, a directory holding files that no earlier compile wrote (a
    foreign directory is never emptied), or a parent where nothing can be created.  Returns
    the path; NirccErrors name the field ``output``.  ``ours``: names (relative to ``path``)
    that this run wrote there already (e.g. ``--dump-after`` graphs)."""
    path = Path(path)
    _make_dir(path.parent, path)
    if path.exists():
        if not path.is_dir():
            raise NirccError(f"output '{path}' exists and is not a directory", field="output")
        entries = _entries(path)
        owned = (_nircc_files(path) or set()) | set(ours)
        foreign = [e for e in entries if e not in owned]
        if foreign:
            listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            whose = "nircc did not write" if _nircc_files(path) is not None or not _old_report(path) else \
                "nircc cannot vouch for (its report.json, from an earlier nircc, lists no files)"
            raise NirccError(f"output '{path}' holds files {whose} ({listed}); nircc replaces the whole "
                             f"directory, so name a new or empty one, or remove them", field="output")
    try:
        probe = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise NirccError(f"cannot create '{path}': {e.strerror or e} in '{path.parent}'", field="output") from None
    os.rmdir(probe)
    return path


def check_output_file(path: Union[str, os.PathLike]) -> Path:
    """Refuse, before any work, an output file that cannot be written: a directory, a path
    through a file, or a directory where nothing can be created."""
    path = Path(path)
    _make_dir(path.parent, path)
    if path.is_dir():
        raise NirccError(f"output '{path}' is a directory; name a file", field="output")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise NirccError(f"cannot write '{path}': {e.strerror or e} in '{path.parent}'", field="output") from None
    os.close(fd)
    os.unlink(probe)
    return path


@contextlib.contextmanager
def replace_dir(path: Union[str, os.PathLike], ours: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a temporary directory beside ``path`` that replaces ``path`` as a whole when
    the block succeeds, so ``path`` then holds exactly what the block wrote; on failure
    nothing in ``path`` changes.  ``path`` is checked first (:func:`check_output_dir`).

    The swap is two renames (the old directory aside, the new one in), then the old one is
    removed; a failure between them puts the old one back.  When ``path`` holds the working
    directory (renaming it would strand the shell), files are replaced one by one instead and
    the earlier compile's other files removed.  File-system failures are NirccErrors naming
    ``path``, never the temporary directory."""
    path = check_output_dir(path, ours)
    real = path.resolve()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=real.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; give the directory the usual mode
    try:
        yield tmp
        try:
            if not real.exists():
                os.rename(tmp, real)
            elif real == Path.cwd() or real in Path.cwd().parents:
                _replace_in_place(tmp, real)
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=real.parent))
                os.rmdir(old)
                os.rename(real, old)
                try:
                    os.rename(tmp, real)
                except OSError:
                    os.rename(old, real)
                    raise
                shutil.rmtree(old, ignore_errors=True)
        except OSError as e:
            raise NirccError(f"cannot write '{path}': {e.strerror or e}", field="output") from None
    except OSError as e:  # raised while the block wrote into the temporary directory
        name = _inside(e.filename, tmp, path)
        raise NirccError(f"cannot write '{name}': {e.strerror or e}", field="output") from None
    except NirccError as e:  # e.g. from atomic_path: the file's place in path, not in tmp
        raise NirccErrors([NirccError(err.message.replace(str(tmp), str(path)), err.node, err.field,
                                      code=err.code) for err in e.errors]) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _inside(filename: Any, tmp: Path, path: Path) -> Path:
    """Where ``filename`` (a file in ``tmp``) is meant to be in ``path``; ``path`` itself
    for anything else."""
    try:
        return path / Path(os.fsdecode(filename)).relative_to(tmp)
    except (TypeError, ValueError):
        return path


def _replace_in_place(new: Path, dest: Path) -> None:
    old = (_nircc_files(dest) or set()) - set(_entries(new))
    for name in _entries(new):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new / name, target)
    for name in sorted(old):
        with contextlib.suppress(FileNotFoundError):
            (dest / name).unlink()


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
