"""The SynSense Xylo family (Xylo Audio 2 / Audio 3 / IMU, Xylo v1): recurrent SNN chips.

* ``spec.py``            limits and number formats per variant, with sources;
* ``program.py``         :class:`~nircc.backends.xylo.program.XyloProgram`, one chip
                         configuration as integer arrays (what lowering produces, what the
                         emitter writes, what the emulators run);
* ``emulator.py``        the chip's per-step update, bit-exact with xylosim, vectorized over
                         neurons and batch;
* ``xylosim_bridge.py``  runs a program on the vendor simulator xylosim (optional package).
"""
