"""SpiNNaker2 backend benchmarks, side by side in one run.

Section ``emulator``: :class:`~nircc.backends.spinnaker2.emulator.S2Emulator` on a recurrent
network -- spike_list(100) -> 1000 neurons (input density 0.5, recurrent density 0.1,
integer weights in [-127, 127]) -- for ``lif_no_delay`` and ``lif_curr_exp_no_delay``, 1000
steps, batch 1 and 64, next to the bare float32 matrix products of the same steps (one
product per projection and synapse type, the emulator's shapes and dtypes, on the spikes
the emulator produced) and their ratio.  Each figure is the best of ``--repeat`` runs.

Section ``compile``: ``nircc.compile`` (load, passes, lowering, quantization, PE
partitioning) of two 100k-neuron networks on the ``board48`` variant, and ``save`` (JSON +
npz): ``dense`` -- 10 populations of 10,000 LIF, each driven by a 200-neuron input through
a 25 %-dense Linear (5 M synapses; the NIR file's dense matrices are 80 MB of float32) --
and ``conv`` -- a chain of 10 Conv2d 3x3 layers of 16 x 25 x 25 = 10,000 IF neurons each.
It prints the best compile time of ``--repeat`` runs, the PEs and chips used against the
mapper's lower bound, the fullest PE and the artifact size.

Sections are functions in :data:`SECTIONS` taking the parsed arguments.

    python benchmarks/bench_spinnaker2.py [--steps 1000] [--repeat 3] [--batch 1 64] [--section emulator compile]
"""
from __future__ import annotations

import argparse
from typing import Callable

import nir
import numpy as np

from _bench import best_of, compile_and_save, run_sections
from nircc.backends.spinnaker2.emulator import S2Emulator
from nircc.backends.spinnaker2.program import ListProjection, Population, S2Program

N_IN, N_REC = 100, 1000
MODELS = ("lif_no_delay", "lif_curr_exp_no_delay")


def recurrent_program(model: str, steps: int, seed: int = 0) -> S2Program:
    rng = np.random.default_rng(seed)
    params = {"threshold": rng.uniform(200, 400, N_REC).astype(np.float32), "alpha_decay": 0.95,
              "i_offset": 0.0, "v_reset": 0.0, "reset": "reset_by_subtraction"}
    if model.startswith("lif_curr_exp"):
        params.update(exc_decay=0.8, inh_decay=0.8, t_refrac=0)

    def conns(n_pre: int, density: float, mean: float) -> np.ndarray:
        pre, post = np.nonzero(rng.random((n_pre, N_REC)) < density)
        w = np.clip(np.rint(rng.normal(mean, 40, pre.size)), -127, 127).astype(np.int64)
        return np.stack([pre, post, w, np.zeros_like(pre)], 1)

    return S2Program(
        populations=[Population("in", "spike_list", N_IN, {}),
                     Population("rec", model, N_REC, params, record=["spikes"])],
        projections=[ListProjection("in_rec", "in", "rec", conns(N_IN, 0.5, 15)),
                     ListProjection("rec_rec", "rec", "rec", conns(N_REC, 0.1, -2))],
        timesteps=steps)


def bare_products(emu: S2Emulator, spikes: dict[str, np.ndarray]) -> Callable[[], None]:
    """The emulator's matrix products alone: per step, one per dense path, on given spikes."""
    mats = [(p.pre, p.dense) for p in emu.paths]
    rasters = {name: s.astype(np.float32) for name, s in spikes.items()}
    steps = next(iter(rasters.values())).shape[0]

    def run() -> None:
        for t in range(steps):
            for pre, m in mats:
                rasters[pre][t] @ m
    return run


def emulator_section(args: argparse.Namespace) -> None:
    print(f"== emulator: spike_list({N_IN}) -> {N_REC} recurrent neurons, {args.steps} steps, "
          f"best of {args.repeat}")
    print(f"{'model':<24}{'batch':>6}{'rate':>8}{'emulator s':>12}{'products s':>12}{'ratio':>8}")
    for model in MODELS:
        prog = recurrent_program(model, args.steps)
        emu = S2Emulator(prog)
        assert all(p.dense is not None for p in emu.paths)
        for batch in args.batch:
            rng = np.random.default_rng(1)
            x = (rng.random((args.steps, batch, N_IN)) < 0.05).astype(np.uint8)
            result = emu.run(x)
            rate = float(result.outputs["rec"].mean())
            t_emu = best_of(args.repeat, lambda: emu.run(x))
            t_bare = best_of(args.repeat, bare_products(emu, {"in": x, "rec": result.outputs["rec"]}))
            print(f"{model:<24}{batch:>6}{rate:>8.3f}{t_emu:>12.3f}{t_bare:>12.3f}{t_emu / t_bare:>8.2f}")


def dense_network(pops: int = 10, size: int = 10_000, n_in: int = 200, density: float = 0.25,
                  seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    one = np.ones(size, np.float32)
    nodes: dict = {"in": nir.Input(np.array([n_in]))}
    edges = []
    for k in range(pops):
        w = (rng.random((size, n_in)) < density) * rng.normal(0, 1, (size, n_in))
        nodes[f"w{k}"] = nir.Linear(weight=w.astype(np.float32))
        nodes[f"lif{k}"] = nir.LIF(tau=one * 0.02, r=one, v_leak=0 * one, v_threshold=one, v_reset=0 * one)
        nodes[f"out{k}"] = nir.Output(np.array([size]))
        edges += [("in", f"w{k}"), (f"w{k}", f"lif{k}"), (f"lif{k}", f"out{k}")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def conv_network(layers: int = 10, channels: int = 16, side: int = 25, seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    shape = (channels, side, side)
    nodes: dict = {"in": nir.Input(np.array([2, side, side]))}
    edges, prev, c_in = [], "in", 2
    for k in range(layers):
        nodes[f"c{k}"] = nir.Conv2d(input_shape=(side, side), weight=rng.normal(0, 0.3, (channels, c_in, 3, 3)).astype(
            np.float32), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(channels, np.float32))
        nodes[f"if{k}"] = nir.IF(r=np.ones(shape, np.float32), v_threshold=np.ones(shape, np.float32),
                                 v_reset=np.zeros(shape, np.float32))
        edges += [(prev, f"c{k}"), (f"c{k}", f"if{k}")]
        prev, c_in = f"if{k}", channels
    nodes["out"] = nir.Output(np.array(shape))
    edges.append((prev, "out"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def compile_section(args: argparse.Namespace) -> None:
    print(f"== compile: 100k-neuron networks on board48 (48 chips x 148 PEs), best of {args.repeat}")
    print(f"{'network':<8}{'neurons':>9}{'list syn':>11}{'compile s':>11}{'PEs':>6}{'bound':>7}{'chips':>7}"
          f"{'fullest PE':>12}{'save s':>8}{'artifact MB':>13}")
    for name, build in (("dense", dense_network), ("conv", conv_network)):
        g = build()
        res, t_compile, t_save, size = compile_and_save(g, "spinnaker2", args.repeat, variant="board48", dt=1e-3)
        r = res.report["resources"]
        print(f"{name:<8}{r['neurons']:>9}{r['synapses']:>11}{t_compile:>11.2f}{r['pes_used']:>6}{r['lower_bound']:>7}"
              f"{r['chips_used']:>7}{r['max_pe_utilization']:>12.0%}{t_save:>8.2f}{size:>13.1f}")


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"emulator": emulator_section, "compile": compile_section}


def main(argv: list[str] | None = None) -> None:
    run_sections(__doc__, SECTIONS, argv)


if __name__ == "__main__":
    main()
