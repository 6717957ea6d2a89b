"""The fidelity check of the compile command: its options, the header, the report, the gate."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Optional, TextIO


from ..errors import Diagnostics, NirccError
from ..fidelity import DECISIONS, FidelityReport, check_labels
from ..ir import Graph
from ..sim.simulator import coerce_inputs
from ._common import read_inputs

#: .npz keys read besides the Input names
INPUT_KEYS = ("inputs", "x")
LABEL_KEYS = ("labels", "y")


def add_fidelity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fidelity-data", "--input", "-i", dest="fidelity_data", metavar="FILE",
                   help="the fidelity check's inputs instead of random spikes: .npy [T, B, *shape] or .npz with "
                        "one array per Input (or 'inputs') and optional 'labels' [B] (adds accuracies)")
    p.add_argument("--fidelity-steps", type=int, default=200, metavar="T",
                   help="steps of random input for the fidelity check (default 200; 0 skips it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random fidelity input")
    p.add_argument("--decision", choices=DECISIONS, default="mean",
                   help="decision of a membrane read-out: argmax of its mean (default), max or last value")
    p.add_argument("--min-agreement", metavar="P",
                   help="exit 1 if the chip agrees with the model on fewer than P of the decisions "
                        "(0.9 or 90%%), or a flag (silent or diverged) makes the figure meaningless")


def parse_min_agreement(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    text = str(value).strip()
    try:
        p = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise NirccError(f"--min-agreement takes a fraction in [0, 1] or a percentage (0.9, 90%), got {value!r}",
                         field="min_agreement")
    return p


def read_fidelity_data(args: argparse.Namespace, g: Graph) -> Optional[tuple[Any, Any, str]]:
    """``(inputs, labels or None, description)`` of ``--fidelity-data``, checked against the
    graph's Inputs before any work; None without the option."""
    path = getattr(args, "fidelity_data", None)
    if not path:
        return None
    data = read_inputs(path, g)
    labels, ignored = None, []
    if isinstance(data, dict):
        data = dict(data)
        for k in LABEL_KEYS:
            if k in data and k not in g.inputs:
                labels = data.pop(k)
                break
        named = {k: v for k, v in data.items() if k in g.inputs}
        if not named and len(g.inputs) == 1:
            for k in INPUT_KEYS:
                if k in data:
                    named = {g.inputs[0]: data[k]}
                    break
        if not named and len(g.inputs) == 1 and len(data) == 1:
            named = {g.inputs[0]: next(iter(data.values()))}
        if not named:
            raise NirccError(f"{path!r} holds {sorted(data)}; expected one array per Input "
                             f"({', '.join(g.inputs)}) or 'inputs'", field="fidelity_data")
        ignored = sorted(k for k in data if k not in named and k not in INPUT_KEYS)
        data = named
    arrays = coerce_inputs(g, data, lead="TB")
    labels = check_labels(labels, next(iter(arrays.values())).shape[1], f"'labels' in {path!r}", "fidelity_data")
    desc = f"{path}" + (" with labels" if labels is not None else "") + \
        (f" (ignored: {', '.join(ignored)})" if ignored else "")
    return arrays, labels, desc


def print_header(res: Any, model: str, out: TextIO) -> None:
    """Target, variant, dt, and the semantics with their evidence (and the chip's rules)."""
    print(f"{model} -> {res.target.name} ({res.options.variant}), dt = {res.options.semantics.dt:g} s", file=out)
    resolved = res.options.resolved
    if resolved is not None:
        print(f"  semantics: {resolved.header()}", file=out)
    print(f"    model: {res.model_semantics.describe()}", file=out)
    diff = res.options.semantics.differences(res.model_semantics)
    if diff:
        print(f"    chip:  {res.options.semantics.describe(name=False)} (the closest rules the chip has)", file=out)


def print_warnings(diags: Diagnostics, out: TextIO, limit: int = 8) -> None:
    warnings = diags.warnings()
    if warnings:
        print(f"{len(warnings)} warning(s) (all in report.json):", file=out)
        for d in warnings[:limit]:
            print(f"  {d}", file=out)
        if len(warnings) > limit:
            print(f"  ... {len(warnings) - limit} more", file=out)


def run_fidelity(res: Any, args: argparse.Namespace, data: Optional[tuple], out: Optional[TextIO],
                 progress) -> Optional[FidelityReport]:
    if data is None and args.fidelity_steps <= 0:
        return None
    progress(args, "checking fidelity against the model as exported")
    if data is not None:
        inputs, labels, desc = data
    else:
        inputs, labels = res.probe_inputs(args.fidelity_steps, seed=args.seed), None
        desc = f"Bernoulli p = 0.1 input spikes, seed {args.seed}"
    try:
        rep = res.fidelity(inputs, labels=labels, decision=args.decision, description=desc)
    except NirccError as e:
        # the artifact is written and valid for the chip; the check is a report
        for err in e.errors:
            print(f"nircc: warning: the fidelity check stopped: {NirccError.__str__(err)}", file=sys.stderr)
        return None
    if out:
        print(rep.summary(), file=out)
    return rep


def check_gate(rep: Optional[FidelityReport], gate: Optional[float]) -> int:
    """0, or 1 with one line when ``--min-agreement`` fails."""
    if gate is None:
        return 0
    if rep is None:
        print("nircc: error: --min-agreement: no fidelity check ran (--fidelity-steps 0 or it stopped)",
              file=sys.stderr)
        return 1
    if rep.meaningless:
        print(f"nircc: error: --min-agreement: {rep.meaningless[0]}", file=sys.stderr)
        return 1
    got = rep.decision_agreement
    if got is None or got < gate:
        figure = "no decision" if got is None else f"{got:.1%}"
        print(f"nircc: error: --min-agreement: the chip agrees with the model on {figure} of the decisions "
              f"(< {gate:.1%})", file=sys.stderr)
        return 1
    return 0
