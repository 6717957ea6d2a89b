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

Lava's weight rules (sign mode, clip, truncate, the synapses netx builds from a ``.net``)
are in :mod:`~nircc.backends.loihi.weights`; the checks of :meth:`LoihiProgram.validate`
in :mod:`~nircc.backends.loihi.checks`.

Values that do not fit their canonical dtype are kept as given, so that
:meth:`LoihiProgram.validate` can name them (layer, field, value, limit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional, Union

import numpy as np

from ...errors import NirccError
from ..toolkit.arrays import as_int_array, int_scalar
from ..program import header, read_header
from ...ir.shapes import conv_out_size
from ...util import dumps
from .spec import DEFAULT_VARIANT, LoihiSpec, get_spec

#: Format id of the JSON artifact.
SCHEMA = "nircc.loihi.program"
#: 2: the common header (nircc.backends.program); 1: ``"format": "nircc.loihi/1"``
SCHEMA_VERSION = 2
FORMAT = "nircc.loihi/1"          # version 1's marker, still read



# ---------------------------------------------------------------------- normalization
def _pair(x: Any) -> Any:
    if isinstance(x, (int, np.integer)):
        return (int(x), int(x))
    if isinstance(x, (list, tuple, np.ndarray)) and len(x) == 2:
        return tuple(int_scalar(v) for v in x)
    return x


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
        NirccErrors listing every violation (node = layer name, field, value, limit).
        The rules are in :mod:`~nircc.backends.loihi.checks`."""
        from .checks import validate_program
        validate_program(self, spec or get_spec(self.variant))

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
