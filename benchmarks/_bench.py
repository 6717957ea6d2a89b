"""Helpers the benchmark scripts share: best-of-N timing, timed compile + save, and the
``--section`` command line.  Run the scripts from the repository root
(``python benchmarks/bench_<chip>.py``); this module is imported from beside them."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import nircc


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """The least wall time (s) of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def compile_and_save(graph: Any, target: str, repeat: int, **kw: Any) -> tuple[Any, float, float, float]:
    """(result, best compile s, save s, artifact MB) of ``nircc.compile(graph, target, **kw)``."""
    holder: dict = {}
    t_compile = best_of(repeat, lambda: holder.update(res=nircc.compile(graph, target, **kw)))
    res = holder["res"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = res.save(Path(tmp) / "out")
        t_save = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in files) / 1e6
    return res, t_compile, t_save, size


def run_sections(doc: str, sections: dict[str, Callable[[argparse.Namespace], None]],
                 argv: list[str] | None = None) -> None:
    """Parse ``--steps --repeat --batch --section`` and run the chosen sections in order."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--section", choices=sorted(sections), nargs="+", default=list(sections))
    args = ap.parse_args(argv)
    for name in args.section:
        sections[name](args)
