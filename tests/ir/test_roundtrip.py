"""Round trips between nircc and nir 1.0.8 for every NIR node type, and subgraph flattening.

nir 1.0.8 has no ``Integrator`` class: its integrator is ``nir.I`` (``dv/dt = R I``), tested
here like every other type (checked: ``hasattr(nir, "Integrator")`` is false).
"""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest

import nircc
from nircc.ir import NODE_TYPES

F32, F64 = np.float32, np.float64


def _rand(seed: int, *shape: int, dtype=F32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(dtype)


# node type -> (input shape, node, expected output shape)
CASES = {
    "Affine": ((3,), lambda: nir.Affine(weight=_rand(1, 4, 3), bias=_rand(2, 4)), (4,)),
    "Linear": ((3,), lambda: nir.Linear(weight=_rand(3, 2, 3, dtype=F64)), (2,)),
    "Scale": ((3,), lambda: nir.Scale(scale=_rand(4, 3)), (3,)),
    "Conv1d": ((2, 9), lambda: nir.Conv1d(input_shape=9, weight=_rand(5, 4, 2, 3), stride=2, padding=1,
                                          dilation=1, groups=1, bias=_rand(6, 4)), (4, 5)),
    "Conv2d": ((2, 6, 5), lambda: nir.Conv2d(input_shape=(6, 5), weight=_rand(7, 4, 2, 3, 3, dtype=F64),
                                             stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=1,
                                             bias=_rand(8, 4, dtype=F64)), (4, 4, 2)),
    "SumPool2d": ((2, 4, 6), lambda: nir.SumPool2d(kernel_size=np.array([2, 3]), stride=np.array([2, 3]),
                                                   padding=np.array([0, 0])), (2, 2, 2)),
    "AvgPool2d": ((2, 4, 4), lambda: nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]),
                                                   padding=np.array([1, 1])), (2, 5, 5)),
    "Flatten": ((2, 3, 4), lambda: nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1,
                                               end_dim=2), (2, 12)),
    "I": ((3,), lambda: nir.I(r=_rand(9, 3)), (3,)),
    "IF": ((3,), lambda: nir.IF(r=_rand(10, 3), v_threshold=_rand(11, 3), v_reset=_rand(12, 3)), (3,)),
    "LI": ((3,), lambda: nir.LI(tau=_rand(13, 3, dtype=F64), r=_rand(14, 3, dtype=F64),
                                v_leak=_rand(15, 3, dtype=F64)), (3,)),
    "LIF": ((3,), lambda: nir.LIF(tau=_rand(16, 3), r=_rand(17, 3), v_leak=_rand(18, 3),
                                  v_threshold=_rand(19, 3), v_reset=_rand(20, 3)), (3,)),
    "CubaLI": ((3,), lambda: nir.CubaLI(tau_syn=_rand(21, 3), tau_mem=_rand(22, 3), r=_rand(23, 3),
                                        v_leak=_rand(24, 3), w_in=_rand(25, 3)), (3,)),
    "CubaLIF": ((3,), lambda: nir.CubaLIF(tau_syn=_rand(26, 3, dtype=F64), tau_mem=_rand(27, 3, dtype=F64),
                                          r=_rand(28, 3, dtype=F64), v_leak=_rand(29, 3, dtype=F64),
                                          v_threshold=_rand(30, 3, dtype=F64), v_reset=_rand(31, 3, dtype=F64),
                                          w_in=_rand(32, 3, dtype=F64)), (3,)),
    "Threshold": ((3,), lambda: nir.Threshold(threshold=_rand(33, 3)), (3,)),
    "Delay": ((3,), lambda: nir.Delay(delay=np.array([1.0, 2.0, 3.0])), (3,)),
}


def _graph(t: str) -> nir.NIRGraph:
    in_shape, make, out_shape = CASES[t]
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array(in_shape)), "x": make(),
               "output": nir.Output(output_type=np.array(out_shape))},
        edges=[("input", "x"), ("x", "output")],
    )


#: the shape annotation that is a node's defining data (all others are derived)
_ANNOTATION = {"Input": "input_type", "Output": "output_type", "Flatten": "input_type"}


def _fields(node) -> dict[str, np.ndarray]:
    """Every field of a nir node as a numpy array; of the shape annotations only the ones
    that define the node (Input/Output shapes, a Flatten's input type)."""
    out = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if f.name == "metadata":
            continue
        if f.name in ("input_type", "output_type"):
            if _ANNOTATION.get(type(node).__name__) != f.name:
                continue
            v = next(iter(v.values()))
        out[f.name] = np.asarray(v)
    return out


def assert_same_node(a, b) -> None:
    assert type(a) is type(b)
    fa, fb = _fields(a), _fields(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        assert fa[k].dtype == fb[k].dtype, k
        assert fa[k].shape == fb[k].shape, k
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


def test_every_nir_node_type_is_covered():
    assert set(CASES) | {"Input", "Output"} == set(NODE_TYPES)
    assert not hasattr(nir, "Integrator")


@pytest.mark.parametrize("t", sorted(CASES))
def test_nir_write_then_nircc_load(t, tmp_path):
    ref = _graph(t)
    nir.write(tmp_path / "m.nir", ref)
    g = nircc.load(tmp_path / "m.nir")
    assert sorted(g.nodes) == ["input", "output", "x"]
    assert set(g.edges) == {("input", "x"), ("x", "output")}
    for n in g.nodes:
        assert_same_node(g.op(n), ref.nodes[n])
    in_shape, _, out_shape = CASES[t]
    assert (g.in_shape("x"), g.out_shape("x")) == (in_shape, out_shape)
    assert len(g.diagnostics) == 0  # a clean file needs no repair


@pytest.mark.parametrize("t", sorted(CASES))
def test_nircc_save_then_nir_read(t, tmp_path):
    ref = _graph(t)
    g = nircc.load(ref)  # in memory
    nircc.save(g, tmp_path / "m.nir")
    back = nir.read(tmp_path / "m.nir")  # nir's own type check passes
    assert back.nodes.keys() == ref.nodes.keys()
    assert {tuple(e) for e in back.edges} == {("input", "x"), ("x", "output")}
    for n in ref.nodes:
        assert_same_node(back.nodes[n], ref.nodes[n])


def test_grouped_conv_round_trip(tmp_path):
    """groups > 1: C_in = weight.shape[1] * groups.  (nir 1.0.8's own type check takes
    weight.shape[1] as C_in and rejects this graph, so nir.read runs without it.)"""
    conv = nir.Conv2d(input_shape=(5, 5), weight=_rand(60, 6, 2, 3, 3), stride=1, padding="same", dilation=1,
                      groups=3, bias=_rand(61, 6))
    ref = nir.NIRGraph(nodes={"input": nir.Input(np.array([6, 5, 5])), "x": conv,
                              "output": nir.Output(np.array([6, 5, 5]))},
                       edges=[("input", "x"), ("x", "output")], type_check=False)
    nir.write(tmp_path / "a.nir", ref)
    g = nircc.load(tmp_path / "a.nir")
    assert (g.in_shape("x"), g.out_shape("x")) == ((6, 5, 5), (6, 5, 5))
    assert_same_node(g.op("x"), conv)
    nircc.save(g, tmp_path / "b.nir")
    assert_same_node(nir.read(tmp_path / "b.nir", type_check=False).nodes["x"], conv)


def test_save_is_deterministic_and_atomic(tmp_path):
    g = nircc.load(_graph("Conv2d"))
    nircc.save(g, tmp_path / "a.nir")
    nircc.save(g, tmp_path / "b.nir")
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "b.nir").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nir", "b.nir"]  # no temporary left


def test_file_and_memory_loads_agree(tmp_path):
    ref = _graph("CubaLIF")
    nir.write(tmp_path / "m.nir", ref)
    a, b = nircc.load(ref), nircc.load(tmp_path / "m.nir")
    assert sorted(a.nodes) == sorted(b.nodes) == ["input", "output", "x"]
    for n in a.nodes:
        assert_same_node(a.op(n), b.op(n))
    assert a.meta["source"] == "<nir.NIRGraph>"
    assert b.meta == {"source": str(tmp_path / "m.nir"), "nir_version": "1.0.8"}


# ----------------------------------------------------------------------------- subgraphs
def _lif(n: int, seed: int) -> nir.LIF:
    return nir.LIF(tau=_rand(seed, n), r=_rand(seed + 1, n), v_leak=np.zeros(n, F32),
                   v_threshold=_rand(seed + 2, n), v_reset=np.zeros(n, F32))


def _nested() -> nir.NIRGraph:
    rnn = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([3])), "lif": _lif(3, 40), "w_rec": nir.Linear(_rand(43, 3, 3)),
               "output": nir.Output(np.array([3]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    block = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([3])), "rnn": rnn, "scale": nir.Scale(_rand(44, 3)),
               "output": nir.Output(np.array([3]))},
        edges=[("input", "rnn"), ("rnn", "scale"), ("scale", "output")], type_check=False)
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "fc": nir.Affine(_rand(45, 3, 2), _rand(46, 3)), "blk": block,
               "fc2": nir.Linear(_rand(47, 1, 3)), "output": nir.Output(np.array([1]))},
        edges=[("input", "fc"), ("fc", "blk"), ("blk", "fc2"), ("fc2", "output")], type_check=False)


NESTED_NODES = {"input", "fc", "blk.rnn.lif", "blk.rnn.w_rec", "blk.scale", "fc2", "output"}
NESTED_EDGES = {("input", "fc"), ("fc", "blk.rnn.lif"), ("blk.rnn.lif", "blk.rnn.w_rec"),
                ("blk.rnn.w_rec", "blk.rnn.lif"), ("blk.rnn.lif", "blk.scale"), ("blk.scale", "fc2"),
                ("fc2", "output")}


@pytest.mark.parametrize("via_file", [False, True])
def test_nested_subgraphs_are_flattened(via_file, tmp_path):
    ref = _nested()
    if via_file:
        nir.write(tmp_path / "nested.nir", ref)
    g = nircc.load(tmp_path / "nested.nir" if via_file else ref)
    assert set(g.nodes) == NESTED_NODES
    assert set(g.edges) == NESTED_EDGES
    assert len(g.edges) == len(NESTED_EDGES)
    assert_same_node(g.op("blk.rnn.lif"), ref.nodes["blk"].nodes["rnn"].nodes["lif"])
    assert_same_node(g.op("blk.scale"), ref.nodes["blk"].nodes["scale"])
    assert g.schedule().back_edges == {("blk.rnn.w_rec", "blk.rnn.lif")}
    assert [set(c) for c in g.recurrent_cycles()] == [{"blk.rnn.lif", "blk.rnn.w_rec"}]
    assert g.out_shape("blk.scale") == (3,) and g.out_shape("output") == (1,)
    assert len(g.diagnostics) == 0


def test_flattened_graph_saves_for_nir_read(tmp_path):
    g = nircc.load(_nested())
    nircc.save(g, tmp_path / "flat.nir")
    back = nir.read(tmp_path / "flat.nir")
    assert set(back.nodes) == NESTED_NODES
    assert {tuple(e) for e in back.edges} == NESTED_EDGES
    for n in NESTED_NODES:
        assert_same_node(back.nodes[n], g.op(n))
    again = nircc.load(tmp_path / "flat.nir")
    assert set(again.edges) == NESTED_EDGES


def test_edges_naming_subgraph_ports_and_qualified_inner_nodes():
    sub = nir.NIRGraph(
        nodes={"in_a": nir.Input(np.array([2])), "lif": _lif(2, 50), "out_a": nir.Output(np.array([2])),
               "out_b": nir.Output(np.array([2]))},
        edges=[("in_a", "lif"), ("lif", "out_a"), ("lif", "out_b")], type_check=False)
    g = nircc.load(nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "sub": sub, "s1": nir.Scale(_rand(51, 2)),
               "s2": nir.Scale(_rand(52, 2)), "output": nir.Output(np.array([2]))},
        edges=[("input", "sub"), ("sub.out_a", "s1"), ("sub.out_b", "s2"), ("s1", "output"), ("s2", "output"),
               ("sub.lif", "output")],
        type_check=False))
    assert set(g.nodes) == {"input", "sub.lif", "s1", "s2", "output"}
    assert set(g.edges) == {("input", "sub.lif"), ("sub.lif", "s1"), ("sub.lif", "s2"), ("s1", "output"),
                            ("s2", "output"), ("sub.lif", "output")}


def test_edge_naming_a_nested_subgraph_as_a_whole():
    inner = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "s": nir.Scale(_rand(53, 2)),
                                "output": nir.Output(np.array([2]))},
                         edges=[("input", "s"), ("s", "output")], type_check=False)
    g = nircc.load(nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "blk": nir.NIRGraph(nodes={"rnn": inner}, edges=[], type_check=False),
               "output": nir.Output(np.array([2]))},
        edges=[("input", "blk.rnn"), ("blk.rnn", "output")], type_check=False))
    assert set(g.nodes) == {"input", "blk.rnn.s", "output"}
    assert set(g.edges) == {("input", "blk.rnn.s"), ("blk.rnn.s", "output")}


def test_many_subgraphs_flatten_exactly():
    """300 chained subgraph blocks (600 ports): exact edge list (and linear-time port
    elimination, see nircc.ir.load._eliminate_ports)."""
    n = 300
    nodes: dict = {"input": nir.Input(np.array([2]))}
    edges = []
    prev = "input"
    for i in range(n):
        nodes[f"b{i}"] = nir.NIRGraph(
            nodes={"input": nir.Input(np.array([2])), "fc": nir.Linear(np.eye(2, dtype=F32)), "lif": _lif(2, i),
                   "output": nir.Output(np.array([2]))},
            edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
        edges.append((prev, f"b{i}"))
        prev = f"b{i}"
    nodes["output"] = nir.Output(np.array([2]))
    edges.append((prev, "output"))
    g = nircc.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    expected = {("input", "b0.fc"), (f"b{n - 1}.lif", "output")}
    expected |= {(f"b{i}.fc", f"b{i}.lif") for i in range(n)}
    expected |= {(f"b{i}.lif", f"b{i + 1}.fc") for i in range(n - 1)}
    assert set(g.edges) == expected and len(g.edges) == 2 * n + 1
    assert len(g) == 2 * n + 2
