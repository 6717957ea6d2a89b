"""infer_shapes: exact shapes for conv (padding, stride, dilation, groups), pools, flatten,
broadcast scalar parameters, recurrence; errors name the node and the dimension."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from nircc.errors import NirccError
from nircc.ir import Graph
from nircc.passes import infer_shapes


def build(nodes: dict, edges: list, stale: bool = True) -> Graph:
    """A Graph built directly (not by the reader); with ``stale`` every recorded shape is
    wiped first, so the pass must recompute them all."""
    g = Graph()
    for n, op in nodes.items():
        g.add_node(n, op)
    for e in edges:
        g.add_edge(*e)
    if stale:
        for n in g.nodes:
            g.set_shapes(n, None, None)
    return g


def inp(*shape):
    return nir.Input(input_type={"input": np.array(shape)})


def out(*shape):
    return nir.Output(output_type={"output": np.array(shape)})


def conv2d(c_out, c_in_per_group, kh, kw, stride=1, padding=0, dilation=1, groups=1, input_shape=None):
    return nir.Conv2d(input_shape=input_shape, weight=np.zeros((c_out, c_in_per_group, kh, kw)), stride=stride,
                      padding=padding, dilation=dilation, groups=groups, bias=np.zeros(c_out))


def chain(*nodes):
    names = [n for n, _ in nodes]
    return build(dict(nodes), list(zip(names, names[1:])))


def shapes(g: Graph) -> dict:
    return {n: (g.in_shape(n), g.out_shape(n)) for n in g.nodes}


def test_conv2d_stride_padding_dilation():
    # H: (32 + 2*2 - 1*(5-1) - 1)//2 + 1 = 16;  W: (31 + 0 - 2*(3-1) - 1)//1 + 1 = 27
    g = infer_shapes(chain(("i", inp(3, 32, 31)), ("c", conv2d(8, 3, 5, 3, (2, 1), (2, 0), (1, 2))), ("o", out(8, 16, 27))))
    assert shapes(g)["c"] == ((3, 32, 31), (8, 16, 27))


def test_conv2d_groups_and_same_padding():
    g = infer_shapes(chain(("i", inp(6, 9, 9)), ("c", conv2d(12, 2, 3, 3, 1, "same", groups=3)), ("o", out(12, 9, 9))))
    assert shapes(g)["c"] == ((6, 9, 9), (12, 9, 9))
    g = infer_shapes(chain(("i", inp(6, 9, 9)), ("c", conv2d(12, 2, 3, 3, 2, "valid", groups=3)), ("o", out(12, 4, 4))))
    assert shapes(g)["c"] == ((6, 9, 9), (12, 4, 4))


def test_conv1d():
    # (100 + 2 - 2*(7-1) - 1)//3 + 1 = 30
    c = nir.Conv1d(input_shape=None, weight=np.zeros((2, 4, 7)), stride=3, padding=1, dilation=2, groups=1,
                   bias=np.zeros(2))
    g = infer_shapes(chain(("i", inp(4, 100)), ("c", c), ("o", out(2, 30))))
    assert shapes(g)["c"] == ((4, 100), (2, 30))


def test_pools():
    sp = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    ap = nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1]))
    g = infer_shapes(chain(("i", inp(4, 9, 9)), ("sp", sp), ("o", out(4, 4, 4))))
    assert shapes(g)["sp"] == ((4, 9, 9), (4, 4, 4))
    g = infer_shapes(chain(("i", inp(2, 10, 10)), ("ap", ap), ("o", out(2, 5, 5))))  # (10+2-2-1)//2+1
    assert shapes(g)["ap"] == ((2, 10, 10), (2, 5, 5))


@pytest.mark.parametrize("start,end,expected", [
    (0, -1, (120,)), (1, 2, (4, 30)), (-2, -1, (4, 30)), (0, 1, (20, 6)), (1, 1, (4, 5, 6)),
])
def test_flatten_dims(start, end, expected):
    f = nir.Flatten(input_type={"input": None}, start_dim=start, end_dim=end)
    g = infer_shapes(chain(("i", inp(4, 5, 6)), ("f", f), ("o", out(*expected))))
    assert shapes(g)["f"] == ((4, 5, 6), expected)


def test_scalar_parameters_take_the_source_shape():
    lif = nir.LIF(tau=np.array(0.02), r=np.array(1.0), v_leak=np.array(0.0), v_threshold=np.array(1.0),
                  v_reset=np.array(0.0))
    scale = nir.Scale(scale=np.array(2.0))
    g = infer_shapes(build({"i": inp(3, 4), "s": scale, "lin": nir.Linear(weight=np.ones((10, 12))),
                            "f": nir.Flatten(input_type={"input": None}, start_dim=0), "lif": lif, "o": out(10)},
                           [("i", "s"), ("s", "f"), ("f", "lin"), ("lin", "lif"), ("lif", "o")]))
    assert shapes(g) == {"i": ((3, 4), (3, 4)), "s": ((3, 4), (3, 4)), "lin": ((12,), (10,)), "f": ((3, 4), (12,)),
                         "lif": ((10,), (10,)), "o": ((10,), (10,))}


def test_recurrence_through_back_edges():
    lif = nir.IF(r=np.ones(5), v_threshold=np.ones(5), v_reset=np.zeros(5))
    g = infer_shapes(build({"i": inp(5), "if": lif, "d": nir.Delay(delay=np.array(0.0)),
                            "s": nir.Scale(scale=np.array(0.5)), "o": out(5)},
                           [("i", "if"), ("if", "d"), ("d", "s"), ("s", "if"), ("if", "o")]))
    assert g.schedule().back_edges == {("s", "if")}
    assert shapes(g)["d"] == ((5,), (5,)) and shapes(g)["s"] == ((5,), (5,))


def test_recomputes_stale_shapes_and_keeps_the_input():
    g = chain(("i", inp(4)), ("a", nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3))), ("o", out(3)))
    g.set_shapes("o", (7,), (7,))
    g2 = infer_shapes(g)
    assert g2.in_shape("o") == (3,) and g.in_shape("o") == (7,)


def errors(g: Graph) -> list[str]:
    with pytest.raises(NirccError) as e:
        infer_shapes(g)
    return [str(x) for x in e.value.errors]


def test_error_names_node_and_dimension():
    g = chain(("i", inp(10)), ("fc2", nir.Linear(weight=np.ones((3, 12)))), ("o", out(3)))
    assert errors(g) == ["node 'fc2', field 'input': source 'i' gives [10] but the node takes [12] "
                         "(weight [3, 12]): dimension 0 is 10, expected 12"]


def test_error_conv_channels():
    g = chain(("i", inp(4, 8, 8)), ("c", conv2d(12, 2, 3, 3, groups=3)), ("o", out(12, 6, 6)))
    assert errors(g) == ["node 'c', field 'input': source 'i' gives [4, 8, 8] but the node takes [6, 8, 8] "
                         "(weight [C_out, C_in/groups, ...] = [12, 2, 3, 3] with groups=3): "
                         "dimension 0 (channels) is 4, expected 6"]


def test_error_conv_declared_input_shape():
    g = chain(("i", inp(3, 8, 8)), ("c", conv2d(2, 3, 3, 3, input_shape=(8, 9))), ("o", out(2, 6, 7)))
    (msg,) = errors(g)
    assert msg.endswith("declared input_shape [8, 9]): dimension 2 (W) is 8, expected 9")


def test_error_kernel_larger_than_input():
    g = chain(("i", inp(3, 4, 8)), ("c", conv2d(2, 3, 5, 3, padding=0)), ("o", out(2, 1, 6)))
    (msg,) = errors(g)
    assert msg == ("node 'c', field 'output': output dimension 1 would be 0: kernel 5, dilation 1, stride 1, "
                   "padding 0 do not fit the input size 4 (input [3, 4, 8])")


def test_error_rank_and_flatten_dims():
    g = chain(("i", inp(4, 5)), ("f", nir.Flatten(input_type={"input": None}, start_dim=1, end_dim=3)), ("o", out(20)))
    (msg,) = errors(g)
    assert msg.startswith("node 'f', field 'input': input [4, 5] from ['i']: start_dim=1, end_dim=3 do not fit")
    g = chain(("i", inp(4, 5)), ("c", conv2d(2, 4, 3, 3)), ("o", out(2, 1, 1)))
    (msg,) = errors(g)
    assert msg.startswith("node 'c', field 'input': input [4, 5] from ['i']:") and "spatial axes" in msg


def test_error_sources_disagree_and_all_errors_at_once():
    g = build({"i1": inp(3), "i2": inp(4), "s": nir.Scale(scale=np.array(1.0)),
               "bad": nir.Linear(weight=np.ones((2, 5))), "o": out(3), "o2": out(2)},
              [("i1", "s"), ("i2", "s"), ("s", "o"), ("i1", "bad"), ("bad", "o2")])
    msgs = errors(g)
    assert "node 's', field 'input': its sources disagree on the shape: 'i1' gives [3], 'i2' gives [4]" in msgs
    assert any(m.startswith("node 'bad'") and "dimension 0 is 3, expected 5" in m for m in msgs)


def test_nodes_behind_an_error_are_not_reported_again():
    g = build({"i": inp(4), "bad": nir.Linear(weight=np.ones((2, 5))), "s": nir.Scale(scale=np.array(1.0)),
               "o": out(2)}, [("i", "bad"), ("bad", "s"), ("s", "o")])
    assert errors(g) == ["node 'bad', field 'input': source 'i' gives [4] but the node takes [5] (weight [2, 5]): "
                         "dimension 0 is 4, expected 5"]
    g = build({"i": inp(4), "f": nir.Flatten(input_type={"input": None}, start_dim=2), "s": nir.Scale(
        scale=np.array(1.0)), "o": out(4)}, [("i", "f"), ("f", "s"), ("s", "o")])
    (msg,) = errors(g)
    assert msg.startswith("node 'f', field 'input': input [4] from ['i']: start_dim=2")
