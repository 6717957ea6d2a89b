"""``nircc emulate MODEL.nir --target T --input x.npy [-o out.npz]``: compile in memory and run
the chip's bit-accurate emulator on input spikes ([T, B, *shape] per Input, as for ``nircc
sim``); ``nircc emulate --artifact OUT/ --input x.npy`` runs the program a compile wrote into
OUT/ (``Target.load``), without recompiling: the target comes from ``OUT/report.json`` (or
``--target``).  The ``.npz`` holds ``outputs/<Output name>`` ``[T, B, *shape]`` (and
``states/<name>`` with ``--record``), written atomically and deterministically.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..backends.base import get
from ..compiler import compile as compile_model
from ..errors import NirccError
from ..util import MANIFEST, check_output_file, save_npz
from ._common import (add_semantics_args, add_target_args, load_model, read_inputs, semantics_from_args,
                      target_options)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("emulate", help="run a model on a chip's bit-accurate emulator",
                              description="Compile a .nir model in memory and run the chip emulator, or run the "
                                          "program of a compiled artifact (--artifact OUT/).")
    p.add_argument("model", nargs="?", help="the .nir file (not with --artifact)")
    p.add_argument("--artifact", metavar="DIR", help="run the program a compile wrote into DIR (no recompiling)")
    add_target_args(p, required=False)
    p.add_argument("--input", "-i", required=True, help=".npy [T, B, *shape] or .npz with one array per Input")
    p.add_argument("-o", "--output", help="write the outputs to this .npz")
    p.add_argument("--record", action="store_true", help="also record the chip's internal states")
    add_semantics_args(p)
    return p


def _artifact_target(folder: Path, given: Any) -> str:
    """The target of an artifact directory: ``report.json``'s, which ``--target`` must match."""
    if not folder.is_dir():
        raise NirccError(f"{str(folder)!r} is not a directory written by nircc compile", field="artifact")
    report = folder / MANIFEST
    target = None
    if report.is_file():
        try:
            target = json.loads(report.read_text()).get("target")
        except (OSError, ValueError, AttributeError) as e:
            raise NirccError(f"cannot read {str(report)!r}: {e}", field="artifact") from None
    if given and target and given != target:
        raise NirccError(f"{str(folder)!r} holds a {target} artifact, not {given}", field="target")
    if not (given or target):
        raise NirccError(f"{str(folder)!r} has no {MANIFEST} naming its target: pass --target", field="target")
    return given or target


def _artifact_inputs(path: str, io) -> dict:
    """The inputs of ``--input`` keyed by the artifact's NIR Input names (a bare array for a
    single Input; one sample ``[T, *shape]`` gets the batch axis)."""
    data = read_inputs(path, SimpleNamespace(inputs=[p.name for p in io.inputs]))
    if not isinstance(data, dict):
        if len(io.inputs) != 1:
            raise NirccError(f"the program has {len(io.inputs)} Inputs; pass an .npz with one array per Input",
                             field="input")
        data = {io.inputs[0].name: data}
    out = {}
    for p in io.inputs:
        if p.name not in data:
            raise NirccError(f"no data for this Input (shape {list(p.shape)})", p.name, "input")
        a = np.asarray(data[p.name])
        out[p.name] = a[:, None] if a.ndim == 1 + len(p.shape) else a
    return out


def run(args: argparse.Namespace) -> int:
    if args.output:
        check_output_file(args.output)
    if args.artifact:
        if args.model:
            raise NirccError("give a .nir model or --artifact, not both", field="artifact")
        folder = Path(args.artifact)
        target = get(_artifact_target(folder, args.target))
        program = target.load(folder)
        out = target.run(program, _artifact_inputs(args.input, target.io(program)), record=args.record)
        what = f"{args.artifact} ({target.name} {program.variant}, as compiled)"
    else:
        if not args.model or not args.target:
            raise NirccError("nircc emulate needs a .nir model and --target, or --artifact DIR", field="model")
        options = target_options(args)[args.target]
        semantics = semantics_from_args(args)
        res = compile_model(load_model(args), args.target, variant=args.variant, semantics=semantics,
                            options=options)
        out = res.emulate(read_inputs(args.input, res.graph), record=args.record)
        what = f"{args.model} on the {args.target} ({res.options.variant}) emulator"
    print(f"{what}:")
    for name, a in out.outputs.items():
        kind = f"{int(a.sum())} spikes" if a.dtype.kind in "biu" else f"values in [{a.min():g}, {a.max():g}]"
        print(f"  {name}: shape {list(a.shape)}, {kind}")
    if args.output:
        arrays = {f"outputs/{k}": v for k, v in out.outputs.items()}
        arrays.update({f"states/{k}": v for k, v in out.states.items()})
        save_npz(args.output, arrays)
        print(f"wrote {args.output}")
    return 0
