"""Speed of the reference simulator against the bare numpy matrix products it must do.

Network: Input(100) -> Affine(1000x100) -> CubaLIF(1000) with a recurrent Affine
(1000x1000) -> Affine(10x1000) -> LI(10) -> Output, 1000 steps of dt = 1 ms.  For batch 1
and batch 64 it prints, side by side in one run, the simulator's time (``nircc.sim.simulate``,
no recording) and the time of the three float64 matrix products per step alone
(``x @ W_in.T``, ``s @ W_rec.T``, ``s @ W_out.T`` on preallocated operands), and their ratio.
Target: ratio <= 2 (at least at batch 64).  Each figure is the best of ``--repeat`` runs.

    python benchmarks/bench_sim.py [--steps 1000] [--repeat 3] [--batch 1 64]
"""
from __future__ import annotations

import argparse
import time

import nir
import numpy as np

import nircc
from nircc.semantics import Semantics
from nircc.sim import simulate

N_IN, N_HID, N_OUT = 100, 1000, 10


def network(seed: int = 0) -> tuple[nircc.Graph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    w_in = rng.normal(0.1, 2.0 / np.sqrt(N_IN), (N_HID, N_IN))
    w_rec = rng.normal(0, 0.5 / np.sqrt(N_HID), (N_HID, N_HID))
    w_out = rng.normal(0, 1.0 / np.sqrt(N_HID), (N_OUT, N_HID))
    ones = np.ones(N_HID)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([N_IN])}),
        "fc_in": nir.Affine(weight=w_in, bias=np.zeros(N_HID)),
        "lif": nir.CubaLIF(tau_syn=5e-3 * ones, tau_mem=1e-2 * ones, r=ones, v_leak=0 * ones,
                           v_threshold=ones, v_reset=0 * ones, w_in=ones),
        "w_rec": nir.Affine(weight=w_rec, bias=np.zeros(N_HID)),
        "fc_out": nir.Affine(weight=w_out, bias=np.zeros(N_OUT)),
        "li": nir.LI(tau=2e-2 * np.ones(N_OUT), r=np.ones(N_OUT), v_leak=np.zeros(N_OUT)),
        "output": nir.Output(output_type={"output": np.array([N_OUT])}),
    }
    edges = [("input", "fc_in"), ("fc_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
             ("lif", "fc_out"), ("fc_out", "li"), ("li", "output")]
    g = nircc.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return g, {"w_in": w_in, "w_rec": w_rec, "w_out": w_out}


def bare_products(weights: dict, x: np.ndarray, spikes: np.ndarray) -> float:
    """Seconds for the matrix products alone, same shapes and dtypes as the simulator's."""
    w_in_t = np.ascontiguousarray(weights["w_in"].T)
    w_rec_t = np.ascontiguousarray(weights["w_rec"].T)
    w_out_t = np.ascontiguousarray(weights["w_out"].T)
    t0 = time.perf_counter()
    for t in range(x.shape[0]):
        x[t] @ w_in_t
        spikes[t] @ w_rec_t
        spikes[t] @ w_out_t
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    args = ap.parse_args(argv)
    g, weights = network()
    sem = Semantics(dt=1e-3)
    rng = np.random.default_rng(1)
    print(f"recurrent CubaLIF {N_IN} -> {N_HID} (rec {N_HID}x{N_HID}) -> LI {N_OUT}, {args.steps} steps, "
          f"best of {args.repeat}")
    print(f"{'batch':>5}  {'simulator s':>11}  {'bare matmul s':>13}  {'ratio':>6}  {'spikes/step/neuron':>18}")
    for batch in args.batch:
        x = (rng.random((args.steps, batch, N_IN)) < 0.2).astype(np.float64)
        # the spikes the products see: those of the simulated network (recorded, untimed)
        spikes = simulate(g, x, semantics=sem, record=["lif"]).states["lif"]["output"]
        rate = float(spikes.mean())
        sim_times, bare_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            simulate(g, x, semantics=sem)
            sim_times.append(time.perf_counter() - t0)
            bare_times.append(bare_products(weights, x, spikes))
        s, b = min(sim_times), min(bare_times)
        print(f"{batch:>5}  {s:>11.3f}  {b:>13.3f}  {s / b:>6.2f}  {rate:>18.3f}")


if __name__ == "__main__":
    main()
