"""Deterministic weights, inputs, outputs and targets shared by make_rtd_golden.py and the tests.

A 128 MB state dict cannot be committed, so both sides regenerate the same one from this recipe.
Values come from NumPy's PCG64 *raw* 64-bit stream, which NumPy guarantees to stay the same
across versions (unlike ``Generator`` methods or torch's RNG), so the goldens stay valid.
Nothing here imports nemi or the reference.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

BATCH = 6  # >= decoder layers, so that the reference returns all 5 auxiliary outputs (see rtd.py)
STEPS = 100
QUERIES = 32
AUX_LAYERS = 5
# Number of target segments per clip of the criterion batch; clip 2 has none.
TARGET_COUNTS = (3, 1, 0, 4, 2, 5)


def uniform(seed: int, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    bits = np.random.PCG64(seed).random_raw(n)
    u = (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (low + (high - low) * u).reshape(shape).astype(np.float32)


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def state_dict(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Weights for every entry but the (deterministic) position table, scaled like a trained net's."""
    out = {}
    for name, shape in shapes.items():
        if name.endswith("position_table"):
            continue
        if len(shape) >= 2:
            if name == "query_embed.weight":  # torch draws embeddings from N(0, 1)
                bound = math.sqrt(3.0)
            else:
                fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
                bound = math.sqrt(6.0 / (fan_in + fan_out))
            out[name] = uniform(_seed(name), shape, -bound, bound)
        elif ".norm" in name and name.endswith(".weight"):
            out[name] = uniform(_seed(name), shape, 0.9, 1.1)
        else:
            out[name] = uniform(_seed(name), shape, -0.1, 0.1)
    return out


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """Features (B, T, 2048) in [0, 1) and boundary probabilities (B, T, 2)."""
    return uniform(1, (BATCH, STEPS, 2048), 0.0, 1.0), uniform(2, (BATCH, STEPS, 2), 0.0, 1.0)


def targets() -> list[np.ndarray]:
    """(N, 2) (start, end) per clip of the criterion batch, inside [0, 1]."""
    segs = []
    for b, n in enumerate(TARGET_COUNTS):
        start = uniform(100 + b, (n,), 0.0, 0.7)
        length = uniform(200 + b, (n,), 0.03, 0.3)
        segs.append(np.stack([start, np.minimum(start + length, 1.0)], axis=1).astype(np.float32))
    return segs


def outputs() -> dict[str, np.ndarray]:
    """Model-shaped outputs with some queries close to targets (so tIoU > 0.7 occurs), 1 + 5 layers.

    ``logits`` (L, B, Q, 2), ``boxes`` (L, B, Q, 2) as (centre, length), ``iou`` (B, Q, 1).
    """
    layers = 1 + AUX_LAYERS
    logits = uniform(10, (layers, BATCH, QUERIES, 2), -2.0, 2.0)
    centre = uniform(11, (layers, BATCH, QUERIES), 0.05, 0.95)
    length = uniform(12, (layers, BATCH, QUERIES), 0.02, 0.5)
    boxes = np.stack([centre, length], axis=-1)
    for b, seg in enumerate(targets()):
        for j, (s, e) in enumerate(seg):
            for layer in range(layers):  # query 3j+1 sits near target j, a little off
                noise = uniform(1000 * layer + 10 * b + j, (2,), -0.02, 0.02)
                boxes[layer, b, 3 * j + 1] = [(s + e) / 2 + noise[0], (e - s) * (1 + noise[1])]
    iou = uniform(13, (BATCH, QUERIES, 1), 0.0, 1.0)
    return {"logits": logits, "boxes": boxes.astype(np.float32), "iou": iou}
