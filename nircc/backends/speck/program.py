"""The Speck program: what runs on the chip's DVS layer and 9 CNN cores, as plain integers.

A :class:`SpeckProgram` is what the lowering produces, what the emitter writes as a samna
configuration and what both emulators run.  It holds

* an :class:`SpeckInput`: where input events enter.  Either straight into up to two cores
  (``dvs=False``: the host writes ``Spike`` events with ``layer`` = core), or through the
  chip's DVS pre-processing layer (``dvs=True``), which applies, in this order (sinabs
  ``DVSLayer.forward``; datasheet §3.2.3): polarity selection / merge, sum pooling, region
  of interest (crop), mirror x / y, diagonal swap;
* one :class:`CnnLayer` per used core: conv -> integrate-and-fire -> per-destination sum
  pooling, with its integer parameters;
* :class:`Exit` records: the layers whose monitored spikes are the program's outputs.

Layouts and number formats (all numpy arrays, explicit dtypes)
---------------------------------------------------------------

* ``weights``: int8, ``[F][C][ky][kx]`` (NIR / PyTorch); samna ``[F][C][kx][ky]``;
* ``biases``: int16, ``[F]`` (one leak value per output feature);
* ``neurons_initial_value``: int16, ``[F][y][x]``; samna ``[F][x][y]``;
* ``threshold_high`` / ``threshold_low``: Python ints in the int16 range, one per layer.

nircc keeps NIR's layout (``y`` before ``x``) everywhere; :meth:`CnnLayer.weights_samna`,
:meth:`CnnLayer.neurons_initial_value_samna` and :func:`weights_from_samna` /
:func:`neurons_from_samna` convert at the samna boundary (sinabs writes
``weight.transpose(2, 3)`` and ``v_mem.transpose(2, 3)``, speck.md §3.2).  Shapes are
``(C, H, W)`` and pairs are ``(y, x)``; the samna ``{x, y}`` records are built by the
emitter.  Arrays whose values do not fit their canonical dtype are kept as ``int64`` (or
as given, when not integer) so that :meth:`SpeckProgram.validate` can name the value.

Routing: an output spike of core ``L`` at neuron ``(f, y, x)`` reaches every destination
``d`` as the input event ``(f + feature_shift_d, y // pooling_d, x // pooling_d)`` of core
``layer_d``; pooled coordinates beyond the destination's input map (the remainder rows of
an odd map) are dropped, as sinabs' floor pooling drops them.  A destination's input map
must be exactly ``floor(out / pooling)`` and its input features must hold ``F + shift``.
The core graph must be acyclic (as in sinabs; the emulators define no order for loops).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

import numpy as np

from ...errors import ErrorCollector, NirccError
from ..toolkit.arrays import array_from_dict, array_to_dict, as_int_array
from ..program import check_header, header, read_header
from ...util import dumps
from .spec import DEFAULT_VARIANT, SpeckSpec, get_spec, layer_memory

SCHEMA = "nircc.speck.program"
SCHEMA_VERSION = 1

Pair = tuple[int, int]
Shape3 = tuple[int, int, int]


def _pair(x: Union[int, Iterable[int]]) -> Pair:
    if isinstance(x, (int, np.integer)):
        return int(x), int(x)
    a, b = (int(v) for v in x)
    return a, b


def _shape3(x: Iterable[int]) -> Shape3:
    c, h, w = (int(v) for v in x)
    return c, h, w


def conv_out_shape(in_shape: Shape3, f: int, kernel: int, stride: Pair, padding: Pair) -> Shape3:
    """``(f, H_o, W_o)`` with ``H_o = floor((H + 2 p_y - k) / s_y) + 1`` (same for x)."""
    _, h, w = in_shape
    return (int(f), (h + 2 * padding[0] - kernel) // stride[0] + 1,
            (w + 2 * padding[1] - kernel) // stride[1] + 1)


def weights_from_samna(w: np.ndarray) -> np.ndarray:
    """samna ``[F][C][kx][ky]`` -> nircc ``[F][C][ky][kx]`` (int8)."""
    return np.ascontiguousarray(np.asarray(w).transpose(0, 1, 3, 2)).astype(np.int8)


def neurons_from_samna(v: np.ndarray) -> np.ndarray:
    """samna ``[F][x][y]`` -> nircc ``[F][y][x]`` (int16)."""
    return np.ascontiguousarray(np.asarray(v).transpose(0, 2, 1)).astype(np.int16)


@dataclass(eq=False)
class Destination:
    """One of a core's two output routes (samna ``CnnLayerDestination``)."""

    #: target core id (0..8)
    layer: int
    #: square sum pooling, kernel = stride (1, 2 or 4)
    pooling: int = 1
    #: added to the output feature index (channel concatenation)
    feature_shift: int = 0

    def to_dict(self) -> dict:
        return {"layer": int(self.layer), "pooling": int(self.pooling), "feature_shift": int(self.feature_shift)}

    @classmethod
    def from_dict(cls, d: dict) -> "Destination":
        return cls(layer=int(d["layer"]), pooling=int(d["pooling"]), feature_shift=int(d["feature_shift"]))


@dataclass(eq=False)
class SpeckInput:
    """Where input events enter the chip.

    ``shape`` is ``(C, H, W)`` of the events given to the emulator (for ``dvs=True`` the
    sensor / external DVS array: ``C = 2`` polarities, or ``C = 1`` with ``merge``).
    ``dvs=False``: events go unchanged to ``destinations`` (core ids, in order).
    ``dvs=True``: the DVS layer transforms each event ``(p, y, x)``:

    1. polarity: drop ON (p = 1) events unless ``on_channel``, OFF (p = 0) unless
       ``off_channel``; ``merge`` maps both to feature 0;
    2. sum pooling ``(y // pooling[0], x // pooling[1])``; beyond ``floor(H / pooling)`` dropped;
    3. region of interest: keep ``origin <= (y, x) <= cut`` (inclusive, pooled coordinates,
       samna ``origin`` / ``cut``), then subtract ``origin``; ``cut=None`` is the whole map;
    4. ``mirror_y``: ``y -> H_roi - 1 - y``; ``mirror_x``: ``x -> W_roi - 1 - x``;
    5. ``mirror_diagonal``: swap ``y`` and ``x``.

    Pairs are ``(y, x)``.  The OFF = 0 / ON = 1 polarity numbering is samna's [?].
    """

    shape: Shape3
    destinations: list[int]
    dvs: bool = False
    pooling: Pair = (1, 1)
    merge: bool = False
    on_channel: bool = True
    off_channel: bool = True
    origin: Pair = (0, 0)
    cut: Optional[Pair] = None
    mirror_x: bool = False
    mirror_y: bool = False
    mirror_diagonal: bool = False
    monitor: bool = False

    def __post_init__(self) -> None:
        self.shape = _shape3(self.shape)
        self.destinations = [int(d) for d in self.destinations]
        self.pooling = _pair(self.pooling)
        self.origin = _pair(self.origin)
        self.cut = None if self.cut is None else _pair(self.cut)

    def pooled_shape(self) -> tuple[int, int]:
        """``(H, W)`` after the DVS pooling (floor)."""
        return self.shape[1] // self.pooling[0], self.shape[2] // self.pooling[1]

    def roi(self) -> tuple[Pair, Pair]:
        """``(origin, cut)`` of the region of interest, inclusive, pooled coordinates."""
        if self.cut is not None:
            return self.origin, self.cut
        h, w = self.pooled_shape()
        return self.origin, (h - 1, w - 1)

    def output_shape(self) -> Shape3:
        """``(C, H, W)`` of the events this layer sends to its destinations."""
        if not self.dvs:
            return self.shape
        (oy, ox), (cy, cx) = self.roi()
        c = 1 if self.merge else self.shape[0]
        h, w = cy - oy + 1, cx - ox + 1
        return (c, w, h) if self.mirror_diagonal else (c, h, w)

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "destinations": list(self.destinations), "dvs": bool(self.dvs),
                "pooling": list(self.pooling), "merge": bool(self.merge), "on_channel": bool(self.on_channel),
                "off_channel": bool(self.off_channel), "origin": list(self.origin),
                "cut": None if self.cut is None else list(self.cut), "mirror_x": bool(self.mirror_x),
                "mirror_y": bool(self.mirror_y), "mirror_diagonal": bool(self.mirror_diagonal),
                "monitor": bool(self.monitor)}

    @classmethod
    def from_dict(cls, d: dict) -> "SpeckInput":
        return cls(shape=tuple(d["shape"]), destinations=list(d["destinations"]), dvs=bool(d["dvs"]),
                   pooling=tuple(d["pooling"]), merge=bool(d["merge"]), on_channel=bool(d["on_channel"]),
                   off_channel=bool(d["off_channel"]), origin=tuple(d["origin"]),
                   cut=None if d["cut"] is None else tuple(d["cut"]), mirror_x=bool(d["mirror_x"]),
                   mirror_y=bool(d["mirror_y"]), mirror_diagonal=bool(d["mirror_diagonal"]),
                   monitor=bool(d["monitor"]))


@dataclass(eq=False)
class CnnLayer:
    """One CNN core: conv (square kernel) -> integrate-and-fire -> routed sum pooling.

    ``name`` is the graph node the layer came from (errors and outputs name it).
    ``output_shape`` is the neuron map ``(F, H_o, W_o)``, the conv output before pooling.
    Neuron rule (both emulators): ``v >= threshold_high`` fires; ``return_to_zero`` resets
    to 0, otherwise ``threshold_high`` is subtracted; ``v`` is then clamped at
    ``threshold_low``.  ``leak_enable`` adds ``biases[f]`` once per slow-clock tick.
    """

    name: str
    core: int
    input_shape: Shape3
    output_shape: Shape3
    kernel: int
    weights: np.ndarray
    threshold_high: int
    threshold_low: int
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    biases: Optional[np.ndarray] = None
    return_to_zero: bool = False
    leak_enable: bool = False
    neurons_initial_value: Optional[np.ndarray] = None
    destinations: list[Destination] = field(default_factory=list)
    monitor: bool = False

    def __post_init__(self) -> None:
        self.core = int(self.core)
        self.input_shape = _shape3(self.input_shape)
        self.output_shape = _shape3(self.output_shape)
        self.kernel = int(self.kernel)
        self.stride = _pair(self.stride)
        self.padding = _pair(self.padding)
        self.threshold_high = int(self.threshold_high)
        self.threshold_low = int(self.threshold_low)
        self.weights = as_int_array(self.weights, np.int8)
        f = self.output_shape[0]
        self.biases = as_int_array(np.zeros(f, np.int16) if self.biases is None else self.biases, np.int16)
        if self.neurons_initial_value is None:
            self.neurons_initial_value = np.zeros(self.output_shape, np.int16)
        self.neurons_initial_value = as_int_array(self.neurons_initial_value, np.int16)
        self.destinations = [d if isinstance(d, Destination) else Destination(**d) for d in self.destinations]

    def weights_samna(self) -> np.ndarray:
        """Weights in samna's ``[F][C][kx][ky]`` layout."""
        return np.ascontiguousarray(self.weights.transpose(0, 1, 3, 2))

    def neurons_initial_value_samna(self) -> np.ndarray:
        """Initial states in samna's ``[F][x][y]`` layout."""
        return np.ascontiguousarray(self.neurons_initial_value.transpose(0, 2, 1))

    def memory(self) -> dict[str, int]:
        """Kernel / neuron / bias words this layer needs (speck.md §1.1)."""
        c = self.input_shape[0]
        f, h, w = self.output_shape
        return layer_memory(c, f, self.kernel, h, w, bias=self.leak_enable)

    def to_dict(self) -> dict:
        return {"name": self.name, "core": self.core, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "kernel": self.kernel,
                "stride": list(self.stride), "padding": list(self.padding),
                "weights": array_to_dict(self.weights), "biases": array_to_dict(self.biases),
                "threshold_high": self.threshold_high, "threshold_low": self.threshold_low,
                "return_to_zero": bool(self.return_to_zero), "leak_enable": bool(self.leak_enable),
                "neurons_initial_value": array_to_dict(self.neurons_initial_value),
                "destinations": [d.to_dict() for d in self.destinations], "monitor": bool(self.monitor)}

    @classmethod
    def from_dict(cls, d: dict) -> "CnnLayer":
        return cls(name=d["name"], core=d["core"], input_shape=tuple(d["input_shape"]),
                   output_shape=tuple(d["output_shape"]), kernel=d["kernel"], stride=tuple(d["stride"]),
                   padding=tuple(d["padding"]), weights=array_from_dict(d["weights"]),
                   biases=array_from_dict(d["biases"]), threshold_high=d["threshold_high"],
                   threshold_low=d["threshold_low"], return_to_zero=bool(d["return_to_zero"]),
                   leak_enable=bool(d["leak_enable"]),
                   neurons_initial_value=array_from_dict(d["neurons_initial_value"]),
                   destinations=[Destination.from_dict(x) for x in d["destinations"]],
                   monitor=bool(d["monitor"]))

    def overflow_risks(self, spec: SpeckSpec) -> list[NirccError]:
        """Reasons why this layer's int16 state could leave int16 (whose behaviour on the
        chip is undocumented).  Empty means it cannot: with every initial value in
        ``[threshold_low, threshold_high)``, weights below ``threshold_high``, no positive
        leak and the thresholds ``state_margin`` inside int16, ``v`` stays in
        ``[threshold_low, threshold_high)`` between updates and ``v + w`` within int16."""
        out: list[NirccError] = []
        lo16, hi16 = spec.state_range
        th, tl = self.threshold_high, self.threshold_low
        if th > spec.safe_threshold_high_max:
            out.append(NirccError(f"threshold_high {th} > {spec.safe_threshold_high_max}: v + w can exceed "
                                  f"int16 ({hi16}) before the threshold check", self.name, "threshold_high"))
        if tl < spec.safe_threshold_low_min:
            out.append(NirccError(f"threshold_low {tl} < {spec.safe_threshold_low_min}: v + w can go below "
                                  f"int16 ({lo16}) before the clamp", self.name, "threshold_low"))
        if self.weights.size and int(self.weights.max()) >= th:
            out.append(NirccError(f"max weight {int(self.weights.max())} >= threshold_high {th}: the residual "
                                  "after a spike stays above threshold and grows with every input",
                                  self.name, "weights"))
        if self.leak_enable and self.biases.size:
            bmax, bmin = int(self.biases.max()), int(self.biases.min())
            if bmax > 0:
                out.append(NirccError(f"positive bias {bmax}: leak ticks raise v without firing, without bound",
                                      self.name, "biases"))
            if tl + bmin < lo16:
                out.append(NirccError(f"threshold_low {tl} + bias {bmin} < {lo16}: a leak tick can leave int16",
                                      self.name, "biases"))
        v0 = self.neurons_initial_value
        if v0.size and (int(v0.min()) < tl or int(v0.max()) >= th):
            out.append(NirccError(f"initial values in [{int(v0.min())}, {int(v0.max())}] leave "
                                  f"[threshold_low {tl}, threshold_high {th})", self.name, "neurons_initial_value"))
        return out


@dataclass(eq=False)
class Exit:
    """A program output: the monitored spikes of core ``layer`` (unpooled on the monitor
    bus), summed over ``pooling`` x ``pooling`` blocks on the host when ``pooling > 1``."""

    name: str
    layer: int
    pooling: int = 1

    def to_dict(self) -> dict:
        return {"name": self.name, "layer": int(self.layer), "pooling": int(self.pooling)}

    @classmethod
    def from_dict(cls, d: dict) -> "Exit":
        return cls(name=d["name"], layer=int(d["layer"]), pooling=int(d["pooling"]))


@dataclass(eq=False)
class SpeckProgram:
    """A complete Speck program (see the module docstring).

    ``dt`` is the width of one time bin in seconds: the emulators apply one slow-clock
    tick (leak) per bin, i.e. they assume a slow clock of ``1 / dt`` Hz.
    """

    input: SpeckInput
    layers: list[CnnLayer]
    exits: list[Exit]
    variant: str = DEFAULT_VARIANT
    dt: float = 1e-3
    meta: dict = field(default_factory=dict)
    #: the compile report (resources, quantization) the lowering attaches; not serialized
    report: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ lookup
    def layer(self, core: int) -> CnnLayer:
        """The layer on ``core`` (KeyError if none)."""
        for lay in self.layers:
            if lay.core == core:
                return lay
        raise KeyError(f"no layer on core {core}")

    def cores(self) -> list[int]:
        return [lay.core for lay in self.layers]

    def topological_order(self) -> list[int]:
        """Cores in an order where every core comes after the cores that send to it
        (ascending core id among the ready ones).  ValueError when routing has a cycle."""
        cores = set(self.cores())
        indeg = {c: 0 for c in cores}
        for lay in self.layers:
            for d in lay.destinations:
                if d.layer in indeg:
                    indeg[d.layer] += 1
        ready = sorted(c for c, n in indeg.items() if n == 0)
        order: list[int] = []
        while ready:
            c = ready.pop(0)
            order.append(c)
            for d in self.layer(c).destinations:
                if d.layer in indeg:
                    indeg[d.layer] -= 1
                    if indeg[d.layer] == 0:
                        ready.append(d.layer)
                        ready.sort()
        if len(order) != len(cores):
            stuck = sorted(cores - set(order))
            raise ValueError(f"routing cycle through cores {stuck}")
        return order

    # ------------------------------------------------------------------ validation
    def validate(self, spec: Optional[SpeckSpec] = None) -> None:
        """Check every field against the chip's limits; raise one NirccErrors listing every
        violation (node = layer name or ``input`` / exit name, field, value and limit)."""
        spec = spec or get_spec(self.variant)
        errs = ErrorCollector()
        check_header(self.variant, self.dt, spec.name, errs)
        if not self.layers:
            errs.add("a program needs at least one CNN layer", None, "layers")
        if len(self.layers) > spec.n_cores:
            errs.add(f"{len(self.layers)} layers exceed the {spec.n_cores} cores of {spec.name}", None, "layers")
        names = [lay.name for lay in self.layers]
        for n in sorted({n for n in names if names.count(n) > 1}):
            errs.add("layer name used twice", n, "name")
        cores = self.cores()
        by_core = {}
        for lay in self.layers:
            if not 0 <= lay.core < spec.n_cores:
                errs.add(f"core {lay.core} not in 0..{spec.n_cores - 1}", lay.name, "core")
            elif lay.core in by_core:
                errs.add(f"core {lay.core} already holds layer '{by_core[lay.core].name}'", lay.name, "core")
            else:
                by_core[lay.core] = lay
        for lay in self.layers:
            _validate_layer(lay, spec, by_core, errs)
        _validate_input(self.input, spec, by_core, errs)
        if not self.exits:
            errs.add("a program needs at least one exit (output)", None, "exits")
        exit_names = [e.name for e in self.exits]
        for e in self.exits:
            if exit_names.count(e.name) > 1:
                errs.add("exit name used twice", e.name, "name")
            if e.layer not in by_core:
                errs.add(f"exit reads core {e.layer}, which holds no layer", e.name, "layer")
            elif not by_core[e.layer].monitor:
                errs.add(f"exit reads core {e.layer} ('{by_core[e.layer].name}') whose monitor is off: "
                         "the chip only reports monitored cores", e.name, "layer")
            if e.pooling not in spec.poolings:
                errs.add(f"pooling {e.pooling} not in {list(spec.poolings)}", e.name, "pooling")
        if len(set(cores)) == len(cores):
            try:
                self.topological_order()
            except ValueError as ex:
                errs.add(f"{ex}: nircc supports feed-forward core graphs only", None, "destinations")
        errs.raise_if_any()

    def overflow_risks(self, spec: Optional[SpeckSpec] = None) -> list[NirccError]:
        """Every layer's :meth:`CnnLayer.overflow_risks` (the lowering decides which are
        errors and which warnings)."""
        spec = spec or get_spec(self.variant)
        return [e for lay in self.layers for e in lay.overflow_risks(spec)]

    def memory(self) -> dict[str, dict[str, int]]:
        """Per layer name: the memories it needs (``kernel``, ``neuron``, ``bias`` words)."""
        return {lay.name: lay.memory() for lay in self.layers}

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict:
        """JSON-able, lossless (arrays with dtype and shape)."""
        return {**header(SCHEMA, SCHEMA_VERSION, self.variant, self.dt), "input": self.input.to_dict(),
                "layers": [lay.to_dict() for lay in self.layers],
                "exits": [e.to_dict() for e in self.exits], "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict) -> "SpeckProgram":
        read_header(d, SCHEMA, (SCHEMA_VERSION,), "a Speck program")
        return cls(input=SpeckInput.from_dict(d["input"]),
                   layers=[CnnLayer.from_dict(x) for x in d["layers"]],
                   exits=[Exit.from_dict(x) for x in d["exits"]], variant=d["variant"],
                   dt=float(d["dt"]), meta=dict(d["meta"]))

    def to_json(self) -> str:
        return dumps(self.to_dict())


# ---------------------------------------------------------------------- validation helpers
def _check_int_array(arr: np.ndarray, shape: tuple, rng: tuple[int, int], dtype_name: str,
                     node: str, fld: str, errs: ErrorCollector) -> None:
    if tuple(arr.shape) != tuple(shape):
        errs.add(f"shape {list(arr.shape)} is not {list(shape)}", node, fld)
    if arr.dtype.kind not in "iu":
        errs.add(f"values must be integers ({dtype_name}), got dtype {arr.dtype}", node, fld)
        return
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < rng[0] or hi > rng[1]:
            errs.add(f"values in [{lo}, {hi}] exceed {dtype_name} [{rng[0]}, {rng[1]}]", node, fld)


def _validate_layer(lay: CnnLayer, spec: SpeckSpec, by_core: dict, errs: ErrorCollector) -> None:
    n = lay.name
    c, h, w = lay.input_shape
    f, ho, wo = lay.output_shape
    if not 1 <= c <= spec.max_features:
        errs.add(f"{c} input features not in 1..{spec.max_features}", n, "input_shape")
    for axis, size in (("y", h), ("x", w)):
        if not 1 <= size <= spec.max_input_size:
            errs.add(f"input size {axis} = {size} not in 1..{spec.max_input_size}", n, "input_shape")
    if not 1 <= f <= spec.max_features:
        errs.add(f"{f} output features not in 1..{spec.max_features}", n, "output_shape")
    for axis, size in (("y", ho), ("x", wo)):
        if not 1 <= size <= spec.max_output_size:
            errs.add(f"neuron map size {axis} = {size} not in 1..{spec.max_output_size}", n, "output_shape")
    if not 1 <= lay.kernel <= spec.max_kernel:
        errs.add(f"kernel {lay.kernel} not in 1..{spec.max_kernel}", n, "kernel")
    for axis, s in zip("yx", lay.stride):
        if s not in spec.strides:
            errs.add(f"stride {axis} = {s} not in {list(spec.strides)}", n, "stride")
    for axis, p in zip("yx", lay.padding):
        if not 0 <= p <= spec.max_padding:
            errs.add(f"padding {axis} = {p} not in 0..{spec.max_padding}", n, "padding")
    geometry_ok = lay.kernel >= 1 and all(s >= 1 for s in lay.stride)
    if geometry_ok:
        expect = conv_out_shape(lay.input_shape, f, lay.kernel, lay.stride, lay.padding)
        if expect != lay.output_shape:
            errs.add(f"output_shape {list(lay.output_shape)} does not follow from input {list(lay.input_shape)}, "
                     f"kernel {lay.kernel}, stride {list(lay.stride)}, padding {list(lay.padding)}: "
                     f"expected {list(expect)}", n, "output_shape")
    _check_int_array(lay.weights, (f, c, lay.kernel, lay.kernel), spec.weight_range,
                     f"int{spec.weight_bits}", n, "weights", errs)
    _check_int_array(lay.biases, (f,), spec.bias_range, f"int{spec.bias_bits}", n, "biases", errs)
    _check_int_array(lay.neurons_initial_value, lay.output_shape, spec.state_range,
                     f"int{spec.state_bits}", n, "neurons_initial_value", errs)
    tlo, thi = spec.threshold_range
    if not 1 <= lay.threshold_high <= thi:
        errs.add(f"threshold_high {lay.threshold_high} not in 1..{thi} (must be positive)", n, "threshold_high")
    if not tlo <= lay.threshold_low <= thi:
        errs.add(f"threshold_low {lay.threshold_low} not in int{spec.threshold_bits} [{tlo}, {thi}]",
                 n, "threshold_low")
    if lay.threshold_low >= lay.threshold_high:
        errs.add(f"threshold_low {lay.threshold_low} must be below threshold_high {lay.threshold_high}",
                 n, "threshold_low")
    if spec.threshold_low_zero_bug and lay.threshold_low == 0:
        errs.add(f"threshold_low 0 hits a known {spec.name} bug (datasheet §3.2.4.6.3); use -1", n, "threshold_low")
    if len(lay.destinations) > spec.n_destinations:
        errs.add(f"{len(lay.destinations)} destinations exceed {spec.n_destinations}", n, "destinations")
    for i, d in enumerate(lay.destinations):
        fld = f"destinations[{i}]"
        if d.pooling not in spec.poolings:
            errs.add(f"pooling {d.pooling} not in {list(spec.poolings)}", n, fld)
        if d.feature_shift < 0:
            errs.add(f"feature_shift {d.feature_shift} is negative", n, fld)
        if d.layer == lay.core:
            errs.add(f"core {lay.core} sends to itself: nircc supports feed-forward core graphs only", n, fld)
            continue
        tgt = by_core.get(d.layer)
        if tgt is None:
            errs.add(f"target core {d.layer} holds no layer", n, fld)
            continue
        if d.pooling in spec.poolings:
            ty, tx = ho // d.pooling, wo // d.pooling
            if (ty, tx) != tuple(tgt.input_shape[1:]):
                errs.add(f"{ho}x{wo} pooled by {d.pooling} is {ty}x{tx}, but core {d.layer} "
                         f"('{tgt.name}') takes {tgt.input_shape[1]}x{tgt.input_shape[2]}", n, fld)
        if f + d.feature_shift > tgt.input_shape[0]:
            errs.add(f"{f} features shifted by {d.feature_shift} exceed the {tgt.input_shape[0]} input "
                     f"features of core {d.layer} ('{tgt.name}')", n, fld)
    mem = lay.memory() if geometry_ok and min(c, f, ho, wo) >= 1 else None
    if mem is not None and 0 <= lay.core < spec.n_cores and not spec.fits(lay.core, mem):
        cap = spec.capacity(lay.core)
        over = ", ".join(f"{k} {mem[k]} > {cap[k]}" for k in ("kernel", "neuron", "bias") if mem[k] > cap[k])
        where = spec.cores_that_fit(mem)
        errs.add(f"memory does not fit core {lay.core} ({over} words); fits cores "
                 f"{where if where else 'none'}", n, "core")


def _validate_input(inp: SpeckInput, spec: SpeckSpec, by_core: dict, errs: ErrorCollector) -> None:
    n = "input"
    c, h, w = inp.shape
    if min(c, h, w) < 1:
        errs.add(f"shape {list(inp.shape)} must be positive", n, "shape")
        return
    if not inp.destinations:
        errs.add("the input reaches no core", n, "destinations")
    if len(inp.destinations) > spec.dvs.n_destinations:
        errs.add(f"{len(inp.destinations)} destinations exceed {spec.dvs.n_destinations}", n, "destinations")
    if inp.dvs:
        if c not in (1, spec.dvs.polarities):
            errs.add(f"{c} channels: the DVS layer takes {spec.dvs.polarities} polarities (or 1, merged)",
                     n, "shape")
        if c == 1 and not inp.merge:
            errs.add("a 1-channel DVS input needs merge=True", n, "merge")
        if not (inp.on_channel or inp.off_channel):
            errs.add("on_channel and off_channel are both off: no event passes", n, "on_channel")
        for axis, size in (("y", h), ("x", w)):
            if size > spec.dvs.max_size:
                errs.add(f"DVS size {axis} = {size} exceeds {spec.dvs.max_size}", n, "shape")
        for axis, p in zip("yx", inp.pooling):
            if p not in spec.dvs.poolings:
                errs.add(f"pooling {axis} = {p} not in {list(spec.dvs.poolings)}", n, "pooling")
        ph, pw = inp.pooled_shape()
        (oy, ox), (cy, cx) = inp.roi()
        if not (0 <= oy <= cy < ph and 0 <= ox <= cx < pw):
            errs.add(f"region of interest origin {[oy, ox]} .. cut {[cy, cx]} is not inside the pooled "
                     f"{ph}x{pw} map", n, "cut")
            return
    else:
        changes = [name for name, on in (("pooling", inp.pooling != (1, 1)), ("merge", inp.merge),
                                         ("origin", inp.origin != (0, 0)), ("cut", inp.cut is not None),
                                         ("on_channel", not inp.on_channel), ("off_channel", not inp.off_channel),
                                         ("mirror_x", inp.mirror_x), ("mirror_y", inp.mirror_y),
                                         ("mirror_diagonal", inp.mirror_diagonal))
                   if on]
        for name in changes:
            errs.add(f"{name} needs the DVS layer (dvs=True)", n, name)
    oc, oh, ow = inp.output_shape()
    for i, core in enumerate(inp.destinations):
        tgt = by_core.get(core)
        if tgt is None:
            errs.add(f"target core {core} holds no layer", n, f"destinations[{i}]")
            continue
        tc, th, tw = tgt.input_shape
        if (oh, ow) != (th, tw) or oc > tc:
            errs.add(f"input events {list((oc, oh, ow))} do not fit core {core} ('{tgt.name}') input "
                     f"{list(tgt.input_shape)}", n, f"destinations[{i}]")
