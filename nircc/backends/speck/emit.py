"""Speck artifacts: the samna configuration as JSON, the lossless program, and ``to_sdk``.

``emit(program, out_dir)`` writes two files (deterministic bytes: sorted keys, fixed
separators; ``speck.json`` is compact, one line, since it is mostly nested arrays):

``speck.json`` (schema ``nircc.speck``, version 2): what a lab bench needs to
configure the chip with samna, in samna's field names and array layouts (speck.md §3.2,
the fields sinabs 3.1.3 ``DynapcnnConfigBuilder`` writes)::

    schema, schema_version, nircc_version, variant, dt (the header every artifact starts
    with: nircc.backends.program), samna_module, configuration_class, slow_clk_frequency (1/dt Hz when a layer leaks, else null), semantics,
    layer2core {layer name: core}, nir_nodes {layer name: [NIR nodes it realises]},
    input  {kind: "dvs" | "cnn", cores, shape [C, H, W], nir_input, event},
    outputs [{name, core, pooling, shape, neuron_shape}],
    configuration:
      cnn_layers: 9 entries (null: core unused), each
        dimensions {input_shape {size {x, y}, feature_count}, output_shape {...},
                    padding {x, y}, stride {x, y}, kernel_size}
        weights [F][C][kx][ky] (int8), biases [F] (int16), leak_enable,
        neurons_initial_value [F][x][y] (int16), threshold_high, threshold_low (int16),
        return_to_zero, monitor_enable,
        destinations: 2 x {layer, enable, pooling, feature_shift}
        (dynapcnn only: weights_kill_bit [F][C][kx][ky] = weight == 0,
         biases_kill_bit [F] = bias == 0, neurons_value_kill_bit [F][x][y] = false)
      dvs_layer: {pass_sensor_events} and, when the DVS layer is used, merge,
        mirror {x, y}, mirror_diagonal, cut {x, y}, origin {x, y}, pooling {x, y},
        on_channel, off_channel, monitor_enable, destinations 2 x {layer, enable}

``program.json``: :meth:`SpeckProgram.to_dict` (schema ``nircc.speck.program``), lossless;
:func:`load_program` reads it back for the emulators.

``to_sdk(program)`` builds the samna object the same way sinabs' config builder does
(``samna.speck2f.configuration.SpeckConfiguration()``; ``samna.speck2e`` and
``samna.dynapcnn.configuration.DynapcnnConfiguration`` for the other variants): for each
used core ``cnn_layers[core].dimensions = {...}`` (a dict, as sinabs assigns it), each
destination's ``layer/enable/pooling/feature_shift`` set on ``destinations[i]``, the other
fields by ``setattr``; the DVS layer likewise; then ``samna.<chip>.validate_configuration``
(``(ok, message)``) when samna has it.  samna is imported lazily (``require_sdk``).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ...errors import NirccError
from ...util import to_jsonable
from ..base import require_sdk
from ..io import program_io
from ..program import header
from .program import CnnLayer, SpeckProgram
from .spec import SpeckSpec, get_spec

SCHEMA = "nircc.speck"
#: 2: the common header (nircc.backends.program); 1: ``"format": "nircc.speck.samna"``
SCHEMA_VERSION = 2
CONFIG_FILE = "speck.json"
PROGRAM_FILE = "program.json"

#: samna configuration class per variant (sinabs chips/speck2f.py, speck2e.py; dynapcnn:
#: sinabs <= 2.x chips/dynapcnn.py)
CONFIG_CLASS = {"speck2f": "SpeckConfiguration", "speck2e": "SpeckConfiguration",
                "dynapcnn": "DynapcnnConfiguration"}

SDK_HINT = ("samna is SynSense's SDK; it installs only on machines SynSense supports (pip install samna, "
            "then sinabs for the devkit helpers).")


def _xy(pair: tuple[int, int]) -> dict:
    """A nircc ``(y, x)`` pair as samna's ``{x, y}``."""
    return {"x": int(pair[1]), "y": int(pair[0])}


def _dimensions(lay: CnnLayer) -> dict:
    c, h, w = lay.input_shape
    f, ho, wo = lay.output_shape
    return {"input_shape": {"size": {"x": w, "y": h}, "feature_count": c},
            "output_shape": {"size": {"x": wo, "y": ho}, "feature_count": f},
            "padding": _xy(lay.padding), "stride": _xy(lay.stride), "kernel_size": lay.kernel}


def _destinations(lay: CnnLayer, n: int) -> list[dict]:
    out = [{"layer": d.layer, "enable": True, "pooling": d.pooling, "feature_shift": d.feature_shift}
           for d in lay.destinations]
    out += [{"layer": 0, "enable": False, "pooling": 1, "feature_shift": 0}] * (n - len(out))
    return out


def cnn_layer_config(lay: CnnLayer, spec: SpeckSpec) -> dict:
    """The samna ``CnnLayerConfig`` fields of one core (module docstring)."""
    ws = lay.weights_samna()
    vs = lay.neurons_initial_value_samna()
    d = {"dimensions": _dimensions(lay), "weights": ws.tolist(), "biases": lay.biases.tolist(),
         "leak_enable": bool(lay.leak_enable), "neurons_initial_value": vs.tolist(),
         "threshold_high": int(lay.threshold_high), "threshold_low": int(lay.threshold_low),
         "return_to_zero": bool(lay.return_to_zero), "monitor_enable": bool(lay.monitor),
         "destinations": _destinations(lay, spec.n_destinations)}
    if spec.kill_bits:
        d["weights_kill_bit"] = (ws == 0).tolist()
        d["biases_kill_bit"] = (lay.biases == 0).tolist()
        d["neurons_value_kill_bit"] = np.zeros(vs.shape, bool).tolist()
    return d


def dvs_layer_config(program: SpeckProgram, spec: SpeckSpec) -> dict:
    """The samna ``DvsLayerConfig`` fields (only ``pass_sensor_events`` without a DVS layer)."""
    inp = program.input
    sensor = bool(program.meta.get("dvs_sensor", False))
    if not inp.dvs:
        return {"pass_sensor_events": False}
    (oy, ox), (cy, cx) = inp.roi()
    dests = [{"layer": c, "enable": True} for c in inp.destinations]
    dests += [{"layer": 0, "enable": False}] * (spec.dvs.n_destinations - len(dests))
    return {"pass_sensor_events": sensor, "merge": bool(inp.merge),
            "mirror": {"x": bool(inp.mirror_x), "y": bool(inp.mirror_y)},
            "mirror_diagonal": bool(inp.mirror_diagonal), "origin": {"x": ox, "y": oy}, "cut": {"x": cx, "y": cy},
            "pooling": _xy(inp.pooling), "on_channel": bool(inp.on_channel), "off_channel": bool(inp.off_channel),
            "monitor_enable": bool(inp.monitor), "destinations": dests}


def samna_config(program: SpeckProgram, spec: Optional[SpeckSpec] = None) -> dict:
    """The whole ``speck.json`` document (module docstring)."""
    spec = spec or get_spec(program.variant)
    layers: list[Optional[dict]] = [None] * spec.n_cores
    for lay in program.layers:
        layers[lay.core] = cnn_layer_config(lay, spec)
    io = program_io(program)
    shapes = {p.name: list(p.shape) for p in io.outputs}
    leak = any(lay.leak_enable for lay in program.layers)
    outs = []
    for e in program.exits:
        f, h, w = program.layer(e.layer).output_shape
        shape = shapes.get(e.name)
        outs.append({"name": e.name, "core": e.layer, "pooling": e.pooling,
                     "neuron_shape": [f, h // e.pooling, w // e.pooling], "shape": shape})
    inp = program.input
    event = (f"{spec.samna_module}.event.Spike{{layer=core, feature=c, x, y, timestamp [us]}}" if not inp.dvs else
             "events of the DVS sensor (dvs_sensor=true) or events injected at the DVS layer")
    return {
        **header(SCHEMA, SCHEMA_VERSION, program.variant, program.dt), "samna_module": spec.samna_module,
        "configuration_class": f"{spec.samna_module}.configuration.{CONFIG_CLASS[spec.name]}",
        "slow_clk_frequency": (1.0 / program.dt) if leak else None,
        "semantics": program.meta.get("semantics"),
        "layer2core": {lay.name: lay.core for lay in program.layers},
        "nir_nodes": program.meta.get("layers", {lay.name: [] for lay in program.layers}),
        "input": {"kind": "dvs" if inp.dvs else "cnn", "cores": list(inp.destinations), "shape": list(inp.shape),
                  "nir_input": io.inputs[0].name if io.inputs else None, "event": event},
        "outputs": outs,
        "configuration": {"cnn_layers": layers, "dvs_layer": dvs_layer_config(program, spec)},
    }


def emit(program: SpeckProgram, out_dir: Union[str, Path]) -> list[Path]:
    """Write ``speck.json`` and ``program.json`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / CONFIG_FILE, out / PROGRAM_FILE]
    files[0].write_text(json.dumps(to_jsonable(samna_config(program)), sort_keys=True, separators=(",", ":"),
                                   allow_nan=False) + "\n")
    files[1].write_text(program.to_json())
    return files


def load_program(path: Union[str, Path]) -> SpeckProgram:
    """The program of an artifact directory (its ``program.json``) or of a JSON file."""
    p = Path(path)
    if p.is_dir():
        p = p / PROGRAM_FILE
    if not p.exists():
        raise NirccError(f"{p} does not exist", field="path")
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise NirccError(f"cannot read {p}: {e}", field="path") from None
    return SpeckProgram.from_dict(data)


def to_sdk(program: SpeckProgram, spec: Optional[SpeckSpec] = None) -> Any:
    """The samna configuration object of ``program`` (module docstring); NirccError when
    samna is missing or rejects the configuration."""
    spec = spec or get_spec(program.variant)
    mod = require_sdk(spec.samna_module, "speck", SDK_HINT)
    conf_mod = importlib.import_module(f"{spec.samna_module}.configuration")
    cfg = getattr(conf_mod, CONFIG_CLASS[spec.name])()
    doc = samna_config(program, spec)["configuration"]
    for core, d in enumerate(doc["cnn_layers"]):
        if d is None:
            continue
        chip = cfg.cnn_layers[core]
        chip.dimensions = d["dimensions"]
        for i, dest in enumerate(d["destinations"]):
            if not dest["enable"]:
                continue
            for key in ("layer", "enable", "pooling", "feature_shift"):
                setattr(chip.destinations[i], key, dest[key])
        for key, value in d.items():
            if key not in ("dimensions", "destinations"):
                setattr(chip, key, value)
    dvs = doc["dvs_layer"]
    cfg.dvs_layer.pass_sensor_events = dvs["pass_sensor_events"]
    if program.input.dvs:
        for i, dest in enumerate(dvs["destinations"]):
            if dest["enable"]:
                cfg.dvs_layer.destinations[i].layer = dest["layer"]
                cfg.dvs_layer.destinations[i].enable = True
        for key, value in dvs.items():
            if key not in ("pass_sensor_events", "destinations"):
                setattr(cfg.dvs_layer, key, value)
    check = getattr(mod, "validate_configuration", None)
    if check is not None:
        ok, message = check(cfg)
        if not ok:
            raise NirccError(f"{spec.samna_module}.validate_configuration rejects the configuration: {message}",
                             field="configuration")
    return cfg
