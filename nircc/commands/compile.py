"""``nircc MODEL.nir --target T -o OUT/``: compile (the default command).

Loads the file (tolerant reader), runs the target's pass pipeline, lowers to the chip's
program, writes the SDK-neutral artifact and ``report.json`` into OUT atomically, and
prints the semantics (detected or given), a resource summary and the fidelity of the chip
emulator against the model as exported, on deterministic random input spikes or the user's
``--fidelity-data`` (see nircc.fidelity); ``--min-agreement P`` makes the command exit 1 when
the decision agreement is below P or a flag makes it meaningless.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

from ..compiler import compile as compile_model
from ..util import check_output_dir
from ._common import (add_semantics_args, add_target_args, load_model, semantics_from_args, target_options)
from ._fidelity import (add_fidelity_args, check_gate, parse_min_agreement, print_header, print_warnings,
                        read_fidelity_data, run_fidelity)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compile", help="compile a .nir model for a chip (default command)",
        description="Compile a NIR model for a neuromorphic chip: nircc MODEL.nir --target T -o OUT/")
    p.add_argument("model", help="the .nir file")
    add_target_args(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="directory for the artifact")
    add_semantics_args(p)
    p.add_argument("--dump-after", action="append", default=[], metavar="PASS",
                   help="write the graph as .nir after this pass (repeatable; 'all' for every pass)")
    p.add_argument("--time-passes", action="store_true", help="print the time of each pass")
    add_fidelity_args(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors (the fidelity check still runs)")
    return p


def _progress(args, msg: str) -> None:
    if not args.quiet:
        print(f"nircc: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    options = target_options(args)[args.target]
    semantics = semantics_from_args(args)
    gate = parse_min_agreement(args.min_agreement)
    check_output_dir(args.output)          # a directory nircc cannot replace: refused before the work
    g = load_model(args)
    data = read_fidelity_data(args, g)      # a bad --fidelity-data file: refused before the work
    _progress(args, f"compiling {args.model} for {args.target}")
    out = None if args.quiet else sys.stdout
    with tempfile.TemporaryDirectory(prefix="nircc-dump-") as dump_dir:
        res = compile_model(g, args.target, variant=args.variant, semantics=semantics, options=options,
                            dump_after=args.dump_after, dump_dir=dump_dir if args.dump_after else None,
                            time_passes=args.time_passes)
        if out:
            print_header(res, args.model, out)
            summary = res.target.summary(res.program)
            if summary:
                print("resources:", file=out)
                print(summary, file=out)
            print_warnings(res.diagnostics, out)
        rep = run_fidelity(res, args, data, out, _progress)
        files = res.save(args.output)      # the --dump-after graphs move into OUT with the artifact
    if out:
        print(f"wrote {', '.join(str(f) for f in files)} in {time.perf_counter() - t0:.2f} s", file=out)
    return check_gate(rep, gate)
