"""The ``cnn`` change detector: how much the I3D feature changes between adjacent snippets.

The curve (cached like the HOG curve, :mod:`nemi.io.curves`, ``kind = "cnn"``)::

    d_k = sum_j |f_{k+1,j} - f_{k,j}|  /  (0.5 * (sum_j |f_{k,j}| + sum_j |f_{k+1,j}|))     metric "relative-l1"

over the 2048-d feature (RGB then flow), k = 0 .. T-2, with ``t_s[k]`` the time
halfway between the two feature centres (for nemi's snippets: where snippet k+1
begins). The Manhattan distance of the paper's Eq. (1), divided by the features'
mean L1 norm, makes the curve scale-free: it compares across weights files, across
extracted and imported features, and a ratio threshold means the same everywhere.
``mean-abs`` (the plain mean |f_{k+1} - f_k|, the HOG curve's distance) is offered too.

Turning a curve into boundaries (:func:`cnn_boundaries`, for the labels stage)
with the paper's ``ratio`` (0.01; the rule itself is not published):

- ``top`` (default): the ``ceil(ratio * (T-1))`` largest changes of the video are
  boundaries (ties broken by the earlier one). With 0.01 a Thumos14 video of ~1000
  snippets gets ~10 boundaries, activities of ~100 snippets.
- ``relative``: every ``d_k > ratio``, i.e. the feature changes by more than ``ratio``
  relative to its magnitude (requires the ``relative-l1`` metric to be meaningful).
  Adjacent I3D snippet features typically differ by far more than 1 %, so with
  0.01 this marks nearly every snippet; use it with a larger ratio.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from nemi.detectors.base import ChangeDetector, register
from nemi.io.curves import ChangeCurve
from nemi.io.features import FeatureShardReader
from nemi.log import Progress

METRICS = ("relative-l1", "mean-abs")
RULES = ("top", "relative")


@dataclass(frozen=True)
class CnnCurveParams:
    SECTION: ClassVar[str] = "changes.cnn"
    metric: str  # relative-l1 | mean-abs

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"changes.cnn.metric must be one of {METRICS}, not {self.metric!r}")


@dataclass(frozen=True)
class CnnBoundaryParams:
    SECTION: ClassVar[str] = "labels.cnn"
    ratio: float  # the paper's ratio
    rule: str  # top: the ceil(ratio*(T-1)) largest changes; relative: every d_k > ratio
    max_activity_frames: int
    min_activity_frames: int

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"labels.cnn.rule must be one of {RULES}, not {self.rule!r}")
        if not self.ratio > 0:
            raise ValueError(f"labels.cnn.ratio must be > 0, not {self.ratio}")
        if self.rule == "top" and self.ratio > 1:
            raise ValueError(f"labels.cnn.ratio is the share of changes marked by rule top, <= 1; got {self.ratio}")
        if self.min_activity_frames is None:
            # The config's null means one step of the dataset's grid, which only the workflow knows.
            raise ValueError("labels.cnn.min_activity_frames is null (one step of the dataset's grid, which "
                             "nemi.datasets.effective_config fills in): give it, e.g. --min-activity-frames 5")
        if min(self.max_activity_frames, self.min_activity_frames) < 1:
            raise ValueError("labels.cnn.max_activity_frames and min_activity_frames must be >= 1")
        if self.min_activity_frames > self.max_activity_frames:
            # Every activity would be dropped or split below the minimum: the labels job would succeed with none.
            raise ValueError(f"labels.cnn.min_activity_frames ({self.min_activity_frames}) is above "
                             f"labels.cnn.max_activity_frames ({self.max_activity_frames}): no activity could be kept")


def cnn_distance(features: np.ndarray, metric: str) -> np.ndarray:
    """(T, D) features -> (T-1,) float32 change between feature k and k+1."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (T, D), not {f.shape}")
    if len(f) < 2:
        return np.zeros(0, dtype=np.float32)
    diff = np.abs(np.diff(f, axis=0))
    if metric == "mean-abs":
        return diff.mean(axis=1).astype(np.float32)
    if metric == "relative-l1":
        norms = np.abs(f).sum(axis=1)
        scale = 0.5 * (norms[:-1] + norms[1:])
        # Two all-zero features did not change at all.
        return np.divide(diff.sum(axis=1), scale, out=np.zeros(len(diff)), where=scale > 0).astype(np.float32)
    raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")


def cnn_boundaries(distance: np.ndarray, ratio: float, rule: str) -> np.ndarray:
    """(T-1,) bool: True where a boundary lies between snippet k and k+1 (see the module doc)."""
    d = np.asarray(distance, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"distance must be 1-D, not {d.shape}")
    if not ratio >= 0:
        raise ValueError(f"ratio must be >= 0, not {ratio}")
    mask = np.zeros(len(d), dtype=bool)
    if rule == "relative":
        return d > ratio
    if rule != "top":
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    if ratio > 1:
        raise ValueError(f"ratio for rule 'top' is a fraction in [0, 1], not {ratio}")
    k = min(len(d), math.ceil(ratio * len(d) - 1e-9))
    if k > 0:
        # Stable sort on -d: among equal values the earlier boundary wins.
        mask[np.argsort(-d, kind="stable")[:k]] = True
    return mask


@register
class CnnDetector(ChangeDetector):
    name = "cnn"
    VERSION = 1
    input = "features"
    curve_params = CnnCurveParams
    boundary_params = CnnBoundaryParams

    def curves(self, shard: str | os.PathLike, params: CnnCurveParams) -> dict[str, ChangeCurve]:
        out: dict[str, ChangeCurve] = {}
        with FeatureShardReader(shard) as reader:
            ids = reader.video_ids()
            progress = Progress("changes cnn", len(ids))
            for vid in ids:
                tb = reader.timebase(vid)
                feats = reader.features(vid)
                a = reader.attrs(vid)
                n = len(feats)
                out[vid] = ChangeCurve(
                    distance=cnn_distance(feats, params.metric), t_s=tb.boundaries(n), n_steps=n,
                    step_s=tb.step_s, duration_s=tb.frames_to_seconds(int(a["frame_count"])),
                    attrs={"fps": tb.fps, "frames_per_step": tb.stride_frames, "window_frames": tb.window_frames,
                           "offset_frames": tb.offset_frames, "feature_source": str(a.get("source", "")),
                           # the decoded video's duration where the features know it (labels clip to it)
                           "video_duration_s": float(a.get("duration_s", 0.0))},
                )
                progress.frames(n * tb.stride_frames)
                progress.video_done(vid)
            progress.close()
        return out

    def curve_record(self, params: CnnCurveParams) -> dict:
        return {"metric": params.metric, "feature": "rgb+flow (2048)", "version": self.VERSION}

    def boundaries(self, distance: np.ndarray, params: CnnBoundaryParams) -> np.ndarray:
        return cnn_boundaries(distance, ratio=params.ratio, rule=params.rule)

    def describe(self, params: CnnBoundaryParams) -> dict:
        return {"rule": f"cnn-{params.rule}", "cnn_rule": params.rule, "ratio": params.ratio,
                "max_activity_frames": params.max_activity_frames, "min_activity_frames": params.min_activity_frames}

    def from_record(self, record: dict) -> CnnBoundaryParams:
        return super().from_record({**record, "rule": record["cnn_rule"]})

    def threshold_line(self, distance, mask, params: CnnBoundaryParams):
        if not mask.any():
            return None
        # The "top" rule has no fixed threshold: show the smallest change it marked.
        level = float(np.asarray(distance)[mask].min())
        return level, f"{params.rule} {params.ratio:g}: d >= {level:.3g}"
