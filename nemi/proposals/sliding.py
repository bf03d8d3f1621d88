"""Multi-scale sliding windows: proposals from a method that learns nothing, the tables' floor.

At each scale ``L`` (seconds), with stride ``s = stride_fraction * L`` (or ``stride_s`` seconds at every
scale, when given), a video of ``D`` seconds gets
the windows ``[k s, k s + L]`` for ``k = 0, 1, ...`` while ``k s + L < D``, then ``[D - L, D]``: the
last window ends at the video's end. A scale longer than the video is clipped to it (one window
``[0, D]``) and counted. Windows with the same bounds are kept once. Worked example, ``D = 10``,
scales 4 and 16 s, stride fraction 0.5::

    4 s  (stride 2): [0, 4] [2, 6] [4, 8] [6, 10]
    16 s (clipped):  [0, 10]

Scores (``score``): ``longer_first``, a window's length over the largest scale (a clipped window's
length is the video's); ``uniform``, 1 for every window. Rows are ordered by score (best first), then
by the scale's place in ``scales_s``, then by start, and the first ``top_n`` of each video are kept:
the order, ties included, is the same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nemi import __version__
from nemi.errors import NemiInputError
from nemi.io.provenance import provenance
from nemi.io.tables import PRED_COLUMNS
from nemi.log import logger
from nemi.params import as_dict
from nemi.proposals.params import SLIDING_WINDOW_VERSION, SlidingWindowParams

_DECIMALS = 9  # bounds equal to this many decimals of a second are one window


def scale_windows(duration_s: float, scale_s: float, stride_s: float) -> np.ndarray:
    """(N, 2) windows of one scale over a video of ``duration_s`` seconds, in start order."""
    if scale_s >= duration_s:
        return np.array([[0.0, duration_s]])
    n = int(np.ceil((duration_s - scale_s) / stride_s - 1e-9))  # starts k * stride with k s + L < D
    starts = np.append(np.arange(n) * stride_s, duration_s - scale_s)
    return np.stack([starts, starts + scale_s], axis=1)


def video_windows(duration_s: float, params: SlidingWindowParams) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(windows (N, 2), their scores (N,), the scales clipped to this video), in the file's order."""
    segs, scores, rank, clipped = [], [], [], []
    top = max(params.scales_s)
    for i, scale in enumerate(params.scales_s):
        w = scale_windows(duration_s, scale, params.stride_for(scale))
        if scale > duration_s:
            clipped.append(scale)
        length = w[:, 1] - w[:, 0]
        segs.append(w)
        scores.append(length / top if params.score == "longer_first" else np.ones(len(w)))
        rank.append(np.full(len(w), i))
    seg, score, rank = np.concatenate(segs), np.concatenate(scores), np.concatenate(rank)
    order = np.lexsort((seg[:, 0], rank, -score))  # the last key sorts first
    seg, score = seg[order], score[order]
    _, first = np.unique(np.round(seg, _DECIMALS), axis=0, return_index=True)
    keep = np.sort(first)  # each distinct window at its first (best) place
    return seg[keep], score[keep], clipped


def sliding_windows(durations: Mapping[str, float], params: SlidingWindowParams,
                    top_n: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(proposal table, record) for every video of ``durations`` (video_id -> seconds), ``top_n`` each."""
    if top_n < 1:
        raise NemiInputError(f"top_n must be >= 1, not {top_n}")
    tables, clipped, n_windows = [], {f"{s:g}": 0 for s in params.scales_s}, 0
    for vid in sorted(durations):
        d = float(durations[vid])
        if not 0 < d < float("inf"):
            raise NemiInputError(f"video {vid}: duration must be a number of seconds > 0, not {d}")
        seg, score, cut = video_windows(d, params)
        n_windows += len(seg)
        for s in cut:
            clipped[f"{s:g}"] += 1
        tables.append(pd.DataFrame({"video_id": vid, "t_start": seg[:top_n, 0], "t_end": seg[:top_n, 1],
                                    "score": score[:top_n]}))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(PRED_COLUMNS))
    for scale, n in clipped.items():
        if n:
            logger.warning("scale %s s is longer than %d of %d videos: clipped to each (one window, the whole "
                           "video)", scale, n, len(durations))
    info = {"method": "sliding_window", "nemi_version": __version__, "version": SLIDING_WINDOW_VERSION,
            "params": as_dict(params), "top_n": int(top_n), "n_videos": len(durations),
            "video_ids": sorted(durations), "n_windows": n_windows, "n_proposals": len(table),
            "n_cut_by_top_n": n_windows - len(table), "clipped_videos_per_scale": clipped,
            "n_clipped": sum(clipped.values()), "provenance": provenance("proposals")}
    logger.info("%d sliding-window proposals for %d videos (%d windows, %d clipped to their video)",
                len(table), len(durations), n_windows, info["n_clipped"])
    return table, info
