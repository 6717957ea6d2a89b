"""``nircc check MODEL.nir --target T|all``: does the model fit?  Runs the pipeline and
the lowering of each target and prints its resources or every violation at once
(node, quantity, limit).  Writes nothing.  Exit status 0 when every target fits, 2 if not.
"""
from __future__ import annotations

import argparse

from ..backends.base import names
from ..compiler import compile as compile_model
from ..errors import NirccError
from ._common import add_semantics_args, add_target_args, semantics_from_args, target_options


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("check", help="check whether a model fits a chip (writes nothing)",
                              description="Report the fit of a .nir model on one chip or all of them.")
    p.add_argument("model", help="the .nir file")
    add_target_args(p, allow_all=True)
    add_semantics_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    targets = names() if args.target == "all" else [args.target]
    failed = 0
    for t in targets:
        try:
            res = compile_model(args.model, t, variant=None if args.target == "all" else args.variant,
                                semantics=semantics_from_args(args), options=target_options(args),
                                strict=args.strict)
        except NirccError as e:
            failed += 1
            print(f"{t}: does not fit ({len(e.errors)} problem(s))")
            for err in e.errors:
                print(f"  - {NirccError.__str__(err)}")
            continue
        print(f"{t} ({res.options.variant}): fits")
        summary = res.target.summary(res.program)
        if summary:
            print(summary)
        for d in res.diagnostics.warnings():
            print(f"  {d}")
    return 2 if failed else 0
