"""nircc's view of the ``nir`` package: ``from nircc.ir import nir_compat as nir``.

nircc supports nir 1.0.3 to 1.0.8 (sinabs 3.1 and rockpool 3.1 pin ``nir<=1.0.4``).  On a
release that has what nircc builds, this module *is* the installed ``nir``: every name is
the package's own object.  Older releases differ from nir 1.0.8 in the node set:

========================  =====================================================================
nir release               differs from 1.0.8 in
========================  =====================================================================
1.0.3, 1.0.4 (identical)  no ``CubaLI``; no ``v_reset`` on IF/LIF/CubaLIF; no ``metadata`` on
                          Input, Output, Linear, Scale, Conv2d, AvgPool2d; no ``type_check`` in
                          ``NIRGraph()`` / ``NIRGraph.from_list()`` / ``nir.read()``; a Conv
                          with ``padding="same"`` and an ``input_shape`` fails to build;
                          ``NIRGraph.input_type`` maps Input names to dicts, not shapes
1.0.5                     no ``v_reset``; ``type_check`` only checks (no type inference: it
                          rejects a pooling node's undefined input type); no ``type_check``
                          in ``nir.read()``
1.0.6                     ``v_reset`` required (no default); no ``type_check`` in ``nir.read()``
1.0.7                     nothing nircc builds (1.0.8 makes ``input_type``/``output_type``/
                          ``metadata`` keyword-only and adds ``write(compression=)``, Identity,
                          NIRGraphData and structural checks in type inference)
========================  =====================================================================

Where a node class does not take nir 1.0.8's constructor arguments (``_SIGNATURES``), this
module has a backport: a dataclass **subclass of the installed class, of the same name**
(``type(op).__name__ == "LIF"``, and the object is an instance of the release's own
``nir.LIF`` too), with nir 1.0.8's signature (``v_reset=None`` meaning zeros like
``v_threshold``; ``metadata`` keyword-only), running the release's own ``__post_init__``.
``CubaLI`` is nir 1.0.8's dataclass, derived from ``nir.NIRNode``.  ``NIRGraph`` takes
``type_check`` (before 1.0.6 nothing is checked for ``True`` either: 1.0.3/1.0.4 never check
when a graph is built, 1.0.5 rejects graphs that 1.0.8 infers; nircc checks shapes in its own
loader), builds the backports in ``from_dict``, and ``isinstance(g, NIRGraph)`` holds for
every graph of the installed release.  ``read`` takes ``type_check`` and builds the
backports (a release's own ``nir.read`` rejects ``CubaLI`` and ``v_reset``).  ``nir.write``
of any release writes the backports in the 1.0.8 layout.  Everything else (``Affine``,
``write``, ``NIRNode``, ``ir``, ...) is the installed package's own object.

``BACKPORTED`` names what this module replaced (empty on nir >= 1.0.7); ``real`` is the
installed ``nir`` module.  nircc dispatches on type names and reads in-memory objects
through ``to_dict``, so objects of the release's own classes are accepted as they are.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import nir as real
import numpy as np

#: the installed nir release
NIR_VERSION: str = str(getattr(real, "__version__", getattr(real, "version", "unknown")))

_ARRAY = np.ndarray
#: nir 1.0.8's positional-or-keyword constructor arguments, as (name, default) or name;
#: every node also takes ``metadata`` (keyword-only, default ``{}``)
_SIGNATURES: dict[str, tuple] = {
    "Input": ("input_type",),
    "Output": ("output_type",),
    "Affine": ("weight", "bias"),
    "Linear": ("weight",),
    "Scale": ("scale",),
    "Conv1d": ("input_shape", "weight", "stride", "padding", "dilation", "groups", "bias"),
    "Conv2d": ("input_shape", "weight", "stride", "padding", "dilation", "groups", "bias"),
    "SumPool2d": ("kernel_size", "stride", "padding"),
    "AvgPool2d": ("kernel_size", "stride", "padding"),
    "Flatten": ("input_type", ("start_dim", 1), ("end_dim", -1)),
    "I": ("r",),
    "IF": ("r", "v_threshold", ("v_reset", None)),
    "LI": ("tau", "r", "v_leak"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", ("v_reset", None)),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", ("w_in", 1.0)),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", ("v_reset", None), ("w_in", 1.0)),
    "Threshold": ("threshold",),
    "Delay": ("delay",),
}
_NO_DEFAULT = inspect.Parameter.empty


def _spec(name: str) -> list[tuple[str, Any]]:
    return [(a, _NO_DEFAULT) if isinstance(a, str) else a for a in _SIGNATURES[name]]


def _takes_108_arguments(cls: type, name: str) -> bool:
    """Whether ``cls`` accepts nir 1.0.8's arguments of ``name`` in the same positions (and
    at least the same defaults); extra trailing arguments of older releases are fine."""
    params = inspect.signature(cls).parameters
    positional = [p for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    for i, (arg, default) in enumerate(_spec(name)):
        if i >= len(positional) or positional[i].name != arg:
            return False
        if default is not _NO_DEFAULT and positional[i].default is _NO_DEFAULT:
            return False
    return "metadata" in params


def _conv_same_works(cls: type, nd: int) -> bool:
    """nir < 1.0.5 cannot build a Conv with ``padding="same"`` and an ``input_shape`` (its
    ``calculate_conv_output`` indexes a tuple's int); fixed in 1.0.5."""
    try:
        cls(input_shape=3 if nd == 1 else (3, 3), weight=np.ones((1, 1) + (1,) * nd), stride=1,
            padding="same", dilation=1, groups=1, bias=np.zeros(1))
    except Exception:
        return False
    return True


_CONV_SAME_BROKEN = not (_conv_same_works(real.Conv1d, 1) and _conv_same_works(real.Conv2d, 2))


def _needs_backport(name: str, cls: type) -> bool:
    return not _takes_108_arguments(cls, name) or (_CONV_SAME_BROKEN and name in ("Conv1d", "Conv2d"))


def _conform(name: str, base: type) -> type:
    """``base`` (the release's class) with nir 1.0.8's constructor: a dataclass subclass of
    the same name whose ``__init__`` takes 1.0.8's arguments and runs the release's
    ``__post_init__`` (after giving a ``v_reset`` of ``None`` its default, zeros)."""
    spec = _spec(name)
    args = {a for a, _ in spec} | {"metadata"}
    have = {f.name: f for f in dataclasses.fields(base)}
    ann: dict[str, Any] = {}
    ns: dict[str, Any] = {}
    for f in have.values():  # set by __post_init__ in 1.0.8, not constructor arguments
        if f.name not in args:
            ann[f.name], ns[f.name] = f.type, field(init=False)
    for a, default in spec:
        if a not in have:
            ann[a], ns[a] = Optional[_ARRAY], default
    if "metadata" not in have:
        ann["metadata"], ns["metadata"] = Dict[str, Any], field(default_factory=dict)
    sig = inspect.Signature(
        [inspect.Parameter(a, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for a, d in spec]
        + [inspect.Parameter("metadata", inspect.Parameter.KEYWORD_ONLY, default=None)])
    release_post_init = getattr(base, "__post_init__", None)

    def __init__(self, *a, **kw):
        bound = sig.bind(*a, **kw)
        bound.apply_defaults()
        for k, v in bound.arguments.items():
            setattr(self, k, v)
        if self.metadata is None:
            self.metadata = {}
        self.__post_init__()

    def __post_init__(self):
        if "v_reset" in args and self.v_reset is None:
            self.v_reset = np.zeros_like(self.v_threshold)
        if _CONV_SAME_BROKEN and "groups" in args and isinstance(self.padding, str) \
                and self.padding == "same" and self.input_shape is not None:
            # the release's checks without the shape; then 1.0.8's types ("same": the
            # output's spatial shape is the input's)
            shape, self.input_shape = self.input_shape, None
            release_post_init(self)
            self.input_shape = shape
            spatial = [int(x) for x in np.atleast_1d(shape)]
            self.input_type = {"input": np.array([self.weight.shape[1], *spatial])}
            self.output_type = {"output": np.array([self.weight.shape[0], *spatial])}
        elif release_post_init is not None:
            release_post_init(self)
        if "v_reset" in args:
            assert np.shape(self.v_reset) == np.shape(self.v_threshold), "All parameters must have the same shape"

    def from_dict(cls, kwargs: Dict[str, Any]):
        return base.from_dict.__func__(cls, dict(kwargs))  # 1.0.8 leaves its argument alone

    __init__.__signature__ = sig.replace(parameters=[
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *sig.parameters.values()])
    ns.update({"__annotations__": ann, "__init__": __init__, "__post_init__": __post_init__,
               "from_dict": classmethod(from_dict), "__module__": __name__, "__qualname__": name,
               "__doc__": f"{base.__doc__ or ''}\n    (nircc.ir.nir_compat: nir 1.0.8's constructor "
                          f"on nir {NIR_VERSION}.)"})
    return dataclass(eq=False, init=False)(type(name, (base,), ns))


# ----------------------------------------------------------------------------- CubaLI (1.0.5)
if hasattr(real, "CubaLI"):
    _CubaLI = real.CubaLI
else:
    @dataclass(eq=False)
    class _CubaLI(real.NIRNode):
        r"""Current based leaky integrator model (nir 1.0.8's ``nir.CubaLI``).

        .. math::
            \tau_{syn} \dot {I} = - I + w_{in} S

        .. math::
            \tau_{mem} \dot {v} = (v_{leak} - v) + R I
        """

        tau_syn: np.ndarray  # Time constant
        tau_mem: np.ndarray  # Time constant
        r: np.ndarray  # Resistance
        v_leak: np.ndarray  # Leak voltage
        w_in: np.ndarray = 1.0  # Input current weight
        # declared as nir 1.0.8's NIRNode declares them (older releases: per class)
        input_type: Dict[str, np.ndarray] = field(init=False, kw_only=True)
        output_type: Dict[str, np.ndarray] = field(init=False, kw_only=True)
        metadata: Dict[str, Any] = field(default_factory=dict, kw_only=True)

        def __post_init__(self):
            assert (
                self.tau_syn.shape
                == self.tau_mem.shape
                == self.r.shape
                == self.v_leak.shape
            ), "All parameters must have the same shape"
            # If w_in is a scalar, make it an array of same shape as v_leak
            self.w_in = np.ones_like(self.v_leak) * self.w_in
            self.input_type = {"input": np.array(self.v_leak.shape)}
            self.output_type = {"output": np.array(self.v_leak.shape)}

        @classmethod
        def from_dict(cls, kwargs: Dict[str, Any]) -> "_CubaLI":
            return real.NIRNode.from_dict.__func__(cls, dict(kwargs))

    _CubaLI.__name__ = _CubaLI.__qualname__ = "CubaLI"

_nodes: dict[str, type] = {}
for _name in _SIGNATURES:
    _cls = _CubaLI if _name == "CubaLI" else getattr(real, _name)
    _nodes[_name] = _conform(_name, _cls) if _cls is getattr(real, _name, None) and _needs_backport(_name, _cls) \
        else _cls
Input, Output, Affine, Linear, Scale = (_nodes[n] for n in ("Input", "Output", "Affine", "Linear", "Scale"))
Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten = (_nodes[n] for n in ("Conv1d", "Conv2d", "SumPool2d",
                                                                     "AvgPool2d", "Flatten"))
I, IF, LI, LIF, CubaLI, CubaLIF = (_nodes[n] for n in ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"))
Threshold, Delay = _nodes["Threshold"], _nodes["Delay"]
_BACKPORTED_NODES = tuple(n for n, c in _nodes.items() if c is not getattr(real, n, None))


# ----------------------------------------------------------------------------- NIRGraph, read
def dict2NIRNode(data_dict: Dict[str, Any]) -> "real.NIRNode":
    """``nir.dict2NIRNode`` building this module's classes."""
    t = data_dict["type"]
    cls = NIRGraph if t == "NIRGraph" else _nodes.get(t)
    return (cls or real.str2NIRNode(t)).from_dict(data_dict)


_GRAPH_TYPE_CHECK = "type_check" in inspect.signature(real.NIRGraph.from_list).parameters
#: nir 1.0.6 on: type_check infers the types it can (pooling, flatten, ...), then checks;
#: 1.0.5 only checks (rejecting, e.g., a pooling node's undefined input type)
_GRAPH_CHECK_AS_108 = _GRAPH_TYPE_CHECK and hasattr(real.NIRGraph, "check_types")

if _GRAPH_CHECK_AS_108 and not _BACKPORTED_NODES:
    NIRGraph = real.NIRGraph
else:
    class _AnyNIRGraph(type(real.NIRGraph)):
        """Every ``nir.NIRGraph`` of the installed release is a compat NIRGraph."""

        # by the MRO: the release's ABCMeta (1.0.5+) would ask this class again
        def __instancecheck__(cls, obj) -> bool:
            return real.NIRGraph in type(obj).__mro__

        def __subclasscheck__(cls, sub) -> bool:
            return real.NIRGraph in getattr(sub, "__mro__", ())

    class NIRGraph(real.NIRGraph, metaclass=_AnyNIRGraph):
        """``nir.NIRGraph`` with nir 1.0.8's constructor and a ``from_dict`` that builds this
        module's node classes."""

        if not _GRAPH_CHECK_AS_108:
            def __init__(self, nodes, edges, metadata=dict, type_check: bool = True):
                # type_check: taken for 1.0.8's signature; nothing is checked (releases
                # before 1.0.5 never check, 1.0.5 rejects graphs that 1.0.8 infers; nircc
                # checks shapes itself, in its loader)
                self.nodes = nodes
                self.edges = edges
                self.metadata = metadata
                self.__post_init__()

            def __post_init__(self):
                # as in 1.0.8: {Input name: shape}, {Output name: shape}
                ins = {k: n.input_type["input"] for k, n in self.nodes.items() if isinstance(n, real.Input)}
                self.input_type = ins or None
                self.output_type = {k: n.output_type["output"] for k, n in self.nodes.items()
                                    if isinstance(n, real.Output)}
                if not isinstance(self.metadata, dict):
                    self.metadata = {}

            @staticmethod
            def from_list(*nodes, type_check: bool = True) -> "NIRGraph":
                if nodes and isinstance(nodes[0], (list, tuple)):
                    nodes = tuple(nodes[0])
                g = real.NIRGraph.from_list(*nodes, **({"type_check": False} if _GRAPH_TYPE_CHECK else {}))
                if not isinstance(nodes[0], real.Input):  # 1.0.8 builds these with its own classes
                    g.nodes["input"] = Input(input_type=nodes[0].input_type)
                if not isinstance(nodes[-1], real.Output):
                    g.nodes["output"] = Output(output_type=nodes[-1].output_type)
                return NIRGraph(nodes=g.nodes, edges=g.edges, type_check=type_check)

        @classmethod
        def from_dict(cls, kwargs: Dict[str, Any]) -> "NIRGraph":
            kw = {k: v for k, v in kwargs.items() if k != "type"}
            kw["nodes"] = {k: dict2NIRNode(n) for k, n in kw["nodes"].items()}
            kw["edges"] = [(_str(a), _str(b)) for a, b in kw["edges"]]
            kw.pop("input_type", None), kw.pop("output_type", None)
            return cls(**kw)


def _str(a) -> str:
    return a.decode("utf8") if isinstance(a, bytes) else str(a)


if "type_check" in inspect.signature(real.read).parameters and not _BACKPORTED_NODES:
    read = real.read
else:
    def read(filename, type_check: bool = True) -> "NIRGraph":
        """``nir.read`` as in nir 1.0.8, building this module's classes."""
        import h5py
        from nir.serialization import hdf2dict

        with h5py.File(filename, "r") as f:
            data = hdf2dict(f["node"])
        if "type_check" in data:
            raise ValueError("The 'type_check' key was found in the read NIR graph, but is unsupported "
                             "and clashes with the type checking parameter in the read function")
        if data.get("type") == "NIRGraph":
            data["type_check"] = type_check
        return dict2NIRNode(data)

#: what this module replaced for the installed nir (empty on nir >= 1.0.7)
BACKPORTED: tuple[str, ...] = _BACKPORTED_NODES + tuple(
    n for n, own in (("NIRGraph", NIRGraph is real.NIRGraph), ("read", read is real.read)) if not own)


def __getattr__(name: str) -> Any:  # everything else is the installed nir's own object
    try:
        return getattr(real, name)
    except AttributeError:
        raise AttributeError(f"module 'nir' (nir {NIR_VERSION}, through nircc.ir.nir_compat) "
                             f"has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(real)))
