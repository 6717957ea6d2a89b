"""``nircc MODEL.nir --target T -o OUT/``: compile (the default command).

Loads the file (tolerant reader), runs the target's pass pipeline, lowers to the chip's
program, writes the SDK-neutral artifact and ``report.json`` into OUT atomically, and
prints a resource summary and the fidelity of the chip emulator against the float
reference simulator on deterministic random input spikes (or ``--input``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

from ..compiler import compile as compile_model
from ..errors import NirccError
from ..util import check_output_dir
from ._common import (add_semantics_args, add_target_args, load_model, read_inputs, semantics_from_args,
                      target_options)


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
    p.add_argument("--input", "-i", help="input spikes (.npy / .npz) for the fidelity check")
    p.add_argument("--fidelity-steps", type=int, default=200, metavar="T",
                   help="steps of random input for the fidelity check (default 200; 0 skips it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random fidelity input")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def _progress(args, msg: str) -> None:
    if not args.quiet:
        print(f"nircc: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    options = target_options(args)[args.target]
    semantics = semantics_from_args(args)
    check_output_dir(args.output)          # a directory nircc cannot replace: refused before the work
    g = load_model(args)
    _progress(args, f"compiling {args.model} for {args.target}")
    with tempfile.TemporaryDirectory(prefix="nircc-dump-") as dump_dir:
        res = compile_model(g, args.target, variant=args.variant, semantics=semantics, options=options,
                            dump_after=args.dump_after, dump_dir=dump_dir if args.dump_after else None,
                            time_passes=args.time_passes)
        files = res.save(args.output)      # the --dump-after graphs move into OUT with the artifact
    if args.quiet:
        return 0
    out = sys.stdout
    print(f"{args.model} -> {args.target} ({res.options.variant}), dt = {res.options.semantics.dt:g} s", file=out)
    print(f"  semantics: {res.options.semantics.describe()}", file=out)
    summary = res.target.summary(res.program)
    if summary:
        print("resources:", file=out)
        print(summary, file=out)
    warnings = res.diagnostics.warnings()
    if warnings:
        print(f"{len(warnings)} warning(s) (all in report.json):", file=out)
        for d in warnings[:8]:
            print(f"  {d}", file=out)
        if len(warnings) > 8:
            print(f"  ... {len(warnings) - 8} more", file=out)
    if args.input or args.fidelity_steps > 0:
        _progress(args, "checking fidelity against the reference simulator")
        inputs = read_inputs(args.input, res.graph) if args.input else res.probe_inputs(args.fidelity_steps,
                                                                                       seed=args.seed)
        try:
            print(res.fidelity(inputs).summary(), file=out)
        except NirccError as e:
            # the artifact is written and valid for the chip; the check is a report, not a gate
            for err in e.errors:
                print(f"nircc: warning: the fidelity check stopped: {NirccError.__str__(err)}", file=sys.stderr)
    print(f"wrote {', '.join(str(f) for f in files)} in {time.perf_counter() - t0:.2f} s", file=out)
    return 0
