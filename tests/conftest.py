"""Shared test helpers: writing .nir files with h5py directly (layouts and mistakes that
``nir.write`` itself never produces), and builders of the raw node dicts they take."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest

from nircc.ir import nir_compat

if nir_compat.BACKPORTED:
    # The tests are written against nir 1.0.8 (nir.CubaLI, v_reset=, type_check=, ...).  On an
    # older nir they build their nodes through nircc's backports, as nircc itself does; the
    # installed release's own classes are nir_compat.real (tests/test_nir_compat.py uses them).
    sys.modules["nir"] = nir_compat

#: tests of what nir itself does (not nircc) that older nir releases do not do:
#: {test id (file::function, for all parameters, or with [parameters]): (first nir release
#: that does it, why)}
NEEDS_NEWER_NIR = {
    "tests/test_cli_info.py::test_examples_are_rebuilt_byte_for_byte":
        ((1, 0, 8), "examples/*.nir are nir 1.0.8's bytes (nir.write records its own version; "
                    "compression= is 1.0.8's)"),
    "tests/test_ir_roundtrip.py::test_file_and_memory_loads_agree":
        ((1, 0, 8), "asserts the version that nir 1.0.8's nir.write records"),
    "tests/test_ir_errors.py::test_validate_unknown_node_object":
        ((1, 0, 5), "uses nir.ir.graph.Identity, new in nir 1.0.5 (nircc has no use for it)"),
    "tests/test_ir_paper.py::test_nir_read_rejects_what_nircc_repairs[lif_rockpool.nir]":
        ((1, 0, 6), "nir.read type-checks graphs from nir 1.0.6 on"),
    "tests/test_ir_paper.py::test_nir_read_rejects_what_nircc_repairs[braille_noDelay_bias_zero_subgraph.nir]":
        ((1, 0, 8), "nir.read type-checks nested subgraphs from nir 1.0.8 on"),
    "tests/test_ir_paper.py::test_nir_read_rejects_what_nircc_repairs[braille_noDelay_noBias_subtract_subgraph.nir]":
        ((1, 0, 8), "nir.read type-checks nested subgraphs from nir 1.0.8 on"),
    "tests/test_ir_repairs.py::test_scalar_cubalif_between_linear_layers":
        ((1, 0, 6), "asserts that nir.read type-checks graphs, as nir does from 1.0.6 on"),
}


def _release(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in version.split(".")[:3])
    except ValueError:
        return (99,)


def pytest_collection_modifyitems(config, items):
    installed = _release(nir_compat.NIR_VERSION)
    for item in items:
        need = NEEDS_NEWER_NIR.get(item.nodeid) or NEEDS_NEWER_NIR.get(item.nodeid.split("[")[0])
        if need and installed < need[0]:
            item.add_marker(pytest.mark.skip(reason=f"nir {nir_compat.NIR_VERSION}: {need[1]}"))


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


@pytest.fixture
def raw_nir(tmp_path: Path) -> Callable[..., Path]:
    """``raw_nir(graph, name="model.nir", strings="vlen", compression=None, version="1.0.8")``
    writes a NIR layout given as nested dicts (``{"type": "NIRGraph", "nodes": {...},
    "edges": [(a, b), ...]}``; numbers as numpy arrays or Python scalars, which become
    0-d datasets) and returns its path.

    strings: "vlen" (variable-length UTF-8, as nir.write), "ascii" (variable-length
    ASCII), "fixed" (fixed-length byte strings), "attr" (node types as group attributes).
    """

    def make(graph: dict[str, Any], name: str = "model.nir", *, strings: str = "vlen",
             compression: str | None = None, version: str | None = "1.0.8") -> Path:
        path = tmp_path / name
        with h5py.File(path, "w") as f:
            if version is not None:
                _write_string(f, "version", version, "vlen" if strings == "attr" else strings)
            _write_node(f.create_group("node"), graph, strings, compression)
        return path

    return make


# ----------------------------------------------------------------------------- live Lava
@pytest.fixture(scope="session")
def netx_python() -> str:
    """The Python (< 3.11) named by NIRCC_LAVA_PYTHON when it imports lava-dl's netx; else skip."""
    python = os.environ.get("NIRCC_LAVA_PYTHON")
    if not python:
        pytest.skip("set NIRCC_LAVA_PYTHON to a Python (< 3.11) with lava-nc and lava-dl installed")
    r = subprocess.run([python, "-c", "import lava.lib.dl.netx"], capture_output=True, text=True, timeout=300)
    if r.returncode:
        pytest.skip(f"{python} cannot import lava.lib.dl.netx (pip install lava-dl)")
    return python

