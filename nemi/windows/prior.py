"""The boundary prior: a video's (start, end) scores on its step grid, and their normalisation per window
(padding included, as ``nemi.windows.dataset`` says)."""

from __future__ import annotations

import numpy as np

from nemi.errors import NemiInputError
from nemi.io.timebase import Timebase
from nemi.windows.grid import WindowParams, first_frame_centres


def boundary_on_grid(video_id: str, boundary, grid: Timebase, n_steps: int, params: WindowParams) -> np.ndarray:
    """The video's (start, end) scores on the step grid: each step takes the score row that holds its frame."""
    if boundary is None:
        return np.ones((n_steps, 2), np.float32)
    scores, btb = checked_scores(video_id, boundary)
    if btb == grid and len(scores) == n_steps:
        return scores
    if params.step_frames is None:
        times = np.asarray(grid.index_to_time(np.arange(n_steps, dtype=np.float64)))
    else:
        times = first_frame_centres(n_steps, params.step_frames, grid.fps)
    return scores[np.clip(btb.nearest_index(times), 0, len(scores) - 1)]


def checked_scores(video_id: str, boundary) -> tuple[np.ndarray, Timebase]:
    """(scores as (N, 2) float32, their Timebase); refused unless (N, 2), N > 0 and finite."""
    scores, btb = boundary
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[1] != 2 or len(scores) == 0:
        raise NemiInputError(f"video {video_id}: boundary scores must be (N, 2) start/end, not {scores.shape}")
    if not np.isfinite(scores).all():
        raise NemiInputError(f"video {video_id}: boundary scores hold NaN or Inf")
    return scores, btb


def minmax_per_window(scores: np.ndarray) -> np.ndarray:
    """(W, C) -> each channel min-max scaled to [0, 1]; a constant channel becomes ones."""
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    span = hi - lo
    flat = span <= 0
    out = (scores - lo) / np.where(flat, 1.0, span)
    out[:, flat] = 1.0
    return out.astype(np.float32)
