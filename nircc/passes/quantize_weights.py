"""The QuantizeWeights pass: every weight quantized in the graph (Graph -> Graph), for
studying quantization in the reference simulator (the lowerings quantize themselves, with
:mod:`nircc.backends.toolkit.quantize`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backends.toolkit.quantize import NumberFormat, QuantizationReport, Tensor, quantize_group
from ..ir import Graph

_WEIGHT_TYPES = ("Affine", "Linear", "Conv1d", "Conv2d")


@dataclass(frozen=True)
class QuantizeWeights:
    """A pass: the weight (and bias) of every Affine, Linear, Conv1d and Conv2d node
    quantized as one scale group per node (per output channel with ``per_channel``).

    The results go to ``graph.meta["quantization"]`` (a :class:`QuantizationReport`) and
    clipping / zeroed values become warnings (stage ``name``).  With ``dequantize=True``
    the node parameters are replaced by the values the integers represent (float64), so
    the reference simulator runs the quantized network.  A bias all of zeros does not
    bound the gain; ``bias=None`` leaves biases in float.
    """

    weight: NumberFormat = NumberFormat(8)
    bias: Optional[NumberFormat] = NumberFormat(16)
    per_channel: bool = False
    dequantize: bool = False
    name: str = "quantize"

    def __call__(self, graph: Graph) -> Graph:
        g = graph.copy()
        report = QuantizationReport()
        for n in g.nodes:
            t = g.type(n)
            if t not in _WEIGHT_TYPES:
                continue
            op = g.op(n)
            w = np.asarray(op.weight)
            out_axis = w.ndim - 2 if t in ("Affine", "Linear") else 0
            tensors = [Tensor("weight", w, self.weight, axis=out_axis, node=n, field="weight")]
            if t != "Linear" and self.bias is not None:
                b = np.asarray(op.bias)
                tensors.append(Tensor("bias", b, self.bias, axis=b.ndim - 1, node=n, field="bias"))
            res = quantize_group(tensors, channels=int(w.shape[out_axis]) if self.per_channel else None,
                                 name=n, node=n)
            report.add(res)
            if self.dequantize:
                new = {"weight": res["weight"].dequantize()}
                if "bias" in res.tensors:
                    new["bias"] = res["bias"].dequantize()
                g.set_op(n, dataclasses.replace(op, **new), g.in_shape(n), g.out_shape(n))
        g.meta["quantization"] = report
        g.diagnostics.extend(report.diagnostics(self.name))
        return g

