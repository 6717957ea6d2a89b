"""Norse 1.1: an MLP of LIFBoxCells, SequentialState(Linear(64,32), LIFBoxCell,
Linear(32,10), LIFBoxCell), trained on rate-coded 8x8 digits and exported with Norse's own
``norse.torch.to_nir``.

Run by hand (not in CI), from the repository root, in the Norse venv (README.md):

    /tmp/deploy-norse/bin/python benchmarks/deploy/train_norse_mlp.py

Writes ``fixtures/norse_lifbox_mlp/{model.nir,data.npz,meta.json}``.  The exported file is
left exactly as Norse writes it, including its time constants (see meta.json "export_note").
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import _common as C

SEED = 0
T = 25
MAX_P = 0.5
DT = 1e-3          # Norse's default dt (s), used in training, recording and export
EPOCHS = 15
BATCH = 64
LR = 2e-2
W_GAIN = 16.0     # initial weights = torch's default init x W_GAIN
NAME = "norse_lifbox_mlp"

C.seed_everything(SEED)

import nir
import norse.torch as norse
import torch
import torch.nn.functional as F


def params(n: int) -> norse.LIFBoxParameters:
    # Norse's default LIFBoxParameters values -- tau_mem_inv = 100 1/s (tau_mem = 10 ms),
    # v_th = 1, v_leak = 0, v_reset = 0, reset to v_reset, SuperSpike surrogate (alpha 100)
    # -- given per neuron: with the default 0-d parameters the exported LIF nodes are 0-d
    # and nir 1.0.8's nir.write fails on them (see EXPORT_NOTE).
    return norse.LIFBoxParameters(
        tau_mem_inv=torch.full((n,), 100.0), v_leak=torch.zeros(n), v_th=torch.ones(n),
        v_reset=torch.zeros(n),
    )


def build() -> norse.SequentialState:
    return norse.SequentialState(
        torch.nn.Linear(64, 32),
        norse.LIFBoxCell(params(32), dt=DT),
        torch.nn.Linear(32, 10),
        norse.LIFBoxCell(params(10), dt=DT),
    )


EXPORT_NOTE = (
    "Written as Norse writes it, not fixed: Norse 1.1's exporter writes LIF "
    "tau = dt / tau_mem_inv = dt * tau_mem (here 1e-3 * 0.01 = 1e-5 s) instead of "
    "tau_mem = 0.01 s, with r = 1 and no v_reset (nir's default, zeros). It calls "
    "nirtorch.extract_nir_graph without ignore_dims and never infer_types: the Input node "
    "keeps the sample's batch dim [1, 64] (Output [1, 10]), and nir 1.0.8's own nir.read "
    "of this file then fails: 'ValueError: Type inference error: type mismatch: "
    "input.output: [[ 1 64]] -> 0.input: [[64]]'. With Norse's default 0-d LIFBoxParameters the "
    "export gives 0-d LIF parameters and nir.write (nir 1.0.8, gzip by default) fails: "
    "'TypeError: Scalar datasets don't support chunk/filter options'; so the parameters "
    "are given per neuron (same default values)."
)


def run(net, x: torch.Tensor) -> torch.Tensor:
    """x [T, B, 64] -> output spikes [T, B, 10]; state starts as None (v = v_leak = 0)."""
    state = None
    out = []
    for t in range(x.shape[0]):
        z, state = net(x[t], state)
        out.append(z)
    return torch.stack(out)


def main() -> None:
    x_tr, y_tr, x_te, y_te = C.digits_split(SEED)
    rng = np.random.default_rng(SEED + 1)
    x_te_spk = C.rate_encode(x_te.reshape(len(x_te), 64), T, MAX_P, rng)

    net = build()
    # v moves by dt/tau_mem = 10 % of (input - v) per step, so v follows a low-passed
    # input: with torch's default init the untrained net hardly spikes.  Start from larger
    # weights (and, since Adam's steps are absolute, a larger learning rate).
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(W_GAIN)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    n = len(y_tr)
    for epoch in range(EPOCHS):
        x_tr_spk = torch.from_numpy(C.rate_encode(x_tr.reshape(n, 64), T, MAX_P, rng)).float()
        perm = torch.randperm(n)
        tot, correct = 0.0, 0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            yb = torch.from_numpy(y_tr[idx.numpy()])
            counts = run(net, x_tr_spk[:, idx]).sum(0)
            loss = F.cross_entropy(counts, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += int((counts.argmax(1) == yb).sum())
        print(f"epoch {epoch + 1:2d}  loss {tot / n:.3f}  train acc {correct / n:.3f}", flush=True)

    with torch.no_grad():
        spk = run(net, torch.from_numpy(x_te_spk).float())
    pred = spk.sum(0).argmax(1).numpy()
    acc = float((pred == y_te).mean())
    print(f"Norse test accuracy ({len(y_te)} held-out digits): {acc:.4f}")

    d = C.FIXTURES / NAME
    d.mkdir(parents=True, exist_ok=True)
    # as Norse's own tests call it: sample data [1, 64], its default dt (passed explicitly)
    graph = norse.to_nir(net, torch.from_numpy(x_te_spk[0, :1]).float(), dt=DT)
    nir.write(str(d / "model.nir"), graph)

    from importlib.metadata import version
    C.write_fixture(
        NAME,
        inputs=x_te_spk,
        outputs=spk.numpy(),
        predictions=pred,
        labels=y_te,
        meta={
            "model": NAME,
            "framework": "norse",
            "framework_version": version("norse"),
            "exporter": f"norse.torch.to_nir(net, sample_data[1, 64], dt={DT})",
            "export_note": EXPORT_NOTE,
            "nir_version": version("nir"),
            "nirtorch_version": version("nirtorch"),
            "torch_version": torch.__version__,
            "architecture": "Linear(64,32,bias) -> LIFBoxCell(32) -> Linear(32,10,bias) -> LIFBoxCell(10)",
            "dataset": "sklearn load_digits 8x8, intensities /16, Bernoulli rate code "
                       f"p = intensity * {MAX_P} per step; seeded split, {len(y_te)} held out",
            "input_shape": [64],
            "T": T,
            "batch": int(len(y_te)),
            "seed": SEED,
            "dt": DT,
            "dt_note": "Norse integrates with forward Euler at dt; one recorded step = one dt",
            "neuron": {
                "model": "norse.LIFBoxCell, LIFBoxParameters with the default values, per neuron",
                "tau_mem": 0.01,
                "tau_mem_inv": 100.0,
                "v_th": 1.0, "v_leak": 0.0, "v_reset": 0.0,
                "update": "v' = v + dt*tau_mem_inv*(I + v_leak - v)  (= 0.9 v + 0.1 I here)",
                "spike": "z = (v' - v_th > 0) (strict >, after the update)",
                "reset_mechanism": "to v_reset (norse reset_value): v = (1-z)*v' + z*v_reset, same step",
                "reset_delay": False,
                "state_init": "state None -> v = v_leak = 0 at the start of every sample",
                "surrogate": "super (SuperSpike, alpha 100), Norse default",
            },
            "outputs": "spikes of the final LIFBoxCell, float32 [T, B, 10]",
            "decision_rule": "argmax over classes of output spike counts summed over T; "
                             "ties -> lowest index",
            "accuracy": acc,
            "train": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam lr={LR}",
                      "loss": "cross-entropy on output spike counts",
                      "init": f"torch default Linear init, weights x{W_GAIN}", "n_train": int(len(y_tr))},
            "command": C.command_line(),
        },
    )


if __name__ == "__main__":
    main()
