"""One video on its step grid (``nemi.windows.grid``): the feature row of each step, its boundary scores and
its segments.

Rescaled videos (``rescale_steps``: RTD-Net's ActivityNet setting, MCG-NJU/RTD-Action branch
``ANet``, on BSN's 100-step features). Every video becomes ``rescale_steps`` equal steps over its
span ``D``, step ``k`` covering ``[k, k+1) * D / rescale_steps`` seconds (``Timebase.rescaled``),
whatever its length; ``step_frames`` is then unused. ``D`` is the video's duration, or the end of
its last snippet where the features stop short of it (BSN's ``corrected_second``, RTD-Net's
``correct_seconds``: the span the features describe). A step's feature is BSN's ``poolData``: the
mean of the features' linear interpolation (between snippet centres) at three evenly spaced times
over the step, kept within the first and last centre; a step wholly before the first centre or after
the last is zeros (a video of under ``rescale_steps / 2`` snippets has such steps at both ends), a
video of one snippet repeats it. Boundary scores are resampled the same way. Segments are clipped to
``[0, D]`` (a segment starting at or after ``D`` is dropped), so with ``rescale_steps ==
window_steps`` a video is one window, all steps real, its targets every segment in units of ``D``
(the reference's ``min(1, t / D)``), and boxes map back to seconds by ``D``. A larger
``rescale_steps`` cuts windows from the rescaled steps as ``nemi.windows.grid`` says. The resampled
rows are made once per video when the windows are built (``rescale_steps x F`` float32: 0.8 MB at
100 x 2048, about a millisecond), the one place features are copied rather than sliced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse

from nemi.errors import NemiInputError
from nemi.io.timebase import Timebase, snippet_count, time_to_frame
from nemi.log import logger
from nemi.windows.grid import WindowParams, first_frame_centres
from nemi.windows.prior import boundary_on_grid, checked_scores


class VideoFeatures(NamedTuple):
    features: np.ndarray   # (T, F) float32, held by reference, never copied
    timebase: Timebase
    duration_s: float


@dataclass(frozen=True, eq=False)
class VideoSteps:
    """One video on its step grid. ``rows[k]`` is the feature row of step ``k``; nothing is copied per step."""

    video_id: str
    features: np.ndarray      # (T, F) the video's features as given
    rows: np.ndarray          # (n_steps,) int64
    boundary: np.ndarray      # (n_steps, 2) float32 start/end on the step grid, not normalised
    grid: Timebase            # the step grid
    duration_s: float
    segments: np.ndarray      # (N, 2) float64 seconds (start, end)
    labels: np.ndarray        # (N,) int64
    rescaled: bool            # on a rescaled grid: the grid ends where the video's span does, targets clipped to it

    @property
    def n_steps(self) -> int:
        return len(self.rows)

    def cells(self, t_s: np.ndarray) -> np.ndarray:
        """Seconds -> cell coordinates on this video's step grid."""
        return np.asarray(self.grid.time_to_cell(np.asarray(t_s, dtype=np.float64)))


def video_steps(video_id: str, vf: VideoFeatures, params: WindowParams, annotation, boundary) -> VideoSteps:
    """The video on ``params``' step grid, its features, duration, scores and segments checked first."""
    feats, tb, duration_s = vf.features, vf.timebase, float(vf.duration_s)
    if not isinstance(feats, np.ndarray) or feats.ndim != 2 or len(feats) == 0:
        raise NemiInputError(f"video {video_id}: features must be a non-empty (T, F) array, "
                             f"not {getattr(feats, 'shape', type(feats))}")
    if not np.isfinite(feats).all():
        bad = np.flatnonzero(~np.isfinite(feats).all(axis=1))
        raise NemiInputError(f"video {video_id}: features hold NaN or Inf (rows {bad[:5].tolist()}...)")
    if not duration_s > 0:
        raise NemiInputError(f"video {video_id}: duration must be > 0 s, not {duration_s}")
    if params.rescale_steps is not None:
        return _rescaled_steps(video_id, feats, tb, duration_s, params.rescale_steps, annotation, boundary)
    if params.step_frames is None:
        grid, rows = tb, np.arange(len(feats), dtype=np.int64)
    else:
        grid = Timebase.steps(tb.fps, params.step_frames)
        n_frames = int(round(time_to_frame(duration_s, tb.fps)))
        n_steps = snippet_count(n_frames, params.step_frames)
        rows = np.clip(tb.nearest_index(first_frame_centres(n_steps, params.step_frames, tb.fps)),
                       0, len(feats) - 1)
    segments, labels = _segments(video_id, annotation, duration_s)
    return VideoSteps(video_id, feats, rows, boundary_on_grid(video_id, boundary, grid, len(rows), params),
                      grid, duration_s, segments, labels, rescaled=False)


def _rescaled_steps(video_id: str, feats: np.ndarray, tb: Timebase, duration_s: float, n_steps: int,
                    annotation, boundary) -> VideoSteps:
    span_s = min(duration_s, float(tb.cell_to_time(len(feats))))
    if not span_s > 0:
        raise NemiInputError(f"video {video_id}: its features end at {span_s} s, before the video starts")
    grid = Timebase.rescaled(span_s, n_steps)
    if boundary is None:
        scores = np.ones((n_steps, 2), np.float32)
    else:
        scores, btb = checked_scores(video_id, boundary)
        if not (btb == grid and len(scores) == n_steps):
            scores = resample_steps(scores, btb, grid, n_steps)
    segments, labels = _segments(video_id, annotation, span_s)
    segments = np.minimum(segments, span_s)
    return VideoSteps(video_id, resample_steps(feats, tb, grid, n_steps), np.arange(n_steps, dtype=np.int64),
                      scores, grid, duration_s, segments, labels, rescaled=True)


def resample_steps(values: np.ndarray, tb: Timebase, grid: Timebase, n_steps: int) -> np.ndarray:
    """(T, C) rows on ``tb`` -> (n_steps, C) float32, one per step of ``grid``: BSN's ``poolData``.

    Step ``k`` (``[k, k+1)`` on ``grid``) takes the mean of the rows' linear interpolation at the
    step's start, middle and end, each kept within the first and last row's centre; a step wholly
    before the first centre or after the last is zeros; a single row fills every step.
    """
    values = np.asarray(values, dtype=np.float32)
    n = len(values)
    if n == 1:
        return np.repeat(values, n_steps, axis=0)
    bounds = np.asarray(tb.time_to_index(np.asarray(grid.cell_to_time(np.arange(n_steps + 1, dtype=np.float64)))))
    lo, hi = bounds[:-1], bounds[1:]
    outside = (hi < 0) | (lo > n - 1)
    lo, hi = np.clip(lo, 0, n - 1), np.clip(hi, 0, n - 1)
    at = lo[:, None] + (hi - lo)[:, None] * np.array([0.0, 0.5, 1.0])   # (n_steps, 3) fractional rows
    first = np.minimum(np.floor(at).astype(np.int64), n - 2)
    w = np.where(outside[:, None], 0.0, (at - first) / 3)
    # Each step is a weighted sum of at most six rows: one sparse product, never (n_steps, 3, C) in memory.
    steps = np.repeat(np.arange(n_steps), 6)
    cols = np.stack([first, first + 1], axis=-1).reshape(-1)
    weights = np.stack([np.where(outside[:, None], 0.0, 1 / 3 - w), w], axis=-1).reshape(-1)
    pooling = scipy.sparse.csr_matrix((weights.astype(np.float32), (steps, cols)), shape=(n_steps, n))
    return np.asarray(pooling @ values, dtype=np.float32)


def _segments(video_id: str, annotation, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    if annotation is None:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    segs, labels = annotation
    segs = np.asarray(segs, dtype=np.float64).reshape(-1, 2)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(segs):
        raise NemiInputError(f"video {video_id}: {len(segs)} segments but {len(labels)} labels")
    if not np.isfinite(segs).all() or (segs[:, 0] < 0).any() or (segs[:, 1] <= segs[:, 0]).any():
        raise NemiInputError(f"video {video_id}: segments must be finite with 0 <= start < end")
    outside = segs[:, 0] >= duration_s
    if outside.any():
        # Thumos14's own files hold such segments (video_test_0000270 has 22): they can never be a
        # window's target, so they go with a warning rather than stopping the run.
        logger.warning("video %s: %d of %d segments start after the video's end (%.2f s); left out",
                       video_id, int(outside.sum()), len(segs), duration_s)
    return segs[~outside], labels[~outside]
