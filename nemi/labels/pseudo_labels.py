"""The labels stage: threshold every shard's cached change curve with its detector's boundary rule and
write the dataset's pseudo-label JSON (:mod:`nemi.io.pseudo_labels`)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

from nemi import detectors
from nemi.errors import NemiInputError
from nemi.io.curves import ChangeCurve, read_curves
from nemi.io.provenance import provenance, sha256_file
from nemi.io.pseudo_labels import SCHEMA_VERSION, write_pseudo_labels
from nemi.labels.decompose import decompose
from nemi.log import logger

VERSION = 2  # bump when the boundary or activity rules change; the rule reruns on it


def video_end_s(curve: ChangeCurve) -> float:
    """Where the video ends: its decoded duration when the curve records it (``video_duration_s``).

    The curve's ``duration_s`` is its timeline's, ``ceil(duration * fps) / fps`` frames, up to one
    frame longer than the video; an activity never ends after the video does.
    """
    video = curve.attrs.get("video_duration_s")
    if video is None or not float(video) > 0:
        return float(curve.duration_s)
    return float(min(curve.duration_s, float(video)))


def edge_time(curve: ChangeCurve, step: int) -> float:
    """Seconds at which step ``step`` begins: the curve's own boundary times, 0 and the video's end.

    The curve file holds ``t_s[k]``, the time between step k and k+1, computed by the
    stage's time base (``nemi.io.timebase`` for features), so imported features with
    their own stride, window and offset map to the same seconds the curve shows.
    """
    end = video_end_s(curve)
    if step <= 0:
        return 0.0
    if step >= curve.n_steps:
        return end
    return float(min(max(curve.t_s[step - 1], 0.0), end))


def make_pseudo_labels(curve_paths: list[str | os.PathLike], out_path: str | os.PathLike, *, dataset: str,
                       kind: str, params) -> dict:
    """Threshold the cached curves of every shard and write the dataset's pseudo-label JSON.

    ``params`` is the detector's boundary parameters (``detectors.get(kind).boundary_params``), or
    the same as recorded in a pseudo-label file's ``params``.
    """
    det = detectors.get(kind)
    videos: dict[str, dict] = {}
    inputs = []
    curve_params: dict = {}
    for path in sorted(map(str, curve_paths)):
        file_kind, root, curves = read_curves(path)
        if file_kind != kind:
            raise NemiInputError(f"{path}: holds {file_kind} curves, expected {kind}")
        if isinstance(params, Mapping):
            params = det.from_record(params)
        inputs.append({"path": path, "sha256": sha256_file(path)})
        this = json.loads(root.get("params_json", "{}"))
        if curve_params and this != curve_params:
            raise NemiInputError(f"{path}: curve parameters {this} differ from the other shards' {curve_params}")
        curve_params = this
        for vid, c in curves.items():
            if vid in videos:
                raise NemiInputError(f"{path}: video {vid} also appears in another shard")
            frames_per_step = float(c.attrs.get("frames_per_step", 1))
            # Never longer than the maximum, never shorter than the minimum, in frames.
            max_steps = max(1, math.floor(params.max_activity_frames / frames_per_step))
            min_steps = max(1, math.ceil(params.min_activity_frames / frames_per_step))
            mask = det.boundaries(c.distance, params)
            parts = decompose(mask, c.n_steps, max_steps=max_steps, min_steps=min_steps)
            spans = [(round(edge_time(c, s), 6), round(edge_time(c, e), 6)) for s, e in parts.activities]
            # A span wholly past the video's end (padded last snippets) is empty once clipped.
            acts = [[s, e] for s, e in spans if s < e]
            edges = {t for act in acts for t in act}
            splits = [t for t in (round(edge_time(c, k), 6) for k in parts.cap_splits) if t > 0 and t in edges]
            videos[vid] = {
                "duration_s": round(video_end_s(c), 6), "n_steps": c.n_steps, "step_s": c.step_s,
                "n_boundaries": int(mask.sum()), "cap_splits_s": splits, "activities": acts,
            }
    doc = {
        "schema_version": SCHEMA_VERSION, "dataset": dataset, "kind": kind,
        "params": {**det.describe(params), "curve": curve_params},
        "source": {**provenance("labels"), "inputs": inputs},
        "videos": dict(sorted(videos.items())),
    }
    write_pseudo_labels(out_path, doc)
    n_act = sum(len(v["activities"]) for v in videos.values())
    logger.info("labels %s: %d videos, %d activities -> %s", kind, len(videos), n_act, out_path)
    return doc
