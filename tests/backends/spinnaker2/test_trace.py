"""The NIR paper's py-spinnaker2 trace of the single-LIF task, reproduced by S2Emulator.

Source: neuromorphs/NIR @7232ada ``paper/01_lif/lif_spinnaker2.py`` (copied here as
``tests/data/nir_paper/lif_spinnaker2.csv``).  The script reads ``lif_norse.nir``
(Input -> Affine "0" (w = 1, b = 0) -> LIF "1" (tau = 2.5 ms, r = 1, v_leak = 0,
v_threshold = 0.1, v_reset = 0) -> Output), multiplies the Affine weight and bias and the
LIF threshold by ``scale = 102.02``, converts with s2_nir (dt = 1e-4, FORWARD Euler,
conn_delay = 0, reset ZERO, scale_weights = False), runs ``len(d) + 1 = 1001`` steps on
the Brian2 backend and saves ``d`` (input spikes), ``voltages[0][1:] / scale`` and
``spikes[1:]``.

The program the lowering must produce from ``lif_norse.nir`` (here built by hand; nircc
applies the paper's 102.02 as the population's weight scale ``w_scale``, which is what the
script's manual pre-scaling amounts to)::

    population "input": spike_list, size 1, params {0: [steps of d]}
    population "1":     lif_no_delay, size 1, record ["spikes", "v"]
        every operation in float32 (as s2_nir on the float32 arrays of the file):
        h           = dt / tau                             (0.04)
        alpha_decay = 1 - h                                (0.96 -> 0.9599999785)
        v_scale     = 1 / (h * r)                          (25.0)
        scale       = v_scale * w_scale                    (s2_nir's pop.nir_v_scale)
        threshold   = v_threshold * scale                  (255.04999)
        i_offset    = h * v_leak * scale + bias * w_scale  (0)
        v_reset     = v_reset * scale                      (0; s2_nir leaves py-spinnaker2's 0)
        reset       = "reset_to_v_reset"                   (ResetMethod.ZERO)
        nir         = {node: "1", v_scale: [25.0], w_scale: 102.02}
    projection "0": list, "input" -> "1", [[0, 0, round(w * w_scale) = 102, conn_delay = 0]]
    timesteps = 1001, model_dt_s = 1e-4

Row ``i`` of the CSV is step ``i + 1`` of the run.  The CSV holds Brian2's float64 run
(a float64 replay of these very float32 parameters reproduces it to 1e-15); the chip and
the emulator compute in float32, so the voltages agree to float32 precision.
"""
from __future__ import annotations


import nir
import numpy as np
import pytest

from nircc.backends.spinnaker2.emulator import S2Emulator
from nircc.backends.spinnaker2.program import (ListProjection, NirProvenance, Population, S2Program,
                                               spike_list_from_raster)
from tests import paths

DATA = paths.PAPER
F32 = np.float32
DT = 1e-4
W_SCALE = 102.02        # the paper's scale


@pytest.fixture(scope="module")
def csv() -> np.ndarray:
    return np.loadtxt(DATA / "lif_spinnaker2.csv", delimiter=",")


def paper_program(d: np.ndarray) -> S2Program:
    """The program of the module docstring, from lif_norse.nir's parameters."""
    g = nir.read(DATA / "lif_norse.nir")
    lif, aff = g.nodes["1"], g.nodes["0"]
    tau, r = lif.tau.astype(F32), lif.r.astype(F32)
    h = F32(DT) / tau
    v_scale = F32(1) / (h * r)
    scale = v_scale * F32(W_SCALE)
    params = {
        "alpha_decay": F32(1) - h,
        "threshold": lif.v_threshold.astype(F32) * scale,
        "i_offset": h * lif.v_leak.astype(F32) * scale + aff.bias.astype(F32) * F32(W_SCALE),
        "v_reset": lif.v_reset.astype(F32) * scale,
        "reset": "reset_to_v_reset",
    }
    assert all(v.dtype == F32 for k, v in params.items() if k != "reset")
    weight = np.rint(aff.weight.T * W_SCALE).astype(np.int64)          # [pre, post]
    pre, post = np.nonzero(weight)
    conns = np.stack([pre, post, weight[pre, post], np.zeros_like(pre)], 1)
    steps = np.append(d, 0)[:, None]                                   # 1001 steps, last one empty
    return S2Program(
        populations=[Population("input", "spike_list", 1, spike_list_from_raster(steps)),
                     Population("1", "lif_no_delay", 1, params, record=["spikes", "v"],
                                nir=NirProvenance("1", v_scale, W_SCALE))],
        projections=[ListProjection("0", "input", "1", conns)],
        timesteps=len(d) + 1, model_dt_s=DT)


def test_program_parameters(csv):
    p = paper_program(csv[:, 0])
    prm = p.population("1").params
    assert prm["alpha_decay"][0] == F32(0.96)
    assert prm["threshold"][0] == F32(255.05)
    assert prm["i_offset"][0] == 0 and prm["v_reset"][0] == 0
    assert p.projections[0].connections.tolist() == [[0, 0, 102, 0]]
    assert p.population("1").nir.v_scale[0] == 25.0
    p.validate()


def test_spike_steps_identical(csv):
    res = S2Emulator(paper_program(csv[:, 0])).run()
    spikes = res.outputs["1"][:, 0, 0]
    assert spikes.shape == (1001,)
    np.testing.assert_array_equal(spikes[1:], csv[:, 2])
    np.testing.assert_array_equal(np.nonzero(spikes)[0], [461, 511, 711, 761])


def test_voltage_equal_to_float32_precision(csv):
    res = S2Emulator(paper_program(csv[:, 0])).run()
    v = res.states["1/v"][1:, 0, 0]
    assert v.dtype == F32
    ref = csv[:, 1]
    # the first input arrives: v jumps to exactly the integer weight
    assert v[60] == F32(102) and v[59] == 0
    # once divided by the weight scale: within float32 precision of the CSV
    err = np.abs(v / W_SCALE - ref)
    assert err.max() < 4e-7                                   # ~2 float32 ulps at the peak 2.5
    nz = ref != 0
    assert np.all(err[~nz] == 0)
    assert np.max(err[nz] / np.abs(ref[nz])) < 8 * np.finfo(F32).eps
    # chip units: at most 2 float32 ulps at the largest voltage (255)
    assert np.max(np.abs(v.astype(np.float64) - ref * W_SCALE)) <= 2 * np.spacing(F32(255))


def test_csv_is_a_float64_run_of_the_same_parameters(csv):
    """Why the tolerance above is float32 precision: replaying the program's (float32)
    parameters in float64 reproduces the CSV to rounding of the final division."""
    p = paper_program(csv[:, 0])
    prm = p.population("1").params
    alpha, thr = float(prm["alpha_decay"][0]), float(prm["threshold"][0])
    w = float(p.projections[0].connections[0, 2])
    v, out = 0.0, []
    arriving = np.concatenate([[0.0], csv[:, 0]])
    for t in range(1001):
        v = alpha * v + w * arriving[t]
        if v > thr:
            v = 0.0
        out.append(v)
    np.testing.assert_allclose(np.array(out[1:]) / W_SCALE, csv[:, 1], rtol=1e-14, atol=1e-15)
