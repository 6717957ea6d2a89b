"""Xylo artifacts: the samna configuration as JSON, rockpool's specification arrays, and
``to_sdk``.

``emit(program, out_dir)`` writes two files (byte-identical across runs):

``xylo.json`` (format ``nircc.xylo``, version 1)::

    format, format_version, nircc_version, variant, chip, samna_module, rockpool_package,
    dt, meta {inputs, outputs, hidden, readout, latency, semantics},
    rockpool {"arrays": "xylo_spec.npz", weight_shift_in, weight_shift_rec,
              weight_shift_out, aliases, dt}          -- the scalar keyword arguments
    configuration                                      -- samna's XyloConfiguration fields
      bias_enable, synapse2_enable (Audio 2 only),
      input    {weight_bit_shift, weights [N_in][N_hid], syn2_weights (2-synapse chips)},
      <block>  {weight_bit_shift, aliasing, weights [N_hid][N_hid], syn2_weights,
                neurons: N_hid x {i_syn_decay, i_syn2_decay (2-synapse chips), v_mem_decay,
                                  threshold, v_mem_bias (bias_enable), alias_target}},
      readout  {weight_bit_shift, weights [N_hid][N_out],
                neurons: N_out x {i_syn_decay, v_mem_decay, threshold, v_mem_bias}}

    <block> is "reservoir" on Xylo Audio 2 (samna.xyloCore2) and "hidden" on Audio 3
    (samna.xyloAudio3) and IMU (samna.xyloImu), as rockpool's config_from_specification
    writes them.  Weights are pre x post, int8; decays 4-bit; thresholds int16.

``xylo_spec.npz``: the array keyword arguments of rockpool's
``config_from_specification`` / ``XyloSim.from_specification`` (xylo.md §4):
``weights_in [N_in, N_hid, 2]`` (``[N_in, N_hid]`` on one-synapse chips), ``weights_rec``
(likewise), ``weights_out [N_hid, N_out]`` int8, ``dash_mem``, ``dash_syn``, ``dash_syn_2``
(two-synapse chips), ``dash_mem_out``, ``dash_syn_out`` uint8, ``threshold``,
``threshold_out`` int16, and ``bias``, ``bias_out`` int16 when the bias is enabled (rockpool
enables it when given).  Read it with ``np.load(..., allow_pickle=False)``.

:func:`load_program` rebuilds the :class:`XyloProgram` from the two files; :func:`to_sdk`
builds the samna ``XyloConfiguration`` (imported lazily) the way rockpool does and checks
it with samna's ``validate_configuration``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..._version import __version__
from ...errors import NirccError
from ...util import dumps, save_npz
from ..base import require_sdk
from .program import XyloProgram
from .spec import get_spec

FORMAT = "nircc.xylo"
FORMAT_VERSION = 1
ARTIFACT = "xylo.json"
ARRAYS = "xylo_spec.npz"
#: variant -> (samna submodule, name of the hidden block, hidden neuron class); rockpool's
#: config_from_specification of each (syns61201 sets ``synapse2_enable``, the others do not)
SAMNA = {
    "audio2": ("xyloCore2", "reservoir", "ReservoirNeuron"),
    "audio3": ("xyloAudio3", "hidden", "HiddenNeuron"),
    "imu": ("xyloImu", "hidden", "HiddenNeuron"),
}
SYNAPSE2_SWITCH = ("audio2",)


def rockpool_arrays(program: XyloProgram) -> dict[str, np.ndarray]:
    """The array keyword arguments of rockpool's ``config_from_specification``."""
    two = get_spec(program.variant).n_syn > 1
    arrays = {
        "weights_in": program.weights_in if two else program.weights_in[..., 0],
        "weights_rec": program.weights_rec if two else program.weights_rec[..., 0],
        "weights_out": program.weights_out,
        "dash_mem": program.dash_mem, "dash_syn": program.dash_syn,
        "dash_mem_out": program.dash_mem_out, "dash_syn_out": program.dash_syn_out,
        "threshold": program.threshold, "threshold_out": program.threshold_out,
    }
    if two:
        arrays["dash_syn_2"] = program.dash_syn2
    if program.bias_enable:
        arrays["bias"] = program.bias
        arrays["bias_out"] = program.bias_out
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}


def configuration(program: XyloProgram) -> dict:
    """samna's ``XyloConfiguration`` fields as plain JSON (module docstring)."""
    spec = get_spec(program.variant)
    two = spec.n_syn > 1
    block = SAMNA.get(program.variant, ("", "reservoir", ""))[1]
    aliasing = any(program.aliases)
    hidden = []
    for i in range(program.n_hidden):
        n: dict[str, Any] = {"i_syn_decay": int(program.dash_syn[i]), "v_mem_decay": int(program.dash_mem[i]),
                             "threshold": int(program.threshold[i])}
        if two:
            n["i_syn2_decay"] = int(program.dash_syn2[i])
        if program.bias_enable:
            n["v_mem_bias"] = int(program.bias[i])
        n["alias_target"] = int(program.aliases[i][0]) if program.aliases[i] else None
        hidden.append(n)
    readout = []
    for j in range(program.n_out):
        n = {"i_syn_decay": int(program.dash_syn_out[j]), "v_mem_decay": int(program.dash_mem_out[j]),
             "threshold": int(program.threshold_out[j])}
        if program.bias_enable:
            n["v_mem_bias"] = int(program.bias_out[j])
        readout.append(n)
    inp: dict[str, Any] = {"weight_bit_shift": program.weight_shift_in,
                           "weights": program.weights_in[..., 0].tolist()}
    rec: dict[str, Any] = {"weight_bit_shift": program.weight_shift_rec, "aliasing": aliasing,
                           "weights": program.weights_rec[..., 0].tolist()}
    if two:
        inp["syn2_weights"] = program.weights_in[..., 1].tolist()
        rec["syn2_weights"] = program.weights_rec[..., 1].tolist()
    rec["neurons"] = hidden
    doc: dict[str, Any] = {"bias_enable": program.bias_enable}
    if program.variant in SYNAPSE2_SWITCH:
        doc["synapse2_enable"] = bool(program.uses_syn2)
    return {**doc, "input": inp, block: rec,
            "readout": {"weight_bit_shift": program.weight_shift_out, "weights": program.weights_out.tolist(),
                        "neurons": readout}}


def artifact(program: XyloProgram) -> dict:
    """The ``xylo.json`` document."""
    spec = get_spec(program.variant)
    samna_mod = SAMNA.get(program.variant)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "nircc_version": __version__,
            "variant": program.variant, "chip": spec.chip,
            "samna_module": f"samna.{samna_mod[0]}" if samna_mod else None,
            "rockpool_package": spec.rockpool_package, "dt": program.dt, "meta": program.meta,
            "rockpool": {"arrays": ARRAYS, "weight_shift_in": program.weight_shift_in,
                         "weight_shift_rec": program.weight_shift_rec, "weight_shift_out": program.weight_shift_out,
                         "aliases": [list(a) for a in program.aliases], "dt": program.dt},
            "configuration": configuration(program)}


def emit(program: XyloProgram, out_dir: Union[str, os.PathLike]) -> list[Path]:
    """Write ``xylo.json`` and ``xylo_spec.npz`` into ``out_dir``; returns the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ARTIFACT).write_text(dumps(artifact(program)))
    save_npz(out / ARRAYS, rockpool_arrays(program))
    return [out / ARTIFACT, out / ARRAYS]


def load_program(path: Union[str, os.PathLike]) -> XyloProgram:
    """The program of an emitted artifact (the folder, or its ``xylo.json``)."""
    p = Path(path)
    if not p.exists():
        raise NirccError(f"{str(p)!r} does not exist", field="path")
    folder = p if p.is_dir() else p.parent
    if not (folder / ARTIFACT).is_file() or not (folder / ARRAYS).is_file():
        raise NirccError(f"no Xylo artifact ({ARTIFACT} and {ARRAYS}) in {str(folder)!r}", field="path")
    doc = json.loads((folder / ARTIFACT).read_text())
    if doc.get("format") != FORMAT or int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise NirccError(f"{str(folder / ARTIFACT)!r} is not a {FORMAT} document of version <= {FORMAT_VERSION}",
                         field="format")
    with np.load(folder / ARRAYS, allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    n_hid, n_out = a["weights_rec"].shape[0], a["weights_out"].shape[1]
    rp = doc["rockpool"]
    return XyloProgram(
        weights_in=a["weights_in"], weights_rec=a["weights_rec"], weights_out=a["weights_out"],
        dash_mem=a["dash_mem"], dash_syn=a["dash_syn"], dash_syn2=a.get("dash_syn_2", np.zeros(n_hid)),
        dash_mem_out=a["dash_mem_out"], dash_syn_out=a["dash_syn_out"], threshold=a["threshold"],
        threshold_out=a["threshold_out"], bias=a.get("bias", np.zeros(n_hid)),
        bias_out=a.get("bias_out", np.zeros(n_out)), weight_shift_in=rp["weight_shift_in"],
        weight_shift_rec=rp["weight_shift_rec"], weight_shift_out=rp["weight_shift_out"], aliases=rp["aliases"],
        bias_enable="bias" in a, variant=doc["variant"], dt=doc["dt"], meta=doc["meta"])


def to_sdk(program: XyloProgram) -> Any:
    """samna's ``XyloConfiguration`` of ``program``, field by field as rockpool's
    ``config_from_specification`` sets them, validated by samna's ``validate_configuration``
    (a NirccError with samna's message when it refuses)."""
    if program.variant not in SAMNA:
        raise NirccError(f"Xylo {program.variant}: samna and rockpool no longer support this chip (rockpool "
                         "removed Xylo v1 hardware support); use its simulator", field="variant")
    sub, block_name, neuron_cls = SAMNA[program.variant]
    samna = require_sdk("samna", "xylo", "Install SynSense's samna (pip install samna) on the machine with the board.")
    chip = getattr(samna, sub)
    conf = chip.configuration
    doc = configuration(program)
    config = conf.XyloConfiguration()
    config.bias_enable = doc["bias_enable"]
    if "synapse2_enable" in doc:
        config.synapse2_enable = doc["synapse2_enable"]
    for section in ("input", block_name, "readout"):
        target = getattr(config, section)
        for key, value in doc[section].items():
            if key == "neurons":
                continue
            setattr(target, key, value)
    neurons = []
    for fields in doc[block_name]["neurons"]:
        n = getattr(conf, neuron_cls)()
        for key, value in fields.items():
            if value is not None:
                setattr(n, key, value)
        neurons.append(n)
    getattr(config, block_name).neurons = neurons
    out = []
    for fields in doc["readout"]["neurons"]:
        n = conf.OutputNeuron()
        for key, value in fields.items():
            setattr(n, key, value)
        out.append(n)
    config.readout.neurons = out
    validate = getattr(chip, "validate_configuration", None)
    if validate is not None:
        ok, message = validate(config)
        if not ok:
            raise NirccError(f"samna refuses the configuration: {message}", field="configuration")
    return config
