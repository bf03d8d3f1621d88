"""Boundary-score files: one HDF5 per dataset with the prior's start/end/action scores per video.

Layout (``h5py.File(path)["<video_id>/start"][()]`` is all a user needs)::

    /                attrs: format "nemi-boundary-scores", format_version 1, kind ("tem" | "change" | "none"),
                            params_json, provenance (stage, nemi_version, git_sha, created_utc, ...)
    /<video_id>/start   float32 (T,)  probability that a boundary starts at step k
    /<video_id>/end     float32 (T,)
    /<video_id>/action  float32 (T,)  probability that step k lies inside an action
    /<video_id>  attrs: the Timebase of the scores (fps, stride_frames, window_frames, offset_frames)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from nemi.errors import NemiInputError
from nemi.io.atomic import atomic_output
from nemi.io.h5 import open_h5
from nemi.io.provenance import provenance
from nemi.io.timebase import Timebase

FORMAT = "nemi-boundary-scores"
FORMAT_VERSION = 1
SERIES = ("start", "end", "action")
TIMEBASE_KEYS = ("fps", "stride_frames", "window_frames", "offset_frames")


@dataclass(frozen=True, eq=False)
class BoundaryScores:
    start: np.ndarray     # (T,) float32
    end: np.ndarray       # (T,) float32
    action: np.ndarray    # (T,) float32
    timebase: Timebase

    def start_end(self) -> np.ndarray:
        """(T, 2) float32: the RTD-Net boundary input."""
        return np.stack([self.start, self.end], axis=1)


def write_boundary(path: str | os.PathLike, kind: str, scores: Mapping[str, BoundaryScores], params: dict,
                   stage: str = "tem") -> None:
    """Write every video's scores at once, atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(provenance(stage))
        h5.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, kind=kind,
                        params_json=json.dumps(params, sort_keys=True))
        for vid, s in scores.items():
            arrays = {k: np.asarray(getattr(s, k), dtype=np.float32) for k in SERIES}
            if len({a.shape for a in arrays.values()}) != 1 or arrays["start"].ndim != 1:
                raise ValueError(f"{vid}: start, end and action must be (T,) arrays of one length")
            g = h5.create_group(vid)
            for k, a in arrays.items():
                g.create_dataset(k, data=a)
            g.attrs.update(s.timebase.as_attrs())


def read_boundary(path: str | os.PathLike) -> tuple[dict, dict[str, BoundaryScores]]:
    """(root attributes, {video_id: scores}); a file that is not a complete boundary-score file raises."""
    with open_h5(path, "boundary-score file") as h5:
        root = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
        if root.get("format") != FORMAT:
            raise NemiInputError(f"{path}: not a boundary-score file (format attribute is {root.get('format')!r})")
        if int(root.get("format_version", -1)) != FORMAT_VERSION:
            raise NemiInputError(f"{path}: boundary-score format version {root.get('format_version')}, "
                                 f"this nemi reads {FORMAT_VERSION}")
        videos = {}
        for vid, g in h5.items():
            missing = [k for k in SERIES if k not in g] + [k for k in TIMEBASE_KEYS if k not in g.attrs]
            if missing:
                raise NemiInputError(f"{path}: video {vid} lacks {', '.join(missing)}")
            arrays = {k: g[k][()].astype(np.float32) for k in SERIES}
            if len({a.shape for a in arrays.values()}) != 1 or arrays["start"].ndim != 1:
                raise NemiInputError(f"{path}: video {vid}: start, end and action differ in shape")
            if not all(np.isfinite(a).all() for a in arrays.values()):
                raise NemiInputError(f"{path}: video {vid}: scores hold NaN or Inf")
            try:
                tb = Timebase.from_attrs(g.attrs)
            except ValueError as err:
                raise NemiInputError(f"{path}: video {vid}: bad time base ({err})") from err
            videos[vid] = BoundaryScores(timebase=tb, **arrays)
        return root, videos


def read_start_end(path: str | os.PathLike) -> tuple[str, dict[str, tuple[np.ndarray, Timebase]]]:
    """(prior kind, video_id -> ((N, 2) start/end scores, their Timebase)), as ``nemi.windows`` takes them."""
    root, scores = read_boundary(path)
    return str(root.get("kind")), {vid: (s.start_end(), s.timebase) for vid, s in scores.items()}
