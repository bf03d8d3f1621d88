"""The windows of a split: index records built once over each video's steps, features sliced on access.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nemi.errors import NemiInputError
from nemi.io.timebase import Timebase
from nemi.log import logger
from nemi.segments import se_to_cw
from nemi.windows.grid import Split, WindowParams, boxes_to_seconds, seconds_to_window, window_starts
from nemi.windows.prior import minmax_per_window
from nemi.windows.steps import VideoFeatures, VideoSteps, video_steps


@dataclass(frozen=True)
class WindowRecord:
    """A window: video, first step, steps inside the video (< window_steps only when padded), target indices."""

    video_id: str
    start: int
    n_valid: int
    targets: tuple[int, ...]


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
        v = video_steps(vid, VideoFeatures(*features[vid]), params, ann, b)
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
