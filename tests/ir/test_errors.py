"""Bad input: each mistake is a NirccError naming the node, the field and the reason.

Files are written with h5py (conftest.raw_nir); ``validate`` is also checked directly on
graphs built in memory, as passes produce them.
"""
from __future__ import annotations

import nir
import numpy as np
import pytest

import nircc
from tests.builders import affine, chain, graph, inp, lif, out, scalar_cuba_lif
from nircc import NirccError, NirccErrors
from nircc.ir import Graph, validate

F32 = np.float32


def conv2d(weight_shape, groups=1, bias=None, stride=(1, 1), padding=(0, 0)) -> dict:
    return {"type": "Conv2d", "weight": np.ones(weight_shape, F32),
            "bias": np.zeros(weight_shape[0], F32) if bias is None else bias,
            "stride": np.array(stride), "padding": np.array(padding), "dilation": np.array([1, 1]),
            "groups": groups}


def load_error(raw_nir, tree) -> NirccError:
    with pytest.raises(NirccError) as e:
        nircc.load(raw_nir(tree))
    return e.value


def only(err: NirccError) -> NirccError:
    assert len(err.errors) == 1, str(err)
    return err.errors[0]


# (case id, graph, node, field, words the message must contain)
CASES = [
    ("unknown node type",
     chain(("input", inp(2)), ("x", {"type": "Spiky", "gain": np.ones(2)}), ("output", out(2))),
     "x", "type", "unknown node type 'Spiky'"),
    ("dangling edge",
     graph({"input": inp(2), "fc": affine(2, 2), "output": out(2)},
           [("input", "fc"), ("fc", "ghost"), ("fc", "output")]),
     "ghost", "edges", "edge ('fc', 'ghost') names node 'ghost', which does not exist"),
    ("duplicate edge",
     graph({"input": inp(2), "fc": affine(2, 2), "output": out(2)},
           [("input", "fc"), ("fc", "output"), ("fc", "output")]),
     "fc", "edges", "duplicate edge ('fc', 'output')"),
    ("no Input, root shape unknown",
     chain(("lif", {k: v for k, v in scalar_cuba_lif().items()}), ("output", out(2))),
     "lif", "input_type", "the graph has no Input node"),
    ("no Input, all nodes in a cycle",
     graph({"fc": affine(2, 2), "lif": lif(2), "output": out(2)}, [("fc", "lif"), ("lif", "fc"), ("lif", "output")]),
     None, "nodes", "the graph has no Input node, and every node has an incoming edge"),
    ("no Output, no node without successors",
     graph({"input": inp(2), "fc": affine(2, 2), "lif": lif(2)}, [("input", "fc"), ("fc", "lif"), ("lif", "fc")]),
     None, "nodes", "the graph has no Output node"),
    ("NaN parameter",
     chain(("input", inp(3)), ("lif", lif(3, v_threshold=np.array([1.0, np.nan, 1.0], F32))), ("output", out(3))),
     "lif", "v_threshold", "1 of 3 values are NaN or infinite"),
    ("Inf weight",
     chain(("input", inp(2)), ("fc", {"type": "Linear", "weight": np.array([[1.0, np.inf]], F32)}),
           ("output", out(1))),
     "fc", "weight", "1 of 2 values are NaN or infinite"),
    ("tau = 0",
     chain(("input", inp(3)), ("lif", lif(3, tau=np.array([0.02, 0.0, 0.02], F32))), ("output", out(3))),
     "lif", "tau", "time constant must be > 0, got min 0 (1 of 3 values <= 0)"),
    ("tau_syn < 0",
     chain(("input", inp(1)), ("c", {**scalar_cuba_lif(), "tau_syn": F32(-1.0)}), ("output", out(1))),
     "c", "tau_syn", "time constant must be > 0, got min -1"),
    ("shape mismatch along an edge",
     chain(("input", inp(3)), ("fc", affine(4, 3)), ("lif", lif(5)), ("output", out(5))),
     "lif", "input", "shape mismatch along edge ('fc', 'lif'): 'fc' outputs [4], 'lif' takes [5]"),
    ("Conv groups not dividing C_out",
     chain(("input", inp(6, 5, 5)), ("conv", conv2d((4, 2, 3, 3), groups=3)), ("output", out(4, 3, 3))),
     "conv", "groups", "groups=3 must be >= 1 and divide the 4 output channels"),
    ("Conv bias length",
     chain(("input", inp(2, 5, 5)), ("conv", conv2d((4, 2, 3, 3), bias=np.zeros(3, F32))), ("output", out(4, 3, 3))),
     "conv", "bias", "bias shape [3] does not match the weight's 4 output channels"),
    ("Conv input channels",
     chain(("input", inp(3, 5, 5)), ("conv", conv2d((4, 2, 3, 3))), ("output", out(4, 3, 3))),
     "conv", "weight", "input has 3 channels but the weight [C_out, C_in/groups, ...] = [4, 2, 3, 3]"),
    ("Conv kernel larger than the input",
     chain(("input", inp(2, 2, 2)), ("conv", conv2d((4, 2, 3, 3))), ("output", out(4, 1, 1))),
     "conv", "weight", "is larger than the padded input"),
    ("Conv stride 0",
     chain(("input", inp(2, 5, 5)), ("conv", conv2d((4, 2, 3, 3), stride=(1, 0))), ("output", out(4, 3, 3))),
     "conv", "stride", "must be >= 1, got [1, 0]"),
    ("Conv padding word",
     chain(("input", inp(2, 5, 5)), ("conv", {**conv2d((4, 2, 3, 3)), "padding": "full"}), ("output", out(4, 3, 3))),
     "conv", "padding", "must be 'same', 'valid' or integers, got 'full'"),
    ("unreachable node",
     graph({"input": inp(2), "fc": affine(2, 2), "orphan": affine(2, 2, 1), "output": out(2)},
           [("input", "fc"), ("fc", "output"), ("orphan", "output")]),
     "orphan", "edges", "unreachable: no path from any Input node leads to it"),
    ("missing required field",
     chain(("input", inp(3)), ("lif", {k: v for k, v in lif(3).items() if k != "tau"}), ("output", out(3))),
     "lif", "tau", "LIF node has no 'tau'"),
    ("1-D Affine weight",
     chain(("input", inp(3)), ("fc", {"type": "Affine", "weight": np.ones(3, F32), "bias": np.zeros(1, F32)}),
           ("output", out(1))),
     "fc", "weight", "weight must be at least 2-D [out, in], got shape [3]"),
    ("parameters that do not broadcast",
     chain(("input", inp(3)), ("lif", lif(3, r=np.ones(4, F32))), ("output", out(3))),
     "lif", "tau", "parameter shapes do not broadcast: tau [3], r [4]"),
    ("text where numbers belong",
     chain(("input", inp(3)), ("s", {"type": "Scale", "scale": np.array([b"a", b"b", b"c"])}), ("output", out(3))),
     "s", "scale", "expected numbers"),
    ("Flatten dims out of range",
     chain(("input", inp(2, 3)), ("f", {"type": "Flatten", "start_dim": 4, "end_dim": -1}), ("output", out(6))),
     "f", "start_dim", "start_dim=4, end_dim=-1 do not fit an input of rank 2 [2, 3]"),
    ("sources disagree",
     graph({"input": inp(3), "a": affine(2, 3), "b": affine(4, 3), "output": out(2)},
           [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")]),
     "output", "input", "its sources disagree on the shape: 'a' gives [2], 'b' gives [4]"),
    ("Input without shape nobody fixes",
     chain(("input", {"type": "Input"}), ("s", {"type": "Scale", "scale": F32(2.0)}), ("output", out(3))),
     "input", "shape", "Input node has no shape"),
    ("type as a numeric array",
     chain(("input", inp(3)), ("lif", {**lif(3), "type": np.array([1.0, 2.0])}), ("output", out(3))),
     "lif", "type", "a node's type must be a string naming a NIR node type, got a float64 array of shape [2] "
                    "(1.0, 2.0)"),
    ("type as an array of two strings",
     chain(("input", inp(3)), ("lif", {**lif(3), "type": np.array([b"LIF", b"IF"])}), ("output", out(3))),
     "lif", "type", "a node's type must be a string naming a NIR node type, got a string array of shape [2] "
                    "('LIF', 'IF')"),
    ("Input shape as a string",
     chain(("input", {"type": "Input", "shape": "12"}), ("lif", lif(3)), ("output", out(3))),
     "input", "shape", "a shape must be a list of integers, got the string '12'"),
    ("Input shape not whole",
     chain(("input", {"type": "Input", "shape": np.array([1.5])}), ("lif", lif(3)), ("output", out(3))),
     "input", "shape", "a shape must hold whole numbers, got [1.5]"),
    ("Input shape infinite",
     chain(("input", {"type": "Input", "shape": np.array(np.inf)}), ("lif", lif(3)), ("output", out(3))),
     "input", "shape", "a shape must hold whole numbers, got [inf]"),
    ("Input shape negative",
     chain(("input", {"type": "Input", "shape": np.array([-1, 3])}), ("lif", lif(3)), ("output", out(3))),
     "input", "shape", "every dimension of a shape must be >= 1, got [-1, 3]"),
    ("Input shape 2-D",
     chain(("input", {"type": "Input", "shape": np.array([[1, 3]])}), ("lif", lif(3)), ("output", out(3))),
     "input", "shape", "a shape must be a 1-D list of integers, got a 2-D array of shape [1, 2]"),
    ("Input shape huge",
     chain(("input", {"type": "Input", "shape": np.array([2 ** 31, 2 ** 31])}), ("lif", lif(3)), ("output", out(3))),
     "input", "shape", "shape [2147483648, 2147483648] has 4.612e+18 elements; nircc handles at most "
                       "67,108,864 per node"),
    ("a group where a parameter belongs",
     chain(("input", inp(3)), ("lif", {**lif(3), "tau": {"x": np.arange(3)}}), ("output", out(3))),
     "lif", "tau", "expected an array of numbers, got a group"),
    ("a string where a parameter belongs",
     chain(("input", inp(3)), ("lif", {**lif(3), "r": "fast"}), ("output", out(3))),
     "lif", "r", "expected numbers, got the string 'fast'"),
    ("Conv groups infinite",
     chain(("input", inp(2, 5, 5)), ("conv", {**conv2d((4, 2, 3, 3)), "groups": np.array(np.inf)}),
           ("output", out(4, 3, 3))),
     "conv", "groups", "expected 1 or 1 integers, got [inf]"),
    ("pooling a vector",
     chain(("input", inp(8)), ("p", {"type": "SumPool2d", "kernel_size": 2, "stride": 2, "padding": 0}),
           ("output", out(4))),
     "p", "input", "pooling needs a [C, H, W] input, got [8]"),
]


@pytest.mark.parametrize("tree, node, field, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_node_and_field(raw_nir, tree, node, field, words):
    err = only(load_error(raw_nir, tree))
    assert (err.node, err.field) == (node, field)
    assert words in err.message
    line = str(err)
    assert words in line and (node is None or f"node '{node}'" in line) and f"field '{field}'" in line


def test_ambiguous_short_name(raw_nir):
    sub = graph({"input": inp(2), "lif": lif(2), "output": out(2)}, [("input", "lif"), ("lif", "output")])
    err = only(load_error(raw_nir, graph({"input": inp(2), "a": sub, "b": sub, "output": out(2)},
                                         [("input", "a"), ("input", "b"), ("lif", "output")])))
    assert (err.node, err.field) == ("lif", "edges")
    assert "node 'lif' is ambiguous, it could be any of ['a.lif', 'b.lif']" in err.message


def test_subgraph_with_two_outputs_named_as_a_whole(raw_nir):
    sub = graph({"input": inp(2), "lif": lif(2), "o1": out(2), "o2": out(2)},
                [("input", "lif"), ("lif", "o1"), ("lif", "o2")])
    err = only(load_error(raw_nir, chain(("input", inp(2)), ("sub", sub), ("output", out(2)))))
    assert (err.node, err.field) == ("sub", "edges")
    assert "connects to subgraph 'sub' as a whole, but it has 2 Output nodes" in err.message


def test_edges_that_are_not_pairs(raw_nir):
    tree = {"type": "NIRGraph", "nodes": {"input": inp(2), "output": out(2)},
            "edges": np.array(["input", "output", "input"], dtype=object)}
    err = only(load_error(raw_nir, tree))
    assert (err.node, err.field) == (None, "edges")
    assert "edges must be [source, destination] pairs" in err.message


def test_root_that_is_not_a_graph(raw_nir):
    err = only(load_error(raw_nir, lif(2)))
    assert (err.node, err.field) == (None, "type")
    assert "the root node is a 'LIF', not a NIRGraph" in err.message


def test_independent_errors_are_reported_together(raw_nir):
    tree = chain(("input", inp(3)), ("a", lif(3, tau=np.zeros(3, F32))), ("b", lif(3, r=np.full(3, np.nan, F32))),
                 ("output", out(3)))
    with pytest.raises(NirccErrors) as e:
        nircc.load(raw_nir(tree))
    assert [(x.node, x.field) for x in e.value.errors] == [("b", "r"), ("a", "tau")]
    assert len(str(e.value).splitlines()) == 2


# ----------------------------------------------------------------------------- validate()
def _graph_without(kind: str) -> Graph:
    g = Graph()
    if kind != "Input":
        g.add_node("input", nir.Input(np.array([2])))
    g.add_node("fc", nir.Linear(np.eye(2, dtype=F32)))
    if kind != "Output":
        g.add_node("output", nir.Output(np.array([2])))
    for a, b in [("input", "fc"), ("fc", "output")]:
        if a in g and b in g:
            g.add_edge(a, b)
    return g


@pytest.mark.parametrize("kind, node, words", [
    ("Input", "fc", "the graph has no Input node; nothing feeds ['fc']"),
    ("Output", "fc", "the graph has no Output node; nothing reads ['fc']"),
])
def test_validate_graph_without_input_or_output(kind, node, words):
    with pytest.raises(NirccError) as e:
        validate(_graph_without(kind))
    err = only(e.value)
    assert (err.node, err.field, err.message) == (node, "edges", words)


def test_validate_catches_a_pass_that_breaks_shapes():
    g = nircc.load(nir.NIRGraph.from_list(nir.Linear(np.ones((3, 2), F32)), nir.LIF(*(np.ones(3, F32),) * 4)))
    h = g.copy()
    h.set_op("lif", nir.LIF(*(np.ones(4, F32),) * 4))
    validate(g)  # the input graph is untouched
    with pytest.raises(NirccErrors) as e:
        validate(h)
    assert [(x.node, x.field, x.message) for x in e.value.errors] == [
        ("lif", "input", "shape mismatch along edge ('linear', 'lif'): 'linear' outputs [3], 'lif' takes [4]"),
        ("output", "input", "shape mismatch along edge ('lif', 'output'): 'lif' outputs [4], 'output' takes [3]"),
    ]


def test_validate_unknown_node_object():
    """A pass that puts a foreign object into the graph (bypassing Graph.set_op's checks)."""
    g = _graph_without("")
    g.nx.nodes["fc"]["op"] = nir.ir.graph.Identity(input_type={"input": np.array([2])})
    with pytest.raises(NirccError) as e:
        validate(g)
    err = only(e.value)
    assert (err.node, err.field, err.message) == ("fc", "type", "unknown node type 'Identity'")


@pytest.mark.parametrize("root", [np.array([b"NIRGraph", b"NIRGraph"]), np.array([1, 2])])
def test_root_type_that_is_not_a_string(raw_nir, root):
    tree = chain(("input", inp(3)), ("lif", lif(3)), ("output", out(3)))
    err = only(load_error(raw_nir, {**tree, "type": root}))
    assert (err.node, err.field) == (None, "type")
    assert err.message.startswith("a node's type must be a string naming a NIR node type, got a ")


def test_root_type_of_another_node(raw_nir):
    tree = chain(("input", inp(3)), ("lif", lif(3)), ("output", out(3)))
    err = only(load_error(raw_nir, {**tree, "type": "LIF"}))
    assert str(err) == "field 'type': the root node is a 'LIF', not a NIRGraph"


def test_type_as_a_one_element_array_is_repaired(raw_nir):
    tree = chain(("input", inp(3)), ("lif", {**lif(3), "type": np.array([b"LIF"])}), ("output", out(3)))
    g = nircc.load(raw_nir(tree))
    assert g.type("lif") == "LIF"
    [d] = g.diagnostics.with_code("type-array")
    assert (d.node, d.field, d.message) == ("lif", "type", "type stored as an array of shape [1]; using 'LIF'")
    with pytest.raises(NirccError, match="strict mode: type stored as an array"):
        nircc.load(raw_nir(tree), strict=True)
