"""Streamed decoding of one video onto a fixed timeline.

The rule (what frame ``i`` of the fixed timeline shows)
---------------------------------------------------------
Let ``s_0 <= s_1 <= ...`` be the presentation times of the decoded source frames in
seconds, measured from the first decoded frame: ``s_k = (pts_k - pts_0) * time_base``,
so ``s_0 = 0`` whatever the container's start offset (edit lists, B-frame delay).
Target frame ``i = 0, 1, ...`` sits at ``t_i = i / fps`` and shows source frame
``k(i) = max{k : s_k <= t_i}``: the last source frame whose presentation time is not
later than ``t_i`` (sample and hold, what a player shows at that instant).

The video ends at ``E = s_last + d_last``, ``d_last`` being the display time of the
last frame: ``1 / average_rate`` of the stream when the container states a rate,
else the median spacing of the first 1000 source frames. ``duration_s = E`` and the frame count is

    N = #{i >= 0 : i / fps < E} = ceil(E * fps)

computed with exact rationals (pts * time_base and fps as a fraction, 29.97 = 2997/100),
so timestamps that fall exactly on a target time (30 -> 15 fps) never round the wrong way.

Edge cases
----------
- Variable frame rate: the rule works on timestamps only; frames repeat across long
  gaps and frames between two target times are dropped.
- A frame without a pts is placed at the previous time + 1/average_rate.
- A frame whose time is not later than the previous frame's (duplicate or backwards
  timestamps from a broken muxer) replaces it: the later-decoded frame wins.
- Source frames that no target frame shows are decoded (H.264 needs them as references)
  but never colour-converted or resized: that work is done once per shown frame, and a
  frame shown several times is converted once.
- Resizing: cv2.INTER_AREA on the full-size RGB frame; for sources with more than 16
  times the working size's pixels (HD), libswscale's area filter converts and resizes in
  one pass (3x faster there; within a few grey levels of OpenCV's). The group attribute
  ``resize`` records which (``cv2_area`` or ``swscale_area``).
- Truncation is caught three ways: the container cannot be opened (an MP4 whose index
  comes last), the demuxer or decoder fails mid-stream (an MP4 whose index comes first),
  or fewer frames decode than the header declares, by more than max(2, 1 %) (an AVI
  whose end is cut off decodes silently otherwise; a file cut right after its header
  decodes no frame at all).
- FFmpeg's own error messages are captured while a file is opened and decoded and
  quoted in the error, since its errno alone misleads (a header declaring an impossible
  frame size comes back as "Device or resource busy").
- Audio, subtitle and data streams are never decoded; only the first video stream is.
- Fewer than two source frames, or fewer than two timeline frames, is an error (a
  change curve needs two frames), as are a missing, empty, unreadable or truncated file
  and a container without a video stream: :class:`~nemi.errors.NemiInputError` naming
  the file and the problem. Errors found mid-stream are raised after some frames were
  yielded; the caller discards them (see :mod:`nemi.decode.shard`).

Memory holds one decoded source frame and one converted frame at a time.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from collections.abc import Iterator

import numpy as np

from nemi.errors import NemiInputError


# Above this ratio of source to working pixels (HD sources) libswscale converts and resizes
# in one pass, 3x faster than converting at full size; below it converting at full size
# (libswscale's fast path) and resizing with OpenCV is 1.8x faster at 320x240 -> 160x120.
SWSCALE_ABOVE = 16
MAX_INTERVALS = 1000   # source frame spacings kept for the median (memory stays bounded)


def as_fraction(fps: float) -> Fraction:
    """``fps`` as an exact fraction; float spellings like 29.97 become 2997/100."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, not {fps!r}")
    return Fraction(fps).limit_denominator(1_000_000)


def timeline_frame_count(duration_s: Fraction | float, fps: float) -> int:
    """N = #{i >= 0 : i / fps < duration_s} = ceil(duration_s * fps)."""
    return max(0, math.ceil(Fraction(duration_s) * as_fraction(fps)))


@dataclass
class SourceStats:
    """What decoding learnt about the source; complete once the frame iterator is exhausted."""

    path: str
    size_bytes: int
    source_fps: float = 0.0
    source_frame_count: int = 0
    duration_s: float = 0.0
    frame_count: int = 0
    codec: str = ""
    source_width: int = 0
    source_height: int = 0
    resize: str = ""
    intervals: list[float] = field(default_factory=list, repr=False)

    def attrs(self) -> dict:
        """HDF5 group attributes (frame shard layout in :mod:`nemi.io.frames`)."""
        return {
            "source_path": self.path, "source_size_bytes": self.size_bytes, "source_fps": self.source_fps,
            "source_frame_count": self.source_frame_count, "duration_s": self.duration_s,
            "source_codec": self.codec, "source_width": self.source_width, "source_height": self.source_height,
            "resize": self.resize,
        }


def check_video_file(path: str | os.PathLike) -> int:
    """Raise NemiInputError for a missing, unreadable or empty file; return its size in bytes."""
    p = Path(path)
    if not p.exists():
        raise NemiInputError(f"{p}: video file not found")
    if not p.is_file():
        raise NemiInputError(f"{p}: not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise NemiInputError(f"{p}: video file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise NemiInputError(f"{p}: video file is not readable (permission denied)")
    return size


def iter_timeline(path: str | os.PathLike, fps: float, width: int, height: int, stats: SourceStats | None = None,
                  thread_type: str = "SLICE") -> Iterator[np.ndarray]:
    """Yield the fixed-timeline frames of ``path``: RGB uint8 (height, width, 3), one per 1/fps s.

    ``stats`` (optional) is filled in as decoding goes and is complete when the iterator
    ends. The same array object is yielded again when a frame repeats: do not modify it.
    ``thread_type`` is PyAV's decoder threading ("SLICE", "FRAME", "AUTO" or "NONE").
    """
    import av  # heavy import kept out of module import time

    size = check_video_file(path)
    path = str(path)
    stats = stats if stats is not None else SourceStats(path=path, size_bytes=size)
    stats.path, stats.size_bytes = path, size
    fps_q = as_fraction(fps)
    with _ffmpeg_errors() as ffmpeg_log:
        try:
            container = av.open(path, metadata_errors="ignore")
        except av.error.FFmpegError as err:
            raise NemiInputError(f"{path}: cannot open as a video: {_open_problem(err, ffmpeg_log)}") from err
        yield from _decode_timeline(container, path, fps, fps_q, width, height, stats, thread_type, ffmpeg_log)


def _decode_timeline(container, path: str, fps: float, fps_q: Fraction, width: int, height: int,
                     stats: SourceStats, thread_type: str, ffmpeg_log: list) -> Iterator[np.ndarray]:
    import av

    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise NemiInputError(f"{path}: container has no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        stats.codec = stream.codec_context.name
        stats.source_width, stats.source_height = stream.codec_context.width, stream.codec_context.height
        rate = Fraction(stream.average_rate) if stream.average_rate else None
        declared = int(stream.frames or 0)   # frame count in the container header; 0 when unknown
        tb = stream.time_base
        prev = None            # last decoded frame, not yet known to be superseded
        prev_t = Fraction(0)   # its time s_k
        shown = None           # (source index, converted array) of the frame last converted
        pts0 = None
        i = 0                  # next target frame index
        n_src = 0

        def convert(frame, k: int) -> np.ndarray:
            nonlocal shown
            if shown is None or shown[0] != k:
                shown = (k, to_rgb(frame, width, height))
                stats.resize = "swscale_area" if _large(frame, width, height) else "cv2_area"
            return shown[1]

        try:
            for frame in container.decode(stream):
                if frame.pts is None or tb is None:
                    t = prev_t + (1 / rate if rate else Fraction(1, 25)) if prev is not None else Fraction(0)
                else:
                    if pts0 is None:
                        pts0 = frame.pts
                    t = Fraction(frame.pts - pts0) * tb
                if prev is not None and t > prev_t:
                    if len(stats.intervals) < MAX_INTERVALS:
                        stats.intervals.append(float(t - prev_t))
                    while i < t * fps_q:          # t_i < s_{k+1}: target i still shows frame k
                        yield convert(prev, n_src - 1)
                        i += 1
                    prev_t = t
                elif prev is None:
                    prev_t = t
                prev = frame
                n_src += 1
                if len(ffmpeg_log) > 100:  # a long damaged video: the last messages are the ones quoted
                    del ffmpeg_log[:-10]
        except av.error.FFmpegError as err:
            raise NemiInputError(f"{path}: decoding failed after {n_src} frames, file damaged or truncated "
                                 f"({_why(err, ffmpeg_log)})") from err
        said = _ffmpeg_said(ffmpeg_log)
        if declared and declared - n_src > max(2, declared // 100):
            got = f"only {n_src}" if n_src else "none"
            raise NemiInputError(f"{path}: file truncated or damaged: its header declares {declared} frames, "
                                 f"{got} could be decoded" + (f" (FFmpeg: {said})" if said else ""))
        if n_src == 0:
            raise NemiInputError(f"{path}: no frame could be decoded: the file holds no video data after its "
                                 "header (truncated or damaged)" + (f"; FFmpeg: {said}" if said else ""))
        if n_src < 2:
            raise NemiInputError(f"{path}: video has {n_src} decodable frame(s); at least two are needed")
        if rate:
            d_last = 1 / rate
        elif not stats.intervals:
            raise NemiInputError(f"{path}: all {n_src} frames carry the same timestamp and the stream states "
                                 "no frame rate; they cannot be placed on a timeline")
        else:
            d_last = Fraction(statistics.median(stats.intervals)).limit_denominator(1_000_000)
        end = prev_t + d_last
        n_total = timeline_frame_count(end, fps)
        if n_total < 2:
            raise NemiInputError(f"{path}: video lasts {float(end):.3f} s, less than two frames at {float(fps):g} fps")
        while i < n_total:
            yield convert(prev, n_src - 1)
            i += 1
        stats.source_frame_count = n_src
        stats.duration_s = float(end)
        stats.source_fps = float(rate) if rate else n_src / float(end)
        stats.frame_count = i


def _large(frame, width: int, height: int) -> bool:
    return frame.width * frame.height > SWSCALE_ABOVE * width * height


def to_rgb(frame, width: int, height: int) -> np.ndarray:
    """A decoded PyAV frame as RGB uint8 (height, width, 3), resized with an area filter."""
    import cv2

    if _large(frame, width, height):
        return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
    rgb = frame.to_ndarray(format="rgb24")
    if rgb.shape[:2] == (height, width):
        return rgb
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def _why(err: Exception, ffmpeg_log: list | None = None) -> str:
    msg = getattr(err, "strerror", None) or str(err)
    msg = msg.split(":", 1)[-1].strip() if msg.startswith("[Errno") else msg
    said = _ffmpeg_said(ffmpeg_log or [])
    return f"{msg}; FFmpeg: {said}" if said and said not in msg else msg


_PICTURE_SIZE = re.compile(r"Picture size (\d+)x(\d+) is invalid")


def _open_problem(err: Exception, ffmpeg_log: list) -> str:
    said = _ffmpeg_said(ffmpeg_log)
    size = _PICTURE_SIZE.search(said)
    if size:  # FFmpeg refuses the size before reading a frame; its errno (EBUSY) says nothing
        return (f"its header declares a frame size of {size[1]}x{size[2]} pixels, which FFmpeg refuses as "
                f"impossible (damaged or forged header; FFmpeg: {said})")
    return f"not a video file, or damaged or truncated ({_why(err, ffmpeg_log)})"


def _ffmpeg_said(ffmpeg_log: list, last: int = 3) -> str:
    """The last distinct error messages FFmpeg logged, joined."""
    import av.logging

    msgs: list[str] = []
    for entry in ffmpeg_log:
        level, _, message = entry
        text = message.strip()
        if level <= av.logging.ERROR and text and text not in msgs:
            msgs.append(text)
    return "; ".join(msgs[-last:])


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list]:
    """Capture FFmpeg's error messages (all threads: decoder threads log too) instead of printing them."""
    import av.logging

    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs:
            yield logs
    finally:
        av.logging.set_level(level)
