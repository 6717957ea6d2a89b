"""``nircc check MODEL.nir --target T|all [--json]``: does the model fit?

Reads the file once (a file that cannot be read is one ``nircc: error:`` line per problem
and exit 2, whatever the target), then runs the pipeline and the lowering of each target and
prints its resources or every violation at once (node, quantity, limit).  Writes nothing.
Exit status 0 when the model fits every target asked for, 2 if not.

``--json`` prints the same as deterministic JSON::

    {"model": ..., "fits": bool, "semantics": {"chosen_by", "header", "exporter", "candidates",
     "evidence", "options"}, "targets": [{"target", "variant", "options", "fits",
     "resources", "warnings": [diagnostic], "problems": [{"node", "field", "code", "message"}]}]}

``--option KEY=VALUE`` goes to every target that takes KEY, ``--option TARGET.KEY=VALUE`` to
that target only (``--option xylo.readout_headroom=32``).
"""
from __future__ import annotations

import argparse
from typing import Any

from ..backends.base import get, names
from ..compiler import compile as compile_model
from ..errors import NirccError
from ..provenance import resolve_semantics
from ..util import dumps
from ._common import add_semantics_args, add_target_args, load_model, semantics_from_args, target_options


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("check", help="check whether a model fits a chip (writes nothing)",
                              description="Report the fit of a .nir model on one chip or all of them.")
    p.add_argument("model", help="the .nir file")
    add_target_args(p, allow_all=True)
    add_semantics_args(p)
    p.add_argument("--json", action="store_true", help="print deterministic JSON instead of text")
    return p


def check_target(g, target: str, args: argparse.Namespace, options: dict) -> dict[str, Any]:
    """One target's verdict on the loaded graph ``g``, as the JSON record of the module doc."""
    variant = get(target).resolve_variant(args.variant if args.target != "all" else None)
    head = {"target": target, "variant": variant, "options": dict(sorted(options.items()))}
    try:
        res = compile_model(g, target, variant=variant, semantics=semantics_from_args(args), options=options)
    except NirccError as e:
        return {**head, "fits": False, "resources": None, "warnings": [],
                "problems": [err.to_dict() for err in e.errors], "summary": ""}
    return {**head, "fits": True,
            "resources": res.target.report(res.program).get("resources"),
            "warnings": [d.to_dict() for d in res.diagnostics.warnings()], "problems": [],
            "summary": res.target.summary(res.program)}


def _where(d: dict) -> str:
    return NirccError.__str__(NirccError(d["message"], d.get("node"), d.get("field")))


def run(args: argparse.Namespace) -> int:
    if args.target == "all" and args.variant:
        raise NirccError("--variant names one chip's variant: use it with one --target, not 'all'",
                         field="variant")
    targets = names() if args.target == "all" else [args.target]
    options = target_options(args, targets)   # option errors before any work
    semantics = semantics_from_args(args)
    g = load_model(args)                     # file errors: one line each, exit 2, once
    resolved = resolve_semantics(g, semantics, args.dt)
    verdicts = [check_target(g, t, args, options[t]) for t in targets]
    fits = all(v["fits"] for v in verdicts)
    if args.json:
        doc = {"model": args.model, "fits": fits,
               "semantics": {**resolved.to_dict(), "options": resolved.semantics.to_dict()},
               "targets": [{k: v for k, v in rec.items() if k != "summary"} for rec in verdicts]}
        print(dumps(doc), end="")
        return 0 if fits else 2
    print(f"semantics: {resolved.header()}")
    print(f"  {resolved.semantics.describe()}")
    for v in verdicts:
        if not v["fits"]:
            print(f"{v['target']} ({v['variant']}): does not fit ({len(v['problems'])} problem(s))")
            for p in v["problems"]:
                print(f"  - {_where(p)}")
            continue
        print(f"{v['target']} ({v['variant']}): fits")
        if v["summary"]:
            print(v["summary"])
        for d in v["warnings"]:
            print(f"  warning: {_where(d)}")
    return 0 if fits else 2
