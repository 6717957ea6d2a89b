"""nircc on every nir release it supports (1.0.3 to 1.0.8): :mod:`nircc.ir.nir_compat`.

These tests run on whichever nir is installed (CI runs the whole suite on nir 1.0.8 and
on the oldest supported release).  They check the backports against nir 1.0.8's
definitions, a CubaLI graph through save / load / read / simulate, and that graphs made of
the installed release's *own* classes (``nir_compat.real``, e.g. nir 1.0.4's ``LIF``
without ``v_reset``) go through nircc.
"""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

import nircc
from nircc.ir import NODE_TYPES, nir_compat
from nircc.ir.nir_compat import real
from nircc.sim import simulate

RELEASE = tuple(int(x) for x in nir_compat.NIR_VERSION.split(".")[:3])
F32 = np.float32
DT = 1e-3


def _spec(name: str) -> list[tuple[str, object]]:
    return [(a, inspect.Parameter.empty) if isinstance(a, str) else a for a in nir_compat._SIGNATURES[name]]


def _positional(cls: type) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(cls).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD]


# ----------------------------------------------------------------------------- the backports
def test_backported_only_where_the_release_lacks_something():
    assert (nir_compat.BACKPORTED == ()) == (RELEASE >= (1, 0, 7))
    if RELEASE <= (1, 0, 4):  # 1.0.3 and 1.0.4 have the same sources
        assert set(nir_compat.BACKPORTED) == {"Input", "Output", "Linear", "Scale", "Conv1d", "Conv2d",
                                              "AvgPool2d", "IF", "LIF", "CubaLI", "CubaLIF", "NIRGraph",
                                              "read"}
    elif RELEASE < (1, 0, 7):
        assert set(nir_compat.BACKPORTED) == {"IF", "LIF", "CubaLIF", "NIRGraph", "read"}
    for name in ("Affine", "I", "LI", "SumPool2d", "Flatten", "Threshold", "Delay", "NIRNode", "write"):
        assert getattr(nir_compat, name) is getattr(real, name)  # never replaced


@pytest.mark.parametrize("name", sorted(nir_compat._SIGNATURES))
def test_every_node_takes_nir_108s_arguments(name):
    cls = getattr(nir_compat, name)
    assert NODE_TYPES[name] is cls and cls.__name__ == name
    params = inspect.signature(cls).parameters
    assert "metadata" in params
    got = _positional(cls)
    assert [a for a, _ in got[:len(_spec(name))]] == [a for a, _ in _spec(name)]
    for (a, mine), (_, want) in zip(got, _spec(name)):  # older releases may default more
        assert want is inspect.Parameter.empty or mine == want, a
    if name in nir_compat.BACKPORTED or RELEASE >= (1, 0, 8):  # exactly 1.0.8's signature
        assert got == _spec(name)
        assert params["metadata"].kind is inspect.Parameter.KEYWORD_ONLY
    if name in nir_compat.BACKPORTED and hasattr(real, name):
        assert issubclass(cls, getattr(real, name))  # objects are the release's own class too


def test_signature_table_is_nir_108s():
    """The table the backports follow is nir 1.0.8's (checked where 1.0.8 is installed)."""
    if RELEASE < (1, 0, 8):
        pytest.skip(f"nir {nir_compat.NIR_VERSION} is older than the table's nir 1.0.8")
    for name in nir_compat._SIGNATURES:
        assert _positional(getattr(real, name)) == _spec(name), name


def test_cubali_is_nir_108s():
    f = {fl.name: fl for fl in dataclasses.fields(nir_compat.CubaLI)}
    assert set(f) == {"tau_syn", "tau_mem", "r", "v_leak", "w_in", "input_type", "output_type", "metadata"}
    if "CubaLI" in nir_compat.BACKPORTED or RELEASE >= (1, 0, 8):  # 1.0.5-1.0.7 also take input_type=
        assert {n for n, fl in f.items() if fl.init} == {"tau_syn", "tau_mem", "r", "v_leak", "w_in", "metadata"}
    assert issubclass(nir_compat.CubaLI, real.NIRNode)
    ones = np.ones(3, F32)
    op = nir_compat.CubaLI(ones * 5e-3, ones * 1e-2, ones * 2, np.zeros(3, F32), 1.5)
    np.testing.assert_array_equal(op.w_in, np.full(3, 1.5))
    assert op.metadata == {} and type(op).__name__ == "CubaLI"
    assert op.input_type["input"].tolist() == op.output_type["output"].tolist() == [3]
    np.testing.assert_array_equal(nir_compat.CubaLI(ones, ones, ones, ones).w_in, ones)  # w_in: 1.0
    with pytest.raises(AssertionError, match="same shape"):
        nir_compat.CubaLI(ones, ones, ones, np.zeros(2, F32))
    d = op.to_dict()
    assert d["type"] == "CubaLI" and set(d) == {"type", "tau_syn", "tau_mem", "r", "v_leak", "w_in", "metadata"}
    back = nir_compat.CubaLI.from_dict(d)
    assert "type" in d or RELEASE == (1, 0, 5)  # left alone, as in 1.0.8 (1.0.5 deletes it)
    np.testing.assert_array_equal(back.w_in, op.w_in)


@pytest.mark.parametrize("name", ["IF", "LIF", "CubaLIF"])
def test_v_reset_defaults_to_zeros_like_v_threshold(name):
    thr = np.array([1.0, 2.0], F32)
    other = {"r": thr, "tau": thr, "v_leak": thr * 0, "tau_syn": thr, "tau_mem": thr}
    kw = {a: other[a] for a, _ in _spec(name) if a in other}
    cls = getattr(nir_compat, name)
    op = cls(v_threshold=thr, **kw)
    assert op.v_reset.shape == (2,) and op.v_reset.dtype == F32 and not op.v_reset.any()
    assert cls(v_threshold=thr, v_reset=thr, **kw).v_reset is thr
    assert "v_reset" in op.to_dict()
    with pytest.raises(AssertionError):
        cls(v_threshold=thr, v_reset=np.zeros(3, F32), **kw)
    if name == "LIF":  # positional as in 1.0.8: (tau, r, v_leak, v_threshold, v_reset)
        assert cls(thr, thr, thr * 0, thr, thr * 3).v_reset.tolist() == [3.0, 6.0]


def test_release_graphs_are_compat_graphs():
    lin = real.Linear(weight=np.eye(2, dtype=F32))
    g = real.NIRGraph.from_list(lin)
    assert isinstance(g, nir_compat.NIRGraph) and not isinstance(lin, nir_compat.NIRGraph)
    mine = nir_compat.NIRGraph(nodes=dict(g.nodes), edges=list(g.edges), type_check=False)
    assert isinstance(mine, real.NIRGraph) and type(mine).__name__ == "NIRGraph" and mine.metadata == {}
    assert np.asarray(mine.input_type["input"]).tolist() == [2]
    assert np.asarray(mine.output_type["output"]).tolist() == [2]
    assert list(nir_compat.NIRGraph.from_list(lin, type_check=False).nodes) == ["input", "linear", "output"]


def test_unknown_name_says_which_nir():
    with pytest.raises(AttributeError, match=f"nir {nir_compat.NIR_VERSION}"):
        nir_compat.NoSuchNode  # noqa: B018


# ----------------------------------------------------------------------------- CubaLI end to end
def _cubali_graph():
    rng = np.random.default_rng(7)
    n = 2
    cuba = nir_compat.CubaLI(tau_syn=np.full(n, 5e-3, F32), tau_mem=np.array([1e-2, 2e-2], F32),
                             r=np.array([2.0, 1.0], F32), v_leak=np.zeros(n, F32), w_in=np.array([1.5, 0.5], F32))
    return nir_compat.NIRGraph(
        nodes={"input": nir_compat.Input(input_type=np.array([3])),
               "fc": nir_compat.Linear(weight=rng.normal(size=(n, 3)).astype(F32)),
               "li": cuba, "output": nir_compat.Output(output_type=np.array([n]))},
        edges=[("input", "fc"), ("fc", "li"), ("li", "output")], type_check=False)


def _reference(graph, x: np.ndarray) -> np.ndarray:
    """CubaLI by hand (forward Euler, NIR's default reading): x [T, 3] -> v [T, 2]."""
    op, w = graph.nodes["li"], graph.nodes["fc"].weight.astype(np.float64)
    tau_syn, tau_mem, r, w_in = (np.asarray(getattr(op, f), np.float64) for f in ("tau_syn", "tau_mem", "r", "w_in"))
    i = v = np.zeros(2)
    out = []
    for xt in x:
        i = (1 - DT / tau_syn) * i + (DT / tau_syn) * w_in * (w @ xt)
        v = (1 - DT / tau_mem) * v + (DT / tau_mem) * r * i
        out.append(v)
    return np.array(out)


def test_cubali_graph_round_trip(tmp_path):
    ref = _cubali_graph()
    g = nircc.load(ref)
    assert g.type("li") == "CubaLI" and type(g.op("li")) is nir_compat.CubaLI
    assert len(g.diagnostics) == 0
    nircc.save(g, tmp_path / "m.nir")
    back = nircc.load(tmp_path / "m.nir")
    assert back.meta["nir_version"] == nir_compat.NIR_VERSION
    assert sorted(back.nodes) == ["fc", "input", "li", "output"] and len(back.diagnostics) == 0
    assert (back.in_shape("li"), back.out_shape("li")) == ((2,), (2,))
    read = nir_compat.read(tmp_path / "m.nir")  # nir's reader, with the backports
    for op in (back.op("li"), read.nodes["li"]):
        assert type(op) is nir_compat.CubaLI
        for f in ("tau_syn", "tau_mem", "r", "v_leak", "w_in"):
            np.testing.assert_array_equal(getattr(op, f), getattr(ref.nodes["li"], f), err_msg=f)
    assert {tuple(e) for e in read.edges} == {("input", "fc"), ("fc", "li"), ("li", "output")}


def test_cubali_simulation(tmp_path):
    ref = _cubali_graph()
    nircc.save(nircc.load(ref), tmp_path / "m.nir")
    x = np.random.default_rng(3).random((40, 3)) < 0.4
    want = _reference(ref, x.astype(np.float64))
    for source in (ref, tmp_path / "m.nir"):
        res = simulate(source, {"input": x[:, None]}, dt=DT)
        np.testing.assert_allclose(res.outputs["output"][:, 0], want, rtol=1e-9, atol=1e-12)
    assert np.abs(want).max() > 0.05  # the input did reach the membrane


# ----------------------------------------------------------------------------- the release's own objects
def _release_lif(n: int) -> "real.LIF":
    kw = {"tau": np.full(n, 1e-2, F32), "r": np.ones(n, F32), "v_leak": np.zeros(n, F32),
          "v_threshold": np.full(n, 0.2, F32)}
    if "v_reset" in {f.name for f in dataclasses.fields(real.LIF)}:
        kw["v_reset"] = np.zeros(n, F32)  # required in nir 1.0.6
    return real.LIF(**kw)


def _release_graph() -> "real.NIRGraph":
    w = np.array([[4.0, 0.0, 1.0], [0.0, 3.0, 1.0]], F32)
    return real.NIRGraph(nodes={"input": real.Input(input_type=np.array([3])), "fc": real.Linear(weight=w),
                                "lif": _release_lif(2), "output": real.Output(output_type=np.array([2]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_release_objects_go_through_nircc(tmp_path):
    src = _release_graph()
    assert type(src.nodes["lif"]) is real.LIF
    x = np.ones((30, 1, 3))
    spikes = []
    for source in (src, tmp_path / "m.nir"):
        if not isinstance(source, real.NIRGraph):
            real.write(source, src)  # the release's own writer
        g = nircc.load(source)
        assert [g.type(n) for n in ("input", "fc", "lif", "output")] == ["Input", "Linear", "LIF", "Output"]
        np.testing.assert_array_equal(g.op("lif").v_reset, np.zeros(2))
        codes = {d.code for d in g.diagnostics}
        assert codes <= {"default-field"}  # no v_reset in nir < 1.0.6: NIR's default 0
        assert ("default-field" in codes) == ("v_reset" not in src.nodes["lif"].to_dict())
        spikes.append(simulate(g, {"input": x}, dt=DT).outputs["output"])
    np.testing.assert_array_equal(spikes[0], spikes[1])
    assert spikes[0].sum() > 0
    one = nircc.load(_release_lif(3))  # a bare node, wrapped as nir 1.0.8 does
    assert one.type("lif") == "LIF" and len(one.inputs) == len(one.outputs) == 1


def test_saved_files_and_the_releases_own_reader(tmp_path):
    """nircc writes nir 1.0.8's layout; a release reads it with its own nir.read from 1.0.6
    on (v_reset); nir_compat.read reads it on every release."""
    nircc.save(nircc.load(_release_graph()), tmp_path / "m.nir")
    assert type(nir_compat.read(tmp_path / "m.nir").nodes["lif"]) is nir_compat.LIF
    if RELEASE >= (1, 0, 6):
        assert type(real.read(tmp_path / "m.nir").nodes["lif"]) is real.LIF
    else:
        with pytest.raises(TypeError, match="v_reset"):  # as for any file of nir >= 1.0.6
            real.read(tmp_path / "m.nir")
