"""Build the example models of ``examples/`` with ``nir`` (deterministic: fixed seeds, and
``nir.write`` produces the same bytes for the same graph).

    python examples/make_examples.py [OUT_DIR]      (default: the folder of this script)

Datasets are stored uncompressed (gzip chunks cost more than they save on arrays this small).

* ``tiny_lif.nir``: feed-forward, 4 inputs -> Affine -> 8 LIF -> Linear -> 2 LIF.
* ``braille_rnn.nir``: the shape of the NIR paper's Braille task (snnTorch RSynaptic
  export): 12 inputs -> Affine -> 38 CubaLIF with a recurrent Linear 38x38 -> Affine ->
  7 CubaLIF outputs.  Weights are random with the spread of trained ones (seed 12);
  the neuron parameters follow snnTorch's export rules with dt = 1e-4 s
  (tau = dt / (1 - decay), r = tau_mem / dt, w_in = tau_syn / dt), decays drawn per
  neuron.

All arrays are float32, as exported from PyTorch; shapes carry no batch axis.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np

DT = 1e-4  # s, the time step the neuron parameters are derived for
F32 = np.float32


def _lif(rng: np.random.Generator, n: int) -> nir.LIF:
    beta = rng.uniform(0.85, 0.95, n)
    tau = DT / (1.0 - beta)
    return nir.LIF(tau=tau.astype(F32), r=(tau / DT).astype(F32), v_leak=np.zeros(n, F32),
                   v_threshold=np.ones(n, F32), v_reset=np.zeros(n, F32))


def _cuba_lif(rng: np.random.Generator, n: int) -> nir.CubaLIF:
    alpha, beta = rng.uniform(0.5, 0.7, n), rng.uniform(0.85, 0.95, n)
    tau_syn, tau_mem = DT / (1.0 - alpha), DT / (1.0 - beta)
    return nir.CubaLIF(tau_syn=tau_syn.astype(F32), tau_mem=tau_mem.astype(F32), r=(tau_mem / DT).astype(F32),
                       v_leak=np.zeros(n, F32), v_threshold=np.ones(n, F32), v_reset=np.zeros(n, F32),
                       w_in=(tau_syn / DT).astype(F32))


def _weights(rng: np.random.Generator, n_out: int, n_in: int, mean: float, std: float) -> np.ndarray:
    """Laplace-distributed weights (trained weights have heavier tails than a Gaussian)."""
    return rng.laplace(mean, std / np.sqrt(2.0), (n_out, n_in)).astype(F32)


def tiny_lif() -> nir.NIRGraph:
    rng = np.random.default_rng(4)
    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "fc1": nir.Affine(weight=_weights(rng, 8, 4, 0.2, 0.5), bias=rng.normal(0.0, 0.05, 8).astype(F32)),
        "lif1": _lif(rng, 8),
        "fc2": nir.Linear(weight=_weights(rng, 2, 8, 0.1, 0.5)),
        "lif2": _lif(rng, 2),
        "output": nir.Output(output_type=np.array([2])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])))


def braille_rnn() -> nir.NIRGraph:
    rng = np.random.default_rng(12)
    nodes = {
        "input": nir.Input(input_type=np.array([12])),
        "fc1": nir.Affine(weight=_weights(rng, 38, 12, -0.45, 0.6), bias=np.zeros(38, F32)),
        "lif1": _cuba_lif(rng, 38),
        "w_rec": nir.Linear(weight=_weights(rng, 38, 38, -0.3, 0.9)),
        "fc2": nir.Affine(weight=_weights(rng, 7, 38, -0.04, 0.6), bias=np.zeros(7, F32)),
        "lif2": _cuba_lif(rng, 7),
        "output": nir.Output(output_type=np.array([7])),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "w_rec"), ("w_rec", "lif1"), ("lif1", "fc2"),
             ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


EXAMPLES = {"tiny_lif.nir": tiny_lif, "braille_rnn.nir": braille_rnn}


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, build in EXAMPLES.items():
        nir.write(out_dir / name, build(), compression=None)
        print(out_dir / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
