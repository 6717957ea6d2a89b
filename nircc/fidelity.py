"""Fidelity: how much of the model the user trained survives on the chip.

The reference is the float simulator (:func:`nircc.sim.simulate`) on the graph as loaded,
with the semantics of the model *as exported* (the detected exporter's preset or the user's
choice: :func:`nircc.provenance.resolve_semantics`).  Where the chip runs other rules (a
reset or spike rule it cannot realise: :meth:`Target.realise_semantics`), the reference is
run a second time with the chip's rules, which splits the loss in two: what the rule change
costs (model vs chip-rule reference) and what quantization and mapping cost (chip-rule
reference vs chip).

The chip emulator runs the same inputs, padded with ``L`` zero steps where an output lags
by ``L`` steps (:meth:`Target.latency`); its steps ``L .. L+T-1`` are compared with the
reference's ``0 .. T-1``.  Metrics, per output (docs/fidelity.md):

* **decision agreement**: the fraction of samples whose decision is the same, the decision
  being the argmax over the output's neurons (ties: the lowest index) of the spike counts
  summed over time (spiking outputs), or of the membrane read-out reduced over time by
  ``decision`` ("mean" by default, or "max", "last"); with labels, the accuracy of each;
* **spike-count agreement**: ``1 - sum |c_ref - c_chip| / max(1, sum (c_ref + c_chip))`` over
  the per-neuron, per-sample counts (1.0: every neuron fired as often);
* **per-step agreement**: the fraction of (step, sample, neuron) entries with the same count;
* **first divergence**: the first step at which any entry differs (``None``: never);
* for membrane read-outs, the Pearson **correlation** of the two traces (units differ).

Per layer (each spiking node of the graph), the firing rate of the reference and, where the
emulator records the layer (:meth:`Target.layer_spikes`), of the chip, with the neurons that
never fire and those that fire in the reference but never on the chip.

**Flags** say when a percentage means nothing or hides a loss; they are printed before any
figure: ``silent-reference`` (the reference output never fires: a silent chip would agree
100 %), ``silent-chip``, ``diverged-reference`` (non-finite or exploding state or spike
counts), ``diverged-chip-rules`` (the same for the reference with the chip's rules: the split
into rules and quantization is then not given), ``dead-neurons`` (neurons that fire in the reference but never on the chip),
``saturated-neurons`` (fire in at least 90 % of the chip's steps, under half as often in the
reference), ``silent-layer`` (a layer that never fires in the reference on this input).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .util import to_jsonable

#: decision rules of membrane read-outs (spiking outputs always use the summed counts)
DECISIONS = ("mean", "max", "last")
#: a state above this (times max(1, |threshold|)) or this many spikes per neuron and step
#: means the reference diverged
EXPLODE_STATE = 1e6
EXPLODE_SPIKES = 1e3
#: a chip neuron firing in at least this fraction of its steps is saturated (if the reference
#: fires it less than half as often)
SATURATED = 0.9
SPIKING = ("IF", "LIF", "CubaLIF", "Threshold")


@dataclass
class OutputFidelity:
    name: str
    latency: int
    spiking: bool
    samples: int = 0
    decision_agreement: Optional[float] = None
    ref_accuracy: Optional[float] = None
    chip_accuracy: Optional[float] = None
    ref_spikes: int = 0
    chip_spikes: int = 0
    count_agreement: Optional[float] = None
    step_agreement: Optional[float] = None
    first_divergence: Optional[int] = None
    correlation: Optional[float] = None

    def to_dict(self) -> dict:
        return to_jsonable(self.__dict__)

    def line(self) -> str:
        dec = "n/a" if self.decision_agreement is None else \
            f"{round(self.decision_agreement * self.samples)}/{self.samples} ({self.decision_agreement:.1%})"
        parts = [f"decisions {dec}"] if self.spiking else [f"membrane read-out, decisions {dec}"]
        if self.ref_accuracy is not None:
            parts.append(f"accuracy {self.ref_accuracy:.1%} reference, {self.chip_accuracy:.1%} chip")
        if self.spiking:
            first = "never" if self.first_divergence is None else f"step {self.first_divergence}"
            parts.append(f"spike counts {self.count_agreement:.1%} ({_count(self.ref_spikes)} reference vs "
                         f"{_count(self.chip_spikes)} chip spikes)")
            parts.append(f"per step {self.step_agreement:.1%}, first divergence {first}")
        else:
            parts.append("correlation " + ("n/a" if self.correlation is None else f"{self.correlation:.3f}"))
        return ", ".join(parts)


@dataclass
class LayerActivity:
    node: str
    neurons: int
    ref_rate: float                      # spikes per neuron and step
    ref_silent: int                      # neurons that never fire in the reference
    chip_rate: Optional[float] = None    # None: the emulator does not record this layer
    chip_silent: Optional[int] = None
    dead: Optional[int] = None           # fire in the reference, never on the chip
    saturated: Optional[int] = None      # fire in >= 90 % of the chip's steps, under half as often in the reference

    def to_dict(self) -> dict:
        return to_jsonable(self.__dict__)


@dataclass
class Flag:
    code: str
    message: str
    node: Optional[str] = None

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "node": self.node}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class FidelityReport:
    steps: int
    batch: int
    semantics: dict                                   # the model's (as exported)
    outputs: dict[str, OutputFidelity] = field(default_factory=dict)   # chip vs the model
    chip_semantics: Optional[dict] = None             # set where the chip runs other rules
    chip_rules: dict[str, OutputFidelity] = field(default_factory=dict)   # chip vs chip-rule reference
    rules_only: dict[str, OutputFidelity] = field(default_factory=dict)   # chip-rule vs model reference
    layers: list[LayerActivity] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    input: str = ""                                   # what the inputs were
    decision: str = "mean"

    @property
    def decision_agreement(self) -> Optional[float]:
        """The lowest decision agreement over the outputs (the figure ``--min-agreement`` gates)."""
        vals = [o.decision_agreement for o in self.outputs.values() if o.decision_agreement is not None]
        return min(vals) if vals else None

    @property
    def meaningless(self) -> list[Flag]:
        """The flags under which no agreement figure can be trusted."""
        return [f for f in self.flags if f.code in ("silent-reference", "diverged-reference", "silent-chip")]

    def to_dict(self) -> dict:
        return {"steps": self.steps, "batch": self.batch, "input": self.input, "decision": self.decision,
                "semantics": self.semantics, "chip_semantics": self.chip_semantics,
                "decision_agreement": self.decision_agreement,
                "flags": [f.to_dict() for f in self.flags],
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
                "chip_rules": {k: v.to_dict() for k, v in self.chip_rules.items()},
                "rules_only": {k: v.to_dict() for k, v in self.rules_only.items()},
                "layers": [x.to_dict() for x in self.layers]}

    def summary(self) -> str:
        name = self.semantics.get("preset_name") or "the model"
        lines = [f"fidelity ({self.steps} steps x {self.batch} samples of {self.input or 'the given input'}; "
                 "metrics defined in docs/fidelity.md):"]
        for f in self.flags:
            lines.append(f"  FLAG {f}")
        for o in self.outputs.values():
            lag = f"; chip output {o.latency} step(s) late, aligned" if o.latency else ""
            lines.append(f"  {o.name}, chip vs {name} as exported{lag}: {o.line()}")
        if self.chip_semantics is not None:
            diff = ", ".join(f"{k} {v}" for k, v in self.chip_semantics.items()
                             if k != "preset_name" and self.semantics.get(k) != v)
            if any(f.code == "diverged-chip-rules" for f in self.flags):
                lines.append(f"  split: not given: the model diverges under the chip's rules ({diff}), see the flag")
            for k, o in self.chip_rules.items():
                r = self.rules_only[k]
                lines.append(f"  {k}, split: the chip's rules alone ({diff}) keep "
                             f"{_pct(r.decision_agreement)} of decisions; quantization and mapping alone "
                             f"{_pct(o.decision_agreement)}")
        for lay in self.layers:
            chip = "not recorded" if lay.chip_rate is None else f"{lay.chip_rate:.3f}"
            dead = (f", {lay.dead} dead on chip" if lay.dead else "") + \
                (f", {lay.saturated} saturated on chip" if lay.saturated else "")
            lines.append(f"  layer {lay.node} ({lay.neurons} neurons): spikes/neuron/step reference "
                         f"{lay.ref_rate:.3f}, chip {chip}{dead}")
        return "\n".join(lines)


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _count(n: int) -> str:
    s = str(n)
    return s if len(s) <= 12 else f"{s[:3]}...({len(s)} digits)"


def check_labels(labels: Any, batch: int, what: str = "labels", field: str = "labels") -> Optional[np.ndarray]:
    """``labels`` as ``[B]`` integer class indices, or a NirccError naming ``what``."""
    if labels is None:
        return None
    from .errors import NirccError

    arr = np.asarray(labels)
    if arr.dtype.kind not in "iub" or arr.reshape(-1).shape != (batch,):
        raise NirccError(f"{what} must be {batch} integer class indices (one per sample), got {arr.dtype} "
                         f"{list(arr.shape)}", field=field)
    return arr.reshape(-1)


def _is_spiking(ref: np.ndarray) -> bool:
    return bool(np.all(np.equal(np.mod(ref, 1), 0)) and np.all(ref >= 0))


def decisions(y: np.ndarray, spiking: bool, rule: str = "mean") -> np.ndarray:
    """Per-sample decisions ``[B]`` of an output ``[T, B, *shape]`` (module docstring)."""
    y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], y.shape[1], -1)
    if spiking or rule == "mean":
        score = y.sum(axis=0)
    elif rule == "max":
        score = y.max(axis=0)
    elif rule == "last":
        score = y[-1]
    else:
        raise ValueError(f"unknown decision rule {rule!r}")
    return np.argmax(score, axis=-1) if score.shape[-1] else np.zeros(score.shape[0], np.int64)


def compare_output(name: str, ref: np.ndarray, chip: np.ndarray, spiking: bool, latency: int = 0,
                   decision: str = "mean", labels: Optional[np.ndarray] = None) -> OutputFidelity:
    """All metrics of one output (``chip`` aligned to the reference's steps)."""
    ref = np.asarray(ref, dtype=np.float64)
    chip = np.asarray(chip, dtype=np.float64)
    o = OutputFidelity(name=name, latency=int(latency), spiking=spiking, samples=int(ref.shape[1]))
    d_ref, d_chip = decisions(ref, spiking, decision), decisions(chip, spiking, decision)
    if d_ref.size:
        o.decision_agreement = float(np.mean(d_ref == d_chip))
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        o.ref_accuracy, o.chip_accuracy = float(np.mean(d_ref == lab)), float(np.mean(d_chip == lab))
    if spiking:
        with np.errstate(over="ignore", invalid="ignore"):
            c_ref, c_chip = np.nan_to_num(ref).sum(axis=0), np.nan_to_num(chip).sum(axis=0)
            o.ref_spikes, o.chip_spikes = _int(c_ref.sum()), _int(c_chip.sum())
            total = float((c_ref + c_chip).sum())
            o.count_agreement = float(1.0 - np.abs(c_ref - c_chip).sum() / max(1.0, total)) \
                if np.isfinite(total) else 0.0
        eq = ref == chip
        o.step_agreement = float(eq.mean()) if eq.size else 1.0
        bad = np.flatnonzero(~eq.reshape(eq.shape[0], -1).all(axis=1))
        o.first_divergence = int(bad[0]) if bad.size else None
    else:
        a, b = ref.ravel(), chip.ravel()
        if np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a.std() > 0 and b.std() > 0:
            o.correlation = float(np.corrcoef(a, b)[0, 1])
    return o


def _int(x: float) -> int:
    return int(x) if np.isfinite(x) else -1


def compare(ref_outputs: dict[str, np.ndarray], chip_outputs: dict[str, np.ndarray],
            latency: dict[str, int], semantics: dict, spiking: Optional[dict[str, bool]] = None,
            decision: str = "mean", labels: Optional[np.ndarray] = None) -> FidelityReport:
    """Compare aligned outputs (``chip`` already shifted to the reference's steps)."""
    any_ref = next(iter(ref_outputs.values()))
    rep = FidelityReport(steps=int(any_ref.shape[0]), batch=int(any_ref.shape[1]), semantics=semantics,
                         decision=decision)
    for name, ref in ref_outputs.items():
        spk = spiking[name] if spiking and name in spiking else _is_spiking(np.nan_to_num(ref))
        rep.outputs[name] = compare_output(name, ref, chip_outputs[name], spk, latency.get(name, 0), decision,
                                           labels)
    return rep


def activity(ref_spikes: dict[str, np.ndarray], chip_spikes: dict[str, np.ndarray]) -> list[LayerActivity]:
    """Per layer: ``ref_spikes[node]`` is ``[T, B, *shape]`` of the reference, ``chip_spikes``
    the chip's (its own steps, lag included) for the layers the emulator records."""
    out = []
    for node, r in ref_spikes.items():
        r = np.nan_to_num(np.asarray(r, dtype=np.float64)).reshape(r.shape[0], r.shape[1], -1)
        per_ref = r.sum(axis=(0, 1))
        steps = max(1, r.shape[0] * r.shape[1])
        lay = LayerActivity(node=node, neurons=int(r.shape[2]),
                            ref_rate=float(per_ref.sum() / steps / max(1, r.shape[2])),
                            ref_silent=int(np.count_nonzero(per_ref == 0)))
        c = chip_spikes.get(node)
        if c is not None:
            c = np.asarray(c, dtype=np.float64).reshape(c.shape[0], c.shape[1], -1)
            if c.shape[2] == r.shape[2]:
                per_chip = c.sum(axis=(0, 1))
                lay.chip_rate = float(per_chip.sum() / max(1, c.shape[0] * c.shape[1]) / max(1, c.shape[2]))
                lay.chip_silent = int(np.count_nonzero(per_chip == 0))
                lay.dead = int(np.count_nonzero((per_ref > 0) & (per_chip == 0)))
                busy = (c > 0).sum(axis=(0, 1)) >= SATURATED * c.shape[0] * c.shape[1]
                lay.saturated = int(np.count_nonzero(busy & (per_ref * c.shape[0] < 0.5 * per_chip * r.shape[0])))
        out.append(lay)
    return out


def divergence(states: dict[str, dict[str, np.ndarray]], thresholds: dict[str, float]) -> Optional[tuple[str, str]]:
    """``(node, what)`` of the first node whose recorded states diverge (module docstring:
    non-finite, a state above ``EXPLODE_STATE * max(1, |threshold|)``, or more than
    ``EXPLODE_SPIKES`` spikes in one step), else None."""
    for node, sts in states.items():
        scale = EXPLODE_STATE * max(1.0, thresholds.get(node, 1.0))
        for key, a in sts.items():
            a = np.asarray(a)
            finite = np.all(np.isfinite(a))
            big = float(np.max(np.abs(a))) if finite and a.size else 0.0
            spikes_big = key == "output" and node in thresholds and big > EXPLODE_SPIKES
            if not finite or (key != "output" and big > scale) or spikes_big:
                return node, ("non-finite values" if not finite else
                              f"{big:.3g} spikes in one step" if key == "output" else f"|{key}| up to {big:.3g}")
    return None


def flags(rep: FidelityReport, ref_outputs: dict[str, np.ndarray], ref_states: dict[str, dict[str, np.ndarray]],
          thresholds: dict[str, float], rule_states: Optional[dict[str, dict[str, np.ndarray]]] = None) -> list[Flag]:
    """The flags of a report (module docstring), most serious first; ``rule_states`` are the
    states of the reference with the chip's rules, where the report has a split."""
    out: list[Flag] = []
    div = divergence(ref_states, thresholds)
    if div:
        out.append(Flag("diverged-reference", f"the reference diverges in {div[0]!r} ({div[1]}): the model as "
                        "simulated is unstable with these semantics (check dt and the semantics preset); "
                        "no agreement figure is meaningful", div[0]))
    div = divergence(rule_states, thresholds) if rule_states is not None else None
    if div:
        out.append(Flag("diverged-chip-rules", f"the reference with the chip's rules diverges in {div[0]!r} "
                        f"({div[1]}): the model cannot run under the chip's rules, so the loss cannot be split "
                        "into rules and quantization (no split figure is given)", div[0]))
    for name, o in rep.outputs.items():
        ref = np.nan_to_num(np.asarray(ref_outputs[name], dtype=np.float64))
        silent = (o.ref_spikes == 0) if o.spiking else bool(np.all(ref == ref.reshape(-1)[0])) if ref.size else True
        if silent:
            out.append(Flag("silent-reference", f"the reference output {name!r} never "
                            f"{'fires' if o.spiking else 'changes'} on this input: the agreement figures compare "
                            "two silent networks (check dt, the semantics and the input)", name))
        elif o.spiking and o.chip_spikes == 0:
            out.append(Flag("silent-chip", f"the chip's output {name!r} never fires ({o.ref_spikes} reference spikes)",
                            name))
    for lay in rep.layers:
        if lay.dead:
            out.append(Flag("dead-neurons", f"{lay.dead} of {lay.neurons} neurons of {lay.node!r} fire in the "
                            "reference but never on the chip", lay.node))
        if lay.saturated:
            out.append(Flag("saturated-neurons", f"{lay.saturated} of {lay.neurons} neurons of {lay.node!r} fire in "
                            "at least 90 % of the chip's steps, under half as often in the reference", lay.node))
        if lay.ref_silent == lay.neurons and lay.neurons:
            out.append(Flag("silent-layer", f"layer {lay.node!r} never fires in the reference on this input", lay.node))
    return out


def poisson_inputs(shapes: dict[str, tuple[int, ...]], steps: int, batch: int = 1, rate: float = 0.1,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic Bernoulli spike trains ``[T, B, *shape]`` (uint8) for a fidelity probe."""
    rng = np.random.default_rng(seed)
    return {name: (rng.random((steps, batch) + tuple(shape)) < rate).astype(np.uint8)
            for name, shape in sorted(shapes.items())}


def pad_steps(inputs: dict[str, np.ndarray], extra: int) -> dict[str, np.ndarray]:
    if extra <= 0:
        return inputs
    return {k: np.concatenate([v, np.zeros((extra,) + v.shape[1:], dtype=v.dtype)]) for k, v in inputs.items()}


def align(chip_outputs: dict[str, np.ndarray], latency: dict[str, int], steps: int) -> dict[str, Any]:
    return {k: v[latency.get(k, 0): latency.get(k, 0) + steps] for k, v in chip_outputs.items()}
