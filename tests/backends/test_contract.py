"""The contract every registered target keeps (issue 15): compile a tiny net that fits, save,
load back equal and byte-identical, run with the documented input layout, outputs and
latency as the I/O map declares, the common header in every artifact, report keys and the
fidelity figure, every documented option accepted with its default and an unknown one
refused, and ``nircc emulate --artifact`` running what was written without recompiling.

Besides the built-in targets the suite runs a fifth one that lives outside nircc, ToyChip
(``tests/backends/toy_target/``, documented in its README.md), registered by one line for this
module only: the proof that a chip is one folder plus one line."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import nir
import numpy as np
import pytest

import nircc
from nircc.backends import base as backends
from nircc.backends.io import program_io
from nircc.backends.program import HEADER_KEYS
from nircc.cli import main
from tests import paths
from tests.backends.toy_target import ToyTarget
from tests.backends.toy_target.program import ToyLayer, ToyProgram

TARGETS = backends.names()          # the built-in ones (before the toy is registered)
ALL = TARGETS + ["toy"]
F32 = np.float32
HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True, scope="module")
def toy_registered():
    """ToyChip registered for this module's tests only (other modules read ``names()``)."""
    with backends.registered("toy", ToyTarget):
        yield


def doc_page(target: str) -> Path:
    """Where a target's options are documented."""
    if target == "toy":
        return HERE / "toy_target" / "README.md"
    return paths.DOCS / "targets" / f"{target}.md"


def tiny() -> nir.NIRGraph:
    """Input(3) -> Linear -> IF(3) -> Linear -> IF(3) -> Output: fits every target."""
    one = np.ones(3, F32)
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=1.5 * np.eye(3, dtype=F32)),
             "n": nir.IF(r=one, v_threshold=one, v_reset=0 * one), "w2": nir.Linear(weight=1.5 * np.eye(3, dtype=F32)),
             "n2": nir.IF(r=one, v_threshold=one, v_reset=0 * one),
             "out": nir.Output(output_type={"output": np.array([3])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "w"), ("w", "n"), ("n", "w2"), ("w2", "n2"), ("n2", "out")],
                        type_check=False)


def compiled(target: str) -> nircc.CompileResult:
    return nircc.compile(tiny(), target, dt=1.0, semantics="nir")


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("target", ALL)
def test_save_load_round_trip_is_equal_and_byte_identical(target, tmp_path):
    res = compiled(target)
    res.save(tmp_path / "a")
    back = res.target.load(tmp_path / "a")
    assert back.to_dict() == res.program.to_dict()
    res.target.emit(back, tmp_path / "b")
    a = {k: v for k, v in files(tmp_path / "a").items() if k != "report.json"}
    assert files(tmp_path / "b") == a


@pytest.mark.parametrize("target", ALL)
def test_every_artifact_and_program_carries_the_common_header(target, tmp_path):
    res = compiled(target)
    d = res.program.to_dict()
    assert set(HEADER_KEYS) <= set(d) and d["schema"].startswith(f"nircc.{target}")
    assert (d["variant"], d["dt"]) == (res.options.variant, 1.0)
    res.save(tmp_path / "o")
    main_json = [json.loads(p.read_text()) for p in (tmp_path / "o").glob("*.json") if p.name != "report.json"]
    headed = [doc for doc in main_json if set(HEADER_KEYS) <= set(doc)]
    assert headed and all(doc["schema"].startswith(f"nircc.{target}") for doc in headed)
    assert "report" not in json.dumps(sorted(d.get("meta", {})))     # the report lives beside the program


@pytest.mark.parametrize("target", ALL)
def test_every_program_checks_its_header_the_same_way(target):
    """``validate`` refuses a program checked against another variant, or with a dt that is
    not a positive number of seconds, in the same words on every target."""
    res = compiled(target)
    prog = res.program
    prog.variant = "elsewhere"
    dt_field = "model_dt_s" if hasattr(prog, "model_dt_s") else "dt"
    setattr(prog, dt_field, -1.0)
    with pytest.raises(nircc.NirccError) as e:
        prog.validate(res.spec)
    errors = getattr(e.value, "errors", [e.value])
    said = {(x.field, x.message) for x in errors}
    assert ("variant", f"program built for 'elsewhere', checked against '{res.options.variant}'") in said
    assert (dt_field, f"{dt_field} -1.0 must be a positive number of seconds") in said


@pytest.mark.parametrize("target", ALL)
def test_run_layout_outputs_and_latency_as_declared(target):
    res = compiled(target)
    io = program_io(res.program)
    x = {"in": (np.random.default_rng(0).random((20, 2, 3)) < 0.6).astype(np.uint8)}
    out = res.target.run(res.program, x)
    assert set(out.outputs) == {p.name for p in io.outputs} == {"out"}
    assert out.outputs["out"].shape == (20, 2, 3)
    assert set(res.target.latency(res.program)) == {"out"}
    assert out.outputs["out"].sum() > 0                       # the tiny net fires at dt = 1
    rep = res.fidelity(x)
    assert rep.decision_agreement is not None and not rep.meaningless


@pytest.mark.parametrize("target", ALL)
def test_report_keys(target):
    r = compiled(target).report
    assert {"schema_version", "nircc_version", "target", "variant", "dt", "semantics", "semantics_source",
            "chip_semantics", "target_options", "passes", "diagnostics", "fidelity"} <= set(r)
    assert r["target"] == target and r["dt"] == 1.0


@pytest.mark.parametrize("target", ALL)
def test_documented_options_with_defaults_are_accepted_and_unknown_refused(target):
    opts = importlib.import_module(type(backends.get(target)).__module__ + ".lower").OPTIONS
    assert tuple(opts) == backends.get(target).option_names
    doc = doc_page(target).read_text()
    for key, opt in opts.items():
        assert f"`{key}`" in doc, f"{target} option {key!r} is not documented"
        assert opt.name == key and opt.doc and opt.problem(opt.default) is None
        if opt.default is not None:
            nircc.compile(tiny(), target, dt=1.0, semantics="nir", options={key: opt.default})
        if opt.kind == "choice":
            with pytest.raises(nircc.NirccError) as e:
                nircc.compile(tiny(), target, dt=1.0, semantics="nir", options={key: "no-such-value"})
            assert (e.value.errors[0].field, e.value.errors[0].message) == (
                key, f"'no-such-value' not in {list(opt.choices)}")
    with pytest.raises(nircc.NirccError) as e:
        nircc.compile(tiny(), target, dt=1.0, semantics="nir", options={"no_such_option": 1})
    assert "no_such_option" in str(e.value)


@pytest.mark.parametrize("target", ALL)
def test_options_are_parsed_once_per_compile(target, monkeypatch):
    """The pipeline (its legalizations) and the lowering read the same parsed options."""
    tgt = backends.get(target)
    calls = []
    real = type(tgt).parse_options
    monkeypatch.setattr(type(tgt), "parse_options", lambda self, raw, errs: calls.append(raw) or real(self, raw, errs))
    nircc.compile(tiny(), target, dt=1.0, semantics="nir")
    assert calls == [{}]


@pytest.mark.parametrize("target", ALL)
def test_emulate_artifact_runs_what_was_written(target, tmp_path, capsys):
    model = tmp_path / "m.nir"
    nircc.save(nircc.load(tiny()), model)
    np.save(tmp_path / "x.npy", (np.random.default_rng(1).random((15, 2, 3)) < 0.6).astype(np.uint8))
    common = ["--dt", "1", "--semantics", "nir"]
    assert main([str(model), "--target", target, "-o", str(tmp_path / "art"), "--fidelity-steps", "0"] + common) == 0
    assert main(["emulate", str(model), "--target", target, "-i", str(tmp_path / "x.npy"), "-o",
                 str(tmp_path / "fresh.npz")] + common) == 0
    assert main(["emulate", "--artifact", str(tmp_path / "art"), "-i", str(tmp_path / "x.npy"), "-o",
                 str(tmp_path / "loaded.npz")]) == 0
    assert (tmp_path / "fresh.npz").read_bytes() == (tmp_path / "loaded.npz").read_bytes()
    assert f"art ({target} " in capsys.readouterr().out
    other = [t for t in TARGETS if t != target][0]
    assert main(["emulate", "--artifact", str(tmp_path / "art"), "--target", other, "-i", str(tmp_path / "x.npy")]) == 2
    assert f"holds a {target} artifact, not {other}" in capsys.readouterr().err


def test_no_target_reimplements_the_shared_flow():
    for name in ALL:
        cls = type(backends.get(name))
        for method in ("run", "latency", "io", "realise_semantics"):
            assert method not in cls.__dict__, (name, method)


# ---------------------------------------------------------------------- ToyChip's own integers
def test_toy_emulator_integers_by_hand():
    """Layer a: v -= v >> 1, v += W x, fire on v > 120, reset to 0; layer b reads a's spikes
    one step late (no leak, fires on v > 5)."""
    prog = ToyProgram([ToyLayer("a", [[100, -50], [30, 0]], 120, 1), ToyLayer("b", [[10, 10]], 5, 0)])
    x = np.array([[1, 0], [1, 1], [1, 0], [0, 1], [0, 0], [0, 0]], np.int64)[:, None]
    res = ToyTarget().emulator(prog).run(x, record=True)
    assert res.states["a/v"][:, 0].tolist() == [[100, 30], [100, 45], [0, 53], [-50, 27], [-25, 14], [-12, 7]]
    assert res.states["a/output"][:, 0, 0].tolist() == [0, 0, 1, 0, 0, 0]
    assert res.outputs["b"][:, 0, 0].tolist() == [0, 0, 0, 1, 0, 0]
    sat = ToyProgram([ToyLayer("c", [[127]], 32767, 0)])
    out = ToyTarget().emulator(sat).run(np.full((2, 1, 1), 300, np.int64), record=True)
    assert out.states["c/v"].ravel().tolist() == [32767, 32767] and out.outputs["c"].sum() == 0


def test_toy_lowering_integers_and_refusals():
    res = compiled("toy")
    a, b = res.program.layers
    assert (a.name, b.name) == ("n", "n2") and res.program.meta["io"]["outputs"][0]["key"] == "n2"
    assert np.array_equal(a.weights, 127 * np.eye(3, dtype=np.int8)) and (a.threshold, a.shift) == (85, 0)
    assert res.target.latency(res.program) == {"out": 1}
    big = tiny()
    big.nodes["w2"] = nir.Linear(weight=np.ones((300, 3), F32))
    big.nodes["n2"] = nir.IF(r=np.ones(300, F32), v_threshold=np.ones(300, F32), v_reset=np.zeros(300, F32))
    big.nodes["out"] = nir.Output(output_type={"output": np.array([300])})
    with pytest.raises(nircc.NirccError) as e:
        nircc.compile(big, "toy", dt=1.0, semantics="nir")
    assert (e.value.node, e.value.field) == ("n2", "neurons") and "6 of toy1's 4 cores" in str(e.value)


def test_an_installed_plugin_is_one_entry_point_and_a_broken_one_is_named(monkeypatch):
    """A package declares ``[project.entry-points."nircc.targets"] toy2 = "tests.backends.toy_target:ToyTarget"``:
    nircc finds it without an edit; one that does not import is an error naming it, and the
    other targets keep working."""
    from importlib.metadata import EntryPoint

    eps = [EntryPoint("toy2", "tests.backends.toy_target:ToyTarget", backends.ENTRY_POINTS),
           EntryPoint("broken", "no_such_chip_package:Target", backends.ENTRY_POINTS)]
    monkeypatch.setattr(backends.importlib.metadata, "entry_points",
                        lambda group: [e for e in eps if e.group == group])
    monkeypatch.setattr(backends, "_LOADED", False)
    monkeypatch.setattr(backends, "_REGISTRY", {})
    assert {"toy2", "broken", "xylo"} <= set(backends.names())
    assert isinstance(backends.get("toy2"), ToyTarget)
    res = nircc.compile(tiny(), "toy2", dt=1e-3, semantics="nir")
    assert res.emulate({"in": np.ones((3, 1, 3), np.uint8)}).outputs["out"].shape == (3, 1, 3)
    with pytest.raises(nircc.NirccError) as e:
        backends.get("broken")
    assert e.value.message.startswith("target 'broken' (no_such_chip_package:Target) does not load: "
                                      "ModuleNotFoundError")
    assert backends.get("xylo").name == "xylo"


def test_registered_is_scoped_and_restores(tmp_path):
    with backends.registered("toy3", ToyTarget):
        assert "toy3" in backends.names()
    assert "toy3" not in backends.names()
    with backends.registered("xylo", ToyTarget):          # shadowing a built-in, then restoring it
        assert isinstance(backends.get("xylo"), ToyTarget)
    assert backends.get("xylo").name == "xylo"


@pytest.mark.parametrize("target", ALL)
def test_emulator_refuses_an_option_it_does_not_take(target):
    res = compiled(target)
    with pytest.raises(nircc.NirccError) as e:
        res.target.emulator(res.program, no_such_option=1)
    assert "no_such_option" in e.value.message and e.value.message.startswith(f"the {res.target.label}")


@pytest.mark.parametrize("target", ALL)
def test_capabilities_are_data_the_policy_and_the_check_read(target):
    """Each target declares what its neurons can do; the semantics policy and the node-type
    check read that one table, so a node type the chip cannot run is refused with its
    reason on every target, by the same words."""
    from nircc.backends.capabilities import Capabilities
    from nircc.ir.graph import NODE_TYPES

    t = backends.get(target)
    caps = t.capabilities
    assert isinstance(caps, Capabilities) and caps.chip == t.label
    assert t.semantics_rules == dict(caps.rules)
    assert set(caps.nodes) <= set(NODE_TYPES) and set(caps.unsupported) <= set(NODE_TYPES)
    if target != "toy":                  # a built-in chip gives a reason for every NIR type it cannot run
        assert set(NODE_TYPES) - {"Input", "Output"} <= set(caps.nodes) | set(caps.unsupported), target
    one = np.ones(3, F32)
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([3])}),
                            "w": nir.Linear(weight=np.eye(3, dtype=F32)), "th": nir.Threshold(threshold=one),
                            "out": nir.Output(output_type={"output": np.array([3])})},
                     edges=[("in", "w"), ("w", "th"), ("th", "out")], type_check=False)
    with pytest.raises(nircc.NirccError) as e:
        nircc.compile(g, target, dt=1e-3, semantics="nir")
    (err,) = [x for x in e.value.errors if x.node == "th"]
    assert (err.code, err.field, err.message) == ("unsupported-node", "type", caps.why_not("Threshold"))
    assert err.message.startswith(f"{t.label} cannot run Threshold")


def test_info_target_shows_capabilities_and_options(capsys):
    assert main(["info", "--target", "xylo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("xylo: SynSense Xylo") and "    CubaLIF  hidden or readout neurons" in out
    assert "spike when v >= threshold; reset: subtract; bias: membrane; decay: bit-shift; delays: none" in out
    assert "    threshold_max = 4095  (int)" in out
    assert main(["info", "--target", "all", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["target"] for d in doc] == backends.names()
    loihi = {d["target"]: d for d in doc}["loihi"]["capabilities"]
    assert (loihi["threshold"], loihi["delay_steps"], loihi["per_layer"]) == (">", 62, ["du", "dv", "vth"])
    assert main(["info", "--target", "nope"]) == 2 and "unknown target 'nope'" in capsys.readouterr().err
    assert main(["info"]) == 2 and "needs a .nir model (or --target T)" in capsys.readouterr().err
    assert main(["info", str(paths.EXAMPLES / "braille_rnn.nir"), "--target", "xylo"]) == 2
    assert "give a .nir model or --target, not both" in capsys.readouterr().err
