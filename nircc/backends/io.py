"""The typed map between a graph's NIR Inputs/Outputs and a chip's channels or populations.

Every lowering records one :class:`IOMap` in its program (``program.meta["io"]``, the same
schema on every target), and :meth:`nircc.backends.base.Target.run` -- written once -- uses
it to turn NIR-shaped inputs into what the chip's emulator takes and the emulator's result
into NIR-shaped outputs:

* an input :class:`Port` names the NIR Input, its shape, and where its ``prod(shape)``
  channels go: into one ``[T, B, channels]`` array at ``offset`` (``layout="channels"``:
  Xylo's input channels, Loihi's input layer), into an array per ``key``
  (``layout="keys"``: SpiNNaker2's input populations), or reshaped to the chip's input
  tensor (``layout="tensor"``: Speck's ``[C, H, W]`` input layer).  Inputs are event counts
  per step: finite, non-negative integers (bool, int or float); each chip may bound them
  further in its emulator (Xylo: at most 15);
* an output :class:`Port` names the NIR Output, its shape, the emulator's result entry it
  reads (``key`` in ``outputs`` for ``kind="spikes"``, in ``states`` for ``kind="v"``), the
  channels ``offset .. offset + size`` of it, for a membrane read-out the chip units per
  reference unit (``scale``: one value or one per neuron), and ``latency``: the steps by
  which the chip's output lags the reference;
* a constant :class:`Port` (``IOMap.constants``) is an input channel the chip receives one
  event on at every step, which the user does not supply: the always-on source of a bias
  that a legalization moved out of an Affine (:mod:`nircc.passes.legalize`, "bias
  sources"); :meth:`IOMap.encode` fills it, and a board must be driven the same way;
* a state :class:`Port` (``IOMap.states``) names a recorded state ``"<node>/<state>"`` and the
  channels ``offset .. offset + size`` of the emulator's entry ``key`` that hold it (in
  ``states`` for ``kind="state"``, in ``outputs`` for ``kind="spikes"``): for an emulator that
  records chip-wide registers (Xylo's ``Vmem``, ``Spikes``, named as the vendor's simulator
  names them).  Emulators that record per population key their states ``"<node>/<state>"``
  already and need no state port.

State keys, the same for every target and for :mod:`nircc.sim` (:data:`STATE_NAMES`):
``"<node>/output"`` what the node emits each step (spike counts for a neuron), ``"<node>/v"``
the membrane and ``"<node>/i"`` the synaptic current after the step (reset applied), in the
chip's units; a chip's own extra states keep a chip name after the slash (SpiNNaker2's
``i_exc``/``i_inh``, Xylo's second synapse ``i2``).

``IOMap.to_dict`` / ``from_dict`` are JSON-able and lossless.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from ..errors import NirccError

LAYOUTS = ("channels", "keys", "tensor")
OUTPUT_KINDS = ("spikes", "v")
STATE_KINDS = ("state", "spikes")
#: the common state names after ``"<node>/"`` (module docstring)
STATE_NAMES = ("output", "v", "i")


def state_key(node: str, state: str) -> str:
    """The key of a recorded state: ``"<node>/<state>"``."""
    return f"{node}/{state}"


@dataclass(frozen=True)
class Port:
    """One NIR Input or Output and where it lives on the chip (module docstring)."""

    name: str
    shape: tuple[int, ...]
    key: str = ""
    offset: int = 0
    kind: str = "spikes"
    scale: Optional[tuple[float, ...]] = None
    latency: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(x) for x in self.shape))
        if self.scale is not None:
            object.__setattr__(self, "scale", tuple(float(x) for x in np.ravel(self.scale)))

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "key": self.key, "offset": self.offset,
                "kind": self.kind, "scale": None if self.scale is None else list(self.scale),
                "latency": self.latency}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Port":
        return cls(name=str(d["name"]), shape=tuple(d["shape"]), key=str(d.get("key", "")),
                   offset=int(d.get("offset", 0)), kind=str(d.get("kind", "spikes")),
                   scale=None if d.get("scale") is None else tuple(d["scale"]), latency=int(d.get("latency", 0)))


@dataclass(frozen=True)
class IOMap:
    """The inputs and outputs of a program (module docstring)."""

    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    layout: str = "channels"
    channels: Optional[int] = None                 # "channels": the width of the chip's input
    tensor: Optional[tuple[int, ...]] = None       # "tensor": the chip's input shape
    extra: dict = field(default_factory=dict)      # target-specific, JSON-able (e.g. layer maps)
    states: tuple[Port, ...] = ()                  # recorded chip registers -> "<node>/<state>"
    constants: tuple[Port, ...] = ()               # always-on input channels (one event per step)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        for p in self.outputs:
            if p.kind not in OUTPUT_KINDS:
                raise ValueError(f"output {p.name!r}: kind must be one of {OUTPUT_KINDS}, got {p.kind!r}")
        for p in self.states:
            if p.kind not in STATE_KINDS or "/" not in p.name:
                raise ValueError(f"state {p.name!r}: a '<node>/<state>' name of kind {STATE_KINDS}, got {p.kind!r}")

    # ------------------------------------------------------------------ queries
    def input(self, name: str) -> Port:
        return {p.name: p for p in self.inputs}[name]

    def output(self, name: str) -> Port:
        return {p.name: p for p in self.outputs}[name]

    @property
    def latency(self) -> dict[str, int]:
        return {p.name: p.latency for p in self.outputs}

    @property
    def needs_states(self) -> bool:
        """Whether an output reads the emulator's recorded states (a membrane read-out)."""
        return any(p.kind == "v" for p in self.outputs)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, inputs: Mapping[str, Any]) -> Any:
        """NIR inputs (Input name -> ``[T, B, *shape]`` event counts) -> what the emulator takes:
        ``[T, B, channels]`` int64 (``channels``), ``{key: [T, B, size]}`` (``keys``) or
        ``[T, B, *tensor]`` (``tensor``).  NirccError naming the Input for a missing or
        unknown name, a wrong shape, or values that are not event counts."""
        if not isinstance(inputs, Mapping):
            raise NirccError(f"inputs must be a dict Input name -> [T, B, *shape] array, got {type(inputs).__name__}",
                             field="inputs")
        names = [p.name for p in self.inputs]
        if set(inputs) != set(names):
            raise NirccError(f"inputs {sorted(inputs)} do not match the program's {sorted(names)}", field="inputs")
        arrays, t_b = {}, None
        for p in self.inputs:
            x = _counts(inputs[p.name], p)
            if t_b is not None and x.shape[:2] != t_b:
                raise NirccError(f"input is [T, B] = {list(x.shape[:2])}, others {list(t_b)}", p.name, "inputs")
            t_b = x.shape[:2]
            arrays[p.name] = x.reshape(x.shape[:2] + (p.size,))
        for p in self.constants:
            arrays[p.name] = np.ones(t_b + (p.size,), np.int64)
        ports = self.inputs + self.constants
        if self.layout == "keys":
            if not self.constants:
                return {p.key: arrays[p.name] for p in self.inputs}
            widths: dict[str, int] = {}
            for p in ports:
                widths[p.key] = max(widths.get(p.key, 0), p.offset + p.size)
            keyed = {k: np.zeros(t_b + (w,), np.int64) for k, w in widths.items()}
            for p in ports:
                keyed[p.key][..., p.offset:p.offset + p.size] = arrays[p.name]
            return keyed
        if self.layout == "tensor":
            (p,) = self.inputs
            return arrays[p.name].reshape(t_b + tuple(self.tensor))
        width = self.channels if self.channels is not None else sum(p.size for p in ports)
        out = np.zeros(t_b + (width,), np.int64)
        for p in ports:
            out[..., p.offset:p.offset + p.size] = arrays[p.name]
        return out

    def with_constants(self, constants: Mapping[str, int]) -> "IOMap":
        """This map with the last ``constants[name]`` channels of each named input port made
        constant ports (``"<input>/on"``), so that the user supplies only the rest."""
        inputs, extra = [], list(self.constants)
        for p in self.inputs:
            k = int(constants.get(p.name, 0))
            if k <= 0:
                inputs.append(p)
                continue
            if len(p.shape) != 1 or p.shape[0] <= k:
                raise ValueError(f"input {p.name!r} of shape {list(p.shape)} has no {k} trailing channels to hold")
            n = p.shape[0] - k
            inputs.append(Port(p.name, (n,), p.key, p.offset, p.kind, p.scale, p.latency))
            extra.append(Port(f"{p.name}/on", (k,), p.key, p.offset + n, p.kind))
        return IOMap(tuple(inputs), self.outputs, self.layout, self.channels, self.tensor, dict(self.extra),
                     self.states, tuple(extra))

    def decode(self, result: Any) -> dict[str, np.ndarray]:
        """The emulator's result -> NIR Output name -> ``[T, B, *shape]``: spike counts as the
        emulator gives them, or float64 membranes in the reference's units (chip value /
        ``scale``)."""
        out = {}
        for p in self.outputs:
            src = result.outputs if p.kind == "spikes" else result.states
            if p.key not in src:
                raise NirccError(f"the emulator returned no {p.key!r} for this output (a program of another nircc "
                                 "version? recompile it)", p.name, "outputs")
            a = np.asarray(src[p.key])
            a = a.reshape(a.shape[:2] + (-1,))[..., p.offset:p.offset + p.size]
            if p.kind == "v":
                a = a.astype(np.float64) / np.asarray(p.scale if p.scale is not None else (1.0,), np.float64)
            out[p.name] = a.reshape(a.shape[:2] + p.shape)
        return out

    def decode_states(self, result: Any) -> dict[str, np.ndarray]:
        """The emulator's recorded states keyed ``"<node>/<state>"``: each state port's
        channels of its entry; every other entry already so keyed passes as it is (chip
        registers no port names are dropped)."""
        out = {}
        for p in self.states:
            src = result.outputs if p.kind == "spikes" else result.states
            if p.key in src:
                a = np.asarray(src[p.key])
                out[p.name] = a.reshape(a.shape[:2] + (-1,))[..., p.offset:p.offset + p.size].reshape(
                    a.shape[:2] + p.shape)
        for k, a in result.states.items():
            if "/" in k and k not in out:
                out[k] = a
        return out

    # ------------------------------------------------------------------ records
    def to_dict(self) -> dict[str, Any]:
        d = {"inputs": [p.to_dict() for p in self.inputs], "outputs": [p.to_dict() for p in self.outputs],
             "layout": self.layout, "channels": self.channels,
             "tensor": None if self.tensor is None else list(self.tensor), "extra": dict(self.extra),
             "states": [p.to_dict() for p in self.states]}
        if self.constants:                  # absent when none: artifacts without them are unchanged
            d["constants"] = [p.to_dict() for p in self.constants]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IOMap":
        return cls(inputs=tuple(Port.from_dict(p) for p in d["inputs"]),
                   outputs=tuple(Port.from_dict(p) for p in d["outputs"]), layout=str(d.get("layout", "channels")),
                   channels=None if d.get("channels") is None else int(d["channels"]),
                   tensor=None if d.get("tensor") is None else tuple(int(x) for x in d["tensor"]),
                   extra=dict(d.get("extra") or {}), states=tuple(Port.from_dict(p) for p in d.get("states") or ()),
                   constants=tuple(Port.from_dict(p) for p in d.get("constants") or ()))


def _counts(x: Any, p: Port) -> np.ndarray:
    """``x`` checked as ``[T, B, *shape]`` event counts (int64)."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise NirccError(f"input is not an array ({e})", p.name, "inputs") from None
    if a.ndim != 2 + len(p.shape) or tuple(a.shape[2:]) != p.shape:
        raise NirccError(f"input must be [T, B, {', '.join(map(str, p.shape))}], got {list(a.shape)}", p.name, "inputs")
    if a.dtype == np.bool_:
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise NirccError("inputs are event counts per step: they must be non-negative integers", p.name,
                             "inputs")
    elif a.dtype.kind not in "iu":
        raise NirccError(f"inputs are event counts per step, got dtype {a.dtype}", p.name, "inputs")
    a = a.astype(np.int64)
    if a.size and int(a.min()) < 0:
        raise NirccError(f"inputs are event counts per step: they must be non-negative integers, got "
                         f"{int(a.min())}", p.name, "inputs")
    return a


def program_io(program: Any) -> IOMap:
    """The :class:`IOMap` a lowering recorded in ``program.meta["io"]``."""
    meta = getattr(program, "meta", None) or {}
    if "io" not in meta:
        raise NirccError("the program records no I/O map (meta['io']): it was not made by a nircc lowering; run "
                         "the target's emulator directly", field="inputs")
    return IOMap.from_dict(meta["io"])
