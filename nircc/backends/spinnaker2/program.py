"""The SpiNNaker2 program: py-spinnaker2 populations and projections as plain arrays.

An :class:`S2Program` mirrors the py-spinnaker2 constructors one to one
(``snn.Population``, ``snn.Projection``, ``snn.Conv2DProjection``, ``hw.run(net, timesteps,
sys_tick_in_s=...)``).  It is what the lowering produces, what the emitter writes
(JSON, format :data:`FORMAT`, the layout of ``targets/spinnaker2.md`` §5) and what
:class:`~nircc.backends.spinnaker2.emulator.S2Emulator` runs.

Fields and number formats
-------------------------
=======================  ==========================  =========================================
field                    type                        meaning
=======================  ==========================  =========================================
``Population.params``    ``lif*`` models: float32    ``threshold``, ``alpha_decay``, ``i_offset``,
                         scalar or ``[size]`` array  ``v_reset`` (+ ``exc_decay``, ``inh_decay``
                                                     on ``lif_curr_exp*``); IEEE binary32
                         ``reset``: str              ``reset_by_subtraction`` | ``reset_to_v_reset``
                         ``t_refrac``: int64         refractory steps (``lif_curr_exp*``)
                         ``spike_list``:             ``{neuron: int64 array of steps}``
                         ``{int: int64[k]}``
``ListProjection``       ``int64 [n, 4]``            rows ``[pre, post, weight, delay]``; ``delay`` is
``.connections``                                     the raw field (latency ``delay + 1`` steps).
                                                     ``float64`` when some weight is not an integer
                                                     (py-spinnaker2 quantizes such weights itself; the
                                                     emulator's ``weight_rounding`` says how)
``Conv2DProjection``     ``int8 [C_in, C_out,        cross-correlation kernel (s2_nir:
``.weights``             kH, kW]``                   ``weight.swapaxes(0, 1)``)
``.conv_params``         dict of int                 :data:`CONV_PARAMS`
``NirProvenance``        str, float64, float         NIR node, ``v_scale`` (per neuron or scalar)
                                                     and ``w_scale``; NIR voltage =
                                                     ``v / (v_scale * w_scale)``
=======================  ==========================  =========================================

Neuron indices are C-order flattenings of the NIR shapes (``c*H*W + h*W + w``).
Conv2d geometry: ``y`` is the row (height) axis, ``x`` the column (width) axis: the pre
population is ``(C_in, in_height, in_width)``; it is first sum-pooled by ``(pool_y, pool_x)``
(kernel = stride, remainder rows/columns dropped), then padded by ``pad_top``/``pad_bottom``
(rows) and ``pad_left``/``pad_right`` (columns), then cross-correlated with stride
``(stride_y, stride_x)``.  [inferred] s2_nir writes NIR ``stride[0]`` / ``kernel_size[0]`` (the
height in NIR) into ``stride_x`` / ``pool_x``: the two readings agree only for equal x and y
strides and pools, which is all that has run on the chip.

Values that do not fit their canonical type are kept as given, so that
:meth:`S2Program.validate` can name them (population or projection, field, value, limit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional, Union

import numpy as np

from ...errors import ErrorCollector, NirccError
from ...util import dumps
from ..program import check_header, header, read_header
from .spec import DEFAULT_VARIANT, MODEL_NAMES, RECORDABLE, RESETS, S2Spec, get_spec

#: Format id of the JSON artifact.
SCHEMA = "nircc.spinnaker2"
#: 2: the common header (nircc.backends.program), dt for model_dt_s; 1: ``"format":
#: "nircc.spinnaker2/1"``
SCHEMA_VERSION = 2
FORMAT = "nircc.spinnaker2/1"     # version 1's marker, still read

#: float32 parameters of the ``lif*`` models
FLOAT_PARAMS: tuple[str, ...] = ("threshold", "alpha_decay", "i_offset", "v_reset", "exc_decay", "inh_decay")
#: the keys of ``Conv2DProjection.conv_params`` (py-spinnaker2 names)
CONV_PARAMS: tuple[str, ...] = ("in_height", "in_width", "stride_x", "stride_y", "pool_x", "pool_y",
                                "pad_top", "pad_bottom", "pad_left", "pad_right")

# ---------------------------------------------------------------------- normalization
def _as_float32(x: Any) -> Any:
    """A number or array as float32 (a 0-d value as an ``np.float32`` scalar); anything
    else unchanged.  Values beyond float32 become inf (validate reports them)."""
    if isinstance(x, str):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        return x
    with np.errstate(over="ignore", invalid="ignore"):
        f = arr.astype(np.float32)
    return f[()] if f.ndim == 0 else f


def _as_int64(x: Any) -> Any:
    """Integer-valued numbers or arrays as int64 (0-d: ``np.int64``); anything else unchanged."""
    if isinstance(x, str):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f" and arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        return x
    if arr.dtype.kind not in "iuf" or (arr.size and np.max(np.abs(arr)) >= 2 ** 62):
        return x
    i = arr.astype(np.int64)
    return i[()] if i.ndim == 0 else i


def _spike_key(k: Any) -> Any:
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return int(k)
    if isinstance(k, str) and k.strip().lstrip("-").isdigit():
        return int(k)
    return k


def _normalize_params(model: str, params: Mapping[str, Any]) -> dict:
    if model == "spike_list":
        return {_spike_key(k): _as_int64(np.asarray(v).reshape(-1) if np.ndim(v) else [v])
                for k, v in params.items()}
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k in FLOAT_PARAMS:
            out[k] = _as_float32(v)
        elif k == "t_refrac":
            out[k] = _as_int64(v)
        else:
            out[k] = v
    return out


def _json_param(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


# ---------------------------------------------------------------------- spike_list helpers
def spike_list_from_raster(raster: np.ndarray) -> dict[int, list[int]]:
    """py-spinnaker2 ``spike_list`` params ``{neuron: [steps]}`` of a 0/1 raster ``[T, N]``
    (every neuron listed, also those that never spike)."""
    r = np.asarray(raster)
    if r.ndim != 2:
        raise NirccError(f"a spike raster must be [T, N], got shape {list(r.shape)}", field="inputs")
    return {n: np.nonzero(r[:, n])[0].tolist() for n in range(r.shape[1])}


def raster_from_spike_list(params: Mapping[Any, Any], size: int, timesteps: int) -> np.ndarray:
    """The ``uint8 [timesteps, size]`` 0/1 raster of ``spike_list`` params (validated)."""
    out = np.zeros((int(timesteps), int(size)), np.uint8)
    for k, times in params.items():
        out[np.asarray(times, np.int64), int(k)] = 1
    return out


# ---------------------------------------------------------------------- records
@dataclass(eq=False)
class NirProvenance:
    """Where a population came from: the NIR node and the scales of the conversion
    (s2_nir's ``pop.nir_v_scale`` is ``v_scale * w_scale``)."""

    node: str
    #: scale from the tau/r (and w_in) circuit, per neuron or scalar (float64)
    v_scale: Any = 1.0
    #: weight scale of the population's incoming weights
    w_scale: float = 1.0

    def __post_init__(self) -> None:
        v = np.asarray(self.v_scale, np.float64) if np.asarray(self.v_scale).dtype.kind in "iuf" else self.v_scale
        self.v_scale = v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v
        self.w_scale = float(self.w_scale)

    @property
    def voltage_scale(self) -> Any:
        """``v_scale * w_scale``: chip voltage = NIR voltage x this."""
        return self.v_scale * self.w_scale

    def to_dict(self) -> dict:
        return {"node": self.node, "v_scale": _json_param(self.v_scale), "w_scale": self.w_scale}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NirProvenance":
        return cls(node=d["node"], v_scale=d["v_scale"], w_scale=d["w_scale"])


@dataclass(eq=False)
class Population:
    """One ``snn.Population``: ``size`` neurons of ``neuron_model`` with ``params``."""

    name: str
    neuron_model: str
    size: int
    params: dict = field(default_factory=dict)
    record: list[str] = field(default_factory=list)
    max_atoms_per_core: Optional[int] = None
    nir: Optional[NirProvenance] = None

    def __post_init__(self) -> None:
        self.size = int(self.size)
        self.params = _normalize_params(self.neuron_model, dict(self.params))
        self.record = list(self.record)
        if self.max_atoms_per_core is not None:
            self.max_atoms_per_core = int(self.max_atoms_per_core)
        if isinstance(self.nir, Mapping):
            self.nir = NirProvenance.from_dict(self.nir)

    @property
    def is_input(self) -> bool:
        return self.neuron_model == "spike_list"

    def to_dict(self) -> dict:
        if self.is_input:
            params = {str(k): _json_param(v) for k, v in self.params.items()}
        else:
            params = {k: _json_param(v) for k, v in self.params.items()}
        d: dict[str, Any] = {"name": self.name, "neuron_model": self.neuron_model, "size": self.size,
                             "params": params, "record": list(self.record)}
        if self.max_atoms_per_core is not None:
            d["max_atoms_per_core"] = self.max_atoms_per_core
        if self.nir is not None:
            d["nir"] = self.nir.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Population":
        return cls(name=d["name"], neuron_model=d["neuron_model"], size=d["size"], params=dict(d["params"]),
                   record=list(d.get("record", [])), max_atoms_per_core=d.get("max_atoms_per_core"),
                   nir=NirProvenance.from_dict(d["nir"]) if d.get("nir") is not None else None)


@dataclass(eq=False)
class ListProjection:
    """One ``snn.Projection``: rows ``[pre, post, weight, delay]`` (module docstring)."""

    name: str
    pre: str
    post: str
    connections: np.ndarray
    kind: ClassVar[str] = "list"

    def __post_init__(self) -> None:
        c = np.asarray(self.connections)
        if c.size == 0:
            c = np.zeros((0, 4), np.int64)
        if c.dtype.kind in "iuf" and c.ndim == 2 and c.shape[1] == 4:
            ints = _as_int64(c)
            if isinstance(ints, np.ndarray):
                c = ints
            else:
                c = c.astype(np.float64)
        self.connections = c

    @property
    def pre_idx(self) -> np.ndarray:
        return self.connections[:, 0].astype(np.int64)

    @property
    def post_idx(self) -> np.ndarray:
        return self.connections[:, 1].astype(np.int64)

    @property
    def weights(self) -> np.ndarray:
        """The weight column (int64, or float64 when some weight is not an integer)."""
        return self.connections[:, 2]

    @property
    def delays(self) -> np.ndarray:
        return self.connections[:, 3].astype(np.int64)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "pre": self.pre, "post": self.post,
                "connections": self.connections.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ListProjection":
        return cls(name=d["name"], pre=d["pre"], post=d["post"], connections=np.asarray(d["connections"]))


@dataclass(eq=False)
class Conv2DProjection:
    """One ``snn.Conv2DProjection`` into a ``lif_conv2d`` population (module docstring)."""

    name: str
    pre: str
    post: str
    weights: np.ndarray
    conv_params: dict
    kind: ClassVar[str] = "conv2d"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        ints = _as_int64(w)
        if isinstance(ints, np.ndarray) and (ints.size == 0 or (ints.min() >= -128 and ints.max() <= 127)):
            w = ints.astype(np.int8)
        elif isinstance(ints, np.ndarray):
            w = ints
        self.weights = w
        self.conv_params = {k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v)
                            for k, v in dict(self.conv_params).items()}

    def input_shape(self) -> tuple[int, int, int]:
        """``(C_in, in_height, in_width)`` of the pre population."""
        return int(self.weights.shape[0]), self.conv_params["in_height"], self.conv_params["in_width"]

    def pooled_shape(self) -> tuple[int, int]:
        """``(rows, columns)`` after the fused sum pooling (floor)."""
        p = self.conv_params
        return p["in_height"] // p["pool_y"], p["in_width"] // p["pool_x"]

    def output_shape(self) -> tuple[int, int, int]:
        """``(C_out, H_o, W_o)`` of the post population."""
        p = self.conv_params
        h, w = self.pooled_shape()
        kh, kw = int(self.weights.shape[2]), int(self.weights.shape[3])
        return (int(self.weights.shape[1]), (h + p["pad_top"] + p["pad_bottom"] - kh) // p["stride_y"] + 1,
                (w + p["pad_left"] + p["pad_right"] - kw) // p["stride_x"] + 1)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "pre": self.pre, "post": self.post,
                "weights_int8_shape": list(self.weights.shape),
                "weights_int8": self.weights.reshape(-1).tolist(),
                "conv_params": {k: _json_param(v) for k, v in self.conv_params.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Conv2DProjection":
        w = np.asarray(d["weights_int8"]).reshape(d["weights_int8_shape"])
        return cls(name=d["name"], pre=d["pre"], post=d["post"], weights=w, conv_params=dict(d["conv_params"]))


Projection = Union[ListProjection, Conv2DProjection]
_PROJECTION_KINDS = {"list": ListProjection, "conv2d": Conv2DProjection}


@dataclass(eq=False)
class S2Program:
    """Populations, projections and the run length of one SpiNNaker2 network."""

    populations: list[Population]
    projections: list[Projection]
    #: steps of ``hw.run(net, timesteps)``
    timesteps: int
    #: real time of one step on the chip (``sys_tick_in_s``)
    sys_tick_in_s: float = 1e-3
    #: the model ``dt`` folded into the parameters (seconds), recorded for reference
    model_dt_s: Optional[float] = None
    variant: str = DEFAULT_VARIANT
    meta: dict = field(default_factory=dict)
    #: the compile report (resources, quantization) the lowering attaches; not serialized
    report: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.timesteps = int(self.timesteps)
        self.sys_tick_in_s = float(self.sys_tick_in_s)
        self.model_dt_s = None if self.model_dt_s is None else float(self.model_dt_s)

    # ------------------------------------------------------------------ lookup
    def population(self, name: str) -> Population:
        """The population called ``name`` (KeyError if none)."""
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(f"no population {name!r}")

    def input_populations(self) -> list[Population]:
        """The ``spike_list`` populations, in program order."""
        return [p for p in self.populations if p.is_input]

    # ------------------------------------------------------------------ validation
    def validate(self, spec: Optional[S2Spec] = None) -> None:
        """Check every field against py-spinnaker2's models and limits; raise one
        NirccErrors listing every violation (node = population or projection name)."""
        spec = spec or get_spec(self.variant)
        errs = ErrorCollector()
        check_header(self.variant, self.model_dt_s, spec.name, errs, "model_dt_s")
        if self.timesteps < 1:
            errs.add(f"timesteps {self.timesteps} must be >= 1", None, "timesteps")
        if not (np.isfinite(self.sys_tick_in_s) and self.sys_tick_in_s > 0):
            errs.add(f"sys_tick_in_s {self.sys_tick_in_s} must be a positive number of seconds", None,
                     "sys_tick_in_s")
        if not self.populations:
            errs.add("a program needs at least one population", None, "populations")
        pops: dict[str, Population] = {}
        for p in self.populations:
            if p.name in pops:
                errs.add("population name used twice", p.name, "name")
            pops[p.name] = p
            _validate_population(p, self.timesteps, spec, errs)
        seen: set[str] = set()
        for q in self.projections:
            if q.name in seen:
                errs.add("projection name used twice", q.name, "name")
            seen.add(q.name)
            _validate_projection(q, pops, spec, errs)
        errs.raise_if_any()

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict:
        """JSON-able, lossless (``targets/spinnaker2.md`` §5 layout, schema :data:`SCHEMA` with the
        common header: its ``dt`` is :attr:`model_dt_s`)."""
        return {**header(SCHEMA, SCHEMA_VERSION, self.variant, self.model_dt_s),
                "timesteps": self.timesteps, "sys_tick_in_s": self.sys_tick_in_s,
                "populations": [p.to_dict() for p in self.populations],
                "projections": [q.to_dict() for q in self.projections], "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "S2Program":
        version = read_header(d, SCHEMA, (1, SCHEMA_VERSION), "a SpiNNaker2 program", legacy={(FORMAT, None): 1})
        projections = []
        for q in d["projections"]:
            kind = q.get("kind")
            if kind not in _PROJECTION_KINDS:
                raise NirccError(f"unknown projection kind {kind!r} (known: list, conv2d)", q.get("name"), "kind")
            projections.append(_PROJECTION_KINDS[kind].from_dict(q))
        return cls(populations=[Population.from_dict(p) for p in d["populations"]], projections=projections,
                   timesteps=d["timesteps"], sys_tick_in_s=d["sys_tick_in_s"],
                   model_dt_s=d.get("model_dt_s") if version == 1 else d.get("dt"),
                   variant=d.get("variant", DEFAULT_VARIANT), meta=dict(d.get("meta", {})))

    def to_json(self) -> str:
        return dumps(self.to_dict())


# ---------------------------------------------------------------------- validation helpers
def _fmt_range(lo: Any, hi: Any) -> str:
    return f"[{lo}, {hi}]"


def _check_shape(value: Any, size: int, node: str, fld: str, errs: ErrorCollector) -> bool:
    shape = np.shape(value)
    if shape not in ((), (size,)):
        errs.add(f"shape {list(shape)} is neither a scalar nor [{size}] (one value per neuron)", node, fld)
        return False
    return True


def _validate_population(p: Population, timesteps: int, spec: S2Spec, errs: ErrorCollector) -> None:
    n = p.name
    if not isinstance(n, str) or not n:
        errs.add(f"population name {n!r} must be a non-empty string", None, "name")
    if p.neuron_model not in MODEL_NAMES:
        errs.add(f"unknown neuron model {p.neuron_model!r} (known: {', '.join(MODEL_NAMES)})", n, "neuron_model")
        return
    model = spec.model(p.neuron_model)
    if p.size < 1:
        errs.add(f"size {p.size} must be >= 1", n, "size")
    if p.max_atoms_per_core is not None and p.max_atoms_per_core < 1:
        errs.add(f"max_atoms_per_core {p.max_atoms_per_core} must be >= 1", n, "max_atoms_per_core")
    bad_rec = [r for r in p.record if r not in RECORDABLE]
    if bad_rec:
        errs.add(f"cannot record {bad_rec} (recordable: {list(RECORDABLE)})", n, "record")
    if len(set(p.record)) != len(p.record):
        errs.add(f"record {p.record} lists a variable twice", n, "record")
    if model.is_input:
        if p.record:
            errs.add(f"a spike_list population records nothing, got {p.record}", n, "record")
        _validate_spike_list(p, timesteps, errs)
    else:
        _validate_neuron_params(p, model.params, errs)
    if p.nir is not None:
        vs = np.asarray(p.nir.v_scale)
        if vs.dtype.kind not in "iuf" or not _check_shape(vs, p.size, n, "nir.v_scale", errs):
            if vs.dtype.kind not in "iuf":
                errs.add(f"v_scale must be numbers, got {vs.dtype}", n, "nir.v_scale")
        elif not np.all(np.isfinite(vs)) or np.any(vs == 0):
            errs.add("v_scale must be finite and non-zero", n, "nir.v_scale")
        if not (np.isfinite(p.nir.w_scale) and p.nir.w_scale > 0):
            errs.add(f"w_scale {p.nir.w_scale} must be positive and finite", n, "nir.w_scale")


def _validate_spike_list(p: Population, timesteps: int, errs: ErrorCollector) -> None:
    n = p.name
    for k, times in p.params.items():
        fld = f"params[{k!r}]"
        if not isinstance(k, int) or not 0 <= k < p.size:
            errs.add(f"neuron index {k!r} not in 0..{p.size - 1}", n, fld)
            continue
        if not isinstance(times, np.ndarray) or times.dtype != np.int64:
            errs.add(f"spike times must be integer steps, got {times!r}", n, fld)
            continue
        if times.size and (times.min() < 0 or times.max() >= timesteps):
            errs.add(f"spike times in [{int(times.min())}, {int(times.max())}] not in 0..{timesteps - 1}", n, fld)
        if times.size > 1 and np.any(np.diff(times) <= 0):
            errs.add("spike times must be strictly increasing (one spike per neuron and step)", n, fld)


def _validate_neuron_params(p: Population, keys: tuple[str, ...], errs: ErrorCollector) -> None:
    n = p.name
    missing = [k for k in keys if k not in p.params]
    if missing:
        errs.add(f"{p.neuron_model} needs {missing}", n, "params")
    unknown = sorted(k for k in p.params if k not in keys)
    if unknown:
        errs.add(f"{p.neuron_model} has no parameters {unknown} (it takes {list(keys)})", n, "params")
    for k in keys:
        if k not in p.params:
            continue
        v = p.params[k]
        fld = f"params.{k}"
        if k == "reset":
            if v not in RESETS:
                errs.add(f"reset {v!r} not in {list(RESETS)}", n, fld)
        elif k == "t_refrac":
            if not isinstance(v, (np.ndarray, np.integer)):
                errs.add(f"t_refrac must be whole steps, got {v!r}", n, fld)
            elif _check_shape(v, p.size, n, fld, errs) and np.any(np.asarray(v) < 0):
                errs.add(f"t_refrac {int(np.min(v))} must be >= 0 steps", n, fld)
        elif not isinstance(v, (np.ndarray, np.floating)):
            errs.add(f"must be float32 numbers, got {v!r}", n, fld)
        elif _check_shape(v, p.size, n, fld, errs) and not np.all(np.isfinite(v)):
            first = int(np.argmin(np.isfinite(np.broadcast_to(v, (p.size,)))))
            errs.add(f"values must be finite float32 (|x| <= 3.4e38); neuron {first} has "
                     f"{float(np.broadcast_to(v, (p.size,))[first])}", n, fld)


def _validate_projection(q: Projection, pops: dict[str, Population], spec: S2Spec, errs: ErrorCollector) -> None:
    n = q.name
    pre, post = pops.get(q.pre), pops.get(q.post)
    if pre is None:
        errs.add(f"pre population {q.pre!r} does not exist", n, "pre")
    if post is None:
        errs.add(f"post population {q.post!r} does not exist", n, "post")
    if post is None or post.neuron_model not in MODEL_NAMES:
        return
    model = spec.model(post.neuron_model)
    if q.kind not in model.projections:
        takes = f"takes {', '.join(model.projections)} projections" if model.projections else "takes no input"
        errs.add(f"post population {post.name!r} ({post.neuron_model}) {takes}, not {q.kind}", n, "kind")
        return
    if isinstance(q, ListProjection):
        _validate_list(q, pre, post, model, errs)
    else:
        _validate_conv(q, pre, post, model, errs)


def _validate_list(q: ListProjection, pre: Optional[Population], post: Population, model: Any,
                   errs: ErrorCollector) -> None:
    n = q.name
    c = q.connections
    if c.ndim != 2 or c.shape[1] != 4 or c.dtype.kind not in "iuf":
        errs.add(f"connections must be a numeric [n, 4] array of [pre, post, weight, delay], got "
                 f"{c.dtype} {list(c.shape)}", n, "connections")
        return
    if c.dtype.kind == "f" and not np.all(np.isfinite(c)):
        errs.add("connections must be finite numbers", n, "connections")
        return
    for col, name in ((0, "pre"), (1, "post"), (3, "delay")):
        if np.any(c[:, col] != np.round(c[:, col])):
            errs.add(f"{name} indices must be integers", n, f"connections[:, {col}]")
            return
    delay_limit = f"{post.neuron_model}'s delay field 0..{model.max_delay}"
    if model.max_delay == 0:
        delay_limit += " (delays need lif or lif_curr_exp)"
    columns = [(0, "pre index", None if pre is None else pre.size - 1, None if pre is None else f"0..{pre.size - 1}"),
               (1, "post index", post.size - 1, f"0..{post.size - 1}"),
               (3, "delay", model.max_delay, delay_limit)]
    for col, what, hi, limit in columns:
        if hi is None or not c.shape[0]:
            continue
        bad = np.nonzero((c[:, col] < 0) | (c[:, col] > hi))[0]
        if bad.size:
            r = int(bad[0])
            errs.add(f"{bad.size} {what} value(s) outside {limit}; first row {r}: {c[r].tolist()}",
                     n, f"connections[:, {col}]")
    lo, hi = model.weight_range
    w = c[:, 2]
    bad = np.nonzero((w < lo) | (w > hi))[0]
    if bad.size:
        r = int(bad[0])
        errs.add(f"{bad.size} of {w.size} weights outside {post.neuron_model}'s {_fmt_range(lo, hi)} (they span "
                 f"[{w.min():g}, {w.max():g}]); first row {r}: {c[r].tolist()}", n, "connections[:, 2]")


def _validate_conv(q: Conv2DProjection, pre: Optional[Population], post: Population, model: Any,
                   errs: ErrorCollector) -> None:
    n = q.name
    w = q.weights
    geometry_ok = True
    if w.ndim != 4 or w.dtype.kind not in "iu":
        errs.add(f"weights must be an integer [C_in, C_out, kH, kW] array, got {w.dtype} {list(w.shape)}",
                 n, "weights")
        geometry_ok = False
    elif w.dtype != np.int8:
        lo, hi = model.weight_range
        errs.add(f"kernel values in [{int(w.min())}, {int(w.max())}] exceed int8 {_fmt_range(lo, hi)}", n, "weights")
    elif min(w.shape) < 1:
        errs.add(f"kernel shape {list(w.shape)} has an empty axis", n, "weights")
        geometry_ok = False
    keys = set(q.conv_params)
    if keys != set(CONV_PARAMS):
        missing, extra = sorted(set(CONV_PARAMS) - keys), sorted(keys - set(CONV_PARAMS))
        errs.add(f"conv_params must have exactly {list(CONV_PARAMS)} (missing {missing}, unknown {extra})",
                 n, "conv_params")
        return
    for k in CONV_PARAMS:
        v = q.conv_params[k]
        least = 0 if k.startswith("pad") else 1
        if not isinstance(v, int) or v < least:
            errs.add(f"{k} = {v!r} must be an integer >= {least}", n, f"conv_params.{k}")
            geometry_ok = False
    if not geometry_ok:
        return
    c_in, h, wd = q.input_shape()
    if pre is not None and c_in * h * wd != pre.size:
        errs.add(f"input {c_in}x{h}x{wd} = {c_in * h * wd} neurons, but pre population {pre.name!r} has "
                 f"{pre.size}", n, "conv_params")
    ph, pw = q.pooled_shape()
    if ph < 1 or pw < 1:
        errs.add(f"pooling {q.conv_params['pool_y']}x{q.conv_params['pool_x']} (y x x) leaves a {ph}x{pw} map",
                 n, "conv_params")
        return
    c_out, ho, wo = q.output_shape()
    if ho < 1 or wo < 1:
        errs.add(f"kernel {w.shape[2]}x{w.shape[3]} is larger than the padded {ph}x{pw} input "
                 f"(output {ho}x{wo})", n, "weights")
    elif c_out * ho * wo != post.size:
        errs.add(f"output {c_out}x{ho}x{wo} = {c_out * ho * wo} neurons, but post population {post.name!r} has "
                 f"{post.size}", n, "conv_params")

