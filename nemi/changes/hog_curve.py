"""HOG change curves: d_t = mean |H_{t+1} - H_t| between neighbouring frames.

This is the measurement behind UntrimmedNets' shot boundaries (MHLfuncs
``ML_VidShot.detectCuts``): each RGB frame resized to 96x128 (rows x cols), values
0..255, VLFeat UoCTTI HOG with 8-pixel cells (12x16x31 = 5952 values), and the mean
absolute difference of consecutive descriptors. MATLAB's ``imresize`` (bicubic,
antialiased) is approximated by OpenCV's area interpolation, which also averages
over the source pixels that fall into each target pixel.

Only the curve is computed here; thresholds are applied by the labels stage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import cv2
import numpy as np

from nemi.changes.curves import ChangeCurve, write_curves
from nemi.hog import hog
from nemi.io.frames import FrameShardReader
from nemi.io.provenance import provenance, sha256_file
from nemi.log import Progress


VERSION = 1  # bump when the curve's numbers change meaning; the rule reruns on it

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


def hog_curves_for_shard(frames_path: str | os.PathLike, out_path: str | os.PathLike, *,
                         cell_px: int, height_px: int, width_px: int) -> None:
    """Compute the HOG curve of every video in a frame shard into one change-curve file."""
    params = {"cell_px": cell_px, "height_px": height_px, "width_px": width_px,
              "descriptor": "vlfeat-uoctti-hog", "distance": "mean-abs-diff"}
    curves: dict[str, ChangeCurve] = {}
    with FrameShardReader(frames_path) as reader:
        ids = reader.video_ids()
        progress = Progress("changes hog", len(ids))
        for vid in ids:
            info = reader.info(vid)
            d = hog_distance_curve(reader.iter_frames(vid), cell_px=cell_px, height_px=height_px,
                                   width_px=width_px, on_frames=progress.frames)
            fps = info.target_fps
            # d[k] compares frames k and k+1: the boundary sits where frame k+1 begins.
            curves[vid] = ChangeCurve(
                distance=d, t_s=np.arange(1, len(d) + 1, dtype=np.float64) / fps, n_steps=info.frame_count,
                step_s=1.0 / fps, duration_s=info.frame_count / fps,
                attrs={"fps": fps, "frames_per_step": 1, "source_path": info.source_path,
                       "video_duration_s": float(info.duration_s)},  # labels clip to it
            )
            progress.video_done(vid)
        progress.close()
    root = {**provenance("changes_hog"), "params_json": json.dumps(params, sort_keys=True),
            "input_path": str(frames_path), "input_sha256": sha256_file(frames_path)}
    write_curves(out_path, "hog", curves, root)
