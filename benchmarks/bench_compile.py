"""Compile-pipeline time for synthetic graphs of 10k, 100k and 1M synapses, side by side.

Pipeline: ``PassManager([infer_shapes, canonicalize, fuse_affine, QuantizeWeights()])``
(int8 weights, int16 biases, one gain per node), with graph validation after every pass,
as a target runs it.  The graph: ``Input(W)`` then ``blocks`` blocks of width ``W`` (64)::

    prev -> Linear -> Scale -> Affine -> CubaLIF      (canonicalize folds the Scale,
    prev -> Linear ----------------------^            fuse_affine fuses the chain and
    CubaLIF -> Linear -> CubaLIF (every other block)  sums the parallel branch)

so every pass has work proportional to the size; the number of blocks grows with the
synapse count (synapses = entries of the Affine/Linear weights before the passes).
Prints per-pass milliseconds (pass + its validation), the total, microseconds per 1k
synapses (constant when growth is linear) and the target: 1M synapses in under 1 s.
Each figure is the best of ``--repeat`` runs.

    python benchmarks/bench_compile.py [--sizes 10000 100000 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import nir
import numpy as np

import nircc
from nircc.passes import PassManager, QuantizeWeights, canonicalize, fuse_affine, infer_shapes

WIDTH = 64
PER_BLOCK = 3 * WIDTH * WIDTH + WIDTH * WIDTH // 2  # three matrices, a recurrent one every other block


def synthetic(synapses: int, seed: int = 0) -> tuple[nircc.Graph, int]:
    """The benchmark graph with about ``synapses`` weights; returns it and the exact count."""
    rng = np.random.default_rng(seed)
    w = WIDTH
    blocks = max(1, round(synapses / PER_BLOCK))
    ones = np.ones(w)
    nodes: dict = {"in": nir.Input(input_type={"input": np.array([w])})}
    edges: list = []
    prev = "in"
    count = 0

    def mat() -> np.ndarray:
        return rng.normal(0, 1 / np.sqrt(w), (w, w)).astype(np.float32)

    for b in range(blocks):
        n = f"lif{b}"
        nodes[f"lin{b}"] = nir.Linear(weight=mat())
        nodes[f"sc{b}"] = nir.Scale(scale=rng.uniform(0.5, 1.5, w).astype(np.float32))
        nodes[f"aff{b}"] = nir.Affine(weight=mat(), bias=np.zeros(w, np.float32))
        nodes[f"par{b}"] = nir.Linear(weight=mat())
        nodes[n] = nir.CubaLIF(tau_syn=5e-3 * ones, tau_mem=1e-2 * ones, r=ones, v_leak=0 * ones,
                               v_threshold=ones, v_reset=0 * ones, w_in=ones)
        edges += [(prev, f"lin{b}"), (f"lin{b}", f"sc{b}"), (f"sc{b}", f"aff{b}"), (f"aff{b}", n),
                  (prev, f"par{b}"), (f"par{b}", n)]
        count += 3 * w * w
        if b % 2:
            nodes[f"rec{b}"] = nir.Linear(weight=mat())
            edges += [(n, f"rec{b}"), (f"rec{b}", n)]
            count += w * w
        prev = n
    nodes["out"] = nir.Output(output_type={"output": np.array([w])})
    edges.append((prev, "out"))
    return nircc.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)), count


def pipeline() -> PassManager:
    return PassManager([infer_shapes, canonicalize, fuse_affine, QuantizeWeights()])


def measure(g: nircc.Graph, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` seconds per pass (pass + validation) and in total."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = pipeline().run(g)
        total = time.perf_counter() - t0
        times = {r.name: r.seconds + r.verify_seconds for r in res.log}
        times["total"] = total
        for k, v in times.items():
            best[k] = min(best.get(k, float("inf")), v)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    graphs = [synthetic(s) for s in args.sizes]
    results = [measure(g, args.repeat) for g, _ in graphs]
    names = list(results[0])
    col = 14
    print(f"{'synapses':<22}" + "".join(f"{c:>{col},}" for _, c in graphs))
    print(f"{'nodes':<22}" + "".join(f"{len(g):>{col}}" for g, _ in graphs))
    for k in names:
        label = f"{k} [ms]" if k != "total" else "pipeline total [ms]"
        print(f"{label:<22}" + "".join(f"{r[k] * 1e3:>{col}.1f}" for r in results))
    print(f"{'us per 1k synapses':<22}" + "".join(f"{r['total'] * 1e6 / (c / 1e3):>{col}.1f}"
                                                   for r, (_, c) in zip(results, graphs)))
    big = [(r["total"], c) for r, (_, c) in zip(results, graphs) if c >= 900_000]
    for t, c in big:
        print(f"target: {c:,} synapses in < 1 s: {t:.3f} s -> {'met' if t < 1.0 else 'NOT met'}")
    if len(graphs) > 1:
        (t0, c0), (t1, c1) = (results[0]["total"], graphs[0][1]), (results[-1]["total"], graphs[-1][1])
        print(f"growth: {c1 / c0:.0f}x synapses -> {t1 / t0:.1f}x time")


if __name__ == "__main__":
    main()
