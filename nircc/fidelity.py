"""Fidelity: how far a chip emulator drifts from the float reference simulator.

The reference (:func:`nircc.sim.simulate` on the graph as loaded, with the compile's
semantics) is the golden model.  The emulator runs the lowered program on the same
inputs, padded with ``L`` zero steps where the chip's output lags by ``L`` steps
(:meth:`Target.latency`), and its output steps ``L .. L+T-1`` are compared with the
reference's ``0 .. T-1``.

Per output:

* spiking outputs (integer spike counts per step):
  ``count_agreement = 1 - sum_n |c_ref[n] - c_chip[n]| / max(1, sum_n (c_ref[n] + c_chip[n]))``
  over every neuron and sample (1.0: every neuron fired as often), ``step_agreement`` =
  the fraction of (step, sample, neuron) entries with the same count, and
  ``first_divergence`` = the first step at which any entry differs (``None``: never);
* non-spiking outputs (a membrane read out): the Pearson correlation of the two traces
  (units differ: the chip's are integers) and ``first_divergence`` = ``None``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .util import to_jsonable


@dataclass
class OutputFidelity:
    name: str
    latency: int
    spiking: bool
    ref_spikes: int = 0
    chip_spikes: int = 0
    count_agreement: Optional[float] = None
    step_agreement: Optional[float] = None
    first_divergence: Optional[int] = None
    correlation: Optional[float] = None

    def to_dict(self) -> dict:
        return to_jsonable(self.__dict__)


@dataclass
class FidelityReport:
    steps: int
    batch: int
    semantics: dict
    outputs: dict[str, OutputFidelity] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "batch": self.batch, "semantics": self.semantics,
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()}}

    def summary(self) -> str:
        lines = [f"fidelity vs the reference simulator ({self.steps} steps x {self.batch} samples):"]
        for o in self.outputs.values():
            lag = f", chip output {o.latency} step(s) late (aligned)" if o.latency else ""
            if o.spiking:
                first = "never" if o.first_divergence is None else f"step {o.first_divergence}"
                lines.append(f"  {o.name}: spike-count agreement {o.count_agreement:.1%} "
                             f"({o.ref_spikes} reference vs {o.chip_spikes} chip spikes), "
                             f"per-step agreement {o.step_agreement:.1%}, first divergence {first}{lag}")
            else:
                corr = "n/a" if o.correlation is None else f"{o.correlation:.3f}"
                lines.append(f"  {o.name}: membrane read-out, correlation {corr}{lag}")
        return "\n".join(lines)


def _is_spiking(ref: np.ndarray) -> bool:
    return bool(np.all(np.equal(np.mod(ref, 1), 0)) and np.all(ref >= 0))


def compare(ref_outputs: dict[str, np.ndarray], chip_outputs: dict[str, np.ndarray],
            latency: dict[str, int], semantics: dict, spiking: Optional[dict[str, bool]] = None) -> FidelityReport:
    """Compare aligned outputs (``chip`` already shifted to the reference's steps)."""
    any_ref = next(iter(ref_outputs.values()))
    rep = FidelityReport(steps=int(any_ref.shape[0]), batch=int(any_ref.shape[1]), semantics=semantics)
    for name, ref in ref_outputs.items():
        chip = np.asarray(chip_outputs[name], dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        spk = spiking[name] if spiking and name in spiking else _is_spiking(ref)
        o = OutputFidelity(name=name, latency=int(latency.get(name, 0)), spiking=spk)
        if spk:
            c_ref, c_chip = ref.sum(axis=0), chip.sum(axis=0)
            o.ref_spikes, o.chip_spikes = int(c_ref.sum()), int(c_chip.sum())
            o.count_agreement = float(1.0 - np.abs(c_ref - c_chip).sum() / max(1.0, (c_ref + c_chip).sum()))
            eq = ref == chip
            o.step_agreement = float(eq.mean()) if eq.size else 1.0
            bad = np.flatnonzero(~eq.reshape(eq.shape[0], -1).all(axis=1))
            o.first_divergence = int(bad[0]) if bad.size else None
        else:
            a, b = ref.ravel(), chip.ravel()
            if a.std() > 0 and b.std() > 0:
                o.correlation = float(np.corrcoef(a, b)[0, 1])
        rep.outputs[name] = o
    return rep


def poisson_inputs(shapes: dict[str, tuple[int, ...]], steps: int, batch: int = 1, rate: float = 0.1,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic Bernoulli spike trains ``[T, B, *shape]`` (uint8) for a fidelity probe."""
    rng = np.random.default_rng(seed)
    return {name: (rng.random((steps, batch) + tuple(shape)) < rate).astype(np.uint8)
            for name, shape in sorted(shapes.items())}


def pad_steps(inputs: dict[str, np.ndarray], extra: int) -> dict[str, np.ndarray]:
    if extra <= 0:
        return inputs
    return {k: np.concatenate([v, np.zeros((extra,) + v.shape[1:], dtype=v.dtype)]) for k, v in inputs.items()}


def align(chip_outputs: dict[str, np.ndarray], latency: dict[str, int], steps: int) -> dict[str, Any]:
    return {k: v[latency.get(k, 0): latency.get(k, 0) + steps] for k, v in chip_outputs.items()}
