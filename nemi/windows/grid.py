"""The step grid and its windows.

Steps. A step is ``step_frames`` frames of the video (RTD-Net: 5): step ``k`` covers
frames ``[k*s, (k+1)*s)`` and takes the feature of the snippet that holds its first frame
``k*s`` (the reference's ``frame // 8``; here the feature whose centre is nearest that
frame's centre, through the features' Timebase). With ``step_frames=None`` a step is a
snippet. A video has ``ceil(frames / step_frames)`` steps. In cell coordinates (step
``k`` occupies ``[k, k+1)``) a window of ``W`` steps starting at step ``b`` is ``[b, b+W)``
and its window units are ``u = (cell - b) / W``: the reference's
``(frame - base) / (window_size * interval)``.

Windows. A video of ``n <= W`` steps is one window, padded to ``W`` (the mask marks the
real steps). Otherwise, with stride ``s``, starts are ``0, s, 2s, ...`` up to
``(n // W - 1) * W`` (the reference's ``range((n // W - 1) * ratio + 1)`` with ``ratio =
W // s``), plus ``n - W``, the window ending at the video's end. That last start repeats
the one before it when ``n`` is a multiple of ``W``; the reference keeps both and so do
we, so that window counts match it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from nemi.io.timebase import Timebase, frame_to_time
from nemi.segments import cw_to_se


Split = Literal["train", "test"]


@dataclass(frozen=True)
class WindowParams:
    """window_steps: steps per window (100). train_stride / test_stride: steps between window starts (25 / 50).
    step_frames: frames per step (5), or None for one step per snippet.
    rescale_steps: every video resampled to this many equal steps (RTD-Net's ActivityNet: 100), step_frames
    unused; None (the config schema's default; here so that callers of the four-field grid keep it): off."""

    window_steps: int
    train_stride: int
    test_stride: int
    step_frames: int | None
    rescale_steps: int | None = None

    def __post_init__(self) -> None:
        if self.window_steps < 1 or not 1 <= self.train_stride <= self.window_steps \
                or not 1 <= self.test_stride <= self.window_steps:
            raise ValueError(f"need window_steps >= 1 and 1 <= strides <= window_steps, not {self}")
        if self.step_frames is not None and self.step_frames < 1:
            raise ValueError(f"step_frames must be >= 1 or None, not {self.step_frames}")
        if self.rescale_steps is not None and self.rescale_steps < 1:
            raise ValueError(f"rescale_steps must be >= 1 or None, not {self.rescale_steps}")

    def stride(self, split: Split) -> int:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        return self.train_stride if split == "train" else self.test_stride


RECORDED_KEYS = ("window_steps", "train_stride", "test_stride", "step_frames", "rescale_steps")


def recorded_window_params(record: Mapping | None) -> WindowParams:
    """The grid a model file records (its ``windows`` entry), else the schema's training grid.

    A key a model file predates (``rescale_steps``) takes the schema's default, which is what it was
    trained with; a released RTD-Action checkpoint records none and gets RTD-Net's grid.
    """
    from nemi.params import defaults

    grid = {**defaults("train"), "window_steps": defaults("model")["window_steps"]}  # the window is the model's
    w = {**{k: grid[k] for k in RECORDED_KEYS}, **dict(record or {})}
    return WindowParams(**{k: w[k] for k in RECORDED_KEYS})


def file_window_params(obj: Any) -> WindowParams:
    """The grid a loaded model file was trained on: a nemi model.pt's ``windows``; a training checkpoint's
    (``nemi.fit.state``, which a killed run resumes from) is its run's train section with its model's window
    length; a released RTD-Action
    checkpoint, which records none, gets the schema's (RTD-Net's) grid."""
    from nemi.fit.state import FORMAT

    if not isinstance(obj, Mapping):
        return recorded_window_params(None)
    if obj.get("windows") is None and obj.get("format") == FORMAT:
        config = obj["config"]
        return recorded_window_params({**{k: v for k, v in config["train"].items() if k in RECORDED_KEYS},
                                       "window_steps": config["model"]["window_steps"]})
    return recorded_window_params(obj.get("windows"))


def window_starts(n_steps: int, window_steps: int, stride: int) -> list[int]:
    """First step of every window of a video with ``n_steps`` steps (see the module docstring)."""
    if n_steps <= window_steps:
        return [0]
    last_regular = (n_steps // window_steps - 1) * window_steps
    return list(range(0, last_regular + 1, stride)) + [n_steps - window_steps]


def seconds_to_window(t_s: np.ndarray, grid: Timebase, start: int, window_steps: int) -> np.ndarray:
    """Seconds -> window units of the window starting at step ``start`` (0 = its first step's start)."""
    return (np.asarray(grid.time_to_cell(np.asarray(t_s, dtype=np.float64))) - start) / window_steps


def window_to_seconds(u: np.ndarray, grid: Timebase, start: int, window_steps: int) -> np.ndarray:
    """Window units -> seconds (inverse of seconds_to_window)."""
    return np.asarray(grid.cell_to_time(start + np.asarray(u, dtype=np.float64) * window_steps))


def boxes_to_seconds(boxes_cw: np.ndarray | torch.Tensor, grid: Timebase, start: int,
                     window_steps: int) -> np.ndarray:
    """A window's predicted (centre, length) boxes -> (start, end) seconds, (N, 2) float64.

    Clipped to the window first, as the reference's ``prop_cl_to_se`` does.
    """
    if isinstance(boxes_cw, torch.Tensor):
        boxes_cw = boxes_cw.detach().cpu().double().numpy()
    se = np.clip(cw_to_se(np.asarray(boxes_cw, dtype=np.float64)), 0.0, 1.0)
    return window_to_seconds(se, grid, start, window_steps)


def first_frame_centres(n_steps: int, step_frames: int, fps: float) -> np.ndarray:
    """Seconds at the centre of each step's first frame, where a step takes its feature and scores."""
    return np.asarray(frame_to_time(np.arange(n_steps, dtype=np.float64) * step_frames + 0.5, fps))
