"""What a chip's neurons can do, as data: one :class:`Capabilities` per target (beside its
limits in ``<chip>/spec.py``), read by the one semantics policy
(:meth:`nircc.backends.base.Target.realise_semantics`), by the one node-type check every
lowering calls (:func:`check_node_types`), by ``nircc info --target`` and by the
legalization passes that rewrite a graph into a form the chip runs exactly.

Fields (the words are for people; the tuples and numbers are what code reads):

* ``nodes``: NIR node type -> what it becomes on the chip; every type a lowering takes
  (``Input`` and ``Output`` always).  ``unsupported``: type -> why the chip cannot run it
  (the error names it; a type in neither table is refused with "no mapping").
* ``rules``: semantics option -> the values the chip realises, the first the closest stand-in
  for the others (options not listed: every value is realised exactly, by the lowering);
  ``rule_words``: how the chip's rule reads in the ``semantics-approximated`` warning where
  it differs from :data:`RULE_WORDS`.
* ``threshold``: the chip's native comparison (``">"`` or ``">="``; on integers the other
  one is exact through ``threshold +/- 1``); ``resets``: the native reset rules
  (``"subtract"``, ``"zero"``, ``"to_v_reset"``), applied in the spike's step.
* ``bias``: where a bias enters (``"membrane"``: added to ``v`` every step;
  ``"membrane-per-tick"``: every slow-clock tick; ``"none"``).
* ``per_neuron`` / ``per_layer``: which neuron parameters may differ neuron by neuron, and
  which the chip holds once per layer (population, core).
* ``decay``: the form of the leak (``"bit-shift"``, ``"fixed-point-12"``, ``"float32"``,
  ``"none"``); ``delay_steps``: the longest native synaptic delay in steps (0: none);
  ``recurrent``: whether a population may feed itself.
* ``formats``: quantity -> number format (bits, sign, shift), as in docs/targets/<chip>.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..errors import ErrorCollector

DECAYS = ("bit-shift", "fixed-point-12", "float32", "none")
BIASES = ("membrane", "membrane-per-tick", "none")
RESETS = ("subtract", "zero", "to_v_reset")
#: how the common chip rules read (a chip's ``rule_words`` add to or override these)
RULE_WORDS: dict[tuple[str, str], str] = {
    ("threshold", ">="): "v >= threshold", ("threshold", ">"): "v > threshold",
    ("spike", "single"): "one spike per step", ("reset_timing", "immediate"): "in the spike's step",
    ("reset", "zero"): "v = 0 after a spike", ("reset", "subtract"): "v -= threshold per spike",
    ("v_min", "none"): "no floor on v", ("initial_v", "zero"): "v = 0 at the start",
}


@dataclass(frozen=True)
class Capabilities:
    """What a chip's neurons can do (module docstring)."""

    chip: str
    nodes: Mapping[str, str]
    unsupported: Mapping[str, str] = field(default_factory=dict)
    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rule_words: Mapping[tuple[str, str], str] = field(default_factory=dict)
    threshold: str = ">="
    resets: tuple[str, ...] = ("subtract",)
    bias: str = "membrane"
    per_neuron: tuple[str, ...] = ()
    per_layer: tuple[str, ...] = ()
    decay: str = "none"
    delay_steps: int = 0
    recurrent: bool = False
    formats: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.threshold not in (">", ">="):
            raise ValueError(f"{self.chip}: threshold must be '>' or '>=', got {self.threshold!r}")
        if self.decay not in DECAYS or self.bias not in BIASES or not set(self.resets) <= set(RESETS):
            raise ValueError(f"{self.chip}: decay in {DECAYS}, bias in {BIASES}, resets in {RESETS}")
        both = set(self.nodes) & set(self.unsupported)
        if both:
            raise ValueError(f"{self.chip}: {sorted(both)} both supported and unsupported")

    def words(self, option: str, value: str) -> str:
        """How the chip's rule ``option = value`` reads."""
        return self.rule_words.get((option, value)) or RULE_WORDS.get((option, value)) or repr(value)

    def takes(self, node_type: str) -> bool:
        """Whether a lowering for this chip maps ``node_type``."""
        return node_type in ("Input", "Output") or node_type in self.nodes

    def why_not(self, node_type: str) -> str:
        """The error for a node type the chip cannot run."""
        reason = self.unsupported.get(node_type)
        return f"{self.chip} cannot run {node_type}: {reason}" if reason else \
            f"{self.chip} cannot run {node_type} (no {self.chip} mapping)"

    def to_dict(self) -> dict:
        """JSON-able, for ``nircc info --target`` and reports."""
        return {"chip": self.chip, "nodes": dict(self.nodes), "unsupported": dict(self.unsupported),
                "rules": {k: list(v) for k, v in self.rules.items()}, "threshold": self.threshold,
                "resets": list(self.resets), "bias": self.bias, "per_neuron": list(self.per_neuron),
                "per_layer": list(self.per_layer), "decay": self.decay, "delay_steps": self.delay_steps,
                "recurrent": self.recurrent, "formats": dict(self.formats)}

    def lines(self) -> list[str]:
        """A few lines for people (``nircc info --target``)."""
        width = max(map(len, self.nodes), default=0)
        out = ["  nodes:"] + [f"    {t:<{width}}  {w}" for t, w in self.nodes.items()]
        if self.unsupported:
            out.append("  cannot run: " + ", ".join(self.unsupported))
        delays = f"0..{self.delay_steps} steps" if self.delay_steps else "none"
        out.append(f"  spike when v {self.threshold} threshold; reset: {', '.join(self.resets)}; bias: {self.bias}; "
                   f"decay: {self.decay}; delays: {delays}; recurrent: {'yes' if self.recurrent else 'no'}")
        if self.per_neuron or self.per_layer:
            out.append(f"  per neuron: {', '.join(self.per_neuron) or '-'}; per layer: {', '.join(self.per_layer) or '-'}")
        out += [f"  format of {k}: {v}" for k, v in self.formats.items()]
        return out


def check_node_types(g, caps: Capabilities, errs: ErrorCollector) -> bool:
    """One error per node whose type ``caps`` does not take (code ``unsupported-node``,
    field ``type``); True when every node is taken."""
    ok = True
    for n in g.nodes:
        t = g.type(n)
        if not caps.takes(t):
            errs.add(caps.why_not(t), n, "type", code="unsupported-node")
            ok = False
    return ok
