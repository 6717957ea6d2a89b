"""Xylo artifacts: the samna configuration as JSON, rockpool's specification arrays, and
``to_sdk``.

``emit(program, out_dir)`` writes two files (byte-identical across runs):

``xylo.json`` (schema ``nircc.xylo``, version 3; versions 1 and 2 are read)::

    schema, schema_version, nircc_version, variant, dt (the header every artifact starts
    with: nircc.backends.program), chip, samna_module, rockpool_package,
    meta {io (nircc.backends.io), hidden, readout, output_populations},
    rockpool {function, arrays: "xylo_spec.npz", kwargs, dt}
    configuration

``rockpool``: ``function`` is the rockpool 3.1.0 function of ``rockpool_package`` whose
keyword arguments the artifact holds (``config_from_specification``; Xylo v1:
``XyloSim.from_specification``, see :data:`ROCKPOOL_FUNCTION`), ``arrays`` the file of its
array arguments, ``kwargs`` the others -- ``weight_shift_in``, ``weight_shift_rec``,
``weight_shift_out`` and ``aliases`` (``null`` when no neuron has an alias: rockpool turns
aliasing on for any list) -- and ``dt`` the time step for ``XyloSamna``.  So the loader is
``config_from_specification(**np.load(arrays), **kwargs)``.

``xylo_spec.npz``: the array arguments, named exactly as the variant's function names
its parameters (:data:`ROCKPOOL_PARAMETERS`): ``weights_in [N_in, N_hid, 2]`` (``[N_in,
N_hid]`` on IMU), ``weights_rec`` (likewise), ``weights_out [N_hid, N_out]`` int8,
``dash_mem``, ``dash_syn``, ``dash_syn_2`` (two-synapse chips), ``dash_mem_out``,
``dash_syn_out`` uint8, ``threshold``, ``threshold_out`` int16, and ``bias_hidden``,
``bias_out`` int16 when the bias is enabled (rockpool enables it when either is given).
rockpool ends ``config_from_specification`` in ``**kwargs`` and ignores any name it does not
know, so a misnamed array is lost silently: version 1 called the hidden biases ``bias``
(the name of rockpool's own mapper and ``XyloSim.from_specification``), and a board loaded
from it ran without them.  Read it with ``np.load(..., allow_pickle=False)``.

``configuration``: samna's ``XyloConfiguration`` fields exactly as rockpool 3.1.0's
``config_from_specification`` sets them from these arguments (:func:`rockpool_fields`):
the fields it sets, nothing else, e.g. on Audio 2 ``bias_enable`` (only when biased),
``debug`` {``isyn_clock_enable``, ``isyn2_clock_enable`` (two synapses),
``ra_clock_enable``, ``bias_clock_enable`` (biased), ``hm_clock_enable``,
``ram_power_enable``}, ``synapse2_enable``; ``input``, ``<block>`` and ``readout`` with
``weight_bit_shift``, ``weights`` (pre x post), ``syn2_weights``, ``aliasing`` and
``neurons`` (``alias_target`` where a neuron has one, ``i_syn_decay``, ``i_syn2_decay``,
``v_mem_decay``, ``threshold``, ``v_mem_bias`` when biased).  ``<block>`` is ``reservoir``
on Xylo Audio 2 (samna.xyloCore2) and ``hidden`` on Audio 3 (samna.xyloAudio3) and IMU
(samna.xyloImu).  No samna module writes Xylo v1 any more; its ``configuration`` lists
Audio 2's layout without the bias and ``debug`` fields, for reference.

:func:`load_program` rebuilds the :class:`XyloProgram` from the two files (versions 1 and
2); :func:`to_sdk` applies ``configuration`` to samna's ``XyloConfiguration`` (imported
lazily) in rockpool's order and checks it with samna's ``validate_configuration``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from ...errors import NirccError
from ...util import dumps, save_npz
from ..base import require_sdk
from ..program import header, read_header
from .program import XyloProgram
from .spec import get_spec

SCHEMA = "nircc.xylo"
#: 3: the common header (nircc.backends.program); 2: ``"format"`` + ``"format_version": 2``
#: (rockpool's keyword names); 1: hidden biases stored as ``bias``, scalars flat in ``rockpool``
SCHEMA_VERSION = 3
#: versions :func:`load_program` reads
READABLE_VERSIONS = (1, 2, 3)
FORMAT = SCHEMA                    # versions 1 and 2 wrote it as "format"
ARTIFACT = "xylo.json"
ARRAYS = "xylo_spec.npz"
#: variant -> (samna submodule, name of the hidden block, hidden neuron class), as rockpool
#: 3.1.0's config_from_specification of each writes them
SAMNA = {
    "audio2": ("xyloCore2", "reservoir", "ReservoirNeuron"),
    "audio3": ("xyloAudio3", "hidden", "HiddenNeuron"),
    "imu": ("xyloImu", "hidden", "HiddenNeuron"),
}
#: variant -> the rockpool 3.1.0 function (in the variant's ``rockpool_package``) the
#: artifact's arguments are for.  syns61300 (Xylo v1) has no config_from_specification:
#: rockpool removed Xylo v1 hardware support, and its ``XyloSim.from_specification``
#: (syns61300/xylo_sim.py) imports one that no longer exists, so it fails in 3.1.0 too
ROCKPOOL_FUNCTION = {"audio2": "config_from_specification", "audio3": "config_from_specification",
                     "imu": "config_from_specification", "v1": "XyloSim.from_specification"}
_CFS = ("weights_in", "weights_out", "weights_rec", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
        "dash_syn_out", "threshold", "threshold_out", "bias_hidden", "bias_out", "weight_shift_in",
        "weight_shift_rec", "weight_shift_out", "aliases")
#: the named parameters of each variant's function, in order (rockpool 3.1.0:
#: syns61201/xylo_samna.py and syns65302/xylo_samna.py config_from_specification; syns63300:
#: the same without dash_syn_2; all three end in ``*args, **kwargs``, which they ignore.
#: syns61300/xylo_sim.py XyloSim.from_specification: no bias, no ``**kwargs``)
ROCKPOOL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "audio2": _CFS,
    "audio3": _CFS,
    "imu": tuple(k for k in _CFS if k != "dash_syn_2"),
    "v1": ("weights_in", "weights_out", "weights_rec", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
           "dash_syn_out", "threshold", "threshold_out", "weight_shift_in", "weight_shift_rec", "weight_shift_out",
           "aliases", "dt", "verify_config", "output_mode"),
}
_KWARGS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out", "aliases")
_REQUIRED = ("weights_in", "weights_out", "weights_rec", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_out",
             "threshold", "threshold_out")
#: the input (IEN) / readout (OEN) weight windows rockpool 3.1.0 writes on Audio 3 and IMU
#: (syns65302 and syns63300 xylo_samna.py: weights_in[:, :128], weights_out[-128:])
_WINDOW = 128


def rockpool_arrays(program: XyloProgram) -> dict[str, np.ndarray]:
    """The array keyword arguments of the variant's rockpool function (module docstring)."""
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
        arrays["bias_hidden"] = program.bias
        arrays["bias_out"] = program.bias_out
    unknown = sorted(set(arrays) - set(ROCKPOOL_PARAMETERS[program.variant]))
    if unknown:       # a biased Xylo v1 program (validate() refuses it too)
        raise NirccError(f"Xylo {program.variant}: rockpool's {ROCKPOOL_FUNCTION[program.variant]} takes no "
                         f"{unknown}", field="bias_enable")
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}


def rockpool_kwargs(program: XyloProgram) -> dict[str, Any]:
    """The other keyword arguments: the three weight shifts and ``aliases`` (None without
    any alias, as rockpool sets ``aliasing = aliases is not None``)."""
    aliases = [list(a) for a in program.aliases] if any(program.aliases) else None
    return {"weight_shift_in": program.weight_shift_in, "weight_shift_rec": program.weight_shift_rec,
            "weight_shift_out": program.weight_shift_out, "aliases": aliases}


def _neurons(program: XyloProgram, kwargs: dict, hidden: bool, two: bool, bias: bool) -> list[dict]:
    """Per neuron the fields rockpool sets, in its order: ``alias_target`` (first alias,
    hidden neurons that have one), ``i_syn_decay``, ``i_syn2_decay`` (two-synapse chips),
    ``v_mem_decay``, ``threshold``, ``v_mem_bias`` (when biased)."""
    p, out = program, []
    aliases = kwargs["aliases"] if hidden else None
    for i in range(p.n_hidden if hidden else p.n_out):
        n: dict[str, Any] = {}
        if aliases is not None and aliases[i]:
            n["alias_target"] = int(aliases[i][0])
        n["i_syn_decay"] = int((p.dash_syn if hidden else p.dash_syn_out)[i])
        if hidden and two:
            n["i_syn2_decay"] = int(p.dash_syn2[i])
        n["v_mem_decay"] = int((p.dash_mem if hidden else p.dash_mem_out)[i])
        n["threshold"] = int((p.threshold if hidden else p.threshold_out)[i])
        if bias:
            n["v_mem_bias"] = int((p.bias if hidden else p.bias_out)[i])
        out.append(n)
    return out


def rockpool_fields(program: XyloProgram) -> list[tuple[str, Any]]:
    """``(samna field path, value)`` in the order rockpool 3.1.0's ``config_from_specification``
    of the variant sets them when called with the artifact's arguments
    (:func:`rockpool_arrays`, :func:`rockpool_kwargs`); weights as nested lists, ``neurons``
    as lists of field dicts (:func:`_neurons`).

    * Audio 2 -- rockpool/devices/xylo/syns61201/xylo_samna.py ``config_from_specification``:
      ``bias_enable`` (when biased), the ``debug`` clock and RAM power enables ("Ensure that
      RAM power is enabled, and the chip clock is running"), ``synapse2_enable`` (True: the
      weights have two synapse planes), aliasing, shifts, weights, syn2 weights, neurons;
    * Audio 3 -- syns65302/xylo_samna.py: no ``debug`` fields; input weights cut to the first
      128 hidden neurons, readout weights to the last 128 (``input.syn2_weights`` is not cut);
      ``synapse2_enable`` after the weights;
    * IMU -- syns63300/xylo_samna.py: ``imu_if_input_enable = False``,
      ``debug.always_update_omp_stat = True``, then as Audio 3 without the second synapse;
    * v1 -- no rockpool function: Audio 2's layout without bias and ``debug`` fields.

    ``operation_mode`` (accelerated time), ``input_source`` and the state monitors are not
    set here: rockpool's ``XyloSamna`` sets them when it takes the configuration."""
    p, v = program, program.variant
    two = get_spec(v).n_syn > 1
    kw = rockpool_kwargs(p)
    bias = p.bias_enable
    block = SAMNA.get(v, ("", "reservoir", ""))[1]
    w_in, w_rec, w_out = p.weights_in, p.weights_rec, p.weights_out
    windowed = v in ("audio3", "imu")
    f: list[tuple[str, Any]] = []
    if v == "imu":
        f += [("imu_if_input_enable", False), ("debug.always_update_omp_stat", True)]
    if bias and v != "v1":
        f.append(("bias_enable", True))
    if v == "audio2":
        f.append(("debug.isyn_clock_enable", True))
        if two:
            f.append(("debug.isyn2_clock_enable", True))
        f.append(("debug.ra_clock_enable", True))
        if bias:
            f.append(("debug.bias_clock_enable", True))
        f += [("debug.hm_clock_enable", True), ("debug.ram_power_enable", True), ("synapse2_enable", two)]
    f += [(f"{block}.aliasing", kw["aliases"] is not None), ("input.weight_bit_shift", p.weight_shift_in),
          (f"{block}.weight_bit_shift", p.weight_shift_rec), ("readout.weight_bit_shift", p.weight_shift_out),
          ("input.weights", (w_in[:, :_WINDOW, 0] if windowed else w_in[..., 0]).tolist()),
          (f"{block}.weights", w_rec[..., 0].tolist()),
          ("readout.weights", (w_out[-_WINDOW:] if windowed else w_out).tolist())]
    if v == "audio3":
        f.append(("synapse2_enable", two))
    if two:
        f += [("input.syn2_weights", w_in[..., 1].tolist()), (f"{block}.syn2_weights", w_rec[..., 1].tolist())]
    f += [(f"{block}.neurons", _neurons(p, kw, True, two, bias)),
          ("readout.neurons", _neurons(p, kw, False, two, bias))]
    return f


def configuration(program: XyloProgram) -> dict:
    """:func:`rockpool_fields` as nested JSON (``"debug.ra_clock_enable"`` ->
    ``{"debug": {"ra_clock_enable": ...}}``)."""
    doc: dict[str, Any] = {}
    for path, value in rockpool_fields(program):
        *parents, name = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[name] = value
    return doc


def artifact(program: XyloProgram) -> dict:
    """The ``xylo.json`` document."""
    spec = get_spec(program.variant)
    samna_mod = SAMNA.get(program.variant)
    return {**header(SCHEMA, SCHEMA_VERSION, program.variant, program.dt), "chip": spec.chip,
            "samna_module": f"samna.{samna_mod[0]}" if samna_mod else None,
            "rockpool_package": spec.rockpool_package, "meta": program.meta,
            "rockpool": {"function": ROCKPOOL_FUNCTION[program.variant], "arrays": ARRAYS,
                         "kwargs": rockpool_kwargs(program), "dt": program.dt},
            "configuration": configuration(program)}


def emit(program: XyloProgram, out_dir: Union[str, os.PathLike]) -> list[Path]:
    """Write ``xylo.json`` and ``xylo_spec.npz`` into ``out_dir``; returns the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ARTIFACT).write_text(dumps(artifact(program)))
    save_npz(out / ARRAYS, rockpool_arrays(program))
    return [out / ARTIFACT, out / ARRAYS]


def _read_doc(file: Path) -> tuple[dict, int]:
    try:
        doc = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise NirccError(f"{str(file)!r} is not readable JSON: {e}", field="path") from None
    version = read_header(doc, SCHEMA, READABLE_VERSIONS, repr(str(file)),
                          legacy={(FORMAT, 1): 1, (FORMAT, 2): 2})
    return doc, version


def load_program(path: Union[str, os.PathLike]) -> XyloProgram:
    """The program of an emitted artifact (the folder, or its ``xylo.json``), of version 2
    or 1 (version 1 named the hidden biases ``bias`` and kept the scalar arguments flat in
    ``rockpool``; its data are complete, so it is still read).  NirccError for another
    format or version, or for arrays the variant's rockpool function does not take."""
    p = Path(path)
    if not p.exists():
        raise NirccError(f"{str(p)!r} does not exist", field="path")
    folder = p if p.is_dir() else p.parent
    if not (folder / ARTIFACT).is_file() or not (folder / ARRAYS).is_file():
        raise NirccError(f"no Xylo artifact ({ARTIFACT} and {ARRAYS}) in {str(folder)!r}", field="path")
    doc, version = _read_doc(folder / ARTIFACT)
    absent = [k for k in ("variant", "dt", "meta", "rockpool") if k not in doc]
    if absent:
        raise NirccError(f"{str(folder / ARTIFACT)!r} lacks {absent}", field="format")
    spec = get_spec(doc["variant"])
    with np.load(folder / ARRAYS, allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    hidden_bias = "bias_hidden" if version >= 2 else "bias"
    allowed = set(_REQUIRED) | {hidden_bias, "bias_out"} | ({"dash_syn_2"} if spec.n_syn > 1 else set())
    if version >= 2:
        allowed &= set(ROCKPOOL_PARAMETERS[spec.name])
    unknown, missing = sorted(set(a) - allowed), sorted(set(_REQUIRED) - set(a))
    if unknown:
        raise NirccError(f"{str(folder / ARRAYS)!r} holds {unknown}, which are no arguments of "
                         f"{spec.rockpool_package}.{ROCKPOOL_FUNCTION[spec.name]} (version {version} artifact; "
                         f"it takes {sorted(allowed)})", field="arrays")
    if missing:
        raise NirccError(f"{str(folder / ARRAYS)!r} lacks {missing}", field="arrays")
    rp = doc["rockpool"]
    kw = rp.get("kwargs", {}) if version >= 2 else rp
    absent = [k for k in _KWARGS if k not in kw]
    if absent:
        raise NirccError(f"{str(folder / ARTIFACT)!r} lacks rockpool arguments {absent}", field="rockpool")
    n_hid, n_out = a["weights_rec"].shape[0], a["weights_out"].shape[1]
    return XyloProgram(
        weights_in=a["weights_in"], weights_rec=a["weights_rec"], weights_out=a["weights_out"],
        dash_mem=a["dash_mem"], dash_syn=a["dash_syn"], dash_syn2=a.get("dash_syn_2", np.zeros(n_hid)),
        dash_mem_out=a["dash_mem_out"], dash_syn_out=a["dash_syn_out"], threshold=a["threshold"],
        threshold_out=a["threshold_out"], bias=a.get(hidden_bias, np.zeros(n_hid)),
        bias_out=a.get("bias_out", np.zeros(n_out)), weight_shift_in=kw["weight_shift_in"],
        weight_shift_rec=kw["weight_shift_rec"], weight_shift_out=kw["weight_shift_out"], aliases=kw["aliases"],
        bias_enable=hidden_bias in a or "bias_out" in a, variant=spec.name, dt=doc["dt"], meta=doc["meta"])


def to_sdk(program: XyloProgram) -> Any:
    """samna's ``XyloConfiguration`` of ``program``: :func:`rockpool_fields` set one by one,
    in rockpool's order -- the configuration rockpool's ``config_from_specification`` builds
    from the artifact -- validated by samna's ``validate_configuration`` (a NirccError with
    samna's message when it refuses)."""
    if program.variant not in SAMNA:
        raise NirccError(f"Xylo {program.variant}: samna and rockpool no longer support this chip (rockpool "
                         "removed Xylo v1 hardware support); use its simulator", field="variant")
    sub, block_name, neuron_cls = SAMNA[program.variant]
    samna = require_sdk("samna", "xylo", "Install SynSense's samna (pip install samna) on the machine with the board.")
    chip = getattr(samna, sub)
    conf = chip.configuration
    config = conf.XyloConfiguration()
    for path, value in rockpool_fields(program):
        *parents, name = path.split(".")
        target = config
        for part in parents:
            target = getattr(target, part)
        if name == "neurons":
            make = getattr(conf, neuron_cls) if parents == [block_name] else conf.OutputNeuron
            neurons = []
            for fields in value:
                n = make()
                for key, v in fields.items():
                    setattr(n, key, v)
                neurons.append(n)
            value = neurons
        setattr(target, name, value)
    validate = getattr(chip, "validate_configuration", None)
    if validate is not None:
        ok, message = validate(config)
        if not ok:
            raise NirccError(f"samna refuses the configuration: {message}", field="configuration")
    return config
