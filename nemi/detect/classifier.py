"""A small video-level action classifier on mean-pooled two-stream features.

Input: feature shards as written by the features stage: one HDF5 group per video id
with datasets ``rgb`` and ``flow``, float32 (T, 1024).  A video's descriptor is
[mean_t rgb, mean_t flow] (2048,).  The model is one-vs-rest L2-regularised logistic
regression on standardised descriptors (multi-label: a video may hold several
classes), fitted with full-batch L-BFGS in float64 from zero weights, so the result
is deterministic.  Its sigmoid outputs are the class scores ``nemi detect`` fuses.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.artifacts import damaged
from nemi.io.atomic import atomic_output
from nemi.io.h5 import open_h5
from nemi.io.features import STREAM_DIM



@dataclass(frozen=True)
class ClassifierParams:
    SECTION: ClassVar[str] = "detect.classifier"
    train_split: str  # trained on this split's videos
    l2: float  # L2 weight on the logistic-regression weights

    def __post_init__(self) -> None:
        if self.l2 < 0:
            raise ValueError(f"detect.classifier.l2 must be >= 0, not {self.l2}")


def load_video_descriptors(paths: Sequence[str | os.PathLike]) -> tuple[list[str], np.ndarray]:
    """(video ids, (N, 2048) float64) from feature shards, in file then group order."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for path in paths:
        p = Path(path)
        with open_h5(p, "feature shard") as f:
            for vid in f:
                parts = []
                for stream in ("rgb", "flow"):
                    if stream not in f[vid]:
                        raise NemiInputError(f"{p}: video {vid!r} has no {stream!r} dataset")
                    x = f[vid][stream][()]
                    if x.ndim != 2 or x.shape[1] != STREAM_DIM or x.shape[0] == 0:
                        raise NemiInputError(
                            f"{p}: {vid}/{stream} has shape {x.shape}, expected (T >= 1, {STREAM_DIM})")
                    parts.append(x.astype(np.float64).mean(axis=0))
                if vid in ids:
                    raise NemiInputError(f"{p}: video {vid!r} appears in more than one shard")
                ids.append(vid)
                rows.append(np.concatenate(parts))
    if not ids:
        raise NemiInputError(f"no videos in feature shards {[str(p) for p in paths]}")
    return ids, np.stack(rows)


def multi_hot(video_ids: Sequence[str], gt: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """(N, C) 0/1 targets: class c is present in video i if it has a ground-truth row."""
    index = {c: j for j, c in enumerate(classes)}
    row = {v: i for i, v in enumerate(video_ids)}
    y = np.zeros((len(video_ids), len(classes)))
    for vid, label in zip(gt["video_id"], gt["label"]):
        if vid in row and label in index:
            y[row[vid], index[label]] = 1.0
    return y


@dataclass(frozen=True)
class VideoClassifier:
    classes: tuple[str, ...]
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weight: np.ndarray  # (C, D)
    bias: np.ndarray  # (C,)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities for (N, D) descriptors."""
        z = ((x - self.mean) / self.scale) @ self.weight.T + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, path: str | os.PathLike, provenance: dict | None = None) -> None:
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, mean=self.mean, scale=self.scale, weight=self.weight, bias=self.bias,
                         classes=np.array(self.classes), provenance=json.dumps(provenance or {}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> VideoClassifier:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(tuple(str(c) for c in z["classes"]), z["mean"], z["scale"], z["weight"], z["bias"])
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:  # BadZipFile: truncated
            raise damaged(path, "not a nemi video classifier", err) from None


def train_video_classifier(x: np.ndarray, y: np.ndarray, classes: Sequence[str], *, l2: float,
                           max_iter: int = 200) -> VideoClassifier:
    """Fit one-vs-rest logistic regression: (N, D) descriptors, (N, C) 0/1 targets.

    Loss = mean binary cross-entropy + ``l2`` * |W|^2 / 2, standardised inputs.
    """
    import torch

    if x.shape[0] != y.shape[0] or y.shape[1] != len(classes):
        raise ValueError(f"shapes disagree: x {x.shape}, y {y.shape}, {len(classes)} classes")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = torch.from_numpy((x - mean) / scale)
    yt = torch.from_numpy(y.astype(np.float64))
    w = torch.zeros((len(classes), x.shape[1]), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(len(classes), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = xs @ w.T + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return VideoClassifier(tuple(classes), mean, scale, w.detach().numpy().copy(), b.detach().numpy().copy())


def class_score_table(video_ids: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Long table ``video_id, label, score`` (video-major, classes in model order)."""
    return pd.DataFrame({
        "video_id": np.repeat(np.asarray(video_ids, dtype=object), len(classes)),
        "label": np.tile(np.asarray(classes, dtype=object), len(video_ids)),
        "score": proba.reshape(-1),
    })
