"""Temporal intersection over union, written with the reference toolkits' arithmetic.

Both functions return a (G, P) matrix, ground truth along rows and predictions along
columns.  The order of the floating-point operations follows the reference code
(ActivityNet ``Evaluation/utils.py::segment_iou`` and the DAPs-style
``segment_tiou`` in RTD-Net's ``datasets/thumos14_eval.py``) so that a tIoU that lands
exactly on a threshold compares the same way here as there.
"""

from __future__ import annotations

import numpy as np


def tiou_matrix(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Continuous tIoU (ActivityNet): |A n B| / |A u B| with lengths ``end - start``.

    ``gt`` is (G, 2) and ``pred`` is (P, 2), [start, end] in seconds; returns (G, P).
    Where both segments have zero length the union is zero: the reference gets NaN
    there (with a warning); this returns 0, the only place the two can differ.
    """
    gs, ge = gt[:, 0:1], gt[:, 1:2]
    ps, pe = pred[None, :, 0], pred[None, :, 1]
    inter = (np.minimum(ge, pe) - np.maximum(gs, ps)).clip(0)
    union = (pe - ps) + (ge - gs) - inter
    out = np.zeros(np.broadcast_shapes(inter.shape, union.shape))
    return np.divide(inter, union, out=out, where=union > 0)


def tiou_matrix_frames(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Frame-based tIoU (DAPs / RTD-Net): inclusive frame ranges, so each length is ``end - start + 1``.

    ``gt`` is (G, 2) and ``pred`` is (P, 2), [first frame, last frame] (floats allowed);
    returns (G, P).
    """
    gs, ge = gt[:, 0:1], gt[:, 1:2]
    ps, pe = pred[None, :, 0], pred[None, :, 1]
    inter = (np.minimum(ge, pe) - np.maximum(gs, ps) + 1.0).clip(0)
    union = (pe - ps + 1) + (ge - gs + 1) - inter
    return inter / union


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices that sort ``scores`` from high to low; ties put the later row first.

    This is ``np.argsort(scores, kind="stable")[::-1]``: the reference toolkits write
    ``argsort()[::-1]``, which is exactly this whenever numpy's sort is stable.
    """
    return np.argsort(scores, kind="stable")[::-1]
