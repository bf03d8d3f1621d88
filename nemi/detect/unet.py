"""UntrimmedNet's video-level class scores (``uNet_test.npy``, as G-TAD ships it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError

UNET_N_CLASSES = 101  # UCF101


def read_unet_scores(path: str | os.PathLike, class_names: Sequence[str], ucf_ids: Sequence[int],
                     video_prefix: str = "video_test_") -> pd.DataFrame:
    """Long table ``video_id, label, score`` from a (n_videos, 101) score array.

    Row r is ``{video_prefix}{r+1:07d}``; column ``ucf_id - 1`` is that UCF101 class.
    Each row holds an RGB softmax plus a flow softmax (it sums to 2), so the score
    kept is the column divided by 2, in [0, 1].
    """
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: file not found")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise NemiInputError(f"{p}: not a numpy array file ({err})") from None
    if arr.ndim != 2 or arr.shape[1] != UNET_N_CLASSES:
        raise NemiInputError(f"{p}: shape {arr.shape}, expected (n_videos, {UNET_N_CLASSES})")
    if len(class_names) != len(ucf_ids):
        raise ValueError("class_names and ucf_ids differ in length")
    cols = np.asarray(ucf_ids, dtype=np.int64) - 1
    scores = arr[:, cols].astype(np.float64) / 2.0
    ids = [f"{video_prefix}{r + 1:07d}" for r in range(arr.shape[0])]
    return pd.DataFrame({
        "video_id": np.repeat(np.asarray(ids, dtype=object), len(cols)),
        "label": np.tile(np.asarray(class_names, dtype=object), len(ids)),
        "score": scores.reshape(-1),
    })
