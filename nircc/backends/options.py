"""Target options as data: each target lists its :class:`Option` s (name, default, kind,
allowed values, one line of docs) and :func:`parse_options` reads and checks them for every
target the same way (unknown names, wrong types, values out of range: one error each,
naming the option).  ``Target.option_names`` and ``--option`` come from the same list."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import ErrorCollector

KINDS = ("choice", "int", "number", "bool", "any")


@dataclass(frozen=True)
class Option:
    """One target option.  ``kind``: ``choice`` (one of ``choices``, type included: ``True`` is
    not ``1``), ``int`` or ``number`` (in ``lo .. hi``, ``lo`` excluded when ``lo_open``),
    ``bool``, or ``any`` (checked by the lowering).  ``default=None`` with ``kind`` int or
    number means "not given" (the lowering decides)."""

    name: str
    default: Any
    doc: str
    kind: str = "any"
    choices: tuple = ()
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name!r}: kind must be one of {KINDS}")

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused (None: accepted)."""
        if self.kind == "choice":
            if any(value == c and type(value) is type(c) for c in self.choices):
                return None
            return f"{value!r} not in {list(self.choices)}"
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{value!r} must be true or false"
        if self.kind in ("int", "number"):
            if value is None and self.default is None:
                return None
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            whole = isinstance(value, int) and not isinstance(value, bool)
            inside = number and math.isfinite(value) and (value > self.lo if self.lo_open else value >= self.lo) \
                and value <= self.hi
            if (whole if self.kind == "int" else number) and inside:
                return None
            return f"{value!r} must be {self.describe()}"
        return None

    def describe(self) -> str:
        what = "an integer" if self.kind == "int" else "a number"
        if self.hi == math.inf:
            if self.lo == 0:
                return f"a positive {what.split()[-1]}" if self.lo_open else f"a non-negative {what.split()[-1]}"
            return f"{what} {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.kind == "int" and not self.lo_open:
            return f"{what} in {self.lo:g}..{self.hi:g}"
        return f"{what} in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"


def parse_options(raw: Mapping[str, Any] | None, options: Iterable[Option], target: str,
                  errs: ErrorCollector) -> dict[str, Any]:
    """The options with their defaults, each given value checked; every problem goes into
    ``errs`` (field: the option's name, code ``option``)."""
    spec = {o.name: o for o in options}
    raw = dict(raw or {})
    for k in sorted((str(k) for k in raw if k not in spec), key=str):
        errs.add(f"unknown {target} option (known: {', '.join(spec)})", field=k, code="option")
    out = {name: o.default for name, o in spec.items()}
    for name, value in raw.items():
        if name not in spec:
            continue
        why = spec[name].problem(value)
        if why:
            errs.add(why, field=name, code="option")
        out[name] = value
    return out


def option_table(options: Iterable[Option]) -> dict[str, Option]:
    """``name -> Option`` (a target's ``OPTIONS``)."""
    return {o.name: o for o in options}
