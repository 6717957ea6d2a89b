"""The ToyChip program: an ordered list of dense integer LIF layers.

Layer ``i`` reads the spikes of layer ``i - 1`` (layer 0: the input channels) through its
``int8`` matrix ``weights [out, in]``; its neurons share one ``int16`` ``threshold`` and one
decay ``shift`` (formats in :mod:`.spec`).  ``to_dict()`` starts with the common header
(:func:`nircc.backends.program.header`) and is lossless: ``from_dict(to_dict())`` gives the
same document.  ``report`` (resources, quantization) is not part of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from nircc.backends.program import check_header, header, read_header
from nircc.errors import ErrorCollector, NirccError
from nircc.util import to_jsonable

from .spec import DEFAULT_VARIANT, ToySpec, get_spec

SCHEMA = "nircc.toy.program"
SCHEMA_VERSION = 1


@dataclass(eq=False)
class ToyLayer:
    """One dense layer: ``weights`` int8 ``[out, in]``, ``threshold`` and ``shift`` ints."""

    name: str
    weights: np.ndarray
    threshold: int
    shift: int

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.dtype.kind not in "iu" or (w.size and (int(w.min()) < -128 or int(w.max()) > 127)):
            raise NirccError(f"weights must be int8 integers, got dtype {w.dtype}" + (
                f", range {w.min()}..{w.max()}" if w.size and w.dtype.kind in "iuf" else ""), self.name, "weights")
        self.weights = w.astype(np.int8)
        self.threshold, self.shift = int(self.threshold), int(self.shift)

    @property
    def size(self) -> int:
        return int(self.weights.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.weights.shape), "weights": self.weights.tolist(),
                "threshold": self.threshold, "shift": self.shift}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ToyLayer":
        w = np.asarray(d["weights"], np.int64).reshape(tuple(d["shape"]))
        return cls(str(d["name"]), w, d["threshold"], d["shift"])


@dataclass(eq=False)
class ToyProgram:
    """The layers in order, the variant and ``dt`` compiled for, and ``meta`` (the I/O map)."""

    layers: list[ToyLayer]
    variant: str = DEFAULT_VARIANT
    dt: Optional[float] = None
    meta: dict = field(default_factory=dict)
    #: the compile report the lowering attaches; not serialized
    report: dict = field(default_factory=dict, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToyProgram) and self.to_dict() == other.to_dict()

    def validate(self, spec: Optional[ToySpec] = None) -> None:
        """Every layer in the formats of :mod:`.spec` and chained by size; one NirccError
        listing each violation (node = layer name)."""
        spec = spec or get_spec(self.variant)
        errs = ErrorCollector()
        check_header(self.variant, self.dt, spec.name, errs)
        if not self.layers:
            errs.add("a program needs at least one layer", None, "layers")
        width = None
        top = (1 << (spec.threshold_bits - 1)) - 1
        for lay in self.layers:
            if lay.weights.ndim != 2:
                errs.add(f"weights must be [out, in], got shape {list(lay.weights.shape)}", lay.name, "weights")
                continue
            if width is not None and lay.weights.shape[1] != width:
                errs.add(f"reads {lay.weights.shape[1]} channels, the previous layer has {width} neurons",
                         lay.name, "weights")
            if lay.weights.shape[1] > spec.max_fan_in:
                errs.add(f"fan-in {lay.weights.shape[1]} exceeds {spec.max_fan_in}", lay.name, "weights")
            if not 0 <= lay.threshold <= top:
                errs.add(f"threshold {lay.threshold} not in 0..{top}", lay.name, "threshold")
            if not 0 <= lay.shift < (1 << spec.shift_bits):
                errs.add(f"shift {lay.shift} not in 0..{(1 << spec.shift_bits) - 1}", lay.name, "shift")
            width = lay.weights.shape[0]
        cores = sum(-(-lay.size // spec.neurons_per_core) for lay in self.layers)
        if cores > spec.cores:
            errs.add(f"the layers need {cores} cores, {spec.name} has {spec.cores}", None, "layers")
        errs.raise_if_any()

    def to_dict(self) -> dict[str, Any]:
        return {**header(SCHEMA, SCHEMA_VERSION, self.variant, self.dt),
                "layers": [lay.to_dict() for lay in self.layers], "meta": to_jsonable(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], what: str = "a ToyChip program") -> "ToyProgram":
        read_header(d, SCHEMA, (SCHEMA_VERSION,), what)
        prog = cls([ToyLayer.from_dict(x) for x in d["layers"]], variant=d["variant"], dt=d["dt"],
                   meta=dict(d.get("meta") or {}))
        prog.validate()
        return prog
