"""The suite's fixtures (``raw_nir``, ``netx_python``) and its nir-version gates.  Builders of
raw node dicts are in tests/builders.py, input paths in tests/paths.py; the slow-test policy is
in the repository's conftest.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from nircc.ir import nir_compat
from tests.builders import write_raw

if nir_compat.BACKPORTED:
    # The tests are written against nir 1.0.8 (nir.CubaLI, v_reset=, type_check=, ...).  On an
    # older nir they build their nodes through nircc's backports, as nircc itself does; the
    # installed release's own classes are nir_compat.real (tests/ir/test_nir_compat.py uses them).
    sys.modules["nir"] = nir_compat

#: tests of what nir itself does (not nircc) that older nir releases do not do:
#: {test id (file::function, for all parameters, or with [parameters]): (first nir release
#: that does it, why)}
NEEDS_NEWER_NIR = {
    "tests/cli/test_info.py::test_examples_are_rebuilt_byte_for_byte":
        ((1, 0, 8), "examples/*.nir are nir 1.0.8's bytes (nir.write records its own version; "
                    "compression= is 1.0.8's)"),
    "tests/ir/test_roundtrip.py::test_file_and_memory_loads_agree":
        ((1, 0, 8), "asserts the version that nir 1.0.8's nir.write records"),
    "tests/ir/test_errors.py::test_validate_unknown_node_object":
        ((1, 0, 5), "uses nir.ir.graph.Identity, new in nir 1.0.5 (nircc has no use for it)"),
    "tests/ir/test_paper.py::test_nir_read_rejects_what_nircc_repairs[lif_rockpool.nir]":
        ((1, 0, 6), "nir.read type-checks graphs from nir 1.0.6 on"),
    "tests/ir/test_paper.py::test_nir_read_rejects_what_nircc_repairs[braille_noDelay_bias_zero_subgraph.nir]":
        ((1, 0, 8), "nir.read type-checks nested subgraphs from nir 1.0.8 on"),
    "tests/ir/test_paper.py::test_nir_read_rejects_what_nircc_repairs[braille_noDelay_noBias_subtract_subgraph.nir]":
        ((1, 0, 8), "nir.read type-checks nested subgraphs from nir 1.0.8 on"),
    "tests/ir/test_repairs.py::test_scalar_cubalif_between_linear_layers":
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
        return write_raw(tmp_path / name, graph, strings=strings, compression=compression, version=version)

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

