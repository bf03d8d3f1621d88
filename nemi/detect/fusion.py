"""Detections from class-agnostic proposals and video-level class scores.

For each video: Gaussian Soft-NMS over its proposals (class-agnostic, continuous
tIoU), the video's top-k classes by class score, detection score = proposal score
x class score, and the best ``max_detections_per_video`` detections kept.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.tables import group_rows
from nemi.segments import soft_nms

log = logging.getLogger("nemi.detect.fusion")

DETECTION_COLUMNS = ["video_id", "t_start", "t_end", "score", "label"]


@dataclass(frozen=True)
class DetectParams:
    SECTION: ClassVar[str] = "detect"
    top_k_classes: int  # classes per video, by video-level class score
    soft_nms_sigma: float  # Gaussian Soft-NMS: score *= exp(-tIoU^2 / sigma); 0 switches it off
    max_detections_per_video: int  # cap after fusing, best scores first

    def __post_init__(self) -> None:
        if self.top_k_classes < 1:
            raise NemiInputError(f"detect.top_k_classes must be >= 1, got {self.top_k_classes}")
        if self.soft_nms_sigma < 0:
            raise NemiInputError(f"detect.soft_nms_sigma must be >= 0, got {self.soft_nms_sigma}")
        if self.max_detections_per_video < 1:
            raise NemiInputError(f"detect.max_detections_per_video must be >= 1, got {self.max_detections_per_video}")


def detections_from_proposals(proposals: pd.DataFrame, class_scores: pd.DataFrame,
                              params: DetectParams) -> pd.DataFrame:
    """Labelled detections (``video_id, t_start, t_end, score, label``), per video best first.

    ``class_scores`` has ``video_id, label, score``; every video with proposals must
    have class scores.
    """
    by_video = {v: g for v, g in class_scores.groupby("video_id", sort=False)}
    missing = sorted(set(proposals["video_id"]) - set(by_video))
    if missing:
        raise NemiInputError(f"no class scores for {len(missing)} video(s) with proposals, e.g. {missing[:5]}")
    seg_all = proposals[["t_start", "t_end"]].to_numpy(np.float64)
    score_all = proposals["score"].to_numpy(np.float64)
    out = []
    for vid, idx in group_rows(proposals["video_id"]).items():
        seg = seg_all[idx]
        keep, s = soft_nms(seg, score_all[idx], params.soft_nms_sigma, params.max_detections_per_video)
        cls = by_video[vid]
        top = np.argsort(-cls["score"].to_numpy(np.float64), kind="stable")[:params.top_k_classes]
        c_score = cls["score"].to_numpy(np.float64)[top]
        c_label = cls["label"].to_numpy()[top]
        fused = (s[:, None] * c_score[None, :]).ravel()
        rows = np.repeat(keep, len(top))
        labels = np.tile(c_label, len(keep))
        best = np.argsort(-fused, kind="stable")[:params.max_detections_per_video]
        out.append(pd.DataFrame({
            "video_id": vid, "t_start": seg[rows[best], 0], "t_end": seg[rows[best], 1],
            "score": fused[best], "label": labels[best],
        }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=DETECTION_COLUMNS)


def read_class_scores(path: str | os.PathLike) -> pd.DataFrame:
    """Class-score CSV ``video_id,label,score`` (the ``nemi classify`` output)."""
    from nemi.io.tables import _check_strings, _numeric, _read_csv

    df = _read_csv(path, ("video_id", "label", "score"))
    df.insert(0, "line", np.arange(2, len(df) + 2))
    _check_strings(path, df, "video_id")
    _check_strings(path, df, "label")
    df["score"] = _numeric(path, df, "score")
    return df[["video_id", "label", "score"]]
