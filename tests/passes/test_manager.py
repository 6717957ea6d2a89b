"""PassManager: order, validation after every pass (errors name the pass), dumps, timing,
the per-pass log, and that no shared pass mutates its input."""
from __future__ import annotations

import io
import json

import nir
import numpy as np
import pytest

import nircc
from nircc.errors import NirccError
from nircc.ir import Graph
from nircc.passes import (SHARED_PASSES, Pass, PassManager, PassMutationError, PassVerificationError, QuantizeWeights,
                          as_pass, canonicalize, fingerprint, fuse_affine, infer_shapes)
from nircc.util import dumps


def lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                   v_reset=np.zeros(n))


def net() -> Graph:
    """in(4) -> lin(3x4) -> scale(3) -> aff(5x3) -> lif(5) -> out, with lif -> rec(5x5) -> lif."""
    rng = np.random.default_rng(0)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([4])}),
        "lin": nir.Linear(weight=rng.normal(size=(3, 4))),
        "scale": nir.Scale(scale=np.array([1.0, 2.0, 3.0])),
        "aff": nir.Affine(weight=rng.normal(size=(5, 3)), bias=np.ones(5)),
        "lif": lif(5),
        "rec": nir.Linear(weight=rng.normal(size=(5, 5))),
        "out": nir.Output(output_type={"output": np.array([5])}),
    }
    edges = [("in", "lin"), ("lin", "scale"), ("scale", "aff"), ("aff", "lif"), ("lif", "out"), ("lif", "rec"),
             ("rec", "lif")]
    return nircc.load(nir.NIRGraph(nodes=nodes, edges=edges))


PIPELINE = [infer_shapes, canonicalize, fuse_affine, QuantizeWeights()]


def test_runs_passes_in_order_and_logs_each():
    res = PassManager(PIPELINE).run(net())
    assert [r.name for r in res.log] == ["infer_shapes", "canonicalize", "fuse_affine", "quantize"]
    counts = [(r.nodes_before, r.nodes_after, r.edges_before, r.edges_after) for r in res.log]
    assert counts == [(7, 7, 7, 7), (7, 6, 7, 6), (6, 5, 6, 5), (5, 5, 5, 5)]
    assert [d.code for d in res.record("canonicalize").diagnostics] == ["fold-scale"]
    assert [d.code for d in res.record("fuse_affine").diagnostics] == ["fuse-chain"]
    assert all(d.stage == r.name for r in res.log[1:3] for d in r.diagnostics)
    assert res.graph.nodes == ["in", "lin", "lif", "rec", "out"]
    assert res.graph.type("lin") == "Affine"
    assert all(r.seconds >= 0 and r.verify_seconds >= 0 for r in res.log)
    json.loads(dumps(res.to_dict()))  # JSON-able


def test_shared_passes_never_mutate_their_input():
    g = net()
    before = fingerprint(g)
    res = PassManager(PIPELINE, check_immutable=True).run(g)
    assert fingerprint(g) == before
    assert fingerprint(res.graph) != before
    for p in list(SHARED_PASSES.values()) + [QuantizeWeights(dequantize=True)]:
        p(g)
        assert fingerprint(g) == before, p


def test_a_mutating_pass_is_caught():
    def sneaky(g: Graph) -> Graph:
        g.diagnostics.info("x", "changed in place")
        return g

    with pytest.raises(PassMutationError, match="pass 'sneaky' mutated its input graph"):
        PassManager([infer_shapes, sneaky], check_immutable=True).run(net())


def test_a_broken_pass_fails_naming_itself_and_the_node():
    def break_edge(g: Graph) -> Graph:
        out = g.copy()
        out.remove_edge("in", "lin")
        return out

    with pytest.raises(PassVerificationError) as e:
        PassManager([infer_shapes, ("fuse_affine", break_edge)]).run(net())
    assert str(e.value).startswith("pass 'fuse_affine' produced an invalid graph: ")
    assert "node 'lin'" in str(e.value) and "unreachable" in str(e.value)
    assert e.value.pass_name == "fuse_affine"


def test_bad_shapes_after_a_pass_are_blamed_on_it():
    def wrong_shape(g: Graph) -> Graph:
        out = g.copy()
        out.set_shapes("lif", (6,), (6,))
        return out

    with pytest.raises(PassVerificationError, match="pass 'wrong_shape' produced an invalid graph: .*node 'lif'"):
        PassManager([wrong_shape]).run(net())


def test_an_invalid_input_graph_is_the_users_error():
    g = net().copy()
    g.remove_edge("in", "lin")
    with pytest.raises(NirccError, match="unreachable") as e:
        PassManager([infer_shapes]).run(g)
    assert not isinstance(e.value, PassVerificationError)


def test_hand_built_graph_without_shapes_needs_infer_shapes_first():
    g = Graph()
    g.add_node("in", nir.Input(input_type={"input": np.array([3])}))
    g.add_node("s", nir.Scale(scale=np.array(2.0)))  # a scalar: its shape comes from its source
    g.add_node("out", nir.Output(output_type={"output": np.array([3])}))
    g.add_edge("in", "s")
    g.add_edge("s", "out")
    with pytest.raises(NirccError, match="node 's', field 'input': shape unknown"):
        PassManager([infer_shapes]).run(g)
    res = PassManager([infer_shapes, canonicalize], verify_input=False).run(g)
    assert res.graph.in_shape("s") == (3,) and g.in_shape("s") is None


def test_dump_after_writes_nir_files(tmp_path):
    res = PassManager(PIPELINE, dump_after=["canonicalize", "fuse_affine"], dump_dir=tmp_path).run(net())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["02-canonicalize.nir", "03-fuse_affine.nir"]
    assert res.record("canonicalize").dumped == tmp_path / "02-canonicalize.nir"
    back = nircc.load(tmp_path / "03-fuse_affine.nir")
    assert sorted(back.nodes) == sorted(res.graph.nodes)
    np.testing.assert_array_equal(back.op("lin").weight, res.graph.op("lin").weight)


def test_dump_after_all(tmp_path):
    PassManager(PIPELINE, dump_after=["all"], dump_dir=tmp_path).run(net())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01-infer_shapes.nir", "02-canonicalize.nir", "03-fuse_affine.nir", "04-quantize.nir"]


def test_dump_after_an_unknown_pass_is_an_error():
    with pytest.raises(NirccError, match="--dump-after names 'fuse', which this pipeline does not run "
                                         r"\(passes: infer_shapes, canonicalize, fuse_affine, quantize; or 'all'\)"):
        PassManager(PIPELINE, dump_after=["fuse"], dump_dir=".")
    with pytest.raises(ValueError, match="dump_dir"):
        PassManager(PIPELINE, dump_after=["fuse_affine"])


def test_time_passes_prints_a_table():
    stream = io.StringIO()
    res = PassManager(PIPELINE, time_passes=True, stream=stream).run(net())
    lines = stream.getvalue().splitlines()
    assert lines[0].split()[:3] == ["pass", "pass", "ms"]
    assert [ln.split()[0] for ln in lines[1:]] == ["infer_shapes", "canonicalize", "fuse_affine", "quantize", "total"]
    assert "7->6" in lines[2]
    assert stream.getvalue().rstrip("\n") == res.timing_table()


def test_silent_without_time_passes(capsys):
    PassManager(PIPELINE).run(net())
    assert capsys.readouterr() == ("", "")


def test_pass_forms():
    f = as_pass(("custom", infer_shapes))
    assert f.name == "custom" and f.fn is infer_shapes
    assert as_pass(infer_shapes).name == "infer_shapes"
    assert as_pass(QuantizeWeights(name="q8")).name == "q8"
    p = Pass("p", infer_shapes)
    assert as_pass(p) is p
    with pytest.raises(TypeError):
        as_pass(lambda g: g)
    with pytest.raises(TypeError):
        as_pass(42)
    with pytest.raises(TypeError, match="returned int"):
        PassManager([("bad", lambda g: 1)]).run(net())
