"""How much of a framework-trained model's accuracy survives on each chip.

For every fixture in ``benchmarks/deploy/fixtures/`` (a model trained and exported by its own
framework, with the framework's test inputs, outputs, predictions and labels; the scripts
beside them made them), with nircc's defaults (the semantics detected from the file):

* the framework's accuracy, as recorded;
* nircc's reference simulator: its accuracy and its decision agreement with the framework's
  recorded predictions, and how many output entries (step, sample, neuron) differ;
* each target: the chip emulator's accuracy and its decision agreement with the framework
  (the per-sample argmax of output spike counts), or the one-line reason it does not compile.

Run from the repository root: ``python benchmarks/bench_deploy.py [--markdown]`` (about a
minute; the Speck event emulator is most of it).  Prints one table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import nircc
from nircc import fidelity as F
from nircc.backends.base import names

FIXTURES = Path(__file__).resolve().parent / "deploy" / "fixtures"


def fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if (p / "model.nir").exists())


def read(fixture: Path) -> tuple[dict, dict]:
    meta = json.loads((fixture / "meta.json").read_text())
    with np.load(fixture / "data.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return meta, data


def decisions(y: np.ndarray) -> np.ndarray:
    return F.decisions(y, spiking=True)


def reference_row(fixture: Path) -> dict:
    meta, data = read(fixture)
    g = nircc.load(fixture / "model.nir")
    res = nircc.simulate(g, data["inputs"])
    (out,) = res.outputs.values()
    pred = decisions(out)
    return {"model": meta["model"], "framework": f"{meta['framework']} {meta['framework_version']}",
            "faithful": meta.get("export_faithful", True), "semantics": res.semantics.preset_name,
            "framework_acc": meta["accuracy"], "ref_acc": float(np.mean(pred == data["labels"])),
            "ref_agree": float(np.mean(pred == data["predictions"])),
            "ref_entries_differ": int(np.count_nonzero(out != data["outputs"])), "entries": int(out.size)}


def target_cell(fixture: Path, target: str) -> dict:
    meta, data = read(fixture)
    t0 = time.perf_counter()
    try:
        res = nircc.compile(fixture / "model.nir", target)
    except nircc.NirccError as e:
        first = e.errors[0]
        more = f" (+{len(e.errors) - 1} more)" if len(e.errors) > 1 else ""
        msg = first.message if len(first.message) <= 90 else first.message[:89] + "…"
        return {"fits": False, "reason": msg + more}
    x = res._inputs(data["inputs"])
    steps = next(iter(x.values())).shape[0]
    lat = res.target.latency(res.program)
    chip = res.emulate(F.pad_steps(x, max(lat.values(), default=0))).outputs
    (name,) = chip
    y = F.align(chip, lat, steps)[name]
    pred = decisions(y)
    rep = res.fidelity(data["inputs"], labels=data["labels"])
    return {"fits": True, "acc": float(np.mean(pred == data["labels"])),
            "agree": float(np.mean(pred == data["predictions"])),
            "agree_ref": rep.decision_agreement, "flags": [f.code for f in rep.flags],
            "approximated": [d.message.split(": ", 1)[-1].split(" (")[0]
                             for d in res.diagnostics.with_code("semantics-approximated")],
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=",".join(names()), help="comma-separated targets (default: all)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args(argv)
    targets = args.targets.split(",")
    warnings.simplefilter("ignore", RuntimeWarning)
    rows = []
    for fx in fixtures():
        row = reference_row(fx)
        row["targets"] = {t: target_cell(fx, t) for t in targets}
        rows.append(row)
        print(f"# {fx.name} done", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    head = ["model", "framework", "semantics", "framework acc", "reference acc / agreement"] + targets
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        ref = f"{r['ref_acc']:.1%} / {r['ref_agree']:.1%}"
        differ = r["ref_entries_differ"]
        ref += " (exact)" if differ == 0 else f" ({differ} of {r['entries']} entries differ)"
        if not r["faithful"]:
            ref += " — the export drops trained parameters"
        cells = []
        for t in targets:
            c = r["targets"][t]
            if not c["fits"]:
                cells.append(f"— {c['reason']}")
                continue
            flags = f" FLAGS {', '.join(sorted(set(c['flags'])))}" if c["flags"] else ""
            cells.append(f"{c['acc']:.1%} / {c['agree']:.1%}{flags}")
        print("| " + " | ".join([r["model"], r["framework"], r["semantics"] or "nir", f"{r['framework_acc']:.1%}",
                                 ref] + cells) + " |")
    print("\naccuracy / decision agreement with the framework's own predictions on each fixture's "
          f"held-out test samples (nircc {nircc.__version__}, default options, semantics detected)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
