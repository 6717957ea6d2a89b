"""Rockpool 3.1: two nets of rockpool's own torch modules trained with BPTT on the generated
temporal-order task (``_common.temporal_order``, the task of ``train_snntorch_rsynaptic.py``)
and exported with rockpool's own ``rockpool.nn.modules.torch.nir.to_nir``:

* ``rockpool_rlif``: LinearTorch(16, 64) -> LIFTorch(64, has_rec=True) -> LinearTorch(64, 8)
  -> LIFTorch(8), rockpool's defaults (trainable recurrent weights, biases and thresholds).
  rockpool 3.1's ``to_nir`` writes neither the recurrent weights nor the biases (see
  ``EXPORT_NOTE_RLIF``): the file is NOT the trained net, and the recorded outputs are the
  framework's, of the net with its recurrence.
* ``rockpool_lif_ff``: the same without recurrence and with the biases held at 0
  (``Constant``), each hidden neuron with its own fixed synaptic time constant (a bank of
  2..40 ms); everything it trains is exported.  Without recurrence it reaches 73 % (84 % for
  the recurrent net): it learns the six classes that total counts separate, not the order.

Run by hand (not in CI), from the repository root, in the rockpool venv:

    python3.11 -m venv /tmp/deploy-rockpool
    /tmp/deploy-rockpool/bin/pip install torch==2.13.0
    /tmp/deploy-rockpool/bin/pip install 'rockpool[nir]==3.1.*' scikit-learn
    /tmp/deploy-rockpool/bin/python benchmarks/deploy/train_rockpool_rsnn.py [rlif|ff]

Writes ``fixtures/rockpool_{rlif,lif_ff}/{model.nir,data.npz,meta.json}`` (both without an
argument).
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
HIDDEN = 64
P_ON, P_BG = 0.3, 0.04  # burst / background spike probability per step (as the snnTorch RSNN)
DT = 1e-3               # rockpool's default dt
TAU_MEM = 10e-3
TAU_SYN = 5e-3
FF_TAU_SYN = (2e-3, 40e-3)   # log-spaced range of the feed-forward net's hidden tau_syn
INIT_IN, INIT_OUT, INIT_REC = 0.3, 0.3, 0.5   # factors on rockpool's initial weights
EPOCHS = 15
BATCH = 50
LR = {"rlif": 5e-3, "ff": 2e-3}   # Adam; 5e-3 stalls the feed-forward net at 55 %

C.seed_everything(SEED)

import nir
import torch
import torch.nn.functional as F
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import LIFTorch, LinearTorch
from rockpool.nn.modules.torch.nir import to_nir
from rockpool.parameters import Constant


def _scale_init(net, w_in: float, w_out: float, w_rec: float = 0.0):
    """Rockpool's Kaiming-uniform initial weights make the hidden layer fire tens of spikes per
    step (floor rule, gain-1 synapses): scaled down to ~2-5 hidden spikes per neuron and trial."""
    with torch.no_grad():
        net[0].weight *= w_in
        net[2].weight *= w_out
        if w_rec:
            net[1].w_rec *= w_rec
    return net


def build_rlif():
    return _scale_init(Sequential(
        LinearTorch((16, HIDDEN)),
        LIFTorch(HIDDEN, has_rec=True, tau_mem=Constant(TAU_MEM), tau_syn=Constant(TAU_SYN), dt=DT),
        LinearTorch((HIDDEN, 8)),
        LIFTorch(8, tau_mem=Constant(TAU_MEM), tau_syn=Constant(TAU_SYN), dt=DT),
    ), INIT_IN, INIT_OUT, INIT_REC)


def build_ff():
    tau_syn = torch.logspace(np.log10(FF_TAU_SYN[0]), np.log10(FF_TAU_SYN[1]), HIDDEN)
    return _scale_init(Sequential(
        LinearTorch((16, HIDDEN)),
        LIFTorch(HIDDEN, tau_mem=Constant(TAU_MEM), tau_syn=Constant(tau_syn.reshape(HIDDEN, 1)),
                 bias=Constant(torch.zeros(HIDDEN)), dt=DT),
        LinearTorch((HIDDEN, 8)),
        LIFTorch(8, tau_mem=Constant(TAU_MEM), tau_syn=Constant(TAU_SYN), bias=Constant(torch.zeros(8)),
                 dt=DT),
    ), INIT_IN, INIT_OUT)


def run(net, x_tb: torch.Tensor) -> torch.Tensor:
    """Time-major ``[T, B, 16]`` in, output spikes ``[T, B, 8]`` out.  Rockpool modules are
    batch-major (``[B, T, N]``) and keep their state between calls (the last state of batch
    element 0), so every call starts with ``reset_state()``."""
    net.reset_state()
    out, _, _ = net(x_tb.transpose(0, 1))
    return out.transpose(0, 1)


def train(net, x_tr: np.ndarray, y_tr: np.ndarray, lr: float) -> None:
    x_t, y_t = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)
    opt = torch.optim.Adam(net.parameters().astorch(), lr=lr)  # rockpool idiom
    for epoch in range(EPOCHS):
        perm = torch.randperm(N_TRAIN)
        tot, correct = 0.0, 0
        for i in range(0, N_TRAIN, BATCH):
            idx = perm[i:i + BATCH]
            counts = run(net, x_t[:, idx]).sum(0)
            loss = F.cross_entropy(counts, y_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            correct += int((counts.argmax(1) == y_t[idx]).sum())
        print(f"epoch {epoch + 1:2d}  loss {tot / N_TRAIN:.3f}  train acc {correct / N_TRAIN:.3f}", flush=True)


UPDATE = ("isyn += x[t] + W_rec @ S[t-1];  vmem *= exp(-dt/tau_mem);  isyn *= exp(-dt/tau_syn);  "
          "vmem += isyn + bias;  S[t] = (vmem >= threshold) * floor(vmem / threshold), clamped to "
          "max_spikes_per_dt = 2**16;  vmem -= S[t] * threshold")

NEURON_COMMON = {
    "source": "rockpool 3.1.0 rockpool/nn/modules/torch/lif_torch.py LIFTorch.forward (the time loop) "
              "and StepPWL.forward (the spike rule)",
    "update": UPDATE,
    "update_note": "one time step of LIFTorch.forward, in this order: the input (and the recurrent "
                   "current of the previous step's spikes) is added to isyn BEFORE isyn decays, so "
                   "the current reaching vmem at step t is exp(-dt/tau_syn)*(isyn[t-1] + x[t] + "
                   "W_rec S[t-1]); vmem decays and then adds the decayed isyn and the bias, gain 1 "
                   "(no (1-decay) or dt factor); the spike count and its subtractive reset are in "
                   "the same step. Without has_rec, W_rec is a zero SimulationParameter (still "
                   "applied).",
    "decay": "alpha = exp(-dt/tau_mem) (membrane), beta = exp(-dt/tau_syn) (synapse); "
             "LIFBaseTorch.tau_to_decay",
    "spike": "S = (v >= threshold) * floor(v / threshold): several spikes per step (>=, floor), at "
             "most max_spikes_per_dt = 65536",
    "reset_mechanism": "subtract S*threshold, same step",
    "state_init": "vmem, isyn, spikes = 0 at the start of every call (net.reset_state(); rockpool "
                  "otherwise carries over the last state of batch element 0)",
    "surrogate": "StepPWL: d S / d v = 1/threshold where v >= threshold - 0.5",
    "noise_std": 0.0,
    "nir_mapping_note": "in the terms of to_nir's CubaLIF (x = the Linear's output), rockpool's step "
                        "is i[t] = beta*(i[t-1] + x[t]), v[t] = alpha*v[t-1] + i[t] + bias: gain 1 "
                        "from x to i (added before the decay) and from i to v. The exact "
                        "(zero-order-hold) solution of NIR's CubaLIF ODE with the written r and "
                        "w_in = 1 is i = beta*i + (1-beta)*x, v = alpha*v + (1-alpha)*r*i instead, "
                        "whose drive of v is (1-beta)/beta*(1-alpha)*r = 0.19 of rockpool's for "
                        "tau_mem = 10 ms, tau_syn = 5 ms, dt = 1 ms: r = tau_mem*exp(-dt/tau_mem)/dt "
                        "carries dt, not rockpool's gains.",
}


EXPORT_NOTE_RLIF = (
    "rockpool 3.1.0 to_nir (rockpool/nn/modules/torch/nir.py _extract_rockpool_module) maps "
    "LIFTorch to one CubaLIF(tau_syn, tau_mem, r = tau_mem*exp(-dt/tau_mem)/dt, "
    "v_leak = zeros_like(bias), v_threshold) and LinearTorch to Linear(weight.T); it never "
    "reads LIFTorch.w_rec and writes no recurrent edge (nirtorch's legacy extract_nir_graph "
    "treats the LIFTorch as one leaf node), and v_leak = zeros_like(bias) drops the trained "
    "biases. So model.nir is a FEED-FORWARD net without the trained biases: it does not "
    "compute what the recorded outputs (rockpool's own, of the recurrent net with biases) "
    "show. Neither w_in (default 1) nor dt is written. The Input type is the sample's "
    "[1, T, 16] (batch and time axes kept) and the Output type [1, T, 8]. nir.write "
    "(nir 1.0.4) writes the graph as returned, no fix needed."
)

EXPORT_NOTE_FF = (
    "rockpool 3.1.0 to_nir writes each LIFTorch as CubaLIF(tau_syn, tau_mem, r = "
    "tau_mem*exp(-dt/tau_mem)/dt, v_leak = zeros_like(bias) = 0, v_threshold, w_in = 1 "
    "(default)) and each LinearTorch (no bias) as Linear(weight.T): with no recurrence and "
    "biases fixed at 0, every trained value (weights, thresholds) is in the file. dt is not "
    "written (only implied by r). The Input type is the sample's [1, T, 16] (batch and time "
    "axes kept) and the Output type [1, T, 8]. nir.write (nir 1.0.4) writes the graph as "
    "returned, no fix needed."
)


def main(which: str) -> None:
    x_tr, y_tr = C.temporal_order(N_TRAIN, T, np.random.default_rng(SEED + 1), p_on=P_ON, p_bg=P_BG)
    x_te, y_te = C.temporal_order(C.N_TEST, T, np.random.default_rng(SEED + 2), p_on=P_ON, p_bg=P_BG)
    torch.manual_seed(SEED)  # the same initial weights whichever net runs first
    net = build_rlif() if which == "rlif" else build_ff()
    name = "rockpool_rlif" if which == "rlif" else "rockpool_lif_ff"
    train(net, x_tr, y_tr, LR[which])

    with torch.no_grad():
        spk = run(net, torch.from_numpy(x_te).float())
    pred = spk.sum(0).argmax(1).numpy()
    acc = float((pred == y_te).mean())
    print(f"rockpool {name} test accuracy ({len(y_te)} held-out trials): {acc:.4f}")

    d = C.FIXTURES / name
    d.mkdir(parents=True, exist_ok=True)
    net.reset_state()
    # rockpool's sample data is batch-major [B, T, N]: one held-out trial
    graph = to_nir(net, torch.from_numpy(x_te[:, :1]).float().transpose(0, 1))
    nir.write(str(d / "model.nir"), graph)

    hid, out = net[1], net[3]
    thr_h = hid.threshold.detach().numpy()
    thr_o = out.threshold.detach().numpy()
    bias_h = hid.bias.detach().numpy()
    bias_o = out.bias.detach().numpy()
    neuron = dict(NEURON_COMMON)
    neuron["hidden"] = {
        "model": f"LIFTorch({HIDDEN}" + (", has_rec=True)" if which == "rlif" else ")"),
        "tau_mem": TAU_MEM,
        "tau_syn": TAU_SYN if which == "rlif" else f"logspace {FF_TAU_SYN[0]}..{FF_TAU_SYN[1]} s over the "
                                                    f"{HIDDEN} neurons (Constant)",
        "threshold": f"trained, min {thr_h.min():.4f} max {thr_h.max():.4f}",
        "bias": (f"trained, min {bias_h.min():.4f} max {bias_h.max():.4f} (not exported)"
                 if which == "rlif" else "Constant 0"),
    }
    if which == "rlif":
        w_rec = hid.w_rec.detach().numpy()
        neuron["hidden"]["w_rec"] = (f"trained [64, 64], |w| max {np.abs(w_rec).max():.4f}, "
                                     f"mean |w| {np.abs(w_rec).mean():.4f} (not exported)")
    neuron["output"] = {
        "model": "LIFTorch(8)", "tau_mem": TAU_MEM, "tau_syn": TAU_SYN,
        "threshold": f"trained, min {thr_o.min():.4f} max {thr_o.max():.4f}",
        "bias": (f"trained, min {bias_o.min():.4f} max {bias_o.max():.4f} (not exported)"
                 if which == "rlif" else "Constant 0"),
    }
    max_spikes = float(spk.max())

    from importlib.metadata import version
    import rockpool
    C.write_fixture(
        name,
        inputs=x_te,
        outputs=spk.numpy(),
        predictions=pred,
        labels=y_te,
        meta={
            "model": name,
            "framework": "rockpool",
            "framework_version": rockpool.__version__,
            "exporter": "rockpool.nn.modules.torch.nir.to_nir(net, sample_data[1, T, 16]) "
                        "(nirtorch.extract_nir_graph)",
            "export_note": EXPORT_NOTE_RLIF if which == "rlif" else EXPORT_NOTE_FF,
            "export_faithful": which != "rlif",
            "nir_version": version("nir"),
            "nirtorch_version": version("nirtorch"),
            "torch_version": torch.__version__,
            "architecture": (f"LinearTorch(16,{HIDDEN}, no bias) -> LIFTorch({HIDDEN}, has_rec=True, "
                             f"bias) -> LinearTorch({HIDDEN},8, no bias) -> LIFTorch(8, bias)"
                             if which == "rlif" else
                             f"LinearTorch(16,{HIDDEN}, no bias) -> LIFTorch({HIDDEN}, bias 0) -> "
                             f"LinearTorch({HIDDEN},8, no bias) -> LIFTorch(8, bias 0)"),
            "dataset": "generated temporal-order task (_common.temporal_order): 16 channels in "
                       "4 groups; class = ordered pair of the group bursting in the 1st third "
                       "and the one bursting in the 2nd third; 8 classes, 4 of which differ "
                       f"only in order; Bernoulli bursts p={P_ON}, background p={P_BG}; "
                       f"{N_TRAIN} train trials (seed {SEED + 1}), {len(y_te)} test (seed {SEED + 2})",
            "input_shape": [16],
            "T": T,
            "batch": int(len(y_te)),
            "seed": SEED,
            "dt": DT,
            "dt_note": "LIFTorch(dt=1e-3), rockpool's default; to_nir writes no dt, only "
                       "r = tau_mem*exp(-dt/tau_mem)/dt. One recorded step = one dt.",
            "neuron": neuron,
            "max_output_spikes_per_step": max_spikes,
            "outputs": "spikes (counts per step, floor rule) of the final LIFTorch, float32 [T, B, 8]",
            "decision_rule": "argmax over classes of output spike counts summed over T; "
                             "ties -> lowest index",
            "accuracy": acc,
            "train": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": f"Adam lr={LR[which]}",
                      "loss": "cross-entropy on output spike counts", "n_train": N_TRAIN,
                      "trained": [n for n, p in net.named_parameters() if p.requires_grad]},
            "command": C.command_line() + f" {which}",
        },
    )


if __name__ == "__main__":
    for w in (sys.argv[1:] or ["rlif", "ff"]):
        if w not in ("rlif", "ff"):
            sys.exit(f"unknown net {w!r}: rlif or ff")
        main(w)
