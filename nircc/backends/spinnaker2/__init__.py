"""SpiNNaker2 (py-spinnaker2): populations and projections of float32 LIF neurons on ARM PEs.

* ``spec.py``      chip limits, the py-spinnaker2 neuron models (parameter keys, weight
                   ranges, delays) and the per-PE memory model, with sources and tags;
* ``program.py``   :class:`~nircc.backends.spinnaker2.program.S2Program`: populations and
                   projections exactly as py-spinnaker2 takes them, JSON format
                   ``nircc.spinnaker2/1``;
* ``emulator.py``  :class:`~nircc.backends.spinnaker2.emulator.S2Emulator`: the float32
                   neuron update, vectorized over neurons and batch.
"""
