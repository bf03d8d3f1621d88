"""A dataset's features, boundary scores and annotations, read once into memory, as RTD-Net windows.

Inputs are the files the workflow makes: feature shards (``nemi.io.features``), one boundary-score
file (``nemi.io.boundary``), the ground-truth CSV (``nemi.io.tables``) and the manifest (its
``split`` column). Proposals are class-agnostic, so every segment gets label 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nemi.errors import NemiInputError
from nemi.io.boundary import read_boundary
from nemi.io.features import FeatureShardReader
from nemi.io.manifest import read_manifest
from nemi.io.tables import read_ground_truth
from nemi.io.timebase import Timebase, frame_to_time
from nemi.log import logger
from nemi.windows import VideoFeatures, WindowDataset, WindowParams, build_windows, collate

Annotations = dict[str, tuple[np.ndarray, np.ndarray]]


def read_features(paths: Sequence[str | os.PathLike], video_ids: Sequence[str] | None = None
                  ) -> dict[str, VideoFeatures]:
    """video_id -> (features (T, 2048) float32 in memory, Timebase, duration_s), every video read once."""
    want = None if video_ids is None else set(video_ids)
    out: dict[str, VideoFeatures] = {}
    for path in paths:
        with FeatureShardReader(path) as reader:
            for vid in reader.video_ids():
                if want is not None and vid not in want:
                    continue
                tb = reader.timebase(vid)
                feats = reader.features(vid)
                frames = reader.attrs(vid).get("frame_count")
                # A video's end: its frame count where recorded, else the end of its last snippet.
                duration = (float(frame_to_time(int(frames), tb.fps)) if frames is not None
                            else float(tb.boundaries(len(feats))[-1]))
                out[vid] = VideoFeatures(feats, tb, duration)
    if want is not None and want - set(out):
        raise NemiInputError(f"no features for video(s) {sorted(want - set(out))[:5]} in {list(map(str, paths))}")
    return out


def read_boundary_inputs(path: str | os.PathLike) -> tuple[str, dict[str, tuple[np.ndarray, Timebase]]]:
    """(prior kind, video_id -> ((N, 2) start/end scores, their Timebase))."""
    root, scores = read_boundary(path)
    return str(root.get("kind")), {vid: (s.start_end(), s.timebase) for vid, s in scores.items()}


def read_annotations(gt_path: str | os.PathLike) -> Annotations:
    """video_id -> (segments (N, 2) seconds, labels (N,) zeros); zero-length segments left out with a warning."""
    gt = read_ground_truth(gt_path)
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


def read_splits(manifest: str | os.PathLike) -> dict[str, str]:
    df = read_manifest(manifest)
    if "split" not in df.columns:
        raise NemiInputError(f"{manifest}: the manifest has no split column")
    return dict(zip(df["video_id"].astype(str), df["split"].astype(str)))


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
    n_hold = 0 if share <= 0 else max(1, int(round(share * len(annotated))))
    if n_hold >= len(annotated):
        raise NemiInputError(f"holdout_share {share} leaves no training video ({len(annotated)} annotated)")
    order = np.random.default_rng(seed).permutation(len(annotated))
    hold = sorted(annotated[i] for i in order[:n_hold])
    return TrainingVideos(sorted(set(annotated) - set(hold)), hold, unannotated)


class Indexed(torch.utils.data.Dataset):
    """A WindowDataset whose items also carry their own index (to map boxes back to seconds)."""

    def __init__(self, windows: WindowDataset) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        return {**self.windows[i], "index": i}


def collate_indexed(batch: list[dict]) -> dict:
    return {**collate(batch), "index": torch.tensor([b["index"] for b in batch], dtype=torch.long)}


def windows_for(videos: Sequence[str], features: dict[str, VideoFeatures], params: WindowParams, split: str,
                annotations: Annotations | None, boundary) -> WindowDataset:
    return build_windows({v: features[v] for v in videos}, params, split,  # type: ignore[arg-type]
                         annotations=annotations, boundary=boundary, video_ids=list(videos))
