"""Errors and diagnostics.

User mistakes (a file that is not NIR, a parameter a chip cannot hold, ...) raise
:class:`NirccError`, whose message names the node, the field and the limit.  Several
independent mistakes found in one sweep are raised together as :class:`NirccErrors`, so
the user sees all of them at once.  Internal bugs are left as ordinary exceptions with
their traceback.

Things that are repaired or approximated (a scalar broadcast to a layer, a time constant
realised by a bit shift, a weight clipped) are not errors: they are collected as
:class:`Diagnostic` records in a :class:`Diagnostics` list that travels with the graph
and ends up in every report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Optional


def _where(node: Optional[str], field: Optional[str]) -> str:
    parts = []
    if node is not None:
        parts.append(f"node '{node}'")
    if field is not None:
        parts.append(f"field '{field}'")
    return ", ".join(parts)


class NirccError(Exception):
    """A mistake in the user's input: names the node, the field and the reason."""

    def __init__(
        self,
        message: str,
        node: Optional[str] = None,
        field: Optional[str] = None,
        *,
        code: Optional[str] = None,
    ) -> None:
        self.message = message
        self.node = node
        self.field = field
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        where = _where(self.node, self.field)
        return f"{where}: {self.message}" if where else self.message

    @property
    def errors(self) -> list["NirccError"]:
        return [self]

    def to_dict(self) -> dict:
        return {"node": self.node, "field": self.field, "code": self.code, "message": self.message}


class NirccErrors(NirccError):
    """Several independent errors, reported together (one line each)."""

    def __init__(self, errors: Iterable[NirccError]) -> None:
        flat: list[NirccError] = []
        for e in errors:
            flat.extend(e.errors)
        if not flat:
            raise ValueError("NirccErrors needs at least one error")
        self._errors = flat
        first = flat[0]
        super().__init__(first.message, first.node, first.field, code=first.code)

    @property
    def errors(self) -> list[NirccError]:
        return list(self._errors)

    def __str__(self) -> str:
        return "\n".join(NirccError.__str__(e) for e in self._errors)


class ErrorCollector:
    """Collects errors during a sweep and raises them together at the end.

    >>> errs = ErrorCollector()
    >>> errs.add("tau must be > 0", node="lif1", field="tau")
    >>> errs.raise_if_any()
    Traceback (most recent call last):
    ...
    nircc.errors.NirccErrors: node 'lif1', field 'tau': tau must be > 0
    """

    def __init__(self) -> None:
        self.errors: list[NirccError] = []

    def add(self, message: str, node: Optional[str] = None, field: Optional[str] = None,
            *, code: Optional[str] = None) -> None:
        self.errors.append(NirccError(message, node, field, code=code))

    def extend(self, err: NirccError) -> None:
        self.errors.extend(err.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise NirccErrors(self.errors)


@dataclass(frozen=True)
class Diagnostic:
    """A repair, approximation or note, shown in reports.

    level:   "warning" (something was changed or approximated) or "info".
    code:    a short stable identifier, e.g. "broadcast-scalar", "tau-approximated".
    stage:   where it was raised: "load", a pass name, or a backend name.
    """

    level: str
    code: str
    message: str
    node: Optional[str] = None
    field: Optional[str] = None
    stage: Optional[str] = None

    def __str__(self) -> str:
        where = _where(self.node, self.field)
        return f"{self.level}: {where}: {self.message}" if where else f"{self.level}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class Diagnostics:
    """An ordered list of :class:`Diagnostic` records (no duplicates)."""

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items: list[Diagnostic] = []
        self._seen: set[Diagnostic] = set()
        for d in items:
            self.add(d)

    def add(self, d: Diagnostic) -> None:
        if d not in self._seen:
            self._seen.add(d)
            self._items.append(d)

    def warn(self, code: str, message: str, node: Optional[str] = None,
             field: Optional[str] = None, stage: Optional[str] = None) -> None:
        self.add(Diagnostic("warning", code, message, node, field, stage))

    def info(self, code: str, message: str, node: Optional[str] = None,
             field: Optional[str] = None, stage: Optional[str] = None) -> None:
        self.add(Diagnostic("info", code, message, node, field, stage))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        for d in other:
            self.add(d)

    def copy(self) -> "Diagnostics":
        return Diagnostics(self._items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Diagnostic:
        return self._items[i]

    def warnings(self) -> list[Diagnostic]:
        return [d for d in self._items if d.level == "warning"]

    def with_code(self, code: str) -> list[Diagnostic]:
        return [d for d in self._items if d.code == code]

    def to_list(self) -> list[dict]:
        return [d.to_dict() for d in self._items]
