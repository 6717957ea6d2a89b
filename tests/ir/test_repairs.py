"""The tolerant reader's repairs, on files written with h5py directly (see conftest.raw_nir).

Each repair must change exactly what it says and leave a Diagnostic whose code, node and
field name it; ``strict=True`` turns it into an error.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

import nircc
from tests.builders import affine, chain, graph, inp, lif, out, scalar_cuba_lif
from nircc import NirccError
from tests import paths

F32, F64 = np.float32, np.float64


def diag(g, code: str) -> list[tuple]:
    return [(d.node, d.field) for d in g.diagnostics.with_code(code)]


# ----------------------------------------------------------------------------- broadcast / infer
def test_scalar_cubalif_between_linear_layers(raw_nir):
    path = raw_nir(chain(("input", inp(6)), ("fc1", affine(4, 6)), ("lif1", scalar_cuba_lif()),
                         ("fc2", affine(2, 4, 1)), ("lif2", scalar_cuba_lif()), ("output", out(2))))
    with pytest.raises(ValueError):  # nir 1.0.8 itself rejects it: lif1.input is []
        nir.read(path)
    g = nircc.load(path)
    op = g.op("lif1")
    for f, v in [("tau_syn", 0.002), ("tau_mem", 0.01), ("r", 100.0), ("v_leak", 0.0), ("v_threshold", 1.0),
                 ("v_reset", 0.0), ("w_in", 20.0)]:
        a = getattr(op, f)
        assert a.dtype == F32 and a.shape == (4,), f
        np.testing.assert_array_equal(a, np.full(4, v, F32))
    assert g.op("lif2").tau_mem.shape == (2,)
    assert (g.in_shape("lif1"), g.in_shape("lif2")) == ((4,), (2,))
    assert diag(g, "infer-shape") == [("lif1", "input_type"), ("lif2", "input_type")]
    fields = ["tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"]
    assert diag(g, "broadcast-scalar") == [("lif1", f) for f in fields] + [("lif2", f) for f in fields]
    assert diag(g, "default-field") == [("lif1", "v_reset"), ("lif2", "v_reset")]


def test_scalar_mixed_with_arrays_is_broadcast(raw_nir):
    g = nircc.load(raw_nir(chain(("input", inp(3)), ("lif", lif(3, v_leak=F32(0.5), r=np.ones(1, F32))),
                                 ("output", out(3)))))
    np.testing.assert_array_equal(g.op("lif").v_leak, np.full(3, 0.5, F32))
    np.testing.assert_array_equal(g.op("lif").r, np.ones(3, F32))
    assert diag(g, "broadcast-scalar") == [("lif", "r"), ("lif", "v_leak")]
    assert diag(g, "infer-shape") == []


def test_single_element_parameters_take_the_source_shape(raw_nir):
    """Parameters of shape [1] (sinabs/torch scalars) on a 5-neuron layer."""
    one = {k: np.asarray(v).reshape(1) for k, v in lif(1).items() if k != "type"}
    g = nircc.load(raw_nir(chain(("input", inp(3)), ("fc", affine(5, 3)), ("lif", {"type": "LIF", **one}),
                                 ("output", out(5)))))
    assert g.op("lif").tau.shape == (5,) and g.out_shape("lif") == (5,)
    assert ("lif", "tau") in diag(g, "broadcast-scalar")


def test_missing_input_and_output_types_are_inferred(raw_nir):
    no_shape_in = {"type": "Input"}
    empty_out = {"type": "Output", "shape": np.array([], dtype=np.int64)}
    g = nircc.load(raw_nir(chain(("input", no_shape_in), ("fc", affine(3, 5)), ("output", empty_out))))
    assert g.out_shape("input") == (5,) and g.in_shape("output") == (3,)
    np.testing.assert_array_equal(g.op("input").input_type["input"], [5])
    np.testing.assert_array_equal(g.op("output").output_type["output"], [3])
    assert diag(g, "infer-shape") == [("input", "shape"), ("output", "shape")]


@pytest.mark.parametrize("shape, consumer, fixed", [
    ((1, 6), affine(3, 6), (6,)),
    ((1, 1, 6), affine(3, 6), (6,)),
    ((1, 2, 5, 5), {"type": "Conv2d", "weight": np.ones((3, 2, 3, 3), F32), "bias": np.zeros(3, F32),
                    "stride": np.array([1, 1]), "padding": np.array([0, 0]), "dilation": np.array([1, 1]),
                    "groups": 1}, (2, 5, 5)),
])
def test_leading_batch_dim_on_input(raw_nir, shape, consumer, fixed):
    g = nircc.load(raw_nir(graph({"input": inp(*shape), "x": consumer, "output": {"type": "Output"}},
                                 [("input", "x"), ("x", "output")])))
    assert g.out_shape("input") == fixed
    np.testing.assert_array_equal(g.op("input").input_type["input"], fixed)
    assert diag(g, "batch-dim") == [("input", "shape")]


def test_output_typed_111_after_one_lif_neuron(raw_nir):
    """lif_rockpool.nir: the Output of a 1-neuron LIF is typed [1, 1, 1]."""
    path = raw_nir(chain(("input", inp(1)), ("0_LinearTorch", {"type": "Linear", "weight": np.ones((1, 1), F32)}),
                         ("1_LIFNeuronTorch", lif(1)), ("output", out(1, 1, 1))))
    g = nircc.load(path)
    assert g.in_shape("output") == g.out_shape("output") == (1,)
    np.testing.assert_array_equal(g.op("output").output_type["output"], [1])
    assert diag(g, "output-type") == [("output", "shape")]
    message = g.diagnostics.with_code("output-type")[0].message
    assert message == "Output type [1, 1, 1] contradicts its source's shape [1]; using [1]"


ROCKPOOL_FIXTURES = paths.ROOT / "benchmarks" / "deploy" / "fixtures"


def _rockpool_chain(input_shape, output_shape) -> dict:
    """rockpool 3.1's to_nir layout: Linear -> CubaLIF -> Linear -> CubaLIF, Input and Output
    typed with the sample's batch and time axes ([1, T, N])."""
    cuba = lambda n: {"type": "CubaLIF", **{k: np.full(n, v, F32) for k, v in  # noqa: E731
                      (("tau_syn", 5e-3), ("tau_mem", 1e-2), ("r", 9.048), ("v_leak", 0.0), ("v_threshold", 1.0), ("v_reset", 0.0),
                       ("w_in", 1.0))}}
    return chain(("input", inp(*input_shape)), ("0_LinearTorch", {"type": "Linear", "weight": np.ones((6, 4), F32)}),
                 ("1_LIFTorch", cuba(6)), ("2_LinearTorch", {"type": "Linear", "weight": np.ones((3, 6), F32)}),
                 ("3_LIFTorch", cuba(3)), ("output", out(*output_shape)))


def test_input_and_output_keeping_batch_and_time_axes(raw_nir):
    """rockpool's to_nir types Input and Output as [1, T, N]: both axes go, named."""
    g = nircc.load(raw_nir(_rockpool_chain((1, 45, 4), (1, 45, 3))))
    assert (g.out_shape("input"), g.in_shape("output")) == ((4,), (3,))
    np.testing.assert_array_equal(g.op("input").input_type["input"], [4])
    np.testing.assert_array_equal(g.op("output").output_type["output"], [3])
    assert diag(g, "batch-time-dims") == [("input", "shape"), ("output", "shape")]
    assert diag(g, "batch-dim") == diag(g, "output-type") == []
    messages = [d.message for d in g.diagnostics.with_code("batch-time-dims")]
    assert messages == ["Input type [1, 45, 4] keeps the batch and time axes (rockpool's to_nir); using [4]",
                        "Output type [1, 45, 3] keeps the batch and time axes (rockpool's to_nir); using [3]"]
    with pytest.raises(NirccError) as e:
        nircc.load(raw_nir(_rockpool_chain((1, 45, 4), (3,)), name="strict.nir"), strict=True)
    assert (e.value.node, e.value.field, e.value.code) == ("input", "shape", "batch-time-dims")


@pytest.mark.parametrize("shape, consumer, fixed, code", [
    ((45, 6), affine(3, 6), (6,), "batch-time-dims"),                # a time axis alone
    ((2, 45, 6), affine(3, 6), (6,), "batch-time-dims"),             # batch 2 and time
    ((1, 1, 6), affine(3, 6), (6,), "batch-dim"),                    # size-1 axes stay 'batch-dim'
    ((1, 10, 2, 5, 5), {"type": "Conv2d", "weight": np.ones((3, 2, 3, 3), F32), "bias": np.zeros(3, F32),
                        "stride": np.array([1, 1]), "padding": np.array([0, 0]), "dilation": np.array([1, 1]),
                        "groups": 1}, (2, 5, 5), "batch-time-dims"),  # the channels fix the match
])
def test_extra_leading_axes_on_input(raw_nir, shape, consumer, fixed, code):
    g = nircc.load(raw_nir(graph({"input": inp(*shape), "x": consumer, "output": {"type": "Output"}},
                                 [("input", "x"), ("x", "output")])))
    assert g.out_shape("input") == fixed
    assert [d.code for d in g.diagnostics if d.node == "input"] == [code]


POOL = {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]), "padding": np.array([0, 0])}


@pytest.mark.parametrize("shape, consumers", [
    ((1, 45, 7), [affine(3, 6)]),                 # trailing size is not what the Affine takes
    ((1, 45, 6), [affine(3, 6), affine(2, 12)]),  # consumers disagree
    ((5, 2, 8, 8), [POOL]),                       # a pool fixes no size: dropping the 5 would be a guess
])
def test_extra_leading_axes_that_are_not_unambiguous_stay_errors(raw_nir, shape, consumers):
    nodes = {"input": inp(*shape), **{f"x{i}": c for i, c in enumerate(consumers)}}
    edges = [("input", f"x{i}") for i in range(len(consumers))]
    for i in range(len(consumers)):
        nodes[f"o{i}"] = {"type": "Output"}
        edges.append((f"x{i}", f"o{i}"))
    with pytest.raises(NirccError) as e:
        nircc.load(raw_nir(graph(nodes, edges)))
    assert str(list(shape)) in str(e.value)  # the declared type, left as it is
    assert "batch" not in str(e.value)


def test_output_with_leading_size_one_axes_stays_output_type(raw_nir):
    """[1, 1, 3] (rockpool with T = 1, lif_rockpool.nir) remains the 'output-type' repair."""
    g = nircc.load(raw_nir(_rockpool_chain((1, 1, 4), (1, 1, 3))))
    assert diag(g, "output-type") == [("output", "shape")] and diag(g, "batch-dim") == [("input", "shape")]


@pytest.mark.parametrize("name", ["rockpool_rlif", "rockpool_lif_ff"])
def test_rockpool_fixture_files_load(name):
    """Files written by rockpool 3.1's to_nir + nir.write (benchmarks/deploy); before the
    'batch-time-dims' repair, load stopped at 'shape mismatch along edge (input, 0_LinearTorch)'."""
    g = nircc.load(ROCKPOOL_FIXTURES / name / "model.nir")
    assert [(n, g.type(n), g.in_shape(n), g.out_shape(n)) for n in g.schedule().order] == [
        ("input", "Input", (16,), (16,)), ("0_LinearTorch", "Linear", (16,), (64,)),
        ("1_LIFTorch", "CubaLIF", (64,), (64,)), ("2_LinearTorch", "Linear", (64,), (8,)),
        ("3_LIFTorch", "CubaLIF", (8,), (8,)), ("output", "Output", (8,), (8,))]
    assert {d.code for d in g.diagnostics} == {"batch-time-dims", "default-field"}
    assert diag(g, "batch-time-dims") == [("input", "shape"), ("output", "shape")]


def _rockpool_lif_torch(g, x: np.ndarray, dt: float = 1e-3) -> np.ndarray:
    """rockpool 3.1 LIFTorch.forward on a loaded Linear/CubaLIF chain: i = beta*(i + x),
    v = alpha*v + i, n = (v >= thr)*floor(v/thr), v -= n*thr."""
    state: dict = {}
    out = []
    for t in range(x.shape[0]):
        val = {}
        for n in g.schedule().order:
            op, ty = g.op(n), g.type(n)
            a = x[t].astype(F64) if ty == "Input" else val[next(iter(g.predecessors(n)))]
            if ty == "Linear":
                a = a @ np.asarray(op.weight, F64).T
            elif ty == "CubaLIF":
                alpha, beta = (np.exp(-dt / np.asarray(op.tau_mem, F64)), np.exp(-dt / np.asarray(op.tau_syn, F64)))
                thr = np.asarray(op.v_threshold, F64)
                i, v = state.get(n, (0.0, 0.0))
                i = beta * (i + a)
                v = alpha * v + i
                a = np.where(v >= thr, np.floor(v / thr), 0.0)
                state[n] = (i, v - a * thr)
            val[n] = a
        out.append(val["output"])
    return np.stack(out)


def test_rockpool_feed_forward_fixture_is_read_exactly():
    """Rockpool's own update run on what nircc read from rockpool_lif_ff/model.nir gives the
    recorded rockpool outputs entry for entry (weights, orientation, thresholds, time
    constants all read as written; dt = 1 ms)."""
    d = ROCKPOOL_FIXTURES / "rockpool_lif_ff"
    data = np.load(d / "data.npz")
    got = _rockpool_lif_torch(nircc.load(d / "model.nir"), data["inputs"])
    np.testing.assert_array_equal(got, data["outputs"])


def test_conv_input_shape_contradicting_the_source(raw_nir):
    conv = {"type": "Conv2d", "weight": np.ones((4, 2, 3, 3), F32), "bias": np.zeros(4, F32),
            "stride": np.array([2, 2]), "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": 1,
            "input_shape": np.array([30, 30])}
    g = nircc.load(raw_nir(chain(("input", inp(2, 34, 34)), ("conv", conv), ("output", out(4, 17, 17)))))
    assert g.op("conv").input_shape == (34, 34)
    assert (g.in_shape("conv"), g.out_shape("conv")) == ((2, 34, 34), (4, 17, 17))
    assert diag(g, "conv-input-shape") == [("conv", "input_shape")]


# ----------------------------------------------------------------------------- Flatten
def _flatten_graph(flat: dict) -> dict:
    return chain(("input", inp(2, 4, 4)), ("flat", flat), ("fc", affine(3, 32)), ("output", out(3)))


@pytest.mark.parametrize("flat, codes", [
    # input_type with a batch axis, start_dim counted with it (torch.nn.Flatten defaults)
    ({"type": "Flatten", "input_type": np.array([1, 2, 4, 4]), "start_dim": 1, "end_dim": -1},
     {"batch-dim": [("flat", "input_type")]}),
    # sinabs: a placeholder input_type and start_dim=1 counted with the batch axis
    ({"type": "Flatten", "input_type": np.array([0, 0, 0, 0]), "start_dim": 1, "end_dim": -1},
     {"flatten-input-type": [("flat", "input_type")], "flatten-dims": [("flat", "start_dim")]}),
    # no input_type at all, start_dim=1
    ({"type": "Flatten", "start_dim": 1, "end_dim": -1}, {"flatten-dims": [("flat", "start_dim")]}),
    # correct
    ({"type": "Flatten", "input_type": np.array([2, 4, 4]), "start_dim": 0, "end_dim": -1}, {}),
])
def test_flatten_repairs(raw_nir, flat, codes):
    g = nircc.load(raw_nir(_flatten_graph(flat)))
    op = g.op("flat")
    assert (op.start_dim, op.end_dim) == (0, -1)
    np.testing.assert_array_equal(op.input_type["input"], [2, 4, 4])
    assert (g.in_shape("flat"), g.out_shape("flat")) == ((2, 4, 4), (32,))
    assert {d.code: diag(g, d.code) for d in g.diagnostics} == codes


# ----------------------------------------------------------------------------- edges, subgraphs
def test_edge_naming_an_inner_node_by_its_short_name(raw_nir):
    sub = graph({"input": inp(3), "lif": lif(3), "output": out(3)}, [("input", "lif"), ("lif", "output")])
    path = raw_nir(graph({"input": inp(2), "fc": affine(3, 2), "sub": sub, "output": out(3)},
                         [("input", "fc"), ("fc", "lif"), ("sub", "output")]))
    g = nircc.load(path)
    assert set(g.edges) == {("input", "fc"), ("fc", "sub.lif"), ("sub.lif", "output")}
    assert diag(g, "edge-name") == [("sub.lif", "edges")]
    assert "names node 'lif' by its short name; resolved to 'sub.lif'" in g.diagnostics[0].message


def test_edges_by_number(raw_nir):
    """lava-dl's exporter writes edges as integer pairs naming nodes '0', '1', ..."""
    path = raw_nir({"type": "NIRGraph",
                    "nodes": {"0": inp(2), "1": affine(3, 2), "2": out(3)},
                    "edges": np.array([[0, 1], [1, 2]], dtype=np.int64)})
    assert set(nircc.load(path).edges) == {("0", "1"), ("1", "2")}


def test_graph_without_input_and_output_nodes(raw_nir):
    """lava-dl: no Input/Output nodes; nir's type inference adds them, so does nircc."""
    path = raw_nir({"type": "NIRGraph", "nodes": {"0": affine(4, 3), "1": lif(4)},
                    "edges": np.array([[0, 1]], dtype=np.int64)})
    g = nircc.load(path)
    assert set(g.edges) == {("input_0", "0"), ("0", "1"), ("1", "output_1")}
    assert g.out_shape("input_0") == (3,) and g.in_shape("output_1") == (4,)
    assert diag(g, "add-input") == [("0", "input_type")]
    assert diag(g, "add-output") == [("1", "output_type")]


# ----------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("strings", ["vlen", "ascii", "fixed", "attr"])
@pytest.mark.parametrize("compression", [None, "gzip", "lzf"])
def test_string_encodings_and_compression(raw_nir, strings, compression):
    sub = graph({"input": inp(3), "lif": lif(3), "output": out(3)}, [("input", "lif"), ("lif", "output")])
    path = raw_nir(graph({"input": inp(2), "fc": affine(3, 2, 7), "sub": sub, "output": out(3)},
                         [("input", "fc"), ("fc", "sub"), ("sub", "output")]),
                   strings=strings, compression=compression)
    with h5py.File(path) as f:
        assert f["node/nodes/fc/weight"].compression == compression
    g = nircc.load(path)
    assert set(g.edges) == {("input", "fc"), ("fc", "sub.lif"), ("sub.lif", "output")}
    np.testing.assert_array_equal(g.op("fc").weight, affine(3, 2, 7)["weight"])
    assert g.op("fc").weight.dtype == F32
    assert len(g.diagnostics) == 0
    assert g.meta["nir_version"] == "1.0.8"


def test_hdf5_file_with_a_user_block(raw_nir, tmp_path):
    """HDF5 allows a user block before the superblock: the signature is then at byte 512."""
    src = raw_nir(chain(("input", inp(2)), ("fc", affine(2, 2)), ("output", out(2))))
    path = tmp_path / "userblock.nir"
    with h5py.File(src) as a, h5py.File(path, "w", userblock_size=512) as b:
        a.copy("node", b)
    with open(path, "r+b") as f:
        f.write(b"exported by a tool that writes a header here")
    assert set(nircc.load(path).edges) == {("input", "fc"), ("fc", "output")}


def test_scalar_datasets_for_geometry_and_parameters(raw_nir):
    conv = {"type": "Conv1d", "weight": np.ones((2, 1, 3), F64), "bias": np.zeros(2, F64), "stride": 2,
            "padding": 1, "dilation": 1, "groups": 1}
    pool = {"type": "SumPool2d", "kernel_size": 2, "stride": 2, "padding": 0}
    g = nircc.load(raw_nir(chain(("input", inp(1, 9)), ("conv", conv), ("output", out(2, 5)))))
    assert (g.op("conv").stride, g.op("conv").padding, g.op("conv").input_shape) == (2, 1, 9)
    assert g.out_shape("conv") == (2, 5)
    g = nircc.load(raw_nir(chain(("input", inp(2, 4, 4)), ("pool", pool), ("output", out(2, 2, 2))),
                           name="pool.nir"))
    np.testing.assert_array_equal(g.op("pool").kernel_size, [2, 2])
    assert g.op("pool").kernel_size.dtype == np.int64
    assert g.out_shape("pool") == (2, 2, 2)


def test_missing_v_reset_gets_nir_default(raw_nir):
    old = lif(3)
    del old["v_reset"]
    old["v_threshold"] = np.array([1.0, 2.0, 3.0], F64)
    g = nircc.load(raw_nir(chain(("input", inp(3)), ("lif", old), ("output", out(3)))))
    v_reset = g.op("lif").v_reset
    assert v_reset.dtype == F64 and v_reset.shape == (3,)
    np.testing.assert_array_equal(v_reset, np.zeros(3))
    assert diag(g, "default-field") == [("lif", "v_reset")]


def test_unknown_field_is_ignored(raw_nir):
    g = nircc.load(raw_nir(chain(("input", inp(3)), ("lif", lif(3, refractory=np.ones(3))), ("output", out(3)))))
    assert diag(g, "ignored-field") == [("lif", "refractory")]


def test_metadata_is_kept_and_version_may_be_missing(raw_nir):
    tree = chain(("input", inp(2)), ("fc", affine(2, 2)), ("output", out(2)))
    tree["metadata"] = {"framework": "snntorch", "blob": np.frombuffer(b"\xff\xfe", dtype="V2")}
    g = nircc.load(raw_nir(tree, version=None))
    assert "nir_version" not in g.meta
    assert g.meta["metadata"]["framework"] == "snntorch"


# ----------------------------------------------------------------------------- strict, pickles
def test_strict_mode_turns_repairs_into_errors(raw_nir):
    path = raw_nir(chain(("input", inp(1)), ("lin", {"type": "Linear", "weight": np.ones((1, 1), F32)}),
                         ("lif", lif(1)), ("output", out(1, 1, 1))))
    assert len(nircc.load(path).diagnostics) == 1
    with pytest.raises(NirccError) as e:
        nircc.load(path, strict=True)
    assert (e.value.node, e.value.field, e.value.code) == ("output", "shape", "output-type")
    assert e.value.message.startswith("strict mode: Output type [1, 1, 1] contradicts")


class _Marker:
    """Unpickling this object creates a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_loading_never_unpickles(raw_nir, tmp_path):
    marker = tmp_path / "UNPICKLED"
    blob = pickle.dumps(_Marker(marker))
    pickle.loads(blob)  # the payload works ...
    assert marker.exists()
    marker.unlink()  # ... but loading a file never runs it
    text = pickle.dumps(_Marker(marker), protocol=0)  # ASCII pickle
    linear = lambda w: chain(("input", inp(2)), ("fc", {"type": "Linear", "weight": w}), ("output", out(2)))  # noqa: E731
    cases = {
        "as a node type (text)": ({"type": "NIRGraph", "nodes": {"x": {"type": text.decode()}}, "edges": []},
                                  "unknown node type"),
        "as a node type (binary)": ({"type": "NIRGraph", "nodes": {"x": {"type": np.bytes_(blob)}}, "edges": []},
                                    "not UTF-8 text"),
        "as an opaque weight": (linear(np.void(blob)), "expected numbers"),
        "as a uint8 weight": (linear(np.frombuffer(blob, np.uint8)), "at least 2-D"),
        "as an edge": (graph({"a": inp(2), "b": out(2)}, [("a", text.decode())]), "does not exist"),
    }
    for i, (what, (tree, reason)) in enumerate(cases.items()):
        with pytest.raises(NirccError, match=reason):
            nircc.load(raw_nir(tree, name=f"p{i}.nir"))
        assert not marker.exists(), what
    # pickled bytes inside metadata are kept as bytes, never interpreted
    tree = chain(("input", inp(2)), ("fc", affine(2, 2)), ("output", out(2)))
    tree["metadata"] = {"payload": np.void(blob)}
    g = nircc.load(raw_nir(tree, name="meta.nir"))
    assert bytes(g.meta["metadata"]["payload"]) == blob
    assert not marker.exists()
