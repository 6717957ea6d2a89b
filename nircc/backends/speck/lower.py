"""Lowering: a NIR graph (after the Speck pipeline) -> :class:`SpeckProgram`.

The rules (what maps, parameter mapping, number formats, core mapping) are stated once, in
docs/targets/speck.md; this module follows it step by step:

1. ``routes.walk`` / ``routes.core_kernel``: the cores, one per IF, and each core's kernel;
2. ``_neurons``: the IF parameters of a core folded into its weights (``dt * r``,
   ``theta0 / theta_f``), quantized as one group (``toolkit.quantize.quantize_group``),
   the threshold rule and the floor;
3. ``_pooling``: poolings the destinations cannot do go through relay cores;
4. ``placement``: per-core limits, destinations, ``layer2core`` and the placement;
5. ``_program``: the :class:`SpeckProgram`, its I/O map and the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ...errors import Diagnostics, ErrorCollector, NirccError
from ...ir import Graph
from ..io import IOMap, Port
from ..options import Option, option_table
from ..toolkit.quantize import NumberFormat, QuantizationReport, Tensor, brief, quantize_group
from . import placement
from .program import CnnLayer, Destination, Exit, SpeckInput, SpeckProgram
from .routes import CoreKernel, Link, Pair, Shape3, Walk, check_structure, core_kernel, map3, walk
from .spec import SpeckSpec, layer_memory

STAGE = "speck"

#: Target options (``--option key=value``), documented in docs/targets/speck.md.
OPTIONS = option_table([
    Option("mode", "event", "the emulator of the fidelity check: event (the chip's order) or binned", "choice",
           ("event", "binned")),
    Option("order", "sinabs", "event order within a time bin", "choice", ("sinabs", "address", "round_robin")),
    Option("overflow", "error", "a state that can leave int16: an error, or saturate", "choice", ("error", "saturate")),
    Option("spike", "semantics", "the binned emulator's spike rule: the semantics', multi or single", "choice",
           ("semantics", "multi", "single")),
    Option("dvs", "auto", "route the input through the DVS layer: auto, true or false", "choice", ("auto", True, False)),
    Option("dvs_sensor", False, "events come from the chip's own DVS sensor", "choice", (False, True)),
    Option("bias_bits", 16, "bias width: 16 (int16) or 8 (int8)", "choice", (16, 8)),
    Option("threshold_low", "semantics", "floor of the state: the semantics' v_min, min or -threshold", "choice",
           ("semantics", "min", "-threshold")),
    Option("layer2core", None, "explicit placement: {layer: core} or 'name:core,...'", "any"),
])

@dataclass
class _Layer:
    """One core before placement (quantized)."""

    name: str
    nodes: list[str]
    in_shape: Shape3
    out_shape: Shape3
    kernel: int
    stride: Pair
    padding: Pair
    weights: np.ndarray
    biases: np.ndarray
    threshold_high: int
    threshold_low: int
    return_to_zero: bool
    relay: bool = False
    info: dict = field(default_factory=dict)

    @property
    def leak(self) -> bool:
        return bool(np.any(self.biases != 0))

    def memory(self) -> dict[str, int]:
        f, h, w = self.out_shape
        return layer_memory(self.in_shape[0], f, self.kernel, h, w, bias=self.leak)


# ---------------------------------------------------------------------- neuron parameters
def _per_channel(values: Any, shape: Shape3, node: str, fld: str, errs: ErrorCollector) -> Optional[np.ndarray]:
    """A per-neuron IF parameter as one value per output channel, or None (error added)
    when it varies inside a channel."""
    a = np.broadcast_to(np.asarray(values, dtype=np.float64), shape if len(shape) == 3 else shape[:1])
    f = a.shape[0]
    flat = a.reshape(f, -1)
    per = flat[:, 0]
    bad = np.flatnonzero(np.any(flat != per[:, None], axis=1))
    if bad.size:
        ch = int(bad[0])
        errs.add(f"{fld} varies inside output channel {ch} ({flat[ch].min():.6g}..{flat[ch].max():.6g}; "
                 f"{bad.size} channel(s) non-uniform): Speck has one value per layer, and only values "
                 "varying per output channel can be equalised exactly", node, fld)
        return None
    if not np.all(np.isfinite(per)):
        errs.add(f"{fld} must be finite", node, fld)
        return None
    return per


# ---------------------------------------------------------------------- lowering
class _Lowering:
    def __init__(self, graph: Graph, spec: SpeckSpec, options: Any) -> None:
        self.g = graph
        self.spec = spec
        self.options = options
        self.errs = ErrorCollector()
        self.opt = options.option_values(self.errs)      # raised with the graph's errors
        self.sem = options.semantics
        self.dt = float(self.sem.dt)
        self.diags: Diagnostics = options.diagnostics
        self.quant = QuantizationReport()

    def info(self, code: str, message: str, node: Optional[str] = None, fld: Optional[str] = None) -> None:
        self.diags.info(code, message, node, fld, STAGE)

    def warn(self, code: str, message: str, node: Optional[str] = None, fld: Optional[str] = None) -> None:
        self.diags.warn(code, message, node, fld, STAGE)

    # -------------------------------------------------------------- structure
    def run(self) -> SpeckProgram:
        g, errs, spec = self.g, self.errs, self.spec
        check_structure(g, errs)
        errs.raise_if_any()
        w = walk(g, errs)
        layers: list[_Layer] = []
        links: list[Link] = []
        for L in w.ifs:
            kern = core_kernel(g, L, w, spec, errs, self.info)
            built = None if kern is None else self._neurons(L, kern)
            if built is not None:
                layers.append(built[0])
                links += built[1]
        exits = self._exits(w)
        placement.check_limits(layers, spec, errs)
        errs.raise_if_any()
        dvs = self._use_dvs(w.input)
        layers, links, input_pool = self._pooling(w.input, dvs, layers, links)
        placement.check_limits([lay for lay in layers if lay.relay], spec, errs)
        placement.check_fanout(links, w.input, spec, errs)
        errs.raise_if_any()
        cores, mapping = placement.place(layers, self.opt["layer2core"], spec, errs)
        return self._program(w.input, dvs, layers, links, exits, cores, mapping, input_pool)

    def _neurons(self, L: str, kern: CoreKernel) -> Optional[tuple[_Layer, list[Link]]]:
        """The core of IF ``L``: its parameters folded into the kernel and quantized."""
        g, errs, spec = self.g, self.errs, self.spec
        op = g.op(L)
        blocks, wc, bias, in3, out3 = kern.blocks, kern.weight, kern.bias, kern.in_shape, kern.out_shape
        K, stride, pad = kern.kernel, kern.stride, kern.padding
        F = out3[0]
        shape = tuple(g.out_shape(L))
        theta = _per_channel(op.v_threshold, shape, L, "v_threshold", errs)
        r = _per_channel(op.r, shape, L, "r", errs)
        if theta is None or r is None:
            return None
        if np.any(theta <= 0):
            errs.add(f"v_threshold {float(theta.min()):g} <= 0: Speck thresholds are positive", L, "v_threshold")
            return None
        if self.sem.reset == "zero" and op.v_reset is not None:
            vr = np.asarray(op.v_reset, dtype=np.float64)
            if np.any(vr != 0):
                errs.add(f"v_reset {float(vr[vr != 0].reshape(-1)[0]):g} with reset 'zero': Speck returns to 0 "
                         "(return_to_zero) or subtracts the threshold (--reset subtract)", L, "v_reset")
                return None
        theta0 = float(theta.max())
        gain = self.dt * r * (theta0 / theta)
        if np.any(theta != theta0):
            self.info("threshold-per-channel", f"v_threshold varies per output channel ({theta.min():.6g}.."
                      f"{theta0:.6g}): realised as one threshold {theta0:.6g} with channel f's weights and bias "
                      "scaled by theta0/theta_f (exact before quantization)", L, "v_threshold")
        if np.any(self.dt * r != 1.0) or np.any(r != 1.0):
            u = np.unique(self.dt * r)
            txt = f"{u[0]:.6g}" if u.size == 1 else f"{u.min():.6g}..{u.max():.6g}"
            self.info("if-gain-folded", f"input gain dt*r = {txt} (dt = {self.dt:g} s, r = "
                      f"{', '.join(f'{x:g}' for x in np.unique(r)[:4])}) folded into the weights: NIR's IF "
                      "integrates v += dt*r*x per step, Speck adds the weight", L, "r")
        w_eff = wc * gain[:, None, None, None]
        b_eff = None if bias is None else bias * gain
        if b_eff is not None and np.any(b_eff > 0):
            f = int(np.argmax(b_eff))
            errs.add(f"positive bias {b_eff[f]:.6g} (channel {f}, after the gain dt*r): Speck adds the bias as "
                     "a leak once per slow-clock tick and a leak never fires a neuron, so v would grow without "
                     "bound; only biases <= 0 are supported", L, "bias")
            return None
        strict = self.sem.threshold == ">"
        lo_min = spec.safe_threshold_low_min
        tensors = [Tensor("weight", w_eff, NumberFormat(spec.weight_bits), node=L, field="weight")]
        if b_eff is not None:
            bits = int(self.opt["bias_bits"])      # int16 without -32768: threshold_low = -32768 - min(bias) <= -1
            tensors.append(Tensor("bias", b_eff, NumberFormat(bits, lo=-(2 ** (bits - 1)) + (bits == 16)), node=L,
                                  field="bias"))
        tensors.append(Tensor("threshold", np.array([theta0]),
                              NumberFormat(spec.threshold_bits, lo=1, hi=spec.safe_threshold_high_max - int(strict)),
                              node=L, field="v_threshold"))
        res = self.quant.add(quantize_group(tensors, name=L, node=L))
        wq = res["weight"].q.astype(np.int64)
        bq = res["bias"].q.astype(np.int64) if b_eff is not None else np.zeros(F, np.int64)
        tq = int(res["threshold"].q[0])
        th = tq + 1 if strict else tq
        if strict and self.sem.reset == "subtract":
            self.warn("threshold-strict-subtract", f"NIR fires on v > {theta0:.6g} and subtracts it; on integers "
                      f"v > {tq} is v >= {th}, but the chip then subtracts {th}, one LSB more than the reference "
                      "per spike (no exact integer form; threshold '>=' maps exactly)", L, "v_threshold")
        elif strict:
            self.info("threshold-strict", f"NIR fires on v > {theta0:.6g}; Speck on v >= threshold_high: "
                      f"threshold_high = {tq} + 1 = {th} (v > {tq} <=> v >= {th} on integers)", L, "v_threshold")
        floor = self.opt["threshold_low"]
        if floor == "semantics":      # sinabs' min_v_mem = -v_threshold (semantics v_min) or none
            floor = "-threshold" if self.sem.v_min == "-threshold" else "min"
        tl = -tq if floor == "-threshold" else lo_min
        bmin = int(bq.min()) if bq.size else 0
        if tl + bmin < spec.state_range[0]:
            tl = spec.state_range[0] - bmin
        lay = _Layer(L, [b.node for b in blocks] + [L], in3, out3, K, stride, pad, wq, bq, th, tl,
                     self.sem.reset == "zero")
        lay.info = {"threshold": theta0, "gain": float(res.gain), "input_gain": brief(self.dt * r),
                    "threshold_scale": brief(theta0 / theta), "limited_by": list(res.limited_by),
                    "inputs": [{"source": rt.source, "via": list(rt.chain), "weights": b.node, "pooling": rt.pool,
                                "feature_shift": b.offset} for b in blocks for rt in b.routes]}
        links = [Link(rt.source, L, rt.pool, b.offset) for b in blocks for rt in b.routes]
        return lay, links

    def _exits(self, w: Walk) -> list[tuple[str, str, int, tuple]]:
        """(output name, source IF, host pooling, output shape) per Output node."""
        g, errs = self.g, self.errs
        out = []
        for o in g.outputs:
            rs = w.routes_into.get(o, [])
            if len(rs) != 1 or g.type(rs[0].source) != "IF":
                src = [r.source for r in rs] or g.predecessors(o)
                errs.add(f"fed by {src}: a Speck output is the spikes of one IF (optionally through SumPool2d and "
                         "Flatten)", o, "inputs")
                continue
            r = rs[0]
            if r.avg:
                errs.add("AvgPool2d before an Output: the chip reports spike counts (use SumPool2d)", o, "inputs")
            elif r.pool not in self.spec.poolings:
                errs.add(f"sum pooling {r.pool} before the Output: host-side pooling of monitored spikes takes "
                         f"{list(self.spec.poolings)}", o, "inputs")
            out.append((o, r.source, r.pool, tuple(g.out_shape(o))))
        return out

    # -------------------------------------------------------------- pooling and relays
    def _pooling(self, input_: str, dvs: bool, layers: list[_Layer], links: list[Link]
                 ) -> tuple[list[_Layer], list[Link], int]:
        """Pools the destinations (or the DVS layer) cannot do go through relay cores."""
        spec, errs = self.spec, self.errs
        by_name = {lay.name: lay for lay in layers}
        in_links = [lk for lk in links if lk.source == input_]
        input_pool = 1
        if dvs and in_links:
            wants = [max(d for d in spec.dvs.poolings if lk.pool % d == 0) for lk in in_links]
            input_pool = min(wants)
        out_links: list[Link] = []
        relays: dict[str, _Layer] = {}
        for lk in links:
            options = (input_pool,) if lk.source == input_ else spec.poolings
            if lk.pool in options:
                out_links.append(lk)
                continue
            d = next((d for d in sorted(options, reverse=True)
                      if lk.pool % d == 0 and lk.pool // d in spec.strides and lk.pool // d <= spec.max_kernel
                      and lk.pool // d > 1), None)
            if d is None:
                where = "the input layer" if lk.source == input_ else f"'{lk.source}'"
                errs.add(f"sum pooling {lk.pool} from {where}: Speck pools {list(options)} there, and a relay core "
                         f"adds a factor in {[s for s in spec.strides if s > 1]}", lk.target, "pooling")
                continue
            rly = self._relay(input_, lk, d, by_name, relays)
            relays[rly.name] = rly
            out_links.append(Link(lk.source, rly.name, d, 0))
            out_links.append(Link(rly.name, lk.target, 1, lk.shift))
            self.info("pool-relay", f"sum pooling {lk.pool} from '{lk.source}' = pooling {d} into relay core "
                      f"'{rly.name}' (identity {lk.pool // d}x{lk.pool // d} kernel, stride {lk.pool // d}, "
                      "threshold 1: one spike per event), exact", lk.target, "pooling")
        ordered: list[_Layer] = []
        for lay in layers:
            ordered.append(lay)
            ordered += [r for r in relays.values() if r.info["source"] == lay.name]
        ordered = [r for r in relays.values() if r.info["source"] == input_] + ordered
        return ordered, out_links, input_pool

    def _relay(self, input_: str, lk: Link, d: int, by_name: dict[str, _Layer], taken: dict) -> _Layer:
        r = lk.pool // d
        if lk.source == input_:
            c, h, w = map3(self.g.out_shape(input_))
        else:
            c, h, w = by_name[lk.source].out_shape
        h, w = h // d, w // d
        weights = np.zeros((c, c, r, r), np.int64)
        weights[np.arange(c), np.arange(c)] = 1
        name = base = f"{lk.source}->{lk.target}.pool{lk.pool}"
        i = 1
        while name in taken:                 # two routes with the same ends and pooling
            i += 1
            name = f"{base}#{i}"
        lay = _Layer(name, [], (c, h, w), (c, h // r, w // r), r, (r, r), (0, 0), weights, np.zeros(c, np.int64),
                     1, -1, False, relay=True)
        lay.info = {"source": lk.source, "target": lk.target, "pool": lk.pool}
        return lay

    def _use_dvs(self, input_: str) -> bool:
        """Whether the input goes through the DVS layer (option ``dvs``, the input's shape)."""
        c, h, w = map3(self.g.out_shape(input_))
        ok = len(self.g.out_shape(input_)) == 3 and c == self.spec.dvs.polarities and \
            max(h, w) <= self.spec.dvs.max_size
        want = self.opt["dvs"]
        if want is True and not ok:
            self.errs.add(f"dvs=true needs a [{self.spec.dvs.polarities}, H, W] input with H, W <= "
                          f"{self.spec.dvs.max_size}, got {list(self.g.out_shape(input_))}", input_, "dvs")
            return False
        use = ok and want is not False
        if self.opt["dvs_sensor"] and not use:
            self.errs.add("dvs_sensor=true needs the DVS layer (a 2-channel input, dvs not false)", input_,
                          "dvs_sensor")
        if self.opt["dvs_sensor"] and not self.spec.dvs.sensor:
            self.errs.add(f"{self.spec.name} has no DVS sensor on the die", input_, "dvs_sensor")
        return use

    # -------------------------------------------------------------- program
    def _program(self, input_: str, dvs: bool, layers: list[_Layer], links: list[Link], exits: list,
                 cores: dict[str, int], mapping, input_pool: int) -> SpeckProgram:
        spec, g = self.spec, self.g
        by_src: dict[str, list[Link]] = {}
        for lk in links:
            by_src.setdefault(lk.source, []).append(lk)
        monitored = {src for _, src, _, _ in exits}
        cnn = []
        for lay in layers:
            dests = [Destination(cores[lk.target], lk.pool, lk.shift) for lk in by_src.get(lay.name, [])]
            cnn.append(CnnLayer(lay.name, cores[lay.name], lay.in_shape, lay.out_shape, lay.kernel, lay.weights,
                                lay.threshold_high, lay.threshold_low, lay.stride, lay.padding, biases=lay.biases,
                                return_to_zero=lay.return_to_zero, leak_enable=lay.leak, destinations=dests,
                                monitor=lay.name in monitored))
        in_shape = map3(g.out_shape(input_))
        in_dests = [cores[lk.target] for lk in by_src.get(input_, [])]
        inp = SpeckInput(in_shape, in_dests, dvs=dvs, pooling=(input_pool, input_pool) if dvs else (1, 1))
        ex = [Exit(o, cores[src], pool) for o, src, pool, _ in exits]
        # the input events reshaped to the input layer's [C, H, W]; each Output is an exit of
        # its name (the monitored spikes of one layer); the event model has no per-layer delay
        io = IOMap((Port(input_, g.out_shape(input_), "input"),),
                   tuple(Port(o, shape, o) for o, _, _, shape in exits), layout="tensor", tensor=in_shape)
        meta = {
            "io": io.to_dict(),
            "layers": {lay.name: lay.nodes for lay in layers},
            "exits": {o: src for o, src, _, _ in exits},
            "emulator": {k: self.opt[k] for k in ("mode", "order", "overflow")} |
                        {"spike": self.sem.spike if self.opt["spike"] == "semantics" else self.opt["spike"]},
            "dvs_sensor": bool(self.opt["dvs_sensor"]),
            "semantics": self.sem.to_dict(),
        }
        prog = SpeckProgram(inp, cnn, ex, variant=spec.name, dt=self.dt, meta=meta)
        self._risks(prog, {lay.name: lay for lay in layers})
        self.diags.extend(self.quant.diagnostics(STAGE))
        self.info("event-driven", f"semantics spike={self.sem.spike!r} is not realised: Speck has no time steps; "
                  "a neuron fires at most once per input event and may fire several times per time bin "
                  "(depth-first event processing)", None, "spike")
        prog.validate(spec)
        prog.report = self._report(prog, layers, mapping)
        return prog

    def _risks(self, prog: SpeckProgram, lays: dict[str, _Layer]) -> None:
        """``overflow_risks``: weights >= threshold warn (the emulator checks int16 at run
        time); anything else would be a lowering bug or a user error."""
        for risk in prog.overflow_risks(self.spec):
            if lays[risk.node].relay:
                continue
            if risk.field == "weights":
                lay = prog.layers[[x.name for x in prog.layers].index(risk.node)]
                self.warn("weight-above-threshold", f"max weight {int(lay.weights.max())} >= threshold_high "
                          f"{lay.threshold_high}: one input event can carry a neuron past threshold more than once, "
                          "but the chip emits one spike per event (fewer spikes than a time-binned simulation); "
                          "with reset 'subtract' the residue can grow (the emulator checks int16)",
                          risk.node, "weight")
            else:
                self.errs.extend(risk)
        self.errs.raise_if_any()

    def _report(self, prog: SpeckProgram, layers: list[_Layer], mapping) -> dict:
        spec = self.spec
        res = mapping.to_dict()
        per = {}
        for lay, cl in zip(layers, prog.layers):
            per[lay.name] = {"core": cl.core, "nir_nodes": lay.nodes, "relay": lay.relay,
                             "input_shape": list(cl.input_shape), "output_shape": list(cl.output_shape),
                             "kernel": cl.kernel, "stride": list(cl.stride), "padding": list(cl.padding),
                             "threshold_high": cl.threshold_high, "threshold_low": cl.threshold_low,
                             "return_to_zero": cl.return_to_zero, "leak_enable": cl.leak_enable,
                             "memory": cl.memory(), "capacity": spec.capacity(cl.core),
                             "destinations": [d.to_dict() for d in cl.destinations], "monitor": cl.monitor,
                             **lay.info}
        resources = {
            "cores_used": res["cores_used"], "cores_available": spec.n_cores, "lower_bound": res["lower_bound"],
            "optimal": res["optimal"], "method": res["method"],
            "layer2core": {cl.name: cl.core for cl in prog.layers},
            "utilization": res["utilization"], "input": "dvs" if prog.input.dvs else "cnn",
            "relays": sum(1 for lay in layers if lay.relay),
            "synapses": int(sum(cl.weights.size for cl in prog.layers)),
            "neurons": int(sum(int(np.prod(cl.output_shape)) for cl in prog.layers)),
            "layers": per,
        }
        return {"resources": resources, "quantization": self.quant.to_dict()}


def lower(graph: Graph, spec: SpeckSpec, options: Any) -> SpeckProgram:
    """Graph (after ``infer_shapes``, ``canonicalize``, ``fuse_affine``) -> SpeckProgram;
    every construct the chip cannot express is a NirccError (all at once); approximations
    and exact rewrites are Diagnostics in ``options.diagnostics`` (stage ``"speck"``)."""
    if options.semantics.dt is None:
        raise NirccError("dt is not resolved", field="dt")
    return _Lowering(graph, spec, options).run()


__all__ = ["lower", "OPTIONS", "STAGE"]
