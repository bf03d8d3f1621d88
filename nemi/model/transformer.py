"""RTD-Net's transformer: an MLP in place of the encoder, then a post-norm DETR decoder.

RTD-Net replaces DETR's self-attention encoder with a per-step MLP over [features, positions]
(self-attention over-smooths slowly varying video features). Module and parameter names follow
RTD-Action (``transformer.encoder.layers.*``, ``transformer.decoder.layers.*``,
``transformer.decoder.norm``) so its checkpoints load unchanged. Tensors inside the decoder are
sequence-first, (L, B, d), as in ``nn.MultiheadAttention``'s default layout.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class SinePositionEncoding(nn.Module):
    """Fixed sine/cosine table over the window index, base 100 (not the 10000 of Vaswani et al.).

    ``table[0, t, 2i] = sin(t / 100^(2i/d))`` and ``table[0, t, 2i+1] = cos(t / 100^(2i/d))``.
    Kept as the persistent buffer ``position_table`` of shape (1, window_steps, d) because
    RTD-Action's checkpoints contain it.
    """

    def __init__(self, dim: int, window_steps: int) -> None:
        super().__init__()
        # float64 then float32, as the reference builds it in NumPy: the float32 table is the same.
        t = torch.arange(window_steps, dtype=torch.float64)[:, None]
        i = torch.arange(dim, dtype=torch.float64)[None, :]
        exponent = 2 * torch.div(i, 2, rounding_mode="floor") / dim
        angle = t / torch.pow(torch.tensor(100.0, dtype=torch.float64), exponent)
        table = torch.where(i.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
        self.register_buffer("position_table", table.float()[None])

    def forward(self, batch: int, steps: int) -> Tensor:
        """(batch, steps, d) for window indices 0..steps-1."""
        if steps > self.position_table.shape[1]:
            raise ValueError(f"a window of {steps} steps is longer than the position table "
                             f"({self.position_table.shape[1]} steps, model.window_steps)")
        return self.position_table[:, :steps].expand(batch, -1, -1)


class DecoderLayer(nn.Module):
    """DETR's post-norm decoder layer: self-attention, cross-attention, FFN, each + residual + LayerNorm.

    Queries carry their learned embedding ``query_pos`` added to queries and keys (never values);
    the memory carries the sine positions ``pos`` added to its keys.
    """

    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, heads, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, heads, dropout=dropout)
        self.linear1 = nn.Linear(d_model, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor,
                memory_key_padding_mask: Tensor | None = None) -> Tensor:
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, value=tgt)[0]))
        attended = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory,
                                       key_padding_mask=memory_key_padding_mask)[0]
        tgt = self.norm2(tgt + self.dropout2(attended))
        tgt = self.norm3(tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))
        return tgt


class Decoder(nn.Module):
    """A stack of decoder layers; returns every layer's output through the shared final LayerNorm."""

    def __init__(self, layer: DecoderLayer, num_layers: int, d_model: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor,
                memory_key_padding_mask: Tensor | None = None) -> Tensor:
        """(num_layers, Q, B, d)."""
        out = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos, memory_key_padding_mask)
            out.append(self.norm(tgt))
        return torch.stack(out)


class Transformer(nn.Module):
    """MLP encoder over [features, positions] and a DETR decoder with learned queries.

    ``features`` (B, T, c) and ``pos`` (B, T, d) -> decoder states of every layer, (layers, B, Q, d).
    ``padding`` (B, T), True at padded steps, keeps them out of the cross-attention.
    """

    def __init__(self, feature_dim: int, d_model: int, encoder_layers: int, encoder_hidden_dim: int,
                 decoder_layers: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.d_model = d_model
        self.encoder = MLP(feature_dim + d_model, encoder_hidden_dim, d_model, encoder_layers)
        self.decoder = Decoder(DecoderLayer(d_model, heads, ffn_dim, dropout), decoder_layers, d_model)
        # As released: xavier on every matrix of the encoder and decoder, torch defaults elsewhere.
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, features: Tensor, query_embed: Tensor, pos: Tensor,
                padding: Tensor | None = None, tgt: Tensor | None = None) -> Tensor:
        """``tgt`` (B, Q, d): the decoder's input (its first layer's content); None: zeros, as DETR."""
        batch = features.shape[0]
        memory = self.encoder(torch.cat([features, pos], dim=2)).transpose(0, 1)  # (T, B, d)
        pos = pos.transpose(0, 1)
        query_pos = query_embed.unsqueeze(1).expand(-1, batch, -1)  # (Q, B, d)
        tgt = torch.zeros_like(query_pos) if tgt is None else tgt.transpose(0, 1)
        return self.decoder(tgt, memory, pos, query_pos, padding).transpose(1, 2)
