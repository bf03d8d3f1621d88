"""NEMI's contrastive query loss (paper Eq. 4) on the decoder outputs of matched queries.

For one window, with ``q`` the outputs of the queries matched to its targets (one per target),
b and b' the positive pair (an activity and the sub-span re-assembling cropped from it) and t
a temperature::

    L(b -> b') = -log( exp(sim(q_b, q_b') / t) / sum_{k != b} exp(sim(q_b, q_k) / t) )

with ``sim`` the cosine similarity; the sum runs over every matched query but the anchor's own,
so it holds the positive and the negatives (the window's other activities). The window's loss
is the mean of both directions, ``(L(b -> b') + L(b' -> b)) / 2``; t = 1 is Eq. 4 as printed.
A window whose only matched queries are b and b' has no negative (its loss would be 0 for any
queries) and is skipped; the batch loss is the mean over the windows that have one.

This is the one implementation: ``SetCriterion.loss_contrastive`` finds each target's query through
the matcher's assignment, decides which windows are skipped and calls ``padded_contrastive_loss``;
``tests/test_contrastive.py`` checks it through the criterion against a hand computation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def padded_contrastive_loss(queries: Tensor, valid: Tensor, pairs: Tensor, temperature: float = 1.0) -> Tensor:
    """Eq. 4 of several windows at once, the mean over them (each the mean of its two directions).

    queries: (B, N, d), window w's matched queries in its rows where ``valid`` (B, N) is True (the
    rest is padding, left out of every sum). pairs: (B, 2) int64 rows of b and b'. Every window must
    have its pair among its valid rows and at least one more valid row (a negative); B >= 1.
    One batched computation, not a loop: the term costs a handful of kernels whatever B is.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, not {temperature}")
    batch, n, _ = queries.shape
    rows = torch.arange(batch, device=queries.device)
    unit = F.normalize(queries, dim=-1)
    anchors = unit[rows[:, None], pairs]  # (B, 2, d): q_b, q_b'
    logits = torch.einsum("bkd,bnd->bkn", anchors, unit) / temperature  # (B, 2, N)
    columns = torch.arange(n, device=queries.device)
    left_out = ~valid[:, None, :] | (columns[None, None, :] == pairs[:, :, None])  # padding and the anchor itself
    logits = logits.masked_fill(left_out, float("-inf"))
    positives = pairs.flip(1)  # b -> b', b' -> b
    return F.cross_entropy(logits.reshape(2 * batch, n), positives.reshape(-1))
