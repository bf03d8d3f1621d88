"""Decode the videos of one shard into one frame shard (layout in :mod:`nemi.io.frames`).

A bad video (see :mod:`nemi.decode.timeline` for what counts) either fails the whole
job (``on_error="fail"``: nothing is left under the shard's final name) or is skipped
(``on_error="skip"``): its partial group is deleted, it is listed in the skipped-videos
CSV (``video_id,path,reason``) and the other videos proceed.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from typing import ClassVar
from dataclasses import asdict, dataclass
from pathlib import Path

from nemi.decode.timeline import SourceStats, iter_timeline
from nemi.errors import NemiInputError
from nemi.io.atomic import atomic_output
from nemi.io.frames import CODECS, FrameShardWriter
from nemi.io.provenance import provenance, sha256_file
from nemi.log import Progress

VERSION = 1  # bump when the frames a shard holds change meaning; the rule reruns on it

log = logging.getLogger("nemi.decode")

ON_ERROR = ("fail", "skip")
SKIPPED_COLUMNS = ("video_id", "path", "reason")


@dataclass(frozen=True)
class DecodeParams:
    """Decode settings (config section ``decode``): timeline fps, working size, storage codec."""

    SECTION: ClassVar[str] = "decode"
    fps: float  # frames per second of the fixed timeline
    width_px: int  # working size every frame is resized to
    height_px: int
    codec: str  # jpeg | raw
    jpeg_quality: int  # 1..100

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise NemiInputError(f"decode.fps must be > 0, not {self.fps}")
        if self.width_px < 1 or self.height_px < 1:
            raise NemiInputError(f"decode.width_px/height_px must be >= 1, not {self.width_px}x{self.height_px}")
        if self.codec not in CODECS:
            raise NemiInputError(f"decode.codec must be one of {CODECS}, not {self.codec!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise NemiInputError(f"decode.jpeg_quality must be in 1..100, not {self.jpeg_quality}")


def decode_shard(videos: list[tuple[str, str]], out: str | os.PathLike, skipped_csv: str | os.PathLike,
                 params: DecodeParams, on_error: str = "fail", thread_type: str = "SLICE") -> list[dict]:
    """Decode ``videos`` ([(video_id, path)]) into the frame shard ``out``; return the skipped rows.

    Both ``out`` and ``skipped_csv`` are written atomically; the CSV always exists (header
    only when nothing was skipped) so that it can be a declared output of the rule.
    """
    if on_error not in ON_ERROR:
        raise NemiInputError(f"videos.on_error must be one of {ON_ERROR}, not {on_error!r}")
    skipped: list[dict] = []
    progress = Progress("decode", len(videos))
    root_attrs = {**provenance("decode"), "params_json": json.dumps(asdict(params), sort_keys=True),
                  "on_error": on_error}
    with atomic_output(out) as tmp:
        with FrameShardWriter(tmp, codec=params.codec, jpeg_quality=params.jpeg_quality,
                              root_attrs=root_attrs) as writer:
            for video_id, path in videos:
                stats = SourceStats(path=str(path), size_bytes=0)
                frames = _counting(iter_timeline(path, params.fps, params.width_px, params.height_px, stats,
                                                 thread_type=thread_type), progress)
                try:
                    writer.add_video(video_id, frames, width=params.width_px, height=params.height_px,
                                     target_fps=params.fps, attrs={})
                except NemiInputError as err:
                    if video_id in writer.h5:
                        del writer.h5[video_id]
                    if on_error == "fail":
                        raise
                    log.warning("skipping %s: %s", video_id, err)
                    skipped.append({"video_id": video_id, "path": str(path), "reason": str(err)})
                    continue
                # the source facts are only known once the stream has been read to its end
                writer.h5[video_id].attrs.update(stats.attrs())
                writer.h5[video_id].attrs["source_sha256"] = sha256_file(path)
                progress.video_done(video_id)
    progress.close()
    with atomic_output(skipped_csv) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SKIPPED_COLUMNS)
            w.writeheader()
            w.writerows(skipped)
    if skipped:
        log.warning("decode: %d of %d videos skipped, listed in %s", len(skipped), len(videos), skipped_csv)
    return skipped


def _counting(frames, progress: Progress):
    for frame in frames:
        progress.frames(1)
        yield frame


def read_skipped(path: str | os.PathLike) -> list[dict]:
    with open(Path(path), newline="") as f:
        return list(csv.DictReader(f))
