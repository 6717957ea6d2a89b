"""``nircc sim MODEL.nir --input x.npy [-o out.npz]``: run the float reference simulator.

Input: a ``.npy`` array ``[T, B, *shape]`` (or ``[T, *shape]`` for one sample) for a graph
with one Input node, or a ``.npz`` with one such array per Input name (a single-array
``.npz`` also feeds a single Input).  Files are read with ``allow_pickle=False``.

Output (``-o out.npz``, written atomically), keys:

* ``outputs/<Output name>``: float64 ``[T, B, *shape]``;
* with ``--record``: ``states/<node>/<state>`` (``output``, ``v``, ``i``, ...) per node;
* ``semantics``: JSON text of the options used (dt resolved), ``diagnostics``: JSON list.

The semantics start from ``--semantics PRESET`` (default: the NIR documentation's) and each
``--dt``, ``--discretization``, ``--reset``, ... flag overrides one option.  A summary (dt,
options, spike counts per output) is printed; diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ..sim import SimResult, simulate
from ..util import check_output_file, dumps, save_npz
from ._common import add_semantics_args, load_model, read_inputs, semantics_from_args


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sim", help="run the float reference simulator on input spikes",
        description="Run nircc's float64 reference simulator (the golden model) on a .nir file.")
    p.add_argument("model", help="the .nir file")
    p.add_argument("--input", "-i", required=True,
                   help=".npy [T, B, *shape] for a single Input, or .npz with one array per Input name")
    p.add_argument("-o", "--output", help="write outputs (and recorded states) to this .npz")
    p.add_argument("--record", nargs="*", metavar="NODE",
                   help="also record per-step states: of the named nodes, or of every node if none is named")
    add_semantics_args(p)
    return p


def result_arrays(res: SimResult) -> dict[str, np.ndarray]:
    """The ``.npz`` layout of a result (see the module docstring)."""
    out: dict[str, np.ndarray] = {f"outputs/{n}": a for n, a in res.outputs.items()}
    out.update({f"states/{k}": a for k, a in res.flat_states().items()})
    out["semantics"] = np.array(dumps(res.semantics.to_dict()))
    out["diagnostics"] = np.array(dumps(res.diagnostics.to_list()))
    return out


def write_result(path: str, res: SimResult) -> None:
    save_npz(path, result_arrays(res))


def run(args: argparse.Namespace) -> int:
    sem = semantics_from_args(args)
    if args.output:
        check_output_file(args.output)
    g = load_model(args)
    inputs = read_inputs(args.input, g)
    record: Any = False if args.record is None else (args.record or True)
    res = simulate(g, inputs, semantics=sem, record=record)
    for d in [d for d in g.diagnostics if d.level == "warning"] + list(res.diagnostics):
        print(f"nircc: {d}", file=sys.stderr)
    print(f"{args.model}: {res.semantics.describe()}")
    for name, a in res.outputs.items():
        print(f"  {name}: shape {list(a.shape)}, sum {a.sum():g}")
    if args.output:
        write_result(args.output, res)
        print(f"wrote {args.output}")
    return 0
