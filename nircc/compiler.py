"""The compile API: ``nircc.compile(graph_or_path, target=...) -> CompileResult``.

    load (tolerant) -> semantics and dt -> target pipeline (PassManager) -> lower -> Program

The result holds the program (``.artifact``), the report (resources, quantization,
diagnostics, passes, semantics), and runs the chip emulator (``.emulate``) or compares
it with the float reference simulator (``.fidelity``).  ``.save(out_dir)`` writes the
target's SDK-neutral files plus ``report.json`` atomically: all files appear together,
or none changes.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import fidelity as _fid
from ._version import __version__
from .backends import base as _backends
from .errors import Diagnostics, ErrorCollector
from .ir import Graph, load
from .passes import PassManager, PipelineResult
from .errors import NirccError
from .provenance import Resolved, resolve_semantics
from .semantics import Semantics
from .sim import simulate
from .sim.simulator import coerce_inputs
from .util import MANIFEST, dumps, replace_dir

#: Version of the artifact layout (report.json and the targets' files).
SCHEMA_VERSION = 1


@dataclass
class CompileOptions:
    """Everything a target's pipeline and lowering may consult."""

    target: str
    variant: str
    semantics: Semantics                     # the rules the chip runs (dt resolved)
    target_options: dict = field(default_factory=dict)   # e.g. {"quantization": "channel"}
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    #: the model as exported (the reference); ``semantics`` differs where the chip cannot
    #: realise a rule (Target.realise_semantics)
    model_semantics: Optional[Semantics] = None
    resolved: Optional[Resolved] = None      # how the model's semantics were chosen
    #: the Target compiling (its options table and rules); None: looked up by ``target``
    backend: Optional["_backends.Target"] = field(default=None, repr=False, compare=False)
    _parsed: Optional[tuple] = field(default=None, init=False, repr=False, compare=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.target_options.get(key, default)

    def option_values(self, errs: ErrorCollector) -> dict[str, Any]:
        """Every option of the target, given or default, checked by ``Target.parse_options``
        once (the pipeline and the lowering both read them); problems go into ``errs`` (the
        lowering raises them with the graph's errors)."""
        if self._parsed is None:
            mine = ErrorCollector()
            values = (self.backend or _backends.get(self.target)).parse_options(self.target_options, mine)
            self._parsed = (values, tuple(mine.errors))
        values, problems = self._parsed
        errs.errors.extend(problems)
        return dict(values)


@dataclass
class CompileResult:
    target: "_backends.Target"
    spec: Any
    options: CompileOptions
    graph: Graph                 # as loaded (the golden model's input)
    lowered_graph: Graph         # after the target's pipeline
    program: Any
    passes: PipelineResult

    #: set by :meth:`fidelity` (the last check run), written into report.json by :meth:`save`
    last_fidelity: Optional[_fid.FidelityReport] = None

    # -------------------------------------------------------------- artifact & report
    @property
    def model_semantics(self) -> Semantics:
        """The semantics of the model as exported (the reference's)."""
        return self.options.model_semantics or self.options.semantics

    @property
    def artifact(self) -> Any:
        """The target program (what :meth:`save` writes)."""
        return self.program

    @property
    def diagnostics(self) -> Diagnostics:
        d = self.graph.diagnostics.copy()
        d.extend(self.lowered_graph.diagnostics)
        d.extend(self.options.diagnostics)
        return d

    @property
    def report(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "nircc_version": __version__,
            "source": self.graph.meta.get("source"),
            "target": self.target.name,
            "variant": self.options.variant,
            "dt": self.options.semantics.dt,
            "semantics": self.model_semantics.to_dict(),
            "semantics_source": self.options.resolved.to_dict() if self.options.resolved else None,
            "chip_semantics": self.options.semantics.to_dict(),
            "target_options": dict(sorted(self.options.target_options.items())),
            **self.target.report(self.program),
            "passes": [{"name": r.name, "nodes_before": r.nodes_before, "nodes_after": r.nodes_after}
                       for r in self.passes.log],
            "diagnostics": self.diagnostics.to_list(),
            "fidelity": self.last_fidelity.to_dict() if self.last_fidelity is not None else None,
        }

    def save(self, out_dir: Union[str, os.PathLike]) -> list[Path]:
        """Replace ``out_dir`` with the artifact, the ``--dump-after`` graphs and
        ``report.json`` (whose ``files`` lists them all), atomically: afterwards the directory
        holds exactly this compile's files, or, on failure, what it held before.  A directory
        holding files that nircc did not write is refused (see
        :func:`nircc.util.check_output_dir`)."""
        out = Path(out_dir)
        dumps_ = [r.dumped for r in self.passes.log if r.dumped is not None]
        ours = [d.name for d in dumps_ if d.parent.resolve() == out.resolve()]
        with replace_dir(out, ours) as tmp:
            files = [Path(f).name for f in self.target.emit(self.program, tmp)]
            for d in dumps_:
                shutil.copyfile(d, tmp / d.name)
                files.append(d.name)
            files.append(MANIFEST)
            (tmp / MANIFEST).write_text(dumps({**self.report, "files": sorted(files)}))
        return [out / f for f in files]

    # -------------------------------------------------------------- running
    def _inputs(self, inputs: Any) -> dict[str, np.ndarray]:
        return coerce_inputs(self.graph, inputs, lead="TB")

    def emulate(self, inputs: Any, record: bool = False) -> "_backends.EmulatorResult":
        """Run the chip emulator on NIR-shaped inputs (Input name -> ``[T, B, *shape]``
        spike counts; a bare array for a single Input); outputs keyed by Output name."""
        return self.target.run(self.program, self._inputs(inputs), record=record)

    def simulate(self, inputs: Any, record: Any = False, chip_rules: bool = False):
        """The float reference simulator on the loaded graph with the model's semantics (as
        exported), or with the rules the chip runs (``chip_rules=True``)."""
        sem = self.options.semantics if chip_rules else self.model_semantics
        return simulate(self.graph, self._inputs(inputs), semantics=sem, record=record)

    def fidelity(self, inputs: Any, labels: Any = None, decision: str = "mean",
                 description: str = "") -> _fid.FidelityReport:
        """The chip emulator against the model as exported, on the same inputs, and, where
        the chip runs other rules, against the reference with the chip's rules (the loss
        split into rule change and quantization); per-layer activity and flags (see
        :mod:`nircc.fidelity`).  ``labels`` (``[B]`` class indices) add accuracies;
        ``decision`` is the rule of membrane read-outs ("mean", "max", "last")."""
        if decision not in _fid.DECISIONS:
            raise NirccError(f"decision must be one of {', '.join(_fid.DECISIONS)}, got {decision!r}",
                             field="decision")
        arrays = self._inputs(inputs)
        steps, batch = next(iter(arrays.values())).shape[:2]
        labels = _fid.check_labels(labels, batch)
        g = self.graph
        spiking_nodes = [n for n in g.nodes if g.type(n) in _fid.SPIKING[:3]]
        leaky = [n for n in g.nodes if g.type(n) in ("LI", "LIF", "CubaLI", "CubaLIF", "I", "IF")]
        ref = self.simulate(arrays, record=leaky)
        lat = self.target.latency(self.program)
        chip = self.target.run(self.program, _fid.pad_steps(arrays, max(lat.values(), default=0)), record=True)
        aligned = _fid.align(chip.outputs, lat, steps)
        spiking = {o: g.type(g.predecessors(o)[0]) in _fid.SPIKING for o in g.outputs}
        rep = _fid.compare(ref.outputs, aligned, lat, self.model_semantics.to_dict(), spiking, decision, labels)
        rep.input = description
        thresholds = {n: float(np.max(np.abs(np.asarray(g.op(n).v_threshold, np.float64))))
                      for n in spiking_nodes if getattr(g.op(n), "v_threshold", None) is not None}
        rule_states = None
        if self.options.semantics.differences(self.model_semantics):
            rule = self.simulate(arrays, record=leaky, chip_rules=True)
            rule_states = {n: rule.states[n] for n in leaky if n in rule.states}
            rep.chip_semantics = self.options.semantics.to_dict()
            for o in (g.outputs if _fid.divergence(rule_states, thresholds) is None else ()):
                rep.chip_rules[o] = _fid.compare_output(o, rule.outputs[o], aligned[o], spiking[o], lat.get(o, 0),
                                                        decision, labels)
                rep.rules_only[o] = _fid.compare_output(o, ref.outputs[o], rule.outputs[o], spiking[o], 0,
                                                        decision, labels)
        chip_layers = self.target.layer_spikes(self.program, chip)
        rep.layers = _fid.activity({n: ref.states[n]["output"] for n in spiking_nodes if n in ref.states},
                                   chip_layers)
        rep.flags = _fid.flags(rep, ref.outputs, {n: ref.states[n] for n in leaky if n in ref.states}, thresholds,
                               rule_states)
        self.last_fidelity = rep
        return rep

    def probe_inputs(self, steps: int = 200, batch: int = 4, rate: float = 0.1, seed: int = 0) -> dict:
        """Deterministic random spike trains shaped for this graph's inputs."""
        return _fid.poisson_inputs({n: self.graph.out_shape(n) for n in self.graph.inputs},
                                   steps, batch, rate, seed)


def compile(source: Any, target: str = "xylo", *, variant: Optional[str] = None, dt: Optional[float] = None,
            semantics: Union[None, str, Semantics] = None, options: Optional[dict] = None,
            dump_after: Sequence[str] = (), dump_dir: Union[None, str, os.PathLike] = None,
            time_passes: bool = False, strict: bool = False) -> CompileResult:
    """Compile a NIR graph (a ``.nir`` path, a ``nir.NIRGraph`` or a :class:`Graph`).

    target:     a registered target name (``nircc.backends.base.names()``: the built-in xylo, speck,
                loihi, spinnaker2, and any registered plug-in)
    variant:    the chip variant (default: the target's default)
    dt:         seconds; None: detected from the file's parameters, else 1e-3 with a warning
    semantics:  a preset name ("snntorch", ...), a :class:`Semantics` or a dict of its options
                (:meth:`Semantics.coerce`); default: the preset of the exporter detected from
                the file, else NIR's (:func:`nircc.provenance.resolve_semantics`).  Rules the
                chip cannot realise are replaced by its closest, with a warning
                (:meth:`Target.realise_semantics`); the reference keeps the model's.
    options:    target-specific options (see the target's documentation)
    """
    g = load(source, strict=strict)
    tgt = _backends.get(target)
    v = tgt.resolve_variant(variant)
    spec = tgt.spec(v)
    resolved = resolve_semantics(g, semantics, dt)
    g = resolved.graph
    diags = resolved.diagnostics.copy()
    opts = CompileOptions(target=tgt.name, variant=v, semantics=resolved.semantics,
                          target_options=dict(options or {}), diagnostics=diags,
                          model_semantics=resolved.semantics, resolved=resolved, backend=tgt)
    opts.semantics, sem_diags = tgt.realise_semantics(g, resolved.semantics, opts)
    diags.extend(sem_diags)
    pm = PassManager(tgt.pipeline(opts), dump_after=dump_after, dump_dir=dump_dir, time_passes=time_passes)
    piped = pm.run(g)
    program = tgt.lower(piped.graph, spec, opts)
    return CompileResult(target=tgt, spec=spec, options=opts, graph=g, lowered_graph=piped.graph,
                         program=program, passes=piped)
