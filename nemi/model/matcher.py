"""Hungarian matching of predicted proposals to target segments, and RTD-Net's relaxed matching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from nemi.segments import cw_to_se, tiou

Indices = list[tuple[Tensor, Tensor]]


def pred_segments(boxes: Tensor) -> Tensor:
    """(centre, length) -> (start, end) clipped to the window, as RTD-Action's ``prop_cl_to_se``."""
    return cw_to_se(boxes).clamp(0, 1)


class HungarianMatcher(nn.Module):
    """One-to-one assignment minimising ``cost_class * -p(action) + cost_l1 * L1(cw) + cost_tiou * -tIoU``.

    With ``relaxed`` (RTD-Net's stage 2, RTD-Action's default rule ``topk`` with k = 1) each target's
    best-tIoU prediction also becomes a positive for that target, unless it is a positive already.
    Ties in tIoU go to the lowest query index (the reference's unstable ``argsort`` has no rule).
    """

    def __init__(self, cost_class: float, cost_l1: float, cost_tiou: float, relaxed: bool = False) -> None:
        super().__init__()
        if cost_class == 0 and cost_l1 == 0 and cost_tiou == 0:
            raise ValueError("all matching costs are 0")
        self.cost_class, self.cost_l1, self.cost_tiou = cost_class, cost_l1, cost_tiou
        self.relaxed = relaxed

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]]) -> Indices:
        """Match each clip's queries to its targets.

        Args:
            outputs: ``pred_logits`` (B, Q, 2) and ``pred_boxes`` (B, Q, 2) as (centre, length).
            targets: B dicts with ``boxes`` (N_b, 2) as (centre, length) in window units (what
                ``nemi.windows.dataset.collate`` gives; other keys are ignored); N_b may be 0.

        Returns B pairs ``(query_idx, target_idx)`` of int64 CPU tensors; without relaxation
        ``len == min(Q, N_b)``, with it up to ``min(Q, N_b) + N_b``.
        """
        batch, queries = outputs["pred_logits"].shape[:2]
        sizes = [len(t["boxes"]) for t in targets]
        if len(sizes) != batch:
            raise ValueError(f"{len(sizes)} targets for a batch of {batch}")
        empty = torch.empty(0, dtype=torch.int64)
        if sum(sizes) == 0:
            return [(empty, empty) for _ in range(batch)]

        # float32 whatever autocast produced: the costs go to NumPy, which has no bfloat16.
        prob = outputs["pred_logits"].flatten(0, 1).float().softmax(-1)[:, 0:1]  # (B*Q, 1): p(action)
        boxes = outputs["pred_boxes"].flatten(0, 1).float()
        tgt = torch.cat([t["boxes"] for t in targets]).to(boxes)
        # Every clip against every target in one go (DETR), then each clip's own columns.
        cost = (self.cost_l1 * torch.cdist(boxes, tgt, p=1)
                + self.cost_class * -prob.expand(-1, len(tgt))
                + self.cost_tiou * -tiou(pred_segments(boxes), cw_to_se(tgt)))
        cost = cost.view(batch, queries, -1).cpu().numpy()

        result: Indices = []
        start = 0
        for b, n in enumerate(sizes):
            rows, cols = linear_sum_assignment(cost[b, :, start:start + n])
            start += n
            if self.relaxed and n:
                segments = cw_to_se(targets[b]["boxes"].to(boxes))
                rows, cols = self._relax(outputs["pred_boxes"][b].float(), segments, rows, cols)
            result.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return result

    @staticmethod
    def _relax(boxes: Tensor, segments: Tensor, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best = tiou(pred_segments(boxes), segments).argmax(dim=0).cpu().numpy()  # per target: its best query
        rows, cols = list(rows), list(cols)
        taken = set(rows)
        for j, q in enumerate(best):
            if q not in taken:
                taken.add(q)
                rows.append(q)
                cols.append(j)
        return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
