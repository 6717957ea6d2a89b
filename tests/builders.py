"""Builders of raw NIR node dicts, and writing them as .nir files with h5py directly (layouts
and mistakes that ``nir.write`` itself never produces); the ``raw_nir`` fixture (conftest.py)
wraps ``write_raw``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

F32 = np.float32


# ----------------------------------------------------------------------------- raw node dicts
def graph(nodes: dict, edges: list) -> dict:
    return {"type": "NIRGraph", "nodes": nodes, "edges": edges}


def inp(*shape: int) -> dict:
    return {"type": "Input", "shape": np.array(shape, dtype=np.int64)}


def out(*shape: int) -> dict:
    return {"type": "Output", "shape": np.array(shape, dtype=np.int64)}


def affine(n_out: int, n_in: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"type": "Affine", "weight": rng.normal(size=(n_out, n_in)).astype(F32), "bias": np.zeros(n_out, F32)}


def lif(n: int, **over) -> dict:
    d = {"type": "LIF", "tau": np.full(n, 0.02, F32), "r": np.ones(n, F32), "v_leak": np.zeros(n, F32),
         "v_threshold": np.ones(n, F32), "v_reset": np.zeros(n, F32)}
    d.update(over)
    return d


def scalar_cuba_lif() -> dict:
    """snnTorch ``Synaptic`` export (snntorch#410): every parameter a 0-d tensor."""
    return {"type": "CubaLIF", "tau_syn": F32(0.002), "tau_mem": F32(0.01), "r": F32(100.0), "v_leak": F32(0.0),
            "v_threshold": F32(1.0), "w_in": F32(20.0)}


def chain(*names_nodes) -> dict:
    names = [n for n, _ in names_nodes]
    return graph(dict(names_nodes), list(zip(names, names[1:])))


# ----------------------------------------------------------------------------- writing
def _write_string(group: h5py.Group, key: str, text: str, strings: str) -> None:
    if strings == "attr" and key == "type":
        group.attrs["type"] = text
    elif strings == "fixed":
        group.create_dataset(key, data=np.bytes_(text.encode()))
    elif strings == "ascii":
        group.create_dataset(key, data=text, dtype=h5py.string_dtype("ascii"))
    else:
        group.create_dataset(key, data=text, dtype=h5py.string_dtype("utf-8"))


def _write_node(group: h5py.Group, node: dict, strings: str, compression: str | None) -> None:
    for key, v in node.items():
        if isinstance(v, dict):
            _write_node(group.create_group(key), v, strings, compression)
        elif isinstance(v, str):
            _write_string(group, key, v, strings)
        elif key == "edges" and isinstance(v, list):
            pairs = np.array(v, dtype="S" if strings == "fixed" else object).reshape(-1, 2)
            dtype = None if strings == "fixed" else h5py.string_dtype("ascii" if strings == "ascii" else "utf-8")
            group.create_dataset(key, data=pairs, dtype=dtype)
        else:
            arr = np.asarray(v)
            group.create_dataset(key, data=arr, compression=compression if arr.ndim else None)



def write_raw(path: Path, graph: dict[str, Any], *, strings: str = "vlen", compression: str | None = None,
              version: str | None = "1.0.8") -> Path:
    with h5py.File(path, "w") as f:
        if version is not None:
            _write_string(f, "version", version, "vlen" if strings == "attr" else strings)
        _write_node(f.create_group("node"), graph, strings, compression)
    return path
