"""The SynSense Speck family (Speck 2f, Speck 2e, DYNAP-CNN devkit): spiking CNNs on 9 cores.

* ``spec.py``      limits, per-core memories and number formats per variant, with sources;
* ``program.py``   :class:`~nircc.backends.speck.program.SpeckProgram`, the chip's integers
                   and routing (what the lowering produces and the emitter writes);
* ``emulator.py``  two emulators of a program: ``event`` (the chip's event-driven,
                   depth-first rule) and ``binned`` (sinabs' time-stepped ``IAFSqueeze``).
"""
