"""Property tests of the whole compiler: on random *valid* NIR graphs, ``nircc.compile`` for
every registered target ends in a :class:`~nircc.compiler.CompileResult` holding a program,
or in a :class:`~nircc.NirccError` -- never in another exception (ValueError, KeyError,
IndexError, ZeroDivisionError, a numpy error; RuntimeWarnings are made errors here).  Where
the compile succeeds and the network is small, the fidelity check (the reference simulator
against the chip emulator, as ``nircc compile`` runs it) must end in a report, or in a
NirccError, too.

The graphs (plans, drawn by :data:`PLANS` and built by :func:`build`):

* dense: ``Input(n) -> [weight -> [Delay] -> neurons [<- recurrent weight]]+ -> Output``,
  the weight an Affine (bias zero or not), a Linear or a Scale (same size), the neurons LIF,
  CubaLIF, IF, LI or CubaLI with scalar (broadcast on load) or per-neuron parameters;
  sometimes a second Input merging into the first layer, a skip connection from the first
  layer to the last, a second Output on the first layer (fan-out);
* conv: ``Input(C, H, W) -> [Conv2d -> IF | LIF -> [SumPool2d | AvgPool2d]]+ -> [Flatten ->
  weight -> neurons] -> Output`` (square or not, strided, padded by numbers, ``"same"`` or
  ``"valid"``, dilated, grouped), the shapes Speck and Loihi take, and some they do not;
* dag: random DAGs of Affine, Linear, Scale, Flatten, Delay, Threshold and every neuron
  type, with merges, a loop or long skip edge, Outputs on the leaves and on any node (as
  ``test_passes_properties`` builds them);

with sizes from 1 to past every chip's limits (Xylo's 16 inputs and 1000 neurons, Speck's
128 x 128 inputs and 1024 features, a SpiNNaker2 PE), time constants from half a step to
10^4 steps, delays from 0 to 10^19 steps (whole or not), all-zero weights, thresholds and
gains over twelve decades; ``dt``, the semantics (presets or single options), the variant
and the target options are drawn as well.  A plan is drawn for one of :data:`PROFILES`,
so that every lowering sees graphs it takes, not only ones it rejects at the first check.

``test_compile_ends_in_a_program_or_a_nircc_error`` runs ``EXAMPLES`` examples,
derandomized (the same ones on every run); the ``slow`` variant ``SLOW_EXAMPLES`` from a
fixed seed.  A failing example is printed as its plan; ``build(plan)`` rebuilds the graph.
``test_junk_option_values_end_in_a_program_or_a_nircc_error`` gives every target option
values of the wrong type or range.
"""
from __future__ import annotations

import importlib
import warnings

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

import nircc
from nircc.backends import base as backends
from nircc.compiler import CompileResult
from nircc.semantics import CHOICES, PRESETS

TARGETS = tuple(backends.names())
EXAMPLES = 400
SLOW_EXAMPLES = 2000
#: neurons above which the fidelity check is skipped (emulator time)
FIDELITY_NEURONS = 1500
NEURONS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI")
SPIKING = ("LIF", "CubaLIF", "IF")
F32 = np.float32
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]


def _sub(*options):
    return st.sampled_from(options)


# ----------------------------------------------------------------------------- plans
#: mostly small, a quarter of the time one of the sizes around the chips' limits
SIZES = st.one_of(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12),
                  st.sampled_from([16, 17, 33, 64, 257, 1001, 1025]))
SMALL = st.integers(1, 12)
#: neuron parameters: scalars (broadcast on load), arrays of one value, arrays whose
#: thresholds and gains vary per neuron, or whose time constants vary too
PARAMS = _sub("scalar", "array", "array", "varied", "varied_tau")
UNIFORM = _sub("scalar", "array")
#: "any" draws from everything; a chip's profile leaves out what that chip rejects outright
#: (Xylo: convolutions, delays, a single layer; Speck: all but IF, recurrence, delays,
#: positive biases; Loihi: delays beside recurrence, varying time constants)
PROFILES = ("any", "any", "xylo", "speck", "loihi", "spinnaker2")


@st.composite
def dense_layer(draw, n_in: int, last: bool, profile: str) -> dict:
    if last:
        n = draw(st.integers(1, 9) if profile == "xylo" else st.one_of(SMALL, SMALL, _sub(16, 33)))
    else:
        n = draw(SIZES)
    weight = draw(st.sampled_from(["Affine", "Linear"] + (["Scale"] if n == n_in else [])))
    if weight == "Scale":
        n = n_in
    if profile == "speck":
        neuron = "IF"
    elif profile == "xylo" and not last:
        neuron = draw(st.sampled_from(SPIKING))
    else:
        extra = ("I",) if profile == "any" else ()
        neuron = draw(st.sampled_from(NEURONS + extra if last else SPIKING * 3 + NEURONS + extra))
    recurrent = None if profile == "speck" or (profile == "xylo" and last) else \
        draw(_sub(None, None, "Linear", "Affine"))
    delay = None if profile in ("xylo", "speck") or (profile == "loihi" and recurrent) else \
        draw(st.sampled_from([None] * 8 + [0.0, 1.0, 2.0, 2.5, 9.0, 100.0, 1e9, 1e19]))   # in steps of dt
    return {
        "weight": weight, "n": n, "neuron": neuron,
        "params": draw(UNIFORM if profile == "speck" else _sub("scalar", "array", "varied") if profile == "loihi"
                       else PARAMS),
        "bias": draw(_sub("zero", "negative") if profile == "speck" else _sub("zero", "zero", "positive", "mixed")),
        "recurrent": recurrent,
        "delay": delay,
        "tau": draw(_sub(0.5, 1.0, 2.0, 5.0, 5.0, 20.0, 20.0, 1e4)),                 # in steps of dt
        "threshold": draw(_sub(1e-6, 0.05, 0.5, 1.0, 1.0, 3.0, 100.0, 1e6)),
        "v_reset": draw(_sub(0.0, 0.0, 0.0, 0.3)),
        "v_leak": 0.0 if profile in ("xylo", "speck") else draw(_sub(0.0, 0.0, 0.0, 0.2, -0.5)),
        "r": draw(_sub(1.0, 1.0, 1.0, 0.5, 4.0, 1e-3, 1e3)),
        "scale": draw(_sub(0.0, 0.1, 1.0, 1.0, 3.0)),          # weight scale; 0: an all-zero weight
    }


@st.composite
def dense_plan(draw, profile: str) -> dict:
    n_in = draw(st.integers(1, 17) if profile == "xylo" else SIZES)
    input_2d = profile != "xylo" and draw(_sub(False, False, False, True))     # Input(2, n_in) -> Flatten
    layers, n = [], 2 * n_in if input_2d else n_in
    depth = draw(_sub(2, 2, 3) if profile == "xylo" else _sub(1, 2, 2, 2, 3))
    for k in range(depth):
        lay = draw(dense_layer(n, k == depth - 1, profile))
        layers.append(lay)
        n = lay["n"]
    free = profile in ("any", "spinnaker2")
    return {"family": "dense", "n_in": n_in, "layers": layers,
            "fanout_output": depth > 1 and free and draw(_sub(False, False, True)),
            "second_input": draw(_sub(None, None, None, 1, 3)) if free else None,
            "skip": depth > 2 and free and draw(st.booleans()), "input_2d": input_2d}


def _conv_out(n: int, k: int, s: int, p, d: int = 1) -> int:
    if p == "same":
        return n
    return (n + 2 * (0 if p == "valid" else p) - d * (k - 1) - 1) // s + 1


@st.composite
def conv_plan(draw, profile: str) -> dict:
    c = draw(st.integers(1, 3))
    h = draw(st.one_of(st.integers(1, 10), _sub(16, 34, 65, 129)))
    w = draw(st.one_of(st.just(h), st.integers(1, 10)))
    uniform = profile in ("speck", "loihi")
    blocks, shape = [], (c, h, w)
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(1, min(5, shape[1], shape[2])))
        kw = k if profile == "speck" else draw(st.one_of(st.just(k), st.integers(1, min(5, shape[2]))))
        s = draw(_sub(1, 1, 2))
        sw = s if profile == "speck" else draw(_sub(s, s, 1, 2))
        d = 1 if profile == "speck" else draw(_sub(1, 1, 1, 2))
        p = draw(st.one_of(st.integers(0, k // 2), st.just("valid"),
                           *([st.just("same")] if (s, sw) == (1, 1) else [])))
        pw = p if isinstance(p, str) or profile == "speck" else draw(st.one_of(st.just(p), st.integers(0, kw // 2)))
        c_out = draw(_sub(1, 2, 4, 8, 1025))
        groups = draw(_sub(1, 1, 1, shape[0])) if c_out % shape[0] == 0 else 1
        ho, wo = _conv_out(shape[1], k, s, p, d), _conv_out(shape[2], kw, sw, pw, d)
        if ho < 1 or wo < 1 or c_out * ho * wo > 150_000:
            break
        pool = None
        if min(ho, wo) >= 2 and draw(_sub(False, False, True)):
            q = draw(_sub(2, 2, 3)) if min(ho, wo) >= 3 else 2
            pool = {"type": draw(_sub("SumPool2d", "SumPool2d", "AvgPool2d")), "k": q,
                    "stride": q if profile == "speck" else draw(_sub(q, q, 1)),
                    "padding": 0 if profile == "speck" else draw(_sub(0, 0, 1))}
        shape = (c_out, ho, wo)
        if pool:
            shape = (c_out,) + tuple(_conv_out(x, pool["k"], pool["stride"], pool["padding"]) for x in (ho, wo))
        blocks.append({"c_out": c_out, "k": (k, kw), "stride": (s, sw), "padding": p if isinstance(p, str) else (p, pw),
                       "dilation": d, "groups": groups,
                       "pool": pool,
                       "bias": draw(_sub("zero", "negative") if profile == "speck" else
                                    _sub("zero", "negative", "mixed")),
                       "neuron": "IF" if profile == "speck" else draw(_sub("IF", "IF", "LIF")),
                       "params": draw(UNIFORM if uniform else PARAMS),
                       "threshold": draw(_sub(0.5, 1.0, 4.0)), "tau": draw(_sub(2.0, 20.0)), "r": 1.0,
                       "v_reset": 0.0, "v_leak": 0.0, "scale": draw(_sub(0.0, 1.0, 1.0, 1.0))})
    head = None
    if not blocks or (blocks[-1]["pool"] and profile != "speck") or draw(st.booleans()):
        head = {"weight": draw(_sub("Affine", "Linear")), "n": draw(SMALL),
                "neuron": "IF" if profile == "speck" else draw(st.sampled_from(SPIKING)),
                "params": draw(UNIFORM if uniform else PARAMS),
                "bias": draw(_sub("zero", "negative") if profile == "speck" else _sub("zero", "mixed")),
                "recurrent": None, "delay": None, "tau": 5.0, "threshold": 1.0, "v_reset": 0.0, "v_leak": 0.0,
                "r": 1.0, "scale": 1.0}
    return {"family": "conv", "in_shape": (c, h, w), "blocks": blocks, "head": head}


DAG_TYPES = ("Affine", "Linear", "Scale", "Flatten", "Delay", "LIF", "IF", "CubaLIF", "LI", "CubaLI", "I", "Threshold")


@st.composite
def dag_plan(draw, profile: str) -> dict:
    """A random DAG (as in test_passes_properties): each new node reads one existing node,
    or two of the same size (a merge); then maybe a loop or a long skip edge through a new
    weight node, and Outputs on the leaves and maybe on any other node."""
    sizes = [draw(SMALL)]                              # node 0 is the Input
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        t = draw(st.sampled_from(DAG_TYPES))
        src = draw(st.integers(0, len(sizes) - 1))
        same = [j for j in range(len(sizes)) if sizes[j] == sizes[src] and j != src]
        src2 = draw(st.sampled_from(same)) if same and draw(_sub(False, False, True)) else None
        n = draw(SMALL) if t in ("Affine", "Linear") else sizes[src]
        steps.append({"type": t, "src": src, "src2": src2, "n": n, "params": draw(PARAMS),
                      "delay": draw(_sub(0.0, 1.0, 2.5, 70.0, 1e9)), "bias": draw(_sub("zero", "mixed"))})
        sizes.append(n)
    loop = None
    if draw(st.booleans()):
        loop = {"from": draw(st.integers(1, len(steps))), "to": draw(st.integers(1, len(steps))),
                "weight": draw(_sub("Linear", "Affine"))}
    extra_out = draw(st.one_of(st.none(), st.integers(0, len(steps))))
    return {"family": "dag", "n_in": sizes[0], "steps": steps, "loop": loop, "extra_output": extra_out}


#: the semantics: NIR's default, a preset, or some of the single options
SEMANTICS = st.one_of(st.none(), st.none(), st.sampled_from(sorted(PRESETS)),
                      st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in CHOICES.items()}))
#: valid values of every target option (docs/targets/<chip>.md, "Options")
OPTIONS = {
    "xylo": {"quantization": _sub("channel", "global"), "threshold_max": _sub(1, 4095, 32767),
             "readout_headroom": _sub(1, 3, 64, 32512), "tau_tolerance": _sub(0.0, 0.05)},
    "speck": {"mode": _sub("event", "binned"), "order": _sub("sinabs", "address", "round_robin"),
              "overflow": _sub("error", "saturate"), "spike": _sub("semantics", "multi", "single"),
              "dvs": _sub("auto", True, False), "dvs_sensor": _sub(False, True), "bias_bits": _sub(16, 8),
              "threshold_low": _sub("min", "-threshold")},
    "loihi": {"weight_scale": _sub(1, 256, 1e6), "rounding": _sub("trunc", "nearest"),
              "tau_tolerance": _sub(0.0, 0.01)},
    "spinnaker2": {"weight_scale": _sub(1e-3, 102.02), "weight_scale_percentile": _sub(50.0, 100.0),
                   "delay_mode": _sub("native", "relay"), "timesteps": _sub(1, 1000),
                   "sys_tick_in_s": _sub(1e-4, 1e-3), "record": _sub("outputs", "all"), "record_v": st.booleans(),
                   "input_rate": _sub(0.0, 0.1, 1.0)},
}


def _settings() -> st.SearchStrategy:
    """Per target: None (the default variant, no options) or a variant (an index into the
    target's variants) and some of its options."""
    def one(t: str) -> st.SearchStrategy:
        opts = st.fixed_dictionaries({}, optional=OPTIONS.get(t, {}))
        return st.fixed_dictionaries({"variant": st.integers(0, 7), "options": opts})
    return st.fixed_dictionaries({t: st.one_of(st.none(), one(t)) for t in TARGETS})


def _plan(profile: str) -> st.SearchStrategy:
    graph = dense_plan(profile) if profile == "xylo" else conv_plan(profile) if profile == "speck" else \
        st.one_of(dense_plan(profile), conv_plan(profile), dag_plan(profile)) if profile == "any" else \
        st.one_of(dense_plan(profile), conv_plan(profile))
    return st.fixed_dictionaries({
        "profile": st.just(profile),
        "graph": graph,
        "dt": _sub(1e-3, 1e-3, 1e-4, 1.0),
        "semantics": SEMANTICS,
        "targets": _settings(),
        "seed": st.integers(0, 2 ** 16),
        "fidelity": st.booleans(),
    })


PLANS = st.sampled_from(PROFILES).flatmap(_plan)


# ----------------------------------------------------------------------------- building
def _param(shape: tuple[int, ...], value: float, kind: str, rng: np.random.Generator, vary: bool = True) -> np.ndarray:
    if kind == "scalar":
        return np.asarray(value, F32)                       # load broadcasts it
    a = np.full(shape, value, F32)
    if vary and value != 0 and kind in ("varied", "varied_tau"):
        a = a * rng.uniform(0.8, 1.25, shape).astype(F32)
    return a


def _neuron(lay: dict, shape: tuple[int, ...], dt: float, rng: np.random.Generator) -> nir.NIRNode:
    t, kind = lay["neuron"], lay["params"]

    def p(v, vary=True):
        return _param(shape, v, kind, rng, vary)

    def tau(v):
        return _param(shape, v * dt, kind, rng, kind == "varied_tau")

    if t == "LIF":
        return nir.LIF(tau=tau(lay["tau"]), r=p(lay["r"]), v_leak=p(lay["v_leak"]), v_threshold=p(lay["threshold"]),
                       v_reset=p(lay["v_reset"], False))
    if t == "CubaLIF":
        return nir.CubaLIF(tau_syn=tau(lay["tau"] / 2), tau_mem=tau(lay["tau"]), r=p(lay["r"]), v_leak=p(lay["v_leak"]),
                           v_threshold=p(lay["threshold"]), v_reset=p(lay["v_reset"], False), w_in=p(1.0))
    if t == "IF":
        return nir.IF(r=p(lay["r"]), v_threshold=p(lay["threshold"]), v_reset=p(lay["v_reset"], False))
    if t == "I":
        return nir.I(r=p(lay["r"]))
    if t == "LI":
        return nir.LI(tau=tau(lay["tau"]), r=p(lay["r"]), v_leak=p(lay["v_leak"]))
    return nir.CubaLI(tau_syn=tau(lay["tau"] / 2), tau_mem=tau(lay["tau"]), r=p(lay["r"]), v_leak=p(lay["v_leak"]),
                      w_in=p(1.0))


def _bias(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "zero":
        return np.zeros(n, F32)
    if kind == "positive":
        return rng.uniform(0.01, 0.5, n).astype(F32)
    if kind == "negative":
        return -rng.uniform(0.01, 0.5, n).astype(F32)
    return rng.normal(0, 0.3, n).astype(F32)


def _weight(lay: dict, n_in: int, rng: np.random.Generator) -> nir.NIRNode:
    n = lay["n"]
    if lay["weight"] == "Scale":
        return nir.Scale(scale=(rng.uniform(-1.5, 1.5, n) * lay["scale"]).astype(F32))
    w = (rng.normal(0, 1.5 / np.sqrt(n_in), (n, n_in)) * lay["scale"]).astype(F32)
    if lay["weight"] == "Affine":
        return nir.Affine(weight=w, bias=_bias(lay["bias"], n, rng))
    return nir.Linear(weight=w)


def _output(shape) -> nir.Output:
    return nir.Output(output_type={"output": np.array(shape)})


def build(plan: dict) -> nir.NIRGraph:
    """The graph of a plan (module docstring); node names say what the nodes are: ``w<k>``
    weights, ``d<k>`` delays, ``n<k>`` neurons, ``r<k>`` recurrent weights, ``c<k>`` convs,
    ``p<k>`` pools."""
    rng = np.random.default_rng(plan["seed"])
    dt, gp = plan["dt"], plan["graph"]
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []

    def dense(prev: str, n_prev: int, lay: dict, k: int) -> str:
        nodes[f"w{k}"] = _weight(lay, n_prev, rng)
        edges.append((prev, f"w{k}"))
        src = f"w{k}"
        if lay["delay"] is not None:
            d = np.full(lay["n"], lay["delay"] * dt, F32)
            if lay["params"] == "varied":
                d = (d + rng.integers(0, 4, lay["n"]) * dt).astype(F32)
            nodes[f"d{k}"] = nir.Delay(delay=d)
            edges.append((src, f"d{k}"))
            src = f"d{k}"
        nodes[f"n{k}"] = _neuron(lay, (lay["n"],), dt, rng)
        edges.append((src, f"n{k}"))
        if lay["recurrent"]:
            rec = dict(lay, weight=lay["recurrent"], scale=0.5 * lay["scale"])
            nodes[f"r{k}"] = _weight(rec, lay["n"], rng)
            edges.extend([(f"n{k}", f"r{k}"), (f"r{k}", f"n{k}")])
        return f"n{k}"

    if gp["family"] == "dag":
        _dag(gp, dt, rng, nodes, edges)
    elif gp["family"] == "dense":
        nodes["in"] = nir.Input(input_type={"input": np.array([gp["n_in"]])})
        prev, n = "in", gp["n_in"]
        if gp["input_2d"]:
            nodes["in"] = nir.Input(input_type={"input": np.array([2, n])})
            nodes["flat"] = nir.Flatten(input_type={"input": np.array([2, n])}, start_dim=0, end_dim=-1)
            edges.append(("in", "flat"))
            prev, n = "flat", 2 * n
        layers = gp["layers"]
        for k, lay in enumerate(layers):
            prev = dense(prev, n, lay, k)
            n = lay["n"]
        nodes["out"] = _output([n])
        edges.append((prev, "out"))
        if gp["fanout_output"]:
            nodes["out0"] = _output([layers[0]["n"]])
            edges.append(("n0", "out0"))
        if gp["second_input"]:
            m = gp["second_input"]
            nodes["in2"] = nir.Input(input_type={"input": np.array([m])})
            nodes["w_in2"] = nir.Linear(weight=rng.normal(0, 1.0, (layers[0]["n"], m)).astype(F32))
            edges += [("in2", "w_in2"), ("w_in2", "n0")]
        if gp["skip"]:
            nodes["w_skip"] = nir.Linear(weight=rng.normal(0, 0.5, (layers[-1]["n"], layers[0]["n"])).astype(F32))
            edges += [("n0", "w_skip"), ("w_skip", f"n{len(layers) - 1}")]
    else:
        shape = tuple(gp["in_shape"])
        nodes["in"] = nir.Input(input_type={"input": np.array(shape)})
        prev = "in"
        for k, b in enumerate(gp["blocks"]):
            c, h, w = shape
            c_in = c // b["groups"]
            kh, kw = b["k"]
            pad = b["padding"] if isinstance(b["padding"], str) else tuple(b["padding"])
            wt = rng.normal(0, 1.0 / np.sqrt(c_in * kh * kw), (b["c_out"], c_in, kh, kw)) * b["scale"]
            nodes[f"c{k}"] = nir.Conv2d(input_shape=(h, w), weight=wt.astype(F32), stride=tuple(b["stride"]),
                                        padding=pad, dilation=b["dilation"], groups=b["groups"],
                                        bias=_bias(b["bias"], b["c_out"], rng))
            edges.append((prev, f"c{k}"))
            shape = (b["c_out"],) + tuple(
                _conv_out(x, kk, ss, pad if isinstance(pad, str) else pp, b["dilation"])
                for x, kk, ss, pp in zip((h, w), b["k"], b["stride"], pad if not isinstance(pad, str) else (0, 0)))
            nodes[f"n{k}"] = _neuron(b, shape, dt, rng)
            edges.append((f"c{k}", f"n{k}"))
            prev = f"n{k}"
            if b["pool"]:
                q = b["pool"]
                cls = nir.AvgPool2d if q["type"] == "AvgPool2d" else nir.SumPool2d
                nodes[f"p{k}"] = cls(kernel_size=np.array([q["k"]] * 2), stride=np.array([q["stride"]] * 2),
                                     padding=np.array([q["padding"]] * 2))
                edges.append((prev, f"p{k}"))
                prev = f"p{k}"
                shape = (shape[0],) + tuple(_conv_out(x, q["k"], q["stride"], q["padding"]) for x in shape[1:])
        if gp["head"] is not None:
            nodes["flat"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
            edges.append((prev, "flat"))
            prev = dense("flat", int(np.prod(shape)), gp["head"], len(gp["blocks"]))
            shape = (gp["head"]["n"],)
        nodes["out"] = _output(shape)
        edges.append((prev, "out"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _dag(gp: dict, dt: float, rng: np.random.Generator, nodes: dict, edges: list) -> None:
    names, sizes = ["in"], [gp["n_in"]]
    nodes["in"] = nir.Input(input_type={"input": np.array([gp["n_in"]])})
    for k, st_ in enumerate(gp["steps"]):
        t, n_in, n = st_["type"], sizes[st_["src"]], st_["n"]
        name = f"{t.lower()}{k}"
        if t in ("Affine", "Linear", "Scale"):
            op = _weight({"weight": t, "n": n, "scale": 1.0, "bias": st_["bias"]}, n_in, rng)
        elif t == "Flatten":
            op = nir.Flatten(input_type={"input": np.array([n_in])}, start_dim=0, end_dim=-1)
        elif t == "Delay":
            op = nir.Delay(delay=np.full(n, st_["delay"] * dt, F32))
        elif t == "Threshold":
            op = nir.Threshold(threshold=np.full(n, 0.5, F32))
        else:
            op = _neuron({"neuron": t, "params": st_["params"], "tau": 5.0, "r": 1.0, "v_leak": 0.0,
                          "threshold": 0.5, "v_reset": 0.0}, (n,), dt, rng)
        nodes[name] = op
        edges.extend((names[j], name) for j in (st_["src"], st_["src2"]) if j is not None)
        names.append(name)
        sizes.append(n)
    if gp["loop"]:
        u, v = gp["loop"]["from"], gp["loop"]["to"]
        nodes["loop"] = _weight({"weight": gp["loop"]["weight"], "n": sizes[gp["steps"][v - 1]["src"]], "scale": 0.5,
                                 "bias": "mixed"}, sizes[u], rng)
        edges += [(names[u], "loop"), ("loop", names[v])]
    has_succ = {a for a, _ in edges}
    leaves = [m for m in names if m not in has_succ]
    if gp["extra_output"] is not None:
        leaves.append(names[gp["extra_output"]])
    for j, leaf in enumerate(dict.fromkeys(leaves or [names[-1]])):
        nodes[f"out{j}"] = _output([sizes[names.index(leaf)]])
        edges.append((leaf, f"out{j}"))


# ----------------------------------------------------------------------------- the property
def compile_or_error(graph: nir.NIRGraph, target: str, plan: dict) -> str:
    """'ok', 'ok+fidelity', 'error' or 'error in fidelity'; any other exception propagates."""
    tgt = plan["targets"].get(target) or {"variant": None, "options": {}}
    variants = backends.get(target).variants
    variant = None if tgt["variant"] is None else variants[tgt["variant"] % len(variants)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            res = nircc.compile(graph, target=target, dt=plan["dt"], semantics=plan["semantics"], variant=variant,
                                options=dict(tgt["options"]))
        except nircc.NirccError:
            return "error"
        assert isinstance(res, CompileResult) and res.program is not None
        assert res.report["target"] == target
        if not plan["fidelity"]:
            return "ok"
        g = res.graph
        if sum(int(np.prod(g.out_shape(v))) for v in g.nodes if g.type(v) in NEURONS + ("I",)) > FIDELITY_NEURONS:
            return "ok"
        try:
            rep = res.fidelity(res.probe_inputs(steps=12, batch=2, rate=0.3, seed=1))
        except nircc.NirccError:
            return "error in fidelity"
        assert set(rep.outputs) == set(g.outputs)
        return "ok+fidelity"


def check(plan: dict) -> dict[str, str]:
    graph = build(plan)
    outcome = {t: compile_or_error(graph, t, plan) for t in TARGETS}
    note(f"outcomes: {outcome}")
    return outcome


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)
@given(plan=PLANS)
def test_compile_ends_in_a_program_or_a_nircc_error(plan):
    check(plan)


@pytest.mark.slow
@seed(13)
@settings(max_examples=SLOW_EXAMPLES, deadline=None, database=None, suppress_health_check=HEALTH)
@given(plan=PLANS)
def test_compile_ends_in_a_program_or_a_nircc_error_slow(plan):
    check(plan)


# ----------------------------------------------------------------------------- options and targets
#: option values a user can get wrong through the Python API (the CLI passes strings)
JUNK = [None, -1, 0, 0.5, float("nan"), float("inf"), "x", "", True, [1], {"a": 1}, 2 ** 70]


def two_if_layers() -> nir.NIRGraph:
    """Input(3) -> Linear -> IF -> Linear -> IF -> Output: every target compiles it."""
    one = np.ones(3, F32)
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}), "w0": nir.Linear(weight=2 * np.eye(3, dtype=F32)),
             "n0": nir.IF(r=one, v_threshold=one, v_reset=0 * one), "w1": nir.Linear(weight=2 * np.eye(3, dtype=F32)),
             "n1": nir.IF(r=one, v_threshold=one, v_reset=0 * one), "out": _output([3])}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "w0"), ("w0", "n0"), ("n0", "w1"), ("w1", "n1"), ("n1", "out")],
                        type_check=False)


@pytest.mark.parametrize("target", TARGETS)
def test_junk_option_values_end_in_a_program_or_a_nircc_error(target):
    """Loihi's ``rounding=[...]`` (looked up in a dict: TypeError) and SpiNNaker2's
    ``input_rate=None`` (TypeError in the partition) escaped."""
    g = two_if_layers()
    assert compile_or_error(g, target, {"dt": 1e-3, "semantics": None, "targets": {}, "fidelity": True}) == \
        "ok+fidelity"
    for key in importlib.import_module(f"nircc.backends.{target}.lower").OPTIONS:
        for value in JUNK:
            plan = {"dt": 1e-3, "semantics": None, "fidelity": False,
                    "targets": {target: {"variant": None, "options": {key: value}}}}
            assert compile_or_error(g, target, plan) in ("ok", "error"), (key, value)


def test_unknown_target_of_another_type():
    """A list as the target name used to escape as TypeError (unhashable) from the registry."""
    with pytest.raises(nircc.NirccError) as e:
        backends.get(["xylo"])
    assert str(e.value) == "field 'target': unknown target ['xylo'] (known: loihi, speck, spinnaker2, xylo)"
