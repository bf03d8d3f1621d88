"""The contrastive query loss (Eq. 4) against a hand computation, its gradient and its skip counting."""

from __future__ import annotations

import math

import pytest
import torch

from nemi.model.contrastive import contrastive_loss, window_contrastive_loss

# Four queries in 2-D, chosen so that every cosine is a round number:
#   q0 = (1, 0)   q1 = (3, 4) (|q1| = 5)   q2 = (0, 2)   q3 = (-1, 0)
# cos(q0, q1) = 3/5, cos(q0, q2) = 0, cos(q0, q3) = -1, cos(q1, q2) = 4/5, cos(q1, q3) = -3/5.
Q = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]])


def hand(t: float) -> float:
    """b = 0, b' = 1, negatives 2 and 3, both directions, by hand."""
    b_to_bp = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(0.0 / t) + math.exp(-1.0 / t)))
    bp_to_b = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(0.8 / t) + math.exp(-0.6 / t)))
    return (b_to_bp + bp_to_b) / 2


@pytest.mark.parametrize("t", [1.0, 0.1])
def test_value_equals_the_hand_computation(t):
    got = window_contrastive_loss(Q, 0, 1, temperature=t)
    assert float(got) == pytest.approx(hand(t), rel=1e-6)
    # t = 1 in numbers: ln(e^.6 + 1 + e^-1) - .6 = 0.56002, ln(e^.6 + e^.8 + e^-.6) - .6 = 0.92529
    assert hand(1.0) == pytest.approx((0.56002 + 0.92529) / 2, abs=1e-5)
    # symmetric in the pair, blind to the length of each query
    assert float(window_contrastive_loss(Q, 1, 0, temperature=t)) == pytest.approx(hand(t), rel=1e-6)
    scaled = Q * torch.tensor([[2.0], [0.5], [7.0], [3.0]])
    assert float(window_contrastive_loss(scaled, 0, 1, temperature=t)) == pytest.approx(hand(t), rel=1e-6)


def test_gradient_pulls_the_pair_together():
    q = Q.clone().requires_grad_(True)
    window_contrastive_loss(q, 0, 1).backward()
    assert q.grad.abs().sum() > 0 and torch.isfinite(q.grad).all()
    with torch.no_grad():
        stepped = q - 0.5 * q.grad
    before = torch.cosine_similarity(Q[0], Q[1], dim=0)
    after = torch.cosine_similarity(stepped[0], stepped[1], dim=0)
    assert after > before
    assert float(window_contrastive_loss(stepped, 0, 1)) < hand(1.0)


def test_batch_mean_and_skips():
    other = torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
    queries = [Q, Q[:2], other, Q[:3]]
    pairs = [(0, 1), (0, 1), None, (0, 1)]  # window 1: no negative; window 2: no pair
    loss, skipped = contrastive_loss(queries, pairs)
    assert skipped == 2
    expected = (window_contrastive_loss(Q, 0, 1) + window_contrastive_loss(Q[:3], 0, 1)) / 2
    torch.testing.assert_close(loss, expected)
    # Nothing to learn from: zero, still attached to the graph.
    q = Q[:2].clone().requires_grad_(True)
    zero, skipped = contrastive_loss([q], [(0, 1)])
    assert float(zero.detach()) == 0 and skipped == 1 and zero.requires_grad
    zero.backward()
    assert float(q.grad.abs().sum()) == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="N >= 3"):
        window_contrastive_loss(Q[:2], 0, 1)
    with pytest.raises(ValueError, match="two different rows"):
        window_contrastive_loss(Q, 1, 1)
    with pytest.raises(ValueError, match="temperature"):
        window_contrastive_loss(Q, 0, 1, temperature=0)
    with pytest.raises(ValueError, match="query sets"):
        contrastive_loss([Q], [])
