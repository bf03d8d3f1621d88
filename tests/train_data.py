"""Tiny synthetic inputs for the train, proposals and engine tests: random features, one segment per video."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nemi.io.timebase import Timebase

TB = Timebase.native(10.0, 8, 8)  # a feature every 0.8 s
TINY_MODEL = dict(input_dim=16, proj_dim=8, hidden_dim=16, encoder_hidden_dim=16, heads=2, ffn_dim=32,
                  decoder_layers=2, num_queries=4, window_steps=10)
TINY_TRAIN = dict(batch_size=4, train_stride=5, test_stride=5, step_frames=None,
                  schedule="rtd_three_stage",
                  schedules={"rtd_three_stage": {"stage1": {"epochs": 2}, "stage2": {"epochs": 1},
                                                 "stage3": {"epochs": 1}}})


def fit_params(model: dict | None = None, **train):
    """``nemi train``'s parameters (FitParams): ``model`` (default TINY_MODEL) and TINY_TRAIN with ``train``."""
    from nemi.fit.params import FitParams

    return FitParams.from_dict({"model": TINY_MODEL if model is None else model, "train": {**TINY_TRAIN, **train}})


def synthetic(n_videos: int = 6, steps: int = 30, seed: int = 0):
    """(features, boundary, annotations, ground-truth table) of ``n_videos`` videos of ``steps`` features."""
    rng = np.random.default_rng(seed)
    feats, bnd, ann, rows = {}, {}, {}, []
    for i in range(n_videos):
        vid = f"v{i}"
        duration = steps * 0.8
        s = float(rng.uniform(0.5, duration / 3))
        e = min(duration - 0.5, s + float(rng.uniform(1.5, duration / 2)))
        f = rng.normal(size=(steps, 16)).astype(np.float32)
        f[int(s / 0.8):int(e / 0.8)] += 1.0  # the action is visible in the features
        feats[vid] = (f, TB, duration)
        bnd[vid] = (rng.uniform(size=(steps, 2)).astype(np.float32), TB)
        ann[vid] = (np.array([[s, e]]), np.zeros(1, np.int64))
        rows.append((vid, s, e, "act"))
    return feats, bnd, ann, pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label"])
