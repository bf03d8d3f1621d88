"""RTD-Net (Tan et al., ICCV 2021): direct proposal generation with a relaxed transformer decoder.

Equal to RTD-Action (MCG-NJU/RTD-Action main@a1b357e, ``models/rtd.py``) in architecture,
parameter names and shapes, so ``checkpoint_best_sum_ar.pth`` loads with ``strict=True``.
Where this module differs from the released code, it is where the released code is broken or
has no notion of the case (see ``RTDNet.forward``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nemi.model.transformer import MLP, SinePositionEncoding, Transformer


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
    """

    def __init__(self, *, input_dim: int, proj_dim: int, boundary_scale: float, hidden_dim: int,
                 encoder_layers: int, encoder_hidden_dim: int, decoder_layers: int, heads: int, ffn_dim: int,
                 dropout: float, num_queries: int, window_steps: int, aux_loss: bool) -> None:
        super().__init__()
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

    def forward(self, features: Tensor, boundary: Tensor, mask: Tensor | None = None) -> dict[str, Tensor | list]:
        """Proposals for a batch of windows.

        Args:
            features: (B, T, input_dim), T <= window_steps.
            boundary: (B, T, 2) start and end probabilities of each step, in [0, 1].
            mask: optional (B, T) bool, True at real steps and False at padding (as
                ``nemi.windows.collate`` makes it); padded steps are kept out of the
                cross-attention. The released code has no mask (its padded steps carry zero
                boundary scores, so zero features, but still their positions); with ``None`` or
                an all-True mask this model is the released one.

        Returns a dict:
            ``pred_logits`` (B, Q, 2): logits of (action, no-action).
            ``pred_boxes`` (B, Q, 2): (centre, length) in window units, through a sigmoid.
            ``pred_iou`` (B, Q, 1): completeness, from the last decoder layer only.
            ``aux_outputs`` (only with aux_loss): one dict with ``pred_logits`` and ``pred_boxes``
                per earlier decoder layer, first layer first. The reference also puts a
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
        hs = self.transformer(x, self.query_embed.weight, pos, padding)  # (layers, B, Q, d)

        logits = self.class_embed(hs)
        boxes = self.bbox_embed(hs).sigmoid()
        completeness = self.iou_conv(hs[-1].transpose(1, 2)).transpose(1, 2)
        completeness = self.iou_embed(completeness).sigmoid()

        out: dict[str, Tensor | list] = {"pred_logits": logits[-1], "pred_boxes": boxes[-1], "pred_iou": completeness}
        if self.aux_loss:
            out["aux_outputs"] = [{"pred_logits": a, "pred_boxes": b} for a, b in zip(logits[:-1], boxes[:-1])]
        return out
