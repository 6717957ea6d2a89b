"""Write ``loihi_conv_rnn.nir``: a convolutional-recurrent network that uses what the Loihi
backend offers (deterministic: fixed seed, uncompressed datasets).

    python examples/loihi_conv_rnn.py [OUT_DIR]      (default: the folder of this script)
    nircc examples/loihi_conv_rnn.nir --target loihi -o out/loihi

Graph (dt = 1 ms, encoded snnTorch-style in ``r = tau/dt`` and ``w_in = tau_syn/dt`` so that
nircc detects it; one time constant per layer, as Loihi has one ``du`` / ``dv`` per layer)::

    input (2, 16, 16) -> conv1 (Conv2d 2 -> 8, 3x3, padding 1, bias) -> lif1 (8, 16, 16 LIF)
    -> pool1 (SumPool2d 2) -> conv2 (Conv2d 8 -> 16, 3x3, padding 1) -> if2 (16, 8, 8 IF)
    -> pool2 (SumPool2d 2) -> flat (Flatten) -> fc3 (Affine 256 -> 64) -> rec3 (64 CubaLIF)
       <-> w_rec (Linear 64x64, self-loop)
    -> delay (Delay, 1..3 ms per neuron) -> fc4 (Linear 64 -> 10) -> out (10 LIF) -> spikes

On Loihi 2 (lava-dl netx): ``conv1`` and ``conv2`` are conv layers (``pool1`` folded into
``conv2``'s kernel: 6x6, stride 2), ``pool2 -> flat -> fc3`` one dense matrix after a flatten
layer, ``rec3`` a ``dense_rec`` layer, ``out`` a dense layer whose ``DelayDense`` synapses
carry the per-neuron delays of ``delay``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np

DT = 1e-3
F32 = np.float32


def _lif(shape: tuple, decay: float, threshold: float = 1.0) -> nir.LIF:
    tau = np.full(shape, DT / (1.0 - decay))
    return nir.LIF(tau=tau.astype(F32), r=(tau / DT).astype(F32), v_leak=np.zeros(shape, F32),
                   v_threshold=np.full(shape, threshold, F32), v_reset=np.zeros(shape, F32))


def build() -> nir.NIRGraph:
    rng = np.random.default_rng(7)
    tau_syn, tau_mem = np.full(64, DT / (1.0 - 0.5)), np.full(64, DT / (1.0 - 0.8))
    nodes = {
        "input": nir.Input(input_type=np.array([2, 16, 16])),
        "conv1": nir.Conv2d(input_shape=(16, 16), weight=rng.normal(0.12, 0.3, (8, 2, 3, 3)).astype(F32),
                            stride=1, padding=1, dilation=1, groups=1, bias=rng.normal(0.0, 0.02, 8).astype(F32)),
        "lif1": _lif((8, 16, 16), 0.85),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.03, 0.12, (16, 8, 3, 3)).astype(F32),
                            stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(16, F32)),
        "if2": nir.IF(r=np.full((16, 8, 8), 1000.0, F32), v_threshold=np.ones((16, 8, 8), F32),
                      v_reset=np.zeros((16, 8, 8), F32)),
        "pool2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([16, 4, 4])}, start_dim=0, end_dim=-1),
        "fc3": nir.Affine(weight=rng.normal(-0.01, 0.12, (64, 256)).astype(F32),
                          bias=rng.normal(0.0, 0.02, 64).astype(F32)),
        "rec3": nir.CubaLIF(tau_syn=tau_syn.astype(F32), tau_mem=tau_mem.astype(F32), r=(tau_mem / DT).astype(F32),
                            v_leak=np.zeros(64, F32), v_threshold=np.ones(64, F32), v_reset=np.zeros(64, F32),
                            w_in=(tau_syn / DT).astype(F32)),
        "w_rec": nir.Linear(weight=rng.normal(-0.04, 0.2, (64, 64)).astype(F32)),
        "delay": nir.Delay(delay=(DT * rng.integers(1, 4, 64)).astype(np.float64)),
        "fc4": nir.Linear(weight=rng.normal(0.0, 0.3, (10, 64)).astype(F32)),
        "out": _lif((10,), 0.9),
        "spikes": nir.Output(output_type=np.array([10])),
    }
    edges = [("input", "conv1"), ("conv1", "lif1"), ("lif1", "pool1"), ("pool1", "conv2"), ("conv2", "if2"),
             ("if2", "pool2"), ("pool2", "flat"), ("flat", "fc3"), ("fc3", "rec3"), ("rec3", "w_rec"),
             ("w_rec", "rec3"), ("rec3", "delay"), ("delay", "fc4"), ("fc4", "out"), ("out", "spikes")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def main(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "loihi_conv_rnn.nir"
    nir.write(path, build(), compression=None)
    return path


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent))
