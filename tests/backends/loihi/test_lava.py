"""LoihiEmulator against Lava's own CPU fixed-point models, bit for bit.

Lava (lava-nc 0.10.0) needs Python < 3.11, so it runs in a separate interpreter: the
script :data:`RUNNER` builds, for a ``nircc.loihi/1`` program, the Lava processes netx
would build (``RingBuffer`` -> ``Dense`` / ``DelayDense`` / ``Conv`` -> ``LIF``, recurrent
``Dense`` back into the LIF, flatten as ``transpose([2, 1, 0]).flatten()``, conv kernels
flipped into Lava's ``(C_out, W, H, C_in)`` convolution, no sign mode passed: netx passes
none), runs ``Loihi2SimCfg(select_tag="fixed_pt")`` (``PyLifModelBitAcc``,
``PyDenseModelBitAcc``, ``PyDelayDenseModelBitAcc``, ``PyConvModelFixed``) one sample at a
time and records ``u``, ``v`` and ``s_out`` of every LIF with ``Monitor``.

:data:`CASES` covers every layer kind and path of the emulator: dense chains in all sign
modes, ``num_weight_bits`` 3..8 and ``weight_exp`` -3..1; recurrent layers; per-synapse
delays (also on the recurrent synapse); strided, padded, dilated and grouped convolutions
with a flatten into a dense layer; an input layer with neurons fed int32 currents; graded
input into dense and conv layers; and an overflow case (``u`` beyond 24 bits, ``v``
saturating at both ends).  Every case is generated from a fixed seed.

:data:`NETX_CASES` go one level up: a ``.net`` file written here (:func:`write_net`) is
loaded by lava-dl's own ``netx.hdf5.Network`` (:data:`NETX_RUNNER`), which picks the weight
exponent, bit count and sign mode itself, and the emulator runs the program nircc derives
for that file (:func:`~nircc.backends.loihi.weights.netx_synapse`,
:func:`~nircc.backends.loihi.weights.netx_recurrent_synapses`, ``du = iDecay - 1``,
``bias_exp`` 6, conv bias per channel): dense layers with bias and delays, ``dense_rec``,
strided/padded/dilated/grouped convolutions with flatten, graded input.  (An input layer
with neurons cannot be checked there: netx's ``Input`` block leaves its input port
unconnected, lava-dl#298, and Lava refuses to compile it.)

Without Lava, :data:`DIGESTS` and :data:`NETX_DIGESTS` hold the SHA-256 of the recorded
traces of every case (lava-nc 0.10.0 and lava-dl 0.6.0, Python 3.10.13, numpy 1.26.4), and
the emulator's traces must hash the same.  With ``NIRCC_LAVA_PYTHON`` pointing to a Python
that imports lava (a ``python3.10 -m venv`` with ``pip install lava-nc``, and ``lava-dl``
for the netx cases), the slow tests run Lava live and compare the arrays;
``NIRCC_LAVA_PYTHON=... python tests/backends/loihi/test_lava.py`` prints fresh digests.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from typing import Any

import h5py
import numpy as np
import pytest

from nircc.backends.loihi.emulator import LoihiEmulator
from nircc.backends.loihi.program import (ConvLayer, CubaNeurons, DenseLayer, FlattenLayer, InputLayer, LoihiProgram,
                                          Synapse)
from nircc.backends.loihi.weights import determine_sign_mode, lava_weights, netx_recurrent_synapses, netx_synapse
from nircc.util import dumps

LAVA_PYTHON = os.environ.get("NIRCC_LAVA_PYTHON")

RUNNER = r'''
import json, sys
import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense, DelayDense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor


def lif(name, neu, shape):
    bias = np.asarray(neu["bias_mant"])
    if len(shape) == 3:
        bias = bias.reshape(shape).transpose(2, 1, 0)
    return LIF(shape=tuple(shape[::-1]), du=neu["du"], dv=neu["dv"], vth=neu["vth"], bias_mant=bias,
               bias_exp=neu["bias_exp"], name=name)


def dense(syn, nmb):
    w = np.asarray(syn["weights"], dtype=np.int64).reshape(syn["weights_shape"])
    kw = dict(weights=w, weight_exp=syn["weight_exp"], num_weight_bits=syn["num_weight_bits"], num_message_bits=nmb)
    if syn["delays"] is None:
        return Dense(**kw)
    return DelayDense(delays=np.asarray(syn["delays"], dtype=int).reshape(w.shape), max_delay=62, **kw)


def run_one(prog, x):
    T = x.shape[0]
    layers = prog["layers"]
    in_shape = layers[0]["shape"]
    data = x.T if len(in_shape) == 1 else x.reshape((T, *in_shape)).transpose(3, 2, 1, 0)
    src, flatten_next = RingBuffer(data=data.astype(np.int32)).s_out, False
    nmb = prog["input_message_bits"] if layers[0]["neurons"] is None else 0
    lifs = []
    for lay in layers:
        kind = lay["kind"]
        if kind == "input" and lay["neurons"] is not None:
            p = lif(lay["name"], lay["neurons"], in_shape)
            src.connect(p.a_in)
        elif kind == "flatten":
            flatten_next = True
            continue
        elif kind in ("dense", "dense_rec"):
            syn = dense(lay["synapse"], nmb)
            (src.transpose([2, 1, 0]).flatten() if flatten_next else src).connect(syn.s_in)
            flatten_next = False
            p = lif(lay["name"], lay["neurons"], (len(lay["neurons"]["bias_mant"]),))
            syn.a_out.connect(p.a_in)
            if lay["synapse_rec"] is not None:
                rec = dense(lay["synapse_rec"], nmb)
                p.s_out.connect(rec.s_in)
                rec.a_out.connect(p.a_in)
        elif kind == "conv":
            w = np.asarray(lay["weights"], dtype=np.int64).reshape(lay["weights_shape"])
            c, h, wd = lay["in_shape"]
            conv = Conv(weight=w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1), input_shape=(wd, h, c),
                        stride=tuple(lay["stride"][::-1]), padding=tuple(lay["padding"][::-1]),
                        dilation=tuple(lay["dilation"][::-1]), groups=lay["groups"], num_message_bits=nmb)
            src.connect(conv.s_in)
            p = lif(lay["name"], lay["neurons"], tuple(conv.output_shape[::-1]))
            conv.a_out.connect(p.a_in)
        else:
            continue
        src = p.s_out
        lifs.append(p)
        nmb = 0
    mons = []
    for p in lifs:
        mons.append({})
        for var in ("u", "v", "s_out"):
            mons[-1][var] = Monitor()
            mons[-1][var].probe(getattr(p, var), T)
    lifs[0].run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    res = {}
    for p, ms in zip(lifs, mons):
        for var, m in ms.items():
            a = np.asarray(m.get_data()[p.name][var])
            if a.ndim == 4:
                a = a.transpose(0, 3, 2, 1)
            res[p.name + "|" + var] = a.reshape(T, -1).astype(np.int64)
    lifs[0].stop()
    return res


prog = json.load(open(sys.argv[1]))
x = np.load(sys.argv[2], allow_pickle=False)["x"]
per = [run_one(prog, x[:, b]) for b in range(x.shape[1])]
np.savez(sys.argv[3], **{k: np.stack([r[k] for r in per], axis=1) for k in per[0]})
'''


NETX_RUNNER = r'''
import json, sys
import numpy as np
from lava.lib.dl import netx
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.source import RingBuffer
from lava.proc.monitor.process import Monitor

net_path, x_path, mb, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
x = np.load(x_path, allow_pickle=False)["x"]
T = x.shape[0]
res = {}
for b in range(x.shape[1]):
    net = netx.hdf5.Network(net_config=net_path, input_message_bits=mb)
    shape = net.inp.shape
    data = x[:, b].T if len(shape) == 1 else x[:, b].reshape((T, *shape[::-1])).transpose(3, 2, 1, 0)
    rb = RingBuffer(data=data.astype(np.int32))
    rb.s_out.connect(net.inp)
    mons = []
    for blk in net.layers:
        mons.append({})
        for var in ("u", "v", "s_out"):
            mons[-1][var] = Monitor()
            mons[-1][var].probe(getattr(blk.neuron, var), T)
    net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    for i, (blk, ms) in enumerate(zip(net.layers, mons)):
        for var, m in ms.items():
            a = np.asarray(m.get_data()[blk.neuron.name][var])
            if a.ndim == 4:
                a = a.transpose(0, 3, 2, 1)
            res.setdefault(f"{i}|{var}", []).append(a.reshape(T, -1).astype(np.int64))
    net.stop()
np.savez(out_path, **{k: np.stack(v, axis=1) for k, v in res.items()})
'''


# ---------------------------------------------------------------------- the cases
def _weights(rng: np.random.Generator, shape: tuple, mode: str, nwb: int) -> np.ndarray:
    """Random weights that Lava's clip and truncate leave unchanged, in ``mode`` and in the
    mode Lava picks itself."""
    lo, hi = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}[mode]
    w = rng.integers(lo, hi + 1, size=shape)
    w[rng.random(shape) < 0.3] = 0
    for _ in range(3):
        w = lava_weights(lava_weights(w, mode, nwb), determine_sign_mode(w), nwb)
    return w


def _neurons(rng: np.random.Generator, n: int, vth_hi: int = 400) -> CubaNeurons:
    return CubaNeurons(du=int((0, 400, 2048, 4095)[rng.integers(4)]), dv=int((0, 163, 1000, 4095)[rng.integers(4)]),
                       vth=int(rng.integers(1, vth_hi)), bias_mant=rng.integers(-20, 100, n),
                       bias_exp=int(rng.integers(0, 8)))


def _synapse(rng: np.random.Generator, n_out: int, n_in: int, delays: bool = False, mode: str = "") -> Synapse:
    mode = mode or ("mixed", "excitatory", "inhibitory", "mixed")[rng.integers(4)]
    nwb = int(rng.integers(3, 9))
    return Synapse(_weights(rng, (n_out, n_in), mode, nwb), weight_exp=int(rng.integers(-3, 2)), num_weight_bits=nwb,
                   sign_mode=mode, delays=rng.integers(0, 6, (n_out, n_in)) if delays else None)


def make_case(kind: str, seed: int) -> tuple[LoihiProgram, np.ndarray]:
    """A program of ``kind`` and its input ``[60, 2, N_in]`` from ``seed``."""
    rng = np.random.default_rng([KINDS.index(kind), seed])
    T, B = 60, 2
    if kind == "chain":
        p = LoihiProgram([InputLayer("in", (12,)), DenseLayer("h1", _synapse(rng, 10, 12), _neurons(rng, 10)),
                          DenseLayer("h2", _synapse(rng, 8, 10, mode="mixed"), _neurons(rng, 8))])
        x = rng.random((T, B, 12)) < 0.3
    elif kind == "rec":
        p = LoihiProgram([InputLayer("in", (8,)),
                          DenseLayer("r", _synapse(rng, 10, 8, mode="excitatory"), _neurons(rng, 10),
                                     synapse_rec=_synapse(rng, 10, 10, mode="mixed")),
                          DenseLayer("o", _synapse(rng, 6, 10), _neurons(rng, 6))])
        x = rng.random((T, B, 8)) < 0.3
    elif kind == "delay":
        p = LoihiProgram([InputLayer("in", (6,)),
                          DenseLayer("d", _synapse(rng, 8, 6, delays=True, mode="excitatory"), _neurons(rng, 8)),
                          DenseLayer("dr", _synapse(rng, 5, 8, delays=True), _neurons(rng, 5),
                                     synapse_rec=_synapse(rng, 5, 5, delays=True))])
        x = rng.random((T, B, 6)) < 0.3
    elif kind == "conv":
        c1 = ConvLayer("c1", (2, 7, 6), _weights(rng, (4, 2, 3, 3), "mixed", 7), _neurons(rng, 4 * 7 * 2, 100),
                       stride=(1, 2), padding=(1, 0), num_weight_bits=7)
        c2 = ConvLayer("c2", (4, 7, 2), _weights(rng, (6, 2, 2, 2), "excitatory", 8), _neurons(rng, 6 * 5 * 1, 40),
                       dilation=(2, 1), groups=2, sign_mode="excitatory")
        p = LoihiProgram([InputLayer("in", (2, 7, 6)), c1, c2, FlattenLayer("fl"),
                          DenseLayer("fc", _synapse(rng, 5, 30, mode="excitatory"), _neurons(rng, 5, 40))])
        x = rng.random((T, B, 84)) < 0.4
    elif kind == "input_neurons":
        p = LoihiProgram([InputLayer("in", (10,), _neurons(rng, 10, 100)),
                          DenseLayer("h", _synapse(rng, 7, 10), _neurons(rng, 7))])
        x = rng.integers(-3000, 9000, (T, B, 10))
    elif kind == "graded":
        p = LoihiProgram([InputLayer("in", (9,)), DenseLayer("h", _synapse(rng, 7, 9), _neurons(rng, 7, 3000)),
                          DenseLayer("o", _synapse(rng, 4, 7, delays=True), _neurons(rng, 4))], input_message_bits=8)
        x = rng.integers(-128, 128, (T, B, 9))
    elif kind == "conv_graded":
        c1 = ConvLayer("c1", (1, 5, 5), _weights(rng, (3, 1, 3, 3), "excitatory", 6), _neurons(rng, 27, 3000),
                       padding=(1, 1), stride=(2, 2), num_weight_bits=6, sign_mode="excitatory")
        p = LoihiProgram([InputLayer("in", (1, 5, 5)), c1], input_message_bits=6)
        x = rng.integers(-32, 32, (T, B, 25))
    else:   # overflow: u far beyond 24 bits (Lava's single conditional wrap), v saturating both ways
        p = LoihiProgram([
            InputLayer("in", (20,)),
            DenseLayer("pos", Synapse(np.full((6, 20), 254), weight_exp=7, num_weight_bits=7, sign_mode="excitatory"),
                       CubaNeurons(du=int(rng.integers(50, 150)), dv=10, vth=131071, bias_mant=np.zeros(6))),
            DenseLayer("neg", Synapse(np.full((5, 6), -255), weight_exp=7, num_weight_bits=8, sign_mode="inhibitory"),
                       CubaNeurons(du=0, dv=0, vth=5, bias_mant=np.full(5, 4095), bias_exp=7))])
        x = rng.random((T, B, 20)) < 0.9
    p.validate()
    return p, np.asarray(x).astype(np.int64)


KINDS = ("chain", "rec", "delay", "conv", "input_neurons", "graded", "conv_graded", "overflow")
#: three seeds per kind, the first ones in which every layer spikes on some steps and not on all
SEEDS = {"chain": (0, 2, 4), "rec": (0, 1, 2), "delay": (0, 1, 2), "conv": (0, 1, 2), "input_neurons": (1, 2, 5),
         "graded": (0, 2, 3), "conv_graded": (0, 1, 2), "overflow": (0, 1, 2)}
CASES = [(kind, seed) for kind in KINDS for seed in SEEDS[kind]]


def program_digest(p: LoihiProgram, x: np.ndarray) -> str:
    d = p.to_dict()
    for key in ("schema", "schema_version", "nircc_version", "format"):   # the header, not the content
        d.pop(key, None)
    return hashlib.sha256(dumps(d).encode() + x.astype("<i8").tobytes()).hexdigest()[:16]


def trace_digest(p: LoihiProgram, traces: dict[str, np.ndarray]) -> str:
    """SHA-256 of v, u and spikes of every neuron layer (``[T, B, N]`` int64)."""
    h = hashlib.sha256()
    for lay in p.neuron_layers():
        for var in ("v", "u", "s_out"):
            h.update(np.ascontiguousarray(traces[f"{lay.name}|{var}"]).astype("<i8").tobytes())
    return h.hexdigest()[:16]


def emulator_traces(p: LoihiProgram, x: np.ndarray) -> dict[str, np.ndarray]:
    st = LoihiEmulator(p).run(x, record=True).states
    out = {}
    for lay in p.neuron_layers():
        out[f"{lay.name}|v"], out[f"{lay.name}|u"] = st[lay.name + "/v"], st[lay.name + "/i"]
        out[f"{lay.name}|s_out"] = st[lay.name + "/output"]
    return out


def run_lava(p: LoihiProgram, x: np.ndarray, python: str, work: Path) -> dict[str, np.ndarray]:
    (work / "runner.py").write_text(RUNNER)
    (work / "program.json").write_text(p.to_json())
    np.savez(work / "x.npz", x=x)
    r = subprocess.run([python, str(work / "runner.py"), str(work / "program.json"), str(work / "x.npz"),
                        str(work / "lava.npz")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    with np.load(work / "lava.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---------------------------------------------------------------------- netx cases
def _net_neuron(rng: np.random.Generator, vth_hi: int = 300) -> dict:
    """A netx CUBA neuron group (``iDecay`` = Lava's du + 1)."""
    return {"type": "CUBA", "iDecay": int((1, 401, 2049, 4096)[rng.integers(4)]),
            "vDecay": int((0, 163, 1000, 4095)[rng.integers(4)]), "vThMant": int(rng.integers(1, vth_hi)),
            "refDelay": 1, "gradedSpike": 0}


def _neurons_of(neuron: dict, bias: np.ndarray) -> CubaNeurons:
    """What netx makes of a neuron group and a bias (hdf5.py:144-163: bias_exp 6)."""
    return CubaNeurons(du=neuron["iDecay"] - 1, dv=neuron["vDecay"], vth=neuron["vThMant"], bias_mant=bias, bias_exp=6)


def make_netx_case(kind: str, seed: int) -> tuple[list[dict], LoihiProgram, np.ndarray]:
    """The layers of a ``.net`` file, the program netx + Lava make of it, and an input."""
    rng = np.random.default_rng([100 + NETX_KINDS.index(kind), seed])
    T, B = 60, 2
    mb = 0
    if kind == "netx_dense":
        w1, b1, n1 = rng.integers(-100, 101, (10, 12)), rng.integers(-20, 60, 10), _net_neuron(rng)
        w2, n2 = rng.integers(0, 40, (6, 10)), _net_neuron(rng)
        d2 = rng.integers(0, 5, (6, 10))
        net = [{"type": "input", "shape": np.array([12])},
               {"type": "dense", "shape": np.array([10]), "weight": w1, "bias": b1, "neuron": n1},
               {"type": "dense", "shape": np.array([6]), "weight": w2, "delay": d2, "neuron": n2}]
        layers = [InputLayer("0", (12,)), DenseLayer("1", netx_synapse(w1), _neurons_of(n1, b1)),
                  DenseLayer("2", netx_synapse(w2, delays=d2), _neurons_of(n2, np.zeros(6)))]
        x = rng.random((T, B, 12)) < 0.3
    elif kind == "netx_rec":
        w, w_rec, n1 = rng.integers(0, 60, (10, 8)), rng.integers(-30, 30, (10, 10)), _net_neuron(rng)
        w2, n2 = rng.integers(-80, 80, (5, 10)), _net_neuron(rng)
        syn, rec = netx_recurrent_synapses(w, w_rec)
        net = [{"type": "input", "shape": np.array([8])},
               {"type": "dense_rec", "shape": np.array([10]), "weight": w, "weight_rec": w_rec, "neuron": n1},
               {"type": "dense", "shape": np.array([5]), "weight": w2, "neuron": n2}]
        layers = [InputLayer("0", (8,)), DenseLayer("1", syn, _neurons_of(n1, np.zeros(10)), synapse_rec=rec),
                  DenseLayer("2", netx_synapse(w2), _neurons_of(n2, np.zeros(5)))]
        x = rng.random((T, B, 8)) < 0.3
    elif kind == "netx_conv":
        k1, b1, n1 = _weights(rng, (4, 2, 3, 3), "mixed", 8), rng.integers(-10, 30, 4), _net_neuron(rng, 100)
        k2, n2 = _weights(rng, (6, 2, 2, 2), "excitatory", 7), _net_neuron(rng, 40)
        w3, n3 = rng.integers(0, 50, (5, 30)), _net_neuron(rng, 40)
        net = [{"type": "input", "shape": np.array([2, 7, 6])},
               {"type": "conv", "shape": np.array([4, 7, 2]), "weight": k1, "bias": b1, "neuron": n1,
                "stride": np.array([1, 2]), "padding": np.array([1, 0]), "dilation": np.array([1, 1]), "groups": 1},
               {"type": "conv", "shape": np.array([6, 5, 1]), "weight": k2, "neuron": n2,
                "stride": np.array([1, 1]), "padding": np.array([0, 0]), "dilation": np.array([2, 1]), "groups": 2},
               {"type": "flatten"},
               {"type": "dense", "shape": np.array([5]), "weight": w3, "neuron": n3}]
        layers = [InputLayer("0", (2, 7, 6)),
                  ConvLayer("1", (2, 7, 6), k1, _neurons_of(n1, np.repeat(b1, 7 * 2)), stride=(1, 2), padding=(1, 0)),
                  ConvLayer("2", (4, 7, 2), k2, _neurons_of(n2, np.zeros(30)), dilation=(2, 1), groups=2,
                            num_weight_bits=7, sign_mode="excitatory"),
                  FlattenLayer("3"), DenseLayer("4", netx_synapse(w3), _neurons_of(n3, np.zeros(5)))]
        x = rng.random((T, B, 84)) < 0.4
    else:   # netx_graded
        mb = 8
        w1, n1, w2, n2 = rng.integers(-40, 41, (7, 9)), _net_neuron(rng, 3000), rng.integers(1, 90, (4, 7)), _net_neuron(rng)
        net = [{"type": "input", "shape": np.array([9])},
               {"type": "dense", "shape": np.array([7]), "weight": w1, "neuron": n1},
               {"type": "dense", "shape": np.array([4]), "weight": w2, "neuron": n2}]
        layers = [InputLayer("0", (9,)), DenseLayer("1", netx_synapse(w1), _neurons_of(n1, np.zeros(7))),
                  DenseLayer("2", netx_synapse(w2), _neurons_of(n2, np.zeros(4)))]
        x = rng.integers(-128, 128, (T, B, 9))
    p = LoihiProgram(layers, input_message_bits=mb)
    p.validate()
    return net, p, np.asarray(x).astype(np.int64)


def write_net(path: Path, net: list[dict]) -> None:
    """A netx ``.net`` file of ``net`` (strings as ASCII bytes, as netx's NetDict reads them)."""
    def put(group: h5py.Group, key: str, value: Any) -> None:
        group.create_dataset(key, data=np.bytes_(value) if isinstance(value, str) else value)

    with h5py.File(path, "w") as f:
        for i, lay in enumerate(net):
            g = f.create_group(f"layer/{i}")
            for key, value in lay.items():
                if key == "neuron":
                    for k, v in value.items():
                        put(g.require_group("neuron"), k, v)
                else:
                    put(g, key, value)


def run_netx(net: list[dict], p: LoihiProgram, x: np.ndarray, python: str, work: Path) -> dict[str, np.ndarray]:
    (work / "netx_runner.py").write_text(NETX_RUNNER)
    write_net(work / "model.net", net)
    np.savez(work / "x.npz", x=x)
    r = subprocess.run([python, str(work / "netx_runner.py"), str(work / "model.net"), str(work / "x.npz"),
                        str(p.input_message_bits), str(work / "netx.npz")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    names = [lay.name for lay in p.neuron_layers()]
    with np.load(work / "netx.npz", allow_pickle=False) as f:
        return {f"{names[int(k.split('|')[0])]}|{k.split('|')[1]}": f[k] for k in f.files}


NETX_KINDS = ("netx_dense", "netx_rec", "netx_conv", "netx_graded")
NETX_CASES = [(kind, seed) for kind in NETX_KINDS for seed in (0, 1)]


#: (program digest, Lava trace digest) per case: lava-nc 0.10.0, Python 3.10.13, numpy 1.26.4.
DIGESTS: dict[tuple[str, int], tuple[str, str]] = {
    ('chain', 0): ('49d21a63a7be22de', '479f3bdde2f5e516'),
    ('chain', 2): ('42887192686b384e', '13b0f7c8b28e6df3'),
    ('chain', 4): ('1450802735aea236', 'd970b9f2c1f6f73b'),
    ('rec', 0): ('2c7cc9067daf2e7b', '6a8c9e81bdbc7914'),
    ('rec', 1): ('f0482177689266e1', 'fd5a5900cd38b2eb'),
    ('rec', 2): ('ca33f31978ce21c2', '81e6cd51b6a1ee40'),
    ('delay', 0): ('0a6ee1e6d54dc77c', '3f297c5cafee17c9'),
    ('delay', 1): ('609d4388a974c3aa', 'ecd52a8962200f4e'),
    ('delay', 2): ('6e143d18d5c3d7ca', '26a9a836764012bf'),
    ('conv', 0): ('b3b096a41dd88062', '159f3c41de7470f9'),
    ('conv', 1): ('fc7766b3b92eb2d4', '3ec2c09098497142'),
    ('conv', 2): ('d05eed61016fd88d', 'ed690c5828363f91'),
    ('input_neurons', 1): ('dd107fb338a1b4e9', 'd707c8005034cf9d'),
    ('input_neurons', 2): ('c1a546c7120e5a3f', '5ac3b6c7641e8511'),
    ('input_neurons', 5): ('dffb499e8a8073df', 'd6d6da4e307facd4'),
    ('graded', 0): ('2297744bf26969bd', '291718ed255ffc19'),
    ('graded', 2): ('34cec474a18d0071', 'c03ea9b519194a83'),
    ('graded', 3): ('d958527f4525a50a', 'e962f11fd0cf01a2'),
    ('conv_graded', 0): ('5bcb2ea679971347', 'f1792dd380c7eff9'),
    ('conv_graded', 1): ('99391ab8a63a400a', 'b2dc966c36e396c8'),
    ('conv_graded', 2): ('d6c9056c00a08eaa', '77f5f49de1220080'),
    ('overflow', 0): ('8e67275bd17ad28b', '7b22fd10ffc1f857'),
    ('overflow', 1): ('66d3d1ca4a0b991c', 'c72737d26668798c'),
    ('overflow', 2): ('5041a0eea8284619', '05c5bee0077815f0'),
}


#: the same for the netx cases: lava-dl 0.6.0 (netx) on lava-nc 0.10.0.
NETX_DIGESTS: dict[tuple[str, int], tuple[str, str]] = {
    ('netx_dense', 0): ('5f585e39efd874cc', '0c0af788e1081d53'),
    ('netx_dense', 1): ('4dca4b860e7ac53f', 'e2f365740751e93b'),
    ('netx_rec', 0): ('64228bbf344d36a0', 'bb4302adccec164f'),
    ('netx_rec', 1): ('5e4e28b18572d84a', '446fc0ced6f7787c'),
    ('netx_conv', 0): ('de588649df8b4d74', 'e510d270d34e9f1d'),
    ('netx_conv', 1): ('a24ed3cb666ed0c5', '9620ac666cd28eaf'),
    ('netx_graded', 0): ('8e107f9a34123468', '021f25aed3ddd714'),
    ('netx_graded', 1): ('44f69285dbab3a72', 'c4ea15fd7e5bbb09'),
}


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("kind,seed", CASES)
def test_emulator_reproduces_lava_traces(kind: str, seed: int) -> None:
    p, x = make_case(kind, seed)
    want_program, want_trace = DIGESTS[(kind, seed)]
    assert program_digest(p, x) == want_program, \
        "the case generator changed (numpy RNG stream?): regenerate DIGESTS with NIRCC_LAVA_PYTHON"
    traces = emulator_traces(p, x)
    assert trace_digest(p, traces) == want_trace
    for lay in p.neuron_layers():          # every layer of every case takes part
        assert 0 < traces[f"{lay.name}|s_out"].mean() < 1, lay.name


def test_cases_reach_the_overflow_paths() -> None:
    p, x = make_case("overflow", 0)
    t = emulator_traces(p, x)
    assert t["pos|u"].max() > 2 ** 24            # beyond 24 bits: Lava wraps once per step only
    assert (t["neg|v"] == -(2 ** 23 - 1)).any()  # negative saturation


@pytest.mark.parametrize("kind", KINDS)
def test_batch_equals_samples_one_by_one(kind: str) -> None:
    p, x = make_case(kind, SEEDS[kind][0])
    x = np.concatenate([x, x[::-1], np.random.default_rng(5).permutation(x, axis=0)], axis=1)      # B = 6
    emu = LoihiEmulator(p)
    whole = emu.run(x, record=True)
    for b in range(x.shape[1]):
        one = emu.run(x[:, b:b + 1], record=True)
        for key, arr in one.states.items():
            np.testing.assert_array_equal(whole.states[key][:, b:b + 1], arr, err_msg=f"{key}, sample {b}")
        np.testing.assert_array_equal(whole.outputs[p.output_layer.name][:, b:b + 1], one.outputs[p.output_layer.name])


@pytest.mark.parametrize("kind,seed", NETX_CASES)
def test_emulator_reproduces_netx_traces(kind: str, seed: int) -> None:
    _, p, x = make_netx_case(kind, seed)
    want_program, want_trace = NETX_DIGESTS[(kind, seed)]
    assert program_digest(p, x) == want_program, \
        "the case generator changed (numpy RNG stream?): regenerate NETX_DIGESTS with NIRCC_LAVA_PYTHON"
    traces = emulator_traces(p, x)
    assert trace_digest(p, traces) == want_trace
    for lay in p.neuron_layers():
        assert 0 < traces[f"{lay.name}|s_out"].mean() < 1, lay.name


@pytest.mark.slow
@pytest.mark.parametrize("kind,seed", NETX_CASES)
def test_emulator_equals_live_netx(kind: str, seed: int, tmp_path: Path, netx_python: str) -> None:
    net, p, x = make_netx_case(kind, seed)
    lava = run_netx(net, p, x, netx_python, tmp_path)
    emu = emulator_traces(p, x)
    for key, want in lava.items():
        got = emu[key].astype(np.int64)
        if not np.array_equal(got, want):
            i = tuple(np.argwhere(got != want)[0])
            pytest.fail(f"{key} differs first at [t, b, n] = {list(i)}: netx {want[i]}, emulator {got[i]}")


@pytest.mark.slow
@pytest.mark.skipif(not LAVA_PYTHON, reason="set NIRCC_LAVA_PYTHON to a Python (< 3.11) with lava-nc installed")
@pytest.mark.parametrize("kind,seed", CASES)
def test_emulator_equals_live_lava(kind: str, seed: int, tmp_path: Path) -> None:
    p, x = make_case(kind, seed)
    lava = run_lava(p, x, LAVA_PYTHON, tmp_path)
    emu = emulator_traces(p, x)
    for key, want in lava.items():
        got = emu[key].astype(np.int64)
        if not np.array_equal(got, want):
            i = tuple(np.argwhere(got != want)[0])
            pytest.fail(f"{key} differs first at [t, b, n] = {list(i)}: Lava {want[i]}, emulator {got[i]}")


if __name__ == "__main__":
    import tempfile

    if not LAVA_PYTHON:
        sys.exit("set NIRCC_LAVA_PYTHON")
    print("DIGESTS = {")
    for kind, seed in CASES:
        p, x = make_case(kind, seed)
        with tempfile.TemporaryDirectory() as tmp:
            traces = run_lava(p, x, LAVA_PYTHON, Path(tmp))
        print(f"    ({kind!r}, {seed}): ({program_digest(p, x)!r}, {trace_digest(p, traces)!r}),")
    print("}")
    print("NETX_DIGESTS = {")
    for kind, seed in NETX_CASES:
        net, p, x = make_netx_case(kind, seed)
        with tempfile.TemporaryDirectory() as tmp:
            traces = run_netx(net, p, x, LAVA_PYTHON, Path(tmp))
        print(f"    ({kind!r}, {seed}): ({program_digest(p, x)!r}, {trace_digest(p, traces)!r}),")
    print("}")
