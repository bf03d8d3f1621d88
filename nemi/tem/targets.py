"""TEM labels: BSN's ``VideoDataSet._get_train_label`` on a window's step grid.

Step ``k`` of a window of ``T`` steps is the anchor ``[k/T, (k+1)/T]`` in window units.
Each segment ``[s, e]`` gives a start region ``[s - w/2, s + w/2]`` and an end region
around ``e`` of width ``w = max(1/T, boundary_ratio * (e - s))``. An anchor's label is
its largest IoA (intersection over the anchor's length) with the segments (action), the
start regions (start) and the end regions (end).

BSN rescales a whole video to [0, 1] and clips segments to it. A window sees part of a
video, so segments are taken as they are, also where they run past the window's edges:
clipping would put a false start or end at the edge.
"""

from __future__ import annotations

import numpy as np


def ioa(anchors: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(K, 2) anchors, (N, 2) boxes as (start, end) -> (K, N) intersection / anchor length (BSN's IoA)."""
    inter = np.minimum(anchors[:, None, 1], boxes[None, :, 1]) - np.maximum(anchors[:, None, 0], boxes[None, :, 0])
    return np.maximum(inter, 0.0) / (anchors[:, 1] - anchors[:, 0])[:, None]


def anchors(n_steps: int) -> np.ndarray:
    """(n_steps, 2) the window's steps in window units."""
    k = np.arange(n_steps, dtype=np.float64)
    return np.stack([k / n_steps, (k + 1) / n_steps], axis=1)


def tem_targets(segments: np.ndarray, n_steps: int, boundary_ratio: float) -> np.ndarray:
    """(N, 2) segments in window units -> (n_steps, 3) float32 labels: action, start, end. No segment: zeros."""
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    if len(segs) == 0:
        return np.zeros((n_steps, 3), np.float32)
    s, e = segs[:, 0], segs[:, 1]
    half = np.maximum(1.0 / n_steps, boundary_ratio * (e - s)) / 2
    a = anchors(n_steps)
    out = [ioa(a, segs), ioa(a, np.stack([s - half, s + half], 1)), ioa(a, np.stack([e - half, e + half], 1))]
    return np.stack([m.max(axis=1) for m in out], axis=1).astype(np.float32)
