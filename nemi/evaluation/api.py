"""``evaluate_proposals`` and ``evaluate_detections``: tables in, a JSON-ready dict out."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.evaluation.detections import average_precision_table
from nemi.io.tables import (AMBIGUOUS, GT_COLUMNS, PRED_COLUMNS, check_table, read_ground_truth, read_predictions,
                             select_split)
from nemi.evaluation.proposals import anet_curve, daps_curve, interp_extrapolate, read_anet_curve
from nemi.evaluation.protocols import get_protocol, threshold_key

log = logging.getLogger("nemi.evaluation")

Table = pd.DataFrame | str | os.PathLike


def _load(gt: Table, pred: Table, *, require_label: bool, keep_ambiguous: bool,
          videos: Collection[str] | None, split: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    source = "predictions"
    gt_source = "ground truth"
    if isinstance(gt, pd.DataFrame):
        gt = check_table(gt, GT_COLUMNS, "ground truth")
        if "label" in gt.columns and not keep_ambiguous:
            gt = gt[gt["label"] != AMBIGUOUS].reset_index(drop=True)
    else:
        gt_source = str(gt)
        gt = read_ground_truth(gt, keep_ambiguous=keep_ambiguous)
    if isinstance(pred, pd.DataFrame):
        pred = check_table(pred, PRED_COLUMNS + (("label",) if require_label else ()), source)
    else:
        source = str(pred)
        pred = read_predictions(pred, require_label=require_label)
    gt = gt.assign(video_id=gt["video_id"].astype(str))
    pred = pred.assign(video_id=pred["video_id"].astype(str))
    # Which split each video is in, before selecting one: to say where stray predictions belong.
    split_of = (gt.drop_duplicates("video_id").set_index("video_id")["split"].astype(str)
                if "split" in gt.columns else pd.Series(dtype=str))
    gt = select_split(gt, split, gt_source)
    if videos is not None:
        keep = set(videos)
        gt = gt[gt["video_id"].isin(keep)].reset_index(drop=True)
        pred = pred[pred["video_id"].isin(keep)].reset_index(drop=True)
        if gt.empty:
            raise NemiInputError("no ground truth left in the selected video subset")
        if pred.empty:
            raise NemiInputError(f"{source}: no predictions left in the selected video subset")
    _warn_coverage(gt, pred, split_of, split, source, gt_source)
    outside = outside_video(gt, pred)
    if outside["start_before_0"] or outside["end_after_video"]:
        log.warning("%s: %d segments start before 0 / %d end after the video (taken as given, as the "
                    "references do)", source, outside["start_before_0"], outside["end_after_video"])
    return gt, pred, source


def _warn_coverage(gt: pd.DataFrame, pred: pd.DataFrame, split_of: pd.Series, split: str | None, source: str,
                   gt_source: str) -> None:
    """Warn, with counts, when the predictions' videos and the ground truth's do not match: a ground truth of
    another split or dataset scores well-made predictions as if they were wrong."""
    gt_videos, pred_videos = set(gt["video_id"]), set(pred["video_id"])
    strays = sorted(pred_videos - gt_videos)
    in_split = f" of split {split!r}" if split is not None else ""
    if strays:
        rows = int(pred["video_id"].isin(set(strays)).sum())
        elsewhere = split_of.reindex(strays).dropna()
        where = (" (" + ", ".join(f"{n} in split {s!r}" for s, n in elsewhere.value_counts().sort_index().items())
                 + f" of {gt_source})") if len(elsewhere) else ""
        log.warning("%s: %d of its %d videos (%d rows) have no ground truth%s in %s%s; kept, as the references "
                    "keep them", source, len(strays), len(pred_videos),
                    rows, in_split, gt_source, where)
    unseen = gt_videos - pred_videos
    if unseen:
        # Not "missed" in general: DAPs leaves such videos out of its denominator (docs/evaluation.md).
        log.warning("%s: %d of the %d ground-truth videos%s have no prediction", source, len(unseen),
                    len(gt_videos), in_split)


def _n_ambiguous(gt: pd.DataFrame) -> int:
    """Ambiguous segments among the ground truth evaluated."""
    return int((gt["label"] == AMBIGUOUS).sum()) if "label" in gt.columns else 0


def outside_video(gt: pd.DataFrame, pred: pd.DataFrame) -> dict[str, int]:
    """Predicted segments starting before 0 / ending after their video (its ground-truth ``duration``, where
    the ground truth has one)."""
    start_before = int((pred["t_start"].to_numpy(np.float64) < 0).sum())
    end_after = 0
    if "duration" in gt.columns:
        duration = pred["video_id"].map(gt.groupby("video_id")["duration"].max()).to_numpy(np.float64)
        end_after = int((pred["t_end"].to_numpy(np.float64) > duration).sum())  # NaN: unknown, not counted
    return {"start_before_0": start_before, "end_after_video": end_after}


def evaluate_proposals(gt: Table, pred: Table, protocol: str = "thumos14", *, keep_ambiguous: bool | None = None,
                       videos: Collection[str] | None = None, default_fps: float = 30.0,
                       split: str | None = None) -> dict:
    """AR@AN and AUC of class-agnostic proposals under a named protocol.

    ``gt``/``pred`` are tables (or CSV paths) with the columns of
    :mod:`nemi.io.tables`; ``split`` keeps only the ground truth's rows of that split (None: every
    row; ``nemi evaluate`` passes ``test``); ``videos`` restricts both to a subset of video ids;
    ``default_fps`` converts seconds to frames for ``thumos14-daps`` where the ground
    truth has no ``fps`` for a video.  ``keep_ambiguous=None`` takes the protocol's
    choice (``thumos14-daps`` keeps them, as RTD-Net does).  Metrics are fractions in [0, 1].
    """
    proto = get_protocol(protocol)
    keep_ambiguous = proto.proposals_keep_ambiguous if keep_ambiguous is None else keep_ambiguous
    gt, pred, _ = _load(gt, pred, require_label=False, keep_ambiguous=keep_ambiguous, videos=videos, split=split)
    thresholds = np.asarray(proto.proposal_tious)
    if proto.proposal_algorithm == "anet":
        recall, avg, an = anet_curve(gt, pred, thresholds, float(proto.max_average_number))
        ar = {str(n): read_anet_curve(avg, proto.max_average_number, n) for n in proto.average_numbers}
    else:
        recall, avg, an = daps_curve(gt, pred, thresholds, default_fps)
        ar = {str(n): interp_extrapolate(an, avg, float(n)) for n in proto.average_numbers}
        if an[-1] < proto.max_average_number:
            log.warning("fewer proposals per video (%.1f) than AN %d: AR there is extrapolated, as the "
                        "reference does", an[-1], proto.max_average_number)
    gt_videos = set(gt["video_id"])
    return {
        "protocol": proto.name,
        "split": split,
        "ambiguous_kept": bool(keep_ambiguous),
        "n_ambiguous": _n_ambiguous(gt),
        "n_videos": len(gt_videos),
        "n_videos_with_predictions": int(pred["video_id"].isin(gt_videos).groupby(pred["video_id"]).any().sum()),
        "n_ground_truth": len(gt),
        "n_predictions": len(pred),
        "predictions_outside_video": outside_video(gt, pred),
        "AR@AN": ar,
        # Area under AR-AN divided by the largest AN of the curve (ActivityNet's "AUC").
        "AUC": float(np.trapezoid(avg, an) / an[-1]),
        "recall_at_tiou": {threshold_key(t): float(r[-1]) for t, r in zip(thresholds, recall)},
        "curve": {"AN": [float(x) for x in an], "AR": [float(x) for x in avg]},
    }


def evaluate_detections(gt: Table, pred: Table, protocol: str = "thumos14", *, keep_ambiguous: bool | None = None,
                        videos: Collection[str] | None = None, split: str | None = None) -> dict:
    """mAP at each tIoU threshold of the protocol, their mean, and AP per class.

    ``keep_ambiguous=None`` drops ``Ambiguous`` ground truth under every protocol (it is no class);
    ``split`` and ``videos`` select as in :func:`evaluate_proposals`.
    """
    proto = get_protocol(protocol)
    keep_ambiguous = bool(keep_ambiguous)
    gt, pred, source = _load(gt, pred, require_label=True, keep_ambiguous=keep_ambiguous, videos=videos,
                             split=split)
    thresholds = np.asarray(proto.detection_tious)
    classes, ap = average_precision_table(gt, pred, thresholds, source)
    m_ap = ap.mean(axis=0)
    keys = [threshold_key(t) for t in thresholds]
    return {
        "protocol": proto.name,
        "split": split,
        "ambiguous_kept": keep_ambiguous,
        "n_ambiguous": _n_ambiguous(gt),
        "n_videos": int(gt["video_id"].nunique()),
        "n_ground_truth": len(gt),
        "n_predictions": len(pred),
        "predictions_outside_video": outside_video(gt, pred),
        "mAP": dict(zip(keys, (float(x) for x in m_ap))),
        "average_mAP": float(m_ap.mean()),
        "AP_per_class": {c: dict(zip(keys, (float(x) for x in row))) for c, row in zip(classes, ap)},
    }
