"""Frame shards: the decoded, fixed-timeline frames of a group of videos, in one HDF5 file.

Layout (``results/<dataset>/frames/<shard>.h5``)::

    /                      attrs: provenance (stage, nemi_version, git_sha, ...),
                                  params_json (the decode parameters), codec
    /<video_id>/frames     JPEG: vlen uint8, one JPEG byte string per frame
                           raw:  uint8 (T, H, W, 3), chunked one frame per chunk, gzip
    /<video_id>/t_s        float64 (T,): time of frame i on the fixed timeline, i / fps
    /<video_id>  attrs:    source_path, source_size_bytes, source_fps, source_frame_count,
                           duration_s, target_fps, frame_count, width, height

Frames are RGB, uint8, (height, width, 3). Frame i of the fixed timeline shows the
source at time ``i / target_fps`` seconds (the last source frame shown at that time).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from collections.abc import Iterator

import cv2
import h5py
import numpy as np

from nemi.errors import NemiInputError
from nemi.io.h5 import open_h5
from nemi.io.timebase import frame_to_time

CODECS = ("jpeg", "raw")


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    source_path: str
    source_size_bytes: int
    source_fps: float
    source_frame_count: int
    duration_s: float
    target_fps: float
    frame_count: int
    width: int
    height: int


def encode_jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a frame as JPEG")
    return buf.reshape(-1)


def decode_jpeg(data: np.ndarray) -> np.ndarray:
    bgr = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("corrupt JPEG frame")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FrameShardWriter:
    """Appends videos to a frame shard, one frame at a time (memory stays bounded).

    Use ``nemi.io.atomic.atomic_output`` around it: the file is only complete once
    :meth:`close` returns.
    """

    def __init__(self, path: str | os.PathLike, *, codec: str, jpeg_quality: int, root_attrs: dict) -> None:
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, not {codec!r}")
        self.codec, self.jpeg_quality = codec, jpeg_quality
        self.h5 = h5py.File(path, "w")
        for k, v in root_attrs.items():
            self.h5.attrs[k] = v
        self.h5.attrs["codec"] = codec

    def add_video(self, video_id: str, frames: Iterator[np.ndarray], *, width: int, height: int,
                  target_fps: float, attrs: dict) -> int:
        """Store ``frames`` (RGB uint8, (height, width, 3)) as ``video_id``; return the frame count."""
        g = self.h5.create_group(video_id)
        if self.codec == "jpeg":
            ds = g.create_dataset("frames", shape=(0,), maxshape=(None,), chunks=(64,),
                                  dtype=h5py.vlen_dtype(np.uint8))
        else:
            ds = g.create_dataset("frames", shape=(0, height, width, 3), maxshape=(None, height, width, 3),
                                  chunks=(1, height, width, 3), dtype=np.uint8, compression="gzip",
                                  compression_opts=4, shuffle=True)
        n = 0
        for frame in frames:
            ds.resize(n + 1, axis=0)
            ds[n] = encode_jpeg(frame, self.jpeg_quality) if self.codec == "jpeg" else frame
            n += 1
        g.create_dataset("t_s", data=frame_to_time(np.arange(n, dtype=np.float64), target_fps))
        for k, v in attrs.items():
            g.attrs[k] = v
        g.attrs.update(target_fps=float(target_fps), frame_count=n, width=int(width), height=int(height))
        return n

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> FrameShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FrameShardReader:
    """Reads a frame shard lazily: frames are decoded only when iterated."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.h5 = open_h5(self.path, "frame shard")
        self.codec = str(self.h5.attrs.get("codec", "jpeg"))
        self.params = json.loads(self.h5.attrs.get("params_json", "{}"))

    def video_ids(self) -> list[str]:
        return sorted(self.h5.keys())

    def info(self, video_id: str) -> VideoInfo:
        a = self.h5[video_id].attrs
        return VideoInfo(
            video_id=video_id, source_path=str(a["source_path"]), source_size_bytes=int(a["source_size_bytes"]),
            source_fps=float(a["source_fps"]), source_frame_count=int(a["source_frame_count"]),
            duration_s=float(a["duration_s"]), target_fps=float(a["target_fps"]),
            frame_count=int(a["frame_count"]), width=int(a["width"]), height=int(a["height"]),
        )

    def iter_frames(self, video_id: str, start: int = 0, stop: int | None = None,
                    batch: int = 64) -> Iterator[np.ndarray]:
        """Yield frames ``start:stop`` of ``video_id`` as RGB uint8 (H, W, 3)."""
        ds = self.h5[video_id]["frames"]
        stop = ds.shape[0] if stop is None else min(stop, ds.shape[0])
        for lo in range(start, stop, batch):
            block = ds[lo:min(lo + batch, stop)]
            for i, item in enumerate(block):
                if self.codec == "raw":
                    yield item
                else:
                    try:
                        yield decode_jpeg(item)
                    except ValueError as err:
                        raise NemiInputError(f"{self.path}: {video_id} frame {lo + i}: {err}") from err

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> FrameShardReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
