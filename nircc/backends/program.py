"""One header and one version policy for every program and artifact nircc writes.

Every chip's ``Program.to_dict()`` and the main JSON file of every artifact start with the
same five keys (:func:`header`):

============== ==============================================================
key            value
============== ==============================================================
schema         ``"nircc.<target>"`` (artifact) or ``"nircc.<target>.program"``
schema_version an integer, raised whenever a reader of the previous one would
               misread the new one
nircc_version  the nircc that wrote it
variant        the chip variant
dt             seconds per step (the compile's dt)
============== ==============================================================

The policy (:func:`read_header`): the schema must be the reader's; the version must be one
it reads (its own and the older ones it lists).  A newer version is refused with "written
by a newer nircc", an unknown one with the versions this nircc reads.  Documents written
before this header (``"format": "nircc.loihi/1"``, ``"format"`` + ``"format_version"``) are
read through ``legacy``: the formats a reader still accepts, mapped to their version.

The report of a compile (resources, quantization, fidelity) lives beside the program, as
``program.report`` and in ``report.json``, never inside the program's document.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from .._version import __version__
from ..errors import ErrorCollector, NirccError

HEADER_KEYS = ("schema", "schema_version", "nircc_version", "variant", "dt")


def header(schema: str, version: int, variant: str, dt: Optional[float]) -> dict[str, Any]:
    """The five header keys (module docstring), in order."""
    return {"schema": schema, "schema_version": int(version), "nircc_version": __version__,
            "variant": variant, "dt": None if dt is None else float(dt)}


def check_header(variant: str, dt: Optional[float], spec_name: str, errs: ErrorCollector,
                 dt_field: str = "dt") -> None:
    """The header's own checks, the same for every program: built for the variant it is
    checked against, and ``dt`` (when given) a positive number of seconds."""
    if variant != spec_name:
        errs.add(f"program built for {variant!r}, checked against {spec_name!r}", None, "variant")
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        errs.add(f"{dt_field} {dt} must be a positive number of seconds", None, dt_field)


def read_header(doc: Any, schema: str, reads: tuple[int, ...], what: str,
                legacy: Optional[Mapping[tuple[str, Optional[int]], int]] = None) -> int:
    """The schema version of ``doc`` if this nircc reads it, else a NirccError naming ``what``
    (a file or "a Loihi program").  ``reads``: the versions read, newest last; ``legacy``:
    ``(format, format_version or None) -> version`` of the documents written before the
    header."""
    if not isinstance(doc, Mapping):
        raise NirccError(f"{what} is not a JSON object (got {type(doc).__name__})", field="schema")
    if "schema" not in doc and legacy:
        key = (doc.get("format"), doc.get("format_version"))
        if key in legacy:
            return legacy[key]
        if (doc.get("format"), None) in legacy:
            return legacy[(doc.get("format"), None)]
    got = doc.get("schema", doc.get("format"))
    if got != schema:
        raise NirccError(f"{what} is not a {schema} document (schema {got!r})", field="schema")
    version = doc.get("schema_version")
    if type(version) is not int:
        raise NirccError(f"{what}: schema_version {version!r} is not an integer", field="schema_version")
    if version > max(reads):
        raise NirccError(f"{what}: {schema} version {version} was written by a newer nircc "
                         f"({doc.get('nircc_version')}); this nircc ({__version__}) reads versions "
                         f"{', '.join(map(str, reads))}", field="schema_version")
    if version not in reads:
        raise NirccError(f"{what}: {schema} version {version} is not one this nircc reads "
                         f"({', '.join(map(str, reads))})", field="schema_version")
    return version
