"""The Xylo program: one chip configuration as plain integer arrays.

A :class:`XyloProgram` is what the lowering produces, what the emitter writes (it mirrors
rockpool's native spec dict, xylo.md §4) and what the emulator and the xylosim bridge run.

Fields, layouts and number formats
----------------------------------
==================  ======  ========================  ===============================================
field               dtype   shape                     meaning
==================  ======  ========================  ===============================================
``weights_in``      int8    ``[N_in, N_hid, 2]``      input channel -> hidden synapse 1 / 2
``weights_rec``     int8    ``[N_hid, N_hid, 2]``     hidden (pre) -> hidden (post) synapse 1 / 2
``weights_out``     int8    ``[N_hid, N_out]``        hidden -> readout (one synapse)
``dash_mem``        uint8   ``[N_hid]``               membrane decay shift, 0..15
``dash_syn``        uint8   ``[N_hid]``               synapse 1 decay shift, 0..15
``dash_syn2``       uint8   ``[N_hid]``               synapse 2 decay shift, 0..15
``dash_mem_out``    uint8   ``[N_out]``               readout membrane decay shift
``dash_syn_out``    uint8   ``[N_out]``               readout synapse decay shift
``threshold``       int16   ``[N_hid]``               hidden thresholds
``threshold_out``   int16   ``[N_out]``               readout thresholds
``bias``            int16   ``[N_hid]``               hidden bias (added to dV every step if enabled)
``bias_out``        int16   ``[N_out]``               readout bias
``weight_shift_*``  int     scalar                    ``in``/``rec``/``out``: 0..15
``aliases``         list    ``N_hid`` lists of int    hidden neuron -> alias targets (hidden ids)
``bias_enable``     bool    scalar                    layer-global bias switch (samna ``bias_enable``)
==================  ======  ========================  ===============================================

The effective weight of every matrix is ``int16(w << weight_shift)`` (wraps).  The syn2
planes are all zero when the second synapse is unused (always on IMU).  Thresholds and
biases are stored as int16, the width the update computes with; the chip's bias memory is
narrower (8 bit, see :mod:`.spec`) and :meth:`XyloProgram.validate` checks it.  Arrays
given with a 2-D ``weights_in`` / ``weights_rec`` get a zero syn2 plane.  Values that do
not fit their canonical dtype are kept as int64 (non-integers as given) so that
:meth:`XyloProgram.validate` can name them.

``dt`` (seconds per time step) and ``meta`` travel with the program into artifacts; the
update itself does not use ``dt``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np

from ...errors import ErrorCollector
from ...util import dumps
from ..toolkit.arrays import array_from_dict, array_to_dict, as_int_array
from ..program import check_header, header, read_header
from .spec import DEFAULT_VARIANT, XyloSpec, get_spec

SCHEMA = "nircc.xylo.program"
SCHEMA_VERSION = 1

#: array fields and their canonical dtypes, in a fixed order
ARRAY_FIELDS: dict[str, type] = {
    "weights_in": np.int8,
    "weights_rec": np.int8,
    "weights_out": np.int8,
    "dash_mem": np.uint8,
    "dash_syn": np.uint8,
    "dash_syn2": np.uint8,
    "dash_mem_out": np.uint8,
    "dash_syn_out": np.uint8,
    "threshold": np.int16,
    "threshold_out": np.int16,
    "bias": np.int16,
    "bias_out": np.int16,
}
SHIFT_FIELDS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")


def _with_syn2(w: np.ndarray) -> np.ndarray:
    """A 2-D weight matrix gets a zero syn2 plane; 3-D is returned unchanged."""
    if w.ndim == 2:
        return np.stack([w, np.zeros_like(w)], axis=2)
    return w


def _first_bad(mask: np.ndarray) -> tuple[int, tuple[int, ...]]:
    """(number of True entries, index of the first one) of ``mask``."""
    idx = np.argwhere(mask)
    return len(idx), tuple(int(i) for i in idx[0])


def _loc(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


@dataclass(eq=False)
class XyloProgram:
    """One Xylo configuration (see the module docstring for every field)."""

    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_syn2: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: Optional[np.ndarray] = None
    bias_out: Optional[np.ndarray] = None
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    aliases: Optional[list[list[int]]] = None
    bias_enable: bool = False
    variant: str = DEFAULT_VARIANT
    dt: float = 1e-3
    meta: dict = field(default_factory=dict)
    #: the compile report (resources, quantization) the lowering attaches; not serialized
    report: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.weights_in = _with_syn2(as_int_array(self.weights_in, np.int8))
        self.weights_rec = _with_syn2(as_int_array(self.weights_rec, np.int8))
        n_hid = self.weights_rec.shape[0] if self.weights_rec.ndim else 0
        n_out = self.weights_out.shape[-1] if np.ndim(self.weights_out) else 0
        if self.bias is None:
            self.bias = np.zeros(n_hid, np.int16)
        if self.bias_out is None:
            self.bias_out = np.zeros(n_out, np.int16)
        for name, dtype in ARRAY_FIELDS.items():
            if name not in ("weights_in", "weights_rec"):
                setattr(self, name, as_int_array(getattr(self, name), dtype))
        if self.aliases is None:
            self.aliases = [[] for _ in range(n_hid)]
        else:
            self.aliases = [[int(a) for a in targets] for targets in self.aliases]
        for name in SHIFT_FIELDS:
            setattr(self, name, int(getattr(self, name)))
        self.bias_enable = bool(self.bias_enable)
        self.dt = float(self.dt)

    # ------------------------------------------------------------------ construction
    @classmethod
    def zeros(cls, n_in: int, n_hidden: int, n_out: int, variant: str = DEFAULT_VARIANT,
              dash: int = 1, **fields: Any) -> "XyloProgram":
        """A program of the given size with zero weights, thresholds and biases and every
        decay shift ``dash`` (``dash_syn2`` 0 on one-synapse variants); ``fields`` replace
        any field (e.g. ``threshold=...``)."""
        dash2 = dash if get_spec(variant).n_syn > 1 else 0
        base: dict[str, Any] = {
            "weights_in": np.zeros((n_in, n_hidden, 2), np.int8),
            "weights_rec": np.zeros((n_hidden, n_hidden, 2), np.int8),
            "weights_out": np.zeros((n_hidden, n_out), np.int8),
            "dash_mem": np.full(n_hidden, dash, np.uint8),
            "dash_syn": np.full(n_hidden, dash, np.uint8),
            "dash_syn2": np.full(n_hidden, dash2, np.uint8),
            "dash_mem_out": np.full(n_out, dash, np.uint8),
            "dash_syn_out": np.full(n_out, dash, np.uint8),
            "threshold": np.zeros(n_hidden, np.int16),
            "threshold_out": np.zeros(n_out, np.int16),
            "variant": variant,
        }
        base.update(fields)
        return cls(**base)

    # ------------------------------------------------------------------ sizes
    @property
    def n_in(self) -> int:
        return int(self.weights_in.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.weights_rec.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights_out.shape[1])

    @property
    def uses_syn2(self) -> bool:
        """Whether any weight reaches the second synaptic state."""
        return bool(np.any(self.weights_in[..., 1]) or np.any(self.weights_rec[..., 1]))

    def fanout(self) -> np.ndarray:
        """Recurrent fan-out entries of every hidden neuron: the targets with a nonzero
        syn1 or syn2 weight (one entry holds both weights), int64 ``[N_hid]``."""
        return np.count_nonzero(np.any(self.weights_rec != 0, axis=2), axis=1).astype(np.int64)

    # ------------------------------------------------------------------ validation
    def validate(self, spec: Optional[XyloSpec] = None, *, chip: bool = True) -> None:
        """Check every field against ``spec`` (default: the program's variant).

        Raises one :class:`~nircc.errors.NirccErrors` listing every violation, each naming
        the field, the value, where it is and the limit.  ``chip=False`` skips the limits
        only the chip has (bias memory width, fan-out, total fan-out entries, one alias
        target per neuron), which the emulator and xylosim do not need.
        """
        spec = spec or get_spec(self.variant)
        errs = ErrorCollector()
        check_header(self.variant, self.dt, spec.name, errs)
        if not self._check_shapes(spec, errs):
            errs.raise_if_any()
        lo_w, hi_w = spec.weight_range
        lo_d, hi_d = spec.dash_range
        lo_t, hi_t = spec.threshold_range
        lo_b, hi_b = spec.bias_range
        limits = {
            "weights_in": (lo_w, hi_w, f"int{spec.weight_bits}"),
            "weights_rec": (lo_w, hi_w, f"int{spec.weight_bits}"),
            "weights_out": (lo_w, hi_w, f"int{spec.weight_bits}"),
            "threshold": (lo_t, hi_t, f"int{spec.threshold_bits}"),
            "threshold_out": (lo_t, hi_t, f"int{spec.threshold_bits}"),
            "bias": (lo_b, hi_b, f"int{spec.bias_bits}"),
            "bias_out": (lo_b, hi_b, f"int{spec.bias_bits}"),
        }
        for name in ("dash_mem", "dash_syn", "dash_syn2", "dash_mem_out", "dash_syn_out"):
            limits[name] = (lo_d, hi_d, f"{spec.dash_bits}-bit unsigned")
        for name, (lo, hi, fmt) in limits.items():
            self._check_range(name, getattr(self, name), lo, hi, fmt, errs)
        lo_s, hi_s = spec.weight_shift_range
        for name in SHIFT_FIELDS:
            v = getattr(self, name)
            if not lo_s <= v <= hi_s:
                errs.add(f"{v} outside {lo_s}..{hi_s} ({spec.weight_shift_bits}-bit unsigned)", field=name)
        self._check_structure(spec, errs)
        if chip:
            self._check_chip(spec, errs)
        errs.raise_if_any()

    def _check_shapes(self, spec: XyloSpec, errs: ErrorCollector) -> bool:
        ok = True
        for name in ARRAY_FIELDS:
            arr = getattr(self, name)
            if arr.dtype.kind not in "iu":
                bad = arr.reshape(-1)[:1].tolist()
                errs.add(f"values must be integers, got dtype {arr.dtype} (e.g. {bad})", field=name)
                ok = False
        w_in, w_rec, w_out = self.weights_in, self.weights_rec, self.weights_out
        if w_rec.ndim != 3 or w_rec.shape[0] != w_rec.shape[1] or w_rec.shape[2] != 2:
            errs.add(f"shape {list(w_rec.shape)} is not [N_hid, N_hid, 2]", field="weights_rec")
            return False
        n_hid = w_rec.shape[0]
        if w_out.ndim != 2 or w_out.shape[0] != n_hid:
            errs.add(f"shape {list(w_out.shape)} is not [N_hid={n_hid}, N_out]", field="weights_out")
            return False
        n_out = w_out.shape[1]
        if w_in.ndim != 3 or w_in.shape[1] != n_hid or w_in.shape[2] != 2:
            errs.add(f"shape {list(w_in.shape)} is not [N_in, N_hid={n_hid}, 2]", field="weights_in")
            return False
        n_in = w_in.shape[0]
        for n, limit, what, name in ((n_in, spec.n_input, "input channels", "weights_in"),
                                     (n_hid, spec.n_hidden, "hidden neurons", "weights_rec"),
                                     (n_out, spec.n_readout, "readout neurons", "weights_out")):
            if n > limit:
                errs.add(f"{n} {what} exceed Xylo {spec.name}'s {limit}", field=name)
                ok = False
            if n < 1:
                errs.add(f"needs at least one of the {what}", field=name)
                ok = False
        for name in ("dash_mem", "dash_syn", "dash_syn2", "threshold", "bias"):
            if getattr(self, name).shape != (n_hid,):
                errs.add(f"shape {list(getattr(self, name).shape)} is not [N_hid={n_hid}]", field=name)
                ok = False
        for name in ("dash_mem_out", "dash_syn_out", "threshold_out", "bias_out"):
            if getattr(self, name).shape != (n_out,):
                errs.add(f"shape {list(getattr(self, name).shape)} is not [N_out={n_out}]", field=name)
                ok = False
        if len(self.aliases) != n_hid:
            errs.add(f"{len(self.aliases)} entries, one list per hidden neuron ({n_hid}) needed",
                     field="aliases")
            ok = False
        return ok

    @staticmethod
    def _check_range(name: str, arr: np.ndarray, lo: int, hi: int, fmt: str, errs: ErrorCollector) -> None:
        if arr.dtype.kind not in "iu" or arr.size == 0:
            return
        a = arr.astype(np.int64)
        for mask, rel, limit in ((a > hi, ">", hi), (a < lo, "<", lo)):
            if mask.any():
                count, index = _first_bad(mask)
                more = f" ({count} values out of range)" if count > 1 else ""
                errs.add(f"{int(a[index])} {rel} {limit} ({fmt}) at {_loc(index)}{more}", field=name)

    def _check_structure(self, spec: XyloSpec, errs: ErrorCollector) -> None:
        n_hid = self.n_hidden
        for i, targets in enumerate(self.aliases):
            for a in targets:
                if not 0 <= a < n_hid:
                    errs.add(f"hidden neuron {i}: alias target {a} outside 0..{n_hid - 1}", field="aliases")
        if not spec.has_aliases and any(self.aliases):
            errs.add(f"Xylo {spec.name} has no aliasing", field="aliases")
        ien = spec.input_expansion
        if n_hid > ien and np.any(self.weights_in[:, ien:, :]):
            count, index = _first_bad(self.weights_in[:, ien:, :] != 0)
            errs.add(f"nonzero input weight to hidden neuron {ien + index[1]}: "
                     f"Xylo {spec.name} feeds input only to the first {ien} hidden neurons (IEN); "
                     f"{count} such weights", field="weights_in")
        oen = spec.oen_start(n_hid)
        if oen > 0 and np.any(self.weights_out[:oen]):
            count, index = _first_bad(self.weights_out[:oen] != 0)
            errs.add(f"nonzero readout weight from hidden neuron {index[0]}: Xylo {spec.name} "
                     f"reads out only the last {spec.output_expansion} hidden neurons (OEN, ids >= {oen}); "
                     f"{count} such weights", field="weights_out")
        if spec.n_syn < 2:
            for name, arr in (("weights_in", self.weights_in[..., 1]), ("weights_rec", self.weights_rec[..., 1])):
                if np.any(arr):
                    count, index = _first_bad(arr != 0)
                    errs.add(f"nonzero syn2 weight at {_loc(index)}: Xylo {spec.name} has {spec.n_syn} synapse per "
                             f"hidden neuron; {count} such weights", field=name)
            if self.dash_syn2.dtype.kind in "iu" and np.any(self.dash_syn2):
                errs.add(f"must be 0: Xylo {spec.name} has no second synapse", field="dash_syn2")
        if not spec.has_bias:
            if self.bias_enable:
                errs.add(f"Xylo {spec.name} has no bias", field="bias_enable")
            for name in ("bias", "bias_out"):
                arr = getattr(self, name)
                if arr.dtype.kind in "iu" and np.any(arr):
                    errs.add(f"must be 0: Xylo {spec.name} has no bias", field=name)

    def _check_chip(self, spec: XyloSpec, errs: ErrorCollector) -> None:
        lo_b, hi_b = spec.chip_bias_range
        for name in ("bias", "bias_out"):
            self._check_range(name, getattr(self, name), lo_b, hi_b,
                              f"the chip's {spec.chip_bias_bits}-bit bias memory", errs)
        fan = self.fanout()
        if spec.max_fanout is not None and fan.size and int(fan.max()) > spec.max_fanout:
            worst = int(np.argmax(fan))
            count = int(np.count_nonzero(fan > spec.max_fanout))
            errs.add(f"hidden neuron {worst} has {int(fan[worst])} recurrent targets > Xylo {spec.name}'s "
                     f"max fan-out {spec.max_fanout} ({count} neurons over)", field="weights_rec")
        if spec.max_rec_synapses is not None and int(fan.sum()) > spec.max_rec_synapses:
            errs.add(f"{int(fan.sum())} recurrent fan-out entries > Xylo {spec.name}'s "
                     f"{spec.max_rec_synapses}", field="weights_rec")
        for i, targets in enumerate(self.aliases):
            if len(targets) > spec.max_alias_targets:
                errs.add(f"hidden neuron {i}: {len(targets)} alias targets > {spec.max_alias_targets}",
                         field="aliases")

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict:
        """A JSON-able dict (arrays as ``{"dtype", "shape", "data"}``); lossless:
        :meth:`from_dict` gives back an equal program (arrays that were assigned with a
        non-canonical dtype come back in their canonical one when their values fit)."""
        d: dict[str, Any] = {**header(SCHEMA, SCHEMA_VERSION, self.variant, self.dt),
                             "bias_enable": self.bias_enable,
                             "aliases": [list(t) for t in self.aliases], "meta": self.meta}
        for name in ARRAY_FIELDS:
            d[name] = array_to_dict(getattr(self, name))
        for name in SHIFT_FIELDS:
            d[name] = getattr(self, name)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "XyloProgram":
        """Inverse of :meth:`to_dict`; NirccError for another schema or a newer version."""
        read_header(d, SCHEMA, (SCHEMA_VERSION,), "a Xylo program")
        kwargs: dict[str, Any] = {name: array_from_dict(d[name]) for name in ARRAY_FIELDS}
        kwargs.update({name: int(d[name]) for name in SHIFT_FIELDS})
        return cls(**kwargs, aliases=d["aliases"], bias_enable=bool(d["bias_enable"]),
                   variant=d["variant"], dt=float(d["dt"]), meta=dict(d.get("meta", {})))

    def to_json(self) -> str:
        """Deterministic JSON text of :meth:`to_dict`."""
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "XyloProgram":
        return cls.from_dict(json.loads(text))

    # ------------------------------------------------------------------ comparison
    def differences(self, other: "XyloProgram") -> list[str]:
        """Names of the fields that differ (arrays: dtype, shape or any value)."""
        out = []
        for name in ARRAY_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
                out.append(name)
        for name in SHIFT_FIELDS + ("aliases", "bias_enable", "variant", "dt", "meta"):
            if getattr(self, name) != getattr(other, name):
                out.append(name)
        return out

    def equals(self, other: "XyloProgram") -> bool:
        """True when every field is identical (see :meth:`differences`)."""
        return not self.differences(other)


def shifted_weights(w: Iterable[int] | np.ndarray, shift: int) -> np.ndarray:
    """``int16(w << shift)`` as the chip applies it (two's complement wrap), int16."""
    wide = np.asarray(w, dtype=np.int64) << int(shift)
    return (((wide + 32768) & 0xFFFF) - 32768).astype(np.int16)
