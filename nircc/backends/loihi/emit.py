"""The Loihi artifact: a lava-dl netx ``.net`` file plus the lossless program, and ``to_sdk``.

Files written by :func:`emit` (each atomically, byte-identical across runs):

``model.net``
    HDF5 in the layout ``lava.lib.dl.netx.hdf5.Network(net_config=...)`` reads (netx
    hdf5.py, utils.py ``NetDict``; strings are ASCII bytes, numbers integer datasets)::

        /layer/<i>                      i = 0, 1, ... in program order; attribute nircc_name
            type       b"input" | b"dense" | b"dense_rec" | b"conv" | b"flatten"
            shape      int64 [N] or [C, H, W] (netx reverses it into Lava's (W, H, C))
            weight     int16 [out, in] (dense), [C_out, C_in/groups, kH, kW] (conv, cross-
                       correlation; netx flips it into Lava's convolution)
            weight_rec int16 [N, N] (dense_rec)
            bias       int16 bias mantissas (netx uses bias_exp 6): [N] (dense), [C_out]
                       (conv, uniform per channel) or [W, H, C_out] (conv, per neuron)
            delay      uint8 [out, in] synaptic delays in steps (dense with delays)
            stride, padding, dilation   int64 [2] (height, width) (conv);  groups  int64 (conv)
            neuron/    type b"CUBA", iDecay = du + 1, vDecay = dv, vThMant = vth,
                       refDelay = 1, gradedSpike = 0            (int64 scalars)

    The input layer has no neuron group (lava-dl 0.6's Input block with neurons leaves its
    port unconnected, lava-dl#298).  Dense weights are the integers netx re-optimizes:
    ``synapse.weights >> -weight_exp``; netx's ``optimize_weight_bits`` gives back the
    program's synapse exactly (the lowering checks it).  Root attributes: ``nircc_format``
    (:data:`NET_FORMAT`), ``nircc_version``, ``variant``, ``dt``.
``model.loihi.json``
    the manifest (schema :data:`ARTIFACT_SCHEMA` with the header every artifact starts with,
    nircc.backends.program: schema, schema_version, nircc_version, variant, dt),
    ``input_message_bits``, the ``.net`` file's name, per layer its name, kind and size, and
    the program's ``meta`` (the NIR inputs and outputs, latency per output, gains,
    semantics).  The arrays live in ``model.net`` only; :func:`load_program` joins the two
    into the program (equal to the compiled one).

:func:`load_net` reads a ``.net`` file back into the program netx builds from it.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..._version import __version__
from ...errors import NirccError
from ...util import atomic_path, dumps
from ..base import require_sdk
from ..program import header, read_header
from .program import ConvLayer, CubaNeurons, DenseLayer, FlattenLayer, InputLayer, LoihiProgram
from .weights import determine_sign_mode, netx_recurrent_synapses, netx_synapse
from .spec import DEFAULT_VARIANT, Formats

NET = "model.net"
PROGRAM = "model.loihi.json"
NET_FORMAT = "nircc.loihi.net/1"
ARTIFACT_SCHEMA = "nircc.loihi"
#: 2: the common header; 1: ``"format": "nircc.loihi.artifact/1"`` (still read)
ARTIFACT_VERSION = 2
ARTIFACT_FORMAT = "nircc.loihi.artifact/1"
SDK_HINT = ("Lava needs Python < 3.11: in a Python 3.10 environment, pip install lava-nc lava-dl "
            "(and lava-loihi for Loihi 2 hardware).")


def _file_weights(syn) -> np.ndarray:
    """The integers netx reads for a program synapse (its weights before netx's shift)."""
    return (np.asarray(syn.weights, np.int64) >> -int(syn.weight_exp)).astype(np.int16)


def _neuron(n: CubaNeurons, fm: Formats) -> dict[str, Any]:
    return {"type": "CUBA", "iDecay": n.du + fm.ds_offset, "vDecay": n.dv + fm.dm_offset, "vThMant": n.vth,
            "refDelay": 1, "gradedSpike": 0}


def net_layers(program: LoihiProgram, fm: Formats = Formats()) -> list[tuple[str, dict[str, Any]]]:
    """``(layer name, {key: value})`` per ``/layer/<i>`` group (module docstring)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for lay in program.layers:
        d: dict[str, Any] = {"type": lay.kind}
        if isinstance(lay, InputLayer):
            d["shape"] = np.asarray(lay.shape, np.int64)
        elif isinstance(lay, DenseLayer):
            d["shape"] = np.asarray([lay.size], np.int64)
            d["weight"] = _file_weights(lay.synapse)
            if lay.synapse_rec is not None:
                d["weight_rec"] = _file_weights(lay.synapse_rec)
            if lay.synapse.delays is not None:
                d["delay"] = np.asarray(lay.synapse.delays, np.uint8)
            if np.any(lay.neurons.bias_mant):
                d["bias"] = np.asarray(lay.neurons.bias_mant, np.int16)
            d["neuron"] = _neuron(lay.neurons, fm)
        elif isinstance(lay, ConvLayer):
            shape = lay.shape
            d["shape"] = np.asarray(shape, np.int64)
            d["weight"] = np.asarray(lay.weights, np.int16)
            for key in ("stride", "padding", "dilation"):
                d[key] = np.asarray(getattr(lay, key), np.int64)
            d["groups"] = np.int64(lay.groups)
            b = np.asarray(lay.neurons.bias_mant, np.int16).reshape(shape)
            if np.any(b):
                per_channel = np.all(b == b[:, :1, :1])
                d["bias"] = b[:, 0, 0].copy() if per_channel else np.ascontiguousarray(b.transpose(2, 1, 0))
            d["neuron"] = _neuron(lay.neurons, fm)
        out.append((lay.name, d))
    return out


def write_net(program: LoihiProgram, path: Union[str, os.PathLike], fm: Formats = Formats()) -> Path:
    """Write ``program`` as a netx ``.net`` file at ``path`` (atomically)."""
    import h5py

    def put(group: Any, key: str, value: Any) -> None:
        group.create_dataset(key, data=np.bytes_(value) if isinstance(value, str) else value)

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["nircc_format"] = NET_FORMAT
            f.attrs["nircc_version"] = __version__
            f.attrs["variant"] = program.variant
            if program.dt is not None:
                f.attrs["dt"] = float(program.dt)
            for i, (name, lay) in enumerate(net_layers(program, fm)):
                g = f.create_group(f"layer/{i}")
                g.attrs["nircc_name"] = name
                for key, value in lay.items():
                    if key == "neuron":
                        ng = g.create_group("neuron")
                        for k, v in value.items():
                            put(ng, k, v if isinstance(v, str) else np.int64(v))
                    else:
                        put(g, key, value)
    return path


def _text(x: Any) -> str:
    x = x[()] if hasattr(x, "shape") else x
    if isinstance(x, np.ndarray):
        x = x.reshape(-1)[0]
    return x.decode("ascii") if isinstance(x, (bytes, np.bytes_)) else str(x)


def load_net(path: Union[str, os.PathLike], fm: Formats = Formats()) -> LoihiProgram:
    """The program netx and Lava build from a ``.net`` file: dense synapses through netx's
    weight optimization and Lava's sign-mode rules (:func:`netx_synapse`,
    :func:`netx_recurrent_synapses`), ``du = iDecay - 1``, ``bias_exp`` 6, conv weights as
    read.  Layer names from the ``nircc_name`` attributes (else the layer index)."""
    import h5py

    layers: list = []
    with h5py.File(path, "r") as f:
        group = f["layer"]
        prev_shape: tuple[int, ...] = ()
        for i in range(len(group)):
            g = group[str(i)]
            name = _text(g.attrs["nircc_name"]) if "nircc_name" in g.attrs else str(i)
            kind = _text(g["type"])
            if kind == "flatten":
                layers.append(FlattenLayer(name))
                prev_shape = (int(np.prod(prev_shape)),)
                continue
            shape = tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1))
            if kind == "input":
                if "neuron" in g:
                    raise NirccError("an input layer with neurons is not read by nircc (lava-dl#298)", name, "neuron")
                layers.append(InputLayer(name, shape))
                prev_shape = shape
                continue
            nc = g["neuron"]
            if _text(nc["type"]) not in ("CUBA", "LOIHI"):
                raise NirccError(f"neuron type {_text(nc['type'])!r}: nircc reads CUBA layers only", name,
                                 "neuron.type")
            n = int(np.prod(shape))
            bias = np.zeros(n, np.int64)
            if "bias" in g:
                b = np.asarray(g["bias"][()], np.int64)
                if kind == "conv" and b.ndim == 1:
                    bias = np.repeat(b, n // shape[0])
                elif kind == "conv":
                    bias = b.transpose(2, 1, 0).reshape(-1)
                else:
                    bias = b.reshape(-1)
            neurons = CubaNeurons(du=int(nc["iDecay"][()]) - fm.ds_offset, dv=int(nc["vDecay"][()]) - fm.dm_offset,
                                  vth=int(nc["vThMant"][()]), bias_mant=bias, bias_exp=fm.netx_bias_exp)
            w = np.asarray(g["weight"][()], np.int64)
            if kind == "conv":
                layers.append(ConvLayer(name, prev_shape, w, neurons, stride=tuple(g["stride"][()]),
                                        padding=tuple(g["padding"][()]), dilation=tuple(g["dilation"][()]),
                                        groups=int(g["groups"][()]), num_weight_bits=fm.weight_bits,
                                        sign_mode=determine_sign_mode(w)))
            elif kind == "dense_rec":
                syn, rec = netx_recurrent_synapses(w, np.asarray(g["weight_rec"][()], np.int64), fm)
                layers.append(DenseLayer(name, syn, neurons, synapse_rec=rec))
            elif kind == "dense":
                delays = np.asarray(g["delay"][()], np.int64) if "delay" in g else None
                layers.append(DenseLayer(name, netx_synapse(w, delays, fm), neurons))
            else:
                raise NirccError(f"layer type {kind!r} is not one nircc reads (input, dense, dense_rec, conv, flatten)",
                                 name, "type")
            prev_shape = layers[-1].shape
        dt = float(f.attrs["dt"]) if "dt" in f.attrs else None
        variant = _text(f.attrs["variant"]) if "variant" in f.attrs else DEFAULT_VARIANT
    return LoihiProgram(layers, dt=dt, variant=variant)


def manifest(program: LoihiProgram, net_name: str = NET) -> dict:
    """The JSON manifest of an artifact (module docstring)."""
    return {**header(ARTIFACT_SCHEMA, ARTIFACT_VERSION, program.variant, program.dt),
            "input_message_bits": program.input_message_bits, "net": net_name,
            "layers": [{"name": lay.name, "kind": lay.kind,
                        "size": None if lay.kind == "flatten" else int(lay.size)} for lay in program.layers],
            "meta": dict(program.meta)}


def emit(program: LoihiProgram, out_dir: Union[str, os.PathLike]) -> list[Path]:
    """Write ``model.net`` and ``model.loihi.json`` into ``out_dir``; returns the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = write_net(program, out / NET)
    with atomic_path(out / PROGRAM) as tmp:
        tmp.write_text(dumps(manifest(program)))
    return [net, out / PROGRAM]


def load_program(path: Union[str, os.PathLike]) -> LoihiProgram:
    """The program of an emitted directory (or its ``model.loihi.json``): the ``.net`` file's
    layers (:func:`load_net`) with the manifest's variant, dt, input bits and meta."""
    p = Path(path)
    if p.is_dir():
        p = p / PROGRAM
    if not p.is_file():
        raise NirccError(f"no Loihi artifact at {str(p)!r}", field="path")
    doc = json.loads(p.read_text())
    read_header(doc, ARTIFACT_SCHEMA, (1, ARTIFACT_VERSION), f"{str(p)!r}", legacy={(ARTIFACT_FORMAT, None): 1})
    prog = load_net(p.parent / doc["net"])
    return LoihiProgram(prog.layers, input_message_bits=doc["input_message_bits"], dt=doc["dt"],
                        variant=doc["variant"], meta=doc["meta"])


def to_sdk(program: LoihiProgram, net_path: Optional[Union[str, os.PathLike]] = None, **network_options: Any) -> Any:
    """The Lava process network of ``program``: ``lava.lib.dl.netx.hdf5.Network(net_config=...)``
    on the ``.net`` file written to ``net_path`` (default: a new temporary directory, kept:
    netx keeps the file open).  ``network_options`` go to ``Network`` (e.g.
    ``reset_interval``); ``input_message_bits`` is the program's."""
    hdf5 = require_sdk("lava.lib.dl.netx.hdf5", "loihi", SDK_HINT)
    path = Path(net_path) if net_path is not None else Path(tempfile.mkdtemp(prefix="nircc-loihi-")) / NET
    write_net(program, path)
    return hdf5.Network(net_config=str(path), input_message_bits=program.input_message_bits, **network_options)
