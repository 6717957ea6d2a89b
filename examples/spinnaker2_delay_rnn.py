"""Write ``spinnaker2_delay_rnn.nir``: a recurrent network that uses what the SpiNNaker2
backend offers beyond a plain chain (deterministic: fixed seed, uncompressed datasets).

    python examples/spinnaker2_delay_rnn.py [OUT_DIR]      (default: the folder of this script)
    nircc examples/spinnaker2_delay_rnn.nir --target spinnaker2 -o out/spinnaker2

Graph (dt = 1 ms, encoded snnTorch-style in ``r = tau/dt`` and ``w_in = tau_syn/dt`` so that
nircc detects it)::

    input (16) -> fc_in (Affine, with bias) -> rec (64 LIF) <-> w_rec (Linear 64x64, self-loop)
    rec -> delay (Delay, 1..4 ms per neuron) -> fc_out (Linear 64 -> 8) -> out (8 CubaLIF) -> spikes
    out -> fc_read (Linear 8 -> 2) -> readout (2 LI) -> membrane read-out

On SpiNNaker2: ``rec`` is ``lif_no_delay`` (its self-loop takes the chip's one step per
projection, as the reference's back edge), the per-neuron delays of ``delay`` go into the
synapse delay field of ``out`` (``lif_curr_exp``, weights in [-15, 15]), ``readout`` is a
``lif_no_delay`` population that never fires and records ``v``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np

DT = 1e-3
F32 = np.float32


def _lif(rng: np.random.Generator, n: int) -> nir.LIF:
    tau = DT / (1.0 - rng.uniform(0.8, 0.95, n))
    return nir.LIF(tau=tau.astype(F32), r=(tau / DT).astype(F32), v_leak=np.zeros(n, F32),
                   v_threshold=np.ones(n, F32), v_reset=np.zeros(n, F32))


def build() -> nir.NIRGraph:
    rng = np.random.default_rng(2)
    tau_syn = np.full(8, DT / (1.0 - 0.6))
    tau_mem = np.full(8, DT / (1.0 - 0.9))
    tau_li = np.full(2, DT / (1.0 - 0.95))
    nodes = {
        "input": nir.Input(input_type=np.array([16])),
        "fc_in": nir.Affine(weight=rng.normal(0.15, 0.4, (64, 16)).astype(F32),
                            bias=rng.normal(0.0, 0.01, 64).astype(F32)),
        "rec": _lif(rng, 64),
        "w_rec": nir.Linear(weight=rng.normal(-0.02, 0.15, (64, 64)).astype(F32)),
        "delay": nir.Delay(delay=(DT * rng.integers(1, 5, 64)).astype(np.float64)),
        "fc_out": nir.Linear(weight=rng.normal(0.0, 0.3, (8, 64)).astype(F32)),
        "out": nir.CubaLIF(tau_syn=tau_syn.astype(F32), tau_mem=tau_mem.astype(F32), r=(tau_mem / DT).astype(F32),
                           v_leak=np.zeros(8, F32), v_threshold=np.ones(8, F32), v_reset=np.zeros(8, F32),
                           w_in=(tau_syn / DT).astype(F32)),
        "fc_read": nir.Linear(weight=rng.normal(0.0, 0.5, (2, 8)).astype(F32)),
        "readout": nir.LI(tau=tau_li.astype(F32), r=(tau_li / DT).astype(F32), v_leak=np.zeros(2, F32)),
        "spikes": nir.Output(output_type=np.array([8])),
        "membrane": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "fc_in"), ("fc_in", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "delay"),
             ("delay", "fc_out"), ("fc_out", "out"), ("out", "spikes"), ("out", "fc_read"), ("fc_read", "readout"),
             ("readout", "membrane")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def main(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "spinnaker2_delay_rnn.nir"
    nir.write(path, build(), compression=None)
    return path


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent))
