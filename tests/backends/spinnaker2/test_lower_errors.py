"""Every construct the SpiNNaker2 lowering rejects: a NirccError naming the node (or the
option), the quantity and the reason; independent problems are reported together."""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest

import nircc
from nircc.backends.spinnaker2.spec import get_spec
from nircc.errors import NirccError, NirccErrors
from nircc.semantics import Semantics

F32 = np.float32
I, O = nir.Input, nir.Output


def lif(n: int, **over) -> nir.LIF:
    d = dict(tau=np.full(n, 0.01, F32), r=np.ones(n, F32), v_leak=np.zeros(n, F32), v_threshold=np.ones(n, F32),
             v_reset=np.zeros(n, F32))
    d.update({k: np.broadcast_to(np.asarray(v, F32), (n,)).copy() for k, v in over.items()})
    return nir.LIF(**d)


def lin(w) -> nir.Linear:
    return nir.Linear(weight=np.asarray(w, F32))


def cuba(n: int) -> nir.CubaLIF:
    one = np.ones(n, F32)
    return nir.CubaLIF(tau_syn=one * 0.005, tau_mem=one * 0.01, r=one, v_leak=0 * one, v_threshold=one,
                       v_reset=0 * one, w_in=one)


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def chain(**nodes) -> nir.NIRGraph:
    names = list(nodes)
    return graph(nodes, list(zip(names, names[1:])))


def simple() -> nir.NIRGraph:
    return chain(inp=I(np.array([2])), fc=lin(np.eye(2)), n=lif(2), o=O(np.array([2])))


def errors_of(g, **kw) -> list[NirccError]:
    with pytest.raises(NirccError) as e:
        nircc.compile(g, "spinnaker2", dt=kw.pop("dt", 1e-3), semantics=kw.pop("semantics", None),
                      variant=kw.pop("variant", None), options=kw)
    return e.value.errors


def one_error(g, **kw) -> NirccError:
    errs = errors_of(g, **kw)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


def test_unsupported_node_types():
    g = chain(inp=I(np.array([2])), fc=lin(np.eye(2)), th=nir.Threshold(np.ones(2, F32)), o=O(np.array([2])))
    e = errors_of(g)
    assert any(x.node == "th" and x.code == "unsupported-node" and "Threshold" in x.message for x in e)
    conv1 = nir.Conv1d(input_shape=4, weight=np.ones((1, 1, 2), F32), stride=1, padding=0, dilation=1, groups=1,
                       bias=np.zeros(1, F32))
    g = chain(inp=I(np.array([1, 4])), c=conv1, n=lif(3).__class__(**{k: np.ones((1, 3), F32) * (0.01 if k == "tau"
              else 0 if k in ("v_leak", "v_reset") else 1) for k in ("tau", "r", "v_leak", "v_threshold", "v_reset")}),
              o=O(np.array([1, 3])))
    assert any(x.node == "c" and "Conv1d" in x.message for x in errors_of(g))






def test_two_weight_nodes_on_one_path():
    g = chain(inp=I(np.array([2])), a=lin(np.eye(2)), d=nir.Delay(np.full(2, 1e-3)), b=lin(np.eye(2)), n=lif(2),
              o=O(np.array([2])))
    e = one_error(g)
    assert e.node == "b" and e.code == "path" and "two weight nodes" in e.message and "'a'" in e.message


def test_map_cycle_without_neurons():
    nodes = {"inp": I(np.array([2])), "a": lin(np.eye(2)), "d": nir.Delay(np.full(2, 1e-3)), "n": lif(2),
             "o": O(np.array([2]))}
    g = graph(nodes, [("inp", "a"), ("a", "d"), ("d", "a"), ("a", "n"), ("n", "o")])
    assert any(x.code == "map-cycle" for x in errors_of(g))


def conv(c_out: int, c_in: int, **kw) -> nir.Conv2d:
    args = dict(input_shape=None, weight=np.ones((c_out, c_in, 3, 3), F32), stride=1, padding=1, dilation=1,
                groups=1, bias=np.zeros(c_out, F32))
    args.update(kw)
    return nir.Conv2d(**args)


def test_conv_into_cuba_and_mixed_projections():
    c = cuba(1)
    c = nir.CubaLIF(**{f: np.ones((2, 4, 4), F32) * np.asarray(getattr(c, f))[0]
                       for f in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")})
    g = chain(inp=I(np.array([1, 4, 4])), c=conv(2, 1), n=c, o=O(np.array([2, 4, 4])))
    e = one_error(g)
    assert (e.node, e.code) == ("n", "conv-target") and "lif_conv2d" in e.message
    ifn = nir.IF(r=np.ones((2, 4, 4), F32), v_threshold=np.ones((2, 4, 4), F32), v_reset=np.zeros((2, 4, 4), F32))
    nodes = {"inp": I(np.array([1, 4, 4])), "c": conv(2, 1), "n": ifn, "side": I(np.array([2, 4, 4])),
             "o": O(np.array([2, 4, 4]))}
    # n also receives a second Input directly (an identity list projection) besides the conv
    g = graph(nodes, [("inp", "c"), ("c", "n"), ("side", "n"), ("n", "o")])
    e = one_error(g)
    assert (e.node, e.code) == ("n", "mixed-projections") and "side->n" in e.message and "(besides c)" in e.message


def test_pooling_that_cannot_fuse_into_the_conv():
    ifn = nir.IF(r=np.ones((2, 3, 3), F32), v_threshold=np.ones((2, 3, 3), F32), v_reset=np.zeros((2, 3, 3), F32))
    pool = nir.SumPool2d(np.array([2, 2]), np.array([1, 1]), np.array([0, 0]))
    g = chain(inp=I(np.array([1, 4, 4])), p=pool, c=conv(2, 1), n=ifn, o=O(np.array([2, 3, 3])))
    e = one_error(g)
    assert (e.node, e.field, e.code) == ("p", "stride", "conv-geometry") and "kernel = stride" in e.message


def test_output_must_read_a_population():
    g = chain(inp=I(np.array([2])), fc=lin(np.eye(2)), n=lif(2), w=lin(np.eye(2)), o=O(np.array([2])))
    e = one_error(g)
    assert (e.node, e.code) == ("o", "output") and "'w' (Linear)" in e.message


def test_loop_faster_than_the_chip():
    nodes = {"inp": I(np.array([2])), "fc": lin(np.eye(2)), "a": lif(2), "w1": lin(np.eye(2)), "b": lif(2),
             "w2": lin(-np.eye(2)), "o": O(np.array([2]))}
    edges = [("inp", "fc"), ("fc", "a"), ("a", "w1"), ("w1", "b"), ("b", "w2"), ("w2", "a"), ("b", "o")]
    e = one_error(graph(nodes, edges))
    assert e.code == "recurrent-cycle" and e.node in ("a", "b")
    assert "2 projection(s), 2 step(s) on SpiNNaker2" in e.message and "takes 1 step(s) in the reference" in e.message
    assert "at least 1 step(s) of Delay" in e.message


def test_delay_spread_beyond_the_field():
    g = chain(inp=I(np.array([2])), d=nir.Delay(np.array([0, 10]) * 1e-3), fc=lin(np.eye(2)), n=lif(2),
              o=O(np.array([2])))
    e = one_error(g)
    assert (e.node, e.field, e.code) == ("d", "delay", "delay-range") and "spread of 10 exceeds" in e.message
    e = one_error(chain(inp=I(np.array([2])), d=nir.Delay(np.array([-1e-3, 0])), fc=lin(np.eye(2)), n=lif(2),
                        o=O(np.array([2]))))
    assert (e.node, e.field) == ("d", "delay") and ">= 0" in e.message


def test_delay_into_a_conv_population_beyond_relays():
    ifn = nir.IF(r=np.ones((1, 4, 4), F32), v_threshold=np.ones((1, 4, 4), F32), v_reset=np.zeros((1, 4, 4), F32))
    d = nir.Delay(np.broadcast_to(np.array([0, 2e-3]).reshape(2, 1, 1), (2, 4, 4)).copy())
    g = chain(inp=I(np.array([2, 4, 4])), d=d, c=conv(1, 2), n=ifn, o=O(np.array([1, 4, 4])))
    e = one_error(g)
    assert e.code == "delay-range" and "lif_conv2d (no delay field)" in e.message


def test_bad_neuron_parameters():
    g = chain(inp=I(np.array([2])), fc=lin(np.eye(2)), n=lif(2, r=-1.0), o=O(np.array([2])))
    e = one_error(g)
    assert (e.node, e.field, e.code) == ("n", "r", "param") and "b r" in e.message and "-1" in e.message
    c = cuba(2)
    fields = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset")
    bad = nir.CubaLIF(**{f: getattr(c, f) for f in fields}, w_in=-np.ones(2, F32))
    g = chain(inp=I(np.array([2])), fc=lin(np.eye(2)), n=bad, o=O(np.array([2])))
    e = one_error(g)
    assert (e.node, e.field, e.code) == ("n", "w_in", "param") and "b_mem r b_syn w_in" in e.message


def test_affine_with_more_than_two_dimensions():
    w = np.ones((2, 3, 3), F32)
    g = chain(inp=I(np.array([2, 3])), fc=lin(w), n=nir.LIF(**{k: np.full((2, 3), v, F32) for k, v in (
        ("tau", 0.01), ("r", 1), ("v_leak", 0), ("v_threshold", 1), ("v_reset", 0))}), o=O(np.array([2, 3])))
    e = one_error(g)
    assert (e.node, e.field, e.code) == ("fc", "weight", "weight-shape")


@pytest.mark.parametrize("options, field", [
    ({"colour": "red"}, "colour"), ({"weight_scale": -1}, "weight_scale"), ({"weight_scale": "big"}, "weight_scale"),
    ({"weight_scale_percentile": 150}, "weight_scale_percentile"), ({"delay_mode": "fast"}, "delay_mode"),
    ({"timesteps": 0}, "timesteps"), ({"record": "some"}, "record"), ({"record_v": 1}, "record_v"),
    ({"input_rate": 2}, "input_rate"), ({"weight_scale": 2, "weight_scale_percentile": 99}, "weight_scale"),
    ({"input_rate": None}, "input_rate"), ({"timesteps": None}, "timesteps"),
])
def test_bad_options(options, field):
    e = one_error(simple(), **options)
    assert e.field == field and e.code == "option"


def test_input_rate_none_is_an_option_error():
    """None (not a number, and input_rate has no None default) used to reach the partition:
    TypeError."""
    assert str(one_error(simple(), input_rate=None)) == "field 'input_rate': None must be a number in [0, 1]"


def delayed(seconds: float) -> nir.NIRGraph:
    return chain(inp=I(np.array([2])), fc=lin(np.eye(2)), d=nir.Delay(np.full(2, seconds)), n=lif(2),
                 o=O(np.array([2])))


def test_delay_longer_than_the_relays_the_pes_hold():
    """10^6 s = 10^9 steps: relays of 8 steps each, one population per hop, used to be built
    one by one (MemoryError, or hours); more hops than the chip's PEs is an error."""
    assert str(one_error(delayed(1e6))) == (
        "node 'fc', field 'delay': path 'inp' -> 'n' needs 999999999 steps of delay carried by relays: 125000000 relay "
        "populations of at most 8 steps each, more than the 148 PEs of chip (a population takes one PE or more)")
    e = one_error(delayed(1.193))                                  # 1192 relay steps: 149 hops
    assert e.code == "delay-range" and "149 relay populations" in e.message
    assert one_error(delayed(1.185)).field == "pes"                 # 1184 steps: 148 hops, 150 populations
    res = nircc.compile(delayed(1.185), "spinnaker2", dt=1e-3, variant="board48")
    assert len(res.program.populations) == 2 + 148


def test_delay_beyond_2_53_steps():
    """10^16 s = 10^19 steps does not fit int64: the conversion used to warn (invalid cast)
    and give -2**63 steps."""
    assert str(one_error(delayed(1e16))) == ("node 'd', field 'delay': delay 1e+16 s is 1e+19 steps of dt = 0.001 s, "
                                              "more than the 2**53 steps nircc counts exactly")


def test_capacity_names_the_population_and_the_board_variant():
    g = chain(inp=I(np.array([2])), fc=lin(np.ones((300, 2))), n=lif(300), o=O(np.array([300])))
    # recording v and spikes for 10000 steps: 40 + 40 KB per neuron, one neuron per PE -> 300 + 1 PEs
    e = one_error(g, timesteps=10000, record_v=True)
    assert (e.node, e.field, e.code) == ("n", "pes", "capacity")
    assert "301 PEs" in e.message and "'n' alone 300 slices of 1" in e.message and "--variant board48" in e.message
    res = nircc.compile(g, "spinnaker2", variant="board48", dt=1e-3, options={"timesteps": 10000, "record_v": True})
    r = res.report["resources"]
    assert (r["pes_used"], r["chips_used"], r["lower_bound"]) == (301, 3, 301)
    assert res.program.population("n").max_atoms_per_core == 1


def test_a_neuron_too_big_for_a_pe():
    spec = dataclasses.replace(get_spec("chip"), data_memory=9 * 1024)
    from nircc.backends.spinnaker2.lower import lower
    from nircc.compiler import CompileOptions
    g = nircc.load(chain(inp=I(np.array([2])), fc=lin(np.ones((4, 2))), n=lif(4), o=O(np.array([4]))))
    opts = CompileOptions("spinnaker2", "chip", Semantics(dt=1e-3), {"timesteps": 400, "record_v": True})
    with pytest.raises(NirccError) as e:
        lower(g, spec, opts)
    assert e.value.node == "n" and "a slice of 1 neuron" in e.value.message


def test_independent_problems_are_reported_together():
    nodes = {"inp": I(np.array([2])), "fc": lin(np.eye(2)), "n": lif(2, r=-1.0), "th": nir.Threshold(np.ones(2, F32)),
             "w": lin(np.eye(2)), "o": O(np.array([2])), "o2": O(np.array([2]))}
    g = graph(nodes, [("inp", "fc"), ("fc", "n"), ("n", "th"), ("th", "o"), ("n", "w"), ("w", "o2")])
    with pytest.raises(NirccErrors) as e:
        nircc.compile(g, "spinnaker2", dt=1e-3, options={"colour": 1})
    found = {(x.node, x.code) for x in e.value.errors}
    assert {(None, "option"), ("th", "unsupported-node"), ("o", "output"), ("o2", "output")} <= found
    assert str(e.value).count("\n") >= 3            # one line per error
