"""RTD-Net (Tan et al., ICCV 2021): direct proposal generation with a relaxed transformer decoder.

Equal to RTD-Action (MCG-NJU/RTD-Action main@a1b357e, ``models/rtd.py``) in architecture,
parameter names and shapes, so ``checkpoint_best_sum_ar.pth`` loads with ``strict=True``.
Where this module differs from the released code, it is where the released code is broken or
has no notion of the case (see ``RTDNet.forward``).

NEMI's ``activity_query`` strategy (paper section 3.3, after UP-DETR's query patches) adds one layer,
``activity_query_proj``, that exists only in a model built with that strategy, so a ``localisation``
model (RTD-Net) has exactly RTD-Action's state dict. During pretraining the first K queries of a
window start from its K activities' pooled features through that layer; fine-tuning and inference
run with the learned queries only (``activity_features=None``), as UP-DETR drops its patch queries
after pretraining, and the layer is not carried over to the fine-tuned model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nemi.model.transformer import MLP, SinePositionEncoding, Transformer

QUERY_STRATEGIES = ("localisation", "activity_query")


class PointwiseProjection(nn.Module):
    """A per-step linear map stored with the shape of RTD-Action's ``Conv2d(in, out, 1)``.

    The reference runs a 1x1 convolution over features reshaped to (B*T, C, 1, 1); a matrix
    product is the same map, and keeping the (out, in, 1, 1) weight lets its checkpoints load.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        conv = nn.Conv2d(in_dim, out_dim, kernel_size=1)  # only for torch's default initialisation
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.flatten(1), self.bias)


class RTDNet(nn.Module):
    """Proposal transformer: boundary-attentive features -> MLP encoder -> decoder -> three heads.

    Args (all plain values; ``nemi.model.builder`` reads them from ``ModelParams``):
        input_dim: feature channels per step. proj_dim: width of the input projection.
        boundary_scale: ``s`` in the scaling of the projection by ``s * start`` and ``s * end``.
        hidden_dim, encoder_layers, encoder_hidden_dim, decoder_layers, heads, ffn_dim, dropout:
        the transformer. num_queries: proposals per window. window_steps: longest window, in steps.
        aux_loss: also return the outputs of every earlier decoder layer.
        query_strategy: ``localisation`` (RTD-Net's learned queries) or ``activity_query`` (adds
            ``activity_query_proj``; see ``forward``'s ``activity_features``).
    """

    def __init__(self, *, input_dim: int, proj_dim: int, boundary_scale: float, hidden_dim: int,
                 encoder_layers: int, encoder_hidden_dim: int, decoder_layers: int, heads: int, ffn_dim: int,
                 dropout: float, num_queries: int, window_steps: int, aux_loss: bool,
                 query_strategy: str) -> None:
        super().__init__()
        if query_strategy not in QUERY_STRATEGIES:
            raise ValueError(f"query_strategy must be one of {QUERY_STRATEGIES}, got {query_strategy!r}")
        self.boundary_scale = boundary_scale
        self.aux_loss = aux_loss
        # Construction order follows the reference, so equal seeds give equally distributed weights.
        self.transformer = Transformer(2 * proj_dim, hidden_dim, encoder_layers, encoder_hidden_dim,
                                       decoder_layers, heads, ffn_dim, dropout)
        self.class_embed = nn.Linear(hidden_dim, 2)  # logits of (action, no-action)
        self.bbox_embed = MLP(hidden_dim, hidden_dim, 2, 3)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.input_proj = PointwiseProjection(input_dim, proj_dim)
        # Completeness head: a convolution along the query axis lets each query see its neighbours.
        self.iou_conv = nn.Sequential(
            nn.Conv1d(hidden_dim, 2 * hidden_dim, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv1d(2 * hidden_dim, hidden_dim, kernel_size=3, padding=1),
        )
        self.iou_embed = MLP(hidden_dim, 2 * hidden_dim, 1, 3)
        self.position_embedding = SinePositionEncoding(hidden_dim, window_steps)
        self.query_strategy = query_strategy
        self.num_queries = num_queries
        if query_strategy == "activity_query":
            # Built last, so that the RTD-Net part draws the same initial weights from a seed either way.
            self.activity_query_proj = nn.Linear(input_dim, hidden_dim)

    def forward(self, features: Tensor, boundary: Tensor, mask: Tensor | None = None,
                activity_features: Tensor | None = None,
                activity_mask: Tensor | None = None) -> dict[str, Tensor | list]:
        """Proposals for a batch of windows.

        Args:
            features: (B, T, input_dim), T <= window_steps.
            boundary: (B, T, 2) start and end probabilities of each step, in [0, 1].
            mask: optional (B, T) bool, True at real steps and False at padding (as
                ``nemi.windows.dataset.collate`` makes it); padded steps are kept out of the
                cross-attention. The released code has no mask (its padded steps carry zero
                boundary scores, so zero features, but still their positions); with ``None`` or
                an all-True mask this model is the released one.
            activity_features: only for ``query_strategy="activity_query"``, in pretraining: (B, K,
                input_dim), K <= num_queries, each window's activities' mean features
                (``nemi.reassemble.pool_activities``; ``nemi.pretrain.data.collate_pretrain`` pads a batch). Query k < K
                starts from ``activity_query_proj`` of activity k instead of DETR's zeros, and keeps its
                learned position embedding; the other queries are unchanged. None: RTD-Net exactly, as
                in fine-tuning and inference (the strategy's queries exist only in pretraining).
            activity_mask: optional (B, K) bool, True where ``activity_features`` holds an activity;
                a False slot leaves its query as learned.

        Returns a dict:
            ``pred_logits`` (B, Q, 2): logits of (action, no-action).
            ``pred_boxes`` (B, Q, 2): (centre, length) in window units, through a sigmoid.
            ``pred_iou`` (B, Q, 1): completeness, from the last decoder layer only.
            ``queries`` (B, Q, d): the last decoder layer's outputs (after the decoder's final
                LayerNorm, what the heads read), for NEMI's contrastive query loss.
            ``aux_outputs`` (only with aux_loss): one dict with ``pred_logits``, ``pred_boxes`` and
                ``queries`` per earlier decoder layer, first layer first. The reference also puts a
                ``pred_iou`` there, but zips it over the batch axis (so entry i holds clip i's
                completeness, and there are only min(layers - 1, B - 1) entries); nothing reads it,
                so it is left out and every earlier layer gets its entry.
        """
        batch, steps, _ = features.shape
        if boundary.shape != (batch, steps, 2):
            raise ValueError(f"boundary must have shape {(batch, steps, 2)}, got {tuple(boundary.shape)}")
        if mask is not None:
            if mask.shape != (batch, steps) or mask.dtype != torch.bool:
                raise ValueError(f"mask must be bool of shape {(batch, steps)}, got {mask.dtype} {tuple(mask.shape)}")
            if not bool(mask.any(dim=1).all()):
                raise ValueError("mask: a window with every step padded has nothing to attend to")
        projected = self.input_proj(features)
        scale = self.boundary_scale * boundary
        x = torch.cat([projected * scale[..., 0:1], projected * scale[..., 1:2]], dim=2)
        pos = self.position_embedding(batch, steps)
        padding = None if mask is None else ~mask
        tgt = self._activity_queries(activity_features, activity_mask, batch)
        hs = self.transformer(x, self.query_embed.weight, pos, padding, tgt)  # (layers, B, Q, d)

        logits = self.class_embed(hs)
        boxes = self.bbox_embed(hs).sigmoid()
        completeness = self.iou_conv(hs[-1].transpose(1, 2)).transpose(1, 2)
        completeness = self.iou_embed(completeness).sigmoid()

        out: dict[str, Tensor | list] = {"pred_logits": logits[-1], "pred_boxes": boxes[-1], "pred_iou": completeness,
                                         "queries": hs[-1]}
        if self.aux_loss:
            out["aux_outputs"] = [{"pred_logits": a, "pred_boxes": b, "queries": q}
                                  for a, b, q in zip(logits[:-1], boxes[:-1], hs[:-1])]
        return out

    def _activity_queries(self, activity_features: Tensor | None, activity_mask: Tensor | None,
                          batch: int) -> Tensor | None:
        """The decoder input (B, Q, d) of the activity-query strategy, or None (zeros) without activities."""
        if activity_features is None:
            if activity_mask is not None:
                raise ValueError("activity_mask given without activity_features")
            return None
        if self.query_strategy != "activity_query":
            raise ValueError(f"activity_features need query_strategy 'activity_query', this model has "
                             f"{self.query_strategy!r}")
        k = activity_features.shape[1]
        if activity_features.ndim != 3 or activity_features.shape[0] != batch or k > self.num_queries:
            raise ValueError(f"activity_features must be (B={batch}, K <= {self.num_queries}, input_dim), "
                             f"got {tuple(activity_features.shape)}")
        initial = self.activity_query_proj(activity_features)
        if activity_mask is not None:
            if activity_mask.shape != activity_features.shape[:2] or activity_mask.dtype != torch.bool:
                raise ValueError(f"activity_mask must be bool of shape {tuple(activity_features.shape[:2])}, "
                                 f"got {activity_mask.dtype} {tuple(activity_mask.shape)}")
            initial = initial * activity_mask.unsqueeze(-1).to(initial.dtype)
        rest = initial.new_zeros(batch, self.num_queries - k, initial.shape[-1])
        return torch.cat([initial, rest], dim=1)
