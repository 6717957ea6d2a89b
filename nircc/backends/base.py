"""The backend interface all chips implement, and the target registry.

A chip is a folder ``nircc/backends/<chip>/`` with

* ``spec.py``      one table of limits and number formats per variant, with sources;
* ``program.py``   the ``Program``: a dataclass of numpy integer (or float32) arrays with
                   explicit dtypes, ``to_dict()`` / ``from_dict()`` (JSON-able, lossless);
* ``lower.py``     ``Graph -> Program`` (the chip's integers and layout);
* ``emit.py``      ``Program -> files`` (SDK-neutral, versioned) and ``to_sdk()``;
* ``emulator.py``  the chip's update, bit-accurate, vectorized over neurons and batch;
* ``__init__.py``  a :class:`Target` subclass, named in :data:`BUILTIN` (one line).

Every lowering records the program's :class:`~nircc.backends.io.IOMap` (NIR Inputs and
Outputs to chip channels or populations, with each output's latency) in
``program.meta["io"]``; :meth:`Target.run` and :meth:`Target.latency` are written once here
on top of it and the chip's :meth:`Target.emulator`.

The core never imports a vendor SDK; ``to_sdk`` imports it lazily and raises a
``NirccError`` naming the missing package when it is absent.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import sys
from contextlib import contextmanager
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np

from ..errors import ErrorCollector, NirccError
from .capabilities import Capabilities
from .io import IOMap, program_io
from .options import parse_options


@dataclass
class EmulatorResult:
    """What an emulator run returns.

    ``outputs``: per output (the NIR Output node's name once lowered; a chip-level name
    such as ``"readout"`` for a bare program) the spikes or values, shaped
    ``[T, B, *shape]``, integer counts for spikes.
    ``states``: recorded internal states (only when asked), ``"<node>/<state>" -> [T, B,
    ...]`` (:mod:`nircc.backends.io`), with the probe point documented by the emulator (e.g.
    after reset); an emulator that records chip-wide registers (Xylo's, named as xylosim
    names them) keeps the register names and its program's I/O map slices them per node.
    """

    outputs: dict[str, np.ndarray]
    states: dict[str, np.ndarray] = field(default_factory=dict)


class Emulator(ABC):
    """A bit-accurate model of the chip running a Program."""

    @abstractmethod
    def run(self, inputs: Any, record: bool = False) -> EmulatorResult:
        """Run from the initial state on ``inputs`` (per-step input events, ``[T, B, N_in]``)."""


class Target(ABC):
    """A chip.  Subclasses set ``name``, ``variants`` and ``default_variant``."""

    name: str = ""
    variants: tuple[str, ...] = ()
    default_variant: str = ""
    description: str = ""
    #: the chip's short name in messages ("Xylo", "Loihi 2")
    label: str = ""
    #: the target's options as data (:mod:`nircc.backends.options`): name -> Option, with
    #: default, kind and docs (docs/targets/<name>.md); parsed by ``parse_options``
    options: dict = {}

    @property
    def option_names(self) -> tuple[str, ...]:
        """The names ``--option`` / ``options=`` accept."""
        return tuple(self.options)

    def parse_options(self, raw: Optional[dict], errs: ErrorCollector) -> dict[str, Any]:
        """The target's options with their defaults, every given value checked (the one
        parser: lowerings read ``CompileOptions.option_values``); each problem goes into
        ``errs`` (code ``option``), so it is reported with the graph's own errors."""
        values = parse_options(raw, self.options.values(), self.name, errs)
        self.check_options(values, errs)
        return values

    def check_options(self, values: dict[str, Any], errs: ErrorCollector) -> None:
        """Rules between a target's options (each value is checked already); default: none."""
    #: what the chip's neurons can do (:class:`~nircc.backends.capabilities.Capabilities`,
    #: declared beside the limits in ``<chip>/spec.py``): read by :meth:`realise_semantics`,
    #: by each lowering's node-type check and by ``nircc info --target``
    capabilities: Optional[Capabilities] = None

    @property
    def semantics_rules(self) -> dict[str, tuple[str, ...]]:
        """The semantics rules the chip realises: option -> the values it can run, the first
        the closest stand-in for the others (options not listed: every value)."""
        return dict(self.capabilities.rules) if self.capabilities else {}

    def rules_for(self, options=None) -> dict[str, tuple[str, ...]]:
        """The rules the chip realises under a compile's ``options`` (a
        :class:`~nircc.compiler.CompileOptions`, None: the defaults): :attr:`semantics_rules`,
        unless a target option removes one (Xylo's ``single_spike``)."""
        return self.semantics_rules

    def realise_semantics(self, graph, sem, options=None) -> tuple[Any, Any]:
        """The semantics the chip runs for a model with semantics ``sem`` under the
        compile's ``options`` (:meth:`rules_for`), and a warning.

        One policy for every target: where the model's rule is one the chip cannot realise
        (:attr:`semantics_rules`) and it matters for this graph (reset, spike and threshold
        rules only with spiking nodes; ``initial_v`` only with a non-zero ``v_leak``), the
        compile uses the chip's closest rule, warns naming each rule, and the fidelity check
        measures what the change costs (reference with the model's rules vs with the chip's).
        Never a refusal for a rule that can be approximated."""
        import dataclasses

        from ..errors import Diagnostics

        diags = Diagnostics()
        spiking = [n for n in graph.nodes if graph.type(n) in ("IF", "LIF", "CubaLIF")]
        leaky = [n for n in graph.nodes if graph.type(n) in ("LIF", "LI", "CubaLIF", "CubaLI")
                 and np.any(np.asarray(getattr(graph.op(n), "v_leak", 0.0)) != 0)]
        changes, words = {}, []
        for option, allowed in self.rules_for(options).items():
            nodes = leaky if option == "initial_v" else spiking
            value = getattr(sem, option)
            if not nodes or value in allowed:
                continue
            changes[option] = allowed[0]
            chip = self.capabilities.words(option, allowed[0])
            words.append(f"{option} {value!r} -> {chip}")
        if not changes:
            return sem, diags
        nodes = leaky if set(changes) == {"initial_v"} else spiking
        name = sem.preset_name or "the model"
        diags.warn("semantics-approximated",
                   f"{self.label or self.name} cannot run {name}'s rules; it runs its closest: "
                   + "; ".join(words) + f" ({len(nodes)} node(s), e.g. '{nodes[0]}'). The fidelity check measures "
                   "the cost (reference with the model's rules vs with the chip's)", node=nodes[0], field="semantics",
                   stage="semantics")
        return dataclasses.replace(sem, **changes), diags

    def resolve_variant(self, variant: Optional[str]) -> str:
        """``variant`` or the default; NirccError naming the known ones for an unknown name."""
        return check_variant(self.name, self.variants, self.default_variant, variant)

    # The chip folder's modules by convention: ``spec.get_spec``, ``lower.lower``,
    # ``emit.emit``, ``emit.load_program`` and ``emit.to_sdk`` next to the Target subclass
    # (``nircc/backends/<chip>/``); a target overrides a method only where its signature differs.
    def _module(self, name: str) -> Any:
        module = sys.modules[type(self).__module__]     # the package, or a module inside it
        package = module.__package__ or module.__name__
        return importlib.import_module(f"{package}.{name}")

    def spec(self, variant: Optional[str] = None) -> Any:
        """The limits and number formats of a variant (``spec.get_spec``)."""
        return self._module("spec").get_spec(self.resolve_variant(variant))

    def pipeline(self, options: Any) -> list:
        """The passes this target needs, in order: the shared ones (shape inference,
        canonicalization, Linear/Affine fusion), then the legalizations its capabilities
        call for (:mod:`nircc.passes.legalize`)."""
        from ..passes import canonicalize, fuse_affine, infer_shapes
        from ..passes.legalize import BiasSources

        return [infer_shapes, canonicalize, fuse_affine, BiasSources.for_target(self, options)]

    def input_capacity(self, variant: Optional[str]) -> Optional[int]:
        """Input channels the chip takes at most (None: no fixed limit), so a legalization
        that adds a channel knows whether it still fits."""
        return None

    def lower(self, graph, spec, options) -> Any:
        """Graph (after the pipeline) -> Program; NirccError for what the chip cannot do
        (``lower.lower``).  Channels a legalization made always-on
        (``graph.meta["constant_inputs"]``) become the I/O map's constant ports, so that
        inputs keep the model's shapes."""
        from ..passes.legalize import CONSTANT_INPUTS

        program = self._module("lower").lower(graph, spec, options)
        constants = graph.meta.get(CONSTANT_INPUTS)
        if constants and "io" in (getattr(program, "meta", None) or {}):
            program.meta["io"] = IOMap.from_dict(program.meta["io"]).with_constants(constants).to_dict()
        return program

    def emit(self, program, out_dir: Path) -> list[Path]:
        """Write the SDK-neutral artifact into ``out_dir``; returns the files written
        (``emit.emit``)."""
        return self._module("emit").emit(program, out_dir)

    def load(self, path: Path) -> Any:
        """The program of an artifact written by :meth:`emit` (its directory, or its main
        file), equal to the program emitted: NirccError for another target's files or a
        schema version this nircc does not read (:mod:`nircc.backends.program`;
        ``emit.load_program``)."""
        return self._module("emit").load_program(path)

    #: the chip's emulator (a class taking ``(program, **options)``) and the options it takes
    emulator_class: Optional[type] = None
    emulator_options: tuple[str, ...] = ()

    def emulator(self, program, **options: Any) -> Emulator:
        """The bit-accurate emulator of ``program``: :attr:`emulator_class` with ``options``
        (:attr:`emulator_options`; NirccError naming an option it does not take)."""
        check_emulator_options(self.label or self.name, self.emulator_options, options)
        if self.emulator_class is None:
            raise NirccError(f"target {self.name!r} has no emulator", field="target")
        return self.emulator_class(program, **options)

    def io(self, program) -> IOMap:
        """The program's map between NIR Inputs/Outputs and the chip (:mod:`nircc.backends.io`)."""
        return program_io(program)

    def run(self, program, inputs: dict[str, np.ndarray], record: bool = False, **emulator_options: Any
            ) -> EmulatorResult:
        """Emulate ``program`` on NIR-shaped inputs (Input name -> ``[T, B, *shape]`` event
        counts): the I/O map encodes them for :meth:`emulator` (``emulator_options`` go to
        it), runs it, and decodes its result into the NIR Outputs, ``[T, B, *shape]`` like the
        reference simulator's (spike counts, or membranes in the reference's units) in the
        chip's steps (:meth:`latency` behind the reference).  ``states``: what the emulator
        records, keyed ``"<node>/<state>"`` (:data:`nircc.backends.io.STATE_NAMES`: ``output``,
        ``v``, ``i``, ...) in chip units (with ``record=True``, every state it documents;
        without, what the program itself records, e.g. SpiNNaker2's ``record_v``
        populations)."""
        io = self.io(program)
        forced = io.needs_states and not record      # recorded only to read a membrane output
        res = self.emulator(program, **emulator_options).run(io.encode(inputs), record=record or io.needs_states)
        return EmulatorResult(outputs=io.decode(res), states={} if forced else io.decode_states(res))

    def latency(self, program) -> dict[str, int]:
        """Steps by which each output of the chip lags the reference simulator (e.g. one
        per synaptic layer on chips whose synapses deliver one step late): the I/O map's."""
        return self.io(program).latency

    @staticmethod
    def layer_spikes(program, result: EmulatorResult) -> dict[str, np.ndarray]:
        """The spikes of each neuron population :meth:`run` recorded (``record=True``),
        ``node -> [T, B, N]`` in the chip's steps: its ``"<node>/output"`` states."""
        return {k[: -len("/output")]: v for k, v in result.states.items() if k.endswith("/output")}

    def report(self, program) -> dict:
        """Resources and quantization of a program, for the compile report."""
        return dict(getattr(program, "report", {}) or {})

    def summary(self, program) -> str:
        """A few lines on the resources used (printed by the CLI)."""
        res = self.report(program).get("resources", {})
        return "\n".join(f"  {k}: {v}" for k, v in res.items() if not isinstance(v, (dict, list)))

    def to_sdk(self, program) -> Any:
        """The vendor SDK's object of ``program`` (``emit.to_sdk``), when the SDK imports."""
        build = getattr(self._module("emit"), "to_sdk", None)
        if build is None:
            raise NirccError(f"target {self.name!r} has no vendor SDK object builder")
        return build(program)


def check_variant(target: str, known: Iterable[str], default: str, variant: Optional[str]) -> str:
    """``variant`` (``default`` when None) if it is one of ``known``, else a NirccError."""
    name = variant or default
    known = tuple(known)
    if name not in known:
        raise NirccError(f"unknown {target} variant {name!r} (known: {', '.join(known)})", field="variant")
    return name


def check_emulator_options(chip: str, known: Iterable[str], options: dict) -> None:
    """NirccError for an emulator option not in ``known``."""
    known = tuple(known)
    bad = sorted(set(options) - set(known))
    if bad:
        takes = f"takes {', '.join(known)}" if known else "takes no options"
        raise NirccError(f"the {chip} emulator {takes}, got {', '.join(bad)}", field="options")


def require_sdk(module: str, target: str, hint: str = "") -> Any:
    """Import a vendor SDK lazily, or raise a NirccError saying what is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise NirccError(f"target {target!r}: the vendor SDK '{module}' is not importable ({e}). "
                         f"{hint}".strip()) from None


_REGISTRY: dict[str, Callable[[], Target]] = {}
#: the entry-point group an installed plug-in declares its target in (its pyproject.toml:
#: ``[project.entry-points."nircc.targets"] mychip = "mychip:MyChipTarget"``: one line)
ENTRY_POINTS = "nircc.targets"


def register(name: str, factory: Callable[[], Target]) -> None:
    """Register a target that is not built in (a plug-in; the built-in ones are
    :data:`BUILTIN`, installed plug-ins come from the :data:`ENTRY_POINTS` group)."""
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Remove a target :func:`register` added (no error when it is not registered)."""
    _REGISTRY.pop(name, None)


@contextmanager
def registered(name: str, factory: Callable[[], Target]) -> Iterator[None]:
    """``with registered("toy", ToyTarget): ...``: the target exists inside the block only
    (a target registered under ``name`` before comes back after it)."""
    _load_builtin()
    before = _REGISTRY.get(name)
    register(name, factory)
    try:
        yield
    finally:
        if before is None:
            unregister(name)
        else:
            _REGISTRY[name] = before


def get(name: str) -> Target:
    """The target called ``name`` (e.g. ``get("xylo")``)."""
    _load_builtin()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise NirccError(f"unknown target {name!r} (known: {', '.join(sorted(_REGISTRY)) or 'none'})",
                         field="target")
    return _REGISTRY[name]()


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


#: The built-in chips, the registry of nircc: ``name -> "module:Class"``.  A chip is a folder
#: ``nircc/backends/<chip>/`` and one line here; importing it registers nothing itself.
BUILTIN: dict[str, str] = {
    "xylo": "nircc.backends.xylo:XyloTarget",
    "speck": "nircc.backends.speck:SpeckTarget",
    "loihi": "nircc.backends.loihi:LoihiTarget",
    "spinnaker2": "nircc.backends.spinnaker2:SpiNNaker2Target",
}
_LOADED = False


def _lazy(chip: str, where: str) -> Callable[[], Target]:
    """A factory importing ``"module:Class"`` when the target is first asked for: a plug-in
    that fails to import is a NirccError naming it, and the other targets still work."""
    def make() -> Target:
        module, _, cls = where.partition(":")
        try:
            factory = getattr(importlib.import_module(module), cls)
        except Exception as e:      # a plug-in's own bug: name it, never a traceback
            raise NirccError(f"target {chip!r} ({where}) does not load: {type(e).__name__}: {e}",
                             field="target") from None
        _REGISTRY[chip] = factory
        return factory()
    return make


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for chip, where in BUILTIN.items():
        module, _, cls = where.partition(":")
        _REGISTRY.setdefault(chip, getattr(importlib.import_module(module), cls))
    try:
        found = importlib.metadata.entry_points(group=ENTRY_POINTS)
    except Exception:                # a broken distribution's metadata: built-ins still work
        found = ()
    for ep in found:
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = _lazy(ep.name, ep.value)
