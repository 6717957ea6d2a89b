"""The ToyChip artifact: one file, ``toy.json``, the program's :meth:`~.program.ToyProgram.to_dict`
as deterministic JSON (:func:`nircc.util.dumps`), so the same program gives the same bytes."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Union

from nircc.errors import NirccError
from nircc.util import dumps

from .program import ToyProgram

ARTIFACT = "toy.json"


def emit(program: ToyProgram, out_dir: Union[str, os.PathLike]) -> list[Path]:
    """Write ``toy.json`` into ``out_dir``; returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ARTIFACT).write_text(dumps(program.to_dict()))
    return [out / ARTIFACT]


def load_program(path: Union[str, os.PathLike]) -> ToyProgram:
    """The program of an emitted folder (or its ``toy.json``); NirccError for anything else."""
    p = Path(path)
    p = p / ARTIFACT if p.is_dir() else p
    if not p.is_file():
        raise NirccError(f"no ToyChip artifact ({ARTIFACT}) at {str(p)!r}", field="path")
    try:
        doc = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise NirccError(f"{str(p)!r} is not readable JSON: {e}", field="path") from None
    return ToyProgram.from_dict(doc, repr(str(p)))
