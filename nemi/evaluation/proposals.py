"""Average recall against average number of proposals (AR@AN), two reference algorithms.

``anet``: ActivityNet's ``average_recall_vs_avg_nr_proposals``
(``Evaluation/eval_proposal.py``).  Videos are the ground truth's; each video keeps
its top ``int(n_v * ratio)`` proposals with ``ratio = max_AN * n_videos / n_rows``
(``n_rows`` counts every prediction row, also those for videos outside the ground
truth, as the reference does); the curve has 100 points at AN = k/100 * max_AN.

``daps``: the DAPs / RTD-Net ``average_recall_vs_nr_proposals``
(``datasets/thumos14_eval.py``).  Videos are the predictions'; tIoU is computed on
frames with inclusive ends; the curve has 200 points at fractions k/200 of each
video's proposals, and AR at a given AN is read by linear interpolation (and
extrapolation beyond the last point), as ``scipy.interpolate.interp1d`` does there.

Both compute, per video and threshold, the rank of the first proposal that covers
each ground-truth segment; recall at any budget is then a count, so there is one
vectorised pass per video and no loop over proposals.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.tables import group_rows
from nemi.segments import descending_order, tiou_frames
from nemi.segments import tiou as _tiou

log = logging.getLogger("nemi.evaluation.proposals")


def first_hits(tiou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(T, G) rank of the first column with ``tiou >= t`` in each row; n_columns where none."""
    n = tiou.shape[1]
    if n == 0:
        return np.zeros((len(thresholds), tiou.shape[0]), dtype=np.int64)
    hit = tiou[None, :, :] >= thresholds[:, None, None]
    first = hit.argmax(axis=2)
    return np.where(hit.any(axis=2), first, n)


def _count_covered(first: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """(T, J) number of ground-truth segments whose first hit is within each budget."""
    return (first[:, :, None] < budgets[None, None, :]).sum(axis=1)


def anet_curve(gt: pd.DataFrame, pred: pd.DataFrame, thresholds: np.ndarray,
               max_avg_nr_proposals: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ActivityNet AR-AN curve: (recall (T, 100), average recall (100,), AN (100,))."""
    gt_rows, pred_rows = group_rows(gt["video_id"]), group_rows(pred["video_id"])
    n_videos, n_rows = len(gt_rows), len(pred)
    ratio = max_avg_nr_proposals * float(n_videos) / n_rows
    gt_seg = gt[["t_start", "t_end"]].to_numpy(np.float64)
    pred_seg = pred[["t_start", "t_end"]].to_numpy(np.float64)
    scores = pred["score"].to_numpy(np.float64)
    per_video: list[tuple[np.ndarray, int]] = []
    total = 0
    for vid, g_idx in gt_rows.items():
        p_idx = pred_rows.get(vid)
        if p_idx is None:
            # The reference scores such a video as a (G, 1) matrix of zeros.
            per_video.append((np.full((len(thresholds), len(g_idx)), 1, np.int64), 1))
            continue
        p_idx = p_idx[descending_order(scores[p_idx])]
        n_keep = min(int(len(p_idx) * ratio), len(p_idx))
        total += n_keep
        tiou = _tiou(gt_seg[g_idx], pred_seg[p_idx[:n_keep]])
        per_video.append((first_hits(tiou, thresholds), n_keep))
    if total == 0:
        raise NemiInputError("no proposal is left for any ground-truth video (none predicted, or the budget "
                             "int(n * ratio) rounds every video down to zero)")
    pcn = np.arange(1, 101) / 100.0 * (max_avg_nr_proposals * float(n_videos) / total)
    matches = np.zeros((len(thresholds), len(pcn)))
    positives = 0
    for first, n_cols in per_video:
        budgets = np.minimum((n_cols * pcn).astype(np.int64), n_cols)
        matches += _count_covered(first, budgets)
        positives += first.shape[1]
    recall = matches / positives
    return recall, recall.mean(axis=0), pcn * (float(total) / n_videos)


def daps_curve(gt: pd.DataFrame, pred: pd.DataFrame, thresholds: np.ndarray,
               default_fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DAPs AR-AN curve on frames: (recall (T, 200), average recall (200,), AN (200,)).

    Seconds become frames as ``t * fps`` with the video's ``fps`` from the ground
    truth when it has that column, else ``default_fps``. Ground-truth frames are
    rounded to whole frames: DAPs and RTD-Net read the integer ``f-init``/``f-end``
    columns of the Thumos14 ground truth, which are ``round(t * fps)`` on every row.
    Prediction frames keep their fraction (RTD-Net's proposals are float frames) but are
    rounded to 1e-6 frame, which removes the floating-point noise of ``t * fps`` that
    would otherwise decide matches at tIoU = 1.0.
    """
    gt_rows, pred_rows = group_rows(gt["video_id"]), group_rows(pred["video_id"])
    fps = _fps_of_videos(gt, default_fps)
    gt_seg = gt[["t_start", "t_end"]].to_numpy(np.float64)
    pred_seg = pred[["t_start", "t_end"]].to_numpy(np.float64)
    scores = pred["score"].to_numpy(np.float64)
    pcn = np.arange(1, 201) / 200.0
    matches = np.zeros((len(thresholds), len(pcn)))
    positives = 0
    for vid, p_idx in pred_rows.items():
        g_idx = gt_rows.get(vid)
        if g_idx is None:
            continue  # no positives, no matches: it only counts in the number of videos
        f = fps.get(vid, default_fps)
        p_idx = p_idx[descending_order(scores[p_idx])]
        tiou = tiou_frames(np.round(gt_seg[g_idx] * f), np.round(pred_seg[p_idx] * f, 6))
        budgets = (len(p_idx) * pcn).astype(np.int64)
        matches += _count_covered(first_hits(tiou, thresholds), budgets)
        positives += len(g_idx)
    if positives == 0:
        raise NemiInputError("no ground-truth segment lies in a video that has predictions")
    recall = matches / positives
    return recall, recall.mean(axis=0), pcn * (float(len(pred)) / len(pred_rows))


def _fps_of_videos(gt: pd.DataFrame, default_fps: float) -> dict[str, float]:
    if "fps" not in gt.columns:
        return {}
    known = gt.dropna(subset=["fps"]).drop_duplicates("video_id")
    return dict(zip(known["video_id"].astype(str), known["fps"].astype(float)))


def interp_extrapolate(x: np.ndarray, y: np.ndarray, x_new: float) -> float:
    """Linear interpolation with linear extrapolation at both ends (``interp1d(..., fill_value="extrapolate")``)."""
    hi = int(np.clip(np.searchsorted(x, x_new), 1, len(x) - 1))
    lo = hi - 1
    slope = (y[hi] - y[lo]) / (x[hi] - x[lo])
    return float(slope * (x_new - x[lo]) + y[lo])


def read_anet_curve(avg_recall: np.ndarray, max_an: float, an: float) -> float:
    """AR at ``an`` on the ActivityNet curve, whose point k-1 sits at AN = k/100 * max_an.

    An AN on that grid reads the point itself, as the reference's users do
    (``avg_recall[k-1]``); any other AN is linearly interpolated.
    """
    k = an * 100.0 / max_an
    if abs(k - round(k)) < 1e-9 and 1 <= round(k) <= 100:
        return float(avg_recall[int(round(k)) - 1])
    grid = np.arange(1, 101) / 100.0 * max_an
    return float(np.interp(an, grid, avg_recall))


def snap_to_frames(segments: pd.DataFrame, default_fps: float = 30.0) -> pd.DataFrame:
    """``segments`` with t_start/t_end moved onto whole frames of their video's ``fps``.

    Under thumos14-daps the ground truth is compared in whole frames, so a perfect
    prediction is the ground truth on whole frames, not the ground truth in seconds.
    """
    fps = segments["fps"].astype(float) if "fps" in segments.columns else default_fps
    return segments.assign(t_start=np.round(segments["t_start"] * fps) / fps,
                           t_end=np.round(segments["t_end"] * fps) / fps)
