"""The typed I/O map (nircc.backends.io) that Target.run, written once in the base, reads:
before, each of the four targets wrote its own run() over its own meta['inputs'] schema."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import nircc
from nircc.backends import base as backends
from nircc.backends.base import EmulatorResult, Target
from nircc.backends.io import IOMap, Port, program_io

TWO = IOMap((Port("a", (2,), "in", 0), Port("b", (1, 1), "in", 2)),
            (Port("s", (2,), "readout", 1, "spikes", None, 2), Port("v", (2,), "Vout", 0, "v", (2.0, 4.0), 1)),
            layout="channels", channels=4)


def test_round_trip_is_json_and_lossless():
    d = TWO.to_dict()
    assert IOMap.from_dict(json.loads(json.dumps(d))) == TWO
    assert TWO.latency == {"s": 2, "v": 1} and TWO.needs_states


def test_encode_channels_keys_tensor():
    x = {"a": np.array([[[1, 0]], [[0, 1]]]), "b": np.array([[[[3]]], [[[0]]]])}     # T=2, B=1
    got = TWO.encode(x)
    assert got.dtype == np.int64 and got.tolist() == [[[1, 0, 3, 0]], [[0, 1, 0, 0]]]
    keys = IOMap((Port("a", (2,), "pa"), Port("b", (1, 1), "pb")), (), layout="keys")
    k = keys.encode(x)
    assert sorted(k) == ["pa", "pb"] and k["pb"].shape == (2, 1, 1)
    tensor = IOMap((Port("a", (4,), "input"),), (), layout="tensor", tensor=(1, 2, 2))
    assert tensor.encode({"a": np.arange(8).reshape(2, 1, 4)}).shape == (2, 1, 1, 2, 2)


@pytest.mark.parametrize("inputs, node, message", [
    ({"a": np.zeros((2, 1, 2))}, None, "inputs ['a'] do not match the program's ['a', 'b']"),
    ({"a": np.zeros((2, 1, 3)), "b": np.zeros((2, 1, 1, 1))}, "a", "input must be [T, B, 2], got [2, 1, 3]"),
    ({"a": np.full((2, 1, 2), 0.5), "b": np.zeros((2, 1, 1, 1))}, "a",
     "inputs are event counts per step: they must be non-negative integers"),
    ({"a": np.zeros((2, 1, 2)), "b": np.zeros((3, 1, 1, 1))}, "b", "input is [T, B] = [3, 1], others [2, 1]"),
])
def test_encode_errors_name_the_input(inputs, node, message):
    with pytest.raises(nircc.NirccError) as e:
        TWO.encode(inputs)
    assert (e.value.node, e.value.message) == (node, message)


def test_decode_reads_spikes_and_scaled_membranes():
    res = EmulatorResult(outputs={"readout": np.arange(6).reshape(1, 2, 3)},
                         states={"Vout": np.array([[[2, 8], [4, 4]]])})
    out = TWO.decode(res)
    assert out["s"].tolist() == [[[1, 2], [4, 5]]]                 # channels 1..2 of the readout
    assert out["v"].dtype == np.float64 and out["v"].tolist() == [[[1.0, 2.0], [2.0, 1.0]]]   # / (2, 4)


def test_decode_states_slices_registers_and_passes_node_keys():
    io = IOMap((Port("a", (2,), "in"),), (),
               states=(Port("h/v", (2,), "Vmem", 1, "state"), Port("o/output", (1,), "readout", 0, "spikes")))
    res = EmulatorResult(outputs={"readout": np.array([[[7]]])},
                         states={"Vmem": np.array([[[1, 2, 3]]]), "Isyn": np.zeros((1, 1, 3)), "p/v": np.ones((1, 1, 2))})
    got = io.decode_states(res)
    assert sorted(got) == ["h/v", "o/output", "p/v"]               # Isyn: a register no port names
    assert got["h/v"].tolist() == [[[2, 3]]] and got["o/output"].tolist() == [[[7]]]
    with pytest.raises(ValueError, match="<node>/<state>"):
        IOMap((), (), states=(Port("Vmem", (2,), "Vmem", 0, "state"),))


@pytest.mark.parametrize("target", backends.names())
def test_recorded_states_are_keyed_node_slash_state(target):
    """One key scheme on every target, the reference simulator's: <node>/output, <node>/v."""
    res = nircc.compile(nircc.load(_tiny()), target, dt=1e-3, semantics="nir")
    x = {"in": np.ones((5, 2, 3), np.uint8)}
    st = res.emulate(x, record=True).states
    assert all(k.count("/") == 1 for k in st), sorted(st)
    for node in ("n", "n2"):
        for state in ("output", "v"):                  # in the chip's layout: Speck [T, B, C, H, W]
            a = st[f"{node}/{state}"]
            assert a.shape[:2] == (5, 2) and a[0, 0].size == 3, (node, state, a.shape)
    layers = res.target.layer_spikes(res.program, res.emulate(x, record=True))
    assert {"n", "n2"} <= set(layers) and np.array_equal(layers["n"], st["n/output"])
    ref = res.simulate(x, record=True)
    flat = ref.flat_states()                                   # the reference's, the same keys
    assert {"n/output", "n/v", "n2/output", "n2/v"} <= set(flat) and flat["n/v"] is ref.states["n"]["v"]


def test_no_target_reimplements_run_or_latency():
    for name in backends.names():
        cls = type(backends.get(name))
        for method in ("run", "latency", "io"):
            assert getattr(cls, method) is getattr(Target, method), (name, method)
        assert "run" not in cls.__dict__


@pytest.mark.parametrize("target", backends.names())
def test_every_lowering_records_the_io_map(target):
    res = nircc.compile(nircc.load(_tiny()), target, dt=1e-3, semantics="nir")
    io = program_io(res.program)
    assert [p.name for p in io.inputs] == ["in"] and [p.name for p in io.outputs] == ["out"]
    assert io.input("in").shape == (3,) and io.output("out").shape == (3,)
    assert res.target.latency(res.program) == io.latency
    y = res.emulate({"in": np.ones((4, 2, 3), np.uint8)}).outputs["out"]
    assert y.shape == (4, 2, 3)
    assert inspect.signature(type(res.target).run) == inspect.signature(Target.run)


def _tiny():
    import nir

    one = np.ones(3, np.float32)
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=2 * np.eye(3, dtype=np.float32)),
             "n": nir.IF(r=one, v_threshold=one, v_reset=0 * one), "w2": nir.Linear(weight=2 * np.eye(3, dtype=np.float32)),
             "n2": nir.IF(r=one, v_threshold=one, v_reset=0 * one),
             "out": nir.Output(output_type={"output": np.array([3])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "w"), ("w", "n"), ("n", "w2"), ("w2", "n2"), ("n2", "out")],
                        type_check=False)
