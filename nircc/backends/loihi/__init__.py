"""Intel Loihi 2 through Lava and lava-dl netx: CUBA LIF layers with 8-bit synapses.

* ``spec.py``      chip capacity (cores, neurons per core by neuron model, synaptic memory
                   model) and the fixed-point formats of Lava's bit-accurate models, every
                   number cited (``targets/loihi.md`` section, Lava file:line);
* ``program.py``   :class:`~nircc.backends.loihi.program.LoihiProgram`: the ordered layers
                   of a netx network (input, dense, dense_rec, conv, flatten) as integer
                   arrays, lossless JSON format ``nircc.loihi/1``; Lava's weight rules
                   (sign modes, clip/truncate, netx's exponent choice);
* ``emulator.py``  :class:`~nircc.backends.loihi.emulator.LoihiEmulator`: Lava's
                   ``PyLifModelBitAcc`` + ``PyDenseModelBitAcc`` / ``PyDelayDenseModelBitAcc``
                   / ``PyConvModelFixed``, bit-exact, vectorized over neurons and batch.
"""
