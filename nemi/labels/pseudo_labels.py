"""Pseudo-label files: one JSON per dataset and change kind, validated against its schema.

Times are seconds on each video's fixed timeline, never step indices, so files made
from HOG curves (one step per frame) and CNN curves (one step per snippet) read alike.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path

import jsonschema

from nemi.changes.curves import ChangeCurve, read_curves
from nemi.errors import NemiInputError
from nemi.io.atomic import write_text_atomic
from nemi.io.provenance import provenance, sha256_file
from nemi.labels.decompose import activities_from_boundaries, threshold_boundaries
from nemi.log import logger

SCHEMA_VERSION = 1

VERSION = 2  # bump when the boundary or activity rules change; the rule reruns on it

def schema() -> dict:
    return json.loads(resources.files("nemi.labels").joinpath("pseudo_labels.schema.json").read_text())


def validate(doc: dict, path: str | os.PathLike = "<pseudo labels>") -> None:
    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise NemiInputError(f"{path}: not a valid pseudo-label file at {where}: {err.message}") from err
    for vid, v in doc["videos"].items():
        for s, e in v["activities"]:
            if not s < e:
                raise NemiInputError(f"{path}: video {vid}: activity [{s}, {e}] does not end after it starts")


def read_pseudo_labels(path: str | os.PathLike) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise NemiInputError(f"{path}: pseudo-label file not found") from err
    except json.JSONDecodeError as err:
        raise NemiInputError(f"{path}: not JSON ({err})") from err
    validate(doc, path)
    return doc


def boundary_mask(kind: str, distance, params: dict):
    """The boundary rule for a curve kind; ``params`` is the labels config for that kind."""
    if kind == "hog":
        return threshold_boundaries(distance, params["tau"], local_test=params["local_test"],
                                    local_window=params["local_window_frames"],
                                    local_std_factor=params["local_std_factor"])
    if kind == "cnn":
        from nemi.changes.cnn import cnn_boundaries

        return cnn_boundaries(distance, ratio=params["ratio"], rule=params["cnn_rule"])
    raise ValueError(f"unknown change kind {kind!r}")


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
                       kind: str, params: dict) -> dict:
    """Threshold the cached curves of every shard and write the dataset's pseudo-label JSON."""
    videos: dict[str, dict] = {}
    inputs = []
    curve_params: dict = {}
    for path in sorted(map(str, curve_paths)):
        file_kind, root, curves = read_curves(path)
        if file_kind != kind:
            raise NemiInputError(f"{path}: holds {file_kind} curves, expected {kind}")
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
            max_steps = max(1, math.floor(params["max_activity_frames"] / frames_per_step))
            min_steps = max(1, math.ceil(params["min_activity_frames"] / frames_per_step))
            mask = boundary_mask(kind, c.distance, params)
            acts = activities_from_boundaries(mask, c.n_steps, max_steps=max_steps, min_steps=min_steps)
            spans = [(round(edge_time(c, s), 6), round(edge_time(c, e), 6)) for s, e in acts]
            videos[vid] = {
                "duration_s": round(video_end_s(c), 6), "n_steps": c.n_steps, "step_s": c.step_s,
                "n_boundaries": int(mask.sum()),
                # A span wholly past the video's end (padded last snippets) is empty once clipped.
                "activities": [[s, e] for s, e in spans if s < e],
            }
    doc = {
        "schema_version": SCHEMA_VERSION, "dataset": dataset, "kind": kind,
        "params": {**params, "curve": curve_params},
        "source": {**provenance("labels"), "inputs": inputs},
        "videos": dict(sorted(videos.items())),
    }
    validate(doc, out_path)
    write_text_atomic(out_path, json.dumps(doc, indent=1) + "\n")
    n_act = sum(len(v["activities"]) for v in videos.values())
    logger.info("labels %s: %d videos, %d activities -> %s", kind, len(videos), n_act, out_path)
    return doc
