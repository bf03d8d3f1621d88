"""Windows on RTD-Net's step grid: index records built once, features sliced on access.

The reference is RTD-Action (MCG-NJU, ``main`` @ a1b357e), ``datasets/thumos14.py``.

Steps. A step is ``step_frames`` frames of the video (RTD-Net: 5): step ``k`` covers
frames ``[k*s, (k+1)*s)`` and takes the feature of the snippet that holds its first frame
``k*s`` (the reference's ``frame // 8``; here the feature whose centre is nearest that
frame's centre, through the features' Timebase). With ``step_frames=None`` a step is a
snippet. A video has ``ceil(frames / step_frames)`` steps. In cell coordinates (step
``k`` occupies ``[k, k+1)``) a window of ``W`` steps starting at step ``b`` is ``[b, b+W)``
and its window units are ``u = (cell - b) / W``: the reference's
``(frame - base) / (window_size * interval)``.

Windows. A video of ``n <= W`` steps is one window, padded to ``W`` (the mask marks the
real steps). Otherwise, with stride ``s``, starts are ``0, s, 2s, ...`` up to
``(n // W - 1) * W`` (the reference's ``range((n // W - 1) * ratio + 1)`` with ``ratio =
W // s``), plus ``n - W``, the window ending at the video's end. That last start repeats
the one before it when ``n`` is a multiple of ``W``; the reference keeps both and so do
we, so that window counts match it.

Targets. A segment belongs to a window only when it lies entirely inside, by the
reference's test ``start >= frame of the first step`` and ``end <= frame of the last
step`` (the last step's first frame, so in window units ``0 <= u_start`` and ``u_end <=
(W-1)/W``). A padded window (short video) takes every segment of the video, as the
reference does. Training keeps only windows with at least one target.

Padding follows the reference, so a released checkpoint sees what it saw: padded steps
repeat the feature of frame 0 and have boundary scores 0, and the min-max normalisation
of the boundary scores runs over the whole window, padding included. A constant channel
(no boundary information, or all padding) becomes ones, the ``none`` prior, where the
reference divides by zero.

Rescaled videos (``rescale_steps``: RTD-Net's ActivityNet setting, MCG-NJU/RTD-Action branch
``ANet``, on BSN's 100-step features). Every video becomes ``rescale_steps`` equal steps over
its span ``D``, step ``k`` covering ``[k, k+1) * D / rescale_steps`` seconds
(``Timebase.rescaled``), whatever its length; ``step_frames`` is then unused. ``D`` is the
video's duration, or the end of its last snippet where the features stop short of it (BSN's
``corrected_second``, RTD-Net's ``correct_seconds``: the span the features describe). A step's
feature is BSN's ``poolData``: the mean of the features' linear interpolation (between snippet
centres) at three evenly spaced times over the step, kept within the first and last centre;
a step wholly before the first centre or after the last is zeros (a video of under
``rescale_steps / 2`` snippets has such steps at both ends), a video of one snippet repeats
it. Boundary scores are resampled the same way. Segments are clipped to ``[0, D]`` (a segment
starting at or after ``D`` is dropped), so with ``rescale_steps == window_steps`` a video is
one window, all steps real, its targets every segment in units of ``D`` (the reference's
``min(1, t / D)``), and boxes map back to seconds by ``D``. A larger ``rescale_steps`` cuts
windows from the rescaled steps as above. The resampled rows are made once per video when the
windows are built (``rescale_steps x F`` float32: 0.8 MB at 100 x 2048, about a millisecond), the
one place features are copied rather than sliced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse
import torch

from nemi.errors import NemiInputError
from nemi.io.timebase import Timebase, frame_to_time, snippet_count, time_to_frame
from nemi.log import logger
from nemi.segments import cw_to_se, se_to_cw

Split = Literal["train", "test"]


@dataclass(frozen=True)
class WindowParams:
    """window_steps: steps per window (100). train_stride / test_stride: steps between window starts (25 / 50).
    step_frames: frames per step (5), or None for one step per snippet.
    rescale_steps: every video resampled to this many equal steps (RTD-Net's ActivityNet: 100), step_frames
    unused; None (the config schema's default; here so that callers of the four-field grid keep it): off."""

    window_steps: int
    train_stride: int
    test_stride: int
    step_frames: int | None
    rescale_steps: int | None = None

    def __post_init__(self) -> None:
        if self.window_steps < 1 or not 1 <= self.train_stride <= self.window_steps \
                or not 1 <= self.test_stride <= self.window_steps:
            raise ValueError(f"need window_steps >= 1 and 1 <= strides <= window_steps, not {self}")
        if self.step_frames is not None and self.step_frames < 1:
            raise ValueError(f"step_frames must be >= 1 or None, not {self.step_frames}")
        if self.rescale_steps is not None and self.rescale_steps < 1:
            raise ValueError(f"rescale_steps must be >= 1 or None, not {self.rescale_steps}")

    def stride(self, split: Split) -> int:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        return self.train_stride if split == "train" else self.test_stride


RECORDED_KEYS = ("window_steps", "train_stride", "test_stride", "step_frames", "rescale_steps")


def recorded_window_params(record: Mapping | None) -> WindowParams:
    """The grid a model file records (its ``windows`` entry), else the schema's training grid.

    A key a model file predates (``rescale_steps``) takes the schema's default, which is what it was
    trained with; a released RTD-Action checkpoint records none and gets RTD-Net's grid.
    """
    from nemi.params import defaults

    grid = {**defaults("train"), "window_steps": defaults("model")["window_steps"]}  # the window is the model's
    w = {**{k: grid[k] for k in RECORDED_KEYS}, **dict(record or {})}
    return WindowParams(**{k: w[k] for k in RECORDED_KEYS})


def file_window_params(obj: Any) -> WindowParams:
    """The grid a loaded model file was trained on: a nemi model.pt's ``windows``; a training checkpoint's
    (``nemi.fit.state``, which a killed run resumes from) is its run's train section with its model's window
    length; a released RTD-Action
    checkpoint, which records none, gets the schema's (RTD-Net's) grid."""
    from nemi.fit.state import FORMAT

    if not isinstance(obj, Mapping):
        return recorded_window_params(None)
    if obj.get("windows") is None and obj.get("format") == FORMAT:
        config = obj["config"]
        return recorded_window_params({**{k: v for k, v in config["train"].items() if k in RECORDED_KEYS},
                                       "window_steps": config["model"]["window_steps"]})
    return recorded_window_params(obj.get("windows"))


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


@dataclass(frozen=True)
class WindowRecord:
    """A window: video, first step, steps inside the video (< window_steps only when padded), target indices."""

    video_id: str
    start: int
    n_valid: int
    targets: tuple[int, ...]


def window_starts(n_steps: int, window_steps: int, stride: int) -> list[int]:
    """First step of every window of a video with ``n_steps`` steps (see the module docstring)."""
    if n_steps <= window_steps:
        return [0]
    last_regular = (n_steps // window_steps - 1) * window_steps
    return list(range(0, last_regular + 1, stride)) + [n_steps - window_steps]


def seconds_to_window(t_s: np.ndarray, grid: Timebase, start: int, window_steps: int) -> np.ndarray:
    """Seconds -> window units of the window starting at step ``start`` (0 = its first step's start)."""
    return (np.asarray(grid.time_to_cell(np.asarray(t_s, dtype=np.float64))) - start) / window_steps


def window_to_seconds(u: np.ndarray, grid: Timebase, start: int, window_steps: int) -> np.ndarray:
    """Window units -> seconds (inverse of seconds_to_window)."""
    return np.asarray(grid.cell_to_time(start + np.asarray(u, dtype=np.float64) * window_steps))


def boxes_to_seconds(boxes_cw: np.ndarray | torch.Tensor, grid: Timebase, start: int,
                     window_steps: int) -> np.ndarray:
    """A window's predicted (centre, length) boxes -> (start, end) seconds, (N, 2) float64.

    Clipped to the window first, as the reference's ``prop_cl_to_se`` does.
    """
    if isinstance(boxes_cw, torch.Tensor):
        boxes_cw = boxes_cw.detach().cpu().double().numpy()
    se = np.clip(cw_to_se(np.asarray(boxes_cw, dtype=np.float64)), 0.0, 1.0)
    return window_to_seconds(se, grid, start, window_steps)


def minmax_per_window(scores: np.ndarray) -> np.ndarray:
    """(W, C) -> each channel min-max scaled to [0, 1]; a constant channel becomes ones."""
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    span = hi - lo
    flat = span <= 0
    out = (scores - lo) / np.where(flat, 1.0, span)
    out[:, flat] = 1.0
    return out.astype(np.float32)


def _video_steps(video_id: str, vf: VideoFeatures, params: WindowParams, annotation, boundary) -> VideoSteps:
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
        rows = np.clip(tb.nearest_index(_first_frame_centres(n_steps, params.step_frames, tb.fps)),
                       0, len(feats) - 1)
    segments, labels = _segments(video_id, annotation, duration_s)
    return VideoSteps(video_id, feats, rows, _boundary_on_grid(video_id, boundary, grid, len(rows), params),
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
        scores, btb = _checked_scores(video_id, boundary)
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


def _first_frame_centres(n_steps: int, step_frames: int, fps: float) -> np.ndarray:
    return np.asarray(frame_to_time(np.arange(n_steps, dtype=np.float64) * step_frames + 0.5, fps))


def _boundary_on_grid(video_id: str, boundary, grid: Timebase, n_steps: int, params: WindowParams) -> np.ndarray:
    """The video's (start, end) scores on the step grid: each step takes the score row that holds its frame."""
    if boundary is None:
        return np.ones((n_steps, 2), np.float32)
    scores, btb = _checked_scores(video_id, boundary)
    if btb == grid and len(scores) == n_steps:
        return scores
    if params.step_frames is None:
        times = np.asarray(grid.index_to_time(np.arange(n_steps, dtype=np.float64)))
    else:
        times = _first_frame_centres(n_steps, params.step_frames, grid.fps)
    return scores[np.clip(btb.nearest_index(times), 0, len(scores) - 1)]


def _checked_scores(video_id: str, boundary) -> tuple[np.ndarray, Timebase]:
    scores, btb = boundary
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[1] != 2 or len(scores) == 0:
        raise NemiInputError(f"video {video_id}: boundary scores must be (N, 2) start/end, not {scores.shape}")
    if not np.isfinite(scores).all():
        raise NemiInputError(f"video {video_id}: boundary scores hold NaN or Inf")
    return scores, btb


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


def build_windows(features: Mapping[str, VideoFeatures | tuple], params: WindowParams, split: Split,
                  annotations: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                  boundary: Mapping[str, tuple[np.ndarray, Timebase]] | None = None,
                  video_ids: Sequence[str] | None = None) -> WindowDataset:
    """Index every window of ``split`` over in-memory per-video arrays.

    features: video_id -> (features (T, F), Timebase, duration_s).
    annotations: video_id -> (segments (N, 2) seconds, labels (N,)); required for every training video.
    boundary: video_id -> (start/end scores (N, 2), their Timebase); None: ones (the ``none`` prior).
    """
    stride = params.stride(split)
    videos: dict[str, VideoSteps] = {}
    records: list[WindowRecord] = []
    for vid in (sorted(features) if video_ids is None else video_ids):
        if vid not in features:
            raise NemiInputError(f"video {vid}: no features")
        ann = None if annotations is None else annotations.get(vid)
        if split == "train" and (ann is None or len(np.asarray(ann[0]).reshape(-1, 2)) == 0):
            raise NemiInputError(f"training video {vid} has no annotation")
        b = None if boundary is None else boundary.get(vid)
        if boundary is not None and b is None:
            raise NemiInputError(f"video {vid}: no boundary scores")
        v = _video_steps(vid, VideoFeatures(*features[vid]), params, ann, b)
        videos[vid] = v
        records.extend(_records(v, params.window_steps, stride, split))
    logger.info("%s windows: %d from %d videos", split, len(records), len(videos))
    return WindowDataset(videos, records, params.window_steps)


def _records(v: VideoSteps, window_steps: int, stride: int, split: Split) -> list[WindowRecord]:
    cells = v.cells(v.segments)
    out = []
    for start in window_starts(v.n_steps, window_steps, stride):
        if v.n_steps <= window_steps:
            inside = np.arange(len(cells))
        else:
            # Reference: anno_start >= frame of the first step and anno_end <= frame of the last step.
            eps = 1e-9 * max(1.0, v.n_steps)
            inside = np.flatnonzero((cells[:, 0] >= start - eps) & (cells[:, 1] <= start + window_steps - 1 + eps))
        if split == "train" and len(inside) == 0:
            continue
        out.append(WindowRecord(v.video_id, start, min(window_steps, v.n_steps - start), tuple(inside.tolist())))
    return out


class WindowDataset(torch.utils.data.Dataset):
    """Windows as index records over per-video step arrays; a window is sliced when asked for.

    ``window(i)`` gives the NumPy arrays of one window; a subclass (NEMI's pretraining) can
    splice steps of several windows or videos in ``__getitem__`` through ``videos`` and
    ``steps(video_id, step_indices)``.
    """

    def __init__(self, videos: dict[str, VideoSteps], records: list[WindowRecord], window_steps: int) -> None:
        self.videos, self.records, self.window_steps = videos, records, window_steps

    def __len__(self) -> int:
        return len(self.records)

    def steps(self, video_id: str, step_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features (K, F) float32, raw boundary (K, 2)) of the given steps of a video."""
        v = self.videos[video_id]
        return np.asarray(v.features[v.rows[step_indices]], dtype=np.float32), v.boundary[step_indices]

    def step_indices(self, i: int) -> np.ndarray:
        """(W,) the step of the video at each window position; padding repeats step 0, as the reference."""
        r = self.records[i]
        idx = np.zeros(self.window_steps, np.int64)
        idx[:r.n_valid] = np.arange(r.start, r.start + r.n_valid)
        return idx

    def window(self, i: int) -> dict:
        r = self.records[i]
        v = self.videos[r.video_id]
        idx = self.step_indices(i)
        feats, bound = self.steps(r.video_id, idx)
        mask = np.zeros(self.window_steps, bool)
        mask[:r.n_valid] = True
        bound = np.where(mask[:, None], bound, 0.0)
        seg_u = seconds_to_window(v.segments, v.grid, r.start, self.window_steps).reshape(-1, 2)
        tgt = seg_u[list(r.targets)].reshape(-1, 2)
        if v.rescaled:  # seconds already end at the span: this only absorbs rounding past 1
            tgt = np.clip(tgt, 0.0, 1.0)
        overlapping = (seg_u[:, 1] > 0) & (seg_u[:, 0] < 1)
        return {
            "video_id": r.video_id, "start": r.start, "features": feats,
            "boundary": minmax_per_window(bound), "mask": mask,
            "boxes": se_to_cw(tgt).astype(np.float32), "labels": v.labels[list(r.targets)],
            # Every segment that meets the window, unclipped: the boundary prior's labels need them.
            "segments": seg_u[overlapping].astype(np.float32),
        }

    def __getitem__(self, i: int) -> dict:
        return self.window(i)

    def to_seconds(self, i: int, boxes_cw: np.ndarray | torch.Tensor) -> np.ndarray:
        """Window ``i``'s (centre, length) boxes -> (start, end) seconds."""
        r = self.records[i]
        return boxes_to_seconds(boxes_cw, self.videos[r.video_id].grid, r.start, self.window_steps)


def collate(batch: list[dict]) -> dict:
    """features (B, W, F), boundary (B, W, 2), mask (B, W) bool (True: a real step), targets
    [{"boxes": (N, 2) centre/length in window units, "labels": (N,)}], plus video_id, start, segments."""
    return {
        "features": torch.from_numpy(np.stack([b["features"] for b in batch])),
        "boundary": torch.from_numpy(np.stack([b["boundary"] for b in batch])),
        "mask": torch.from_numpy(np.stack([b["mask"] for b in batch])),
        "targets": [{"boxes": torch.from_numpy(b["boxes"]), "labels": torch.from_numpy(b["labels"])} for b in batch],
        "video_id": [b["video_id"] for b in batch],
        "start": torch.tensor([b["start"] for b in batch], dtype=torch.long),
        "segments": [torch.from_numpy(b["segments"]) for b in batch],
    }


class Indexed(torch.utils.data.Dataset):
    """A WindowDataset whose items also carry their own index (to map boxes back to seconds)."""

    def __init__(self, windows: WindowDataset) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        return {**self.windows[i], "index": i}


def collate_indexed(batch: list[dict]) -> dict:
    """``collate`` plus ``index`` (B,), each window's position in its dataset."""
    return {**collate(batch), "index": torch.tensor([b["index"] for b in batch], dtype=torch.long)}
