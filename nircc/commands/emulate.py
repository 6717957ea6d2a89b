"""``nircc emulate MODEL.nir --target T --input x.npy [-o out.npz]``: compile in memory
and run the chip's bit-accurate emulator on input spikes ([T, B, *shape] per Input, as
for ``nircc sim``).  The ``.npz`` holds ``outputs/<Output name>`` ``[T, B, *shape]``
(and ``states/<name>`` with ``--record``), written atomically and deterministically.
"""
from __future__ import annotations

import argparse

from ..compiler import compile as compile_model
from ..util import check_output_file, save_npz
from ._common import (add_semantics_args, add_target_args, load_model, read_inputs, semantics_from_args,
                      target_options)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("emulate", help="run a model on a chip's bit-accurate emulator",
                              description="Compile a .nir model in memory and run the chip emulator.")
    p.add_argument("model", help="the .nir file")
    add_target_args(p)
    p.add_argument("--input", "-i", required=True, help=".npy [T, B, *shape] or .npz with one array per Input")
    p.add_argument("-o", "--output", help="write the outputs to this .npz")
    p.add_argument("--record", action="store_true", help="also record the chip's internal states")
    add_semantics_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    options = target_options(args)[args.target]
    semantics = semantics_from_args(args)
    if args.output:
        check_output_file(args.output)
    res = compile_model(load_model(args), args.target, variant=args.variant, semantics=semantics,
                        options=options)
    out = res.emulate(read_inputs(args.input, res.graph), record=args.record)
    print(f"{args.model} on the {args.target} ({res.options.variant}) emulator:")
    for name, a in out.outputs.items():
        kind = f"{int(a.sum())} spikes" if a.dtype.kind in "biu" else f"values in [{a.min():g}, {a.max():g}]"
        print(f"  {name}: shape {list(a.shape)}, {kind}")
    if args.output:
        arrays = {f"outputs/{k}": v for k, v in out.outputs.items()}
        arrays.update({f"states/{k}": v for k, v in out.states.items()})
        save_npz(args.output, arrays)
        print(f"wrote {args.output}")
    return 0
