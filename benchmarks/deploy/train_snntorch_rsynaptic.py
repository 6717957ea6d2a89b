"""snnTorch 1.0: a recurrent net, 16 inputs -> Linear -> RSynaptic(64, all-to-all recurrent
Linear) -> Linear -> Leaky(8), every nn.Linear with its bias (snnTorch's and torch's
default), trained on the generated temporal-order task (``_common.temporal_order``) and
exported with snnTorch's own ``snntorch.export_nir.export_to_nir``.

Run by hand (not in CI), from the repository root, in the snnTorch venv (README.md):

    /tmp/deploy-snntorch/bin/python benchmarks/deploy/train_snntorch_rsynaptic.py

Writes ``fixtures/snntorch_rsynaptic/{model.nir,data.npz,meta.json}``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import _common as C

SEED = 0
T = 45
N_TRAIN = 2000
ALPHA = 0.8     # synaptic current decay
BETA = 0.9      # membrane decay
HIDDEN = 64
P_ON, P_BG = 0.3, 0.04  # burst / background spike probability per step
EPOCHS = 15
BATCH = 50
LR = 1.5e-3
NAME = "snntorch_rsynaptic"

C.seed_everything(SEED)

import nir
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch.export_nir import export_to_nir


def build() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(16, HIDDEN),
        # all_to_all=True + linear_features: the recurrent weight is an nn.Linear(64, 64)
        # with bias, which export_to_nir writes as an Affine inside a subgraph.
        snn.RSynaptic(alpha=ALPHA, beta=BETA, linear_features=HIDDEN, init_hidden=True),
        torch.nn.Linear(HIDDEN, 8),
        # per-neuron beta/threshold: scalar ones make export_to_nir write a 0-d LIF, which
        # nir's type check rejects (same as in train_snntorch_mlp.py)
        snn.Leaky(beta=torch.full((8,), BETA), threshold=torch.ones(8), init_hidden=True,
                  output=True),
    )


def reset_state(net) -> None:
    # Each neuron's own reset_mem(): snntorch.utils.reset() -> RSynaptic.reset_hidden()
    # zeroes syn and mem but leaves the previous sample's spikes (self.spk), which would
    # drive the recurrent weight at step 0 of the next batch.
    for m in net.modules():
        if isinstance(m, snn.SpikingNeuron):
            m.reset_mem()


def run(net, x: torch.Tensor):
    reset_state(net)
    spk = []
    for t in range(x.shape[0]):
        s, _ = net(x[t])
        spk.append(s)
    return torch.stack(spk)


def main() -> None:
    x_tr, y_tr = C.temporal_order(N_TRAIN, T, np.random.default_rng(SEED + 1), p_on=P_ON, p_bg=P_BG)
    x_te, y_te = C.temporal_order(C.N_TEST, T, np.random.default_rng(SEED + 2), p_on=P_ON, p_bg=P_BG)
    x_tr_t, y_tr_t = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)

    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for epoch in range(EPOCHS):
        perm = torch.randperm(N_TRAIN)
        tot, correct = 0.0, 0
        for i in range(0, N_TRAIN, BATCH):
            idx = perm[i:i + BATCH]
            counts = run(net, x_tr_t[:, idx]).sum(0)
            loss = F.cross_entropy(counts, y_tr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += int((counts.argmax(1) == y_tr_t[idx]).sum())
        print(f"epoch {epoch + 1:2d}  loss {tot / N_TRAIN:.3f}  train acc {correct / N_TRAIN:.3f}",
              flush=True)

    with torch.no_grad():
        spk = run(net, torch.from_numpy(x_te).float())
    pred = spk.sum(0).argmax(1).numpy()
    acc = float((pred == y_te).mean())
    print(f"snnTorch test accuracy ({len(y_te)} held-out trials): {acc:.4f}")

    d = C.FIXTURES / NAME
    d.mkdir(parents=True, exist_ok=True)
    reset_state(net)
    graph = export_to_nir(net, torch.from_numpy(x_te[0, :1]).float(), ignore_dims=[0])
    nir.write(str(d / "model.nir"), graph)

    from importlib.metadata import version
    C.write_fixture(
        NAME,
        inputs=x_te,
        outputs=spk.numpy(),
        predictions=pred,
        labels=y_te,
        meta={
            "model": NAME,
            "framework": "snntorch",
            "framework_version": snn.__version__,
            "exporter": "snntorch.export_nir.export_to_nir(net, sample_data[1, 16], ignore_dims=[0])",
            "export_note": "RSynaptic is written as a subgraph (CubaLIF 'lif' + Affine 'w_rec' "
                           "with the recurrent nn.Linear's bias, edges lif->w_rec->lif), which "
                           "nirtorch's legacy extractor flattens into the top graph as "
                           "'1.lif' and '1.w_rec'. Without ignore_dims=[0] the Input node gets "
                           "the batch dim [1, 16] and nir's type check fails (see the MLP).",
            "nir_version": version("nir"),
            "nirtorch_version": version("nirtorch"),
            "torch_version": torch.__version__,
            "architecture": "Linear(16,64,bias) -> RSynaptic(64, recurrent Linear(64,64,bias)) "
                            "-> Linear(64,8,bias) -> Leaky(8)",
            "dataset": "generated temporal-order task (_common.temporal_order): 16 channels in "
                       "4 groups; class = ordered pair of the group bursting in the 1st third "
                       "and the one bursting in the 2nd third; 8 classes, 4 of which differ "
                       f"only in order; Bernoulli bursts p={P_ON}, background p={P_BG}; "
                       f"{N_TRAIN} train trials (seed {SEED + 1}), {len(y_te)} test (seed {SEED + 2})",
            "input_shape": [16],
            "T": T,
            "batch": int(len(y_te)),
            "seed": SEED,
            "dt": 1e-4,
            "dt_note": "discrete per-step model; export_to_nir hard-codes dt = 1e-4 s: "
                       "tau_syn = dt/(1-alpha), tau_mem = dt/(1-beta), r = tau_mem/dt, "
                       "w_in = tau_syn/dt, v_leak = 0, v_reset = 0. One recorded step = one dt.",
            "neuron": {
                "hidden": {
                    "model": "snn.RSynaptic (all_to_all=True, linear_features=64)",
                    "alpha": ALPHA, "beta": BETA, "threshold": 1.0,
                    "update": "I[t] = alpha*I[t-1] + x[t] + W_rec @ S[t-1] + b_rec; "
                              "U[t] = beta*U[t-1] + I[t] - R[t]*threshold, R[t] = (U[t-1] > threshold)",
                    "note": "U[t] uses the already updated I[t]; the recurrent bias b_rec is "
                            "added every step, also at t=0 when S[-1] = 0",
                },
                "output": {
                    "model": "snn.Leaky", "beta": BETA, "threshold": 1.0,
                    "update": "U[t] = beta*U[t-1] + I[t] - R[t]*threshold, R[t] = (U[t-1] > threshold)",
                },
                "spike": "S[t] = (U[t] > threshold) (strict >, after the update)",
                "reset_mechanism": "subtract",
                "reset_delay": True,
                "reset_delay_note": "the reset of a spike at step t is applied at step t+1",
                "state_init": "spk, syn, mem = 0 at the start of every batch (each neuron's reset_mem())",
                "surrogate": "atan (snnTorch default)",
            },
            "outputs": "spikes of the final Leaky layer, float32 [T, B, 8]",
            "decision_rule": "argmax over classes of output spike counts summed over T; "
                             "ties -> lowest index",
            "accuracy": acc,
            "train": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam lr={LR}",
                      "loss": "cross-entropy on output spike counts", "n_train": N_TRAIN},
            "command": C.command_line(),
        },
    )


if __name__ == "__main__":
    main()
