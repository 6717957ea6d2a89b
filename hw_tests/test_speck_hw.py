"""Speck hardware-in-the-loop: compiled programs on a devkit against the event emulator.

Run on a lab bench with samna installed and a Speck 2e/2f devkit plugged in::

    NIRCC_SPECK_DEVICE=speck2fdevkit:0 python -m pytest hw_tests/test_speck_hw.py -m hw -v

``NIRCC_SPECK_DEVICE`` names the board as sinabs does (``speck2fdevkit:N``,
``speck2fmodule:N``, ``speck2edevkit:N``, ``speck2e:N``; N = index among boards of that
type, ordered by USB address).  Without samna or without the variable every test skips
with the reason.

The host feeds ``samna.<chip>.event.Spike`` events straight to the entry core (compile
option ``dvs=false``: the DVS layer is bypassed, as sinabs does for host input), one bin
of ``dt`` per time step, in the emulator's ``sinabs`` event order; the monitored output
spikes are binned back by time stamp.  The chip's timing is asynchronous, so spikes are
compared as counts per output neuron over the whole run (exact for the single-neuron
checks, >= 90 % count agreement for the CNN).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import nir
import numpy as np
import pytest

import nircc
from nircc.backends.speck.emulator import events_from_raster
from nircc.semantics import Semantics

pytestmark = pytest.mark.hw

ROOT = Path(__file__).resolve().parent.parent
#: sinabs' device names -> samna's device_type_name (sinabs/backend/dynapcnn/io.py)
DEVICE_TYPES = {"speck2e": "Speck2eTestBoard", "speck2edevkit": "Speck2eDevKit",
                "speck2fmodule": "Speck2fModuleDevKit", "speck2fdevkit": "Speck2fDevKit"}


@pytest.fixture(scope="module")
def board():
    samna = pytest.importorskip("samna", reason="samna (SynSense's SDK) is not installed")
    dev_id = os.environ.get("NIRCC_SPECK_DEVICE")
    if not dev_id:
        pytest.skip("set NIRCC_SPECK_DEVICE (e.g. speck2fdevkit:0) to run on a Speck devkit")
    name, _, index = dev_id.partition(":")
    if name not in DEVICE_TYPES:
        pytest.skip(f"unknown device {name!r} (known: {', '.join(DEVICE_TYPES)})")
    infos = sorted((d for d in samna.device.get_all_devices() if d.device_type_name == DEVICE_TYPES[name]),
                   key=lambda d: d.usb_device_address)
    i = int(index or 0)
    if i >= len(infos):
        pytest.skip(f"no {dev_id} connected ({len(infos)} board(s) of that type)")
    dev = samna.device.open_device(infos[i])
    variant = "speck2e" if name.startswith("speck2e") else "speck2f"
    yield samna, dev, variant
    samna.device.close_device(dev)


def run_on_chip(board, res: nircc.CompileResult, raster: np.ndarray) -> np.ndarray:
    """Per-output-neuron spike counts [F] of one sample (raster [T, C, H, W]) on the chip."""
    samna, dev, variant = board
    prog = res.program
    chip = getattr(samna, variant)
    model = dev.get_model()
    model.apply_configuration(res.target.to_sdk(prog))
    time.sleep(0.5)
    src = (samna.BasicSourceNode_speck2e_event_speck2e_input_event() if variant == "speck2e" else
           samna.BasicSourceNode_speck2f_event_input_event())
    sink = getattr(samna, f"BasicSinkNode_{variant}_event_output_event")()
    g_in, g_out = samna.graph.EventFilterGraph(), samna.graph.EventFilterGraph()
    g_in.sequential([src, model.get_sink_node()])
    g_out.sequential([model.get_source_node(), sink])
    g_in.start()
    g_out.start()
    try:
        watch = dev.get_stop_watch()
        watch.reset()
        watch.start()
        sink.get_events()
        events = []
        for t, c, y, x in events_from_raster(raster, "sinabs").tolist():
            ev = chip.event.Spike()
            ev.layer, ev.feature, ev.y, ev.x = prog.input.destinations[0], c, y, x
            ev.timestamp = int(t * prog.dt * 1e6) + 1000
            events.append(ev)
        src.write(events)
        time.sleep(raster.shape[0] * prog.dt + 0.5)
        out = []
        while True:
            got = sink.get_events()
            if not got:
                break
            out += got
            time.sleep(0.1)
        watch.stop()
    finally:
        g_in.stop()
        g_out.stop()
    ex = prog.exits[0]
    f = prog.layer(ex.layer).output_shape[0]
    counts = np.zeros(f, np.int64)
    for ev in out:
        if type(ev).__name__ == "Spike" and ev.layer == ex.layer:
            counts[ev.feature] += 1
    return counts


def emulated(res: nircc.CompileResult, raster: np.ndarray) -> np.ndarray:
    em = res.target.emulator(res.program, mode="event").run(raster[:, None])
    y = em.outputs[res.program.exits[0].name][:, 0]
    return y.reshape(y.shape[0], y.shape[1], -1).sum(axis=(0, 2))


@pytest.mark.parametrize("core", range(2, 9))
def test_single_neuron_fires_at_threshold(board, core):
    """Weight 127, threshold 127 (>=): one input event, one output spike, on every core
    (sinabs' test_single_neuron_hardware; cores 0 and 1 are known to differ on 2e/2f)."""
    one = np.ones((1, 1, 1, 1), np.float32)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1, 1, 1])),
                            "c": nir.Conv2d(None, one, 1, 0, 1, 1, np.zeros(1, np.float32)),
                            "i": nir.IF(r=np.ones((1, 1, 1), np.float32), v_threshold=np.ones((1, 1, 1), np.float32),
                                        v_reset=np.zeros((1, 1, 1), np.float32)),
                            "output": nir.Output(output_type=np.array([1, 1, 1]))},
                     edges=[("input", "c"), ("c", "i"), ("i", "output")], type_check=False)
    res = nircc.compile(g, "speck", variant=board[2], semantics=Semantics.from_options("sinabs", dt=1e-3),
                        options={"layer2core": {"i": core}})
    lay = res.program.layers[0]
    assert (lay.weights.max(), lay.threshold_high, lay.core) == (127, 127, core)
    raster = np.zeros((2, 1, 1, 1), np.int64)
    raster[0] = 1
    assert run_on_chip(board, res, raster).tolist() == [1] == emulated(res, raster).tolist()


def test_nmnist_example_matches_the_event_emulator(board):
    res = nircc.compile(ROOT / "examples" / "speck_nmnist.nir", "speck", variant=board[2],
                        semantics=Semantics.from_options("sinabs", dt=1e-3), options={"dvs": False})
    x = nircc.fidelity.poisson_inputs({"input": (2, 34, 34)}, 100, 1, 0.02, seed=7)["input"][:, 0]
    raster = x.astype(np.int64)
    chip, emu = run_on_chip(board, res, raster), emulated(res, raster)
    agree = 1 - np.abs(chip - emu).sum() / max(1, (chip + emu).sum())
    assert emu.sum() > 0 and agree >= 0.9, (chip.tolist(), emu.tolist())
