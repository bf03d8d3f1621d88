"""The train stage's data source: annotations as targets, the training split less a held-out part.

Features and boundary scores are read by ``nemi.io`` (once per run, into memory); here are the
ground-truth CSV (``nemi.io.tables``) and the manifest's ``split`` column. Proposals are
class-agnostic, so every segment gets label 0, and Thumos14's Ambiguous spans are targets too: RTD-Action's
loader keeps them (they are in its ``thumos14_anno_action.json``), and its window counts are only reached
with them (tests/test_rtd_windows.py). Evaluation and held-out selection still drop them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nemi.errors import NemiInputError
from nemi.fit.holdout import split_holdout
from nemi.io.tables import read_ground_truth
from nemi.log import logger
from nemi.windows.dataset import WindowDataset, build_windows
from nemi.windows.grid import WindowParams
from nemi.windows.steps import VideoFeatures

Annotations = dict[str, tuple[np.ndarray, np.ndarray]]


def read_annotations(gt_path: str | os.PathLike) -> Annotations:
    """video_id -> (segments (N, 2) seconds, labels (N,) zeros), Ambiguous spans included; zero-length
    segments left out with a warning."""
    gt = read_ground_truth(gt_path, keep_ambiguous=True)
    out: Annotations = {}
    empty = 0
    for vid, g in gt.groupby("video_id", sort=True):
        segs = g[["t_start", "t_end"]].to_numpy(np.float64)
        keep = segs[:, 1] > segs[:, 0]
        empty += int((~keep).sum())
        out[str(vid)] = (segs[keep], np.zeros(int(keep.sum()), np.int64))
    if empty:
        logger.warning("%s: %d zero-length segment(s) left out (no window can hold them)", gt_path, empty)
    return out


@dataclass(frozen=True)
class TrainingVideos:
    train: list[str]       # videos the model trains on
    holdout: list[str]     # training-split videos held out for model selection
    unannotated: list[str]  # training-split videos without a segment: left out, counted


def training_videos(splits: dict[str, str], annotations: Annotations, share: float, seed: int,
                    split: str = "train") -> TrainingVideos:
    """The training split less its unannotated videos, a seeded ``share`` of it held out (at least one when > 0)."""
    in_split = sorted(v for v, s in splits.items() if s == split)
    if not in_split:
        raise NemiInputError(f"no video of split {split!r} in the manifest")
    annotated = [v for v in in_split if v in annotations and len(annotations[v][0])]
    unannotated = sorted(set(in_split) - set(annotated))
    if unannotated:
        # A video with no segment gives no training window (RTD-Net keeps windows with a target),
        # so it is left out and counted rather than refused: the run records how many.
        logger.warning("%d training video(s) have no annotation and are left out: %s", len(unannotated),
                       ", ".join(unannotated[:5]) + (" ..." if len(unannotated) > 5 else ""))
    if not annotated:
        raise NemiInputError(f"none of the {len(in_split)} videos of split {split!r} has an annotation")
    train, hold = split_holdout(annotated, share, seed)
    return TrainingVideos(train, hold, unannotated)


def windows_for(videos: Sequence[str], features: dict[str, VideoFeatures], params: WindowParams, split: str,
                annotations: Annotations | None, boundary) -> WindowDataset:
    return build_windows({v: features[v] for v in videos}, params, split,  # type: ignore[arg-type]
                         annotations=annotations, boundary=boundary, video_ids=list(videos))
