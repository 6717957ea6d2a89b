"""Speck end to end: the samna JSON layout, ``to_sdk`` with a stand-in samna, ``Target.run``,
fidelity against the reference on the example and the NIR paper CNN, the CLI (byte-identical
artifacts, atomic failure), and the event model = reference in the regime of speck.md §2.3
(property test)."""
from __future__ import annotations

import json
import sys
import types

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nircc
from nircc.backends.speck import emit as E
from nircc.backends.speck.program import SpeckProgram
from nircc.cli import main as cli
from nircc.errors import NirccError
from nircc.semantics import Semantics

from tests import paths
from tests.backends.speck.test_lower import (F32, NIR_DT1, SINABS, chain, compile_, conv, flatten, if_, inp, lossless,
                                             out, pool, rand_input)

ROOT = paths.ROOT
EXAMPLE = ROOT / "examples" / "speck_nmnist.nir"
CNN = ROOT / "tests" / "data" / "nir_paper" / "cnn_sinabs.nir"


def stride_net(**options) -> nircc.CompileResult:
    """A Linear on a 2x3x4 map: kernel 4, stride (y 2, x 1), padding (y 1, x 0), plus a leak."""
    w = lossless(np.random.default_rng(2).integers(-2, 4, (3, 24)) * 30)
    g = chain(("input", inp(2, 3, 4)), ("flat", flatten(2, 3, 4)),
              ("fc", nir.Affine(weight=w, bias=np.array([-0.5, 0.0, -1.0], F32))), ("lif", if_((3,), 200 / 64)),
              ("output", out(3)))
    return compile_(g, dvs=False, **options)


# ----------------------------------------------------------------------------- speck.json
def test_samna_layout_of_a_core(tmp_path):
    res = stride_net()
    files = res.save(tmp_path)
    assert [f.name for f in files] == ["speck.json", "program.json", "report.json"]
    doc = json.loads((tmp_path / "speck.json").read_text())
    assert (doc["schema"], doc["schema_version"], doc["variant"]) == ("nircc.speck", 2, "speck2f")
    assert doc["configuration_class"] == "samna.speck2f.configuration.SpeckConfiguration"
    assert doc["layer2core"] == {"lif": 0} and doc["nir_nodes"] == {"lif": ["fc", "lif"]}
    assert doc["slow_clk_frequency"] == 1.0 and doc["dt"] == 1.0          # one leak tick per bin of 1 s
    assert doc["outputs"] == [{"name": "output", "core": 0, "pooling": 1, "neuron_shape": [3, 1, 1], "shape": [3]}]
    assert doc["input"]["kind"] == "cnn" and doc["input"]["cores"] == [0] and doc["input"]["shape"] == [2, 3, 4]
    layers = doc["configuration"]["cnn_layers"]
    assert len(layers) == 9 and layers[1:] == [None] * 8
    c = layers[0]
    assert c["dimensions"] == {"input_shape": {"size": {"x": 4, "y": 3}, "feature_count": 2},
                               "output_shape": {"size": {"x": 1, "y": 1}, "feature_count": 3},
                               "padding": {"x": 0, "y": 1}, "stride": {"x": 1, "y": 2}, "kernel_size": 4}
    lay = res.program.layers[0]
    w = np.array(c["weights"])
    assert w.shape == (3, 2, 4, 4)
    for f, ch, ky, kx in [(0, 0, 1, 3), (2, 1, 3, 0), (1, 1, 2, 1)]:
        assert w[f, ch, kx, ky] == lay.weights[f, ch, ky, kx]
    # bias -0.5 * 64 = -32 per leak tick; threshold 200 -> 201 ('>')
    assert c["biases"] == [-32, 0, -64] and c["leak_enable"] is True
    assert (c["threshold_high"], c["threshold_low"], c["return_to_zero"], c["monitor_enable"]) == (201, -32640, True,
                                                                                                  True)
    assert np.array(c["neurons_initial_value"]).shape == (3, 1, 1)
    assert c["destinations"] == [{"layer": 0, "enable": False, "pooling": 1, "feature_shift": 0}] * 2
    assert doc["configuration"]["dvs_layer"] == {"pass_sensor_events": False}
    assert E.load_program(tmp_path).to_dict() == res.program.to_dict()


def test_samna_layout_of_routing_dvs_and_initial_values():
    res = compile_(chain(("input", inp(2, 8, 8)), ("p", pool(2)), ("c", conv(np.ones((2, 2, 1, 1)))),
                         ("i", if_((2, 4, 4), 2.0)), ("p2", pool(2)), ("c2", conv(np.ones((1, 2, 1, 1)))),
                         ("i2", if_((1, 2, 2), 3.0)), ("output", out(1, 2, 2))))
    prog = res.program
    prog.layers[0].neurons_initial_value[1, 0, 3] = 5
    doc = E.samna_config(prog)
    c0 = doc["configuration"]["cnn_layers"][0]
    assert c0["destinations"][0] == {"layer": 1, "enable": True, "pooling": 2, "feature_shift": 0}
    assert c0["monitor_enable"] is False and doc["configuration"]["cnn_layers"][1]["monitor_enable"] is True
    assert c0["neurons_initial_value"][1][3][0] == 5                       # [F][x][y]
    dvs = doc["configuration"]["dvs_layer"]
    assert dvs == {"pass_sensor_events": False, "merge": False, "mirror": {"x": False, "y": False},
                   "mirror_diagonal": False, "origin": {"x": 0, "y": 0}, "cut": {"x": 3, "y": 3},
                   "pooling": {"x": 2, "y": 2}, "on_channel": True, "off_channel": True, "monitor_enable": False,
                   "destinations": [{"layer": 0, "enable": True}, {"layer": 0, "enable": False}]}
    assert doc["slow_clk_frequency"] is None
    sensor = compile_(chain(("input", inp(2, 8, 8)), ("c", conv(np.ones((1, 2, 1, 1)))), ("i", if_((1, 8, 8), 2.0)),
                            ("output", out(1, 8, 8))), dvs_sensor=True)
    assert E.samna_config(sensor.program)["configuration"]["dvs_layer"]["pass_sensor_events"] is True


def test_dynapcnn_variant_writes_kill_bits():
    res = nircc.compile(chain(("input", inp(1, 2, 2)), ("c", conv(np.array([[[[1, 0], [0, 2]]]]))),
                              ("i", if_((1, 1, 1), 2.0)), ("output", out(1, 1, 1))), "speck", variant="dynapcnn",
                        semantics=NIR_DT1)
    doc = E.samna_config(res.program)
    c = doc["configuration"]["cnn_layers"][0]
    assert doc["configuration_class"] == "samna.dynapcnn.configuration.DynapcnnConfiguration"
    assert c["weights"] == [[[[64, 0], [0, 127]]]] and c["weights_kill_bit"] == [[[[False, True], [True, False]]]]
    assert c["biases_kill_bit"] == [True] and c["neurons_value_kill_bit"] == [[[False]]]
    with pytest.raises(NirccError, match="no DVS sensor"):
        nircc.compile(EXAMPLE, "speck", variant="dynapcnn", options={"dvs_sensor": True})


# ----------------------------------------------------------------------------- to_sdk
class Rec:
    """A stand-in samna object: records every attribute set as (path, value)."""

    def __init__(self, path: str, log: list, **children) -> None:
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_log", log)
        for k, v in children.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, key, value) -> None:
        self._log.append((f"{self._path}.{key}", value))


def stand_in_samna(monkeypatch, chip: str = "speck2f", valid=(True, "")) -> list:
    log: list = []

    def configuration():
        dests = lambda p: [Rec(f"{p}.destinations[{i}]", log) for i in range(2)]   # noqa: E731
        layers = [Rec(f"cnn_layers[{i}]", log, destinations=dests(f"cnn_layers[{i}]")) for i in range(9)]
        return Rec("config", log, cnn_layers=layers, dvs_layer=Rec("dvs_layer", log, destinations=dests("dvs_layer")))

    samna = types.ModuleType("samna")
    chip_mod = types.ModuleType(f"samna.{chip}")
    conf = types.ModuleType(f"samna.{chip}.configuration")
    setattr(conf, "DynapcnnConfiguration" if chip == "dynapcnn" else "SpeckConfiguration", configuration)

    def validate_configuration(cfg):
        log.append(("validate", cfg))
        return valid

    chip_mod.validate_configuration = validate_configuration
    chip_mod.configuration = conf
    setattr(samna, chip, chip_mod)
    for name, mod in (("samna", samna), (f"samna.{chip}", chip_mod), (f"samna.{chip}.configuration", conf)):
        monkeypatch.setitem(sys.modules, name, mod)
    return log


def test_to_sdk_builds_the_samna_configuration(monkeypatch):
    log = stand_in_samna(monkeypatch)
    res = compile_(chain(("input", inp(2, 8, 8)), ("p", pool(2)), ("c", conv(np.ones((2, 2, 1, 1)))),
                         ("i", if_((2, 4, 4), 2.0)), ("p2", pool(2)), ("c2", conv(np.ones((1, 2, 1, 1)))),
                         ("i2", if_((1, 2, 2), 3.0)), ("output", out(1, 2, 2))))
    cfg = res.target.to_sdk(res.program)
    rec = dict(log)
    doc = E.samna_config(res.program)["configuration"]
    assert rec["cnn_layers[0].dimensions"] == doc["cnn_layers"][0]["dimensions"]
    assert rec["cnn_layers[0].weights"] == doc["cnn_layers"][0]["weights"]
    assert (rec["cnn_layers[0].destinations[0].layer"], rec["cnn_layers[0].destinations[0].enable"],
            rec["cnn_layers[0].destinations[0].pooling"], rec["cnn_layers[0].destinations[0].feature_shift"]) == \
        (1, True, 2, 0)
    assert "cnn_layers[0].destinations[1].enable" not in rec and not any(k.startswith("cnn_layers[2]") for k in rec)
    assert (rec["cnn_layers[1].threshold_high"], rec["cnn_layers[1].monitor_enable"]) == (3 * 127 + 1, True)
    assert rec["dvs_layer.pass_sensor_events"] is False and rec["dvs_layer.pooling"] == {"x": 2, "y": 2}
    assert (rec["dvs_layer.destinations[0].layer"], rec["dvs_layer.destinations[0].enable"]) == (0, True)
    assert log[-1] == ("validate", cfg)
    # sinabs' order: dimensions first, then destinations, then the other fields
    keys = [k for k, _ in log if k.startswith("cnn_layers[0].")]
    assert keys[0] == "cnn_layers[0].dimensions" and keys[1].startswith("cnn_layers[0].destinations[0]")


def test_to_sdk_dynapcnn_rejection_and_missing_samna(monkeypatch):
    res = nircc.compile(chain(("input", inp(1, 2, 2)), ("c", conv(np.ones((1, 1, 2, 2)))), ("i", if_((1, 1, 1), 2.0)),
                              ("output", out(1, 1, 1))), "speck", variant="dynapcnn", semantics=NIR_DT1)
    with pytest.raises(NirccError, match="samna.dynapcnn' is not importable"):
        res.target.to_sdk(res.program)
    log = stand_in_samna(monkeypatch, "dynapcnn", valid=(False, "kernel too large"))
    with pytest.raises(NirccError, match="validate_configuration rejects the configuration: kernel too large"):
        res.target.to_sdk(res.program)
    assert dict(log[:-1])["cnn_layers[0].weights_kill_bit"] == [[[[False, False], [False, False]]]]


# ----------------------------------------------------------------------------- run / fidelity
def test_run_shapes_modes_and_input_errors():
    res = nircc.compile(EXAMPLE, "speck")
    x = rand_input((2, 34, 34), steps=6, batch=2, rate=0.05, seed=3)
    ev = res.emulate(x, record=True)
    assert ev.outputs["output"].shape == (6, 2, 10) and ev.outputs["output"].dtype == np.int32
    assert ev.states["conv1_if/v"].shape == (6, 2, 16, 16, 16) and "fc2_if/output" in ev.states
    binned = res.target.run(res.program, {"input": x}, mode="binned")
    assert binned.outputs["output"].shape == (6, 2, 10)
    assert res.target.latency(res.program) == {"output": 0}
    with pytest.raises(NirccError, match="non-negative integers"):
        res.emulate(x * 0.5)
    with pytest.raises(NirccError, match="must be non-negative"):
        res.target.run(res.program, {"input": -x})
    with pytest.raises(NirccError, match="inputs \\['x'\\] do not match the program's \\['input'\\]"):
        res.target.run(res.program, {"x": x})
    with pytest.raises(NirccError, match=r"\[T, B, 2, 34, 34\]"):
        res.target.run(res.program, {"input": x[:, :, :1]})


def test_fidelity_on_the_example():
    """Quantization of the example is lossless (weights n/128, thresholds T/128), so the
    binned model (per-step integration, the semantics' spike rule) equals the reference bit
    for bit; the event model differs only by the chip's neuron: with sinabs' conventions
    (multi-spike, >=, subtract) it is close (98-99 %: mixed-sign weights are applied one
    event at a time, so a neuron can fire and then be pushed back within a bin), with NIR's
    (one spike per step, reset to zero) it fires more (a neuron may fire once per input
    event, several times per step)."""
    x = nircc.fidelity.poisson_inputs({"input": (2, 34, 34)}, 100, 2, 0.05, seed=1)
    for sem in (Semantics(dt=1e-3), Semantics.from_options("sinabs", dt=1e-3)):
        exact = nircc.compile(EXAMPLE, "speck", semantics=sem, options={"mode": "binned"}).fidelity(x)
        o = exact.outputs["output"]
        assert (o.count_agreement, o.step_agreement, o.first_divergence) == (1.0, 1.0, None) and o.ref_spikes > 10
    ev = nircc.compile(EXAMPLE, "speck", semantics=Semantics.from_options("sinabs", dt=1e-3)).fidelity(x)
    assert ev.outputs["output"].count_agreement >= 0.95
    nir_ev = nircc.compile(EXAMPLE, "speck").fidelity(x).outputs["output"]
    assert nir_ev.chip_spikes > nir_ev.ref_spikes


def test_fidelity_on_the_paper_cnn():
    """sinabs' trained N-MNIST CNN (float weights, zero biases): the binned model at
    sinabs' settings differs from the reference only by the int8 weights (one gain per
    layer): ~90 % spike-count agreement on random input."""
    res = nircc.compile(CNN, "speck", semantics="sinabs", options={"mode": "binned"})
    x = nircc.fidelity.poisson_inputs({"input": (2, 34, 34)}, 40, 2, 0.05, seed=1)
    o = res.fidelity(x).outputs["output"]
    assert o.count_agreement >= 0.85 and o.ref_spikes > 50


# ----------------------------------------------------------------------------- property: the regime
@st.composite
def regime_nets(draw):
    """Random conv chains with weights in [0, threshold), subtract, >=: speck.md §2.3."""
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    c, h = draw(st.integers(1, 3)), draw(st.integers(5, 9))
    pairs = [("input", inp(c, h, h))]
    for i in range(draw(st.integers(1, 3))):
        k = draw(st.sampled_from([1, 2, 3]))
        s = draw(st.sampled_from([1, 2])) if h >= 4 else 1
        p = draw(st.integers(0, k - 1))
        f = draw(st.integers(1, 3))
        ho = (h + 2 * p - k) // s + 1
        if ho < 1:
            break
        pairs += [(f"c{i}", conv(lossless(rng.integers(0, 100, (f, c, k, k))), stride=s, padding=p)),
                  (f"i{i}", if_((f, ho, ho), draw(st.integers(128, 300)) / 64))]
        c, h = f, ho
        if h >= 4 and draw(st.booleans()):
            pairs.append((f"p{i}", pool(2)))
            h //= 2
    return chain(*pairs, ("output", out(c, h, h))), seed


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(regime_nets())
def test_event_model_equals_reference_in_the_regime(net):
    g, seed = net
    res = compile_(g, SINABS)
    x = rand_input(res.graph.out_shape("input"), steps=8, batch=2, rate=0.4, seed=seed, hi=3)
    ref = res.simulate(x).outputs["output"]
    for mode in ("event", "binned"):
        assert np.array_equal(res.target.run(res.program, {"input": x}, mode=mode).outputs["output"], ref), mode


# ----------------------------------------------------------------------------- CLI
def test_cli_artifact_is_byte_identical_and_failure_is_atomic(tmp_path, capsys):
    args = [str(EXAMPLE), "--target", "speck", "--fidelity-steps", "3", "-q"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(args + ["-o", str(a)]) == 0 and cli(args + ["-o", str(b)]) == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == ["program.json", "report.json", "speck.json"]
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    before = {n: (a / n).read_bytes() for n in names}
    assert cli([str(ROOT / "examples" / "tiny_lif.nir"), "--target", "speck", "-o", str(a)]) == 2
    assert "no leak per time step" in capsys.readouterr().err
    assert {n: (a / n).read_bytes() for n in names} == before
    report = json.loads((a / "report.json").read_text())
    assert report["resources"]["cores_used"] == 5 and report["quantization"]["groups"][0]["node"] == "conv1_if"
    prog = SpeckProgram.from_dict(json.loads((a / "program.json").read_text()))
    assert prog.cores() == [0, 1, 2, 3, 4]


def test_cli_check_options_and_summary(capsys):
    assert cli(["check", str(CNN), "--target", "speck", "--semantics", "sinabs", "--option", "layer2core=10:6",
                "--option", "dvs=false"]) == 0
    text = capsys.readouterr().out
    assert "speck (speck2f): fits" in text and "core 6: 10" in text and "input: cnn" in text
    assert cli(["check", str(CNN), "--target", "speck", "--option", "layer2core=10:0"]) == 2
    assert "pinned to core 0" in capsys.readouterr().out
