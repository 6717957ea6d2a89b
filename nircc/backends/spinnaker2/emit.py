"""The SpiNNaker2 artifact and the py-spinnaker2 network built from it.

Files written by :func:`emit` (byte-identical across runs):

``model.s2.json``
    :meth:`S2Program.to_dict` (format ``nircc.spinnaker2/1``: populations with model,
    size, params, record, ``max_atoms_per_core`` and NIR provenance; projections; run
    length; ``meta`` with the NIR inputs/outputs, latencies and semantics), except that a
    list projection with more than :data:`NPZ_ROWS` rows has ``"connections": "<key>"``,
    the name of its array in ``connections.npz``.
``connections.npz``
    only when such projections exist: one ``int32 [n, 4]`` array ``[pre, post, weight,
    delay]`` per projection (read with ``np.load(..., allow_pickle=False)``).

The ``spike_list`` populations have no spike times in the artifact (the inputs are not
part of a compile); :func:`to_sdk` takes them, the loader in ``docs/targets/spinnaker2.md``
fills them the same way.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from ...errors import NirccError
from ...util import dumps, save_npz
from ..base import require_sdk
from ..io import program_io
from .program import ListProjection, S2Program, spike_list_from_raster

ARTIFACT = "model.s2.json"
CONNECTIONS = "connections.npz"
#: list projections with more rows than this go to ``connections.npz``
NPZ_ROWS = 4096


def artifact_dict(program: S2Program) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON document and the arrays of ``connections.npz`` (empty: no such file)."""
    doc = program.to_dict()
    arrays: dict[str, np.ndarray] = {}
    for q, entry in zip(program.projections, doc["projections"]):
        if isinstance(q, ListProjection) and q.connections.shape[0] > NPZ_ROWS:
            key = f"p{len(arrays)}"
            arrays[key] = q.connections.astype(np.int32)
            entry["connections"] = key
    return doc, arrays


def emit(program: S2Program, out_dir: Union[str, os.PathLike]) -> list[Path]:
    """Write the artifact (module docstring) into ``out_dir``; returns the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc, arrays = artifact_dict(program)
    (out / ARTIFACT).write_text(dumps(doc))
    files = [out / ARTIFACT]
    if arrays:
        save_npz(out / CONNECTIONS, arrays)
        files.append(out / CONNECTIONS)
    return files


def _read(path: Union[str, os.PathLike]) -> tuple[dict, Optional[Path]]:
    p = Path(path)
    if p.is_dir():
        p = p / ARTIFACT
    if not p.is_file():
        raise NirccError(f"no SpiNNaker2 artifact at {str(p)!r}", field="path")
    return json.loads(p.read_text()), p.parent


def _resolve(doc: dict, folder: Optional[Path]) -> dict:
    """``doc`` with the connections of ``connections.npz`` put back as lists."""
    refs = [q for q in doc["projections"] if q.get("kind") == "list" and isinstance(q.get("connections"), str)]
    if not refs:
        return doc
    with np.load(folder / CONNECTIONS, allow_pickle=False) as npz:
        for q in refs:
            q["connections"] = npz[q["connections"]].tolist()
    return doc


def load_program(path: Union[str, os.PathLike]) -> S2Program:
    """The program of an emitted directory (or its ``model.s2.json``)."""
    doc, folder = _read(path)
    return S2Program.from_dict(_resolve(doc, folder))


# ---------------------------------------------------------------------- py-spinnaker2
@dataclass
class SDKNetwork:
    """A py-spinnaker2 network built by :func:`to_sdk`: run it with
    ``hw.run(sdk.network, sdk.timesteps, sys_tick_in_s=sdk.sys_tick_in_s)``."""

    network: Any
    populations: dict[str, Any]
    projections: list[Any]
    timesteps: int
    sys_tick_in_s: float
    sizes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)

    def spikes(self, population: str) -> np.ndarray:
        """``uint8 [timesteps, size]`` raster of a recorded population after a run."""
        pop = self.populations[population]
        out = np.zeros((self.timesteps, self.sizes[population]), np.uint8)
        for idx, times in pop.get_spikes().items():
            t = np.asarray(times, np.int64)
            out[t[t < self.timesteps], int(idx)] = 1
        return out

    def voltages(self, population: str) -> np.ndarray:
        """``float32 [timesteps, size]`` recorded v (chip units) of a population after a run."""
        pop = self.populations[population]
        out = np.zeros((self.timesteps, self.sizes[population]), np.float32)
        for idx, v in pop.get_voltages().items():
            v = np.asarray(v, np.float32)[:self.timesteps]
            out[:v.size, int(idx)] = v
        return out


def input_spike_lists(program: S2Program, inputs: Mapping[str, Any]) -> tuple[dict[str, dict], int]:
    """``spike_list`` params per population of one sample of NIR inputs (Input name ->
    0/1 array ``[T, *shape]``), and ``T``."""
    io = {p.name: p for p in program_io(program).inputs}
    unknown = sorted(set(inputs) - set(io))
    if unknown:
        raise NirccError(f"no Input called {unknown[0]!r} (inputs: {sorted(io)})", unknown[0], "inputs")
    out, steps = {}, set()
    for name, port in io.items():
        if name not in inputs:
            continue
        x = np.asarray(inputs[name])
        shape = port.shape
        if x.shape[1:] != shape or not np.all((x == 0) | (x == 1)):
            raise NirccError(f"one sample of 0/1 spikes [T, {', '.join(map(str, shape))}] expected, got "
                             f"{x.dtype} {list(x.shape)}", name, "inputs")
        out[port.key] = spike_list_from_raster(x.reshape(x.shape[0], -1))
        steps.add(x.shape[0])
    if len(steps) > 1:
        raise NirccError(f"inputs disagree on T: {sorted(steps)}", field="inputs")
    return out, steps.pop() if steps else 0


def build_network(snn: Any, doc: dict, spike_lists: Mapping[str, dict] = (), name: str = "nircc") -> tuple:
    """py-spinnaker2 objects of an artifact document (connections resolved): the
    ``(network, populations, projections)`` the documented loader builds."""
    spike_lists = dict(spike_lists)
    pops = {}
    for p in doc["populations"]:
        if p["neuron_model"] == "spike_list":
            params = {int(k): list(v) for k, v in spike_lists.get(p["name"], p["params"]).items()}
        else:
            params = {k: np.asarray(v) if isinstance(v, list) else v for k, v in p["params"].items()}
        pop = snn.Population(size=p["size"], neuron_model=p["neuron_model"], params=params, name=p["name"],
                             record=list(p.get("record", [])))
        if p.get("max_atoms_per_core"):
            pop.set_max_atoms_per_core(p["max_atoms_per_core"])
        pops[p["name"]] = pop
    projs = []
    for q in doc["projections"]:
        if q["kind"] == "list":
            projs.append(snn.Projection(pre=pops[q["pre"]], post=pops[q["post"]], connections=q["connections"]))
        else:
            kernel = np.asarray(q["weights_int8"], np.int8).reshape(q["weights_int8_shape"])
            projs.append(snn.Conv2DProjection(pops[q["pre"]], pops[q["post"]], kernel, q["conv_params"]))
    net = snn.Network(name)
    net.add(*pops.values(), *projs)
    return net, pops, projs


def to_sdk(program: S2Program, inputs: Optional[Mapping[str, Any]] = None) -> SDKNetwork:
    """The py-spinnaker2 ``snn.Network`` of ``program`` (needs ``spinnaker2`` importable).

    ``inputs``: one sample, NIR Input name -> 0/1 spikes ``[T, *shape]``; the network then
    runs ``T + max latency`` steps (the last input reaches every output), else
    ``program.timesteps``."""
    snn = require_sdk("spinnaker2.snn", "spinnaker2",
                      "Install py-spinnaker2 (gitlab.com/spinnaker2/py-spinnaker2) on the machine with the board.")
    spike_lists, steps = input_spike_lists(program, inputs or {})
    net, pops, projs = build_network(snn, program.to_dict(), spike_lists)
    io = program_io(program)
    lag = max(io.latency.values(), default=0)
    timesteps = steps + lag if inputs else program.timesteps
    return SDKNetwork(net, pops, projs, timesteps, program.sys_tick_in_s, {p.name: p.size for p in program.populations},
                      {p.name: {"population": p.key, "kind": p.kind, "shape": list(p.shape)} for p in io.outputs})

