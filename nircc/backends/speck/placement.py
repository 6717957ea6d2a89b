"""Core placement of Speck layers (docs/targets/speck.md, "Core mapping"): per-core limits
checked before placement (so they are reported rather than the memory failure they cause),
destinations per source, ``layer2core`` pins, and the exclusive placement of
``toolkit.mapping.map_resources`` on the variant's cores (exact bipartite matching,
lexicographically first assignment: small networks land on cores 0, 1, 2, ...)."""
from __future__ import annotations

from typing import Any, Protocol

from ...errors import ErrorCollector, NirccError, NirccErrors
from ..toolkit.mapping import Core, MapItem, ResourceMapping, format_amount, map_resources
from .routes import Link
from .spec import SpeckSpec


class Placed(Protocol):
    """What placement reads of a layer: its name, maps and memory demand."""

    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]

    def memory(self) -> dict[str, int]: ...


def layer2core(value: Any, names: list[str], spec: SpeckSpec, errs: ErrorCollector) -> dict[str, int]:
    """``layer2core`` as {layer: core}: a dict or ``"name:core,name:core"``."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = {}
        for item in value.split(","):
            name, sep, core = item.strip().rpartition(":")
            if not sep or not name:
                errs.add(f"'{item.strip()}' is not name:core", field="layer2core")
                continue
            pairs[name] = core
        value = pairs
    if not isinstance(value, dict):
        errs.add(f"layer2core must be a dict or 'name:core,...', got {type(value).__name__}", field="layer2core")
        return {}
    out: dict[str, int] = {}
    for name, core in value.items():
        try:
            c = int(core)
        except (TypeError, ValueError):
            errs.add(f"core {core!r} is not an integer", node=str(name), field="layer2core")
            continue
        if str(name) not in names:
            errs.add(f"no Speck layer called '{name}' (layers: {', '.join(names)})", node=str(name),
                     field="layer2core")
        elif not 0 <= c < spec.n_cores:
            errs.add(f"core {c} not in 0..{spec.n_cores - 1}", node=str(name), field="layer2core")
        else:
            out[str(name)] = c
    for c in sorted(set(out.values())):
        both = [n for n, v in out.items() if v == c]
        if len(both) > 1:
            errs.add(f"layers {', '.join(both)} are all pinned to core {c}", node=both[1], field="layer2core")
    return out


def check_limits(layers: list[Placed], spec: SpeckSpec, errs: ErrorCollector) -> None:
    """Map sizes and feature counts of every core."""
    for lay in layers:
        c, h, w = lay.in_shape
        f, ho, wo = lay.out_shape
        for what, size in (("input map height", h), ("input map width", w)):
            if size > spec.max_input_size:
                errs.add(f"{what} {size} exceeds {spec.max_input_size}", lay.name, "input_shape")
        for what, size in (("input features", c), ("output features", f)):
            if size > spec.max_features:
                errs.add(f"{size} {what} exceed {spec.max_features}", lay.name,
                         "input_shape" if what.startswith("input") else "output_shape")
        for what, size in (("height", ho), ("width", wo)):
            if size > spec.max_output_size:
                errs.add(f"neuron map {what} {size} exceeds {spec.max_output_size} (the conv output before "
                         "pooling)", lay.name, "output_shape")


def check_fanout(links: list[Link], input_: str, spec: SpeckSpec, errs: ErrorCollector) -> None:
    """At most ``n_destinations`` routes leave a core (the DVS layer's own count for the input)."""
    per: dict[str, list[Link]] = {}
    for lk in links:
        per.setdefault(lk.source, []).append(lk)
    for src, lks in per.items():
        n = spec.dvs.n_destinations if src == input_ else spec.n_destinations
        if len(lks) > n:
            what = "the input layer" if src == input_ else "a core"
            errs.add(f"feeds {len(lks)} routes ({', '.join(f'{lk.target} pool {lk.pool}' for lk in lks)}): "
                     f"{what} has {n} destinations", src, "destinations")


def place(layers: list[Placed], pins_option: Any, spec: SpeckSpec, errs: ErrorCollector
          ) -> tuple[dict[str, int], ResourceMapping]:
    """{layer: core} and the mapping (for the report); NirccErrors listing every layer's
    needs and every core's capacity when the layers do not fit."""
    names = [lay.name for lay in layers]
    pins = layer2core(pins_option, names, spec, errs)
    cores = [Core(str(i), {"kernel": spec.kernel_memory[i], "neuron": spec.neuron_memory[i],
                           "bias": spec.bias_memory[i]}, kind=f"core{i}") for i in range(spec.n_cores)]
    pops = []
    for lay in layers:
        mem = lay.memory()
        if lay.name in pins:
            c = pins[lay.name]
            if not spec.fits(c, mem):
                errs.add(f"pinned to core {c}, but needs {_mem(mem)}; core {c} offers {_mem(spec.capacity(c))}",
                         lay.name, "layer2core")
            pops.append(MapItem(lay.name, _pinned(mem, str(c))))
        else:
            pops.append(MapItem(lay.name, mem))
    errs.raise_if_any()
    try:
        mapping = map_resources(pops, cores, exclusive=True, noun="layer")
    except NirccError as e:
        raise _map_error(e, layers, pins, spec) from None
    return {p.population: int(p.core) for p in mapping.placements}, mapping


def _map_error(e: NirccError, layers: list[Placed], pins: dict[str, int], spec: SpeckSpec) -> NirccErrors:
    errs = list(e.errors)
    for lay in layers:
        mem = lay.memory()
        fit = spec.cores_that_fit(mem)
        pin = f" (pinned to core {pins[lay.name]})" if lay.name in pins else ""
        errs.append(NirccError(f"needs {_mem(mem)} words; fits cores {fit if fit else 'none'}{pin}",
                               lay.name, "memory"))
    caps = "; ".join(f"{i}: {_mem(spec.capacity(i))}" for i in range(spec.n_cores))
    errs.append(NirccError(f"core capacities (words): {caps}", None, "cores"))
    return NirccErrors(errs)


def _mem(m: dict) -> str:
    return f"kernel {format_amount(m['kernel'])}, neuron {format_amount(m['neuron'])}, bias {format_amount(m['bias'])}"


def _pinned(mem: dict, core: str):
    """A cost model that fits only ``core`` (a resource no core has, elsewhere)."""
    def cost(k: int, c: Core) -> dict:
        return dict(mem) if c.name == core else {**mem, "pinned elsewhere": 1}
    return cost
