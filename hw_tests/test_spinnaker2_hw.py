"""SpiNNaker2 hardware-in-the-loop: compiled programs on a board against S2Emulator.

Run on a lab bench with py-spinnaker2 installed and a board on the network::

    NIRCC_S2_IP=192.168.1.2 python -m pytest hw_tests/test_spinnaker2_hw.py -m hw -v

``NIRCC_S2_IP`` is the board's address: a single chip's Ethernet IP
(``hardware.SpiNNaker2Chip(eth_ip=...)``), or with ``NIRCC_S2_BOARD=board48`` the STM
address of a 48-node board (``hardware.SpiNNcloud48NodeBoard(stm_ip=...)``).  Without
``spinnaker2`` or without the variable every test skips with the reason.

The network is built with ``Target.to_sdk`` (the documented loader's calls) for one input
sample, run ``T + latency`` steps, and the recorded spikes are compared with the
emulator's, step by step: the chip computes the same float32 operations on the same
integer weights (``lif_no_delay``; the paper's LIF voltage trace too).  For the example
(``lif_curr_exp``, whose update order on the chip is [inferred]) the comparison is the
spike-count agreement, with the emulator's order in the failure message.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import nircc
from nircc.fidelity import pad_steps

pytestmark = pytest.mark.hw

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "nir_paper"


@pytest.fixture(scope="module")
def hardware():
    hw = pytest.importorskip("spinnaker2.hardware", reason="py-spinnaker2 is not installed")
    ip = os.environ.get("NIRCC_S2_IP")
    if not ip:
        pytest.skip("set NIRCC_S2_IP to the board's address to run on SpiNNaker2")
    if os.environ.get("NIRCC_S2_BOARD", "chip") == "board48":
        return hw.SpiNNcloud48NodeBoard(stm_ip=ip), "board48"
    return hw.SpiNNaker2Chip(eth_ip=ip), "chip"


def run_on_board(hw, res, x: np.ndarray):
    """One sample ``x`` [T, *shape] on the board: the output populations' spikes [T + lag, N]."""
    sdk = res.target.to_sdk(res.program, {res.graph.inputs[0]: x})
    board, _ = hw
    board.run(sdk.network, sdk.timesteps, sys_tick_in_s=sdk.sys_tick_in_s)
    return sdk, {o: sdk.spikes(info["population"]) for o, info in sdk.outputs.items() if info["kind"] == "spikes"}


def emulated(res, x: np.ndarray) -> dict:
    lag = max(res.target.latency(res.program).values())
    out = res.target.run(res.program, pad_steps({res.graph.inputs[0]: x[:, None]}, lag)).outputs
    return {o: y[:, 0].reshape(y.shape[0], -1) for o, y in out.items()}


def test_paper_lif_trace_on_the_board(hardware):
    csv = np.loadtxt(DATA / "lif_spinnaker2.csv", delimiter=",")
    res = nircc.compile(DATA / "lif_norse.nir", "spinnaker2", variant=hardware[1], dt=1e-4,
                        options={"weight_scale": 102.02, "record_v": True})
    x = csv[:, 0].reshape(-1, 1).astype(np.uint8)
    sdk, chip = run_on_board(hardware, res, x)
    np.testing.assert_array_equal(chip["output"], emulated(res, x)["output"])
    np.testing.assert_array_equal(chip["output"][1:, 0], csv[:, 2])
    v = sdk.voltages("1")[1:, 0] / res.report["quantization"]["populations"][0]["gain"]
    np.testing.assert_allclose(v, csv[:, 1], atol=4e-7)


def test_example_on_the_board(hardware):
    res = nircc.compile(ROOT / "examples" / "spinnaker2_delay_rnn.nir", "spinnaker2", variant=hardware[1])
    x = res.probe_inputs(200, 1, 0.1, seed=3)["input"][:, 0]
    _, chip = run_on_board(hardware, res, x)
    emu = emulated(res, x)["spikes"]
    c_chip, c_emu = chip["spikes"].sum(axis=0), emu.sum(axis=0)
    agreement = 1 - np.abs(c_chip - c_emu).sum() / max(1, (c_chip + c_emu).sum())
    assert agreement > 0.95, f"spike counts chip {c_chip.tolist()} vs emulator (current_first) {c_emu.tolist()}"
