"""Nothing escapes the reader: seeded mutations of the repository's real ``.nir`` files end
in a Graph or a NirccError, never another exception, a crash or a hang.

The mutations (tests/ir/nir_fuzz.py) flip and zero bytes, truncate, and rewrite datasets with
h5py (deleted, renamed, other dtypes and shapes, NaN/inf, huge dims, types as arrays).
libhdf5 itself loops for ever on some byte-flipped files (a corrupt global heap), so the
files are read as the CLI reads them: ``load(..., isolate=True)`` reads once in a child
process with a time limit first.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nircc
from tests.ir.nir_fuzz import FILES, mutants, run_mutants
from nircc.errors import NirccError
from nircc.ir import hdf5
from tests import paths

ROOT = paths.ROOT
LIF_NORSE = ROOT / "tests" / "data" / "nir_paper" / "lif_norse.nir"


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setenv("NIRCC_READ_TIMEOUT", "3")


def _check(path: Path) -> None:
    try:
        nircc.load(path, isolate=True)
    except NirccError as e:
        for err in e.errors:   # every error says where: a node, a field, or the file
            assert err.message and (err.node is not None or err.field is not None or str(path) in err.message), err


def _escapes(seed: int, n: int, tmp_path: Path) -> list[str]:
    return [f"{what}: {type(e).__name__}: {e}" for what, e in run_mutants(seed, n, tmp_path, _check)]


def test_mutants_are_reproducible():
    a = [d for _, d in mutants(7, 20)]
    assert a == [d for _, d in mutants(7, 20)]
    assert len(set(a)) == 20 and len(FILES) == 13


def test_fuzz_300_mutations_no_escape(tmp_path, short_timeout):
    assert _escapes(20261202, 300, tmp_path) == []


@pytest.mark.slow
def test_fuzz_5000_mutations_no_escape(tmp_path, short_timeout):
    assert _escapes(5000, 5000, tmp_path) == []


# ----------------------------------------------------------------------------- containment
def _looping_file(tmp_path: Path) -> Path:
    """lif_norse.nir with two bytes of its global heap changed: libhdf5 (h5py 3.16) loops
    for ever reading any of its variable-length strings (found by the fuzzer)."""
    data = bytearray(LIF_NORSE.read_bytes())
    data[2257], data[2280] = 1, 4
    p = tmp_path / "looping.nir"
    p.write_bytes(bytes(data))
    return p


def test_a_file_libhdf5_loops_on_is_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("NIRCC_READ_TIMEOUT", "2")
    path = _looping_file(tmp_path)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nircc", "info", str(path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NIRCC_READ_TIMEOUT": "2"})
    assert time.perf_counter() - t0 < 60
    assert (proc.returncode, proc.stdout) == (2, "")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nircc: error: {path}: "), proc.stderr
    if "did not finish" in lines[0]:   # a libhdf5 that no longer loops reports the damage otherwise
        assert lines[0] == (f"nircc: error: {path}: the HDF5 library did not finish reading the file in 2 s "
                            f"(libhdf5 loops on some corrupt files); the file is damaged, or set "
                            f"NIRCC_READ_TIMEOUT to wait longer")


def test_a_crash_of_libhdf5_is_a_named_error(monkeypatch, tmp_path):
    monkeypatch.setattr(hdf5, "_probe_child", lambda path: os.kill(os.getpid(), signal.SIGSEGV))
    with pytest.raises(NirccError) as e:
        nircc.load(LIF_NORSE, isolate=True)
    assert str(e.value) == f"{LIF_NORSE}: the HDF5 library crashed reading the file (signal SIGSEGV); the file is damaged"


def test_a_hang_is_a_named_error_after_the_timeout(monkeypatch):
    monkeypatch.setattr(hdf5, "_probe_child", lambda path: time.sleep(60))
    t0 = time.perf_counter()
    with pytest.raises(NirccError) as e:
        hdf5.probe_hdf5(LIF_NORSE, timeout=0.5)
    assert time.perf_counter() - t0 < 10
    assert "did not finish reading the file in 0.5 s" in str(e.value)


def test_isolated_and_direct_reads_agree():
    a, b = nircc.load(LIF_NORSE, isolate=True), nircc.load(LIF_NORSE)
    assert a.nodes == b.nodes and a.edges == b.edges


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_read_timeout_is_named(monkeypatch, value):
    monkeypatch.setenv("NIRCC_READ_TIMEOUT", value)
    with pytest.raises(NirccError) as e:
        nircc.load(LIF_NORSE, isolate=True)
    assert str(e.value) == (f"field 'NIRCC_READ_TIMEOUT': NIRCC_READ_TIMEOUT must be a positive number of "
                            f"seconds, got {value!r}")
