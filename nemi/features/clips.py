"""From a stream of frames to batches of I3D input windows, with bounded memory.

A video is never held whole: frames are cropped and paired with their flow as they
are decoded, kept in a sliding buffer of at most ``window + snippet`` frames, and
assembled into windows of ``window_frames`` centred on each snippet (see
:mod:`nemi.io.timebase`). Only ``batch_size`` windows exist at once.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import TypeVar
from collections.abc import Iterable, Iterator

import numpy as np

from nemi.io.timebase import Timebase, snippet_count

T = TypeVar("T")

CROP_METHOD = "centre crop of crop_px x crop_px; frames whose short side is below crop_px are first resized up " \
              "(bilinear) so that the short side equals crop_px"


def crop_frame(frame: np.ndarray, crop_px: int) -> np.ndarray:
    """(H, W, C) -> (crop_px, crop_px, C): centre crop, resizing up first when the frame is too small."""
    import cv2

    h, w = frame.shape[:2]
    if min(h, w) < crop_px:
        scale = crop_px / min(h, w)
        nw, nh = max(crop_px, round(w * scale)), max(crop_px, round(h * scale))
        frame = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        h, w = nh, nw
    y0, x0 = (h - crop_px) // 2, (w - crop_px) // 2
    return np.ascontiguousarray(frame[y0:y0 + crop_px, x0:x0 + crop_px])


def window_indices(k: int, frame_count: int, timebase: Timebase) -> list[int]:
    """Frame indices of feature ``k``'s window, clamped to the video (edges repeat first / last frame)."""
    lo, hi = timebase.window_frames_of(k)
    return [min(max(i, 0), frame_count - 1) for i in range(lo, hi)]


def iter_windows(items: Iterable[T], frame_count: int, timebase: Timebase) -> Iterator[list[T]]:
    """For each snippet, the list of ``window_frames`` items of its window, in order.

    ``items`` yields one item per frame (``frame_count`` of them, as the frame shard
    says); each is kept only while a later window still needs it.
    """
    if frame_count < 1:
        raise ValueError("a video needs at least one frame")
    it = iter(items)
    buf: deque[T] = deque()
    base = 0  # frame index of buf[0]
    for k in range(snippet_count(frame_count, timebase.stride_frames)):
        idx = window_indices(k, frame_count, timebase)
        while base + len(buf) <= idx[-1]:
            try:
                buf.append(next(it))
            except StopIteration:
                raise ValueError(f"the frame stream ended after {base + len(buf)} of {frame_count} frames") from None
        while base < idx[0]:
            buf.popleft()
            base += 1
        yield [buf[i - base] for i in idx]


def iter_batches(windows: Iterable[list[tuple[np.ndarray, np.ndarray]]],
                 batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Windows of (rgb, flow) pairs -> ``(rgb, flow)`` batches as float32 network inputs.

    rgb: (B, 3, T, H, W) = uint8 / 255 * 2 - 1; flow: (B, 2, T, H, W) = q / 255 * 2 - 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for w in windows:
        pending.append(w)
        if len(pending) == batch_size:
            yield _to_inputs(pending)
            pending = []
    if pending:
        yield _to_inputs(pending)


def _to_inputs(batch: list[list[tuple[np.ndarray, np.ndarray]]]) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.stack([np.stack([p[0] for p in w]) for w in batch])   # (B, T, H, W, 3) uint8
    flow = np.stack([np.stack([p[1] for p in w]) for w in batch])  # (B, T, H, W, 2) uint8
    scale = np.float32(2.0 / 255.0)
    rgb_f = rgb.transpose(0, 4, 1, 2, 3).astype(np.float32) * scale - 1.0
    flow_f = flow.transpose(0, 4, 1, 2, 3).astype(np.float32) * scale - 1.0
    return np.ascontiguousarray(rgb_f), np.ascontiguousarray(flow_f)


_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Decoding, flow (OpenCV releases the GIL) and batch assembly then overlap the
    network's forward pass, on the GPU and on the CPU alike. An exception in the
    producer is re-raised here; closing the consumer early stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as err:  # handed to the consumer, which re-raises it
            q.put(err)

    thread = threading.Thread(target=produce, name="nemi-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
