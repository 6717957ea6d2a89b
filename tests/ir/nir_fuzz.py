"""Seeded mutations of real ``.nir`` files, for the reader's fuzz tests.

``mutants(seed, n)`` yields ``(description, bytes)``: one mutation each of a file of the
repository (the examples and the NIR paper's exported graphs), chosen by a seeded
generator so that a failing case is named by its seed and index and reproduced exactly.

Byte-level mutations: flipped bytes (anywhere, or inside the HDF5 superblock and object
headers near the start), truncation, a zeroed block.  Structural mutations, written with
h5py into a copy: a dataset deleted or renamed, replaced by another dtype (a number where a
string belongs, a string where numbers belong, a 1-element array, a 2-D array), by NaN or
inf, by huge or negative dimensions, a node's ``type`` as a numeric array, the root
``type`` as an array, an Input ``shape`` as a string, edges of the wrong shape, a group
where a dataset belongs.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np
from tests import paths

ROOT = paths.ROOT
FILES = sorted([*ROOT.glob("examples/*.nir"), *ROOT.glob("tests/data/nir_paper/*.nir")])


def _datasets(f: h5py.File) -> list[str]:
    out: list[str] = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(out)


def _groups(f: h5py.File) -> list[str]:
    out: list[str] = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Group) else None)
    return sorted(out)


def _replace(f: h5py.File, name: str, value) -> None:
    del f[name]
    f[name] = value


def _values(rng: np.random.Generator, old: np.ndarray) -> list:
    """Replacement values for a dataset: other dtypes, shapes and non-finite numbers."""
    shape = old.shape
    numeric = old.dtype.kind in "biuf"
    cands = [
        np.array([7.0]), np.array(3), np.array(b"LIF"), np.array([b"Affine", b"LIF"]),
        np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((0,)), np.array([np.nan]), np.array(np.inf),
        np.array([2 ** 40, 2 ** 40], dtype=np.int64), np.array([-3, 5], dtype=np.int64),
        np.array([1e300, -1e300]), np.array(True), np.array([2 ** 62], dtype=np.int64),
        np.arange(6, dtype=np.int64).reshape(2, 3),
    ]
    if numeric and old.size:
        bad = old.astype(np.float64).copy().reshape(-1)
        bad[rng.integers(bad.size)] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30])
        cands.append(bad.reshape(shape))
        cands.append(old.reshape(-1)[: max(1, old.size // 2)])   # wrong length
        cands.append(old.astype(np.float16) if old.dtype.kind == "f" else old.astype(np.float32))
        cands.append(np.asarray(old).reshape(-1)[:1])           # a 1-element array
        cands.append(np.array([str(v) for v in np.asarray(old).reshape(-1)[:4]], dtype="S"))
    return cands


def _structural(rng: np.random.Generator, f: h5py.File) -> str:
    datasets, groups = _datasets(f), _groups(f)
    kind = rng.choice(["delete", "rename", "retype", "retype", "retype", "node-type", "root-type",
                       "input-shape", "edges", "group", "attr-type", "delete-group"])
    if kind == "delete":
        name = datasets[rng.integers(len(datasets))]
        del f[name]
        return f"delete {name}"
    if kind == "delete-group":
        name = groups[rng.integers(len(groups))]
        del f[name]
        return f"delete group {name}"
    if kind == "rename":
        name = datasets[rng.integers(len(datasets))]
        new = name + rng.choice(["_x", "X", "s"])
        f.move(name, new)
        return f"rename {name} -> {new}"
    if kind == "retype":
        name = datasets[rng.integers(len(datasets))]
        old = np.asarray(f[name][()])
        cands = _values(rng, old)
        value = cands[rng.integers(len(cands))]
        _replace(f, name, value)
        return f"retype {name} = {value!r}"[:200]
    if kind == "node-type":
        types = [d for d in datasets if d.endswith("/type")]
        name = types[rng.integers(len(types))]
        value = [np.array([1.0, 2.0]), np.array(5), np.array([b"LIF"]), np.array([[b"LIF"]]),
                 np.array(b"NIRGraph"), np.array(b""), np.array(b"\xff\xfe")][rng.integers(7)]
        _replace(f, name, value)
        return f"node type {name} = {value!r}"
    if kind == "root-type":
        name = "node/type"
        value = [np.array([b"NIRGraph", b"NIRGraph"]), np.array([1, 2]), np.array(b"LIF")][rng.integers(3)]
        if name in f:
            _replace(f, name, value)
        else:
            f[name] = value
        return f"root type = {value!r}"
    if kind == "input-shape":
        shapes = [d for d in datasets if d.endswith("/shape") or d.endswith("input_type") or d.endswith("/input")]
        if not shapes:
            return _structural(rng, f)
        name = shapes[rng.integers(len(shapes))]
        value = [np.array(b"12"), np.array([1e12, 3.0]), np.array([-1, 4]), np.array([0]),
                 np.array([2 ** 31, 2 ** 31], dtype=np.int64), np.array([1.5]), np.array([[2, 3]])][rng.integers(7)]
        _replace(f, name, value)
        return f"shape {name} = {value!r}"
    if kind == "edges":
        edges = [d for d in datasets if d.endswith("edges")]
        name = edges[rng.integers(len(edges))]
        old = np.asarray(f[name][()])
        value = [old.reshape(-1)[:3] if old.size >= 3 else np.array([b"a"]), np.array([[1, 2], [3, 4]]),
                 np.array([[b"nope", b"x"]]), old[::-1] if old.ndim else old, np.array(b"input"),
                 np.concatenate([old, old]) if old.ndim == 2 else old][rng.integers(6)]
        _replace(f, name, value)
        return f"edges {name} = {value!r}"[:200]
    if kind == "group":
        name = datasets[rng.integers(len(datasets))]
        del f[name]
        f.create_group(name).create_dataset("x", data=np.arange(3))
        return f"group in place of {name}"
    # attr-type: the node type as an attribute beside (or instead of) the dataset
    types = [d for d in datasets if d.endswith("/type")]
    name = types[rng.integers(len(types))]
    grp = f[name.rsplit("/", 1)[0]]
    del f[name]
    grp.attrs["type"] = [np.array([1, 2]), b"Affine", b"Bogus"][rng.integers(3)]
    return f"type {name} as attribute"


def _byte_level(rng: np.random.Generator, data: bytes) -> tuple[str, bytes]:
    b = bytearray(data)
    kind = rng.choice(["flip", "flip-head", "truncate", "zero"])
    if kind == "truncate":
        n = int(rng.integers(0, len(b)))
        return f"truncate to {n} bytes", bytes(b[:n])
    if kind == "zero":
        at, n = int(rng.integers(len(b))), int(rng.integers(1, 512))
        b[at:at + n] = bytes(len(b[at:at + n]))
        return f"zero {n} bytes at {at}", bytes(b)
    top = min(len(b), 4096) if kind == "flip-head" else len(b)
    k = int(rng.integers(1, 16))
    at = sorted(int(x) for x in rng.integers(0, top, k))
    for i in at:
        b[i] ^= 1 << int(rng.integers(8))
    return f"{kind} bits at {at}", bytes(b)


def mutate(rng: np.random.Generator, path: Path) -> tuple[str, bytes]:
    data = path.read_bytes()
    if rng.random() < 0.4:
        what, out = _byte_level(rng, data)
        return f"{path.name}: {what}", out
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as f:
        what = _structural(rng, f)
    return f"{path.name}: {what}", buf.getvalue()


def mutants(seed: int, n: int, files=FILES) -> Iterator[tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    for i in range(n):
        path = files[int(rng.integers(len(files)))]
        what, data = mutate(rng, path)
        yield f"#{i} {what}", data


def run_mutants(seed: int, n: int, tmp: Path, check: Callable[[Path], None]) -> list[tuple[str, BaseException]]:
    """Write each mutant to ``tmp`` and call ``check`` on it; the (case, exception) pairs of
    the cases where ``check`` raised."""
    bad = []
    for what, data in mutants(seed, n):
        p = tmp / "mutant.nir"
        p.write_bytes(data)
        try:
            check(p)
        except BaseException as e:  # noqa: BLE001 - the point is to see everything
            if isinstance(e, KeyboardInterrupt):
                raise
            bad.append((what, e))
    return bad
