"""The ``hog`` change detector: d_t = mean |H_{t+1} - H_t| between neighbouring frames, and its tau rule.

This is the measurement behind UntrimmedNets' shot boundaries (MHLfuncs
``ML_VidShot.detectCuts``): each RGB frame resized to 96x128 (rows x cols), values
0..255, VLFeat UoCTTI HOG with 8-pixel cells (12x16x31 = 5952 values), and the mean
absolute difference of consecutive descriptors. MATLAB's ``imresize`` (bicubic,
antialiased) is approximated by OpenCV's area interpolation, which also averages
over the source pixels that fall into each target pixel.

Boundary rule (MHLfuncs ``ML_VidShot.detectCuts``, the shot detector whose threshold
UntrimmedNets used): a boundary sits between frames k and k+1 when

    d_k > tau                                            (always)
    d_k > mean_11(d)_k + 1.5 * std_11(d)_k               (with ``local_test``)

where mean_11 / std_11 are taken over an 11-step window centred on k, the curve
mirrored at its ends without repeating the end value (as ``detectCuts`` pads it), and
std is the population standard deviation sqrt(E[d^2] - E[d]^2).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from nemi.detectors.base import ChangeDetector, register
from nemi.detectors.hog.descriptor import hog
from nemi.io.curves import ChangeCurve
from nemi.io.frames import FrameShardReader
from nemi.io.timebase import frame_to_time
from nemi.log import Progress


@dataclass(frozen=True)
class HogCurveParams:
    SECTION: ClassVar[str] = "changes.hog"
    cell_px: int  # vl_hog cell size
    height_px: int  # frames are resized to height_px x width_px before HOG
    width_px: int


@dataclass(frozen=True)
class HogBoundaryParams:
    SECTION: ClassVar[str] = "labels.hog"
    tau: float  # d_t above which a boundary is declared
    local_test: bool  # also require d_t > local mean + local_std_factor * local std
    local_window_frames: int  # odd: centred on the step
    local_std_factor: float
    max_activity_frames: int  # longer activities are split into equal parts
    min_activity_frames: int  # shorter activities are dropped (the config's null: one step of the grid)

    def __post_init__(self) -> None:
        if self.tau < 0 or self.local_std_factor < 0:
            raise ValueError(f"labels.hog.tau must be >= 0 and local_std_factor >= 0, not {self.tau}, "
                             f"{self.local_std_factor}")
        if self.local_test and self.local_window_frames % 2 == 0:
            raise ValueError(f"labels.hog.local_window_frames must be odd, not {self.local_window_frames}")
        if self.min_activity_frames is None:
            # The config's null means one step of the dataset's grid, which only the workflow knows.
            raise ValueError("labels.hog.min_activity_frames is null (one step of the dataset's grid, which "
                             "nemi.datasets.effective_config fills in): give it, e.g. --min-activity-frames 5")
        if min(self.max_activity_frames, self.min_activity_frames, self.local_window_frames) < 1:
            raise ValueError("labels.hog.max_activity_frames, min_activity_frames and local_window_frames must be >= 1")
        if self.min_activity_frames > self.max_activity_frames:
            # Every activity would be dropped or split below the minimum: the labels job would succeed with none.
            raise ValueError(f"labels.hog.min_activity_frames ({self.min_activity_frames}) is above "
                             f"labels.hog.max_activity_frames ({self.max_activity_frames}): no activity could be kept")

def hog_distance_curve(frames: Iterable[np.ndarray], *, cell_px: int = 8, height_px: int = 96,
                       width_px: int = 128, on_frames=None) -> np.ndarray:
    """(N-1,) float32 curve for N RGB uint8 frames; ``on_frames(n)`` reports progress."""
    prev = None
    out: list[float] = []
    n_seen = 0
    for frame in frames:
        small = cv2.resize(frame, (width_px, height_px), interpolation=cv2.INTER_AREA)
        cur = hog(small, cell_size=cell_px)
        if prev is not None:
            out.append(float(np.mean(np.abs(cur - prev))))
        prev = cur
        n_seen += 1
        if on_frames is not None and n_seen % 256 == 0:
            on_frames(256)
    if on_frames is not None:
        on_frames(n_seen % 256)
    return np.asarray(out, dtype=np.float32)


def local_mean_std(d: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std over a centred window, mirrored ends (detectCuts' padding)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, not {window}")
    half = window // 2
    d = np.asarray(d, dtype=np.float64)
    if len(d) == 0:
        return d.copy(), d.copy()
    if len(d) <= half:  # too short to mirror without repeating: fall back to edge padding
        padded = np.pad(d, half, mode="edge")
    else:
        padded = np.pad(d, half, mode="reflect")
    kernel = np.ones(window) / window
    mean = np.convolve(padded, kernel, mode="valid")
    mean_sq = np.convolve(padded * padded, kernel, mode="valid")
    return mean, np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def threshold_boundaries(d: np.ndarray, tau: float, *, local_test: bool = False, local_window: int = 11,
                         local_std_factor: float = 1.5) -> np.ndarray:
    """Boolean mask over d: True where step k+1 starts a new activity."""
    d = np.asarray(d, dtype=np.float64)
    mask = d > tau
    if local_test:
        mean, std = local_mean_std(d, local_window)
        mask &= d > mean + local_std_factor * std
    return mask


@register
class HogDetector(ChangeDetector):
    name = "hog"
    VERSION = 1  # bump when the curve's numbers change meaning; the rule reruns on it
    input = "frames"
    curve_params = HogCurveParams
    boundary_params = HogBoundaryParams

    def curves(self, shard: str | os.PathLike, params: HogCurveParams) -> dict[str, ChangeCurve]:
        out: dict[str, ChangeCurve] = {}
        with FrameShardReader(shard) as reader:
            ids = reader.video_ids()
            progress = Progress("changes hog", len(ids))
            for vid in ids:
                info = reader.info(vid)
                d = hog_distance_curve(reader.iter_frames(vid), cell_px=params.cell_px, height_px=params.height_px,
                                       width_px=params.width_px, on_frames=progress.frames)
                fps = info.target_fps
                # d[k] compares frames k and k+1: the boundary sits where frame k+1 begins.
                out[vid] = ChangeCurve(
                    distance=d, t_s=frame_to_time(np.arange(1, len(d) + 1, dtype=np.float64), fps),
                    n_steps=info.frame_count, step_s=1.0 / fps, duration_s=frame_to_time(info.frame_count, fps),
                    attrs={"fps": fps, "frames_per_step": 1, "source_path": info.source_path,
                           "video_duration_s": float(info.duration_s)},  # labels clip to it
                )
                progress.video_done(vid)
            progress.close()
        return out

    def curve_record(self, params: HogCurveParams) -> dict:
        return {"cell_px": params.cell_px, "height_px": params.height_px, "width_px": params.width_px,
                "descriptor": "vlfeat-uoctti-hog", "distance": "mean-abs-diff"}

    def boundaries(self, distance: np.ndarray, params: HogBoundaryParams) -> np.ndarray:
        return threshold_boundaries(distance, params.tau, local_test=params.local_test,
                                    local_window=params.local_window_frames,
                                    local_std_factor=params.local_std_factor)

    def describe(self, params: HogBoundaryParams) -> dict:
        return {"rule": "hog-threshold", "tau": params.tau, "local_test": params.local_test,
                "local_window_frames": params.local_window_frames, "local_std_factor": params.local_std_factor,
                "max_activity_frames": params.max_activity_frames, "min_activity_frames": params.min_activity_frames}

    def threshold_line(self, distance, mask, params: HogBoundaryParams):
        return params.tau, f"tau = {params.tau:g}"
