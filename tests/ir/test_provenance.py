"""Exporter detection and the default semantics (nircc.provenance), on real exports: the
fixtures of benchmarks/deploy (each trained and exported by its framework) and the NIR
paper's files.  Before, every file compiled with NIR's defaults and nothing said so: the
Norse MLP's reference agreed with Norse on 26 % of its decisions, the sinabs CNN on 9.5 %."""
from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

import nircc
from nircc.provenance import detect_exporter, resolve_semantics
from tests import paths

ROOT = paths.ROOT
FIXTURES = ROOT / "benchmarks" / "deploy" / "fixtures"
PAPER = ROOT / "tests" / "data" / "nir_paper"
F32 = np.float32


def fixture(name: str) -> tuple[dict, dict, Path]:
    d = FIXTURES / name
    with np.load(d / "data.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    return json.loads((d / "meta.json").read_text()), data, d / "model.nir"


ALL = sorted(p.name for p in FIXTURES.iterdir() if (p / "model.nir").exists())
FAITHFUL = [n for n in ALL if json.loads((FIXTURES / n / "meta.json").read_text()).get("export_faithful", True)]


@pytest.mark.parametrize("name", ALL)
def test_each_fixture_is_detected_as_its_framework(name):
    meta, _, path = fixture(name)
    det = detect_exporter(nircc.load(path))
    assert det.exporter == meta["framework"], det.to_dict()
    assert det.evidence[meta["framework"]]


@pytest.mark.parametrize("name", FAITHFUL)
def test_the_default_reference_reproduces_the_framework_exactly(name):
    """Every output entry (step, sample, neuron) as the framework computed it, and so its
    decisions and accuracy, with no semantics given."""
    meta, data, path = fixture(name)
    res = nircc.simulate(nircc.load(path), data["inputs"])
    (out,) = res.outputs.values()
    assert res.semantics.preset_name == meta["framework"]
    assert np.array_equal(out, data["outputs"])
    pred = out.sum(axis=0).argmax(axis=-1)
    assert np.array_equal(pred, data["predictions"])
    assert float(np.mean(pred == data["labels"])) == meta["accuracy"]


def test_the_unfaithful_rockpool_export_is_marked():
    """rockpool 3.1's to_nir drops a LIFTorch's recurrent weights and biases: no reader can
    reproduce that fixture, and its meta says so (bench_deploy prints it)."""
    meta, data, path = fixture("rockpool_rlif")
    assert meta["export_faithful"] is False
    (out,) = nircc.simulate(nircc.load(path), data["inputs"]).outputs.values()
    assert np.mean(out.sum(0).argmax(-1) == data["predictions"]) < 0.5


@pytest.mark.parametrize("file, exporter, evidence", [
    ("braille_noDelay_bias_zero.nir", "snntorch", "r = tau/dt on 2 nodes (dt = 0.0001 s), the dt snnTorch's "
                                                  "export_to_nir writes"),
    ("cnn_sinabs.nir", "sinabs", "every spiking node an IF with r = 1 (5 nodes), no v_reset written and nodes "
                                 "named by their nn.Sequential index"),
    ("lif_rockpool.nir", "rockpool", "r = tau exp(-dt/tau)/dt on 1 node (dt = 0.0001 s)"),
])
def test_paper_files(file, exporter, evidence):
    det = detect_exporter(nircc.load(PAPER / file))
    assert det.exporter == exporter and det.evidence[exporter][0] == evidence


def test_header_and_report_name_the_evidence():
    res = nircc.compile(PAPER / "braille_noDelay_bias_zero.nir", "spinnaker2")
    assert res.options.resolved.header() == (
        "snntorch, detected from r = tau/dt on 2 nodes (dt = 0.0001 s), the dt snnTorch's export_to_nir writes; "
        "recurrent subgraph 'lif1' written as '.lif' + '.w_rec' (RSynaptic/RLeaky); --semantics nir to override")
    src = res.report["semantics_source"]
    assert (src["chosen_by"], src["exporter"], src["candidates"]) == ("detected", "snntorch", ["snntorch"])
    assert res.report["semantics"]["reset_timing"] == "next_step"          # the model as exported
    assert res.report["chip_semantics"]["reset_timing"] == "immediate"     # what SpiNNaker2 runs


def test_ambiguous_encoding_uses_nir_defaults_and_names_the_candidates():
    g = nircc.load(ROOT / "examples" / "loihi_conv_rnn.nir")        # r = tau/dt at dt = 1e-3 s
    r = resolve_semantics(g)
    assert r.chosen_by == "default" and r.semantics.preset_name == "nir" and r.detection.ambiguous
    (d,) = r.diagnostics.with_code("semantics-ambiguous")
    assert d.message.startswith("the file could come from snntorch or lava-dl (") and \
        "pass --semantics snntorch|lava-dl" in d.message


def _if_net(v_reset: bool, names=("fc", "lif")) -> nir.NIRGraph:
    one = np.ones(3, F32)
    neuron = nir.IF(r=one, v_threshold=one, v_reset=0 * one) if v_reset else nir.IF(r=one, v_threshold=one)
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), names[0]: nir.Linear(weight=np.eye(3, dtype=F32)),
             names[1]: neuron, "out": nir.Output(output_type={"output": np.array([3])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", names[0]), (names[0], names[1]), (names[1], "out")],
                        type_check=False)


def test_a_hand_written_if_network_is_not_called_sinabs():
    assert detect_exporter(nircc.load(_if_net(v_reset=True))).exporter is None
    assert detect_exporter(nircc.load(_if_net(v_reset=True, names=("0", "1")))).exporter == "sinabs"


def test_a_few_r_values_fitting_an_encoding_at_an_odd_dt_are_no_evidence():
    """A CubaLI with r = [2, 1] fits rockpool's encoding at dt = 3.51734 ms: no exporter
    writes such a dt (this made a hand-built test graph 'rockpool')."""
    li = nir.CubaLI(tau_syn=np.full(2, 5e-3, F32), tau_mem=np.array([0.01, 0.02], F32), r=np.array([2, 1], F32),
                    v_leak=np.zeros(2, F32), w_in=np.array([1.5, 0.5], F32))
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([2])}), "li": li,
                            "out": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("in", "li"), ("li", "out")], type_check=False)
    assert detect_exporter(nircc.load(g)).to_dict() == {"exporter": None, "candidates": [], "evidence": {}}


def test_norse_tau_is_repaired_with_the_norse_preset_only():
    _, _, path = fixture("norse_lifbox_mlp")
    g = nircc.load(path)
    assert float(np.max(g.op("1").tau)) == pytest.approx(1e-5)
    r = resolve_semantics(g)                          # detected: norse, dt 1e-3
    assert r.chosen_by == "detected" and r.semantics.dt == 1e-3
    fixed = [d for d in r.diagnostics.with_code("norse-tau")]
    assert [d.node for d in fixed] == ["1", "3"] and "repaired to tau / dt = 0.01 s" in fixed[0].message
    assert np.allclose(r.graph.op("1").tau, 0.01) and float(np.max(g.op("1").tau)) < 1e-4   # a copy
    plain = resolve_semantics(g, "nir")               # the user's choice: named, not repaired
    (hint,) = plain.diagnostics.with_code("norse-tau")
    assert "--semantics norse repairs them" in hint.message and plain.graph is g


def test_single_options_apply_on_top_of_the_detected_preset():
    r = resolve_semantics(nircc.load(PAPER / "braille_noDelay_bias_zero.nir"), {"reset": "zero"})
    assert (r.semantics.preset_name, r.semantics.reset, r.semantics.reset_timing) == ("snntorch", "zero", "next_step")
    assert r.header().startswith("snntorch with reset 'zero' as given, detected from r = tau/dt")
    (d,) = r.diagnostics.with_code("semantics-override")
    assert d.message.startswith("the reference uses reset 'zero' (not snntorch's 'subtract') as given, though the "
                                "file looks like snntorch's")
    user = resolve_semantics(nircc.load(PAPER / "braille_noDelay_bias_zero.nir"), "norse")
    assert user.chosen_by == "user" and user.header() == "norse, as given (the file looks like snntorch's)"
    assert "reset_timing 'immediate' (not snntorch's 'next_step')" in user.diagnostics.with_code(
        "semantics-override")[0].message
    assert not resolve_semantics(nircc.load(PAPER / "braille_noDelay_bias_zero.nir"), "snntorch").diagnostics.with_code(
        "semantics-override")


def test_cli_check_prints_the_semantics_once(capsys):
    from nircc.cli import main

    assert main(["check", str(FIXTURES / "sinabs_iaf_cnn" / "model.nir"), "--target", "speck"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("semantics: sinabs, detected from every spiking node an IF with r = 1 (3 nodes), no v_reset "
                      "written and nodes named by their nn.Sequential index; --semantics nir to override")
    assert out[1].startswith("  sinabs: dt=1 s, exact, reset subtract (immediate), multi spike, v >= threshold")
