"""Kinetics classification of one video: a one-command check of an I3D weights file.

Preprocessing follows DeepMind's Kinetics evaluation (kinetics-i3d README): frames
at the video's own rate, resized so the short side is 256 px (bilinear), a 224x224
centre crop, RGB values mapped linearly from [0, 255] to [-1, 1]; the network's
logits are averaged over time and a softmax gives the probabilities.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from nemi.errors import NemiInputError

SHORT_SIDE_PX = 256
CROP_PX = 224


def decode_centre_clip(
    path: str | os.PathLike, n_frames: int | None = 64, short_side: int = SHORT_SIDE_PX, crop: int = CROP_PX
) -> np.ndarray:
    """RGB frames ``[T, crop, crop, 3]`` uint8 from the middle of a video.

    ``n_frames`` consecutive frames centred on the middle of the video are kept (all
    frames when None, or when the video is shorter).
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise NemiInputError(f"{path}: video not found")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NemiInputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            scale = short_side / min(w, h)
            new_w, new_h = max(crop, round(w * scale)), max(crop, round(h * scale))
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(width=new_w, height=new_h, format="rgb24", interpolation="BILINEAR"))
    except av.FFmpegError as err:
        raise NemiInputError(f"{path}: cannot decode video ({err})") from err
    if not frames:
        raise NemiInputError(f"{path}: no frames could be decoded")
    if n_frames is not None and len(frames) > n_frames:
        start = (len(frames) - n_frames) // 2
        frames = frames[start:start + n_frames]
    clip = np.stack(frames)
    top, left = (clip.shape[1] - crop) // 2, (clip.shape[2] - crop) // 2
    return clip[:, top:top + crop, left:left + crop]


def rgb_to_input(clip: np.ndarray) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> float ``[1, 3, T, H, W]`` in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).float()
    return (x / 127.5 - 1.0).unsqueeze(0)


@torch.no_grad()
def classify_clip(model: torch.nn.Module, clip: np.ndarray, device: torch.device) -> np.ndarray:
    """Class probabilities ``[num_classes]`` (softmax of the time-averaged logits)."""
    model.eval().to(device)
    logits = model(rgb_to_input(clip).to(device)).float()
    return torch.softmax(logits[0], dim=0).cpu().numpy()


def top_k(probs: np.ndarray, classes: list[str] | None, k: int) -> list[tuple[int, str, float]]:
    """(index, name, probability) of the k most probable classes, most probable first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), classes[i] if classes else f"class {i}", float(probs[i])) for i in order]
