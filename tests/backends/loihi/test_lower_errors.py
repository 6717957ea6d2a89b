"""Every construct the Loihi lowering rejects: a NirccError naming the node (or the option),
the quantity and the reason; independent problems are reported together."""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest

import nircc
from nircc.errors import NirccError
from nircc.semantics import Semantics

F32 = np.float32
I, O = nir.Input, nir.Output


def arr(n, v) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, F32), n if isinstance(n, tuple) else (n,)).copy()


def lif(n, tau=0.004, thr=1.0, v_leak=0.0, v_reset=0.0) -> nir.LIF:
    return nir.LIF(tau=arr(n, tau), r=arr(n, 1.0), v_leak=arr(n, v_leak), v_threshold=arr(n, thr),
                   v_reset=arr(n, v_reset))


def if_(n, thr=1.0) -> nir.IF:
    return nir.IF(r=arr(n, 1.0), v_threshold=arr(n, thr), v_reset=arr(n, 0.0))


def lin(w) -> nir.Linear:
    return nir.Linear(weight=np.asarray(w, F32))


def conv(c_out, c_in, k, size, padding=0) -> nir.Conv2d:
    return nir.Conv2d(input_shape=size, weight=np.ones((c_out, c_in, k, k), F32), stride=1, padding=padding,
                      dilation=1, groups=1, bias=np.zeros(c_out, F32))


def pool(k=2) -> nir.SumPool2d:
    return nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]), padding=np.array([0, 0]))


def graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def chain(**nodes) -> nir.NIRGraph:
    names = list(nodes)
    return graph(nodes, list(zip(names, names[1:])))


def simple(**over) -> nir.NIRGraph:
    return chain(**{"i": I(np.array([2])), "fc": lin(np.eye(2)), "n": lif(2), "o": O(np.array([2])), **over})


def errors_of(g, dt=1e-3, semantics=None, variant=None, **options) -> list[NirccError]:
    with pytest.raises(NirccError) as e:
        nircc.compile(g, "loihi", dt=dt, semantics=semantics, variant=variant, options=options)
    return e.value.errors


def one_error(g, **kw) -> NirccError:
    errs = errors_of(g, **kw)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


# ---------------------------------------------------------------------- options and semantics
def test_options():
    errs = errors_of(simple(), weight_scale=-1, rounding="up", tau_tolerance="x", colour=1)
    assert [(e.field, e.code) for e in errs] == [("colour", "option"), ("weight_scale", "option"),   # as given
                                                 ("rounding", "option"), ("tau_tolerance", "option")]
    assert "'up' not in ['trunc', 'nearest']" in str(errs[2])
    # an unhashable value used to escape as TypeError (the check looked it up in a dict)
    assert str(one_error(simple(), rounding=["trunc"])) == "field 'rounding': ['trunc'] not in ['trunc', 'nearest']"






def test_threshold_ge_is_a_warning():
    res = nircc.compile(simple(), "loihi", dt=1e-3, semantics=Semantics(threshold=">="))
    (d,) = res.diagnostics.with_code("threshold-ge")
    assert d.node == "n" and "v > vth << 6" in d.message


# ---------------------------------------------------------------------- nodes and structure
def test_unsupported_nodes():
    g = chain(i=I(np.array([2])), fc=lin(np.eye(2)), t=nir.Threshold(threshold=arr(2, 1.0)), o=O(np.array([2])))
    e = one_error(g)
    assert (e.node, e.code) == ("t", "unsupported-node") and "Threshold" in e.message


def test_fork_and_join():
    """A skip connection: 'a' feeds 'b' and 'c', and 'c' reads 'a' and 'b'."""
    g = graph({"i": I(np.array([2])), "w1": lin(np.eye(2)), "a": lif(2), "w2": lin(np.eye(2)), "b": lif(2),
               "w3": lin(np.eye(2)), "w4": lin(np.eye(2)), "c": lif(2), "o": O(np.array([2]))},
              [("i", "w1"), ("w1", "a"), ("a", "w2"), ("w2", "b"), ("b", "w3"), ("w3", "c"), ("a", "w4"), ("w4", "c"),
               ("c", "o")])
    errs = errors_of(g)
    assert [(e.node, e.code) for e in errs] == [("c", "structure"), ("a", "structure")]
    assert "reads ['a', 'b']" in errs[0].message and "feeds ['b', 'c']" in errs[1].message


def test_output_of_a_hidden_layer_and_non_spiking_hidden_layer():
    li = nir.LI(tau=arr(2, 0.004), r=arr(2, 1.0), v_leak=arr(2, 0.0))
    g = graph({"i": I(np.array([2])), "w1": lin(np.eye(2)), "a": li, "w2": lin(np.eye(2)), "b": lif(2),
               "o1": O(np.array([2])), "o2": O(np.array([2]))},
              [("i", "w1"), ("w1", "a"), ("a", "w2"), ("w2", "b"), ("a", "o1"), ("b", "o2")])
    errs = errors_of(g)
    assert {(e.node, e.code) for e in errs} == {("a", "structure"), ("o1", "output")}
    assert any("Loihi layers pass spikes only" in e.message for e in errs)
    assert any("netx's output is the last layer 'b'" in e.message for e in errs)


def test_recurrence_across_layers():
    g = graph({"i": I(np.array([2])), "w1": lin(np.eye(2)), "a": lif(2), "w2": lin(np.eye(2)), "b": lif(2),
               "back": lin(np.eye(2)), "o": O(np.array([2]))},
              [("i", "w1"), ("w1", "a"), ("a", "w2"), ("w2", "b"), ("b", "back"), ("back", "a"), ("b", "o")])
    e = one_error(g)
    assert e.node == "a" and "crosses layers" in e.message


def test_two_inputs():
    g = graph({"i": I(np.array([2])), "j": I(np.array([2])), "w": lin(np.eye(2)), "v": lin(np.eye(2)),
               "n": lif(2), "o": O(np.array([2]))}, [("i", "w"), ("j", "v"), ("w", "n"), ("v", "n"), ("n", "o")])
    e = one_error(g)
    assert e.field == "inputs" and "one input layer" in e.message


def test_two_weight_nodes_on_a_path():
    g = chain(i=I(np.array([2])), a=lin(np.eye(2)), d=nir.Delay(delay=np.array([0.001, 0.001])), b=lin(np.eye(2)),
              n=lif(2), o=O(np.array([2])))
    e = one_error(g)
    assert (e.node, e.code) == ("b", "path") and "two weight nodes" in e.message


# ---------------------------------------------------------------------- delays
def test_delay_errors():
    long = chain(i=I(np.array([2])), d=nir.Delay(delay=np.array([0.063, 0.0])), fc=lin(np.eye(2)), n=lif(2),
                 o=O(np.array([2])))
    e = one_error(long)
    assert (e.node, e.field) == ("d", "delay") and "63 steps; netx takes 0..62" in e.message
    rec = graph({"i": I(np.array([2])), "d": nir.Delay(delay=np.array([0.001, 0.0])), "fc": lin(np.eye(2)),
                 "n": lif(2), "r": lin(np.eye(2)), "o": O(np.array([2]))},
                [("i", "d"), ("d", "fc"), ("fc", "n"), ("n", "r"), ("r", "n"), ("n", "o")])
    e = one_error(rec)
    assert (e.node, e.field) == ("n", "delay") and "dense_rec" in e.message
    loop = graph({"i": I(np.array([2])), "fc": lin(np.eye(2)), "n": lif(2), "r": lin(np.eye(2)),
                  "d": nir.Delay(delay=np.array([0.001, 0.0])), "o": O(np.array([2]))},
                 [("i", "fc"), ("fc", "n"), ("n", "r"), ("r", "d"), ("d", "n"), ("n", "o")])
    e = one_error(loop)
    assert (e.node, e.field) == ("d", "delay") and "recurrent path" in e.message
    cv = chain(i=I(np.array([1, 4, 4])), d=nir.Delay(delay=arr((1, 4, 4), 0.001)), c=conv(1, 1, 3, (4, 4)),
               n=if_((1, 2, 2)), o=O(np.array([1, 2, 2])))
    e = one_error(cv)
    assert (e.node, e.field) == ("d", "delay") and "conv layers take no synaptic delays" in e.message
    clash = graph({"i": I(np.array([1])), "a": lin([[1.0]]), "d": nir.Delay(delay=np.array([0.002])),
                   "b": lin([[1.0]]), "n": lif(1), "o": O(np.array([1]))},
                  [("i", "a"), ("a", "n"), ("i", "d"), ("d", "b"), ("b", "n"), ("n", "o")])
    e = one_error(clash)
    assert (e.node, e.field) == ("n", "delay") and "two delays (0 and 2 steps)" in e.message
    # 10^19 steps do not fit int64: the conversion warned (invalid cast) and gave -2**63 steps
    huge = chain(i=I(np.array([2])), d=nir.Delay(delay=np.array([1e16, 0.0])), fc=lin(np.eye(2)), n=lif(2),
                 o=O(np.array([2])))
    assert str(one_error(huge)) == ("node 'd', field 'delay': delay 1e+16 s is 1e+19 steps of dt = 0.001 s, more than "
                                    "the 2**53 steps nircc counts exactly")


# ---------------------------------------------------------------------- convolutions and pooling
def test_conv_errors():
    # pooling with padding before a conv
    padded = chain(i=I(np.array([1, 4, 4])),
                   p=nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])),
                   c=conv(1, 1, 2, (3, 3)), n=if_((1, 2, 2)), o=O(np.array([1, 2, 2])))
    e = one_error(padded)
    assert (e.node, e.code) == ("p", "pool-fold") and "padding [1, 1]" in e.message
    # 7x7 pooled by 2 drops row 6; a padded conv would read it on the folded kernel
    reads = chain(i=I(np.array([1, 7, 7])), p=pool(), c=conv(1, 1, 3, (3, 3), padding=1), n=if_((1, 3, 3)),
                  o=O(np.array([1, 3, 3])))
    e = one_error(reads)
    assert (e.node, e.code) == ("p", "pool-fold") and "not exact" in e.message
    # the same without padding folds
    nircc.compile(chain(i=I(np.array([1, 7, 7])), p=pool(), c=conv(1, 1, 3, (3, 3)), n=if_((1, 1, 1)),
                        o=O(np.array([1, 1, 1]))), "loihi", dt=1e-3)
    scale = chain(i=I(np.array([2, 2, 2])), s=nir.Scale(scale=np.arange(8, dtype=F32).reshape(2, 2, 2) + 1),
                  n=if_((2, 2, 2)), o=O(np.array([2, 2, 2])))
    e = one_error(scale)
    assert (e.node, e.field) == ("s", "scale") and "one value per channel" in e.message


def test_recurrent_conv_layer():
    g = graph({"i": I(np.array([1, 3, 3])), "c": conv(1, 1, 1, (3, 3)), "n": if_((1, 3, 3)),
               "s": nir.Scale(scale=arr((1, 3, 3), 0.5)), "o": O(np.array([1, 3, 3]))},
              [("i", "c"), ("c", "n"), ("n", "s"), ("s", "n"), ("n", "o")])
    e = one_error(g)
    assert e.node == "n" and "no recurrent conv layer" in e.message


# ---------------------------------------------------------------------- neuron parameters
def test_neuron_parameter_errors_all_at_once():
    """v_reset != 0 in one layer, a negative threshold in the last (a non-uniform tau in between
    is a warning: test_per_neuron_tau_shares_the_median_decay)."""
    g = chain(i=I(np.array([2])), w1=lin(np.eye(2)), a=lif(2, v_reset=0.5), w2=lin(np.eye(2)),
              b=lif(2, tau=np.array([0.004, 0.01])), w3=lin(np.eye(2)), c=if_(2, thr=-1.0), o=O(np.array([2])))
    errs = errors_of(g)
    assert [(e.node, e.field) for e in errs] == [("a", "v_reset"), ("c", "v_threshold")]
    assert "resets v to 0" in errs[0].message
    assert "unsigned" in errs[1].message


def test_per_neuron_tau_shares_the_median_decay():
    """A Loihi layer has one dv: per-neuron taus share the median neuron's (dv 409 for tau
    10 ms, 1024 for 4 ms at dt = 1 ms: the lower median of the sorted two, 409), its input
    gain dt/tau too (a spike's total charge kept), with the error in a warning."""
    g = chain(i=I(np.array([2])), w1=lin(np.eye(2)), b=lif(2, tau=np.array([0.004, 0.01])), o=O(np.array([2])))
    res = nircc.compile(g, "loihi", dt=1e-3)
    lay = res.program.layer("b")
    assert lay.neurons.dv == 409
    (w,) = res.diagnostics.with_code("tau-shared")
    assert (w.node, w.field) == ("b", "tau")
    assert w.message.startswith("tau spans 0.004..0.01 s (dv 409..1024) and a Loihi layer has one dv: realised as "
                                "dv = 409 (tau 0.01001 s, the median neuron's) for all 2 neurons; relative tau "
                                "error up to 1.5 (median 0.753)")      # 1e-3 * 4096 / 409; (10.015 - 4) / 4

    w_eff = lay.synapse.weights
    assert w_eff[0, 0] == w_eff[1, 1]                       # one input gain: the shared tau's


def test_tau_below_dt_and_mixed_thresholds():
    g = chain(i=I(np.array([2])), w1=lin(np.eye(2)), a=lif(2, tau=0.0005), w2=lin(np.eye(2)),
              b=if_(2, thr=np.array([1.0, 0.0])), o=O(np.array([2])))
    errs = errors_of(g)
    assert [(e.node, e.field) for e in errs] == [("a", "tau"), ("b", "v_threshold")]
    assert "forward Euler" in errs[0].message and "needs every v_threshold > 0" in errs[1].message


def test_all_zero_weights():
    e = one_error(simple(fc=lin(np.zeros((2, 2)))))
    assert (e.node, e.field) == ("n", "weight") and "all-zero" in e.message


def test_inhibitory_minus_one_cannot_be_loaded():
    """Weights all -1 or 0 at the chosen gain: netx shifts -1 to -256, Lava clips it to -255."""
    g = simple(fc=lin([[-1.0, 0.0], [0.0, -1.0]]), n=if_(2))
    e = one_error(g, dt=1.0, weight_scale=1)
    assert (e.node, e.field) == ("n", "weight") and "-1 weights become -256" in e.message


def test_too_many_cores_suggests_kapoho_point(monkeypatch):
    """A layer needing 3 neurocores (300 neurons of fan-in 1000, test_loihi_lower) on a chip
    of 2 cores (the spec table patched): an error naming the layer and the variant to use."""
    from nircc.backends.loihi import spec as spec_module

    small = {k: dataclasses.replace(v, cores_per_chip=2) for k, v in spec_module.SPECS.items()}
    monkeypatch.setattr(spec_module, "SPECS", small)
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 1.0, (300, 1000)).astype(F32)
    w[0, 0] = 1.0
    g = chain(i=I(np.array([1000])), fc=lin(w), n=if_(300), o=O(np.array([300])))
    e = one_error(g, dt=1.0, weight_scale=255)
    assert (e.node, e.code) == ("n", "capacity") and "--variant kapoho_point" in e.message
    res = nircc.compile(g, "loihi", dt=1.0, variant="kapoho_point", options={"weight_scale": 255})
    assert res.report["resources"]["chips_used"] == 2


def conv_net(c_out: int) -> nir.NIRGraph:
    """(16, 64, 64) -> 3x3 conv (pad 1) -> c_out x 64 x 64 LIF: 144 synapses per neuron."""
    rng = np.random.default_rng(0)
    c = nir.Conv2d(input_shape=(64, 64), weight=rng.normal(0, 0.3, (c_out, 16, 3, 3)).astype(F32), stride=1,
                   padding=1, dilation=1, groups=1, bias=np.zeros(c_out, F32))
    return chain(i=I(np.array([16, 64, 64])), c=c, n=lif((c_out, 64, 64)), o=O(np.array([c_out, 64, 64])))


def test_too_many_cores_gives_the_uncapped_lower_bound():
    """The lower bound used to stop at the chip's cores + 1 ("at least 129 cores"): 8 x 64 x 64
    neurons need 166 neurocores, exactly what kapoho_point then uses; 64 x 64 x 64 need 1331,
    more than kapoho_point's 1024, so it is not suggested."""
    e = one_error(conv_net(8))
    assert str(e) == ("node 'n', field 'cores': the layers need at least 166 cores (lower bound); the target has 128 "
                      "and first-fit-decreasing ran out of cores at 'n'[25282:25479] (128 of 166 slices placed), as "
                      "did filling cores in order (the variant kapoho_point has 8 chips: --variant kapoho_point)")
    r = nircc.compile(conv_net(8), "loihi", dt=1e-3, variant="kapoho_point").report["resources"]
    assert (r["cores_used"], r["lower_bound"], r["chips_used"]) == (166, 166, 2)
    e = one_error(conv_net(64))
    assert e.message == ("the layers need at least 1331 cores (lower bound); the target has 128 and "
                         "first-fit-decreasing ran out of cores at 'n'[25216:25413] (128 of 1331 slices placed), as "
                         "did filling cores in order (more than the 1024 cores of the largest variant, kapoho_point, "
                         "as well)")
    e = one_error(conv_net(64), variant="kapoho_point")
    assert e.message.startswith("the layers need at least 1331 cores (lower bound); the target has 1024 and ")
    assert "variant" not in e.message
