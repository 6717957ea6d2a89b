"""Xylo emulator vs the vendor simulator xylosim, side by side, on the largest network.

Network: Xylo Audio 2 at full size (16 inputs, 1000 hidden neurons with 2 synapses,
8 readout neurons), every hidden neuron with exactly ``fanout`` recurrent targets (within
the chip's 64), in two activity regimes of xylo.md §5:

* ``realistic``: fan-out 64, |w| <= 30, thresholds 8k..16k, sparse input
  (about 0.004 hidden spikes per neuron and step);
* ``saturating``: fan-out 32, |w| <= 127, thresholds 0.5k..3k, dense input up to 15
  events (about 6.5 spikes per neuron and step, many synaptic states saturate).

Each runs ``--steps`` steps (default 1000) at batch 1 and batch 64.  xylosim runs one
sample at a time (``reset_all`` + ``evolve``, the way rockpool's XyloSim does), so its
batch-64 time is 64 sequential runs; the emulator runs the batch at once.  Times exclude
building the network (printed separately).  Every emulator output is checked equal to
xylosim's.  Targets (issue 6): emulator / xylosim >= 1 at batch 1 and >= 10 at batch 64.

BLAS runs single-threaded by default (``--threads 1`` sets ``OPENBLAS_NUM_THREADS`` etc.
before numpy loads), like xylosim, so that the comparison is one core against one core
and does not depend on the load of the machine; ``--threads 2`` lets the emulator's
matrix products use two cores.

    python benchmarks/bench_xylo.py [--steps 1000] [--batch 64] [--threads 1]
                                    [--regime realistic saturating]
"""
from __future__ import annotations

import os
import sys


def _threads() -> str:
    """The ``--threads`` value, read before numpy is imported (default 1)."""
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == "--threads" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads()

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from nircc.backends.xylo.emulator import XyloEmulator  # noqa: E402
from nircc.backends.xylo.program import XyloProgram  # noqa: E402
from nircc.backends.xylo.xylosim_bridge import XylosimEmulator  # noqa: E402

REGIMES = {
    # fan-out, max |w|, threshold range, input event probability, max input count
    "realistic": dict(fanout=64, wmax=30, thr=(8000, 16000), rate=0.1, count=3),
    "saturating": dict(fanout=32, wmax=127, thr=(500, 3000), rate=0.3, count=15),
}


def network(rng: np.random.Generator, fanout: int, wmax: int, thr: tuple[int, int],
            n_in: int = 16, n_hid: int = 1000, n_out: int = 8) -> XyloProgram:
    """Random Audio 2 program: ``fanout`` recurrent targets per hidden neuron (syn1 weight,
    half of them also a syn2 weight), half-dense input weights, sparse readout weights."""
    w_rec = np.zeros((n_hid, n_hid, 2), np.int8)
    for i in range(n_hid):
        targets = rng.choice(n_hid, fanout, replace=False)
        w_rec[i, targets, 0] = rng.integers(-wmax, wmax + 1, fanout)
        both = targets[rng.random(fanout) < 0.5]
        w_rec[i, both, 1] = rng.integers(-wmax, wmax + 1, both.size)
    w_in = rng.integers(-wmax, wmax + 1, (n_in, n_hid, 2)) * (rng.random((n_in, n_hid, 2)) < 0.5)
    w_out = rng.integers(-wmax, wmax + 1, (n_hid, n_out)) * (rng.random((n_hid, n_out)) < fanout / n_hid)
    return XyloProgram(
        w_in, w_rec, w_out,
        dash_mem=rng.integers(2, 7, n_hid), dash_syn=rng.integers(2, 7, n_hid),
        dash_syn2=rng.integers(2, 7, n_hid), dash_mem_out=np.full(n_out, 4), dash_syn_out=np.full(n_out, 3),
        threshold=rng.integers(thr[0], thr[1], n_hid), threshold_out=rng.integers(thr[0], thr[1], n_out))


def inputs(rng: np.random.Generator, steps: int, batch: int, rate: float, count: int) -> np.ndarray:
    return rng.integers(1, count + 1, (steps, batch, 16)) * (rng.random((steps, batch, 16)) < rate)


def time_xylosim(sim: XylosimEmulator, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds for ``reset_all`` + ``evolve`` of every sample (lists prepared beforehand)."""
    lists = [x[:, b, :].tolist() for b in range(x.shape[1])]
    outs = []
    t0 = time.perf_counter()
    for sample in lists:
        sim.layer.reset_all()
        outs.append(sim.layer.evolve(sample))
    seconds = time.perf_counter() - t0
    return seconds, np.stack([np.asarray(o, np.int32) for o in outs], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--regime", nargs="+", choices=sorted(REGIMES), default=list(REGIMES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads of the emulator (default 1)")
    args = ap.parse_args()

    print(f"Xylo Audio 2, 16 in / 1000 hidden / 8 out, {args.steps} steps, BLAS threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}")
    header = (f"{'regime':<11} {'batch':>5} {'spikes/n/step':>13} {'xylosim s':>10} {'emulator s':>10} "
              f"{'ratio':>7} {'target':>6} {'ok':>3} {'exact':>5}")
    print(header)
    print("-" * len(header))
    for name in args.regime:
        cfg = REGIMES[name]
        rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        program = network(rng, cfg["fanout"], cfg["wmax"], cfg["thr"])
        t1 = time.perf_counter()
        emu = XyloEmulator(program)
        t2 = time.perf_counter()
        sim = XylosimEmulator(program)
        t3 = time.perf_counter()
        x_all = inputs(rng, args.steps, args.batch, cfg["rate"], cfg["count"])
        for batch, target in ((1, 1.0), (args.batch, 10.0)):
            x = x_all[:, :batch]
            t_sim, ref = time_xylosim(sim, x)
            s0 = time.perf_counter()
            res = emu.run(x, record=(batch == 1))
            t_emu = time.perf_counter() - s0
            exact = np.array_equal(res.outputs["readout"], ref)
            activity = float(res.states["Spikes"].mean()) if batch == 1 else float("nan")
            ratio = t_sim / t_emu
            act = f"{activity:.4f}" if batch == 1 else ""
            print(f"{name:<11} {batch:>5} {act:>13} {t_sim:>10.3f} {t_emu:>10.3f} {ratio:>7.2f} "
                  f"{target:>6.0f} {'yes' if ratio >= target else 'NO':>3} {'yes' if exact else 'NO':>5}")
        print(f"{'':<11} build: program {t1 - t0:.2f} s, emulator {t2 - t1:.2f} s, xylosim layer {t3 - t2:.2f} s")


if __name__ == "__main__":
    main()
