"""``nircc info MODEL.nir``: what a NIR file holds.

Prints the nodes in evaluation order (name, type, input and output shape, number of
parameter entries), the edges (a recurrent edge, whose target reads the source's value of
the previous time step, is marked), the recurrent cycles, totals (neurons by type,
synapses, parameters), the exporter detected with the semantics a compile would use by
default (nircc.provenance), and the repairs the tolerant reader made.  ``--json`` prints the
same as deterministic JSON; ``--strict`` turns every repair into an error.

``nircc info --target T`` (no model) shows a target instead: its variants, what its neurons
can do (:mod:`nircc.backends.capabilities`: node types, threshold and reset rules, where a
bias enters, per-neuron and per-layer parameters, decay form, delays, number formats) and
its options with defaults; ``--target all`` every registered target.

Counting rules:

* neurons: output elements of the neuron populations (``nircc.ir.NEURON_TYPES``: I, IF,
  LI, LIF, CubaLI, CubaLIF); Threshold and Delay nodes are not neurons.
* synapses: weight entries of Affine, Linear, Conv1d and Conv2d nodes, zeros included; a
  convolution kernel entry counts once however often it is applied.
* parameters: entries of every numeric parameter array (weights, biases, time constants,
  thresholds, ...), not geometry (stride, padding, ...) nor shapes.
"""
from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ..backends.base import Target, get, names
from ..errors import NirccError
from ..ir import NEURON_TYPES, Graph
from ..ir.shapes import param_count
from ..util import dumps
from ._common import load_model

#: Node types whose weight entries count as synapses.
SYNAPSE_TYPES = ("Affine", "Linear", "Conv1d", "Conv2d")
SYNAPSES_COUNTED = "weight entries of Affine, Linear, Conv1d and Conv2d nodes (zeros included)"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "info", help="show the nodes, edges, cycles, totals and repairs of a .nir file",
        description="Show what a .nir file holds: nodes, edges, recurrent cycles, totals and the "
                    "repairs the reader made.")
    p.add_argument("model", nargs="?", help="the .nir file")
    p.add_argument("--target", help="show a target's capabilities and options instead (a name, or all)")
    p.add_argument("--json", action="store_true", help="print deterministic JSON instead of tables")
    p.add_argument("--strict", action="store_true", help="treat every repair as an error")
    return p


def summarize(g: Graph) -> dict[str, Any]:
    """The facts ``nircc info`` shows, as plain JSON-able data."""
    sched = g.schedule()
    pos = {n: i for i, n in enumerate(sched.order)}
    nodes = [{
        "name": n,
        "type": g.type(n),
        "input_shape": list(g.in_shape(n)),
        "output_shape": list(g.out_shape(n)),
        "params": param_count(g.op(n)),
    } for n in sched.order]
    edges = [{"source": a, "target": b, "recurrent": (a, b) in sched.back_edges}
             for a, b in sorted(g.edges, key=lambda e: (pos[e[0]], pos[e[1]]))]
    by_type: dict[str, int] = {}
    for n in g.nodes_of_type(*NEURON_TYPES):
        by_type[g.type(n)] = by_type.get(g.type(n), 0) + math.prod(g.out_shape(n))
    synapses = sum(int(np.size(g.op(n).weight)) for n in g.nodes_of_type(*SYNAPSE_TYPES))
    return {
        "model": g.meta.get("source"),
        "nir_version": g.meta.get("nir_version"),
        "nodes": nodes,
        "edges": edges,
        "recurrent_cycles": g.recurrent_cycles(),
        "totals": {
            "nodes": len(nodes),
            "edges": len(edges),
            "neurons": sum(by_type.values()),
            "neurons_by_type": dict(sorted(by_type.items())),
            "synapses": synapses,
            "synapses_counted": SYNAPSES_COUNTED,
            "parameters": sum(d["params"] for d in nodes),
        },
        "diagnostics": g.diagnostics.to_list(),
        "semantics": _semantics(g),
    }


def _semantics(g: Graph) -> dict[str, Any]:
    """The exporter detected and the default semantics it implies (nircc.provenance)."""
    from ..errors import NirccError
    from ..provenance import resolve_semantics

    try:
        r = resolve_semantics(g)
    except NirccError as e:           # e.g. conflicting dts: the compile would say the same
        return {"header": f"undecided: {NirccError.__str__(e)}", "exporter": None, "candidates": [],
                "evidence": {}, "chosen_by": None, "options": None}
    return {**r.to_dict(), "options": r.semantics.to_dict()}


def _table(rows: list[list[str]], right: set[int], indent: str = "  ") -> list[str]:
    """Rows as aligned columns (columns in ``right`` right-aligned)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _shape(s: list[int]) -> str:
    return "[" + ", ".join(str(x) for x in s) + "]"


def render(info: dict[str, Any]) -> str:
    """The human-readable form of :func:`summarize`'s result."""
    t = info["totals"]
    version = f" (NIR {info['nir_version']})" if info.get("nir_version") else ""
    lines = [f"{info['model']}{version}: {t['nodes']} nodes, {t['edges']} edges",
             f"semantics: {info['semantics']['header']}", "", "nodes (evaluation order)"]
    rows = [["name", "type", "input", "output", "params"]]
    rows += [[d["name"], d["type"], _shape(d["input_shape"]), _shape(d["output_shape"]), f"{d['params']:,}"]
             for d in info["nodes"]]
    lines += _table(rows, right={4})

    lines += ["", "edges ('~>' marks a recurrent edge: its target reads the previous time step)"]
    lines += _table([[e["source"], "~>" if e["recurrent"] else "->", e["target"]] for e in info["edges"]],
                    right=set()) if info["edges"] else ["  none"]

    lines += ["", "recurrent cycles"]
    lines += [f"  {', '.join(c)}" for c in info["recurrent_cycles"]] or ["  none"]

    by_type = ", ".join(f"{k} {v:,}" for k, v in t["neurons_by_type"].items())
    lines += ["", "totals"]
    lines += _table([
        ["neurons", f"{t['neurons']:,}", f"({by_type})" if by_type else ""],
        ["synapses", f"{t['synapses']:,}", t["synapses_counted"]],
        ["parameters", f"{t['parameters']:,}", "entries of all parameter arrays"],
    ], right={1})

    diags = info["diagnostics"]
    lines += ["", f"repairs and notes ({len(diags)})" if diags else "repairs and notes: none"]
    for d in diags:
        where = ", ".join(p for p in (f"node '{d['node']}'" if d["node"] is not None else "",
                                      f"field '{d['field']}'" if d["field"] is not None else "") if p)
        lines.append(f"  {d['level']} [{d['code']}] {where}: {d['message']}" if where
                     else f"  {d['level']} [{d['code']}] {d['message']}")
    return "\n".join(lines) + "\n"


def target_info(t: Target) -> dict[str, Any]:
    """What ``nircc info --target`` shows of one target, JSON-able."""
    return {"target": t.name, "label": t.label or t.name, "description": t.description,
            "variants": list(t.variants), "default_variant": t.default_variant,
            "capabilities": t.capabilities.to_dict() if t.capabilities else None,
            "options": {k: {"default": o.default, "kind": o.kind, "doc": o.doc} for k, o in t.options.items()}}


def render_target(t: Target) -> str:
    lines = [f"{t.name}: {t.description}",
             f"  variants: {', '.join(v + (' (default)' if v == t.default_variant else '') for v in t.variants)}"]
    lines += t.capabilities.lines() if t.capabilities else []
    if t.options:
        lines.append("  options (--option KEY=VALUE):")
        lines += [f"    {k} = {o.default!r}  ({o.kind}) {o.doc}" for k, o in t.options.items()]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.target is not None:
        if args.model:
            raise NirccError("give a .nir model or --target, not both", field="target")
        chosen = [get(n) for n in (names() if args.target == "all" else [args.target])]
        if args.json:
            infos = [target_info(t) for t in chosen]
            print(dumps(infos if args.target == "all" else infos[0]), end="")
        else:
            print("\n".join(render_target(t) for t in chosen), end="")
        return 0
    if not args.model:
        raise NirccError("nircc info needs a .nir model (or --target T)", field="model")
    info = summarize(load_model(args))
    print(dumps(info) if args.json else render(info), end="")
    return 0
