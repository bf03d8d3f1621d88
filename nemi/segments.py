"""Temporal segments: format conversions, tIoU, NMS and Soft-NMS, in one place.

A segment is a pair along the last axis. ``se`` is (start, end); ``cw`` is (centre,
length). Units are whatever the caller uses (seconds, frames or window units): none of
these functions assumes one. Every function takes a NumPy array or a torch tensor and
returns the same kind (torch results keep device, dtype and gradients), so evaluation,
detection and the model share one definition.

The tIoU arithmetic follows the reference toolkits (ActivityNet ``Evaluation/utils.py::
segment_iou`` and the DAPs-style ``segment_tiou`` in RTD-Net's ``thumos14_eval.py``)
operation by operation, so that a tIoU landing exactly on a threshold compares the same
way here as there.
"""

from __future__ import annotations

import sys
from typing import TypeVar

import numpy as np

Array = TypeVar("Array")


def _is_torch(x) -> bool:
    # No import of torch here: evaluation and the workflow (which plans DAGs) must not pay for it.
    # A tensor can only exist once torch is imported, so sys.modules holds it then.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _stack(a, b, x):
    return sys.modules["torch"].stack([a, b], dim=-1) if _is_torch(x) else np.stack([a, b], axis=-1)


def _maximum(a, b):
    return sys.modules["torch"].maximum(a, b) if _is_torch(a) else np.maximum(a, b)


def _minimum(a, b):
    return sys.modules["torch"].minimum(a, b) if _is_torch(a) else np.minimum(a, b)


def _safe_ratio(inter, union):
    """inter / union with 0 where union <= 0 (two empty segments): the references get NaN there."""
    if _is_torch(inter):
        torch = sys.modules["torch"]
        return torch.where(union > 0, inter / union.clamp_min(torch.finfo(union.dtype).tiny), torch.zeros_like(inter))
    out = np.zeros(np.broadcast_shapes(np.shape(inter), np.shape(union)))
    return np.divide(inter, union, out=out, where=union > 0)


def cw_to_se(x: Array) -> Array:
    """(..., 2) (centre, length) -> (start, end)."""
    c, w = x[..., 0], x[..., 1]
    return _stack(c - 0.5 * w, c + 0.5 * w, x)


def se_to_cw(x: Array) -> Array:
    """(..., 2) (start, end) -> (centre, length)."""
    s, e = x[..., 0], x[..., 1]
    return _stack((s + e) / 2, e - s, x)


def tiou(a: Array, b: Array) -> Array:
    """Pairwise continuous tIoU: ``a`` (N, 2), ``b`` (M, 2) as (start, end) -> (N, M).

    Lengths are ``end - start`` (ActivityNet). Where both segments are empty the union is
    0 and the result is 0.
    """
    a_s, a_e = a[:, 0:1], a[:, 1:2]
    b_s, b_e = b[None, :, 0], b[None, :, 1]
    inter = _minimum(a_e, b_e) - _maximum(a_s, b_s)
    inter = inter.clamp(min=0) if _is_torch(inter) else inter.clip(0)
    union = (b_e - b_s) + (a_e - a_s) - inter
    return _safe_ratio(inter, union)


def tiou_paired(a: Array, b: Array) -> Array:
    """Elementwise continuous tIoU of matched rows: ``a`` and ``b`` (N, 2) -> (N,)."""
    inter = _minimum(a[:, 1], b[:, 1]) - _maximum(a[:, 0], b[:, 0])
    inter = inter.clamp(min=0) if _is_torch(inter) else inter.clip(0)
    union = (b[:, 1] - b[:, 0]) + (a[:, 1] - a[:, 0]) - inter
    return _safe_ratio(inter, union)


def tiou_frames(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise frame-based tIoU (DAPs / RTD-Net): inclusive frame ranges, so each length is
    ``end - start + 1``. ``a`` (N, 2), ``b`` (M, 2) -> (N, M).
    """
    a_s, a_e = a[:, 0:1], a[:, 1:2]
    b_s, b_e = b[None, :, 0], b[None, :, 1]
    inter = (np.minimum(a_e, b_e) - np.maximum(a_s, b_s) + 1.0).clip(0)
    union = (b_e - b_s + 1) + (a_e - a_s + 1) - inter
    return inter / union


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices that sort ``scores`` from high to low; ties put the later row first.

    This is ``np.argsort(scores, kind="stable")[::-1]``: the reference toolkits write
    ``argsort()[::-1]``, which is exactly this whenever numpy's sort is stable.
    """
    return np.argsort(scores, kind="stable")[::-1]


def nms(segments: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Hard NMS: indices kept, best first; a segment is dropped when its tIoU with a kept
    one exceeds ``threshold``. Ties pick the earlier row.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for rank, i in enumerate(order):
        if not alive[rank]:
            continue
        keep.append(i)
        rest = order[rank + 1:]
        over = tiou(segments[i:i + 1], segments[rest])[0] > threshold
        alive[rank + 1:] &= ~over
    return np.asarray(keep, dtype=np.int64)


def soft_nms(segments: np.ndarray, scores: np.ndarray, sigma: float, max_keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian Soft-NMS; returns (kept indices, their decayed scores), best first.

    Each pick decays the scores of the rest by ``exp(-tIoU^2 / sigma)``. Stopping after
    ``max_keep`` picks is exact for the top ``max_keep``: scores only ever decrease.
    ``sigma == 0`` keeps the top scores unchanged. Ties pick the earlier row.
    """
    n = len(scores)
    if sigma == 0 or n == 0:
        order = np.argsort(-scores, kind="stable")[:max_keep]
        return order, scores[order]
    work = scores.astype(np.float64).copy()
    alive = np.ones(n, dtype=bool)
    keep = np.empty(min(n, max_keep), dtype=np.int64)
    kept = np.empty(len(keep))
    for k in range(len(keep)):  # one vectorised decay per kept detection
        i = int(np.argmax(np.where(alive, work, -np.inf)))
        keep[k], kept[k] = i, work[i]
        alive[i] = False
        iou = tiou(segments[i:i + 1], segments)[0]
        work = np.where(alive, work * np.exp(-(iou ** 2) / sigma), work)
    return keep, kept
