"""The fidelity check (nircc.fidelity, docs/fidelity.md): metrics with hand-computed values,
flags that no percentage hides, and the CLI's --fidelity-data, --min-agreement and
report.json.  Before: "100.0% (0 reference vs 0 chip spikes)" for a silent sinabs CNN,
"0.0% (88635...(92 digits) reference vs 1342 chip spikes)" for a diverged reference with
nothing saying so, no decision agreement, fidelity not in report.json, no gate."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest

import nircc
from nircc import fidelity as F
from nircc.cli import main
from tests import paths

ROOT = paths.ROOT
FIXTURES = ROOT / "benchmarks" / "deploy" / "fixtures"
F32 = np.float32


# ----------------------------------------------------------------------------- metrics
def test_decisions_argmax_of_counts_ties_to_the_lowest_index():
    y = np.zeros((3, 4, 3))
    y[0, 0, 2] = y[1, 0, 2] = 1            # sample 0: neuron 2
    y[:, 1, 0] = y[:, 1, 1] = 1            # sample 1: tie 0/1 -> 0
    y[2, 3, 1] = 1                         # sample 3: neuron 1; sample 2 silent -> 0
    assert F.decisions(y, spiking=True).tolist() == [2, 0, 0, 1]
    v = np.array([[[1.0, 0.0]], [[0.0, 4.0]], [[2.0, 0.0]]])      # [T=3, B=1, 2]: sums 3, 4; max 2, 4
    assert [F.decisions(v, False, r)[0] for r in ("mean", "max", "last")] == [1, 1, 0]


def test_compare_output_by_hand():
    ref = np.zeros((4, 2, 2))
    chip = np.zeros((4, 2, 2))
    ref[0, 0, 0] = ref[1, 0, 0] = ref[2, 1, 1] = 1      # counts [[2, 0], [0, 1]]
    chip[0, 0, 0] = chip[3, 1, 0] = 1                   # counts [[1, 0], [1, 0]]
    o = F.compare_output("o", ref, chip, spiking=True, labels=np.array([0, 1]))
    assert (o.ref_spikes, o.chip_spikes) == (3, 2)
    assert o.count_agreement == pytest.approx(1 - 3 / 5)          # |2-1| + |0-1| + |1-0| = 3 over 5
    assert o.step_agreement == pytest.approx(13 / 16) and o.first_divergence == 1    # 3 of 16 entries differ
    assert (o.decision_agreement, o.ref_accuracy, o.chip_accuracy) == (0.5, 1.0, 0.5)
    assert o.line() == ("decisions 1/2 (50.0%), accuracy 100.0% reference, 50.0% chip, spike counts 40.0% "
                        "(3 reference vs 2 chip spikes), per step 81.2%, first divergence step 1")


def test_layer_activity_by_hand():
    ref = np.zeros((10, 2, 3))
    chip = np.zeros((10, 2, 3))
    ref[:, :, 0] = 1               # neuron 0 fires every step in both: busy, not saturated
    chip[:, :, 0] = 1
    ref[0, 0, 1] = 1               # neuron 1: once in the reference, every step on the chip: saturated
    chip[:, :, 1] = 1
    ref[3, 1, 2] = 1               # neuron 2: once in the reference, never on the chip: dead
    (lay,) = F.activity({"h": ref}, {"h": chip})
    assert (lay.neurons, lay.ref_silent, lay.chip_silent, lay.dead, lay.saturated) == (3, 0, 1, 1, 1)
    assert (lay.ref_rate, lay.chip_rate) == (pytest.approx(22 / 60), pytest.approx(40 / 60))
    (missing,) = F.activity({"h": ref}, {})
    assert (missing.chip_rate, missing.dead, missing.saturated) == (None, None, None)


# ----------------------------------------------------------------------------- flags
def test_a_silent_reference_is_flagged_not_reported_as_perfect():
    """The sinabs CNN with NIR's defaults (dt 1 ms: the IF adds 1e-3 x per step) never fires."""
    res = nircc.compile(FIXTURES / "sinabs_iaf_cnn" / "model.nir", "speck", semantics="nir")
    rep = res.fidelity(res.probe_inputs(40, batch=2, rate=0.2))
    assert rep.outputs["output"].ref_spikes == 0
    assert [f.code for f in rep.flags][:1] == ["silent-reference"] and rep.meaningless
    assert rep.summary().splitlines()[1].startswith(
        "  FLAG silent-reference: the reference output 'output' never fires")


def test_a_diverged_reference_is_flagged():
    """The Braille example (snnTorch) with rockpool's multi-spike rule explodes."""
    res = nircc.compile(ROOT / "examples" / "braille_rnn.nir", "xylo", semantics="rockpool")
    rep = res.fidelity(res.probe_inputs(200, 4))
    assert rep.flags[0].code == "diverged-reference" and rep.flags[0].node == "lif1"
    assert "spikes in one step" in rep.flags[0].message
    assert "...(" in rep.outputs["output"].line()            # the count is shortened, not printed whole


def test_a_split_against_a_diverged_chip_rule_reference_is_flagged_not_given():
    """The snnTorch RSynaptic on Xylo: under the chip's rules (several spikes per step, an
    immediate subtract) the float model explodes, so no "rules alone" percentage is printed
    (before: "keep 0.0% of decisions; quantization and mapping alone 25.0%")."""
    res = nircc.compile(FIXTURES / "snntorch_rsynaptic" / "model.nir", "xylo")
    x = res.probe_inputs(100, 4)
    rule = nircc.simulate(res.graph, x, semantics=res.options.semantics, record=["1.lif"]).states["1.lif"]["output"]
    assert rule.max() > F.EXPLODE_SPIKES                    # the float reference with the chip's rules explodes
    rep = res.fidelity(x)
    codes = [f.code for f in rep.flags]
    assert codes[0] == "diverged-chip-rules" and "diverged-reference" not in codes and not rep.meaningless
    assert rep.flags[0].node == "1.lif" and "spikes in one step" in rep.flags[0].message
    assert rep.chip_rules == {} and rep.rules_only == {} and rep.chip_semantics["spike"] == "multi"
    assert "  split: not given: the model diverges under the chip's rules (reset_timing immediate, spike multi, " \
           "threshold >=), see the flag" in rep.summary().splitlines()
    assert "keep" not in rep.summary()
    # the same model on SpiNNaker2 (one spike per step) keeps its split
    s2 = nircc.compile(FIXTURES / "snntorch_rsynaptic" / "model.nir", "spinnaker2")
    rep2 = s2.fidelity(x)
    assert "diverged-chip-rules" not in [f.code for f in rep2.flags] and set(rep2.rules_only) == {"output"}


def _two_scale_net() -> nir.NIRGraph:
    """Input(4) -> Linear -> 6 LIF -> Linear -> 2 LIF; hidden neurons 3..5 get weights 1/400 of
    the others: one global gain rounds them to zero."""
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 1.0, (6, 4))
    w[3:] /= 400
    one6, one2 = np.ones(6, F32), np.ones(2, F32)
    thr = (0.02 * np.r_[1, 1, 1, 1 / 250, 1 / 250, 1 / 250]).astype(F32)      # each neuron fires in the reference
    nodes = {"in": nir.Input(input_type={"input": np.array([4])}), "w0": nir.Linear(weight=w.astype(F32)),
             "h": nir.LIF(tau=0.02 * one6, r=one6, v_leak=0 * one6, v_threshold=thr, v_reset=0 * one6),
             "w1": nir.Linear(weight=np.full((2, 6), 0.5, F32)),
             "o": nir.LIF(tau=0.02 * one2, r=one2, v_leak=0 * one2, v_threshold=0.05 * one2, v_reset=0 * one2),
             "out": nir.Output(output_type={"output": np.array([2])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "w0"), ("w0", "h"), ("h", "w1"), ("w1", "o"), ("o", "out")],
                        type_check=False)


def test_neurons_dead_on_the_chip_are_flagged_by_layer():
    res = nircc.compile(_two_scale_net(), "xylo", dt=1e-3, semantics="rockpool", options={"quantization": "global"})
    zeroed = np.flatnonzero(~np.any(res.program.weights_in != 0, axis=(0, 2)))    # hidden ids with no input
    assert zeroed.tolist() == [3, 4, 5]
    rep = res.fidelity(res.probe_inputs(100, batch=2, rate=0.5))
    (lay,) = [x for x in rep.layers if x.node == "h"]
    ref_fires = np.flatnonzero(nircc.simulate(res.graph, res.probe_inputs(100, batch=2, rate=0.5), semantics="rockpool",
                                              record=["h"]).states["h"]["output"].sum(axis=(0, 1)))
    assert lay.dead == len(set(zeroed) & set(ref_fires)) == 3
    (flag,) = [f for f in rep.flags if f.code == "dead-neurons"]
    assert flag.message == "3 of 6 neurons of 'h' fire in the reference but never on the chip"
    assert rep.outputs["out"].decision_agreement == 1.0     # the decisions hide the loss: the flag does not
    chan = nircc.compile(_two_scale_net(), "xylo", dt=1e-3, semantics="rockpool")
    assert not [f for f in chan.fidelity(res.probe_inputs(100, batch=2, rate=0.5)).flags if f.code == "dead-neurons"]


# ----------------------------------------------------------------------------- the CLI
def test_cli_fidelity_data_labels_report_and_gate(tmp_path, capsys):
    """The snnTorch MLP on SpiNNaker2 with the framework's own test set: 99.0 % of the
    decisions (bench_deploy's figure), so a 99 % gate passes and a 99.5 % gate fails."""
    fx = FIXTURES / "snntorch_leaky_mlp"
    out = tmp_path / "out"
    args = [str(fx / "model.nir"), "--target", "spinnaker2", "-o", str(out), "--fidelity-data", str(fx / "data.npz")]
    assert main(args + ["--min-agreement", "99%"]) == 0
    text = capsys.readouterr().out
    assert "semantics: snntorch, detected from r = tau/dt on 2 nodes (dt = 0.0001 s)" in text
    assert "25 steps x 200 samples of " + str(fx / "data.npz") + " with labels (ignored: outputs, predictions)" in text
    assert "output, chip vs snntorch as exported; chip output 2 step(s) late, aligned: decisions 198/200 (99.0%), " \
           "accuracy 92.5% reference, 93.5% chip" in text
    rep = json.loads((out / "report.json").read_text())["fidelity"]
    assert rep["decision_agreement"] == 0.99 and rep["outputs"]["output"]["ref_accuracy"] == 0.925
    assert rep["chip_semantics"]["reset_timing"] == "immediate" and rep["rules_only"]["output"]["samples"] == 200
    assert main(args + ["--min-agreement", "0.995", "-q"]) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.splitlines()[-1] == (
        "nircc: error: --min-agreement: the chip agrees with the model on 99.0% of the decisions (< 99.5%)")
    assert json.loads((out / "report.json").read_text())["fidelity"]["decision_agreement"] == 0.99   # -q still checks


def test_cli_gate_fails_on_a_silent_network(tmp_path, capsys):
    fx = FIXTURES / "sinabs_iaf_cnn"
    assert main([str(fx / "model.nir"), "--target", "speck", "-o", str(tmp_path / "o"), "--semantics", "nir",
                 "--fidelity-steps", "20", "--min-agreement", "0", "-q"]) == 1
    assert "nircc: error: --min-agreement: silent-reference: the reference output 'output' never fires" in \
        capsys.readouterr().err


@pytest.mark.parametrize("value", ["1.5", "abc", "-1%", "120%"])
def test_cli_min_agreement_values(tmp_path, capsys, value):
    assert main([str(ROOT / "examples" / "tiny_lif.nir"), "--target", "spinnaker2", "-o", str(tmp_path / "o"),
                 f"--min-agreement={value}"]) == 2
    assert "--min-agreement takes a fraction in [0, 1] or a percentage" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_fidelity_data_is_checked_before_the_work(tmp_path, capsys):
    fx = FIXTURES / "snntorch_leaky_mlp"
    with np.load(fx / "data.npz") as z:
        np.savez(tmp_path / "bad.npz", inputs=z["inputs"], labels=z["labels"][:10])
        np.savez(tmp_path / "shape.npz", inputs=z["inputs"][..., :8])
    for name, msg in (("bad.npz", "'labels' in "), ("shape.npz", "input has shape [25, 200, 8]; expected [T, B, 64]")):
        assert main([str(fx / "model.nir"), "--target", "loihi", "-o", str(tmp_path / "o"), "--fidelity-data",
                     str(tmp_path / name)]) == 2
        assert msg in capsys.readouterr().err
        assert not (tmp_path / "o").exists()
