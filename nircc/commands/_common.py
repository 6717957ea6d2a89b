"""Options and helpers shared by several commands."""
from __future__ import annotations

import argparse
import os
import zipfile
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import NirccError
from ..ir import Graph, load
from ..semantics import CHOICES, PRESETS, Semantics


def add_semantics_args(p: argparse.ArgumentParser) -> None:
    """--dt, --semantics PRESET and one flag per semantics option."""
    p.add_argument("--dt", type=float, help="time step in seconds (default: detected from the file, else 1e-3)")
    p.add_argument("--semantics", choices=sorted(PRESETS), help="start from a framework's conventions")
    for name, values in CHOICES.items():
        p.add_argument("--" + name.replace("_", "-"), choices=values, dest=name,
                       help=f"override the preset ({' | '.join(values)}; NIR default {values[0]})")
    p.add_argument("--strict", action="store_true", help="treat every repair of the reader as an error")


def semantics_from_args(args: argparse.Namespace) -> Optional[dict]:
    """The ``semantics=`` argument of the flags given: None (none given: the detected
    exporter's preset), or the options, with ``"preset"`` when ``--semantics`` is given
    (:func:`nircc.provenance.resolve_semantics`).  Checked here, before any work."""
    options = {name: getattr(args, name) for name in CHOICES if getattr(args, name) is not None}
    if args.dt is not None:
        options["dt"] = args.dt
    if args.semantics is not None:
        options["preset"] = args.semantics
    if not options:
        return None
    Semantics.from_options(options.get("preset"), **{k: v for k, v in options.items() if k != "preset"})
    return options


def add_target_args(p: argparse.ArgumentParser, allow_all: bool = False, required: bool = True) -> None:
    from ..backends.base import names

    choices = names() + (["all"] if allow_all else [])
    p.add_argument("--target", "-t", required=required, choices=choices, help="the chip")
    p.add_argument("--variant", help="the chip variant (default: the target's default)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a target option (see docs/targets/<target>.md), repeatable")


def target_options(args: argparse.Namespace, targets: Optional[Sequence[str]] = None) -> dict[str, dict]:
    """The ``--option`` values of each target in ``targets`` (default: ``args.target``).

    ``KEY=VALUE`` goes to the one target compiled, or, for several, to each that declares
    ``KEY`` (``Target.option_names``); ``TARGET.KEY=VALUE`` goes to that target only.  A key
    no target of the command declares, or a prefix that names no target (or one the command
    does not compile), is an error before any work."""
    from ..backends.base import get, names

    targets = list(targets or [args.target])
    out: dict[str, dict] = {t: {} for t in targets}
    known = names()
    for item in args.option:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise NirccError(f"--option takes KEY=VALUE or TARGET.KEY=VALUE, got {item!r}", field="option")
        value = _parse_value(raw.strip())
        scope, dot, name = key.partition(".")
        if dot:
            if scope not in known:
                raise NirccError(f"--option {item!r}: {scope!r} is not a target (targets: {', '.join(known)})",
                                 field="option")
            if scope not in out:
                raise NirccError(f"--option {item!r} is for {scope}, which this command does not compile "
                                 f"(--target {args.target})", field="option")
            out[scope][name] = value
            continue
        if len(targets) == 1:
            out[targets[0]][key] = value  # the target itself names what it takes
            continue
        owners = [t for t in targets if key in get(t).option_names]
        if not owners:
            listing = "; ".join(f"{t}: {', '.join(get(t).option_names) or 'none'}" for t in targets)
            raise NirccError(f"--option {item!r}: no target takes {key!r} ({listing})", field="option")
        for t in owners:
            out[t][key] = value
    return out


def load_model(args: argparse.Namespace) -> Graph:
    """The command's model file, read as every command reads it: in a child process first,
    so that a file on which libhdf5 crashes or hangs is one error line, not a dead or hung
    command (:func:`nircc.ir.hdf5.probe_hdf5`)."""
    return load(args.model, strict=getattr(args, "strict", False), isolate=True)


def _parse_value(v: str) -> Any:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def read_inputs(path: str, g: Graph) -> Any:
    """The arrays of an .npy / .npz file (never unpickled): a bare array, or a dict of
    arrays keyed by Input name (a single-array .npz feeds a single Input)."""
    if not os.path.exists(path):
        raise NirccError(f"input file {path!r} does not exist", field="input")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return data
        with data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        why = "not a numeric array file (nircc never unpickles)" if "pickle" in str(e) else str(e)
        raise NirccError(f"cannot read input file {path!r} as .npy/.npz: {why}", field="input") from None
    if len(arrays) == 1 and len(g.inputs) == 1 and g.inputs[0] not in arrays:
        return next(iter(arrays.values()))
    return arrays
