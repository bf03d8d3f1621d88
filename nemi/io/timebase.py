"""Seconds <-> frame index <-> feature index: the one place nemi converts between them.

Every stage that turns a feature index into seconds (pseudo labels, training targets,
proposals) or seconds into a feature index calls this module; nothing else in the
package recomputes the formula. ``docs/timebase.md`` is the same text for users.

Frames are centre-aligned, like pixels in an image (ActionFormer's FAQ)
-----------------------------------------------------------------------

Frame ``i`` of the fixed timeline at ``fps`` starts at ``i / fps`` seconds and lasts
``1 / fps``: the frame shard's ``t_s[i] = i / fps`` is the start of frame ``i``, its
centre is at ``(i + 0.5) / fps``. A feature ``k`` is computed from a window of
``window`` frames starting at frame ``offset + k * stride``; the feature sits at the
centre of its window::

    t_center(k) = (offset + k * stride + window / 2) / fps         (seconds)
    k(t)        = (t * fps - offset - window / 2) / stride         (a real number)

Native extraction (``nemi features extract``), Thumos14 setting (snippet 8, window 16),
one column per frame; a window spans ``|`` to ``|`` (exclusive end)::

    frame index     -4  0   4   8   12  16  20  24  28
    snippet k           |---0---|---1---|---2---|
    I3D window 0    |=======0=======|                  frames -4..11: -4..-1 repeat frame 0
    I3D window 1            |=======1=======|          frames 4..19
    I3D window 2                    |=======2=======|  frames 12..27: past the end repeat the last
    feature centre          ^       ^       ^          frame 4, 12, 20: t = (8k + 4) / fps

Snippet ``k`` covers frames ``[k*s, (k+1)*s)`` (``s`` = ``snippet_frames``: 8 Thumos14,
16 ActivityNet); its feature is the I3D output of the 16-frame window centred on the
snippet centre, ``(k*s + s/2) / fps``. Frames outside the video are the first / last
frame repeated. In the formula above that is ``stride = s`` and ``offset = s/2 - window/2``
(``-4`` for s=8, window=16; ``0`` for s=16).

Imported features keep their publisher's convention, given in the config:

- ActionFormer / CMCS ``.npy`` (Thumos14): stride 4, 16-frame clips, offset 0:
  feature ``i`` is centred at ``(i*4 + 8) / fps``.
- RTD-Net tensors: one row per 8 frames (its loader maps frame ``f`` to row ``f // 8``),
  so stride 8, window 8, offset 0: row ``i`` is centred at ``(i*8 + 4) / fps``.

ActionFormer's worked example (fps=1, window=4, stride=2, offset=0)::

    Time:              |0---1---2---3---4---5---6|
    Frame index:       |--0---1---2---3---4---5--|
    Local window 1:    |--0---1---2---3--|
    Local window 2:            |--2---3---4---5--|
    Feature grid:      |--------0-------1--------|

Feature 0 is at t = 2.0 s, feature 1 at t = 4.0 s, and t = 0.0 s is feature -1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timebase:
    """A feature grid on a video's timeline.

    fps: frames per second of the timeline the frame indices count on.
    stride_frames: frames between consecutive features.
    window_frames: frames each feature is computed from.
    offset_frames: first frame of feature 0's window (may be negative: edge padding).
    """

    fps: float
    stride_frames: int
    window_frames: int
    offset_frames: float = 0.0

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, not {self.fps}")
        if self.stride_frames < 1 or self.window_frames < 1:
            raise ValueError(f"stride_frames and window_frames must be >= 1, "
                             f"not {self.stride_frames}, {self.window_frames}")

    @classmethod
    def native(cls, fps: float, snippet_frames: int, window_frames: int) -> Timebase:
        """nemi's own extraction: a window of ``window_frames`` centred on each snippet."""
        return cls(fps=fps, stride_frames=snippet_frames, window_frames=window_frames,
                   offset_frames=(snippet_frames - window_frames) / 2)

    def index_to_time(self, index: float | np.ndarray) -> float | np.ndarray:
        """Seconds at the centre of feature ``index`` (fractional indices interpolate)."""
        return _like(index, (self.offset_frames + _f64(index) * self.stride_frames
                             + 0.5 * self.window_frames) / self.fps)

    def time_to_index(self, t_s: float | np.ndarray) -> float | np.ndarray:
        """Fractional feature index whose centre is at ``t_s`` seconds (inverse of index_to_time)."""
        return _like(t_s, (_f64(t_s) * self.fps - self.offset_frames - 0.5 * self.window_frames)
                     / self.stride_frames)

    @property
    def step_s(self) -> float:
        """Seconds between consecutive features."""
        return self.stride_frames / self.fps

    def frames_to_seconds(self, frames: float | np.ndarray) -> float | np.ndarray:
        """A duration of ``frames`` frames of this grid's timeline, in seconds."""
        return frame_to_time(frames, self.fps)

    @classmethod
    def steps(cls, fps: float, step_frames: int) -> Timebase:
        """A grid of steps of ``step_frames`` frames, step ``k`` covering frames ``[k*s, (k+1)*s)`` (RTD-Net: s=5)."""
        return cls(fps=fps, stride_frames=step_frames, window_frames=step_frames, offset_frames=0.0)

    @classmethod
    def rescaled(cls, duration_s: float, n_steps: int) -> Timebase:
        """``n_steps`` equal steps over ``duration_s`` seconds, step ``k`` covering ``[k, k+1) * duration_s / n_steps``
        (BSN's and RTD-Net's ActivityNet setting: every video the same number of steps, whatever its length).

        A step is not a whole number of video frames, so this grid's timeline counts steps, not frames:
        its ``fps`` is ``n_steps / duration_s`` and each "frame" is one step (stride 1, window 1, offset 0).
        """
        if not duration_s > 0 or n_steps < 1:
            raise ValueError(f"a rescaled grid needs duration_s > 0 and n_steps >= 1, not {duration_s}, {n_steps}")
        return cls(fps=n_steps / duration_s, stride_frames=1, window_frames=1, offset_frames=0.0)

    def nearest_index(self, t_s: float | np.ndarray) -> int | np.ndarray:
        """Index of the feature whose centre is nearest ``t_s`` (a tie goes to the later one), unclipped.

        At the centre of frame ``f`` this is the feature that holds the frame: ``f // 8`` for
        RTD-Net's rows and nemi's native snippets alike.
        """
        k = np.floor(_f64(self.time_to_index(t_s)) + 0.5).astype(np.int64)
        return k if isinstance(t_s, np.ndarray) else int(k)

    def time_to_cell(self, t_s: float | np.ndarray) -> float | np.ndarray:
        """Position in cells, where feature ``k`` occupies ``[k, k+1)``: its window-unit coordinate."""
        return _like(t_s, _f64(self.time_to_index(t_s)) + 0.5)

    def cell_to_time(self, cell: float | np.ndarray) -> float | np.ndarray:
        """Seconds at cell position ``cell`` (inverse of time_to_cell); cell ``k`` is where feature ``k`` begins."""
        return self.index_to_time(_like(cell, _f64(cell) - 0.5))

    def centers(self, n_features: int) -> np.ndarray:
        """(n_features,) float64: the centre time of every feature, seconds."""
        return self.index_to_time(np.arange(n_features, dtype=np.float64))

    def boundaries(self, n_features: int) -> np.ndarray:
        """(n_features - 1,) float64: time halfway between feature k and k+1, seconds.

        For native snippets this is where snippet k+1 begins, ``(k+1) * stride / fps``.
        """
        return self.index_to_time(np.arange(max(n_features - 1, 0), dtype=np.float64) + 0.5)

    def frames_covered(self, n_features: int) -> int:
        """Frames from 0 to the end of feature ``n_features - 1``'s window: ``offset + (T-1) stride + window``."""
        return int(np.ceil(self.offset_frames + (n_features - 1) * self.stride_frames + self.window_frames))

    def window_frames_of(self, index: int) -> tuple[int, int]:
        """Frame range ``[start, stop)`` of feature ``index``'s window (may reach outside the video)."""
        start = int(np.floor(self.offset_frames + index * self.stride_frames))
        return start, start + self.window_frames

    def as_attrs(self) -> dict[str, float | int]:
        return {"fps": float(self.fps), "stride_frames": int(self.stride_frames),
                "window_frames": int(self.window_frames), "offset_frames": float(self.offset_frames)}

    @classmethod
    def from_attrs(cls, attrs) -> Timebase:
        return cls(fps=float(attrs["fps"]), stride_frames=int(attrs["stride_frames"]),
                   window_frames=int(attrs["window_frames"]), offset_frames=float(attrs["offset_frames"]))


def frame_to_time(frame: float | np.ndarray, fps: float) -> float | np.ndarray:
    """Start of frame ``frame`` on the fixed timeline, seconds (its centre is +0.5 / fps)."""
    return _like(frame, _f64(frame) / fps)


def time_to_frame(t_s: float | np.ndarray, fps: float) -> float | np.ndarray:
    """Fractional frame index that starts at ``t_s`` seconds; ``floor`` of it is the frame shown then."""
    return _like(t_s, _f64(t_s) * fps)


def snippet_count(frame_count: int, snippet_frames: int) -> int:
    """Snippets covering ``frame_count`` frames: the last partial snippet counts (padded), at least 1."""
    return max(1, -(-frame_count // snippet_frames))


def _f64(x: float | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _like(x: float | np.ndarray, y: np.ndarray) -> float | np.ndarray:
    """``y`` as a Python float when ``x`` was a scalar, else as an array."""
    return y if isinstance(x, np.ndarray) else float(y)
