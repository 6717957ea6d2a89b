"""Xylo hardware-in-the-loop: compiled models on a Xylo HDK against the emulator.

Run on a lab bench with rockpool and samna installed and a Xylo Audio 2 / Audio 3 / IMU HDK
plugged in::

    NIRCC_XYLO_BOARD=0 python -m pytest hw_tests/test_xylo_hw.py -m hw -v

``NIRCC_XYLO_BOARD`` is the index of the board in rockpool's ``find_xylo_hdks()`` list; the
variant follows the board's version (``syns61201`` Audio 2, ``syns65302`` Audio 3,
``syns63300`` IMU).  Without rockpool, samna or the variable every test skips with the
reason.

Each test compiles a model for the board's variant, loads the artifact exactly as
docs/targets/xylo.md shows (rockpool's ``config_from_specification`` on the arrays of
``xylo_spec.npz`` and the keyword arguments ``rockpool.kwargs`` of ``xylo.json``: weight
shifts and aliases), runs one input sample through rockpool's ``XyloSamna``
(accelerated-time mode, states recorded) and compares the readout spikes and the hidden
membranes with the emulator step by step: the chip is deterministic and the emulator is
bit-exact with xylosim, so they must be equal.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import nir
import numpy as np
import pytest

import nircc
from nircc.backends.io import program_io

pytestmark = pytest.mark.hw

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"syns61201": "audio2", "syns65302": "audio3", "syns63300": "imu"}


@pytest.fixture(scope="module")
def board():
    pytest.importorskip("samna", reason="samna (SynSense's SDK) is not installed")
    xylo = pytest.importorskip("rockpool.devices.xylo", reason="rockpool is not installed")
    index = os.environ.get("NIRCC_XYLO_BOARD")
    if index is None:
        pytest.skip("set NIRCC_XYLO_BOARD (the index in rockpool's find_xylo_hdks()) to run on a Xylo HDK")
    hdks, _, versions = xylo.find_xylo_hdks()
    i = int(index)
    if i >= len(hdks):
        pytest.skip(f"no Xylo HDK {i} connected ({len(hdks)} found)")
    if versions[i] not in VARIANTS:
        pytest.skip(f"board version {versions[i]!r} has no nircc variant (known: {', '.join(VARIANTS)})")
    return hdks[i], versions[i], VARIANTS[versions[i]]


def run_on_board(board, res: nircc.CompileResult, x: np.ndarray, tmp_path: Path) -> tuple[np.ndarray, dict]:
    """Readout spikes [T, N_out] and recorded states of one sample ``x`` [T, N_in] on the HDK,
    configured from the saved artifact as the docs show."""
    hdk, version, _ = board
    pkg = importlib.import_module(f"rockpool.devices.xylo.{version}")
    out_dir = tmp_path / "out"
    res.save(out_dir)
    doc = json.loads((out_dir / "xylo.json").read_text())
    assert doc["rockpool"]["function"] == "config_from_specification"
    spec = dict(np.load(out_dir / "xylo_spec.npz", allow_pickle=False))
    config, ok, msg = pkg.config_from_specification(**spec, **doc["rockpool"]["kwargs"])
    assert ok, msg
    module = pkg.XyloSamna(hdk, config, dt=doc["dt"], output_mode="Spike")
    out, _, rec = module(x, record=True)
    return np.asarray(out), rec


def check(board, res: nircc.CompileResult, tmp_path: Path, steps: int = 200) -> None:
    # the chip's input channels, always-on ones included (IOMap.constants: a bias moved onto
    # an input channel must be driven on the board too)
    x = program_io(res.program).encode(res.probe_inputs(steps, batch=1, rate=0.1, seed=0))[:, 0]
    emu = res.target.emulator(res.program).run(x[:, None, :], record=True)
    chip, rec = run_on_board(board, res, x, tmp_path)
    np.testing.assert_array_equal(chip, emu.outputs["readout"][:, 0])
    if "Vmem" in rec:
        np.testing.assert_array_equal(np.asarray(rec["Vmem"]), emu.states["Vmem"][:, 0])


def test_example_on_the_board(board, tmp_path):
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo", variant=board[2])
    check(board, res, tmp_path)


def test_paper_braille_on_the_board(board, tmp_path):
    res = nircc.compile(ROOT / "tests" / "data" / "nir_paper" / "braille_noDelay_noBias_subtract.nir", "xylo",
                        variant=board[2])
    check(board, res, tmp_path)


def two_hidden_layers() -> nir.NIRGraph:
    """Input 8 -> 24 recurrent CubaLIF -> 16 CubaLIF -> 4 CubaLIF readout (seeded weights):
    both hidden -> hidden and hidden -> readout lags, recurrence and negative weights."""
    rng = np.random.default_rng(7)
    f32 = np.float32

    def cuba(n: int) -> nir.CubaLIF:
        full = lambda v: np.full(n, v, f32)  # noqa: E731
        return nir.CubaLIF(tau_syn=full(2e-3), tau_mem=full(8e-3), r=full(8.0), v_leak=full(0.0),
                           v_threshold=full(1.0), v_reset=full(0.0), w_in=full(2.0))

    def lin(shape, mean: float) -> nir.Linear:
        return nir.Linear(weight=rng.normal(mean, 0.2, shape).astype(f32))

    nodes = {"in": nir.Input(np.array([8])), "fc1": lin((24, 8), 0.3), "h1": cuba(24), "rec": lin((24, 24), 0.0),
             "fc2": lin((16, 24), 0.1), "h2": cuba(16), "fc3": lin((4, 16), 0.1), "o": cuba(4),
             "out": nir.Output(np.array([4]))}
    edges = [("in", "fc1"), ("fc1", "h1"), ("h1", "rec"), ("rec", "h1"), ("h1", "fc2"), ("fc2", "h2"), ("h2", "fc3"),
             ("fc3", "o"), ("o", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_two_hidden_layers_on_the_board(board, tmp_path):
    res = nircc.compile(two_hidden_layers(), "xylo", variant=board[2], dt=1e-3, semantics="rockpool")
    assert res.target.latency(res.program) == {"out": 2}
    check(board, res, tmp_path)


def biased_network() -> nir.NIRGraph:
    """Input 4 -> Affine (bias) -> 12 recurrent CubaLIF -> Affine (bias) -> 3 CubaLIF readout,
    seeded, with hidden biases -0.005..0.015 and readout biases 0.003 / -0.001 / 0 (none clipped
    by the quantization)."""
    rng = np.random.default_rng(3)
    f32 = np.float32

    def cuba(n: int) -> nir.CubaLIF:
        full = lambda v: np.full(n, v, f32)  # noqa: E731
        return nir.CubaLIF(tau_syn=full(2e-3), tau_mem=full(8e-3), r=full(8.0), v_leak=full(0.0),
                           v_threshold=full(1.0), v_reset=full(0.0), w_in=full(2.0))

    nodes = {"in": nir.Input(np.array([4])),
             "fc1": nir.Affine(weight=rng.normal(0.2, 0.2, (12, 4)).astype(f32),
                               bias=np.linspace(-0.005, 0.015, 12).astype(f32)),
             "h": cuba(12), "rec": nir.Linear(weight=rng.normal(0.0, 0.1, (12, 12)).astype(f32)),
             "fc2": nir.Affine(weight=rng.normal(0.1, 0.2, (3, 12)).astype(f32),
                               bias=np.array([0.003, -0.001, 0.0], f32)),
             "o": cuba(3), "out": nir.Output(np.array([3]))}
    edges = [("in", "fc1"), ("fc1", "h"), ("h", "rec"), ("rec", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_biased_network_on_the_board(board, tmp_path):
    """Every hidden and readout bias reaches the board (rockpool's ``bias_hidden`` and
    ``bias_out``: a misnamed one is dropped without a word by its ``**kwargs``)."""
    res = nircc.compile(biased_network(), "xylo", variant=board[2], dt=1e-3, semantics="rockpool",
                        options={"bias_source": False})          # the biases in the chip's registers
    assert res.program.bias_enable
    check(board, res, tmp_path)


def test_bias_sources_on_the_board(board, tmp_path):
    """The same net with its hidden biases on an always-on input channel (the default): the
    board gets that channel's event at every step, as the emulator does."""
    res = nircc.compile(biased_network(), "xylo", variant=board[2], dt=1e-3, semantics="rockpool")
    assert [p.name for p in program_io(res.program).constants] == ["in/on"]
    check(board, res, tmp_path)


def test_to_sdk_matches_rockpools_configuration(board, tmp_path):
    """nircc's samna object and rockpool's, from the same artifact, run alike on the board."""
    hdk, version, variant = board
    pkg = importlib.import_module(f"rockpool.devices.xylo.{version}")
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo", variant=variant)
    x = next(iter(res.probe_inputs(100, batch=1, seed=2).values()))[:, 0]
    module = pkg.XyloSamna(hdk, res.target.to_sdk(res.program), dt=res.program.dt, output_mode="Spike")
    out, _, _ = module(x, record=False)
    np.testing.assert_array_equal(np.asarray(out), res.target.emulator(res.program).run(x[:, None, :])
                                  .outputs["readout"][:, 0])
