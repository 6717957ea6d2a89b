"""Speck emulator throughput on an N-MNIST-shaped network, next to bare numpy.

Network (the NIR paper's N-MNIST CNN shape; random int8 weights, fixed seed)::

    input 2x34x34 -> core 0: conv 16 5x5 stride 2 pad 1 -> IF            (16x16x16)
                  -> core 1: conv 16 3x3 pad 1 -> IF -> sum pool 2         (16x8x8)
                  -> core 2: conv 8 3x3 pad 1 -> IF -> sum pool 2          (8x4x4)
                  -> core 3: Linear 128 -> 256 as a full-size 4x4 conv -> IF
                  -> core 4: Linear 256 -> 10 as a 1x1 conv -> IF          (exit)

Input: N-MNIST-like rasters, 30 bins of 10 ms, ~15 % of the pixels active with gamma
distributed rates (about 5000 events per sample); layer activity about 1-3 spikes per
input event in the conv layers, a few hundred output spikes per sample.

Printed side by side, measured in the same run (best of a few repeats):

* ``event``: the event emulator (the chip's depth-first rule), input events/s, all events/s
  and synaptic updates/s;
* ``numpy scatter-add``: the same synaptic updates (same events, same weights, same
  neurons) as one vectorized gather + ``np.bincount`` per core, index arrays built
  beforehand (the floor of any numpy implementation);
* ``numpy slice loop``: one ``v[window] += W[window]`` per event in a plain loop, no spike
  logic (the floor of a per-event Python implementation);
* ``binned``: the sinabs-compatible time-stepped emulator on the same input (dense work).

Compile time (second section), best of ``--repeat`` runs: ``nircc.compile`` of
``examples/speck_nmnist.nir`` and of the NIR paper's ``cnn_sinabs.nir`` split into load,
the pass pipeline (``infer_shapes``, ``canonicalize``, ``fuse_affine``) and the lowering
(layers, quantization, core mapping, validation), then writing the artifact
(``CompileResult.save``); next to it the time of the event emulator on one sample of the
same 30 bins, so the ratio says how many sample-emulations a compile costs.

Run: ``python benchmarks/bench_speck.py [--samples B] [--bins T] [--seed S] [--repeat R]``.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import nircc
from _bench import best_of
from nircc.backends.speck.emulator import BinnedEmulator, EventEmulator
from nircc.backends.speck.program import CnnLayer, Destination, Exit, SpeckInput, SpeckProgram, conv_out_shape


def nmnist_program(seed: int = 0) -> SpeckProgram:
    rng = np.random.default_rng(seed)

    def conv(name, core, in_shape, f, k, stride, pad, mean, std, thr, dests=(), monitor=False) -> CnnLayer:
        out = conv_out_shape(in_shape, f, k, (stride, stride), (pad, pad))
        w = np.clip(np.rint(rng.normal(mean, std, size=(f, in_shape[0], k, k))), -128, 127)
        return CnnLayer(name, core, in_shape, out, k, w.astype(np.int8), thr, -thr, stride, pad,
                        destinations=list(dests), monitor=monitor)

    layers = [
        conv("conv1", 0, (2, 34, 34), 16, 5, 2, 1, 1.0, 20, 100, [Destination(1)]),
        conv("conv2", 1, (16, 16, 16), 16, 3, 1, 1, 0.0, 20, 150, [Destination(2, pooling=2)]),
        conv("conv3", 2, (16, 8, 8), 8, 3, 1, 1, 0.0, 20, 150, [Destination(3, pooling=2)]),
        conv("fc1", 3, (8, 4, 4), 256, 4, 1, 0, -1.0, 20, 300, [Destination(4)]),
        conv("fc2", 4, (256, 1, 1), 10, 1, 1, 0, 0.0, 20, 300, monitor=True),
    ]
    return SpeckProgram(SpeckInput((2, 34, 34), [0]), layers, [Exit("out", 4)])


def nmnist_events(rng: np.random.Generator, n_bins: int, n_samples: int) -> np.ndarray:
    """Count raster [T, B, 2, 34, 34]."""
    r = np.zeros((n_bins, n_samples, 2, 34, 34), np.int64)
    for b in range(n_samples):
        rate = rng.gamma(2.0, 0.25, size=(2, 34, 34)) * (rng.random((2, 34, 34)) < 0.15)
        r[:, b] = rng.poisson(np.broadcast_to(rate, (n_bins, 2, 34, 34)))
    return r


def core_inputs(prog: SpeckProgram, raster: np.ndarray, states: dict) -> dict[int, np.ndarray]:
    """Input event counts [T, B, C, H, W] every core received (from the recorded spikes)."""
    ins = {lay.core: np.zeros(raster.shape[:2] + lay.input_shape, np.int64) for lay in prog.layers}
    for d in prog.input.destinations:
        ins[d][:, :, :raster.shape[2]] += raster
    for lay in prog.layers:
        spikes = states[lay.name + "/output"].astype(np.int64)
        f = lay.output_shape[0]
        for d in lay.destinations:
            tgt = ins[d.layer]
            ht, wt = tgt.shape[-2:]
            p = d.pooling
            pooled = spikes[..., :ht * p, :wt * p].reshape(spikes.shape[:3] + (ht, p, wt, p)).sum(axis=(4, 6))
            tgt[:, :, d.feature_shift:d.feature_shift + f] += pooled
    return ins


def window(i: int, p: int, s: int, k: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Output positions and kernel indices reached by input coordinate i on one axis."""
    o = np.arange(n_out)
    kk = i + p - o * s
    ok = (kk >= 0) & (kk < k)
    return o[ok], kk[ok]


def synapse_indices(lay: CnnLayer, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat (neuron, weight) index of every synaptic update the events ``counts`` cause."""
    f, ho, wo = lay.output_shape
    c_in, k = lay.input_shape[0], lay.kernel
    total = counts.sum(axis=(0, 1))
    fr = np.arange(f)[:, None, None]
    nid, wid = [], []
    for c, y, x in zip(*np.nonzero(total)):
        oy, ky = window(int(y), lay.padding[0], lay.stride[0], k, ho)
        ox, kx = window(int(x), lay.padding[1], lay.stride[1], k, wo)
        n = (fr * ho * wo + oy[None, :, None] * wo + ox[None, None, :]).ravel()
        w = (fr * c_in * k * k + c * k * k + ky[None, :, None] * k + kx[None, None, :]).ravel()
        rep = int(total[c, y, x])
        nid.append(np.tile(n, rep))
        wid.append(np.tile(w, rep))
    return np.concatenate(nid), np.concatenate(wid)


def slice_events(lay: CnnLayer, counts: np.ndarray) -> list[tuple]:
    """One (neuron slices, kernel slices, channel) tuple per event (for the slice loop)."""
    f, ho, wo = lay.output_shape
    k = lay.kernel
    out = []
    total = counts.sum(axis=(0, 1))
    for c, y, x in zip(*np.nonzero(total)):
        oy, ky = window(int(y), lay.padding[0], lay.stride[0], k, ho)
        ox, kx = window(int(x), lay.padding[1], lay.stride[1], k, wo)
        if not (len(oy) and len(ox)):
            continue
        sy = slice(oy[0], oy[-1] + 1)
        sx = slice(ox[0], ox[-1] + 1)
        wy = slice(ky[0], ky[-1] - 1 if ky[-1] > 0 else None, -lay.stride[0])
        wx = slice(kx[0], kx[-1] - 1 if kx[-1] > 0 else None, -lay.stride[1])
        out.extend([(sy, sx, int(c), wy, wx)] * int(total[c, y, x]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--bins", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    prog = nmnist_program(args.seed)
    assert prog.overflow_risks() == [], prog.overflow_risks()
    raster = nmnist_events(np.random.default_rng(args.seed + 1), args.bins, args.samples)

    emu = EventEmulator(prog)
    res = emu.run(raster, record=True)
    t_event = best_of(2, lambda: emu.run(raster))
    st = emu.stats
    n_in = st["input_events"]
    n_ev = sum(st["events"].values())
    n_syn = sum(st["synaptic_updates"].values())

    ins = core_inputs(prog, raster, res.states)
    idx = {lay.core: synapse_indices(lay, ins[lay.core]) for lay in prog.layers}
    assert sum(len(n) for n, _ in idx.values()) == n_syn, "reconstructed updates differ from the emulator's"
    weights = {lay.core: lay.weights.astype(np.float64).ravel() for lay in prog.layers}
    sizes = {lay.core: int(np.prod(lay.output_shape)) for lay in prog.layers}

    def scatter_add() -> None:
        for c, (nid, wid) in idx.items():
            np.bincount(nid, weights=weights[c][wid], minlength=sizes[c])

    t_scatter = best_of(5, scatter_add)

    evs = {lay.core: slice_events(lay, ins[lay.core]) for lay in prog.layers}
    assert sum(len(e) for e in evs.values()) <= n_ev
    kern = {lay.core: [np.ascontiguousarray(lay.weights.astype(np.int32)[:, c]) for c in range(lay.input_shape[0])]
            for lay in prog.layers}

    def slice_loop() -> None:
        for lay in prog.layers:
            v = np.zeros(lay.output_shape, np.int32)
            wc = kern[lay.core]
            for sy, sx, c, wy, wx in evs[lay.core]:
                vs = v[:, sy, sx]
                vs += wc[c][:, wy, wx]

    t_loop = best_of(2, slice_loop)

    binned = BinnedEmulator(prog)
    t_binned = best_of(2, lambda: binned.run(raster))
    out_spikes = int(res.outputs["out"].sum())

    print(f"N-MNIST-shaped Speck network, {args.samples} samples x {args.bins} bins: {n_in} input events, "
          f"{n_ev} events at cores, {n_syn} synaptic updates, {out_spikes} output spikes")
    print("  per layer: " + ", ".join(f"{k} {st['events'][k]} ev / {st['spikes'][k]} spikes" for k in st["events"]))
    print(f"{'':28s}{'time s':>10s}{'input ev/s':>14s}{'events/s':>14s}{'syn upd/s':>14s}{'ratio':>9s}")
    for name, t in (("event emulator", t_event), ("numpy scatter-add", t_scatter),
                    ("numpy slice loop", t_loop), ("binned emulator", t_binned)):
        print(f"{name:28s}{t:10.3f}{n_in / t:14.3g}{n_ev / t:14.3g}{n_syn / t:14.3g}{t / t_scatter:9.1f}")
    print(f"event emulator / numpy scatter-add = {t_event / t_scatter:.1f}x, "
          f"event emulator / numpy slice loop = {t_event / t_loop:.2f}x")
    print()
    compile_times(raster[:, :1], args.repeat)


ROOT = Path(__file__).resolve().parent.parent
MODELS = {"examples/speck_nmnist.nir": {},
          "tests/data/nir_paper/cnn_sinabs.nir": {"semantics": "sinabs"}}


def compile_times(sample: np.ndarray, repeat: int) -> None:
    """Compile phases of the two N-MNIST models next to one event-emulated sample."""
    print(f"compile time, best of {repeat} ({sample.shape[0]} bins of one sample for the emulator column):")
    print(f"{'model':38s}{'load':>8s}{'passes':>8s}{'lower':>8s}{'total':>8s}{'save':>8s}{'emulate':>9s}"
          f"{'compile/emulate':>17s}")
    for rel, kw in MODELS.items():
        path = ROOT / rel
        t_load = best_of(repeat, lambda: nircc.load(path))
        t_total = best_of(repeat, lambda: nircc.compile(path, "speck", **kw))
        res = nircc.compile(path, "speck", time_passes=False, **kw)
        t_pass = sum(r.seconds for r in res.passes.log)
        t_lower = t_total - t_load - t_pass
        with tempfile.TemporaryDirectory() as tmp:
            t_save = best_of(repeat, lambda: res.save(Path(tmp) / "out"))
        emu = res.target.emulator(res.program)
        t_emu = best_of(repeat, lambda: emu.run(sample))
        print(f"{rel:38s}{t_load:8.3f}{t_pass:8.3f}{t_lower:8.3f}{t_total:8.3f}{t_save:8.3f}{t_emu:9.3f}"
              f"{t_total / t_emu:17.2f}")


if __name__ == "__main__":
    main()
