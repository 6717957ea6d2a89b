"""Property tests: on random graphs (Input -> chains/DAGs of Affine, Linear, Scale,
Flatten, Delay(0), LIF, IF, CubaLIF with fan-out, merges and recurrence) the reference
simulator's outputs are unchanged by canonicalize and fuse_affine: values np.allclose,
spikes identical unless a value of the original run sits within 1e-9 of a threshold."""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import nircc
from nircc.ir import Graph, validate
from nircc.passes import PassManager, canonicalize, fingerprint, fuse_affine, infer_shapes
from nircc.sim import simulate

DT = 1e-3
T, B = 16, 2
TYPES = ["Affine", "Linear", "Scale", "Flatten", "Delay", "LIF", "IF", "CubaLIF"]
P_TYPES = [0.2, 0.15, 0.15, 0.05, 0.05, 0.15, 0.1, 0.15]


def _neuron(t: str, n: int, rng: np.random.Generator):
    def u(lo, hi):
        return rng.uniform(lo, hi, n)

    if t == "LIF":
        return nir.LIF(tau=u(2, 20) * DT, r=u(0.5, 2), v_leak=u(-0.2, 0.2), v_threshold=u(0.3, 1.0),
                       v_reset=np.zeros(n))
    if t == "IF":
        return nir.IF(r=u(0.5, 2), v_threshold=u(0.3, 1.0), v_reset=np.zeros(n))
    return nir.CubaLIF(tau_syn=u(2, 10) * DT, tau_mem=u(2, 20) * DT, r=u(0.5, 2), v_leak=u(-0.1, 0.1),
                       v_threshold=u(0.2, 0.8), v_reset=np.zeros(n), w_in=u(0.5, 2))


def random_graph(seed: int) -> Graph:
    """A random valid graph: see the module docstring.  Sizes come from a small set so
    that parallel branches of equal size (merges) are common."""
    rng = np.random.default_rng(seed)
    nodes: dict = {}
    edges: list = []
    size: dict[str, int] = {}
    in_size: dict[str, int] = {}
    if rng.random() < 0.3:  # a 2-D input: element-wise Scale of the whole map, then a Flatten
        a, b = (int(x) for x in rng.integers(1, 4, 2))
        nodes["in"] = nir.Input(input_type={"input": np.array([a, b])})
        prev = "in"
        if rng.random() < 0.5:
            nodes["s2d"] = nir.Scale(scale=rng.uniform(-1.5, 1.5, (a, b)))
            edges.append(("in", "s2d"))
            prev = "s2d"
        nodes["flat"] = nir.Flatten(input_type={"input": np.array([a, b])}, start_dim=0, end_dim=-1)
        edges.append((prev, "flat"))
        size["flat"] = a * b
        avail = ["flat"]
    else:
        n0 = int(rng.integers(1, 5))
        nodes["in"] = nir.Input(input_type={"input": np.array([n0])})
        size["in"] = n0
        avail = ["in"]
    for k in range(int(rng.integers(2, 10))):
        t = str(rng.choice(TYPES, p=P_TYPES))
        src = avail[int(rng.integers(len(avail)))]
        n_in = size[src]
        srcs = [src]
        others = [a for a in avail if size[a] == n_in and a != src]
        if others and rng.random() < 0.35:
            srcs.append(others[int(rng.integers(len(others)))])
        name = f"{t.lower()}{k}"
        if t in ("Affine", "Linear"):
            n_out = int(rng.choice([2, 3, 3, 4]))
            w = rng.normal(0, 1.5 / np.sqrt(n_in), (n_out, n_in))
            op = nir.Affine(weight=w, bias=rng.normal(0, 0.3, n_out)) if t == "Affine" else nir.Linear(weight=w)
        else:
            n_out = n_in
            if t == "Scale":
                op = nir.Scale(scale=rng.uniform(-1.5, 1.5, n_in))
            elif t == "Flatten":
                op = nir.Flatten(input_type={"input": np.array([n_in])}, start_dim=0, end_dim=-1)
            elif t == "Delay":
                op = nir.Delay(delay=np.zeros(n_in))
            else:
                op = _neuron(t, n_in, rng)
        nodes[name] = op
        edges.extend((s, name) for s in srcs)
        size[name], in_size[name] = n_out, n_in
        avail.append(name)
    made = [n for n in avail if n in in_size]
    if rng.random() < 0.6:  # recurrence (or a long skip edge) through a new affine node
        u, v = made[int(rng.integers(len(made)))], made[int(rng.integers(len(made)))]
        kind = rng.choice(["Linear", "Affine", "Scale"]) if size[u] == in_size[v] else rng.choice(["Linear", "Affine"])
        w = rng.normal(0, 0.7 / np.sqrt(size[u]), (in_size[v], size[u]))
        nodes["rec"] = (nir.Linear(weight=w) if kind == "Linear" else
                        nir.Affine(weight=w, bias=rng.normal(0, 0.2, in_size[v])) if kind == "Affine" else
                        nir.Scale(scale=rng.uniform(-0.8, 0.8, size[u])))
        edges += [(u, "rec"), ("rec", v)]
        size["rec"] = in_size[v]
    has_succ = {a for a, _ in edges}
    leaves = [n for n in nodes if n not in has_succ and n != "in"]
    if not leaves or rng.random() < 0.5:
        leaves.append(made[int(rng.integers(len(made)))])
    for j, leaf in enumerate(dict.fromkeys(leaves)):
        nodes[f"out{j}"] = nir.Output(output_type={"output": np.array([size[leaf]])})
        edges.append((leaf, f"out{j}"))
    return nircc.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


def inputs_for(g: Graph, seed: int) -> dict:
    rng = np.random.default_rng(seed + 1)
    return {n: rng.uniform(0.0, 2.0, (T, B) + tuple(g.out_shape(n))) for n in g.inputs}


def run(g: Graph, x: dict) -> dict:
    return simulate(g, x, dt=DT).outputs


def shift_thresholds(g: Graph, eps: float) -> Graph:
    out = g.copy()
    for n in out.nodes_of_type("LIF", "IF", "CubaLIF"):
        op = out.op(n)
        out.set_op(n, dataclasses.replace(op, v_threshold=op.v_threshold + eps), out.in_shape(n), out.out_shape(n))
    return out


def near_threshold(g: Graph, x: dict) -> bool:
    """Does some value of the run sit within 1e-9 of a threshold (moving every threshold
    by 1e-9 changes the spikes)?"""
    ref = run(g, x)
    for eps in (1e-9, -1e-9):
        moved = run(shift_thresholds(g, eps), x)
        if any(not np.array_equal(ref[k], moved[k]) for k in ref):
            return True
    return False


def assert_same_outputs(g: Graph, h: Graph, x: dict) -> None:
    a, b = run(g, x), run(h, x)
    assert a.keys() == b.keys()
    if not all(np.allclose(a[k], b[k], rtol=1e-9, atol=1e-9) for k in a):
        assume(not near_threshold(g, x))
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-9, atol=1e-9, err_msg=f"output {k}")


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.integers(0, 2 ** 32 - 1))
def test_canonicalize_and_fuse_preserve_simulation(seed):
    g = random_graph(seed)
    before = fingerprint(g)
    x = inputs_for(g, seed)
    c = canonicalize(g)
    f = fuse_affine(c)
    ff = fuse_affine(g)
    assert fingerprint(g) == before
    for h in (c, f, ff):
        validate(h)
        assert len(h) <= len(g)
        assert h.inputs == g.inputs and sorted(h.outputs) == sorted(g.outputs)
        assert_same_outputs(g, h, x)
    assert fuse_affine(f).nodes == f.nodes  # a fixpoint
    removed = len(g) - len(f)
    stages = [d for d in f.diagnostics if d.stage in ("canonicalize", "fuse_affine")]
    assert (removed > 0) <= (len(stages) > 0)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 2 ** 32 - 1))
def test_shapes_inferred_from_scratch_match_the_reader(seed):
    g = random_graph(seed)
    s = infer_shapes(g)
    assert {n: (s.in_shape(n), s.out_shape(n)) for n in s.nodes} == {n: (g.in_shape(n), g.out_shape(n))
                                                                   for n in g.nodes}


def test_the_generator_exercises_the_rewrites():
    """Over 60 fixed seeds: recurrence, merges, 2-D inputs, and every kind of rewrite occur,
    so the property test above is not vacuous."""
    stats = {"recurrent": 0, "changed": 0}
    rewrite_codes: set[str] = set()
    for seed in range(60):
        g = random_graph(seed)
        if g.schedule().back_edges:
            stats["recurrent"] += 1
        res = PassManager([canonicalize, fuse_affine]).run(g)
        if len(res.graph) < len(g):
            stats["changed"] += 1
        rewrite_codes |= {d.code for r in res.log for d in r.diagnostics}
    assert stats["recurrent"] >= 10 and stats["changed"] >= 30
    assert {"fold-scale", "fuse-chain", "merge-parallel", "drop-zero-delay", "drop-identity-flatten"} <= rewrite_codes
