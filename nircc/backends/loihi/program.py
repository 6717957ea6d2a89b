"""The Loihi program: the ordered layers of a lava-dl netx network, as integer arrays.

A :class:`LoihiProgram` is a chain of layers exactly as netx builds them from a ``.net``
file (netx hdf5.py:566-689): layer ``i`` reads the output of layer ``i - 1``.  It is what
the lowering produces, what the emitter writes and what
:class:`~nircc.backends.loihi.emulator.LoihiEmulator` runs.

Layers
------
===========  ===================================================================================
kind         content (Lava processes netx makes of it)
===========  ===================================================================================
``input``    ``shape`` (``(N,)`` or ``(C, H, W)``); optional ``neurons``: then the external input
             goes straight into the LIF's ``a_in`` (netx ``Input`` block; lava-dl 0.6 leaves that
             block's input port unconnected, lava-dl#298, so only Lava processes built directly
             run it), else it goes to the next layer's synapse as spikes (binary, or graded with
             ``input_message_bits``)
``dense``    ``synapse`` (``Dense``, or ``DelayDense`` when it has delays) -> ``neurons`` (``LIF``)
``dense_rec``  a dense layer with ``synapse_rec`` (a second ``Dense`` from the layer's own
             spikes back to its ``a_in``, netx ``RecurrentDense``)
``conv``     ``Conv`` (weights, stride, padding, dilation, groups) -> ``neurons``
``flatten``  no neurons; marks the ``(C, H, W) -> (C*H*W,)`` reshape before a dense layer
===========  ===================================================================================

Neuron order is the C-order flattening of NIR's ``(C, H, W)``: ``c*H*W + h*W + w`` (netx
reads shapes reversed into Lava's ``(W, H, C)`` and flattens conv outputs with
``transpose([2, 1, 0])``, hdf5.py:657, which gives this order).  Conv weights are
``[C_out, C_in / groups, kH, kW]`` cross-correlation kernels (netx flips them into Lava's
convolution, hdf5.py:505-506); geometry pairs are ``(height, width)``.

Number formats (see :mod:`~nircc.backends.loihi.spec`)
------------------------------------------------------
==================  ===========  ====================================================================
field               dtype        meaning
==================  ===========  ====================================================================
``weights``         int16        effective weights: the values Lava's ``Dense`` multiplies with after
                                 ``clip_weights`` and ``truncate_weights``, so a program's weights are
                                 unchanged by both (checked); ``[-256, 255]`` at most
``weight_exp``      int          shared exponent of a synapse (the accumulated input is shifted by it)
``num_weight_bits`` int 1..8     mantissa bits kept by ``truncate_weights``
``sign_mode``       str          ``mixed`` | ``excitatory`` | ``inhibitory``
``delays``          uint8        per-synapse delay, steps 0..62; a spike at ``t`` arrives at
                                 ``t + 1 + delay``; ``None`` = plain ``Dense`` (delay 0)
``du``, ``dv``      int 0..4095  current / voltage decay (one per layer)
``vth``             int          17-bit threshold mantissa (effective ``vth << 6``), one per layer
``bias_mant``       int16 [N]    13-bit signed bias mantissa per neuron
``bias_exp``        int 0..7     bias exponent of the layer (netx: always 6)
==================  ===========  ====================================================================

There is no refractory period (``PyLifModelBitAcc`` has none; netx's ``refDelay`` is not
used for CUBA neurons) and the state starts at ``u = v = 0``.

Lava's weight rules are here too: :func:`determine_sign_mode`, :func:`clip_weights`,
:func:`truncate_weights` (weightutils.py), and :func:`netx_synapse` /
:func:`netx_recurrent_synapses`, the synapses Lava ends up with for the weight matrices
written into a ``.net`` file (netx's ``optimize_weight_bits`` followed by ``Dense``'s own
sign mode, clip and truncate; checked against lava-dl 0.6.0 in ``tests/backends/loihi/test_lava.py``).

Values that do not fit their canonical dtype are kept as given, so that
:meth:`LoihiProgram.validate` can name them (layer, field, value, limit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional, Union

import numpy as np

from ...errors import ErrorCollector, NirccError
from ..toolkit.arrays import as_int_array, int_scalar
from ..program import header, read_header
from ...ir.shapes import conv_out_size
from ...util import dumps
from .spec import DEFAULT_VARIANT, SIGN_MODES, Formats, LoihiSpec, get_spec

#: Format id of the JSON artifact.
SCHEMA = "nircc.loihi.program"
#: 2: the common header (nircc.backends.program); 1: ``"format": "nircc.loihi/1"``
SCHEMA_VERSION = 2
FORMAT = "nircc.loihi/1"          # version 1's marker, still read

_FORMATS = Formats()


# ---------------------------------------------------------------------- normalization
def _pair(x: Any) -> Any:
    if isinstance(x, (int, np.integer)):
        return (int(x), int(x))
    if isinstance(x, (list, tuple, np.ndarray)) and len(x) == 2:
        return tuple(int_scalar(v) for v in x)
    return x


# ---------------------------------------------------------------------- Lava's weight rules
def determine_sign_mode(weights: np.ndarray) -> str:
    """The sign mode Lava's ``Dense`` picks when none is given (weightutils.py:21-43):
    excitatory when no weight is negative, inhibitory when none is positive, else mixed."""
    w = np.asarray(weights)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def _truncate_bits(sign_mode: str, num_weight_bits: int, formats: Formats = _FORMATS) -> int:
    return formats.weight_bits - int(num_weight_bits) + (1 if sign_mode == "mixed" else 0)


def clip_weights(weights: np.ndarray, sign_mode: str, formats: Formats = _FORMATS) -> np.ndarray:
    """``clip_weights(weights, sign_mode, num_bits=8)`` (weightutils.py:250-295), int32."""
    lo, hi = formats.weight_range(sign_mode)
    return np.clip(np.asarray(weights).astype(np.int64), lo, hi).astype(np.int32)


def truncate_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int,
                     formats: Formats = _FORMATS) -> np.ndarray:
    """``truncate_weights`` (weightutils.py:204-247), int32: the low ``8 - num_weight_bits``
    (+1 for mixed) bits cleared, of the magnitude for inhibitory weights.  A negative bit
    count (``num_weight_bits`` 9 outside mixed mode) is a NirccError: numpy's result for a
    negative shift count is platform dependent."""
    k = _truncate_bits(sign_mode, num_weight_bits, formats)
    if k < 0:
        raise NirccError(f"num_weight_bits {num_weight_bits} in {sign_mode} mode makes Lava shift by {k} "
                         f"(negative); the result is not defined", field="num_weight_bits")
    w = np.asarray(weights).astype(np.int64)
    if sign_mode == "inhibitory":
        return (-((-w >> k) << k)).astype(np.int32)
    return ((w >> k) << k).astype(np.int32)


def lava_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int,
                      formats: Formats = _FORMATS) -> np.ndarray:
    """What Lava's bit-accurate ``Dense`` computes with: truncate(clip(weights)), int32."""
    return truncate_weights(clip_weights(weights, sign_mode, formats), sign_mode, num_weight_bits, formats)


def netx_optimize_weight_bits(weights: np.ndarray) -> tuple[np.ndarray, int, int, str]:
    """netx's ``optimize_weight_bits`` (netx utils.py:80-158) on a ``.net`` weight matrix:
    ``(weights << scale_bits, num_weight_bits, weight_exp, sign_mode)``, the arguments
    netx passes to ``Dense`` (the sign mode is computed but not passed on).

    NirccError where netx fails or shifts by a negative count: an all-zero matrix
    (``log2(inf)``), positive weights above 255 (excitatory) or negative weights below
    -256 (inhibitory).  Mixed matrices are clipped to ``[-256, 254]`` as netx does."""
    w = np.asarray(weights)
    if w.dtype.kind not in "iub" and (w.size == 0 or np.any(w != np.round(w))):
        raise NirccError("netx weights must be integers (netx reads them with astype(int))", field="weight")
    w = w.astype(np.int64)
    if w.size == 0 or not w.any():
        raise NirccError("netx cannot load an all-zero (or empty) weight matrix: optimize_weight_bits "
                         "takes log2 of 255/0", field="weight")
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    if hi < 0:
        mode, signed, scale = "inhibitory", 0, -256 / lo
    elif lo >= 0:
        mode, signed, scale = "excitatory", 0, 255 / hi
    else:
        mode, signed = "mixed", 1
        scale = min(127 / hi if hi > 0 else np.inf, -128 / lo)
    scale_bits = int(np.floor(np.log2(scale))) + signed
    if scale_bits < 0:
        raise NirccError(f"netx cannot fit {mode} weights spanning [{lo}, {hi}] (it would shift them by "
                         f"{scale_bits}); excitatory weights must be <= 255, inhibitory >= -256", field="weight")
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    return (w << scale_bits).astype(np.int32), 8 - scale_bits - n, -scale_bits, mode


def netx_synapse(weights: np.ndarray, delays: Optional[np.ndarray] = None,
                 formats: Formats = _FORMATS) -> "Synapse":
    """The synapse Lava computes with for ``weights`` (and ``delays``) written into a
    ``.net`` dense layer: netx's :func:`netx_optimize_weight_bits`, then ``Dense`` picks its
    own sign mode (:func:`determine_sign_mode`, netx does not pass one) and clips and
    truncates (dense/models.py:83-90).  NirccError when the result is not a valid synapse
    (``num_weight_bits`` outside 1..8, a negative truncation shift)."""
    w_netx, nwb, exp, _ = netx_optimize_weight_bits(weights)
    mode = determine_sign_mode(w_netx)
    if not 1 <= nwb <= formats.weight_bits:
        raise NirccError(f"netx chooses num_weight_bits {nwb} for these {mode} weights (valid 1..{formats.weight_bits}): "
                         f"Lava's truncation would zero or distort them", field="weight")
    return Synapse(weights=lava_weights(w_netx, mode, nwb, formats), weight_exp=exp, num_weight_bits=nwb,
                   sign_mode=mode, delays=delays)


def netx_recurrent_synapses(weights: np.ndarray, weights_rec: np.ndarray,
                            formats: Formats = _FORMATS) -> tuple["Synapse", "Synapse"]:
    """The two synapses Lava computes with for a ``.net`` ``dense_rec`` layer: netx
    optimizes ``[weight | weight_rec]`` together (one exponent and bit count, hdf5.py:401-407),
    then each ``Dense`` picks its own sign mode and clips and truncates."""
    w, w_rec = np.asarray(weights), np.asarray(weights_rec)
    both = netx_synapse(np.hstack([w, w_rec]), formats=formats)
    w_netx = netx_optimize_weight_bits(np.hstack([w, w_rec]))[0]
    parts = w_netx[:, :w.shape[1]], w_netx[:, w.shape[1]:]
    return tuple(Synapse(weights=lava_weights(part, determine_sign_mode(part), both.num_weight_bits, formats),
                         weight_exp=both.weight_exp, num_weight_bits=both.num_weight_bits,
                         sign_mode=determine_sign_mode(part)) for part in parts)


# ---------------------------------------------------------------------- records
@dataclass(eq=False)
class CubaNeurons:
    """One LIF population (``PyLifModelBitAcc``); its size is ``len(bias_mant)``."""

    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: int = 6

    def __post_init__(self) -> None:
        self.du, self.dv, self.vth, self.bias_exp = (int_scalar(x) for x in (self.du, self.dv, self.vth,
                                                                                self.bias_exp))
        self.bias_mant = as_int_array(np.asarray(self.bias_mant).reshape(-1) if np.ndim(self.bias_mant) else
                                    np.asarray([self.bias_mant]), np.int16)

    @property
    def size(self) -> int:
        return int(np.size(self.bias_mant))

    @classmethod
    def uniform(cls, size: int, du: int, dv: int, vth: int, bias_mant: int = 0, bias_exp: int = 6) -> "CubaNeurons":
        """``size`` neurons sharing one bias mantissa."""
        return cls(du=du, dv=dv, vth=vth, bias_mant=np.full(int(size), bias_mant, np.int64), bias_exp=bias_exp)

    def to_dict(self) -> dict:
        return {"type": "CUBA", "du": self.du, "dv": self.dv, "vth": self.vth,
                "bias_mant": np.asarray(self.bias_mant).tolist(), "bias_exp": self.bias_exp}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CubaNeurons":
        if d.get("type", "CUBA") != "CUBA":
            raise NirccError(f"unknown neuron type {d.get('type')!r} (known: CUBA)", field="neurons.type")
        return cls(du=d["du"], dv=d["dv"], vth=d["vth"], bias_mant=np.asarray(d["bias_mant"]),
                   bias_exp=d["bias_exp"])


@dataclass(eq=False)
class Synapse:
    """One ``Dense`` (or ``DelayDense``) weight matrix ``[n_out, n_in]`` (module docstring)."""

    weights: np.ndarray
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str = "mixed"
    delays: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.weights = as_int_array(self.weights, np.int16)
        self.delays = as_int_array(self.delays, np.uint8)
        self.weight_exp = int_scalar(self.weight_exp)
        self.num_weight_bits = int_scalar(self.num_weight_bits)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.weights))

    def to_dict(self) -> dict:
        return {"weights": np.asarray(self.weights).tolist(), "weights_shape": list(self.shape),
                "weight_exp": self.weight_exp, "num_weight_bits": self.num_weight_bits,
                "sign_mode": self.sign_mode,
                "delays": None if self.delays is None else np.asarray(self.delays).tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Synapse":
        shape = tuple(d["weights_shape"])
        w = np.asarray(d["weights"]).reshape(shape)
        delays = None if d.get("delays") is None else np.asarray(d["delays"]).reshape(shape)
        return cls(weights=w, weight_exp=d["weight_exp"], num_weight_bits=d["num_weight_bits"],
                   sign_mode=d["sign_mode"], delays=delays)


@dataclass(eq=False)
class InputLayer:
    """netx ``input``: the external input, optionally through a LIF population."""

    name: str
    shape: tuple
    neurons: Optional[CubaNeurons] = None
    kind: ClassVar[str] = "input"

    def __post_init__(self) -> None:
        self.shape = tuple(int_scalar(s) for s in np.atleast_1d(self.shape).tolist())
        if isinstance(self.neurons, Mapping):
            self.neurons = CubaNeurons.from_dict(self.neurons)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "shape": list(self.shape),
                "neurons": None if self.neurons is None else self.neurons.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "InputLayer":
        return cls(name=d["name"], shape=tuple(d["shape"]),
                   neurons=None if d.get("neurons") is None else CubaNeurons.from_dict(d["neurons"]))


@dataclass(eq=False)
class DenseLayer:
    """netx ``dense`` / ``dense_rec``: ``synapse`` (and ``synapse_rec``) into ``neurons``."""

    name: str
    synapse: Synapse
    neurons: CubaNeurons
    synapse_rec: Optional[Synapse] = None

    def __post_init__(self) -> None:
        if isinstance(self.synapse, Mapping):
            self.synapse = Synapse.from_dict(self.synapse)
        if isinstance(self.synapse_rec, Mapping):
            self.synapse_rec = Synapse.from_dict(self.synapse_rec)
        if isinstance(self.neurons, Mapping):
            self.neurons = CubaNeurons.from_dict(self.neurons)

    @property
    def kind(self) -> str:
        return "dense" if self.synapse_rec is None else "dense_rec"

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.neurons.size,)

    @property
    def size(self) -> int:
        return self.neurons.size

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "synapse": self.synapse.to_dict(),
                "synapse_rec": None if self.synapse_rec is None else self.synapse_rec.to_dict(),
                "neurons": self.neurons.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DenseLayer":
        return cls(name=d["name"], synapse=Synapse.from_dict(d["synapse"]), neurons=CubaNeurons.from_dict(d["neurons"]),
                   synapse_rec=None if d.get("synapse_rec") is None else Synapse.from_dict(d["synapse_rec"]))


@dataclass(eq=False)
class ConvLayer:
    """netx ``conv``: a ``Conv`` synapse on a ``(C, H, W)`` input into ``neurons``.

    ``weights`` ``[C_out, C_in / groups, kH, kW]`` (cross-correlation); ``stride``,
    ``padding`` (symmetric, both sides), ``dilation`` as ``(height, width)`` pairs.  The
    weights obey the sign-mode rules of a dense synapse (module docstring); Lava's
    ``PyConvModelFixed`` applies no weight exponent (conv/models.py:71-79) and netx passes
    none (netx blocks/process.py:451-459), so a conv layer has none.
    """

    name: str
    in_shape: tuple
    weights: np.ndarray
    neurons: CubaNeurons
    stride: Any = (1, 1)
    padding: Any = (0, 0)
    dilation: Any = (1, 1)
    groups: int = 1
    num_weight_bits: int = 8
    sign_mode: str = "mixed"
    kind: ClassVar[str] = "conv"

    def __post_init__(self) -> None:
        self.in_shape = tuple(int_scalar(s) for s in np.atleast_1d(self.in_shape).tolist())
        self.weights = as_int_array(self.weights, np.int16)
        self.stride, self.padding, self.dilation = (_pair(x) for x in (self.stride, self.padding, self.dilation))
        self.groups = int_scalar(self.groups)
        self.num_weight_bits = int_scalar(self.num_weight_bits)
        if isinstance(self.neurons, Mapping):
            self.neurons = CubaNeurons.from_dict(self.neurons)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C_out, H_out, W_out)`` (ValueError for an impossible geometry)."""
        w = np.asarray(self.weights)
        _, h, wd = self.in_shape
        return (int(w.shape[0]),
                conv_out_size(h, int(w.shape[2]), self.stride[0], self.padding[0], self.dilation[0]),
                conv_out_size(wd, int(w.shape[3]), self.stride[1], self.padding[1], self.dilation[1]))

    @property
    def size(self) -> int:
        return self.neurons.size

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "in_shape": list(self.in_shape),
                "weights": np.asarray(self.weights).tolist(), "weights_shape": list(np.shape(self.weights)),
                "stride": list(self.stride), "padding": list(self.padding), "dilation": list(self.dilation),
                "groups": self.groups, "num_weight_bits": self.num_weight_bits, "sign_mode": self.sign_mode,
                "neurons": self.neurons.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ConvLayer":
        w = np.asarray(d["weights"]).reshape(tuple(d["weights_shape"]))
        return cls(name=d["name"], in_shape=tuple(d["in_shape"]), weights=w, neurons=CubaNeurons.from_dict(d["neurons"]),
                   stride=tuple(d["stride"]), padding=tuple(d["padding"]), dilation=tuple(d["dilation"]),
                   groups=d["groups"], num_weight_bits=d["num_weight_bits"], sign_mode=d["sign_mode"])


@dataclass(eq=False)
class FlattenLayer:
    """netx ``flatten``: the ``(C, H, W)`` output before it becomes a dense layer's input."""

    name: str
    kind: ClassVar[str] = "flatten"
    neurons: ClassVar[None] = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FlattenLayer":
        return cls(name=d["name"])


Layer = Union[InputLayer, DenseLayer, ConvLayer, FlattenLayer]
LAYER_KINDS: tuple[str, ...] = ("input", "dense", "dense_rec", "conv", "flatten")
_FROM_DICT = {"input": InputLayer, "dense": DenseLayer, "dense_rec": DenseLayer, "conv": ConvLayer,
              "flatten": FlattenLayer}


@dataclass(eq=False)
class LoihiProgram:
    """The layers of one netx network, in order (module docstring).

    ``input_message_bits``: 0 when the external input is binary spikes, else the payload
    bits of graded input spikes (netx ``Network(input_message_bits=...)``); it matters
    only when the input layer has no neurons (then the first synapse reads the input).
    ``dt``: the model time step folded into the parameters (seconds), for reference.
    """

    layers: list
    input_message_bits: int = 0
    dt: Optional[float] = None
    variant: str = DEFAULT_VARIANT
    meta: dict = field(default_factory=dict)
    #: the compile report (resources, quantization) the lowering attaches; not serialized
    report: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.layers = list(self.layers)
        self.input_message_bits = int_scalar(self.input_message_bits)
        self.dt = None if self.dt is None else float(self.dt)

    # ------------------------------------------------------------------ lookup
    def layer(self, name: str) -> Layer:
        """The layer called ``name`` (KeyError if none)."""
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(f"no layer {name!r}")

    @property
    def input_layer(self) -> InputLayer:
        return self.layers[0]

    @property
    def output_layer(self) -> Layer:
        """The last layer (its spikes are the program's output)."""
        return self.layers[-1]

    def neuron_layers(self) -> list[Layer]:
        """The layers with a LIF population, in order."""
        return [lay for lay in self.layers if lay.neurons is not None]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every layer (``(N,)`` or ``(C, H, W)``) of a valid program."""
        out: dict[str, tuple[int, ...]] = {}
        prev: tuple[int, ...] = ()
        for lay in self.layers:
            prev = (int(np.prod(prev)),) if lay.kind == "flatten" else tuple(lay.shape)
            out[lay.name] = prev
        return out

    # ------------------------------------------------------------------ validation
    def validate(self, spec: Optional[LoihiSpec] = None) -> None:
        """Check every layer against Lava's formats and netx's layer rules; raise one
        NirccErrors listing every violation (node = layer name, field, value, limit)."""
        spec = spec or get_spec(self.variant)
        fm = spec.formats
        errs = ErrorCollector()
        if self.variant != spec.name:
            errs.add(f"program built for {self.variant!r}, checked against {spec.name!r}", None, "variant")
        mb = self.input_message_bits
        if not isinstance(mb, int) or isinstance(mb, bool) or not 0 <= mb <= fm.max_message_bits:
            errs.add(f"input_message_bits {mb!r} not in 0..{fm.max_message_bits} (0 = binary spikes)", None,
                     "input_message_bits")
        if self.dt is not None and not (np.isfinite(self.dt) and self.dt > 0):
            errs.add(f"dt {self.dt} must be a positive number of seconds", None, "dt")
        if not self.layers:
            errs.add("a program needs at least an input layer", None, "layers")
            errs.raise_if_any()
        names: set[str] = set()
        prev_shape: Optional[tuple[int, ...]] = None
        prev_kind = ""
        for i, lay in enumerate(self.layers):
            kind = getattr(lay, "kind", None)
            node = getattr(lay, "name", None)
            if kind not in LAYER_KINDS:
                errs.add(f"layer {i} is {type(lay).__name__}, not a Loihi layer ({', '.join(LAYER_KINDS)})",
                         None, "layers")
                prev_shape = None
                continue
            if not isinstance(node, str) or not node:
                errs.add(f"layer {i} ({kind}) needs a non-empty string name, got {node!r}", None, "name")
            elif node in names:
                errs.add("layer name used twice", node, "name")
            names.add(node)
            if (i == 0) != (kind == "input"):
                errs.add("the first layer, and only the first, must be the input layer" if i else
                         f"the first layer must be the input layer, not {kind}", node, "kind")
            if prev_kind == "flatten" and kind not in ("dense", "dense_rec"):
                errs.add(f"netx applies a flatten to the next dense layer only; {kind} follows "
                         f"{self.layers[i - 1].name!r}", node, "kind")
            prev_shape = _validate_layer(lay, i, prev_shape, fm, errs)
            prev_kind = kind
        if getattr(self.layers[-1], "neurons", None) is None:
            errs.add("the last layer must have neurons (its spikes are the output)",
                     getattr(self.layers[-1], "name", None), "kind")
        errs.raise_if_any()

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict:
        """JSON-able and lossless (schema :data:`SCHEMA`, the common header)."""
        return {**header(SCHEMA, SCHEMA_VERSION, self.variant, self.dt),
                "input_message_bits": self.input_message_bits, "layers": [lay.to_dict() for lay in self.layers],
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LoihiProgram":
        read_header(d, SCHEMA, (1, SCHEMA_VERSION), "a Loihi program", legacy={(FORMAT, None): 1})
        layers = []
        for lay in d["layers"]:
            kind = lay.get("kind")
            if kind not in _FROM_DICT:
                raise NirccError(f"unknown layer kind {kind!r} (known: {', '.join(LAYER_KINDS)})", lay.get("name"),
                                 "kind")
            layers.append(_FROM_DICT[kind].from_dict(lay))
        return cls(layers=layers, input_message_bits=d.get("input_message_bits", 0), dt=d.get("dt"),
                   variant=d.get("variant", DEFAULT_VARIANT), meta=dict(d.get("meta", {})))

    def to_json(self) -> str:
        return dumps(self.to_dict())


# ---------------------------------------------------------------------- validation helpers
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_int(value: Any, lo: int, hi: int, what: str, node: str, fld: str, errs: ErrorCollector) -> None:
    if not _is_int(value) or not lo <= value <= hi:
        errs.add(f"{what} {value!r} not in {lo}..{hi}", node, fld)


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _validate_neurons(n: Any, size: Optional[int], fm: Formats, node: str, errs: ErrorCollector) -> None:
    if not isinstance(n, CubaNeurons):
        errs.add(f"neurons must be CubaNeurons, got {type(n).__name__}", node, "neurons")
        return
    _check_int(n.du, 0, fm.decay_max, f"current decay du ({fm.decay_bits}-bit unsigned)", node, "neurons.du", errs)
    _check_int(n.dv, 0, fm.decay_max, f"voltage decay dv ({fm.decay_bits}-bit unsigned)", node, "neurons.dv", errs)
    _check_int(n.vth, 0, fm.vth_max, f"threshold mantissa vth ({fm.vth_bits}-bit unsigned)", node, "neurons.vth",
               errs)
    _check_int(n.bias_exp, 0, fm.bias_exp_max, f"bias_exp ({fm.bias_exp_bits}-bit unsigned)", node,
               "neurons.bias_exp", errs)
    b = np.asarray(n.bias_mant)
    lo, hi = fm.bias_mant_range
    if b.dtype != np.int16:
        errs.add(f"bias_mant must be integers in {lo}..{hi} ({fm.bias_mant_bits}-bit signed), got {b.dtype} "
                 f"spanning [{b.min() if b.size else ''}, {b.max() if b.size else ''}]", node, "neurons.bias_mant")
    else:
        bad = (b < lo) | (b > hi)
        if bad.any():
            i = int(np.argmax(bad))
            errs.add(f"{int(bad.sum())} bias mantissas outside {lo}..{hi} ({fm.bias_mant_bits}-bit signed); "
                     f"neuron {i} has {int(b[i])}", node, "neurons.bias_mant")
    if size is not None and b.size != size:
        errs.add(f"{b.size} bias mantissas for {size} neurons", node, "neurons.bias_mant")
    if b.size < 1:
        errs.add("a neuron population needs at least one neuron", node, "neurons")


def _validate_weights(w: Any, sign_mode: Any, nwb: Any, fm: Formats, node: str, fld: str,
                      errs: ErrorCollector) -> None:
    """Sign mode, bit count and values of a weight array (range, then clip + truncation
    in the declared mode and in the mode Lava picks by itself)."""
    mode_ok = sign_mode in SIGN_MODES
    if not mode_ok:
        errs.add(f"sign_mode {sign_mode!r} not one of {', '.join(SIGN_MODES)}", node, f"{fld}.sign_mode")
    bits_ok = _is_int(nwb) and 1 <= nwb <= fm.weight_bits
    if not bits_ok:
        errs.add(f"num_weight_bits {nwb!r} not in 1..{fm.weight_bits}", node, f"{fld}.num_weight_bits")
    arr = np.asarray(w)
    if arr.dtype != np.int16:
        desc = f"{arr.dtype} spanning [{arr.min()}, {arr.max()}]" if arr.size and arr.dtype.kind in "iuf" else \
            f"{arr.dtype}"
        errs.add(f"weights must be integers in [-256, 255], got {desc}", node, f"{fld}.weights")
        return
    if not mode_ok or arr.size == 0:
        return
    lo, hi = fm.weight_range(sign_mode)
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        idx = _first_bad(bad)
        errs.add(f"{int(bad.sum())} weights outside {sign_mode}'s [{lo}, {hi}] (clip_weights would change them); "
                 f"weight{list(idx)} = {int(arr[idx])}", node, f"{fld}.weights")
        return
    if not bits_ok:
        return
    for mode, why in ((sign_mode, f"num_weight_bits {nwb} in {sign_mode} mode"),
                      (determine_sign_mode(arr), "the sign mode Lava picks when none is passed")):
        eff = lava_weights(arr, mode, nwb, fm)
        changed = eff != arr
        if changed.any():
            idx = _first_bad(changed)
            k = _truncate_bits(mode, nwb, fm)
            lo_m, hi_m = fm.weight_range(mode)
            errs.add(f"{int(changed.sum())} weights are changed by Lava's clip and truncation ({why}, {mode}: "
                     f"clip to [{lo_m}, {hi_m}], low {k} bits cleared"
                     f"{' of the magnitude' if mode == 'inhibitory' else ''}); weight{list(idx)} = "
                     f"{int(arr[idx])} becomes {int(eff[idx])}", node, f"{fld}.weights")
            break


def _validate_synapse(s: Any, n_in: Optional[int], n_out: int, fm: Formats, node: str, fld: str,
                      errs: ErrorCollector) -> None:
    if not isinstance(s, Synapse):
        errs.add(f"must be a Synapse, got {type(s).__name__}", node, fld)
        return
    w = np.asarray(s.weights)
    if w.ndim != 2:
        errs.add(f"weights must be a [n_out, n_in] matrix, got shape {list(w.shape)}", node, f"{fld}.weights")
        return
    if w.shape[0] != n_out or (n_in is not None and w.shape[1] != n_in):
        errs.add(f"weights {list(w.shape)} do not connect {n_in} inputs to {n_out} neurons "
                 f"(expected [{n_out}, {n_in}])", node, f"{fld}.weights")
    _validate_weights(w, s.sign_mode, s.num_weight_bits, fm, node, fld, errs)
    _check_int(s.weight_exp, fm.weight_exp_min, fm.weight_exp_max, "weight_exp", node, f"{fld}.weight_exp", errs)
    if s.delays is not None:
        d = np.asarray(s.delays)
        if d.shape != w.shape:
            errs.add(f"delays {list(d.shape)} must have the weights' shape {list(w.shape)}", node, f"{fld}.delays")
        elif d.dtype != np.uint8 or (d.size and d.max() > fm.max_delay):
            desc = f"[{d.min()}, {d.max()}]" if d.size and d.dtype.kind in "iuf" else str(d.dtype)
            errs.add(f"delays must be integer steps in 0..{fm.max_delay} (netx clamps above {fm.max_delay}), "
                     f"got {desc}", node, f"{fld}.delays")


def _validate_layer(lay: Layer, i: int, prev: Optional[tuple[int, ...]], fm: Formats,
                    errs: ErrorCollector) -> Optional[tuple[int, ...]]:
    """Check one layer given the previous layer's output shape; return its output shape
    (None when it cannot be known)."""
    node = lay.name
    kind = lay.kind
    if kind == "input":
        shape = lay.shape
        if len(shape) not in (1, 3) or not all(_is_int(s) and s >= 1 for s in shape):
            errs.add(f"input shape {list(shape)} must be (N,) or (C, H, W) with positive sizes", node, "shape")
            return None
        if lay.neurons is not None:
            _validate_neurons(lay.neurons, lay.size, fm, node, errs)
        return shape
    if kind == "flatten":
        if prev is not None and len(prev) != 3:
            errs.add(f"flatten needs a (C, H, W) input, got {list(prev)}", node, "kind")
        return None if prev is None else (int(np.prod(prev)),)
    if kind in ("dense", "dense_rec"):
        if prev is not None and len(prev) != 1:
            errs.add(f"a dense layer needs a flat input; {list(prev)} needs a flatten layer before it", node, "kind")
        n_in = None if prev is None else int(np.prod(prev))
        _validate_neurons(lay.neurons, None, fm, node, errs)
        n_out = lay.neurons.size if isinstance(lay.neurons, CubaNeurons) else None
        if n_out is None:
            return None
        _validate_synapse(lay.synapse, n_in, n_out, fm, node, "synapse", errs)
        if lay.synapse_rec is not None:
            _validate_synapse(lay.synapse_rec, n_out, n_out, fm, node, "synapse_rec", errs)
        return (n_out,)
    return _validate_conv(lay, prev, fm, errs)


def _validate_conv(lay: ConvLayer, prev: Optional[tuple[int, ...]], fm: Formats,
                   errs: ErrorCollector) -> Optional[tuple[int, ...]]:
    node = lay.name
    _validate_neurons(lay.neurons, None, fm, node, errs)
    ok = True
    if len(lay.in_shape) != 3 or not all(_is_int(s) and s >= 1 for s in lay.in_shape):
        errs.add(f"in_shape {list(lay.in_shape)} must be (C, H, W) with positive sizes", node, "in_shape")
        ok = False
    elif prev is not None and tuple(prev) != tuple(lay.in_shape):
        errs.add(f"in_shape {list(lay.in_shape)} is not the previous layer's output {list(prev)}", node, "in_shape")
    w = np.asarray(lay.weights)
    if w.ndim != 4 or min(w.shape, default=0) < 1:
        errs.add(f"weights must be [C_out, C_in / groups, kH, kW] with positive sizes, got {list(w.shape)}",
                 node, "weights")
        ok = False
    else:
        _validate_weights(w, lay.sign_mode, lay.num_weight_bits, fm, node, "conv", errs)
        if max(w.shape[2:]) > fm.conv_param_max:
            errs.add(f"kernel {list(w.shape[2:])} exceeds Lava's int8 geometry ({fm.conv_param_max})", node, "weights")
    for fld, least in (("stride", 1), ("padding", 0), ("dilation", 1)):
        v = getattr(lay, fld)
        if not (isinstance(v, tuple) and len(v) == 2 and all(_is_int(x) and least <= x <= fm.conv_param_max
                                                                for x in v)):
            errs.add(f"{fld} {v!r} must be a (height, width) pair of integers in {least}..{fm.conv_param_max}",
                     node, fld)
            ok = False
    g = lay.groups
    if not _is_int(g) or not 1 <= g <= fm.conv_param_max:
        errs.add(f"groups {g!r} not in 1..{fm.conv_param_max}", node, "groups")
        ok = False
    if not ok:
        return None
    c_in = lay.in_shape[0]
    if c_in % g or w.shape[0] % g:
        errs.add(f"groups {g} must divide C_in {c_in} and C_out {w.shape[0]}", node, "groups")
        return None
    if w.shape[1] != c_in // g:
        errs.add(f"weights take {w.shape[1]} input channels per group, the input has {c_in} / {g} = {c_in // g}",
                 node, "weights")
        return None
    shape = lay.shape
    if min(shape) < 1:
        errs.add(f"kernel {list(w.shape[2:])} (dilation {list(lay.dilation)}) does not fit the padded input "
                 f"{list(lay.in_shape)} (output {list(shape)})", node, "weights")
        return None
    if isinstance(lay.neurons, CubaNeurons) and lay.neurons.size != int(np.prod(shape)):
        errs.add(f"{lay.neurons.size} neurons for a {list(shape)} output ({int(np.prod(shape))})", node,
                 "neurons.bias_mant")
    return shape
