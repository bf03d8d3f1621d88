"""nemi.segments: conversions round-trip, tIoU agrees across NumPy/torch and with a direct loop, NMS and Soft-NMS
against straightforward reference loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nemi.segments import cw_to_se, nms, se_to_cw, soft_nms, tiou, tiou_frames, tiou_paired


def _random_segments(rng, n):
    s = rng.uniform(0, 100, n)
    return np.stack([s, s + rng.uniform(0, 30, n)], axis=1)


def _loop_tiou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, (s1, e1) in enumerate(a):
        for j, (s2, e2) in enumerate(b):
            inter = max(0.0, min(e1, e2) - max(s1, s2))
            union = (e1 - s1) + (e2 - s2) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def test_cw_se_round_trip_numpy_and_torch():
    rng = np.random.default_rng(0)
    se = _random_segments(rng, 50)
    np.testing.assert_allclose(cw_to_se(se_to_cw(se)), se, atol=1e-12)
    cw = se_to_cw(se)
    np.testing.assert_allclose(cw[:, 0], se.mean(axis=1))
    np.testing.assert_allclose(cw[:, 1], se[:, 1] - se[:, 0])
    t = torch.tensor(se, requires_grad=True)
    back = cw_to_se(se_to_cw(t))
    assert isinstance(back, torch.Tensor)
    torch.testing.assert_close(back, t)
    back.sum().backward()
    assert t.grad is not None


def test_tiou_equals_a_direct_loop_and_torch_agrees():
    rng = np.random.default_rng(1)
    a, b = _random_segments(rng, 17), _random_segments(rng, 23)
    want = _loop_tiou(a, b)
    np.testing.assert_allclose(tiou(a, b), want, atol=1e-12)
    got = tiou(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    np.testing.assert_allclose(tiou_paired(a, b[:17]), np.diag(want[:, :17]), atol=1e-12)
    np.testing.assert_allclose(tiou_paired(torch.tensor(a), torch.tensor(b[:17])).numpy(), np.diag(want[:, :17]))


def test_tiou_known_values_and_empty_segments():
    gt = np.array([[10.0, 20.0]])
    pred = np.array([[15.0, 25.0], [10.0, 20.0], [30.0, 40.0], [12.0, 14.0]])
    np.testing.assert_allclose(tiou(gt, pred), [[5 / 15, 1.0, 0.0, 0.2]])
    assert tiou(np.array([[3.0, 3.0]]), np.array([[3.0, 3.0]]))[0, 0] == 0.0
    empty = torch.tensor([[3.0, 3.0]], requires_grad=True)
    val = tiou(empty, empty)
    val.sum().backward()
    assert val.item() == 0.0 and torch.isfinite(empty.grad).all()
    np.testing.assert_allclose(tiou_frames(gt, pred[:1]), [[6 / 16]])


def test_tiou_gradient_moves_prediction_towards_target():
    target = torch.tensor([[0.2, 0.6]])
    pred = torch.tensor([[0.3, 0.9]], requires_grad=True)
    (1 - tiou_paired(pred, target)).sum().backward()
    assert pred.grad[0, 1] > 0  # shrinking the end past the target's end raises tIoU


def _loop_nms(seg, score, thr):
    order = sorted(range(len(score)), key=lambda i: (-score[i], i))
    keep = []
    for i in order:
        if all(_loop_tiou(seg[i:i + 1], seg[k:k + 1])[0, 0] <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("thr", [0.1, 0.5, 0.8])
def test_nms_equals_reference_loop(thr):
    rng = np.random.default_rng(2)
    seg = _random_segments(rng, 60)
    score = rng.uniform(size=60).round(2)  # ties happen
    assert nms(seg, score, thr).tolist() == _loop_nms(seg, score, thr)


def _loop_soft_nms(seg, score, sigma, max_keep):
    score = score.astype(float).copy()
    alive = list(range(len(score)))
    keep, kept = [], []
    while alive and len(keep) < max_keep:
        i = max(alive, key=lambda k: (score[k], -k))
        keep.append(i)
        kept.append(score[i])
        alive.remove(i)
        for k in alive:
            score[k] *= np.exp(-_loop_tiou(seg[i:i + 1], seg[k:k + 1])[0, 0] ** 2 / sigma)
    return keep, kept


def test_soft_nms_equals_reference_loop():
    rng = np.random.default_rng(3)
    seg = _random_segments(rng, 40)
    score = rng.uniform(size=40)
    keep, kept = soft_nms(seg, score, sigma=0.5, max_keep=25)
    want_keep, want_kept = _loop_soft_nms(seg, score, 0.5, 25)
    assert keep.tolist() == want_keep
    np.testing.assert_allclose(kept, want_kept, rtol=1e-12)
    keep0, kept0 = soft_nms(seg, score, sigma=0.0, max_keep=5)
    assert keep0.tolist() == np.argsort(-score, kind="stable")[:5].tolist()
