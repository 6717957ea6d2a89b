"""The CLI's edges: ``check`` reading the file once (errors as one line, --strict, --json,
per-target options) and ``-o`` directories that hold exactly one compile's files, refused
before the work when nircc cannot replace them, never naming a temporary file."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from nircc import compiler
from nircc.cli import main
from nircc.commands import check as check_cmd
from tests import paths

ROOT = paths.ROOT
BRAILLE = str(ROOT / "examples" / "braille_rnn.nir")
TINY = str(ROOT / "examples" / "tiny_lif.nir")
SUBGRAPH = str(ROOT / "tests" / "data" / "nir_paper" / "braille_noDelay_bias_zero_subgraph.nir")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- check: the file
@pytest.mark.parametrize("target", ["all", "xylo"])
def test_check_of_a_missing_file_is_one_error_line(tmp_path, capsys, target):
    missing = tmp_path / "nope.nir"
    assert run(capsys, "check", str(missing), "--target", target) == (2, "", f"nircc: error: {missing}: no such file\n")


def test_check_of_a_directory_is_one_error_line(tmp_path, capsys):
    assert run(capsys, "check", str(tmp_path), "--target", "all") == \
        (2, "", f"nircc: error: {tmp_path}: is a directory, not a .nir file\n")


def test_check_strict_reports_repairs_as_file_errors_not_fit(capsys):
    code, out, err = run(capsys, "check", SUBGRAPH, "--target", "all", "--strict")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines and all(line.startswith("nircc: error: ") and "strict mode: " in line for line in lines)
    assert "does not fit" not in err


def test_check_reads_the_file_once(monkeypatch, capsys):
    from nircc.commands import _common

    calls = []
    real = _common.load

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(_common, "load", counting)
    assert run(capsys, "check", TINY, "--target", "all")[0] in (0, 2)
    assert calls == [TINY]


# ----------------------------------------------------------------------------- check --json
def test_check_json(capsys):
    code, out, err = run(capsys, "check", BRAILLE, "--target", "all", "--json")
    doc = json.loads(out)
    by = {t["target"]: t for t in doc["targets"]}
    assert (code, err, doc["model"], doc["fits"]) == (2, "", BRAILLE, False)
    assert sorted(by) == ["loihi", "speck", "spinnaker2", "xylo"]
    x = by["xylo"]
    assert (x["fits"], x["variant"], x["problems"], x["options"]) == (True, "audio2", [], {})
    assert x["resources"]["hidden_neurons"] == 38
    assert all(set(w) == {"level", "code", "message", "node", "field", "stage"} for w in x["warnings"])
    s = by["speck"]
    assert (s["fits"], s["variant"], s["resources"]) == (False, "speck2f", None)
    assert {"node": "lif1", "field": "type", "code": "unsupported-node",
            "message": "Speck cannot run CubaLIF: the chip has no synaptic state (weights go straight "
                       "into the membrane; use IF)"} in s["problems"]
    # deterministic, and the same verdicts as the text form
    assert run(capsys, "check", BRAILLE, "--target", "all", "--json")[1] == out
    text = run(capsys, "check", BRAILLE, "--target", "all")[1]
    assert "xylo (audio2): fits" in text and "speck (speck2f): does not fit (3 problem(s))" in text


def test_check_json_when_everything_fits(capsys):
    code, out, _ = run(capsys, "check", BRAILLE, "--target", "xylo", "--json")
    assert code == 0 and json.loads(out)["fits"] is True


# ----------------------------------------------------------------------------- per-target options
def test_options_addressed_per_target(capsys):
    code, out, err = run(capsys, "check", BRAILLE, "--target", "all", "--json",
                         "--option", "xylo.readout_headroom=32", "--option", "tau_tolerance=0.5")
    by = {t["target"]: t for t in json.loads(out)["targets"]}
    assert err == ""
    assert by["xylo"]["options"] == {"readout_headroom": 32, "tau_tolerance": 0.5}
    assert by["loihi"]["options"] == {"tau_tolerance": 0.5}          # Loihi takes tau_tolerance too
    assert by["speck"]["options"] == by["spinnaker2"]["options"] == {}
    assert by["xylo"]["fits"] and by["spinnaker2"]["fits"]


def test_an_option_changes_only_its_target(capsys):
    """readout_headroom scales Xylo's readout; scoping it to xylo changes xylo's result and
    leaves the others byte-identical."""
    base = {t["target"]: t for t in json.loads(run(capsys, "check", BRAILLE, "--target", "all", "--json")[1])["targets"]}
    new = {t["target"]: t for t in json.loads(run(capsys, "check", BRAILLE, "--target", "all", "--json",
                                                  "--option", "xylo.threshold_max=1000")[1])["targets"]}
    assert new["xylo"]["resources"] != base["xylo"]["resources"] or new["xylo"]["warnings"] != base["xylo"]["warnings"]
    for t in ("loihi", "speck", "spinnaker2"):
        assert new[t] == base[t]


@pytest.mark.parametrize("argv, message", [
    (["--target", "all", "--option", "bogus=1"],
     "field 'option': --option 'bogus=1': no target takes 'bogus' (loihi: weight_scale, rounding, tau_tolerance, "
     "bias_source; speck: mode, order, overflow, spike, dvs, dvs_sensor, bias_bits, threshold_low, layer2core; "
     "spinnaker2: weight_scale, weight_scale_percentile, delay_mode, timesteps, sys_tick_in_s, record, record_v, "
     "input_rate, bias_source; xylo: quantization, threshold_max, tau_tolerance, readout_headroom, single_spike, bias_source)"),
    (["--target", "xylo", "--option", "loihi.rounding=nearest"],
     "field 'option': --option 'loihi.rounding=nearest' is for loihi, which this command does not compile "
     "(--target xylo)"),
    (["--target", "all", "--option", "xyl.readout_headroom=3"],
     "field 'option': --option 'xyl.readout_headroom=3': 'xyl' is not a target (targets: loihi, speck, "
     "spinnaker2, xylo)"),
    (["--target", "all", "--option", "readout_headroom"],
     "field 'option': --option takes KEY=VALUE or TARGET.KEY=VALUE, got 'readout_headroom'"),
    (["--target", "all", "--variant", "audio3"],
     "field 'variant': --variant names one chip's variant: use it with one --target, not 'all'"),
])
def test_option_mistakes_are_one_line_before_any_work(monkeypatch, capsys, argv, message):
    monkeypatch.setattr(check_cmd, "compile_model", lambda *a, **k: pytest.fail("compiled"))
    assert run(capsys, "check", BRAILLE, *argv) == (2, "", f"nircc: error: {message}\n")


def test_a_scoped_option_reaches_compile(tmp_path, capsys):
    out = tmp_path / "o"
    assert run(capsys, BRAILLE, "--target", "xylo", "--option", "xylo.readout_headroom=32", "-o", str(out), "-q")[0] == 0
    assert json.loads((out / "report.json").read_text())["target_options"] == {"readout_headroom": 32}


# ----------------------------------------------------------------------------- -o directories
def _files(d: Path) -> list[str]:
    return sorted(str(f.relative_to(d)) for f in d.rglob("*") if f.is_file())


def test_an_output_directory_holds_exactly_one_compile(tmp_path, capsys):
    out = tmp_path / "out"
    for target, expected in (("xylo", ["report.json", "xylo.json", "xylo_spec.npz"]),
                             ("spinnaker2", ["model.s2.json", "report.json"]),
                             ("xylo", ["report.json", "xylo.json", "xylo_spec.npz"])):
        assert run(capsys, BRAILLE, "--target", target, "-o", str(out), "-q")[0] == 0
        assert _files(out) == expected
        report = json.loads((out / "report.json").read_text())
        assert (report["target"], report["files"]) == (target, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]   # no temporary directory left beside it


def test_dumps_belong_to_their_compile(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, TINY, "--target", "xylo", "-o", str(out), "--dump-after", "all", "-q")[0] == 0
    dumped = [f for f in _files(out) if f.endswith(".nir")]
    assert dumped == ["01-infer_shapes.nir", "02-canonicalize.nir", "03-fuse_affine.nir", "04-bias_sources.nir"]
    assert json.loads((out / "report.json").read_text())["files"] == _files(out)
    assert run(capsys, TINY, "--target", "xylo", "-o", str(out), "-q")[0] == 0
    assert _files(out) == ["report.json", "xylo.json", "xylo_spec.npz"]


def test_a_foreign_directory_is_refused_before_the_work(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr("nircc.commands.compile.compile_model", lambda *a, **k: pytest.fail("compiled"))
    code, stdout, err = run(capsys, BRAILLE, "--target", "xylo", "-o", str(out))
    assert (code, stdout) == (2, "")
    assert err == (f"nircc: error: field 'output': output '{out}' holds files nircc did not write (notes.txt); "
                   f"nircc replaces the whole directory, so name a new or empty one, or remove them\n")
    assert _files(out) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_a_file_added_to_a_compiled_directory_is_protected(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, TINY, "--target", "xylo", "-o", str(out), "-q")[0] == 0
    (out / "plot.png").write_bytes(b"png")
    code, _, err = run(capsys, TINY, "--target", "xylo", "-o", str(out), "-q")
    assert code == 2 and "holds files nircc did not write (plot.png)" in err
    assert _files(out) == ["plot.png", "report.json", "xylo.json", "xylo_spec.npz"]


def test_a_report_of_an_earlier_nircc_is_not_trusted(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"nircc_version": "0.1.0", "target": "xylo"}))
    (out / "xylo.json").write_text("{}")
    code, _, err = run(capsys, TINY, "--target", "xylo", "-o", str(out), "-q")
    assert code == 2 and err == (
        f"nircc: error: field 'output': output '{out}' holds files nircc cannot vouch for (its report.json, "
        f"from an earlier nircc, lists no files) (report.json, xylo.json); nircc replaces the whole directory, "
        f"so name a new or empty one, or remove them\n")


def test_a_failed_write_names_the_output_and_keeps_the_old_compile(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run(capsys, TINY, "--target", "xylo", "-o", str(out), "-q")[0] == 0
    before = {f: (out / f).read_bytes() for f in _files(out)}
    from nircc.backends.xylo import XyloTarget

    def full_disk(self, program, d):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(d) / "xylo.json"))

    monkeypatch.setattr(XyloTarget, "emit", full_disk)
    code, _, err = run(capsys, BRAILLE, "--target", "xylo", "-o", str(out), "-q")
    assert (code, err) == (2, f"nircc: error: field 'output': cannot write '{out / 'xylo.json'}': "
                              f"No space left on device\n")
    assert {f: (out / f).read_bytes() for f in _files(out)} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_compiling_into_the_working_directory(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run(capsys, TINY, "--target", "xylo", "-o", ".", "-q")[0] == 0
    assert run(capsys, TINY, "--target", "spinnaker2", "-o", ".", "-q")[0] == 0
    assert _files(work) == ["model.s2.json", "report.json"]
    assert Path.cwd() == work and sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_save_api_replaces_too(tmp_path):
    out = tmp_path / "out"
    res = compiler.compile(TINY, "xylo")
    files = res.save(out)
    assert sorted(f.name for f in files) == _files(out) == ["report.json", "xylo.json", "xylo_spec.npz"]
    compiler.compile(TINY, "spinnaker2").save(out)
    assert _files(out) == ["model.s2.json", "report.json"]


@pytest.mark.parametrize("command", ["sim", "emulate"])
def test_file_outputs_are_checked_before_the_work(tmp_path, monkeypatch, capsys, command):
    import numpy as np

    x = tmp_path / "x.npy"
    np.save(x, np.zeros((4, 1, 1), dtype=np.uint8))
    target = [] if command == "sim" else ["--target", "xylo"]
    monkeypatch.setattr(f"nircc.commands.{command}.load_model", lambda a: pytest.fail("loaded"))
    code, _, err = run(capsys, command, TINY, *target, "-i", str(x), "-o", str(tmp_path))
    assert (code, err) == (2, f"nircc: error: field 'output': output '{tmp_path}' is a directory; name a file\n")
