"""Command-line front end.

    nircc MODEL.nir --target xylo -o out/     compile (the default command)
    nircc check MODEL.nir --target T           fit / design-rule report, writes nothing
    nircc emulate MODEL.nir --target T ...     run the chip emulator
    nircc info MODEL.nir [--json]              what the file holds
    nircc sim MODEL.nir --input x.npy ...      run the float reference simulator

Each command is a module ``nircc.commands.<name>`` with ``add_parser(subparsers)`` and
``run(args) -> int``; :data:`COMMANDS` lists them.  User errors (``NirccError``) print one
line per error on stderr, prefixed ``nircc: error:``, and exit with status 2; internal
errors keep their traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Optional, Sequence

from . import __version__
from .errors import NirccError

#: Sub-commands, each a module in nircc.commands; "compile" is also the default command.
COMMANDS = ("compile", "check", "emulate", "info", "sim")
DEFAULT_COMMAND = "compile"


def _command_modules():
    mods = {}
    for name in COMMANDS:
        try:
            mods[name] = importlib.import_module(f"nircc.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"nircc.commands.{name}":
                raise
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="nircc",
        description="Compile NIR spiking neural networks to neuromorphic chips.",
        epilog="Run 'nircc COMMAND --help' for a command's options; "
               "'nircc MODEL.nir --target T -o OUT' compiles.",
    )
    parser.add_argument("--version", action="version", version=f"nircc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _command_modules()
    for name, mod in mods.items():
        mod.add_parser(sub)
    return parser, mods


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, mods = build_parser()
    if argv and not argv[0].startswith("-") and argv[0] not in mods and DEFAULT_COMMAND in mods:
        argv.insert(0, DEFAULT_COMMAND)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            return int(mods[args.command].run(args) or 0)
    except NirccError as e:
        for err in e.errors:
            print(f"nircc: error: {NirccError.__str__(err)}", file=sys.stderr)
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            return 0
        # the file system refused (permissions, disk full, a path through a file): one line
        where = f": {e.filename!r}" if e.filename else ""
        print(f"nircc: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nircc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
