"""From boundaries to activities: the video decomposition of NEMI section 3.2.

The boundaries come from a change detector's rule (:mod:`nemi.detectors`).
Steps between consecutive boundaries form one activity. Activities longer than
``max_steps`` are split into the fewest equal parts that fit; those shorter than
``min_steps`` are dropped (they remain background). Step k spans
[k * step_s, (k + 1) * step_s) seconds.

The split points are kept apart from the detector's boundaries (``Decomposition.cap_splits``): a boundary
made by the length cap says nothing about the video, and ``nemi inspect`` reports the share of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decomposition:
    activities: list[tuple[int, int]]  # (start_step, end_step_exclusive)
    cap_splits: list[int]  # steps at which an equal split of an activity over max_steps starts a part


def decompose(boundary: np.ndarray, n_steps: int, *, max_steps: int, min_steps: int) -> Decomposition:
    """The activities of a boundary mask of length n_steps - 1, and where the length cap split them."""
    if max_steps < 1 or min_steps < 1:
        raise ValueError("max_steps and min_steps must be >= 1")
    if n_steps <= 0:
        return Decomposition([], [])
    if len(boundary) != max(n_steps - 1, 0):
        raise ValueError(f"boundary mask has {len(boundary)} entries for {n_steps} steps")
    cuts = np.flatnonzero(boundary) + 1
    edges = np.concatenate([[0], cuts, [n_steps]]).astype(int)
    out: list[tuple[int, int]] = []
    splits: list[int] = []
    for s, e in zip(edges[:-1], edges[1:]):
        length = e - s
        if length < min_steps:
            continue
        parts = -(-length // max_steps)
        bounds = np.round(np.linspace(s, e, parts + 1)).astype(int)
        kept = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= min_steps]
        out.extend(kept)
        # A split point that no kept part starts or ends at bounds nothing (both its parts were too short).
        edges_kept = {x for part in kept for x in part}
        splits.extend(int(x) for x in bounds[1:-1] if x in edges_kept)
    return Decomposition(out, splits)
