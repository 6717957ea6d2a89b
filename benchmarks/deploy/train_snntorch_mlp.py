"""snnTorch 1.0: a Leaky MLP (64 -> 32 Leaky -> 10 Leaky) trained on rate-coded 8x8 digits,
exported with snnTorch's own ``snntorch.export_nir.export_to_nir``.

Run by hand (not in CI), from the repository root, in the snnTorch venv (README.md):

    /tmp/deploy-snntorch/bin/python benchmarks/deploy/train_snntorch_mlp.py

Writes ``fixtures/snntorch_leaky_mlp/{model.nir,data.npz,meta.json}`` and prints the
accuracy snnTorch itself reaches on the held-out digits.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import _common as C

SEED = 0
T = 25          # steps per sample
MAX_P = 0.5     # spike probability per step of a full-intensity pixel
BETA = 0.9
EPOCHS = 15
BATCH = 64
LR = 2e-3
NAME = "snntorch_leaky_mlp"

C.seed_everything(SEED)

import nir
import nirtorch
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import utils
from snntorch.export_nir import export_to_nir


def build() -> torch.nn.Sequential:
    # init_hidden=True keeps the state inside the modules, so the net is a plain Sequential
    # that snnTorch's exporter (via nirtorch) can trace, as its docstring example does.
    # beta and threshold are given per neuron (same values as scalars): with scalar ones
    # export_to_nir writes 0-d LIF parameters, and nir's type check then fails (see
    # EXPORT_NOTE).  Training is unchanged by this.
    def leaky(n, **kw):
        return snn.Leaky(beta=torch.full((n,), BETA), threshold=torch.ones(n), init_hidden=True, **kw)

    return torch.nn.Sequential(
        torch.nn.Linear(64, 32),
        leaky(32),
        torch.nn.Linear(32, 10),
        leaky(10, output=True),
    )


EXPORT_NOTE = (
    "export_to_nir's docstring example (scalar beta/threshold, sample_data [1, N], no "
    "ignore_dims) fails on this model with nir 1.0.8 (and nir 1.0.4 has the same checks): "
    "'ValueError: Type inference error: type mismatch: input.output: [[ 1 64]] -> 0.input: "
    "[[64]]' (the batch dim of sample_data goes into the Input node), and with ignore_dims=[0] "
    "'type mismatch: 0.output: [[32]] -> 1.input: []' (scalar beta gives a 0-d LIF). So the "
    "net uses per-neuron beta/threshold tensors and is exported with ignore_dims=[0]."
)


def run(net, x: torch.Tensor):
    """x [T, B, 64] -> (spk [T, B, 10], mem [T, B, 10]); state reset before the sample."""
    utils.reset(net)
    spk, mem = [], []
    for t in range(x.shape[0]):
        s, m = net(x[t])
        spk.append(s)
        mem.append(m)
    return torch.stack(spk), torch.stack(mem)


def main() -> None:
    x_tr, y_tr, x_te, y_te = C.digits_split(SEED)
    rng = np.random.default_rng(SEED + 1)
    x_te_spk = C.rate_encode(x_te.reshape(len(x_te), 64), T, MAX_P, rng)  # [T, B, 64]

    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    n = len(y_tr)
    for epoch in range(EPOCHS):
        # a fresh (seeded) spike encoding of the training set every epoch
        x_tr_spk = torch.from_numpy(C.rate_encode(x_tr.reshape(n, 64), T, MAX_P, rng)).float()
        perm = torch.randperm(n)
        tot, correct = 0.0, 0
        net.train()
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = x_tr_spk[:, idx], torch.from_numpy(y_tr[idx.numpy()])
            spk, _ = run(net, xb)
            counts = spk.sum(0)
            loss = F.cross_entropy(counts, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += int((counts.argmax(1) == yb).sum())
        print(f"epoch {epoch + 1:2d}  loss {tot / n:.3f}  train acc {correct / n:.3f}", flush=True)

    net.eval()
    with torch.no_grad():
        spk, mem = run(net, torch.from_numpy(x_te_spk).float())
    pred = spk.sum(0).argmax(1).numpy()  # torch.argmax: the first maximal index on ties
    acc = float((pred == y_te).mean())
    print(f"snnTorch test accuracy ({len(y_te)} held-out digits): {acc:.4f}")

    # Export as snntorch.export_nir.export_to_nir's docstring shows (sample data of one
    # step, batch 1), plus ignore_dims=[0] for the batch dim (see EXPORT_NOTE).
    d = C.FIXTURES / NAME
    d.mkdir(parents=True, exist_ok=True)
    utils.reset(net)
    graph = export_to_nir(net, torch.from_numpy(x_te_spk[0, :1]).float(), ignore_dims=[0])
    nir.write(str(d / "model.nir"), graph)

    C.write_fixture(
        NAME,
        inputs=x_te_spk,
        outputs=spk.numpy(),
        predictions=pred,
        labels=y_te,
        meta={
            "model": NAME,
            "framework": "snntorch",
            "framework_version": snn.__version__,
            "exporter": "snntorch.export_nir.export_to_nir(net, sample_data[1, 64], ignore_dims=[0])",
            "export_note": EXPORT_NOTE,
            "nir_version": nir.__version__ if hasattr(nir, "__version__") else _dist_version("nir"),
            "nirtorch_version": _dist_version("nirtorch"),
            "torch_version": torch.__version__,
            "architecture": "Linear(64,32,bias) -> Leaky(32) -> Linear(32,10,bias) -> Leaky(10)",
            "dataset": "sklearn load_digits 8x8, intensities /16, Bernoulli rate code "
                       f"p = intensity * {MAX_P} per step; seeded split, {len(y_te)} held out",
            "input_shape": [64],
            "T": T,
            "batch": int(len(y_te)),
            "seed": SEED,
            "dt": 1e-4,
            "dt_note": "snnTorch's Leaky is a discrete per-step model; export_to_nir hard-codes "
                       "dt = 1e-4 s and writes tau = dt / (1 - beta), r = tau / dt, v_leak = 0, "
                       "v_reset = 0.  One recorded step = one dt.",
            "neuron": {
                "model": "snn.Leaky",
                "beta": BETA,
                "beta_note": "given as a per-neuron tensor (all equal), not learned",
                "threshold": 1.0,
                "update": "U[t] = beta*U[t-1] + I[t] - R[t]*threshold, R[t] = (U[t-1] > threshold)",
                "spike": "S[t] = (U[t] > threshold) (strict >, after the update)",
                "reset_mechanism": "subtract",
                "reset_delay": True,
                "reset_delay_note": "the reset of a spike at step t is applied at step t+1",
                "state_init": "zeros at the start of every sample (snntorch.utils.reset)",
                "surrogate": "atan (snnTorch default)",
            },
            "outputs": "spikes of the final Leaky layer, float32 [T, B, 10]",
            "decision_rule": "argmax over classes of output spike counts summed over T; "
                             "ties -> lowest index",
            "accuracy": acc,
            "train": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam lr={LR}",
                      "loss": "cross-entropy on output spike counts",
                      "n_train": int(len(y_tr))},
            "command": C.command_line(),
        },
    )


def _dist_version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    main()
