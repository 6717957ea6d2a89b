"""sinabs 3.1.3: an IAF CNN built the way sinabs' Speck BPTT tutorials build it (nn.Conv2d
with bias=False, sinabs.layers.IAFSqueeze with min_v_mem=-1.0 and the PeriodicExponential
surrogate, SumPool2d, Flatten, Linear with bias=False), trained with BPTT on 2-channel ON/OFF
events emulated from 8x8 digits (``_common.dvs_encode``) and exported with sinabs' own
``sinabs.to_nir``.

Run by hand (not in CI), from the repository root, in the sinabs venv (README.md; sinabs
3.1.3 pins nir<=1.0.4 and nirtorch 2.0.x, so it has a venv of its own):

    /tmp/deploy-sinabs/bin/python benchmarks/deploy/train_sinabs_cnn.py

Writes ``fixtures/sinabs_iaf_cnn/{model.nir,data.npz,meta.json}``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import _common as C

SEED = 0
T = 20
EPOCHS = 12
BATCH = 32
LR = 1e-3
MIN_V_MEM = -1.0    # as sinabs' Speck BPTT tutorials set it (from_model's default too)
NAME = "sinabs_iaf_cnn"

C.seed_everything(SEED)

import nir
import sinabs
import sinabs.layers as sl
import torch
import torch.nn as nn
import torch.nn.functional as F
from sinabs.activation.surrogate_gradient_fn import PeriodicExponential


def iaf() -> sl.IAFSqueeze:
    # num_timesteps (instead of the tutorials' batch_size) fixes how IAFSqueeze unflattens
    # its [B*T, ...] input, so one net serves training, the test batch and the exporter's
    # one-sample sample_data.  Defaults kept: spike_threshold=1.0, spike_fn=MultiSpike,
    # reset_fn=MembraneSubtract().
    return sl.IAFSqueeze(num_timesteps=T, min_v_mem=MIN_V_MEM,
                         surrogate_grad_fn=PeriodicExponential())


def build() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 8, kernel_size=3, padding=1, bias=False),    # 8 x 16 x 16
        iaf(),
        sl.SumPool2d(2),                                          # 8 x 8 x 8
        nn.Conv2d(8, 16, kernel_size=3, padding=1, bias=False),   # 16 x 8 x 8
        iaf(),
        sl.SumPool2d(2),                                          # 16 x 4 x 4
        nn.Flatten(),
        nn.Linear(256, 10, bias=False),
        iaf(),
    )


def run(net, x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """time-major x [T, B, 2, 16, 16] -> output spikes, time-major [T, B, 10].

    IAFSqueeze takes [B*T, ...] with batch outermost (sample b, step t at row b*T + t)."""
    x = torch.as_tensor(x).float()
    t, b = x.shape[:2]
    sinabs.reset_states(net)
    out = net(x.transpose(0, 1).reshape(b * t, *x.shape[2:]))
    return out.reshape(b, t, -1).transpose(0, 1)


def main() -> None:
    x_tr, y_tr, x_te, y_te = C.digits_split(SEED)
    rng = np.random.default_rng(SEED + 1)
    x_te_ev = C.dvs_encode(x_te, T, rng)

    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    n = len(y_tr)
    for epoch in range(EPOCHS):
        x_tr_ev = C.dvs_encode(x_tr, T, rng)   # fresh (seeded) events every epoch
        perm = torch.randperm(n)
        tot, correct = 0.0, 0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH].numpy()
            yb = torch.from_numpy(y_tr[idx])
            counts = run(net, x_tr_ev[:, idx]).sum(0)
            loss = F.cross_entropy(counts, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += int((counts.argmax(1) == yb).sum())
        print(f"epoch {epoch + 1:2d}  loss {tot / n:.3f}  train acc {correct / n:.3f}", flush=True)

    with torch.no_grad():
        spk = run(net, x_te_ev)
    pred = spk.sum(0).argmax(1).numpy()
    acc = float((pred == y_te).mean())
    print(f"sinabs test accuracy ({len(y_te)} held-out digits): {acc:.4f}")

    d = C.FIXTURES / NAME
    d.mkdir(parents=True, exist_ok=True)
    # sinabs.to_nir(module, sample_data): sample_data is the net's own input layout, here one
    # sample of T steps [1*T, 2, 16, 16]; to_nir drops dim 0 itself (ignore_dims=[0]).
    sinabs.reset_states(net)
    with torch.no_grad():
        graph = sinabs.to_nir(net, torch.from_numpy(x_te_ev[:, 0]).float())
    # nir.write (nir 1.0.4) cannot write to_nir's graph as it comes: Conv2d.input_shape and
    # Flatten.input_type are None -> "TypeError: One of data, shape or dtype must be
    # specified".  nir's own infer_types() (which snnTorch's exporter calls too) fills in
    # the types; no parameter changes.
    graph.infer_types()
    nir.write(str(d / "model.nir"), graph)

    from importlib.metadata import version
    C.write_fixture(
        NAME,
        inputs=x_te_ev,
        outputs=spk.numpy(),
        predictions=pred,
        labels=y_te,
        meta={
            "model": NAME,
            "framework": "sinabs",
            "framework_version": version("sinabs"),
            "exporter": "sinabs.to_nir(net, sample_data[T, 2, 16, 16]) (ignore_dims=[0] inside)",
            "export_note": "nir.write (nir 1.0.4) fails on sinabs.to_nir's graph as returned "
                           "(Conv2d.input_shape and Flatten.input_type are None: 'TypeError: One "
                           "of data, shape or dtype must be specified'), so graph.infer_types() "
                           "(nir's own) is called before nir.write; it only fills in types. "
                           "sinabs writes each IAFSqueeze as nir.IF(r=1, v_threshold=1) of the "
                           "layer's shape [C, H, W] (or [N]); min_v_mem, the MultiSpike spike "
                           "function and reset-by-subtraction are not in the file. Conv2d and "
                           "Linear without bias get explicit zero biases (Linear -> Affine). "
                           "SumPool2d -> nir.SumPool2d (padding 0); Flatten start_dim shifted "
                           "by -1 for the dropped batch dim.",
            "nir_version": version("nir"),
            "nirtorch_version": version("nirtorch"),
            "torch_version": torch.__version__,
            "samna_version": _maybe_version("samna"),
            "architecture": "Conv2d(2,8,3,p1,nobias) -> IAF -> SumPool2d(2) -> "
                            "Conv2d(8,16,3,p1,nobias) -> IAF -> SumPool2d(2) -> Flatten -> "
                            "Linear(256,10,nobias) -> IAF",
            "dataset": "sklearn load_digits 8x8 upsampled to 16x16, seen through a 16x16 "
                       "window moving 1 px per step around a 3x3 square; ON/OFF events where "
                       "intensity rises/falls by > 0.2, kept with p=0.9, noise events p=0.005 "
                       f"(_common.dvs_encode); seeded split, {len(y_te)} held out",
            "input_shape": [2, 16, 16],
            "input_layout_in_framework": "IAFSqueeze input [B*T, 2, 16, 16], batch outermost; "
                                         "data.npz stores it time-major [T, B, 2, 16, 16]",
            "T": T,
            "batch": int(len(y_te)),
            "seed": SEED,
            "dt": 1.0,
            "dt_note": "sinabs' IAF is a discrete per-step model with no time constant; the "
                       "exported IF has no dt either. One recorded step = one sinabs step.",
            "neuron": {
                "model": "sinabs.layers.IAFSqueeze (non-leaky IAF)",
                "spike_threshold": 1.0,
                "min_v_mem": MIN_V_MEM,
                "min_v_mem_source": "sinabs' Speck BPTT tutorials (IAFSqueeze(min_v_mem=-1.0, "
                                    "surrogate_grad_fn=PeriodicExponential())); also "
                                    "sinabs.from_model's default",
                "update": "v = v + I[t]; S[t] = (v > 0) * trunc(v / threshold) (MultiSpike: "
                          "several spikes per step possible); v = v - S[t]*threshold "
                          "(MembraneSubtract); then v = max(v, min_v_mem)",
                "spike_fn": "MultiSpike (sinabs default)",
                "reset_mechanism": "subtract (MembraneSubtract), same step",
                "reset_delay": False,
                "state_init": "v = 0 at the start of every batch (sinabs.reset_states)",
                "surrogate": "PeriodicExponential",
                "bias": "none (bias=False on every Conv2d/Linear, as for Speck)",
            },
            "speck_check": "not run: sinabs.backend.dynapcnn imports samna, and the samna wheel "
                           "on PyPI (0.48.6) is a stub that pip-installs the real samna from "
                           "SynSense's own package index when imported; that index is not "
                           "reachable here, so DynapcnnNetwork cannot be built on this machine",
            "outputs": "spike counts per step of the final IAF layer (MultiSpike, so values "
                       "can exceed 1), float32 [T, B, 10]",
            "decision_rule": "argmax over classes of output spike counts summed over T; "
                             "ties -> lowest index",
            "accuracy": acc,
            "train": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam lr={LR}",
                      "loss": "cross-entropy on output spike counts (BPTT, surrogate gradients)",
                      "n_train": int(len(y_tr))},
            "command": C.command_line(),
        },
    )


def _maybe_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
