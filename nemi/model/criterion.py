"""RTD-Net's set criterion: matched classification and segment losses, and the completeness loss.

Equal to RTD-Action's ``SetCriterion`` (``models/rtd.py``) term by term, with these differences:

- A batch with no targets at all: the reference's matcher returns None and ``loss_ce`` becomes the
  integer 0; here every query is a no-action target and ``loss_ce`` is that cross-entropy.
- ``loss_iou``: the reference means to sample positives (tIoU > 0.7), middle (0.3-0.7] and negatives
  (< 0.3) 1:1:2, but it multiplies the *already averaged* smooth-L1 (a scalar) by the sample mask,
  so the result is the mean over all queries times S / (S + 1e-6) for S sampled queries: the sampling
  does nothing. ``completeness_sampling="balanced"`` implements the intended sampling (without
  replacement; the reference samples with replacement and fails when a class is empty);
  ``"released"`` keeps the released value: the mean over all queries when any query is a positive
  (the S / (S + 1e-6) factor, a relative 1e-6 / S, is dropped), else 0 (S = 0). The completeness
  target, each query's best tIoU against the window's targets, is detached here: it is a label (the
  reference lets gradients flow into the boxes through it, which only matters when the box head
  trains in the same step).
- ``classification="bce"`` is the NEMI paper's eq. 2, not in the reference.
- Earlier decoder layers get every requested term but the completeness one; the reference skips
  them altogether whenever the completeness loss is requested (it never combines the two).
- ``contrastive`` is NEMI's Eq. 4 (``nemi.model.contrastive``), not in the reference: on the last
  layer, and on earlier ones only with ``contrastive_aux``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nemi.model.contrastive import padded_contrastive_loss
from nemi.model.matcher import HungarianMatcher, Indices, pred_segments
from nemi.segments import cw_to_se, tiou, tiou_paired

LOSSES = ("labels", "boxes", "cardinality", "completeness", "contrastive")
# Terms the reference never computes on earlier decoder layers (its iou head sees the last one only).
LAST_LAYER_ONLY = ("completeness",)


def aux_layer_losses(losses: Sequence[str], contrastive_aux: bool) -> tuple[str, ...]:
    """The requested terms that earlier decoder layers get too (the builder weights exactly these)."""
    return tuple(n for n in losses if n not in LAST_LAYER_ONLY and (n != "contrastive" or contrastive_aux))


def num_targets_across_processes(targets: Sequence[Mapping[str, Tensor]], device: torch.device) -> float:
    """Targets per process, averaged over torch.distributed processes when initialised; at least 1."""
    n = torch.as_tensor([float(sum(len(t["boxes"]) for t in targets))], device=device)
    world = 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(n)
        world = torch.distributed.get_world_size()
    return torch.clamp(n / world, min=1).item()


def _float32(outputs: Mapping[str, Tensor | list]) -> dict[str, Tensor | list]:
    """Outputs of a bf16/fp16 autocast forward in float32 (differentiably): losses and tIoU need the precision."""
    cast = {k: v.float() for k, v in outputs.items() if isinstance(v, Tensor)}
    if "aux_outputs" in outputs:
        cast["aux_outputs"] = [{k: v.float() for k, v in aux.items()} for aux in outputs["aux_outputs"]]
    return cast


def best_tiou(boxes: Tensor, targets: Sequence[Mapping[str, Tensor]]) -> Tensor:
    """(B, Q): each query's best tIoU against its window's targets (0 with none), without gradient."""
    with torch.no_grad():
        rows = []
        for b, t in enumerate(targets):
            seg = cw_to_se(t["boxes"].to(boxes))
            if len(seg) == 0:
                rows.append(boxes.new_zeros(boxes.shape[1]))
            else:
                rows.append(tiou(pred_segments(boxes[b]), seg).max(dim=1).values)
        return torch.stack(rows)


class SetCriterion(nn.Module):
    """Losses of RTD-Net outputs against target boxes; ``forward`` returns ``{name: scalar}``.

    Args:
        matcher: assigns queries to targets (re-run for each auxiliary layer).
        losses: which of ``LOSSES`` to compute; see the schema's ``model`` section.
        weight_dict: weight per loss key, auxiliary keys included (``nemi.model.builder`` makes it);
            keys not in it (``class_error``, ``cardinality_error``) are only logged.
        no_action_weight: cross-entropy weight of the no-action class (RTD-Action's ``eos_coef``).
        classification: ``softmax_ce`` or ``bce``; bce_tiou_threshold: the BCE label threshold.
        completeness_*: the completeness sampling (``balanced`` or ``released``) and its thresholds.
        contrastive_temperature: t of Eq. 4. contrastive_aux: the contrastive term on earlier layers too.
    """

    def __init__(self, matcher: HungarianMatcher, losses: Sequence[str], weight_dict: Mapping[str, float], *,
                 no_action_weight: float, classification: str, bce_tiou_threshold: float,
                 completeness_sampling: str, completeness_positive_tiou: float, completeness_negative_tiou: float,
                 completeness_middle_per_positive: float, completeness_negatives_per_positive: float,
                 contrastive_temperature: float, contrastive_aux: bool) -> None:
        super().__init__()
        unknown = [name for name in losses if name not in LOSSES]
        if unknown:
            raise ValueError(f"unknown losses {unknown}; known: {list(LOSSES)}")
        if classification not in ("softmax_ce", "bce"):
            raise ValueError(f"classification must be softmax_ce or bce, got {classification!r}")
        if completeness_sampling not in ("balanced", "released"):
            raise ValueError(f"completeness_sampling must be balanced or released, got {completeness_sampling!r}")
        self.matcher = matcher
        self.losses = tuple(losses)
        self.weight_dict = dict(weight_dict)
        self.classification = classification
        self.bce_tiou_threshold = bce_tiou_threshold
        self.completeness_sampling = completeness_sampling
        self.positive_tiou = completeness_positive_tiou
        self.negative_tiou = completeness_negative_tiou
        self.middle_per_positive = completeness_middle_per_positive
        self.negatives_per_positive = completeness_negatives_per_positive
        if not contrastive_temperature > 0:
            raise ValueError(f"contrastive_temperature must be > 0, got {contrastive_temperature}")
        self.contrastive_temperature = contrastive_temperature
        self.contrastive_aux = contrastive_aux
        self.register_buffer("empty_weight", torch.tensor([1.0, no_action_weight]))
        self._dispatch: dict[str, Callable[..., dict[str, Tensor]]] = {
            "labels": self.loss_labels, "boxes": self.loss_boxes,
            "cardinality": self.loss_cardinality, "completeness": self.loss_completeness,
            "contrastive": self.loss_contrastive,
        }

    # --- one method per term; each returns {name: scalar} ---

    def loss_labels(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]],
                    indices: Indices, num_targets: float) -> dict[str, Tensor]:
        logits = outputs["pred_logits"]
        if self.classification == "bce":
            labels = (best_tiou(outputs["pred_boxes"], targets) >= self.bce_tiou_threshold).to(logits.dtype)
            # BCE of p(action) = softmax(logits)[0] = sigmoid(l_action - l_none), in the stable form.
            return {"loss_ce": F.binary_cross_entropy_with_logits(logits[..., 0] - logits[..., 1], labels)}
        classes = torch.ones(logits.shape[:2], dtype=torch.int64, device=logits.device)  # 1 = no-action
        classes[self._query_index(indices)] = 0
        return {"loss_ce": F.cross_entropy(logits.transpose(1, 2), classes, self.empty_weight.to(logits))}

    @torch.no_grad()
    def class_error(self, outputs: Mapping[str, Tensor], indices: Indices) -> dict[str, Tensor]:
        """Percent of matched queries whose argmax is not action (100 with none matched, as the reference)."""
        matched = outputs["pred_logits"][self._query_index(indices)]
        if len(matched) == 0:
            return {"class_error": torch.full((), 100.0, device=matched.device)}
        # The reference's arithmetic (``util.misc.accuracy``), so that the float32 values agree.
        return {"class_error": 100 - (matched.argmax(-1) == 0).float().sum() * (100.0 / len(matched))}

    @torch.no_grad()
    def loss_cardinality(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]],
                         indices: Indices, num_targets: float) -> dict[str, Tensor]:
        """Mean |queries predicted as action - targets| per window; logged, not a loss."""
        logits = outputs["pred_logits"]
        predicted = (logits.argmax(-1) != logits.shape[-1] - 1).sum(1).float()
        expected = torch.as_tensor([float(len(t["boxes"])) for t in targets], device=logits.device)
        return {"cardinality_error": F.l1_loss(predicted, expected)}

    def loss_boxes(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]],
                   indices: Indices, num_targets: float) -> dict[str, Tensor]:
        """L1 of (centre, length) and 1 - tIoU over matched pairs, each summed and divided by the targets."""
        src = outputs["pred_boxes"][self._query_index(indices)]
        tgt = torch.cat([t["boxes"][j] for t, (_, j) in zip(targets, indices)]).to(src)
        l1 = F.l1_loss(src, tgt, reduction="none").sum() / num_targets
        giou = (1 - tiou_paired(pred_segments(src), cw_to_se(tgt))).sum() / num_targets
        return {"loss_bbox": l1, "loss_giou": giou}

    def loss_completeness(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]],
                          indices: Indices, num_targets: float) -> dict[str, Tensor]:
        """Smooth-L1 between ``pred_iou`` and each query's best tIoU (see the module docstring)."""
        pred = outputs["pred_iou"].reshape(-1)
        target = best_tiou(outputs["pred_boxes"], targets).reshape(-1)
        if not bool((target > self.positive_tiou).any()):
            # Both ways select nothing without a positive (the released mask is all zero): loss 0.
            return {"loss_iou": pred.sum() * 0.0}
        if self.completeness_sampling == "released":
            return {"loss_iou": F.smooth_l1_loss(pred, target)}
        chosen = self._sample_completeness(target)
        return {"loss_iou": F.smooth_l1_loss(pred[chosen], target[chosen])}

    def loss_contrastive(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]],
                         indices: Indices, num_targets: float) -> dict[str, Tensor]:
        """Eq. 4 over the queries this layer's matching gives the targets; ``con_skipped`` is only logged.

        A target's query is its Hungarian match (with relaxed matching, the first pair naming the
        target; the extra best-tIoU queries are neither positives nor negatives). A window counts as
        skipped when it has no ``pair`` (or (-1, -1)), when b or b' is unmatched (more targets than
        queries), or when no other target is matched (no negative).
        """
        if "queries" not in outputs:
            raise ValueError("the contrastive loss needs the model's 'queries' output (decoder states)")
        states = outputs["queries"]
        windows, rows, pairs = [], [], []
        for w, (t, (q_idx, t_idx)) in enumerate(zip(targets, indices)):
            pair = t.get("pair")
            b, b_prime = (-1, -1) if pair is None else (int(pair[0]), int(pair[1]))
            if b < 0 and b_prime < 0:
                continue
            n = len(t["boxes"])
            if not (0 <= b < n and 0 <= b_prime < n) or b == b_prime:
                raise ValueError(f"window {w}: pair ({b}, {b_prime}) must name two of its {n} targets")
            query_of: dict[int, int] = {}
            for q, j in zip(q_idx.tolist(), t_idx.tolist()):
                query_of.setdefault(j, q)  # the Hungarian pair comes first
            if len(query_of) < 3 or b not in query_of or b_prime not in query_of:
                continue
            order = sorted(query_of)
            windows.append(w)
            rows.append([query_of[j] for j in order])
            pairs.append((order.index(b), order.index(b_prime)))
        skipped = len(targets) - len(windows)
        if not windows:
            loss = states.sum() * 0.0  # keeps the graph: every step has the same parameters in use
        else:
            # One gather into a padded (windows, most matches, d) block, then one batched loss.
            width = max(len(r) for r in rows)
            index = torch.tensor([r + [0] * (width - len(r)) for r in rows], device=states.device)
            lengths = torch.tensor([len(r) for r in rows], device=states.device)
            valid = torch.arange(width, device=states.device)[None, :] < lengths[:, None]
            picked = states[torch.tensor(windows, device=states.device)[:, None], index]
            loss = padded_contrastive_loss(picked, valid, torch.tensor(pairs, device=states.device),
                                           self.contrastive_temperature)
        return {"loss_con": loss, "con_skipped": torch.tensor(float(skipped), device=states.device)}

    def _sample_completeness(self, target: Tensor) -> Tensor:
        positive = torch.nonzero(target > self.positive_tiou).flatten()
        middle = torch.nonzero((target <= self.positive_tiou) & (target > self.negative_tiou)).flatten()
        negative = torch.nonzero(target < self.negative_tiou).flatten()
        n = len(positive)
        picked = [positive]
        for pool, per_positive in ((middle, self.middle_per_positive), (negative, self.negatives_per_positive)):
            k = min(len(pool), int(round(per_positive * n)))
            # The CPU generator, so that a seeded run (and its checkpointed RNG state) repeats exactly.
            picked.append(pool[torch.randperm(len(pool))[:k].to(pool.device)])
        return torch.cat(picked)

    @staticmethod
    def _query_index(indices: Indices) -> tuple[Tensor, Tensor]:
        batch = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(indices)])
        query = torch.cat([q for q, _ in indices])
        return batch, query

    def forward(self, outputs: Mapping[str, Tensor | list],
                targets: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Losses of the last layer under the reference's names, and ``<name>_<i>`` for earlier layer i.

        ``targets``: one dict per window with ``boxes`` (N, 2), (centre, length) in window units
        (``nemi.windows.dataset.collate``'s targets; their ``labels`` are not read: proposals have one class),
        and for ``contrastive`` optionally ``pair``: int64 (2,), the indices of b and b' among the
        window's targets, or (-1, -1) for none.
        """
        outputs = _float32(outputs)
        last = {k: v for k, v in outputs.items() if k != "aux_outputs"}
        num_targets = num_targets_across_processes(targets, last["pred_logits"].device)
        indices = self.matcher(last, targets)
        losses: dict[str, Tensor] = {}
        for name in self.losses:
            losses |= self._dispatch[name](last, targets, indices, num_targets)
        if "labels" in self.losses:
            losses |= self.class_error(last, indices)
        layer_losses = aux_layer_losses(self.losses, self.contrastive_aux)
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            if not layer_losses:
                break
            aux_indices = self.matcher(aux, targets)
            for name in layer_losses:
                terms = self._dispatch[name](aux, targets, aux_indices, num_targets)
                losses |= {f"{k}_{i}": v for k, v in terms.items()}
        return losses
