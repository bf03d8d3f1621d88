"""Detection mAP at tIoU thresholds, ActivityNet's algorithm (``Evaluation/eval_detection.py``).

Per class: predictions are ranked by score (ties: later row first, see
:func:`~nemi.segments.descending_order`); each takes, at each threshold, the
unmatched ground-truth segment of its video and class with the highest tIoU
(``>= threshold``; equal tIoU: the later ground-truth row, as the reference's reversed
argsort gives); the rest are false positives, as are predictions for videos without
ground truth of that class.  AP is the all-point interpolated area (VOC 2011), mAP
the mean over the ground truth's classes (a class without predictions scores 0).

tIoU comes from :mod:`nemi.segments`; the greedy matching runs in a compiled kernel
(numba), one pass over the ranked predictions of a class for all thresholds together.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.segments import tiou_paired


@numba.njit(cache=True)
def _greedy_match(pair_start: np.ndarray, pair_tiou: np.ndarray, pair_gt: np.ndarray,
                  n_gt: int, thresholds: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """tp (T, P) for predictions already in rank order.

    Prediction ``i`` is paired with the ground truth of its video, in input order:
    ``pair_tiou[pair_start[i]:pair_start[i + 1]]`` are those tIoUs and ``pair_gt`` the
    ground-truth rows (empty for a video without ground truth).
    """
    n_t, n_p = thresholds.shape[0], pair_start.shape[0] - 1
    tp = np.zeros((n_t, n_p), dtype=np.float64)
    locked = np.zeros((n_t, n_gt), dtype=np.bool_)
    for i in range(n_p):
        a, b = pair_start[i], pair_start[i + 1]
        for t in range(n_t):
            best = -1
            for j in range(b - 1, a - 1, -1):
                if pair_tiou[j] >= thresholds[t] and not locked[t, pair_gt[j]]:
                    if best < 0 or pair_tiou[j] > pair_tiou[best]:
                        best = j
            if best >= 0:
                locked[t, pair_gt[best]] = True
                tp[t, i] = 1.0
    return tp


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """All-point interpolated AP per row of (T, P) precision/recall (VOC 2011)."""
    n_t = precision.shape[0]
    mprec = np.hstack([np.zeros((n_t, 1)), precision, np.zeros((n_t, 1))])
    mrec = np.hstack([np.zeros((n_t, 1)), recall, np.ones((n_t, 1))])
    mprec = np.maximum.accumulate(mprec[:, ::-1], axis=1)[:, ::-1]
    ap = np.empty(n_t)
    for t in range(n_t):  # thresholds, not predictions
        idx = np.flatnonzero(mrec[t, 1:] != mrec[t, :-1]) + 1
        ap[t] = np.sum((mrec[t, idx] - mrec[t, idx - 1]) * mprec[t, idx])
    return ap


def class_average_precision(gt: pd.DataFrame, pred: pd.DataFrame, thresholds: np.ndarray) -> np.ndarray:
    """AP (T,) of one class: ``gt`` and ``pred`` hold only that class's rows."""
    ap = np.zeros(len(thresholds))
    if pred.empty:
        return ap
    gt_codes, videos = pd.factorize(gt["video_id"], sort=False)
    order_gt = np.argsort(gt_codes, kind="stable")
    gt_start = np.searchsorted(gt_codes[order_gt], np.arange(len(videos) + 1)).astype(np.int64)
    gt_seg = gt[["t_start", "t_end"]].to_numpy(np.float64)[order_gt]
    rank = np.argsort(pred["score"].to_numpy(np.float64), kind="stable")[::-1]
    pred_video = videos.get_indexer(pred["video_id"].to_numpy()[rank]).astype(np.int64)
    pred_seg = pred[["t_start", "t_end"]].to_numpy(np.float64)[rank]
    # every (prediction, ground truth of its video) pair, so tIoU is computed by nemi.segments
    n_pairs = np.where(pred_video >= 0, gt_start[pred_video + 1] - gt_start[np.maximum(pred_video, 0)], 0)
    pair_start = np.concatenate([[0], np.cumsum(n_pairs)]).astype(np.int64)
    first = np.repeat(gt_start[np.maximum(pred_video, 0)] - pair_start[:-1], n_pairs)
    pair_gt = (first + np.arange(pair_start[-1])).astype(np.int64)
    pair_tiou = tiou_paired(gt_seg[pair_gt], pred_seg[np.repeat(np.arange(len(rank)), n_pairs)])
    tp = _greedy_match(pair_start, np.ascontiguousarray(pair_tiou, dtype=np.float64), pair_gt, len(gt),
                       np.asarray(thresholds, dtype=np.float64))
    tp_cum = np.cumsum(tp, axis=1)
    fp_cum = np.cumsum(1.0 - tp, axis=1)
    recall = tp_cum / float(len(gt))
    precision = tp_cum / (tp_cum + fp_cum)
    return interpolated_ap(precision, recall)


def average_precision_table(gt: pd.DataFrame, pred: pd.DataFrame, thresholds: np.ndarray,
                            source: str = "predictions") -> tuple[list[str], np.ndarray]:
    """(classes, AP (C, T)) for every class of the ground truth, in first-seen order.

    A prediction whose label is not a ground-truth class is an error (the reference
    stops with a KeyError there).
    """
    if "label" not in gt.columns:
        raise NemiInputError("ground truth has no label column: detection needs labels")
    if "label" not in pred.columns:
        raise NemiInputError(f"{source}: no label column: detection predictions need labels")
    classes = list(pd.unique(gt["label"]))
    unknown = ~pred["label"].isin(classes).to_numpy()
    if unknown.any():
        rows = np.flatnonzero(unknown)
        lines = ", ".join(str(int(pred["line"].iat[i])) for i in rows[:5])
        raise NemiInputError(
            f"{source}: line {lines}: unknown label {str(pred['label'].iat[rows[0]])!r} "
            f"(ground-truth classes: {', '.join(sorted(classes))})"
        )
    gt_by = {k: g for k, g in gt.groupby("label", sort=False)}
    pred_by = {k: g for k, g in pred.groupby("label", sort=False)}
    ap = np.zeros((len(classes), len(thresholds)))
    for c, name in enumerate(classes):
        ap[c] = class_average_precision(gt_by[name], pred_by.get(name, pred.iloc[:0]), thresholds)
    return classes, ap
