"""The plumbing of hw_tests/test_xylo_hw.py (and of the loader docs/targets/xylo.md shows)
against stand-ins of samna and rockpool: rockpool's ``config_from_specification`` is
replaced by one that rebuilds the program from exactly the keyword arguments the artifact
gives it, and ``XyloSamna`` runs that program on xylosim.  So the artifact, read as the
docs say, carries the whole configuration, and the hardware tests' comparison is sound."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import nircc
from nircc.backends.xylo.program import XyloProgram

ROOT = Path(__file__).resolve().parent.parent


def _load_hw_module():
    spec = importlib.util.spec_from_file_location("xylo_hw", ROOT / "hw_tests" / "test_xylo_hw.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def fake_board(monkeypatch):
    pytest.importorskip("xylosim")
    from nircc.backends.xylo.xylosim_bridge import XylosimEmulator

    def config_from_specification(weights_in, weights_out, weights_rec, dash_mem, dash_mem_out, dash_syn,
                                  dash_syn_2, dash_syn_out, threshold, threshold_out, weight_shift_in=0,
                                  weight_shift_rec=0, weight_shift_out=0, bias=None, bias_out=None):
        prog = XyloProgram(weights_in=weights_in, weights_rec=weights_rec, weights_out=weights_out,
                           dash_mem=dash_mem, dash_syn=dash_syn, dash_syn2=dash_syn_2, dash_mem_out=dash_mem_out,
                           dash_syn_out=dash_syn_out, threshold=threshold, threshold_out=threshold_out, bias=bias,
                           bias_out=bias_out, weight_shift_in=weight_shift_in, weight_shift_rec=weight_shift_rec,
                           weight_shift_out=weight_shift_out, bias_enable=bias is not None)
        return prog, True, ""

    class XyloSamna:
        def __init__(self, hdk, config, dt, output_mode):
            assert hdk == "hdk0" and output_mode == "Spike"
            self.config = config

        def __call__(self, x, record=False):
            res = XylosimEmulator(self.config).run(np.asarray(x)[:, None, :], record=record)
            rec = {k: v[:, 0] for k, v in res.states.items()}
            return res.outputs["readout"][:, 0], {}, rec

    xylo = types.ModuleType("rockpool.devices.xylo")
    xylo.find_xylo_hdks = lambda: (["hdk0"], [None], ["syns61201"])
    pkg = types.ModuleType("rockpool.devices.xylo.syns61201")
    pkg.config_from_specification = config_from_specification
    pkg.XyloSamna = XyloSamna
    for name, mod in (("samna", types.ModuleType("samna")), ("rockpool", types.ModuleType("rockpool")),
                      ("rockpool.devices", types.ModuleType("rockpool.devices")), ("rockpool.devices.xylo", xylo),
                      ("rockpool.devices.xylo.syns61201", pkg)):
        monkeypatch.setitem(sys.modules, name, mod)
    return "hdk0", "syns61201", "audio2"


def test_hw_check_passes_on_an_exact_board(fake_board, tmp_path):
    hw = _load_hw_module()
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo")
    hw.check(fake_board, res, tmp_path)          # raises on any difference


def test_hw_check_catches_a_wrong_board(fake_board, tmp_path, monkeypatch):
    """A board configured with one threshold off must fail the comparison."""
    hw = _load_hw_module()
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo")
    pkg = sys.modules["rockpool.devices.xylo.syns61201"]
    right = pkg.config_from_specification

    def off_by_one(**kw):
        kw["threshold"] = kw["threshold"] - 200
        return right(**kw)

    monkeypatch.setattr(pkg, "config_from_specification", off_by_one)
    with pytest.raises(AssertionError):
        hw.check(fake_board, res, tmp_path)


def test_hw_two_hidden_layers_on_an_exact_board(fake_board, tmp_path):
    """The hardware test's two-layer net (lags 1 and 2, recurrence) passes on an exact board
    and is active: its readout fires."""
    hw = _load_hw_module()
    res = nircc.compile(hw.two_hidden_layers(), "xylo", dt=1e-3, semantics="rockpool")
    assert res.target.latency(res.program) == {"out": 2}
    hw.check(fake_board, res, tmp_path)
    x = next(iter(res.probe_inputs(200, batch=1, rate=0.1, seed=0).values()))
    assert res.emulate(x).outputs["out"].sum() > 0
