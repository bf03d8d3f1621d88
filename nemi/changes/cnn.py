"""CNN change detection: how much the I3D feature changes between adjacent snippets.

The curve (cached like the HOG curve, :mod:`nemi.changes.curves`, ``kind = "cnn"``)::

    d_k = sum_j |f_{k+1,j} - f_{k,j}|  /  (0.5 * (sum_j |f_{k,j}| + sum_j |f_{k+1,j}|))     metric "relative-l1"

over the 2048-d feature (RGB then flow), k = 0 .. T-2, with ``t_s[k]`` the time
halfway between the two feature centres (for nemi's snippets: where snippet k+1
begins). The Manhattan distance of the paper's Eq. (1), divided by the features'
mean L1 norm, makes the curve scale-free: it compares across weights files, across
extracted and imported features, and a ratio threshold means the same everywhere.
``mean-abs`` (the plain mean |f_{k+1} - f_k|, the HOG curve's distance) is offered too.

Turning a curve into boundaries (:func:`cnn_boundaries`, called by the labels stage)
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

import argparse
import json
import math
import os

import numpy as np

from nemi.changes.curves import ChangeCurve, write_curves
from nemi.io.provenance import provenance, sha256_file
from nemi.log import Progress

VERSION = 1
METRICS = ("relative-l1", "mean-abs")
RULES = ("top", "relative")
DEFAULT_METRIC = "relative-l1"
DEFAULT_RULE = "top"
DEFAULT_RATIO = 0.01


def cnn_distance(features: np.ndarray, metric: str = DEFAULT_METRIC) -> np.ndarray:
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


def cnn_boundaries(distance: np.ndarray, ratio: float = DEFAULT_RATIO, rule: str = DEFAULT_RULE) -> np.ndarray:
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


def cnn_curves_for_shard(features_path: str | os.PathLike, out_path: str | os.PathLike, *,
                         metric: str = DEFAULT_METRIC) -> None:
    """The CNN change curve of every video in a feature shard, into one change-curve file."""
    from nemi.features.shards import FeatureShardReader

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    params = {"metric": metric, "feature": "rgb+flow (2048)", "version": VERSION}
    curves: dict[str, ChangeCurve] = {}
    with FeatureShardReader(features_path) as reader:
        ids = reader.video_ids()
        progress = Progress("changes cnn", len(ids))
        for vid in ids:
            tb = reader.timebase(vid)
            feats = reader.features(vid)
            a = reader.attrs(vid)
            n = len(feats)
            curves[vid] = ChangeCurve(
                distance=cnn_distance(feats, metric), t_s=tb.boundaries(n), n_steps=n,
                step_s=tb.stride_frames / tb.fps, duration_s=int(a["frame_count"]) / tb.fps,
                attrs={"fps": tb.fps, "frames_per_step": tb.stride_frames, "window_frames": tb.window_frames,
                       "offset_frames": tb.offset_frames, "feature_source": str(a.get("source", "")),
                       # the decoded video's duration where the features know it (labels clip to it)
                       "video_duration_s": float(a.get("duration_s", 0.0))},
            )
            progress.frames(n * tb.stride_frames)
            progress.video_done(vid)
        progress.close()
    root = {**provenance("changes_cnn"), "params_json": json.dumps(params, sort_keys=True),
            "input_path": str(features_path), "input_sha256": sha256_file(features_path)}
    write_curves(out_path, "cnn", curves, root)


def _cnn(args: argparse.Namespace) -> int:
    cnn_curves_for_shard(args.features, args.out, metric=args.metric)
    return 0


def register_cli(kinds: argparse._SubParsersAction) -> None:
    """Add ``nemi changes cnn`` (called by :mod:`nemi.changes.cli`)."""
    c = kinds.add_parser("cnn", help="CNN change curve of every video in a feature shard")
    c.add_argument("--features", required=True, help="feature shard (.h5) from nemi features")
    c.add_argument("--out", required=True, help="change-curve file to write (.h5)")
    c.add_argument("--metric", choices=METRICS, default=DEFAULT_METRIC,
                   help=f"distance between adjacent snippet features (default {DEFAULT_METRIC})")
    c.set_defaults(func=_cnn)
