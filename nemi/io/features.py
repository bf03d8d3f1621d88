"""Feature shards: per-snippet two-stream I3D features of a group of videos, in one HDF5 file.

Layout (``results/<dataset>/features/<shard>.h5``)::

    /                        attrs: kind = "features", source ("extracted" | "imported"),
                                    params_json, provenance (stage, nemi_version, git_sha, ...)
    /<video_id>/rgb          float32 (T, 1024): RGB-stream feature of snippet k
    /<video_id>/flow         float32 (T, 1024): flow-stream feature of snippet k
    /<video_id>/t_center_s   float64 (T,): centre of feature k, seconds (nemi.io.timebase)
    /<video_id>  attrs:      fps, stride_frames, window_frames, offset_frames (the time base:
                             t_center_s = (offset + k * stride + window / 2) / fps),
                             snippet_frames, frame_count, padded_frames, source, params_json,
                             nemi_version, and per source:
                             extracted: duration_s (the decoded video's), crop_method, crop_px,
                                        flow_method, rgb_weights,
                                        rgb_weights_sha256, flow_weights, flow_weights_sha256
                             imported:  import_format, source_file, source_sha256, frame_count_source

``features(video_id)`` is the 2048-d feature the rest of the pipeline uses: RGB then
flow, as in the published Thumos14 features. A shard is written under a temporary
name (``nemi.io.atomic.atomic_output``) and renamed when every video is in it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from nemi.errors import NemiInputError
from nemi.io.h5 import open_h5
from nemi.io.timebase import Timebase

STREAM_DIM = 1024  # Mixed_5c channels of one I3D stream
FEATURE_DIM = 2 * STREAM_DIM  # the feature every later stage reads: RGB then flow
KIND = "features"


def _attr_value(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v


class FeatureShardWriter:
    """Writes a feature shard video by video; rows can be filled batch by batch."""

    def __init__(self, path: str | os.PathLike, root_attrs: dict[str, Any]) -> None:
        self.h5 = h5py.File(path, "w")
        for k, v in root_attrs.items():
            self.h5.attrs[k] = _attr_value(v)
        self.h5.attrs["kind"] = KIND

    def create_video(self, video_id: str, n_features: int, timebase: Timebase,
                     attrs: dict[str, Any]) -> h5py.Group:
        """Make ``video_id``'s group with empty (T, 1024) ``rgb`` / ``flow`` and its ``t_center_s``."""
        g = self.h5.create_group(video_id)
        chunk = (min(n_features, 256), STREAM_DIM)
        for name in ("rgb", "flow"):
            g.create_dataset(name, shape=(n_features, STREAM_DIM), dtype=np.float32, chunks=chunk)
        g.create_dataset("t_center_s", data=timebase.centers(n_features))
        for k, v in {**attrs, **timebase.as_attrs()}.items():
            g.attrs[k] = _attr_value(v)
        return g

    def add_video(self, video_id: str, rgb: np.ndarray, flow: np.ndarray, timebase: Timebase,
                  attrs: dict[str, Any]) -> None:
        g = self.create_video(video_id, len(rgb), timebase, attrs)
        g["rgb"][...] = rgb
        g["flow"][...] = flow

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> FeatureShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FeatureShardReader:
    """Reads a feature shard lazily; safe to hand to DataLoader workers (each opens its own handle)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self._h5: h5py.File | None = None
        h5 = self._file()
        if h5.attrs.get("kind") != KIND:
            raise NemiInputError(f"{self.path}: not a feature shard (root attribute kind = "
                                 f"{h5.attrs.get('kind')!r}, expected {KIND!r})")

    def _file(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = open_h5(self.path, "feature shard")
        return self._h5

    def __getstate__(self) -> dict:
        return {"path": self.path, "_h5": None}

    @property
    def root_attrs(self) -> dict[str, Any]:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._file().attrs.items()}

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self._file().attrs.get("params_json", "{}"))

    def video_ids(self) -> list[str]:
        return sorted(self._file().keys())

    def _group(self, video_id: str) -> h5py.Group:
        h5 = self._file()
        if video_id not in h5:
            raise NemiInputError(f"{self.path}: no video {video_id!r} in this feature shard")
        return h5[video_id]

    def _dataset(self, video_id: str, name: str) -> np.ndarray:
        g = self._group(video_id)
        if name not in g:
            raise NemiInputError(f"{self.path}: video {video_id!r} has no dataset {name!r}")
        return g[name][()]

    def rgb(self, video_id: str) -> np.ndarray:
        """(T, 1024) float32."""
        return self._dataset(video_id, "rgb")

    def flow(self, video_id: str) -> np.ndarray:
        """(T, 1024) float32."""
        return self._dataset(video_id, "flow")

    def features(self, video_id: str) -> np.ndarray:
        """(T, 2048) float32: RGB then flow."""
        return np.concatenate([self.rgb(video_id), self.flow(video_id)], axis=1)

    def t_center_s(self, video_id: str) -> np.ndarray:
        """(T,) float64: centre time of each feature, seconds."""
        return self._dataset(video_id, "t_center_s")

    def n_features(self, video_id: str) -> int:
        return int(self._group(video_id)["rgb"].shape[0])

    def attrs(self, video_id: str) -> dict[str, Any]:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._group(video_id).attrs.items()}

    def timebase(self, video_id: str) -> Timebase:
        return Timebase.from_attrs(self._group(video_id).attrs)

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> FeatureShardReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_video_features(paths, video_ids=None) -> dict[str, tuple[np.ndarray, Timebase, float]]:
    """video_id -> (features (T, 2048) float32 in memory, Timebase, duration_s), each video read once.

    ``paths``: feature shards; ``video_ids``: only these (every one must be found), or None for all.
    A video's duration is its frame count where recorded, else the end of its last snippet.
    """
    want = None if video_ids is None else set(video_ids)
    out: dict[str, tuple[np.ndarray, Timebase, float]] = {}
    for path in paths:
        with FeatureShardReader(path) as reader:
            for vid in reader.video_ids():
                if want is not None and vid not in want:
                    continue
                out[vid] = (reader.features(vid), reader.timebase(vid), _duration_s(reader, vid))
    _check_found(want, out, paths)
    return out


def read_video_durations(paths, video_ids=None) -> dict[str, float]:
    """video_id -> duration_s, as :func:`read_video_features` gives it, without reading the features."""
    want = None if video_ids is None else set(video_ids)
    out: dict[str, float] = {}
    for path in paths:
        with FeatureShardReader(path) as reader:
            out |= {vid: _duration_s(reader, vid) for vid in reader.video_ids() if want is None or vid in want}
    _check_found(want, out, paths)
    return out


def _duration_s(reader: FeatureShardReader, video_id: str) -> float:
    """A video's frame count in seconds where recorded, else the end of its last snippet."""
    from nemi.io.timebase import frame_to_time

    tb = reader.timebase(video_id)
    frames = reader.attrs(video_id).get("frame_count")
    if frames is not None:
        return float(frame_to_time(int(frames), tb.fps))
    return float(tb.boundaries(reader.n_features(video_id))[-1])


def _check_found(want: set[str] | None, out: Mapping[str, Any], paths) -> None:
    if want is not None and want - set(out):
        raise NemiInputError(f"no features for video(s) {sorted(want - set(out))[:5]} in {[str(p) for p in paths]}")
