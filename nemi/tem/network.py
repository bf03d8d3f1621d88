"""BSN's temporal evaluation module (TEM): three 1-D convolutions over a window's steps.

Layers, names and the output scaling follow BSN's ``models.py::TEM`` (pytorch version,
wzmsltw/BSN-boundary-sensitive-network.pytorch), so its state dict loads once the
DataParallel ``module.`` prefix is stripped. BSN's ``weight_init`` only touches Conv2d
layers, so its Conv1d layers keep PyTorch's default initialisation, as here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# BSN divides the last layer's output by 100 before the sigmoid: scores start near 0.5 and move slowly.
OUTPUT_SCALE = 0.01
CHANNELS = ("action", "start", "end")  # output channel order, as BSN's


class TEM(nn.Module):
    def __init__(self, feat_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.feat_dim, self.hidden_dim = feat_dim, hidden_dim
        self.conv1 = nn.Conv1d(feat_dim, hidden_dim, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=3, stride=1, padding=1)
        self.conv3 = nn.Conv1d(hidden_dim, len(CHANNELS), kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, T) features, channels first as BSN -> (B, 3, T) action, start, end probabilities."""
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return torch.sigmoid(OUTPUT_SCALE * self.conv3(x))
