"""BSN's TEM loss: a class-balanced binary cross-entropy per channel, total 2 L_action + L_start + L_end.

BSN's ``bi_loss`` thresholds the labels at 0.5, and with ``r = N / N_pos`` weighs positives
by ``0.5 r`` and negatives by ``0.5 r / (r - 1)`` before the mean over all ``N`` entries
of the batch. That is the same as ``0.5 * mean over positives of -log(p) + 0.5 * mean over
negatives of -log(1 - p)``, written here in that form: it has no division by zero when a
batch has no positive (BSN: NaN) or no negative (BSN: inf), where the empty half counts 0.
The 1e-5 inside the logarithms is BSN's.
"""

from __future__ import annotations

import torch

EPS = 1e-5  # BSN's


def bi_loss(pred: torch.Tensor, label: torch.Tensor, threshold: float,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Class-balanced BCE over every (valid) entry of the batch: ``pred`` and ``label`` of one shape."""
    pred, label = pred.reshape(-1), label.reshape(-1)
    valid = torch.ones_like(pred, dtype=torch.bool) if mask is None else mask.reshape(-1).bool()
    pos = (label > threshold) & valid
    neg = ~(label > threshold) & valid
    loss_pos = -(torch.log(pred + EPS) * pos).sum() / pos.sum().clamp_min(1)
    loss_neg = -(torch.log(1.0 - pred + EPS) * neg).sum() / neg.sum().clamp_min(1)
    return 0.5 * (loss_pos + loss_neg)


def tem_loss(pred: torch.Tensor, labels: torch.Tensor, threshold: float,
             mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """pred, labels (B, 3, T) action/start/end; mask (B, T) True on real steps. Returns BSN's names."""
    out = {f"loss_{name}": bi_loss(pred[:, c], labels[:, c], threshold, mask)
           for c, name in enumerate(("action", "start", "end"))}
    out["cost"] = 2 * out["loss_action"] + out["loss_start"] + out["loss_end"]
    return out
