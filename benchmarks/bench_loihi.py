"""Loihi backend benchmarks, side by side in one run.

Section ``emulator``: :class:`~nircc.backends.loihi.emulator.LoihiEmulator` on a recurrent
CUBA network -- input(100) -> dense_rec(1000) (input density 0.5, recurrent density 0.1,
mixed 8-bit weights, du = 1000, dv = 200) -- for ``--steps`` steps at batch 1 and 64, next
to the bare numpy matrix products of the same steps (one product per synapse and step, in
the emulator's shapes and dtypes, on the spikes the emulator produced) and their ratio.
Each figure is the best of ``--repeat`` runs.

Sections are functions in :data:`SECTIONS` taking the parsed arguments; further sections
(e.g. compile time with core counts) are added there.

    python benchmarks/bench_loihi.py [--steps 1000] [--repeat 3] [--batch 1 64] [--section emulator]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from nircc.backends.loihi.emulator import LoihiEmulator
from nircc.backends.loihi.program import CubaNeurons, DenseLayer, InputLayer, LoihiProgram, Synapse

N_IN, N_REC = 100, 1000


def recurrent_program(seed: int = 0) -> LoihiProgram:
    rng = np.random.default_rng(seed)

    def weights(n_out: int, n_in: int, density: float, mean: int) -> np.ndarray:
        w = np.clip(rng.normal(mean, 40, (n_out, n_in)), -256, 254).astype(np.int64) // 2 * 2   # mixed: even
        w[rng.random((n_out, n_in)) >= density] = 0
        return w

    neurons = CubaNeurons(du=1000, dv=200, vth=200, bias_mant=np.zeros(N_REC, np.int64))
    return LoihiProgram([InputLayer("in", (N_IN,)),
                         DenseLayer("rec", Synapse(weights(N_REC, N_IN, 0.5, 30)), neurons,
                                    synapse_rec=Synapse(weights(N_REC, N_REC, 0.1, -2)))])


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bare_products(emu: LoihiEmulator, x: np.ndarray, spikes: np.ndarray) -> Callable[[], None]:
    """The emulator's matrix products alone: per step one per synapse, on given spikes."""
    stage = emu.stages[0]
    w_in, w_rec = stage.synapse.matrix, stage.synapse_rec.matrix
    xin, srec = x.astype(w_in.dtype), spikes.astype(w_rec.dtype)

    def run() -> None:
        for t in range(xin.shape[0]):
            xin[t] @ w_in
            srec[t] @ w_rec
    return run


def emulator_section(args: argparse.Namespace) -> None:
    print(f"== emulator: input({N_IN}) -> dense_rec({N_REC}) CUBA, {args.steps} steps, best of {args.repeat}")
    print(f"{'batch':>6}{'rate':>8}{'emulator s':>12}{'products s':>12}{'ratio':>8}")
    emu = LoihiEmulator(recurrent_program())
    for batch in args.batch:
        x = (np.random.default_rng(1).random((args.steps, batch, N_IN)) < 0.05).astype(np.uint8)
        spikes = emu.run(x).outputs["rec"]
        t_emu = best_of(args.repeat, lambda: emu.run(x))
        t_bare = best_of(args.repeat, bare_products(emu, x, spikes))
        print(f"{batch:>6}{float(spikes.mean()):>8.3f}{t_emu:>12.3f}{t_bare:>12.3f}{t_emu / t_bare:>8.2f}")


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"emulator": emulator_section}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--section", choices=sorted(SECTIONS), nargs="+", default=list(SECTIONS))
    args = ap.parse_args(argv)
    for name in args.section:
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
