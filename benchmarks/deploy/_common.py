"""Data and fixture helpers shared by the deploy training scripts.

Only numpy, scikit-learn (for its bundled ``load_digits``) and the standard library are used
here, so every framework's venv can import this module.  Nothing is downloaded: the digits
ship inside scikit-learn and the temporal task is generated.

Every array that leaves here is time-major: ``[T, B, *shape]``.
"""
from __future__ import annotations

import json
import os
import platform
import random
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"

N_TEST = 200  # held-out samples recorded in every fixture


def seed_everything(seed: int) -> None:
    """Seed python, numpy and (if importable) torch; one thread; deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        import torch
    except ImportError:  # pragma: no cover - every framework here is torch based
        return
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------- digits
def digits_split(seed: int, n_test: int = N_TEST):
    """scikit-learn's bundled 8x8 digits (1797 images), intensities scaled to [0, 1].

    Returns ``x_train [N, 8, 8], y_train [N], x_test [n_test, 8, 8], y_test [n_test]``; the
    split is a seeded permutation, the first ``n_test`` of it held out.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def rate_encode(x: np.ndarray, T: int, max_p: float, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate code: at each of ``T`` steps a pixel of intensity ``v`` in [0, 1]
    spikes with probability ``v * max_p``.  ``x [B, ...]`` -> ``uint8 [T, B, ...]``."""
    p = np.clip(x * max_p, 0.0, 1.0)
    return (rng.random((T,) + x.shape) < p[None]).astype(np.uint8)


# Closed path of the "camera" window over the digit for the ON/OFF event encoding: the
# border of a 3x3 square walked one pixel per step (8 steps a lap), like a micro-saccade.
_PATH = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]


def dvs_encode(x: np.ndarray, T: int, rng: np.random.Generator, upsample: int = 2,
               threshold: float = 0.2, keep_p: float = 0.9, noise_p: float = 0.005) -> np.ndarray:
    """Emulated DVS events from still digits.  The digit, upsampled ``upsample`` x by pixel
    repetition (8 -> 16 px) and zero-padded by 1 px, is seen through a 16 x 16 window that
    moves one pixel per step along ``_PATH``; an ON (channel 0) or OFF (channel 1) event
    fires where the intensity rose / fell by more than ``threshold`` since the previous
    step.  Each event is kept with probability ``keep_p``; background noise events fire with
    probability ``noise_p``.  ``x [B, 8, 8]`` -> ``uint8 [T, B, 2, 8 * upsample, 8 * upsample]``.
    """
    b = x.shape[0]
    img = np.kron(x, np.ones((upsample, upsample), dtype=x.dtype))
    s = img.shape[-1]
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1)))

    def frame(k: int) -> np.ndarray:
        dy, dx = _PATH[k % len(_PATH)]
        return padded[:, dy:dy + s, dx:dx + s]

    out = np.zeros((T, b, 2, s, s), dtype=np.uint8)
    prev = frame(0)
    for t in range(T):
        cur = frame(t + 1)
        diff = cur - prev
        out[t, :, 0] = diff > threshold
        out[t, :, 1] = diff < -threshold
        prev = cur
    out &= (rng.random(out.shape) < keep_p).astype(np.uint8)
    out |= (rng.random(out.shape) < noise_p).astype(np.uint8)
    return out


# --------------------------------------------------------------------------- temporal order
ORDER_PAIRS = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (2, 0), (1, 3), (3, 1)]


def temporal_order(n: int, T: int, rng: np.random.Generator, n_groups: int = 4,
                   per_group: int = 4, p_on: float = 0.5, p_bg: float = 0.02):
    """Generated temporal-order task, 8 classes, ``n_groups * per_group`` input channels.

    Class ``k`` is the ordered pair ``ORDER_PAIRS[k] = (a, b)``: channel group ``a`` bursts
    (each of its channels spikes with probability ``p_on`` per step) in the first third of
    the trial, group ``b`` in the second third, and the last third is silent except for
    background (``p_bg`` on every channel at every step).  Classes ``(0,2)``/``(2,0)`` and
    ``(1,3)``/``(3,1)`` differ only by order, so a readout of total input counts cannot
    separate them: the net has to remember which group came first.  Burst onsets jitter by
    up to ``T // 10`` steps.  Returns ``uint8 [T, n, C]`` and ``int64 [n]`` labels.
    """
    c = n_groups * per_group
    y = rng.integers(0, len(ORDER_PAIRS), size=n)
    x = (rng.random((T, n, c)) < p_bg).astype(np.uint8)
    third = T // 3
    jit = max(1, T // 10)
    burst = third - jit
    for i in range(n):
        a, b = ORDER_PAIRS[y[i]]
        for g, start in ((a, 0), (b, third)):
            s0 = start + int(rng.integers(0, jit + 1))
            ch = slice(g * per_group, (g + 1) * per_group)
            x[s0:s0 + burst, i, ch] |= (rng.random((burst, per_group)) < p_on).astype(np.uint8)
    return x, y.astype(np.int64)


# --------------------------------------------------------------------------- fixtures
def write_fixture(name: str, *, inputs: np.ndarray, outputs: np.ndarray,
                  predictions: np.ndarray, labels: np.ndarray, meta: dict) -> Path:
    """Write ``data.npz`` (numpy, no object arrays) and ``meta.json`` into
    ``fixtures/<name>/`` (``model.nir`` is written there by the framework's own exporter)
    and print the fixture's size."""
    d = FIXTURES / name
    d.mkdir(parents=True, exist_ok=True)
    arrays = {
        "inputs": np.ascontiguousarray(inputs),
        "outputs": np.ascontiguousarray(outputs, dtype=np.float32),
        "predictions": np.asarray(predictions, dtype=np.int64),
        "labels": np.asarray(labels, dtype=np.int64),
    }
    for k, v in arrays.items():
        assert v.dtype != object, k
    assert arrays["inputs"].shape[:2] == arrays["outputs"].shape[:2], "time-major [T, B, ...]"
    np.savez_compressed(d / "data.npz", **arrays)
    acc = float((arrays["predictions"] == arrays["labels"]).mean())
    assert abs(acc - meta["accuracy"]) < 1e-9, (acc, meta["accuracy"])
    meta = dict(meta)
    meta.setdefault("python_version", platform.python_version())
    meta.setdefault("numpy_version", np.__version__)
    meta["data_npz"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()}
    with open(d / "meta.json", "w") as f:
        json.dump(meta, f, indent=2, sort_keys=False)
        f.write("\n")
    size = sum(p.stat().st_size for p in d.iterdir() if p.is_file())
    print(f"fixture {d.relative_to(HERE.parent.parent)}: {size / 1e6:.3f} MB")
    return d


def command_line() -> str:
    """The command that regenerates a fixture, as run from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        rel = script.relative_to(HERE.parent.parent)
    except ValueError:
        rel = script
    return f"{sys.executable} {rel}"
