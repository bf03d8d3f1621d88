"""Proposal scores and (start, end) segments from RTD-Net outputs, still in window units.

Conversion to seconds belongs to the time base (``nemi/io/timebase.py``), which knows where the
window lies in its video; nothing here does.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from nemi.model.matcher import pred_segments

PROPOSAL_SCORES = ("class", "class_completeness")


class PostProcess(nn.Module):
    """``score = p(action)``, or ``0.5 * (p(action) + completeness)`` (RTD-Net's stage 3).

    Returns a dict of (B, Q) ``scores``, (B, Q, 2) ``segments`` as (start, end) in window units
    clipped to [0, 1] (RTD-Action's ``prop_cl_to_se``) and (B, Q) ``completeness``.
    """

    def __init__(self, proposal_score: str) -> None:
        super().__init__()
        if proposal_score not in PROPOSAL_SCORES:
            raise ValueError(f"proposal_score must be one of {PROPOSAL_SCORES}, got {proposal_score!r}")
        self.proposal_score = proposal_score

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        p_action = outputs["pred_logits"].float().softmax(-1)[..., 0]
        completeness = outputs["pred_iou"][..., 0].float()
        scores = p_action if self.proposal_score == "class" else 0.5 * (p_action + completeness)
        segments = pred_segments(outputs["pred_boxes"].float())
        return {"scores": scores, "segments": segments, "completeness": completeness}
