"""One policy on every target for a rule the chip cannot realise (Target.realise_semantics):
compile with the chip's closest rule, warn naming each rule, keep the model's rules for the
reference, and split the fidelity into the rule change and quantization.  Before it, Loihi and
SpiNNaker2 refused snnTorch's reset ("compile with --reset zero") and Xylo warned in its own
words; a detected snnTorch file could not compile for Loihi at all."""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest

import nircc
from nircc.backends import base as backends
from nircc.semantics import Semantics

F32 = np.float32
SNNTORCH = Semantics.preset("snntorch")


def two_layers(v_leak: float = 0.0) -> nir.NIRGraph:
    """Input(3) -> Linear -> LIF(3) -> Linear -> LIF(3) -> Output, tau 5 ms, dt 1 ms."""
    one = np.ones(3, F32)

    def lif():
        return nir.LIF(tau=5e-3 * one, r=one, v_leak=v_leak * one, v_threshold=one, v_reset=0 * one)

    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "w0": nir.Linear(weight=2.5 * np.eye(3, dtype=F32)),
             "n0": lif(), "w1": nir.Linear(weight=3 * np.eye(3, dtype=F32)), "n1": lif(),
             "out": nir.Output(output_type={"output": np.array([3])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "w0"), ("w0", "n0"), ("n0", "w1"), ("w1", "n1"), ("n1", "out")],
                        type_check=False)


#: per target, the option values that the chip does not realise, and the ones it runs instead
UNREALISABLE = {
    "xylo": {"threshold": (">", ">="), "spike": ("single", "multi"), "reset": ("zero", "subtract"),
             "reset_timing": ("next_step", "immediate"), "v_min": ("-threshold", "none")},
    "loihi": {"reset": ("subtract", "zero"), "reset_timing": ("next_step", "immediate"), "spike": ("multi", "single"),
              "v_min": ("-threshold", "none")},
    "spinnaker2": {"spike": ("multi", "single"), "reset_timing": ("next_step", "immediate"),
                   "v_min": ("-threshold", "none")},
}
CASES = [(t, opt, model, chip) for t, rules in UNREALISABLE.items() for opt, (model, chip) in rules.items()]


@pytest.mark.parametrize("target, option, model, chip", CASES)
def test_a_rule_the_chip_lacks_compiles_with_its_closest_and_one_warning(target, option, model, chip):
    base = Semantics.preset("rockpool") if target == "xylo" else Semantics.preset("nir")
    sem = dataclasses.replace(base, **{option: model})
    res = nircc.compile(two_layers(), target, dt=1e-3, semantics=sem)
    assert getattr(res.model_semantics, option) == model          # the reference keeps the model's rule
    assert getattr(res.options.semantics, option) == chip         # the chip runs its closest
    assert res.options.semantics.differences(res.model_semantics) == {option: (chip, model)}
    (d,) = res.diagnostics.with_code("semantics-approximated")
    assert d.level == "warning" and (d.node, d.field) == ("n0", "semantics")
    assert f"{option} {model!r} -> " in d.message and "(2 node(s), e.g. 'n0')" in d.message
    assert res.report["semantics"][option] == model and res.report["chip_semantics"][option] == chip


@pytest.mark.parametrize("target", ["loihi", "spinnaker2", "xylo"])
def test_initial_v_leak_matters_only_with_a_leak(target):
    sem = dataclasses.replace(Semantics.preset("rockpool" if target == "xylo" else "nir"), initial_v="leak")
    quiet = nircc.compile(two_layers(), target, dt=1e-3, semantics=sem)
    assert quiet.options.semantics == quiet.model_semantics
    assert not quiet.diagnostics.with_code("semantics-approximated")
    if target == "xylo":
        return  # Xylo has no v_leak
    res = nircc.compile(two_layers(v_leak=0.2), target, dt=1e-3, semantics=sem)
    (d,) = res.diagnostics.with_code("semantics-approximated")
    assert "initial_v 'leak' -> v = 0 at the start" in d.message and res.options.semantics.initial_v == "zero"


def test_no_rule_differs_no_warning_and_no_split():
    res = nircc.compile(two_layers(), "loihi", dt=1e-3, semantics="nir")
    assert not res.diagnostics.with_code("semantics-approximated")
    rep = res.fidelity(res.probe_inputs(50, batch=3, rate=0.5))
    assert rep.chip_semantics is None and rep.chip_rules == {} and rep.rules_only == {}


def test_the_split_is_the_two_reference_runs_and_the_chip():
    """rules_only compares the reference under the model's rules with the reference under the
    chip's; chip_rules the chip with the latter: recomputed here from the parts."""
    from nircc import fidelity as F

    res = nircc.compile(two_layers(), "loihi", dt=1e-3, semantics=SNNTORCH)
    x = res.probe_inputs(60, batch=5, rate=0.5, seed=3)
    rep = res.fidelity(x)
    model = nircc.simulate(res.graph, x, semantics=res.model_semantics).outputs["out"]
    rules = nircc.simulate(res.graph, x, semantics=res.options.semantics).outputs["out"]
    assert not np.array_equal(model, rules)     # snnTorch's reset changes the spikes here
    lat = res.target.latency(res.program)["out"]
    chip = res.emulate(F.pad_steps(x, lat)).outputs["out"][lat:lat + 60]
    assert rep.rules_only["out"] == F.compare_output("out", model, rules, True, 0)
    assert rep.chip_rules["out"] == F.compare_output("out", rules, chip, True, lat)
    assert rep.outputs["out"] == F.compare_output("out", model, chip, True, lat)


def test_every_target_declares_only_known_options_and_values():
    from nircc.semantics import CHOICES

    for name in backends.names():
        t = backends.get(name)
        for option, allowed in t.semantics_rules.items():
            assert option in CHOICES and allowed and set(allowed) <= set(CHOICES[option]), (name, option)
            assert t.capabilities.words(option, allowed[0]) != repr(allowed[0]), (name, option)   # has words
