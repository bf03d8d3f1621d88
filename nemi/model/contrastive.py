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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def window_contrastive_loss(queries: Tensor, b: int, b_prime: int, temperature: float = 1.0) -> Tensor:
    """Eq. 4 of one window, averaged over both directions.

    queries: (N, d) decoder outputs of the window's matched queries, N >= 3 (b, b' and at least one
    negative). b, b_prime: rows of the positive pair. Returns a scalar.
    """
    n = queries.shape[0]
    if queries.ndim != 2 or n < 3:
        raise ValueError(f"need (N >= 3, d) queries (b, b' and a negative), got {tuple(queries.shape)}")
    if not (0 <= b < n and 0 <= b_prime < n) or b == b_prime:
        raise ValueError(f"b = {b} and b' = {b_prime} must be two different rows of {n} queries")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, not {temperature}")
    unit = F.normalize(queries, dim=-1)
    anchors = torch.tensor([b, b_prime], device=queries.device)
    logits = unit[anchors] @ unit.T / temperature  # (2, N): cosine similarities of each anchor
    own = torch.zeros_like(logits, dtype=torch.bool)
    own[0, b] = own[1, b_prime] = True
    # Cross-entropy over k != anchor with the other positive as the class: exactly -log of Eq. 4's ratio.
    return F.cross_entropy(logits.masked_fill(own, float("-inf")), torch.flip(anchors, [0]))


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


def contrastive_loss(queries: Sequence[Tensor], pairs: Sequence[tuple[int, int] | None],
                     temperature: float = 1.0) -> tuple[Tensor, int]:
    """Eq. 4 averaged over the windows of a batch that have a pair and a negative.

    queries: per window, (N_i, d) matched-query outputs (row i = the query of target i, or any
    order the pair indexes). pairs: per window, (row of b, row of b'), or None for no pair.
    Returns ``(loss, skipped)``: the mean over the windows used (a zero that keeps the graph when
    there are none) and the number of windows with no term (no pair, or no negative).
    """
    if len(queries) != len(pairs):
        raise ValueError(f"{len(queries)} query sets for {len(pairs)} pairs")
    used = [i for i, (q, pair) in enumerate(zip(queries, pairs)) if pair is not None and len(q) >= 3]
    for i in used:
        b, bp = pairs[i]
        if not (0 <= b < len(queries[i]) and 0 <= bp < len(queries[i])) or b == bp:
            raise ValueError(f"window {i}: b = {b} and b' = {bp} must be two different rows of "
                             f"{len(queries[i])} queries")
    skipped = len(pairs) - len(used)
    if not used:
        # Zero times the queries, not a constant: the graph (and DDP's view of used parameters) stays the same.
        zero = torch.stack([q.sum() for q in queries]).sum() * 0.0 if len(queries) else torch.zeros(())
        return zero, skipped
    padded = torch.nn.utils.rnn.pad_sequence([queries[i] for i in used], batch_first=True)
    lengths = torch.tensor([len(queries[i]) for i in used], device=padded.device)
    valid = torch.arange(padded.shape[1], device=padded.device)[None, :] < lengths[:, None]
    index = torch.tensor([pairs[i] for i in used], dtype=torch.int64, device=padded.device)
    return padded_contrastive_loss(padded, valid, index, temperature), skipped
