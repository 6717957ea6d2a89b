"""Build ``speck_nmnist.nir``: an N-MNIST-shaped spiking CNN for the Speck target.

    python examples/speck_nmnist.py [OUT_DIR]      (default: the folder of this script)

The layer sizes of the NIR paper's N-MNIST network (``paper/02_cnn``, exported by sinabs,
``tests/data/nir_paper/cnn_sinabs.nir``)::

    input 2x34x34 -> Conv2d 2->16 5x5 stride 2 pad 1 -> IF           16x16x16
                  -> Conv2d 16->16 3x3 pad 1 -> IF -> SumPool2d 2     16x8x8
                  -> Conv2d 16->8 3x3 pad 1 -> IF -> SumPool2d 2      8x4x4
                  -> Flatten -> Affine 128->256 -> IF -> Affine 256->10 -> IF -> output

Random weights (seed 34), Gaussian with a per-layer mean and spread chosen for realistic
activity under Bernoulli input of rate 0.05-0.1 per pixel and step (a few spikes per input
event in the first layers, tens of output spikes per sample and 100 steps), zero biases.

Numbers are chosen so that Speck's quantization is lossless and the NIR reference is exact
in floating point: weights are ``n / 128`` with integer ``n`` in [-128, 127] (each layer
holds a 127, so sinabs' gain rule picks ``g = 128`` and recovers ``n``), thresholds are
``T / 128`` with integer ``T`` above 127 (no weight reaches a threshold), every sum is a
multiple of 1/128 (exact in float64).  The IF nodes have ``r = 1000`` so that
``dt * r = 1`` at the default ``dt = 1e-3`` s: one input spike adds the weight (NIR's IF
integrates ``v += dt * r * x`` per step).  The differences ``nircc ... --target speck``
then reports against the reference are those of the chip's event-driven neuron, not of
quantization.

All arrays are float32, as exported from PyTorch; shapes carry no batch axis.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np

F32 = np.float32
DT = 1e-3          # s: the default dt of nircc; r = 1 / DT makes one spike add one weight
SCALE = 128.0      # weights n / 128, thresholds T / 128

#: (name, out features, in features, kernel, stride, padding, weight mean, weight std, threshold T)
CONVS = (
    ("conv1", 16, 2, 5, 2, 1, 4.0, 24.0, 200),
    ("conv2", 16, 16, 3, 1, 1, 1.0, 16.0, 240),
    ("conv3", 8, 16, 3, 1, 1, 1.0, 16.0, 240),
)
#: (name, out, in, weight mean, weight std, threshold T)
DENSE = (
    ("fc1", 256, 128, 0.0, 16.0, 300),
    ("fc2", 10, 256, 0.0, 16.0, 300),
)


def _int_weights(rng: np.random.Generator, shape: tuple, mean: float, std: float) -> np.ndarray:
    """Integers in [-128, 127] with the largest set to 127 (pins the quantization gain)."""
    n = np.clip(np.rint(rng.normal(mean, std, shape)), -128, 127)
    n.flat[int(np.argmax(n))] = 127
    return (n / SCALE).astype(F32)


def _if(shape: tuple, threshold: int) -> nir.IF:
    return nir.IF(r=np.full(shape, 1.0 / DT, F32), v_threshold=np.full(shape, threshold / SCALE, F32),
                  v_reset=np.zeros(shape, F32))


def speck_nmnist() -> nir.NIRGraph:
    rng = np.random.default_rng(34)
    nodes: dict = {"input": nir.Input(input_type=np.array([2, 34, 34]))}
    edges: list = []
    prev, size = "input", 34
    for i, (name, f, c, k, s, p, mean, std, thr) in enumerate(CONVS):
        nodes[name] = nir.Conv2d(input_shape=np.array([size, size]),
                                 weight=_int_weights(rng, (f, c, k, k), mean, std), stride=np.array([s, s]),
                                 padding=np.array([p, p]), dilation=np.array([1, 1]), groups=1,
                                 bias=np.zeros(f, F32))
        size = (size + 2 * p - k) // s + 1
        nodes[f"{name}_if"] = _if((f, size, size), thr)
        edges += [(prev, name), (name, f"{name}_if")]
        prev = f"{name}_if"
        if i > 0:
            nodes[f"pool{i}"] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                              padding=np.array([0, 0]))
            edges.append((prev, f"pool{i}"))
            prev = f"pool{i}"
            size //= 2
    nodes["flatten"] = nir.Flatten(input_type={"input": np.array([8, size, size])}, start_dim=0, end_dim=-1)
    edges.append((prev, "flatten"))
    prev = "flatten"
    for name, f, c, mean, std, thr in DENSE:
        nodes[name] = nir.Affine(weight=_int_weights(rng, (f, c), mean, std), bias=np.zeros(f, F32))
        nodes[f"{name}_if"] = _if((f,), thr)
        edges += [(prev, name), (name, f"{name}_if")]
        prev = f"{name}_if"
    nodes["output"] = nir.Output(output_type=np.array([10]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    nir.write(out / "speck_nmnist.nir", speck_nmnist())
    print(f"wrote {out / 'speck_nmnist.nir'}")


if __name__ == "__main__":
    main(sys.argv)
