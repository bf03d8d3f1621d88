"""What a trained model does on test videos: Figure 3c's attention map and the timelines' inputs.

The attention map is the last decoder layer's cross-attention (queries x window steps) for the
first test window (videos in id order) that holds a whole ground-truth segment, on the grid the
model file records (``windows``, as the train stage writes it; else the schema's training grid).
It is read with hooks on ``model.transformer.decoder.layers[-1].multihead_attn`` that ask that
module for its per-head weights; the model's code is not touched. Heads are averaged, padded
steps dropped, and each query's row is scaled to its maximum (each row is a softmax over the
steps, so the scaling only makes rows of flat and peaked queries comparable).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.artifacts import load_torch
from nemi.io.boundary import read_start_end
from nemi.io.features import FeatureShardReader, read_video_features
from nemi.io.manifest import read_manifest
from nemi.io.pseudo_labels import read_pseudo_labels
from nemi.io.tables import read_ground_truth, read_predictions
from nemi.log import logger
from nemi.report import FigureParams
from nemi.windows.dataset import build_windows, collate
from nemi.windows.grid import WindowParams, file_window_params



@dataclass(frozen=True)
class AttentionMap:
    video_id: str
    start_step: int          # the window's first step in the video
    weights: np.ndarray      # (Q, n_valid) each row scaled to its maximum
    raw: np.ndarray          # (Q, n_valid) head-averaged softmax weights, as the layer computed them
    gt_steps: np.ndarray     # (N, 2) ground-truth segments meeting the window, in window steps (clipped)
    step_s: float            # seconds per step


def test_videos(manifest: str | os.PathLike, gt: pd.DataFrame) -> list[str]:
    """Test-split videos of the manifest that have ground truth, in id order."""
    df = read_manifest(manifest)
    test = sorted(set(df.loc[df["split"] == "test", "video_id"].astype(str)) & set(gt["video_id"].astype(str)))
    if not test:
        raise NemiInputError(f"{manifest}: no test-split video with ground truth")
    return test


def _shard_of(paths: Sequence[str | os.PathLike]) -> dict[str, str]:
    where: dict[str, str] = {}
    for p in paths:
        with FeatureShardReader(p) as r:
            where |= {v: str(p) for v in r.video_ids()}
    return where


def model_windows(path: str | os.PathLike) -> WindowParams:
    """The window grid a nemi model file records, else the schema's training grid (released checkpoints)."""
    return file_window_params(load_torch(path, "model file"))


def last_layer_cross_attention(model, features, boundary, mask):
    """(B, Q, T) cross-attention of the last decoder layer, averaged over heads (a forward pass, no grad)."""
    import torch

    layer = model.transformer.decoder.layers[-1].multihead_attn
    captured: dict[str, torch.Tensor] = {}

    def ask_for_weights(module, args, kwargs):
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def keep(module, args, kwargs, output):
        captured["weights"] = output[1].detach()

    hooks = [layer.register_forward_pre_hook(ask_for_weights, with_kwargs=True),
             layer.register_forward_hook(keep, with_kwargs=True)]
    try:
        with torch.no_grad():
            model(features, boundary, mask)
    finally:
        for h in hooks:
            h.remove()
    return captured["weights"].mean(dim=1)  # (B, heads, Q, T) -> (B, Q, T)


def attention_map(model_path: str | os.PathLike, feature_paths: Sequence[str | os.PathLike],
                  boundary_path: str | os.PathLike, manifest: str | os.PathLike,
                  ground_truth: str | os.PathLike) -> AttentionMap:
    """Figure 3c's map for the first test window holding a whole ground-truth segment."""
    from nemi.model import load_checkpoint

    model, mp = load_checkpoint(model_path)
    wp = model_windows(model_path)
    if wp.window_steps != mp.window_steps:
        raise NemiInputError(f"{model_path}: window_steps {wp.window_steps} but the model's position table has "
                             f"{mp.window_steps}")
    gt = read_ground_truth(ground_truth)
    shards = _shard_of(feature_paths)
    _, scores = read_start_end(boundary_path)
    # Video by video, so that only the videos up to the chosen window are read into memory.
    for vid in test_videos(manifest, gt):
        if vid not in shards:
            raise NemiInputError(f"test video {vid}: in none of the feature shards {[str(p) for p in feature_paths]}")
        if vid not in scores:
            raise NemiInputError(f"{boundary_path}: no boundary scores for test video {vid}")
        g = gt[gt["video_id"] == vid]
        segs = g[["t_start", "t_end"]].to_numpy(np.float64)
        segs = segs[segs[:, 1] > segs[:, 0]]
        windows = build_windows(read_video_features([shards[vid]], [vid]), wp, "test",
                                annotations={vid: (segs, np.zeros(len(segs), np.int64))},
                                boundary={vid: scores[vid]}, video_ids=[vid])
        held = [i for i, r in enumerate(windows.records) if r.targets]
        if not held:
            continue
        w = windows[held[0]]
        batch = collate([w])
        att = last_layer_cross_attention(model, batch["features"], batch["boundary"], batch["mask"])[0].numpy()
        n_valid = int(w["mask"].sum())
        raw = att[:, :n_valid].astype(np.float64)
        peak = raw.max(axis=1, keepdims=True)
        norm = raw / np.where(peak > 0, peak, 1.0)
        gt_steps = np.clip(np.asarray(w["segments"], np.float64).reshape(-1, 2) * wp.window_steps, 0, n_valid)
        logger.info("attention map: %s, window at step %d (%d steps, %d queries)", vid, w["start"], n_valid,
                    raw.shape[0])
        return AttentionMap(vid, int(w["start"]), norm, raw, gt_steps, float(windows.videos[vid].grid.step_s))
    raise NemiInputError(f"{manifest}: no test window holds a whole ground-truth segment of {ground_truth}")


def timeline_videos(manifest: str | os.PathLike, ground_truth: str | os.PathLike, proposals_csv: str | os.PathLike,
                    pseudo_labels: Sequence[str | os.PathLike] = (),
                    params: FigureParams = FigureParams()) -> list[dict[str, Any]]:
    """The first test videos: ground truth, a run's top proposals, each pseudo-label file's activities."""
    n_videos, top_n = params.timeline_videos, params.top_proposals
    gt = read_ground_truth(ground_truth)
    props = read_predictions(proposals_csv)
    docs = [(Path(p).stem, read_pseudo_labels(p)) for p in pseudo_labels]
    out = []
    for vid in test_videos(manifest, gt)[:n_videos]:
        g = gt[gt["video_id"] == vid]
        p = props[props["video_id"] == vid].sort_values("score", ascending=False, kind="stable").head(top_n)
        pseudo = {name: (np.asarray(d["videos"][vid]["activities"], np.float64).reshape(-1, 2)
                         if vid in d["videos"] else None) for name, d in docs}
        ends = [g["t_end"].max(), p["t_end"].max() if len(p) else 0.0,
                *(d["videos"][vid]["duration_s"] for _, d in docs if vid in d["videos"])]
        if "duration" in g.columns and g["duration"].notna().any():
            ends.append(g["duration"].max())
        out.append({"video_id": vid, "duration_s": float(np.nanmax(ends)),
                    "gt": g[["t_start", "t_end"]].to_numpy(np.float64),
                    "proposals": p[["t_start", "t_end", "score"]].to_numpy(np.float64), "pseudo": pseudo})
    return out
