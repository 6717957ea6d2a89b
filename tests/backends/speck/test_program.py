"""SpeckProgram: layouts, lossless serialization, validation of every chip limit, overflow risks.

Also holds the small program builders the emulator tests import (``layer``, ``program``).
"""
from __future__ import annotations

import json
from typing import Callable, Optional, Sequence, Union

import numpy as np
import pytest

from nircc.backends.speck.program import (CnnLayer, Destination, Exit, SpeckInput, SpeckProgram, conv_out_shape,
                                          neurons_from_samna, weights_from_samna)
from nircc.backends.speck.spec import get_spec
from nircc.errors import NirccError, NirccErrors
from nircc.util import dumps


# ----------------------------------------------------------------------------- builders
def layer(name: str, core: int, in_shape: Sequence[int], f: int, k: int = 1, *, stride: int = 1,
          padding: int = 0, weights: Union[None, int, np.ndarray] = None, thr: int = 10, tlo: int = -10,
          dests: Sequence[Destination] = (), monitor: bool = False, seed: int = 0, **kw) -> CnnLayer:
    """A layer whose output shape follows from its geometry; ``weights`` an int (all equal),
    an array, or None (random in [-5, 5])."""
    in_shape = tuple(in_shape)
    out = conv_out_shape(in_shape, f, k, (stride, stride), (padding, padding))
    shape = (f, in_shape[0], k, k)
    if weights is None:
        w = np.random.default_rng(seed).integers(-5, 6, size=shape)
    elif np.isscalar(weights):
        w = np.full(shape, weights)
    else:
        w = np.asarray(weights).reshape(shape)
    return CnnLayer(name, core, in_shape, out, k, w, thr, tlo, stride, padding, destinations=list(dests),
                    monitor=monitor, **kw)


def program(layers: Sequence[CnnLayer], in_shape: Optional[Sequence[int]] = None, dests: Sequence[int] = (0,),
            exits: Optional[Sequence[Exit]] = None, **input_kw) -> SpeckProgram:
    """A program fed at ``dests`` (default core 0, with that core's input shape); exits default
    to every monitored layer."""
    layers = list(layers)
    by_core = {lay.core: lay for lay in layers}
    shape = tuple(in_shape) if in_shape is not None else by_core[dests[0]].input_shape
    if exits is None:
        exits = [Exit(lay.name, lay.core) for lay in layers if lay.monitor]
    return SpeckProgram(SpeckInput(shape, list(dests), **input_kw), layers, list(exits))


def two_layer() -> SpeckProgram:
    """conv 2->3 (3x3, stride 2, pad 1) on 2x9x9 -> 3x5x5 -> pool 2 -> core 4: conv 3->4 (1x1)."""
    a = layer("a", 0, (2, 9, 9), 3, 3, stride=2, padding=1, dests=[Destination(4, pooling=2)], seed=1,
              biases=np.array([-1, 0, -2]), leak_enable=True)
    b = layer("b", 4, (3, 2, 2), 4, 1, monitor=True, seed=2, return_to_zero=True, thr=7, tlo=-9)
    b.neurons_initial_value[...] = np.arange(16).reshape(4, 2, 2) - 9
    return program([a, b])


# ----------------------------------------------------------------------------- layouts
def test_samna_layouts_transpose_y_and_x():
    p = two_layer()
    a = p.layer(0)
    ws = a.weights_samna()
    assert ws.shape == (3, 2, 3, 3) and ws.dtype == np.int8
    for f, c, ky, kx in [(0, 0, 0, 2), (2, 1, 1, 0), (1, 1, 2, 1)]:
        assert ws[f, c, kx, ky] == a.weights[f, c, ky, kx]
    assert np.array_equal(weights_from_samna(ws), a.weights)
    b = p.layer(4)
    ns = b.neurons_initial_value_samna()
    assert ns[3, 1, 0] == b.neurons_initial_value[3, 0, 1] == 3 * 4 + 1 - 9
    assert np.array_equal(neurons_from_samna(ns), b.neurons_initial_value)


def test_canonical_dtypes():
    a = two_layer().layer(0)
    assert a.weights.dtype == np.int8 and a.biases.dtype == np.int16 and a.neurons_initial_value.dtype == np.int16
    assert a.neurons_initial_value.shape == (3, 5, 5)


def test_roundtrip_lossless_through_json():
    p = two_layer()
    p.input = SpeckInput((2, 36, 36), [0], dvs=True, pooling=(4, 4), merge=False, on_channel=True,
                         off_channel=True, origin=(0, 0), cut=(8, 8), mirror_x=True, monitor=True)
    p.meta = {"source": "test"}
    d = p.to_dict()
    text = dumps(d)
    q = SpeckProgram.from_dict(json.loads(text))
    assert dumps(q.to_dict()) == text
    for la, lb in zip(p.layers, q.layers):
        for fld in ("weights", "biases", "neurons_initial_value"):
            x, y = getattr(la, fld), getattr(lb, fld)
            assert x.dtype == y.dtype and np.array_equal(x, y)
        assert [x.to_dict() for x in la.destinations] == [x.to_dict() for x in lb.destinations]
    assert q.input.cut == (8, 8) and q.input.pooling == (4, 4) and q.input.mirror_x
    assert d["schema"] == "nircc.speck.program" and d["variant"] == "speck2f" and d["dt"] == 1e-3
    assert q.to_json() == text


def test_from_dict_rejects_other_schema():
    d = two_layer().to_dict()
    with pytest.raises(NirccError):
        SpeckProgram.from_dict({**d, "schema": "nircc.xylo.program"})
    with pytest.raises(NirccError):
        SpeckProgram.from_dict({**d, "schema_version": 99})


def test_topological_order_and_memory():
    p = two_layer()
    assert p.topological_order() == [0, 4]
    assert p.memory() == {"a": {"kernel": 2 * 16 * 4, "neuron": 3 * 8 * 8, "bias": 3},
                          "b": {"kernel": 3 * 4, "neuron": 4 * 2 * 2, "bias": 0}}
    p.validate()


def test_dvs_output_shape():
    inp = SpeckInput((2, 128, 128), [0], dvs=True, pooling=(2, 4), merge=True, origin=(1, 2), cut=(10, 20),
                     mirror_diagonal=True)
    assert inp.pooled_shape() == (64, 32)
    assert inp.output_shape() == (1, 19, 10)
    assert SpeckInput((2, 34, 34), [0], dvs=True).output_shape() == (2, 34, 34)


# ----------------------------------------------------------------------------- validation
def _errors(p: SpeckProgram) -> list[NirccError]:
    with pytest.raises(NirccError) as e:
        p.validate()
    return e.value.errors


def _mut(fn: Callable[[SpeckProgram], None]) -> SpeckProgram:
    p = two_layer()
    fn(p)
    return p


def _set(which: int, **kw) -> Callable[[SpeckProgram], None]:
    """Set fields of the layer on core ``which``."""
    def f(p: SpeckProgram) -> None:
        lay = p.layer(which)
        for k, v in kw.items():
            setattr(lay, k, v)
    return f


def _replace(which: int, **kw) -> Callable[[SpeckProgram], None]:
    """Rebuild the layer on core ``which`` through the builder with other geometry."""
    def f(p: SpeckProgram) -> None:
        old = p.layer(which)
        i = p.layers.index(old)
        args = dict(name=old.name, core=old.core, in_shape=old.input_shape, f=old.output_shape[0], k=old.kernel,
                    stride=old.stride[0], padding=old.padding[0], dests=old.destinations, monitor=old.monitor)
        args.update(kw)
        p.layers[i] = layer(**args)
    return f


CASES = [
    # (mutation, node, field, fragment of the message)
    (_set(0, core=9), "a", "core", "core 9 not in 0..8"),
    (_set(4, core=0), "b", "core", "already holds layer 'a'"),
    (_replace(4, in_shape=(1025, 2, 2)), "b", "input_shape", "1025 input features not in 1..1024"),
    (_replace(4, in_shape=(3, 129, 2)), "b", "input_shape", "input size y = 129 not in 1..128"),
    (_replace(4, f=1025), "b", "output_shape", "1025 output features not in 1..1024"),
    (_replace(4, in_shape=(3, 65, 2)), "b", "output_shape", "neuron map size y = 65 not in 1..64"),
    (_replace(4, in_shape=(3, 40, 40), k=17, padding=0), "b", "kernel", "kernel 17 not in 1..16"),
    (_replace(4, stride=3), "b", "stride", "stride y = 3 not in [1, 2, 4, 8]"),
    (_replace(4, padding=8, k=9), "b", "padding", "padding y = 8 not in 0..7"),
    (_set(4, output_shape=(4, 3, 3)), "b", "output_shape", "expected [4, 2, 2]"),
    (_set(4, weights=np.full((4, 3, 1, 1), 128)), "b", "weights", "values in [128, 128] exceed int8 [-128, 127]"),
    (_set(4, weights=np.full((4, 3, 1, 1), 0.5)), "b", "weights", "must be integers"),
    (_set(4, weights=np.zeros((4, 3, 2, 2), np.int8)), "b", "weights", "shape [4, 3, 2, 2] is not [4, 3, 1, 1]"),
    (_set(0, biases=np.array([40000, 0, 0])), "a", "biases", "exceed int16 [-32768, 32767]"),
    (_set(4, neurons_initial_value=np.zeros((4, 2), np.int16)), "b", "neurons_initial_value", "is not [4, 2, 2]"),
    (_set(4, threshold_high=40000), "b", "threshold_high", "threshold_high 40000 not in 1..32767"),
    (_set(4, threshold_high=0, threshold_low=-3), "b", "threshold_high", "must be positive"),
    (_set(4, threshold_low=-40000), "b", "threshold_low", "threshold_low -40000 not in int16"),
    (_set(4, threshold_low=7), "b", "threshold_low", "must be below threshold_high 7"),
    (_set(4, threshold_low=0), "b", "threshold_low", "known speck2f bug"),
    (_set(0, destinations=[Destination(4, 2)] * 3), "a", "destinations", "3 destinations exceed 2"),
    (_set(0, destinations=[Destination(4, pooling=3)]), "a", "destinations[0]", "pooling 3 not in [1, 2, 4]"),
    (_set(0, destinations=[Destination(4, pooling=1)]), "a", "destinations[0]", "5x5 pooled by 1 is 5x5"),
    (_set(0, destinations=[Destination(4, 2, feature_shift=1)]), "a", "destinations[0]",
     "3 features shifted by 1 exceed the 3 input features"),
    (_set(0, destinations=[Destination(4, 2, feature_shift=-1)]), "a", "destinations[0]", "negative"),
    (_set(0, destinations=[Destination(7, 2)]), "a", "destinations[0]", "target core 7 holds no layer"),
    (_set(0, destinations=[Destination(0, 2)]), "a", "destinations[0]", "sends to itself"),
    (_set(4, monitor=False), "b", "layer", "monitor is off"),
    (lambda p: p.exits.append(Exit("x", 5)), "x", "layer", "core 5, which holds no layer"),
    (lambda p: p.exits.append(Exit("b", 4)), "b", "name", "exit name used twice"),
    (lambda p: setattr(p.exits[0], "pooling", 3), "b", "pooling", "pooling 3 not in [1, 2, 4]"),
    (lambda p: setattr(p, "exits", []), None, "exits", "at least one exit"),
    (lambda p: setattr(p.input, "shape", (2, 9, 8)), "input", "destinations[0]", "do not fit core 0"),
    (lambda p: setattr(p.input, "destinations", [0, 4, 4]), "input", "destinations", "3 destinations exceed 2"),
    (lambda p: setattr(p.input, "destinations", []), "input", "destinations", "reaches no core"),
    (lambda p: setattr(p.input, "pooling", (2, 2)), "input", "pooling", "needs the DVS layer"),
    (lambda p: setattr(p.input, "mirror_x", True), "input", "mirror_x", "needs the DVS layer"),
]


@pytest.mark.parametrize("mutate,node,fld,fragment", CASES)
def test_validate_names_layer_field_value_and_limit(mutate, node, fld, fragment):
    errs = _errors(_mut(mutate))
    hits = [e for e in errs if e.node == node and e.field == fld and fragment in e.message]
    assert hits, "\n".join(str(e) for e in errs)


def test_validate_reports_every_violation_at_once():
    p = _mut(lambda p: (_set(0, core=9)(p), _set(4, threshold_low=0)(p), setattr(p.exits[0], "pooling", 3)))
    with pytest.raises(NirccErrors) as e:
        p.validate()
    fields = {(x.node, x.field) for x in e.value.errors}
    assert {("a", "core"), ("b", "threshold_low"), ("b", "pooling")} <= fields
    assert len(str(e.value).splitlines()) == len(e.value.errors)


def test_memory_limit_names_need_and_capacity():
    # the doc example: Conv2d(16 -> 32, 3x3, pad 1) on 64x64 needs 128Ki neuron words
    a = layer("big", 0, (16, 64, 64), 32, 3, padding=1, weights=1, monitor=True)
    errs = _errors(program([a]))
    assert [str(e) for e in errs] == [
        "node 'big', field 'core': memory does not fit core 0 (neuron 131072 > 65536 words); fits cores none"]
    # MNIST linear: 8x4x4 -> 256 needs 32Ki kernel words: not core 0, but 3
    fc = layer("fc", 0, (8, 4, 4), 256, 4, weights=1, monitor=True)
    errs = _errors(program([fc]))
    assert "kernel 32768 > 16384" in errs[0].message and "fits cores [3, 4, 5, 6]" in errs[0].message
    fc.core = 3
    program([fc], dests=(3,)).validate()


def test_routing_cycle_rejected():
    a = layer("a", 0, (1, 2, 2), 1, dests=[Destination(1)], weights=1)
    b = layer("b", 1, (1, 2, 2), 1, dests=[Destination(0)], weights=1, monitor=True)
    errs = _errors(program([a, b]))
    assert any(e.field == "destinations" and "routing cycle through cores [0, 1]" in e.message for e in errs)


def test_too_many_layers():
    lays = [layer(f"l{i}", i, (1, 1, 1), 1, weights=1, dests=[Destination(i + 1)] if i < 9 else [],
                  monitor=i == 9) for i in range(10)]
    errs = _errors(program(lays))
    assert any(e.field == "layers" and "10 layers exceed the 9 cores" in e.message for e in errs)


@pytest.mark.parametrize("kw,fld,fragment", [
    (dict(shape=(3, 9, 9)), "shape", "3 channels"),
    (dict(shape=(1, 9, 9)), "merge", "needs merge=True"),
    (dict(shape=(2, 129, 9), pooling=(1, 1)), "shape", "DVS size y = 129 exceeds 128"),
    (dict(pooling=(3, 1)), "pooling", "pooling y = 3 not in [1, 2, 4]"),
    (dict(cut=(9, 8)), "cut", "not inside the pooled 9x9 map"),
    (dict(origin=(5, 0), cut=(4, 8)), "cut", "not inside"),
    (dict(on_channel=False, off_channel=False), "on_channel", "no event passes"),
])
def test_dvs_limits(kw, fld, fragment):
    p = two_layer()
    args = dict(shape=(2, 9, 9), destinations=[0], dvs=True)
    args.update(kw)
    p.input = SpeckInput(**args)
    errs = _errors(p)
    assert any(e.node == "input" and e.field == fld and fragment in e.message for e in errs), errs


def test_dvs_program_valid():
    p = two_layer()
    p.input = SpeckInput((2, 36, 36), [0], dvs=True, pooling=(4, 4), cut=(8, 8))
    p.validate()
    # merged events carry feature 0 only: fewer features than core 0 takes is fine
    p.input = SpeckInput((1, 18, 18), [0], dvs=True, pooling=(2, 2), merge=True)
    p.validate()
    assert p.input.output_shape() == (1, 9, 9)


def test_variant_mismatch():
    p = two_layer()
    p.variant = "speck2e"
    p.validate()
    with pytest.raises(NirccError) as e:
        p.validate(get_spec("speck2f"))
    assert e.value.field == "variant" and "program built for 'speck2e', checked against 'speck2f'" in str(e.value)


def test_dynapcnn_variant_validates_same_limits():
    p = two_layer()
    p.variant = "dynapcnn"
    p.validate(get_spec("dynapcnn"))
    p.layer(4).threshold_low = 0
    assert any("known dynapcnn bug" in e.message for e in _errors(p))


# ----------------------------------------------------------------------------- overflow risks
def test_overflow_risks():
    p = two_layer()
    assert p.overflow_risks() == []
    a, b = p.layer(0), p.layer(4)
    a.threshold_high, a.threshold_low = 32640, -32641
    b.weights[0, 0, 0, 0] = 7
    a.biases[1] = 3
    b.neurons_initial_value[0, 0, 0] = 7
    got = {(e.node, e.field) for e in p.overflow_risks()}
    assert got == {("a", "threshold_high"), ("a", "threshold_low"), ("b", "weights"), ("a", "biases"),
                   ("b", "neurons_initial_value")}
    a.threshold_low = -32640
    a.biases[:] = [-200, -1, 0]
    msgs = [e.message for e in p.overflow_risks() if e.node == "a"]
    assert any("a leak tick can leave int16" in m for m in msgs)
