"""The plumbing of hw_tests/test_xylo_hw.py (and of the loader docs/targets/xylo.md shows)
against stand-ins of samna and rockpool 3.1.0, on every variant with a board (Audio 2,
Audio 3, IMU).

* samna: configuration objects that have exactly the fields rockpool's
  ``config_from_specification`` sets on that chip (any other attribute raises
  AttributeError, as samna's pybind11 objects do) and log every assignment in order;
* rockpool: ``config_from_specification`` of syns61201 / syns65302 / syns63300 with the real
  parameter list, defaults and interpretation of ``rockpool/devices/xylo/<chip>/xylo_samna.py``
  (rockpool 3.1.0), building the samna stand-in field by field in rockpool's order.  The
  real function ends in ``*args, **kwargs`` and silently ignores any keyword it does not
  know -- an artifact that calls the hidden biases ``bias`` configures a board without them.
  The stand-in raises TypeError instead, so a wrong name fails here;
* ``XyloSamna``: reads the configuration back as the chip would (``input``/``readout``
  windows, ``synapse2_enable``, ``bias_enable``, ``aliasing``) into a program and runs it on
  xylosim.

So the artifact, read as the docs say, carries the whole network, ``to_sdk`` builds the very
configuration rockpool builds from it, and the hardware tests' comparison is sound."""
from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from warnings import warn

import nir
import numpy as np
import pytest

import nircc
from nircc.backends.xylo.program import XyloProgram
from tests import paths

ROOT = paths.ROOT
VARIANTS = {"syns61201": "audio2", "syns65302": "audio3", "syns63300": "imu"}

# ------------------------------------------------------------------------------------ samna stand-in
_CORE = {"aliasing": False, "weight_bit_shift": 0, "weights": None, "neurons": []}
_OUT = {"i_syn_decay": 0, "v_mem_decay": 0, "threshold": 0, "v_mem_bias": 0}
#: per samna chip module: each object's fields (those rockpool 3.1.0's config_from_specification
#: sets there) and the value the stand-in returns before one is set (samna's own defaults are
#: not visible without samna; the chip model below reads only what the configuration sets,
#: plus ``bias_enable`` / ``synapse2_enable`` / ``aliasing`` / ``alias_target`` off by default)
SAMNA_FIELDS = {
    "xyloCore2": {
        "XyloConfiguration": {"bias_enable": False, "synapse2_enable": False},
        "debug": {"isyn_clock_enable": False, "isyn2_clock_enable": False, "ra_clock_enable": False,
                  "bias_clock_enable": False, "hm_clock_enable": False, "ram_power_enable": False},
        "input": {"weight_bit_shift": 0, "weights": None, "syn2_weights": None},
        "reservoir": {**_CORE, "syn2_weights": None},
        "readout": {"weight_bit_shift": 0, "weights": None, "neurons": []},
        "ReservoirNeuron": {"alias_target": None, "i_syn_decay": 0, "i_syn2_decay": 0, **_OUT},
        "OutputNeuron": dict(_OUT),
    },
    "xyloAudio3": {
        "XyloConfiguration": {"bias_enable": False, "synapse2_enable": False},
        "input": {"weight_bit_shift": 0, "weights": None, "syn2_weights": None},
        "hidden": {**_CORE, "syn2_weights": None},
        "readout": {"weight_bit_shift": 0, "weights": None, "neurons": []},
        "HiddenNeuron": {"alias_target": None, "i_syn_decay": 0, "i_syn2_decay": 0, **_OUT},
        "OutputNeuron": dict(_OUT),
    },
    "xyloImu": {
        "XyloConfiguration": {"bias_enable": False, "imu_if_input_enable": True},
        "debug": {"always_update_omp_stat": False},
        "input": {"weight_bit_shift": 0, "weights": None},
        "hidden": dict(_CORE),
        "readout": {"weight_bit_shift": 0, "weights": None, "neurons": []},
        "HiddenNeuron": {"alias_target": None, "i_syn_decay": 0, **_OUT},
        "OutputNeuron": dict(_OUT),
    },
}


def plain(value):
    """A logged value as plain Python: arrays -> nested lists, numpy scalars -> int/bool,
    neuron objects -> their assignments in order."""
    if isinstance(value, _Obj):
        return [(k, v) for k, v in object.__getattribute__(value, "_log")]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Obj:
    """One samna configuration object: the fields of its kind only, every assignment logged
    as ``(path, value)`` in the log it shares with its parent configuration."""

    def __init__(self, kind: str, fields: dict, log: list, prefix: str = "", children: dict | None = None):
        for k, v in (("_kind", kind), ("_fields", dict(fields)), ("_log", log), ("_prefix", prefix),
                     ("_children", children or {})):
            object.__setattr__(self, k, v)

    def __getattr__(self, name):
        children, fields = object.__getattribute__(self, "_children"), object.__getattribute__(self, "_fields")
        if name in children:
            return children[name]
        if name in fields:
            return fields[name]
        raise AttributeError(f"{object.__getattribute__(self, '_kind')!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise AttributeError(f"{self._kind!r} object has no attribute {name!r}")
        self._fields[name] = value
        self._log.append((self._prefix + name, plain(value)))


def stand_in_samna(sub: str) -> types.SimpleNamespace:
    """``samna.<sub>``: ``configuration.{XyloConfiguration, <neuron classes>}`` and
    ``validate_configuration`` (always valid)."""
    kinds = SAMNA_FIELDS[sub]

    def configuration():
        log: list = []
        children = {part: _Obj(part, kinds[part], log, part + ".")
                    for part in kinds if part not in ("XyloConfiguration",) and not part.endswith("Neuron")}
        return _Obj("XyloConfiguration", kinds["XyloConfiguration"], log, "", children)

    conf = types.SimpleNamespace(XyloConfiguration=configuration)
    for kind in kinds:
        if kind.endswith("Neuron"):
            setattr(conf, kind, lambda kind=kind: _Obj(kind, kinds[kind], []))
    return types.SimpleNamespace(configuration=conf, validate_configuration=lambda config: (True, ""))


def config_log(config) -> list:
    """Every assignment on ``config`` in order, values plain."""
    return list(object.__getattribute__(config, "_log"))


# ------------------------------------------------------------------------------------ rockpool stand-in
def _refuse_swallowed(chip: str, args: tuple, kwargs: dict) -> None:
    """rockpool 3.1.0 ends the signature in ``*args, **kwargs`` and ignores both: a misnamed
    argument is lost without a word.  The stand-in refuses it."""
    if args or kwargs:
        raise TypeError(f"{chip} config_from_specification() got arguments rockpool 3.1.0 silently ignores: "
                        f"{len(args)} positional, keywords {sorted(kwargs)}")


def _ints(x, dtype="int8"):
    return np.round(np.asarray(x)).astype(dtype)


def _warn_dtypes(weights, params) -> None:
    if any(np.asarray(w).dtype.kind not in "ui" for w in weights):
        warn("`weights...` arguments should be provided as `int` data types. I am rounding and casting these to `int`.")
    if any(np.asarray(p).dtype.kind not in "ui" for p in params):
        warn("Neuron and synapse parameter arguments should be provided as `int` data types. I am rounding and "
             "casting these to `int`.")


def _neurons(cls, n, fields, aliases=None):
    out = []
    for i in range(n):
        neuron = cls()
        if aliases is not None and len(aliases[i]) > 0:
            neuron.alias_target = aliases[i][0]
        for name, values in fields:
            if values is not None:
                setattr(neuron, name, values[i])
        out.append(neuron)
    return out


def _per_neuron(n, dash_mem, dash_syn, threshold, bias, dash_syn_2=None, what="Nhidden"):
    """rockpool's defaults (decays 1, thresholds 0), sizes checked, rounded and cast."""
    dash_mem = np.ones(n, "int") if dash_mem is None else np.array(dash_mem)
    dash_syn = np.ones(n, "int") if dash_syn is None else np.array(dash_syn)
    threshold = np.zeros(n, "int") if threshold is None else np.array(threshold)
    bias = None if bias is None else _ints(bias, "int")
    for name, a in (("dash_mem", dash_mem), ("dash_syn", dash_syn), ("dash_syn_2", dash_syn_2),
                    ("threshold", threshold)):
        if a is not None and np.size(a) != n:
            raise ValueError(f"`{name}` needs `{what}` entries (`{what}` = {n})")
    return dash_mem, dash_syn, threshold, bias


def config_from_specification_syns61201(
        weights_in, weights_out, weights_rec=None, dash_mem=None, dash_mem_out=None, dash_syn=None,
        dash_syn_2=None, dash_syn_out=None, threshold=None, threshold_out=None, bias_hidden=None, bias_out=None,
        weight_shift_in=0, weight_shift_rec=0, weight_shift_out=0, aliases=None, *args, **kwargs):
    """rockpool 3.1.0 ``rockpool/devices/xylo/syns61201/xylo_samna.py``
    ``config_from_specification`` (Xylo Audio 2, samna.xyloCore2)."""
    _refuse_swallowed("syns61201", args, kwargs)
    if weights_in.ndim < 2:
        raise ValueError("Input weights must be at least 2 dimensional `(Nin, Nin_res, [2])`. "
                         f"Found {weights_in.shape}")
    if weights_in.ndim == 2:
        weights_in = weights_in[..., None]
    if weights_out.ndim != 2:
        raise ValueError("Output weights must be 2 dimensional `(Nhidden, Nout)`")
    _, n_in_res, n_syn = weights_in.shape
    n_hid, n_out = weights_out.shape
    syn2 = n_syn > 1
    if n_in_res > n_hid:
        raise ValueError("Input weight dimension `Nin_res` must be <= `Nhidden`")
    weights_rec = np.zeros((n_hid, n_hid, 1 + syn2), "int") if weights_rec is None else weights_rec
    if weights_rec.ndim == 2:
        syn2 = False
        weights_rec = weights_rec[..., None]
    if weights_rec.ndim != 3 or weights_rec.shape[0] != weights_rec.shape[1] or weights_rec.shape[0] != n_hid:
        raise ValueError("Recurrent weights must be of shape `(Nhidden, Nhidden, [2])`")
    if aliases is not None and len(aliases) != n_hid:
        raise ValueError(f"Aliases list must have `Nhidden` entries (`Nhidden` = {n_hid})")
    dash_syn_2 = np.ones(n_hid, "int") if dash_syn_2 is None else np.array(dash_syn_2)
    dash_mem, dash_syn, threshold, bias_hidden = _per_neuron(n_hid, dash_mem, dash_syn, threshold, bias_hidden,
                                                             dash_syn_2)
    dash_mem_out, dash_syn_out, threshold_out, bias_out = _per_neuron(n_out, dash_mem_out, dash_syn_out,
                                                                      threshold_out, bias_out, what="Nout")
    _warn_dtypes((weights_in, weights_rec, weights_out),
                 (threshold, dash_syn, dash_syn_2, dash_syn_out, dash_mem, dash_mem_out))
    w_in, w_rec, w_out = _ints(weights_in), _ints(weights_rec), _ints(weights_out)
    aliases = None if aliases is None else [_ints(a, "int") for a in aliases]

    samna = sys.modules["samna"].xyloCore2
    config = samna.configuration.XyloConfiguration()
    if bias_hidden is not None or bias_out is not None:
        config.bias_enable = True
    config.debug.isyn_clock_enable = True
    if syn2:
        config.debug.isyn2_clock_enable = True
    config.debug.ra_clock_enable = True
    if config.bias_enable:
        config.debug.bias_clock_enable = True
    config.debug.hm_clock_enable = True
    config.debug.ram_power_enable = True
    config.synapse2_enable = syn2
    config.reservoir.aliasing = aliases is not None
    config.input.weight_bit_shift = _ints(weight_shift_in)
    config.reservoir.weight_bit_shift = _ints(weight_shift_rec)
    config.readout.weight_bit_shift = _ints(weight_shift_out)
    config.input.weights = w_in[:, :, 0]
    config.reservoir.weights = w_rec[:, :, 0]
    config.readout.weights = w_out
    if syn2:
        config.input.syn2_weights = w_in[:, :, 1]
        config.reservoir.syn2_weights = w_rec[:, :, 1]
    config.reservoir.neurons = _neurons(samna.configuration.ReservoirNeuron, n_hid, (
        ("i_syn_decay", _ints(dash_syn)), ("i_syn2_decay", _ints(dash_syn_2)), ("v_mem_decay", _ints(dash_mem)),
        ("threshold", _ints(threshold, "int")), ("v_mem_bias", bias_hidden)), aliases)
    config.readout.neurons = _neurons(samna.configuration.OutputNeuron, n_out, (
        ("i_syn_decay", _ints(dash_syn_out)), ("v_mem_decay", _ints(dash_mem_out)),
        ("threshold", _ints(threshold_out, "int")), ("v_mem_bias", bias_out)))
    ok, message = samna.validate_configuration(config)
    return config, ok, message


def _input_window(config, w_in) -> None:
    """syns65302 / syns63300: input weights to the first 128 hidden neurons (IEN) only."""
    if w_in.shape[1] > 128:
        warn("More than 128 input expansion neurons (IEN) detected. Only the first 128 will be used.")
        config.input.weights = w_in[:, :128, 0]
    else:
        config.input.weights = w_in[:, :, 0]


def _readout_window(config, w_out) -> None:
    """syns65302 / syns63300: readout weights from the last 128 hidden neurons (OEN) only."""
    if w_out.shape[0] > 128:
        warn("More than 128 output expansion neurons (OEN) detected. Only the last 128 will be used.")
        config.readout.weights = w_out[-128:, :]
    else:
        config.readout.weights = w_out


def config_from_specification_syns65302(
        weights_in, weights_out, weights_rec=None, dash_mem=None, dash_mem_out=None, dash_syn=None,
        dash_syn_2=None, dash_syn_out=None, threshold=None, threshold_out=None, bias_hidden=None, bias_out=None,
        weight_shift_in=0, weight_shift_rec=0, weight_shift_out=0, aliases=None, *args, **kwargs):
    """rockpool 3.1.0 ``rockpool/devices/xylo/syns65302/xylo_samna.py``
    ``config_from_specification`` (Xylo Audio 3, samna.xyloAudio3): 3-D input weights only,
    ``Nhidden`` from ``weights_rec``, no ``config.debug`` fields, IEN/OEN windows of 128."""
    _refuse_swallowed("syns65302", args, kwargs)
    if weights_in.ndim != 3:
        raise ValueError(f"Input weights must be 3 dimensional `(Nin, Nin_res, Nsyn)`. Found {weights_in.shape}")
    if weights_rec is not None and weights_rec.ndim != 3:
        raise ValueError("Recurrent weights must be 3 dimensional `(Nin_res, Nin_res, Nsyn)`. "
                         f"Found {weights_rec.shape}")
    if weights_out.ndim != 2:
        raise ValueError("Output weights must be 2 dimensional `(Nhidden, Nout)`")
    _, n_in_res, n_syn = weights_in.shape
    n_hid = weights_rec.shape[0] if weights_rec is not None else 0
    n_out = weights_out.shape[1]
    if n_syn > 2:
        raise ValueError(f"Max of 2 input synapses are supported on XyloAudio 3. Found {n_syn}.")
    syn2 = n_syn > 1
    if n_in_res > n_hid:
        raise ValueError("Input weight dimension `Nin_res` must be <= `Nhidden`")
    weights_rec = np.zeros((n_hid, n_hid, 1 + syn2), "int") if weights_rec is None else weights_rec
    if weights_rec.shape[0] != weights_rec.shape[1]:
        raise ValueError("Recurrent weights must be of shape `(Nhidden, Nhidden, Nsyn)`")
    if aliases is not None and len(aliases) != n_hid:
        raise ValueError(f"Aliases list must have `Nhidden` entries (`Nhidden` = {n_hid})")
    dash_syn_2 = np.ones(n_hid, "int") if dash_syn_2 is None else np.array(dash_syn_2)
    dash_mem, dash_syn, threshold, bias_hidden = _per_neuron(n_hid, dash_mem, dash_syn, threshold, bias_hidden,
                                                             dash_syn_2)
    dash_mem_out, dash_syn_out, threshold_out, bias_out = _per_neuron(n_out, dash_mem_out, dash_syn_out,
                                                                      threshold_out, bias_out, what="Nout")
    _warn_dtypes((weights_in, weights_rec, weights_out),
                 (threshold, dash_syn, dash_syn_2, dash_syn_out, dash_mem, dash_mem_out))
    w_in, w_rec, w_out = _ints(weights_in), _ints(weights_rec), _ints(weights_out)
    aliases = None if aliases is None else [_ints(a, "int") for a in aliases]

    samna = sys.modules["samna"].xyloAudio3
    config = samna.configuration.XyloConfiguration()
    if bias_hidden is not None or bias_out is not None:
        config.bias_enable = True
    config.hidden.aliasing = aliases is not None
    config.input.weight_bit_shift = _ints(weight_shift_in)
    config.hidden.weight_bit_shift = _ints(weight_shift_rec)
    config.readout.weight_bit_shift = _ints(weight_shift_out)
    _input_window(config, w_in)
    config.hidden.weights = w_rec[:, :, 0]
    _readout_window(config, w_out)
    config.synapse2_enable = syn2
    if syn2:
        config.input.syn2_weights = w_in[:, :, 1]          # rockpool 3.1.0 does not cut this one to the IEN
        config.hidden.syn2_weights = w_rec[:, :, 1]
    config.hidden.neurons = _neurons(samna.configuration.HiddenNeuron, n_hid, (
        ("i_syn_decay", _ints(dash_syn)), ("i_syn2_decay", _ints(dash_syn_2)), ("v_mem_decay", _ints(dash_mem)),
        ("threshold", _ints(threshold, "int")), ("v_mem_bias", bias_hidden)), aliases)
    config.readout.neurons = _neurons(samna.configuration.OutputNeuron, n_out, (
        ("i_syn_decay", _ints(dash_syn_out)), ("v_mem_decay", _ints(dash_mem_out)),
        ("threshold", _ints(threshold_out, "int")), ("v_mem_bias", bias_out)))
    ok, message = samna.validate_configuration(config)
    return config, ok, message


def config_from_specification_syns63300(
        weights_in, weights_out, weights_rec=None, dash_mem=None, dash_mem_out=None, dash_syn=None,
        dash_syn_out=None, threshold=None, threshold_out=None, bias_hidden=None, bias_out=None,
        weight_shift_in=0, weight_shift_rec=0, weight_shift_out=0, aliases=None, *args, **kwargs):
    """rockpool 3.1.0 ``rockpool/devices/xylo/syns63300/xylo_samna.py``
    ``config_from_specification`` (Xylo IMU, samna.xyloImu): no ``dash_syn_2``, one synapse,
    ``weights_rec`` required in practice (rockpool reads ``weights_rec.ndim`` before its
    default), IEN/OEN windows of 128, sets ``imu_if_input_enable`` and
    ``debug.always_update_omp_stat``."""
    _refuse_swallowed("syns63300", args, kwargs)
    if weights_in.ndim < 2:
        raise ValueError("Input weights must be at least 2 dimensional `(Nin, Nin_res [, 1])`. "
                         f"Found {weights_in.shape}")
    if weights_out.ndim != 2:
        raise ValueError("Output weights must be 2 dimensional `(Nhidden, Nout)`")
    if weights_in.ndim < 3:
        weights_in = weights_in[..., None]
    _, n_ien, _ = weights_in.shape
    if weights_rec.ndim < 3:                                 # AttributeError for None, as in rockpool
        weights_rec = weights_rec[..., None]
    n_hid, _, n_syn = weights_rec.shape
    n_oen, n_out = weights_out.shape
    if n_syn > 1:
        raise ValueError(f"Only 1 input synapse is supported on Xylo-IMU. Found {n_syn}.")
    if n_ien > n_hid or n_oen > n_hid:
        raise ValueError(f"Expansion weight dimensions ({n_ien}, {n_oen}) must be <= `Nhidden` ({n_hid}).")
    if weights_rec.shape[0] != weights_rec.shape[1]:
        raise ValueError("Recurrent weights must be of shape `(Nhidden, Nhidden [, 1])`")
    if aliases is not None and len(aliases) != n_hid:
        raise ValueError(f"Aliases list must have `Nhidden` entries (`Nhidden` = {n_hid})")
    dash_mem, dash_syn, threshold, bias_hidden = _per_neuron(n_hid, dash_mem, dash_syn, threshold, bias_hidden)
    dash_mem_out, dash_syn_out, threshold_out, bias_out = _per_neuron(n_out, dash_mem_out, dash_syn_out,
                                                                      threshold_out, bias_out, what="Nout")
    _warn_dtypes((weights_in, weights_rec, weights_out), (threshold, dash_syn, dash_syn_out, dash_mem, dash_mem_out))
    w_in, w_rec, w_out = _ints(weights_in), _ints(weights_rec), _ints(weights_out)
    aliases = None if aliases is None else [_ints(a, "int") for a in aliases]

    samna = sys.modules["samna"].xyloImu
    config = samna.configuration.XyloConfiguration()
    config.imu_if_input_enable = False
    config.debug.always_update_omp_stat = True
    if bias_hidden is not None or bias_out is not None:
        config.bias_enable = True
    config.hidden.aliasing = aliases is not None
    config.input.weight_bit_shift = _ints(weight_shift_in)
    config.hidden.weight_bit_shift = _ints(weight_shift_rec)
    config.readout.weight_bit_shift = _ints(weight_shift_out)
    _input_window(config, w_in)
    config.hidden.weights = w_rec[:, :, 0]
    _readout_window(config, w_out)
    config.hidden.neurons = _neurons(samna.configuration.HiddenNeuron, n_hid, (
        ("i_syn_decay", _ints(dash_syn)), ("v_mem_decay", _ints(dash_mem)), ("threshold", _ints(threshold, "int")),
        ("v_mem_bias", bias_hidden)), aliases)
    config.readout.neurons = _neurons(samna.configuration.OutputNeuron, n_out, (
        ("i_syn_decay", _ints(dash_syn_out)), ("v_mem_decay", _ints(dash_mem_out)),
        ("threshold", _ints(threshold_out, "int")), ("v_mem_bias", bias_out)))
    ok, message = samna.validate_configuration(config)
    return config, ok, message


CONFIG_FROM_SPECIFICATION = {"syns61201": config_from_specification_syns61201,
                             "syns65302": config_from_specification_syns65302,
                             "syns63300": config_from_specification_syns63300}


# ------------------------------------------------------------------------------------ the board
def program_of(config, variant: str) -> XyloProgram:
    """What a board configured with ``config`` runs: the weight memories of the input (first
    columns, IEN) and readout (last rows, OEN) windows, the second synapse only with
    ``synapse2_enable``, biases only with ``bias_enable``, alias targets only with
    ``aliasing``."""
    block = config.reservoir if variant == "audio2" else config.hidden
    two_chip = variant != "imu"
    syn2 = two_chip and bool(config.synapse2_enable)
    n_hid = len(block.neurons)
    w_in1 = np.asarray(config.input.weights, np.int64)
    n_in, ien = w_in1.shape
    w_in = np.zeros((n_in, n_hid, 2), np.int64)
    w_in[:, :ien, 0] = w_in1
    w_rec = np.zeros((n_hid, n_hid, 2), np.int64)
    w_rec[..., 0] = block.weights
    if syn2:
        s2 = np.asarray(config.input.syn2_weights, np.int64)
        assert not np.any(s2[:, ien:]), "syn2 input weights outside the input window the chip has"
        w_in[:, :ien, 1] = s2[:, :ien]
        w_rec[..., 1] = block.syn2_weights
    w_o = np.asarray(config.readout.weights, np.int64)
    w_out = np.zeros((n_hid, w_o.shape[1]), np.int64)
    w_out[n_hid - w_o.shape[0]:] = w_o
    bias = bool(config.bias_enable)
    hid, out = block.neurons, config.readout.neurons
    return XyloProgram(
        weights_in=w_in, weights_rec=w_rec, weights_out=w_out,
        dash_mem=[n.v_mem_decay for n in hid], dash_syn=[n.i_syn_decay for n in hid],
        dash_syn2=[n.i_syn2_decay if two_chip else 0 for n in hid],
        dash_mem_out=[n.v_mem_decay for n in out], dash_syn_out=[n.i_syn_decay for n in out],
        threshold=[n.threshold for n in hid], threshold_out=[n.threshold for n in out],
        bias=[n.v_mem_bias if bias else 0 for n in hid], bias_out=[n.v_mem_bias if bias else 0 for n in out],
        weight_shift_in=config.input.weight_bit_shift, weight_shift_rec=block.weight_bit_shift,
        weight_shift_out=config.readout.weight_bit_shift, bias_enable=bias, variant=variant,
        aliases=[[n.alias_target] if block.aliasing and n.alias_target is not None else [] for n in hid])


def xylo_samna(version: str):
    """rockpool's ``XyloSamna`` (``__init__(device, config=None, dt=1e-3, output_mode="Spike",
    power_frequency=..., *args, **kwargs)``; ``evolve(input, record=False, ...)`` returns
    ``(output, state, record_dict)``), running the configured program on xylosim."""
    from nircc.backends.xylo.xylosim_bridge import XylosimEmulator

    class XyloSamna:
        def __init__(self, device, config=None, dt=1e-3, output_mode="Spike", power_frequency=None, *args,
                     **kwargs):
            assert not args and not kwargs, (args, kwargs)
            assert device == "hdk0" and output_mode == "Spike"
            self.program = program_of(config, VARIANTS[version])

        def evolve(self, input, record=False, *args, **kwargs):
            assert not args and set(kwargs) <= {"read_timeout", "record_power"}, (args, kwargs)
            res = XylosimEmulator(self.program).run(np.asarray(input)[:, None, :], record=record)
            rec = {k: v[:, 0] for k, v in res.states.items()}
            return res.outputs["readout"][:, 0], {}, rec

        __call__ = evolve

    return XyloSamna


def install(monkeypatch, version: str) -> tuple[str, str, str]:
    """The stand-ins of samna and of rockpool (``find_xylo_hdks`` with one board of
    ``version``) in ``sys.modules``; returns the hardware tests' board tuple."""
    pytest.importorskip("xylosim")
    samna = types.ModuleType("samna")
    for sub in SAMNA_FIELDS:
        setattr(samna, sub, stand_in_samna(sub))
    pkg = types.ModuleType(f"rockpool.devices.xylo.{version}")
    pkg.config_from_specification = CONFIG_FROM_SPECIFICATION[version]
    pkg.XyloSamna = xylo_samna(version)
    xylo = types.ModuleType("rockpool.devices.xylo")
    xylo.find_xylo_hdks = lambda: (["hdk0"], [pkg], [version])
    for name, mod in (("samna", samna), ("rockpool", types.ModuleType("rockpool")),
                      ("rockpool.devices", types.ModuleType("rockpool.devices")), ("rockpool.devices.xylo", xylo),
                      (f"rockpool.devices.xylo.{version}", pkg)):
        monkeypatch.setitem(sys.modules, name, mod)
    return "hdk0", version, VARIANTS[version]


@pytest.fixture
def fake_board(monkeypatch):
    return install(monkeypatch, "syns61201")


@pytest.fixture(params=sorted(VARIANTS))
def any_board(request, monkeypatch):
    return install(monkeypatch, request.param)


def same_network(a: XyloProgram, b: XyloProgram) -> bool:
    """Equal in every field the chip has (not ``dt`` or ``meta``)."""
    return [d for d in a.differences(b) if d not in ("dt", "meta")] == []


def _load_hw_module():
    spec = importlib.util.spec_from_file_location("xylo_hw", ROOT / "hw_tests" / "test_xylo_hw.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


#: the biased net's tests exercise the chip's bias registers (bias_hidden, bias_out), so the
#: biases stay there instead of moving onto an always-on input channel (nircc.passes.legalize)
BIAS_REGISTERS = {"bias_source": False}


def biased() -> nir.NIRGraph:
    """The hardware tests' biased net (``biased_network``)."""
    return _load_hw_module().biased_network()


def artifact(res: nircc.CompileResult, out: Path) -> tuple[dict, dict]:
    """(arrays, keyword arguments) of the saved artifact, read as docs/targets/xylo.md shows."""
    res.save(out)
    doc = json.loads((out / "xylo.json").read_text())
    with np.load(out / "xylo_spec.npz", allow_pickle=False) as npz:
        spec = {k: npz[k] for k in npz.files}
    return spec, doc["rockpool"]["kwargs"]


# ------------------------------------------------------------------------------------ tests
def test_hw_check_passes_on_an_exact_board(any_board, tmp_path):
    hw = _load_hw_module()
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo", variant=any_board[2])
    hw.check(any_board, res, tmp_path)          # raises on any difference


def test_hw_check_catches_a_wrong_board(fake_board, tmp_path, monkeypatch):
    """A board configured with one threshold off must fail the comparison."""
    hw = _load_hw_module()
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo")
    pkg = sys.modules["rockpool.devices.xylo.syns61201"]
    right = pkg.config_from_specification

    def off_by_one(**kw):
        kw["threshold"] = kw["threshold"] - 200
        return right(**kw)

    monkeypatch.setattr(pkg, "config_from_specification", off_by_one)
    with pytest.raises(AssertionError):
        hw.check(fake_board, res, tmp_path)


def test_hw_two_hidden_layers_on_an_exact_board(any_board, tmp_path):
    """The hardware test's two-layer net (lags 1 and 2, recurrence) passes on an exact board
    and is active: its readout fires."""
    hw = _load_hw_module()
    res = nircc.compile(hw.two_hidden_layers(), "xylo", variant=any_board[2], dt=1e-3, semantics="rockpool")
    assert res.target.latency(res.program) == {"out": 2}
    hw.check(any_board, res, tmp_path)
    x = next(iter(res.probe_inputs(200, batch=1, rate=0.1, seed=0).values()))
    assert res.emulate(x).outputs["out"].sum() > 0


def test_biased_network_on_an_exact_board(any_board, tmp_path):
    """Every hidden and readout bias reaches the board through rockpool's own keywords
    (``bias_hidden``, ``bias_out``), and the board runs the emulator's network."""
    hw = _load_hw_module()
    res = nircc.compile(biased(), "xylo", variant=any_board[2], dt=1e-3, semantics="rockpool", options=BIAS_REGISTERS)
    p = res.program
    assert p.bias_enable and (np.count_nonzero(p.bias), np.count_nonzero(p.bias_out)) == (12, 2)
    spec, kw = artifact(res, tmp_path / "a")
    config, ok, _ = sys.modules[f"rockpool.devices.xylo.{any_board[1]}"].config_from_specification(**spec, **kw)
    board = program_of(config, any_board[2])
    assert ok and board.bias_enable and same_network(board, p)
    hw.check(any_board, res, tmp_path)


def test_lost_hidden_biases_change_the_run(fake_board, tmp_path, monkeypatch):
    """What rockpool 3.1.0 made of the version-1 artifact, which called the hidden biases
    ``bias``: its ``**kwargs`` dropped them (``bias_out`` still set ``bias_enable``), and the
    board ran another network -- 26 readout and 177 hidden spikes in 200 steps instead of 30 and
    198 -- which the hardware comparison notices."""
    hw = _load_hw_module()
    # the figures below were measured with exact-discretization gains (rockpool's rules, NIR's r)
    res = nircc.compile(biased(), "xylo", dt=1e-3, semantics={"preset": "rockpool", "discretization": "exact"}, options=BIAS_REGISTERS)
    spec, kw = artifact(res, tmp_path / "a")
    del spec["bias_hidden"]
    config, ok, _ = config_from_specification_syns61201(**spec, **kw)
    x = next(iter(res.probe_inputs(200, batch=1, rate=0.1, seed=0).values()))[:, 0]
    lost, _, rec = xylo_samna("syns61201")("hdk0", config)(x, record=True)
    emu = res.target.emulator(res.program).run(x[:, None, :], record=True)
    assert ok and config.bias_enable and [k for k, _ in plain(config.reservoir.neurons[0])] == [
        "i_syn_decay", "i_syn2_decay", "v_mem_decay", "threshold"]      # no v_mem_bias
    assert (int(emu.outputs["readout"].sum()), int(emu.states["Spikes"].sum())) == (30, 198)
    assert (int(lost.sum()), int(rec["Spikes"].sum())) == (26, 177)

    pkg = sys.modules["rockpool.devices.xylo.syns61201"]
    right = pkg.config_from_specification
    monkeypatch.setattr(pkg, "config_from_specification",
                        lambda **k: right(**{n: v for n, v in k.items() if n != "bias_hidden"}))
    with pytest.raises(AssertionError):
        hw.check(fake_board, res, tmp_path)


def test_stand_ins_refuse_what_rockpool_would_swallow(tmp_path, monkeypatch):
    install(monkeypatch, "syns61201")
    res = nircc.compile(biased(), "xylo", dt=1e-3, semantics="rockpool", options=BIAS_REGISTERS)
    spec, kw = artifact(res, tmp_path / "a")
    spec["bias"] = spec.pop("bias_hidden")
    with pytest.raises(TypeError) as e:
        config_from_specification_syns61201(**spec, **kw)
    assert str(e.value) == ("syns61201 config_from_specification() got arguments rockpool 3.1.0 silently ignores: "
                            "0 positional, keywords ['bias']")
    imu = nircc.compile(biased(), "xylo", variant="imu", dt=1e-3, semantics="rockpool", options=BIAS_REGISTERS)
    spec, kw = artifact(imu, tmp_path / "b")
    with pytest.raises(TypeError) as e:
        config_from_specification_syns63300(**spec, **kw, dash_syn_2=np.ones(12))
    assert "keywords ['dash_syn_2']" in str(e.value)


def wide(variant: str) -> XyloProgram:
    """200 hidden neurons (beyond Audio 3's and IMU's 128-neuron input and readout windows),
    seeded weights inside the windows, both synapses where the chip has two, biases and
    two aliases."""
    rng = np.random.default_rng(1)
    n_hid, two = 200, variant != "imu"
    w_in = np.zeros((4, n_hid, 2), np.int64)
    w_in[:, :128, :1 + two] = rng.integers(-20, 60, (4, 128, 1 + two))
    w_rec = rng.integers(-10, 10, (n_hid, n_hid, 2)) * (rng.random((n_hid, n_hid, 2)) < 0.05)
    w_rec[..., 1] *= two
    w_out = np.zeros((n_hid, 3), np.int64)
    w_out[-128:] = rng.integers(-30, 60, (128, 3))
    aliases = [[] for _ in range(n_hid)]
    aliases[3], aliases[150] = [7], [199]
    p = XyloProgram.zeros(4, n_hid, 3, variant=variant, dash=2, weights_in=w_in, weights_rec=w_rec,
                          weights_out=w_out, threshold=np.full(n_hid, 50), threshold_out=np.full(3, 80),
                          bias=rng.integers(-5, 6, n_hid), bias_out=np.array([3, 0, -2]), bias_enable=True,
                          weight_shift_in=2, weight_shift_rec=1, weight_shift_out=3, aliases=aliases)
    p.validate()
    return p


@pytest.mark.parametrize("graph", ["example", "biased", "aliases", "wide"])
def test_to_sdk_builds_rockpools_configuration(any_board, tmp_path, graph):
    """``to_sdk(program)`` sets the same samna fields to the same values in the same order as
    rockpool's ``config_from_specification`` on the program's artifact -- including
    ``config.debug`` (clocks and RAM power on Audio 2, ``always_update_omp_stat`` on IMU) and
    the 128-neuron input / readout windows of Audio 3 and IMU -- and the board runs the
    program from it."""
    from nircc.backends.xylo import emit

    _, version, variant = any_board
    if graph == "wide":
        p = wide(variant)
        emit.emit(p, tmp_path / "a")
        doc = json.loads((tmp_path / "a" / "xylo.json").read_text())
        with np.load(tmp_path / "a" / "xylo_spec.npz", allow_pickle=False) as npz:
            spec, kw = {k: npz[k] for k in npz.files}, doc["rockpool"]["kwargs"]
        ours = nircc.backends.base.get("xylo").to_sdk(p)
    else:
        if graph == "example":
            res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo", variant=variant)
        else:
            res = nircc.compile(biased(), "xylo", variant=variant, dt=1e-3, semantics="rockpool", options=BIAS_REGISTERS)
        p = res.program
        if graph == "aliases":
            p.aliases = [[5], [], [7]] + [[] for _ in range(p.n_hidden - 3)]
        spec, kw = artifact(res, tmp_path / "a")
        ours = res.target.to_sdk(p)
    if graph == "wide" and variant != "audio2":
        with pytest.warns(UserWarning) as w:
            rockpool, ok, _ = CONFIG_FROM_SPECIFICATION[version](**spec, **kw)
        assert [str(x.message)[:30] for x in w] == ["More than 128 input expansion ", "More than 128 output expansion"]
    else:
        rockpool, ok, _ = CONFIG_FROM_SPECIFICATION[version](**spec, **kw)
    assert ok and config_log(ours) == config_log(rockpool)
    assert same_network(program_of(ours, variant), p)


def test_to_sdk_config_runs_on_the_board(any_board, tmp_path):
    _load_hw_module().test_to_sdk_matches_rockpools_configuration(any_board, tmp_path)
