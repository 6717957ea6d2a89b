"""Loihi 2 hardware-in-the-loop: compiled ``.net`` files on a Loihi 2 system against LoihiEmulator.

Run on an INRC / Loihi 2 host, in the Python (3.10) environment that has lava-nc, lava-dl,
lava-loihi and nircc installed::

    NIRCC_LOIHI2_PARTITION=oheogulch python -m pytest hw_tests/test_loihi_hw.py -m hw -v

``NIRCC_LOIHI2_PARTITION`` is the Loihi 2 partition to run on (``Loihi2.preferred_partition``;
e.g. ``oheogulch`` for a single-chip system, ``kp`` for Kapoho Point).  Without lava-loihi
(``lava.utils.system.Loihi2`` reporting no Loihi 2), without lava-dl or without the
variable every test skips with the reason.

Each test compiles a model, builds the netx network from the emitted ``.net`` file
(``Target.to_sdk``), feeds one input sample through ``PyToNxAdapter`` from a
``RingBuffer``, reads the output layer's spikes through ``NxToPyAdapter`` into a sink
``RingBuffer``, and compares them with the emulator's spikes step by step.  The adapters'
own latency is not documented: the comparison accepts one constant shift of 0..4 steps and
reports it; the spikes must be equal at that shift.
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
MAX_SHIFT = 4


@pytest.fixture(scope="module")
def loihi2():
    pytest.importorskip("lava.lib.dl.netx", reason="lava-dl is not installed")
    system = pytest.importorskip("lava.utils.system", reason="lava-nc is not installed")
    partition = os.environ.get("NIRCC_LOIHI2_PARTITION")
    if not partition:
        pytest.skip("set NIRCC_LOIHI2_PARTITION to a Loihi 2 partition (e.g. oheogulch) to run on Loihi 2")
    system.Loihi2.preferred_partition = partition
    if not system.Loihi2.is_loihi2_available:
        pytest.skip(f"no Loihi 2 available on partition {partition!r} (lava-loihi installed and a system reachable?)")
    return system.Loihi2


def run_on_loihi2(res, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """One sample ``x`` [T, *shape] (0/1) on Loihi 2: the last layer's spikes [T + MAX_SHIFT, N_out]."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.proc import embedded_io as eio
    from lava.proc import io

    net = res.target.to_sdk(res.program, tmp_path / "model.net")
    steps = x.shape[0] + MAX_SHIFT
    flat = np.zeros((steps, int(np.prod(x.shape[1:]))), np.int32)
    flat[:x.shape[0]] = x.reshape(x.shape[0], -1)
    shape = tuple(net.inp.shape)                      # Lava's order: (N,) or (W, H, C)
    data = flat.T if len(shape) == 1 else flat.reshape((steps,) + shape[::-1]).transpose(3, 2, 1, 0)
    source = io.source.RingBuffer(data=data)
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    to_nx, from_nx = eio.spike.PyToNxAdapter(shape=net.inp.shape), eio.spike.NxToPyAdapter(shape=net.out.shape)
    source.s_out.connect(to_nx.inp)
    to_nx.out.connect(net.inp)
    net.out.connect(from_nx.inp)
    from_nx.out.connect(sink.a_in)
    net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2HwCfg())
    out = np.asarray(sink.data.get())                 # [N_out, steps] (a dense output layer)
    net.stop()
    return out.reshape(-1, steps).T


def emulated(res, x: np.ndarray) -> np.ndarray:
    name = res.graph.inputs[0]
    out = res.target.run(res.program, pad_steps({name: x[:, None]}, MAX_SHIFT)).outputs
    (y,) = out.values()
    return y[:, 0].reshape(y.shape[0], -1)


def assert_equal_up_to_a_shift(chip: np.ndarray, emu: np.ndarray, steps: int) -> int:
    for shift in range(MAX_SHIFT + 1):
        if np.array_equal(chip[shift:shift + steps], emu[:steps]):
            return shift
    diff = [int(np.sum(chip[s:s + steps] != emu[:steps])) for s in range(MAX_SHIFT + 1)]
    pytest.fail(f"Loihi 2 and the emulator differ at every shift 0..{MAX_SHIFT}: differing entries {diff}")


def test_paper_lif_on_loihi2(loihi2, tmp_path):
    """The NIR paper's task: Loihi 2 fired on steps 461, 511, 711, 761 (lif_lava_loihi_fixed.csv)."""
    csv = np.loadtxt(DATA / "lif_lava_loihi_fixed.csv", delimiter=",")
    res = nircc.compile(DATA / "lif_norse.nir", "loihi", dt=1e-4, options={"weight_scale": 256})
    x = csv[:, :1].astype(np.uint8)                                        # [T, 1]
    chip = run_on_loihi2(res, x, tmp_path)
    shift = assert_equal_up_to_a_shift(chip, emulated(res, x), x.shape[0])
    assert np.nonzero(chip[shift:shift + x.shape[0], 0])[0].tolist() == [461, 511, 711, 761]


def test_example_on_loihi2(loihi2, tmp_path):
    res = nircc.compile(ROOT / "examples" / "loihi_conv_rnn.nir", "loihi")
    x = res.probe_inputs(100, 1, 0.1, seed=3)["input"][:, 0]             # [T, 2, 16, 16]
    chip = run_on_loihi2(res, x, tmp_path)
    emu = emulated(res, x)
    assert emu.sum() > 10
    assert_equal_up_to_a_shift(chip, emu, 100)
