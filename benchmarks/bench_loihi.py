"""Loihi backend benchmarks, side by side in one run.

Section ``emulator``: :class:`~nircc.backends.loihi.emulator.LoihiEmulator` on a recurrent
CUBA network -- input(100) -> dense_rec(1000) (input density 0.5, recurrent density 0.1,
mixed 8-bit weights, du = 1000, dv = 200) -- for ``--steps`` steps at batch 1 and 64, next
to the bare numpy matrix products of the same steps (one product per synapse and step, in
the emulator's shapes and dtypes, on the spikes the emulator produced) and their ratio.
Each figure is the best of ``--repeat`` runs.

Section ``compile``: ``nircc.compile`` (load, passes, lowering, quantization with the netx
weight checks, neurocore partitioning) of two ~100k-neuron networks on the ``kapoho_point``
variant (8 chips x 128 neurocores; the report says how many chips the network needs), and
``save`` (the netx ``.net`` file and the program JSON): ``dense`` -- 200 inputs -> 100,000 LIF
(25 %-dense Linear, 5 M synapses; a netx chain ends in one layer, so the wide layer is the
output) -- and ``conv`` -- (2, 64, 64) -> Conv 3x3 8
LIF -> Conv 3x3 16 IF -> SumPool 4 -> Conv 3x3 16 IF -> SumPool 2 -> Affine 256 LIF -> 10 LIF
(102,666 neurons; the pools fold into the next conv and the dense matrix).  It prints the
best compile time of ``--repeat`` runs, the neurocores and chips used against the mapper's
lower bound, the fullest core and the artifact size.

Sections are functions in :data:`SECTIONS` taking the parsed arguments.

    python benchmarks/bench_loihi.py [--steps 1000] [--repeat 3] [--batch 1 64] [--section emulator compile]
"""
from __future__ import annotations

import argparse
from typing import Callable

import nir
import numpy as np

from _bench import best_of, compile_and_save, run_sections
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


F32 = np.float32


def _lif(shape: tuple, tau: float = 0.01) -> nir.LIF:
    return nir.LIF(tau=np.full(shape, tau, F32), r=np.full(shape, tau / 1e-3, F32), v_leak=np.zeros(shape, F32),
                   v_threshold=np.ones(shape, F32), v_reset=np.zeros(shape, F32))


def _if(shape: tuple) -> nir.IF:
    return nir.IF(r=np.full(shape, 1000.0, F32), v_threshold=np.ones(shape, F32), v_reset=np.zeros(shape, F32))


def _chain(nodes: dict) -> nir.NIRGraph:
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def dense_network(seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    n = 100_000
    w = (rng.normal(0.2, 0.5, (n, 200)) * (rng.random((n, 200)) < 0.25)).astype(F32)
    return _chain({"input": nir.Input(np.array([200])), "fc": nir.Linear(weight=w), "hidden": _lif((n,)),
                   "output": nir.Output(np.array([n]))})


def conv_network(seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)

    def conv(c_out: int, c_in: int, size: int) -> nir.Conv2d:
        return nir.Conv2d(input_shape=(size, size), weight=rng.normal(0.05, 0.3, (c_out, c_in, 3, 3)).astype(F32),
                          stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(c_out, F32))

    def pool(k: int) -> nir.SumPool2d:
        return nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]), padding=np.array([0, 0]))

    return _chain({"input": nir.Input(np.array([2, 64, 64])), "c1": conv(8, 2, 64), "n1": _lif((8, 64, 64)),
                   "c2": conv(16, 8, 64), "n2": _if((16, 64, 64)), "p2": pool(4), "c3": conv(16, 16, 16),
                   "n3": _if((16, 16, 16)), "p3": pool(2),
                   "flat": nir.Flatten(input_type={"input": np.array([16, 8, 8])}),
                   "fc4": nir.Affine(weight=rng.normal(0.0, 0.1, (256, 1024)).astype(F32), bias=np.zeros(256, F32)),
                   "n4": _lif((256,)), "fc5": nir.Linear(weight=rng.normal(0.0, 0.2, (10, 256)).astype(F32)),
                   "n5": _lif((10,)), "output": nir.Output(np.array([10]))})


def compile_section(args: argparse.Namespace) -> None:
    print(f"== compile: 100k-neuron networks on kapoho_point (8 chips x 128 neurocores), best of {args.repeat}")
    print(f"{'network':<8}{'neurons':>9}{'synapses':>11}{'compile s':>11}{'cores':>7}{'bound':>7}{'chips':>7}"
          f"{'fullest core':>14}{'save s':>8}{'artifact MB':>13}")
    for name, build in (("dense", dense_network), ("conv", conv_network)):
        g = build()
        res, t_compile, t_save, size = compile_and_save(g, "loihi", args.repeat, variant="kapoho_point", dt=1e-3)
        r = res.report["resources"]
        print(f"{name:<8}{r['neurons']:>9}{r['synapses']:>11}{t_compile:>11.2f}{r['cores_used']:>7}"
              f"{r['lower_bound']:>7}{r['chips_used']:>7}{r['max_core_utilization']:>14.0%}{t_save:>8.2f}"
              f"{size:>13.1f}")


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"emulator": emulator_section, "compile": compile_section}


def main(argv: list[str] | None = None) -> None:
    run_sections(__doc__, SECTIONS, argv)


if __name__ == "__main__":
    main()
