"""Run a :class:`~nircc.backends.xylo.program.XyloProgram` on SynSense's simulator xylosim.

xylosim (PyPI ``xylosim``, C++ with pybind11) is the vendor's bit-accurate model of the
chip and the oracle of :mod:`.emulator`.  It is optional: it is imported lazily and a
missing package raises a NirccError saying how to install it.

:class:`XylosimEmulator` builds one ``XyloLayer`` (``xylosim.v2`` for Audio 2/3 and IMU,
``xylosim.v1`` for Xylo v1, as rockpool's ``XyloSim`` does) and runs it with the same
inputs and results as :class:`~nircc.backends.xylo.emulator.XyloEmulator`, so the two
are interchangeable.  Batches run one sample after the other, each from ``reset_all()``.

Layer construction mirrors rockpool ``syns61201/xylo_sim.py`` ``from_specification``:
per pre-neuron one list of ``XyloSynapse(post, syn, weight)``, syn-1 targets then syn-2
targets (ascending post), readout synapses per hidden neuron, ``dash_syns = [[dash_syn,
dash_syn2]]`` (syn 2 stays 0 without syn-2 weights) and ``dash_syns_out = [[dash]]``.

Pitfall (xylo.md §2): ``XyloLayer`` keeps raw ``XyloSynapse*`` pointers; the Python
synapse lists must outlive the layer or it crashes.  :class:`XylosimEmulator` holds them
for as long as it holds the layer.

Input counts are passed as they are (xylosim clips them at 15 itself) except that counts
above 255, which xylosim's ``uint8`` input cannot take, are passed as 255: the same
result, since both clip to 15.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..base import Emulator, EmulatorResult, require_sdk
from .emulator import as_input_counts, record_buffers
from .program import XyloProgram
from .spec import XyloSpec, get_spec

INSTALL_HINT = "Install it with 'pip install xylosim' (or 'pip install nircc[xylo]')."


def _synapse_lists(module: Any, weights: np.ndarray) -> list[list[Any]]:
    """One list of ``XyloSynapse`` per pre-neuron of ``weights`` [pre, post, syn]."""
    lists = []
    for w_pre in weights:
        syns = []
        for s in range(w_pre.shape[1]):
            for post in np.flatnonzero(w_pre[:, s]):
                syns.append(module.XyloSynapse(int(post), s, int(w_pre[post, s])))
        lists.append(syns)
    return lists


class XylosimEmulator(Emulator):
    """The vendor simulator behind the :class:`~nircc.backends.base.Emulator` interface."""

    def __init__(self, program: XyloProgram, spec: Optional[XyloSpec] = None) -> None:
        self.spec = spec or get_spec(program.variant)
        program.validate(self.spec, chip=False)
        self.program = program
        p = program
        self.module = require_sdk(self.spec.simulator, "xylo", INSTALL_HINT)
        n_syn = 2 if self.spec.n_syn == 2 else 1
        # kept alive with the layer (raw pointers inside XyloLayer)
        self._synapses_in = _synapse_lists(self.module, p.weights_in[:, :, :n_syn])
        self._synapses_rec = _synapse_lists(self.module, p.weights_rec[:, :, :n_syn])
        self._synapses_out = _synapse_lists(self.module, p.weights_out[:, :, None])
        kwargs: dict[str, Any] = dict(
            synapses_in=self._synapses_in,
            synapses_rec=self._synapses_rec,
            synapses_out=self._synapses_out,
            aliases=[list(a) for a in p.aliases],
            threshold=p.threshold.astype(int).tolist(),
            threshold_out=p.threshold_out.astype(int).tolist(),
            weight_shift_inp=p.weight_shift_in,
            weight_shift_rec=p.weight_shift_rec,
            weight_shift_out=p.weight_shift_out,
            dash_mem=p.dash_mem.astype(int).tolist(),
            dash_mem_out=p.dash_mem_out.astype(int).tolist(),
            dash_syns=[[int(a), int(b)] for a, b in zip(p.dash_syn, p.dash_syn2)],
            dash_syns_out=[[int(d)] for d in p.dash_syn_out],
            name="nircc",
        )
        if self.spec.has_bias:
            kwargs.update(has_bias=p.bias_enable, bias=p.bias.astype(int).tolist(),
                          bias_out=p.bias_out.astype(int).tolist())
        self.layer = self.module.XyloLayer(**kwargs)

    def run(self, inputs: Any, record: bool = False) -> EmulatorResult:
        """Same contract as :meth:`XyloEmulator.run <nircc.backends.xylo.emulator.XyloEmulator.run>`."""
        x = np.minimum(as_input_counts(inputs, self.program.n_in), 255)
        n_t, n_b, _ = x.shape
        p = self.program
        n_hid, n_out = p.n_hidden, p.n_out
        out = np.zeros((n_t, n_b, n_out), np.int32)
        rec: dict[str, np.ndarray] = {}
        if record:
            rec = record_buffers(n_t, n_b, n_hid, n_out)
        layer = self.layer
        for b in range(n_b):
            layer.reset_all()
            spikes = layer.evolve(x[:, b, :].tolist())
            if n_t == 0:
                continue
            out[:, b] = np.asarray(spikes, dtype=np.int32).reshape(n_t, n_out)
            if record:
                rec["Spikes"][:, b] = np.asarray(layer.rec_recurrent_spikes).reshape(n_t, n_hid)
                rec["Vmem"][:, b] = np.asarray(layer.rec_v_mem).reshape(n_hid, n_t).T
                rec["Isyn"][:, b] = np.asarray(layer.rec_i_syn).reshape(n_hid, n_t).T
                rec["Isyn2"][:, b] = np.asarray(layer.rec_i_syn2).reshape(n_hid, n_t).T
                rec["Vmem_out"][:, b] = np.asarray(layer.rec_v_mem_out).reshape(n_out, n_t).T
                rec["Isyn_out"][:, b] = np.asarray(layer.rec_i_syn_out).reshape(n_out, n_t).T
        return EmulatorResult(outputs={"readout": out}, states=rec)
