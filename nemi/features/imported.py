"""``nemi features import``: published per-video features -> the feature-shard layout.

Two formats, one file per video, each a (T, 2048) array, RGB 1024 then flow 1024:

- ``actionformer``: ``<video_id>.npy`` (ActionFormer / CMCS Thumos14 I3D features,
  numpy). Published with stride 4 and 16-frame clips on the 30 fps video.
- ``rtd``: ``<video_id>`` (no extension; ``<video_id>.pt`` is accepted too), a tensor
  saved with ``torch.save``; RTD-Net's loader reads it with ``torch.load`` and maps
  frame ``f`` to row ``f // 8``, squeezing each row, so (T, 1, 2048) is accepted.

Stride, clip length and offset are not in the files: they come from the config and
define the time base (:mod:`nemi.io.timebase`). Each video records the original
file's path and sha256.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from nemi.errors import NemiInputError
from nemi.io.features import FEATURE_DIM, STREAM_DIM, FeatureShardWriter
from nemi.io.atomic import atomic_output
from nemi.io.provenance import provenance, sha256_file
from nemi.io.timebase import Timebase

log = logging.getLogger("nemi.features.imported")

FORMATS = ("actionformer", "rtd")
VERSION = 1


def feature_file(source_dir: Path, video_id: str, fmt: str) -> Path:
    """The file that holds ``video_id``'s features; NemiInputError naming the path(s) tried when absent."""
    if fmt == "actionformer":
        candidates = [source_dir / f"{video_id}.npy"]
    elif fmt == "rtd":
        candidates = [source_dir / video_id, source_dir / f"{video_id}.pt"]
    else:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    for c in candidates:
        if c.is_file():
            return c
    raise NemiInputError(f"{' or '.join(map(str, candidates))}: feature file for video {video_id!r} not found "
                         f"({fmt} format)")


def read_feature_file(path: Path, fmt: str) -> np.ndarray:
    """(T, 2048) float32 from one published file; NemiInputError naming the file when misshapen."""
    try:
        if fmt == "actionformer":
            arr = np.load(path, allow_pickle=False)
        else:
            import torch

            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(obj, torch.Tensor):
                raise NemiInputError(f"{path}: expected a tensor saved with torch.save, found {type(obj).__name__}")
            arr = obj.float().numpy()
    except NemiInputError:
        raise
    except Exception as err:  # numpy / torch raise many types for a damaged file
        raise NemiInputError(f"{path}: cannot read {fmt} features ({type(err).__name__}: {err})") from err
    if arr.ndim == 3 and arr.shape[1] == 1:  # RTD-Net squeezes each row
        arr = arr[:, 0, :]
    if arr.ndim != 2 or arr.shape[1] != FEATURE_DIM or arr.shape[0] < 1:
        raise NemiInputError(f"{path}: features must be (T, {FEATURE_DIM}) with T >= 1 (RGB then flow), "
                             f"found shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.number):
        raise NemiInputError(f"{path}: features must be numbers, found dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise NemiInputError(f"{path}: features hold NaN or infinite values")
    return arr


def import_features(source_dir: str | os.PathLike, fmt: str, video_ids: list[str], out_path: str | os.PathLike, *,
                    fps: float | dict[str, float], stride_frames: int, window_frames: int,
                    offset_frames: float = 0.0, frame_counts: dict[str, int] | None = None) -> None:
    """Write a feature shard for ``video_ids`` from published files in ``source_dir`` (atomically).

    ``fps`` is one value or a per-video mapping (Thumos14 has a few non-30 fps videos);
    ``frame_counts``, when known, is recorded, else estimated as the frames the
    features cover.
    """
    source_dir = Path(source_dir)
    if fmt not in FORMATS:
        raise NemiInputError(f"features.import_format: must be one of {FORMATS}, not {fmt!r}")
    if not source_dir.is_dir():
        raise NemiInputError(f"{source_dir}: feature directory (features.import_dir) not found")
    if not video_ids:
        raise NemiInputError(f"{source_dir}: no videos to import")
    # Check every file before writing anything: a bad file fails fast and names itself.
    files = {vid: feature_file(source_dir, vid, fmt) for vid in video_ids}
    params = {"format": fmt, "stride_frames": stride_frames, "window_frames": window_frames,
              "offset_frames": offset_frames, "version": VERSION, "source_dir": str(source_dir.resolve())}
    root = {**provenance("features_import"), "source": "imported", "params_json": json.dumps(params, sort_keys=True)}
    with atomic_output(out_path) as tmp, FeatureShardWriter(tmp, root) as writer:
        for vid in video_ids:
            path = files[vid]
            feats = read_feature_file(path, fmt)
            vfps = float(fps[vid] if isinstance(fps, dict) else fps)
            timebase = Timebase(fps=vfps, stride_frames=stride_frames, window_frames=window_frames,
                                offset_frames=offset_frames)
            n = len(feats)
            if frame_counts and vid in frame_counts:
                frame_count, fc_source = int(frame_counts[vid]), "manifest"
            else:
                frame_count = timebase.frames_covered(n)
                fc_source = "estimated: frames the features cover, offset + (T-1)*stride + window"
            attrs = {"source": "imported", "import_format": fmt, "source_file": str(path.resolve()),
                     "source_sha256": sha256_file(path), "snippet_frames": stride_frames, "frame_count": frame_count,
                     "frame_count_source": fc_source, "padded_frames": 0,
                     "nemi_version": root["nemi_version"], "params_json": root["params_json"]}
            writer.add_video(vid, feats[:, :STREAM_DIM], feats[:, STREAM_DIM:], timebase, attrs)
            log.info("imported %s: %d features from %s", vid, n, path)
