"""Pseudo-label files: one JSON per dataset and change detector, validated against its schema on write and read.

Times are seconds on each video's fixed timeline, never step indices, so files made
from HOG curves (one step per frame) and CNN curves (one step per snippet) read alike.

Versions (``schema_version``): 2 records, per video, ``n_boundaries`` (the detector's boundaries) and
``cap_splits_s``, the times at which an activity longer than ``max_activity_frames`` was split into equal
parts, each an edge of one of its activities: a boundary the length cap made rather than a change in the
video. 1 has neither (``n_boundaries`` optional); it is still read, and what it lacks is not recorded.
"""

from __future__ import annotations

import json
import os
from importlib import resources

import jsonschema

from nemi.errors import NemiInputError
from nemi.io.artifacts import load_json
from nemi.io.atomic import write_text_atomic

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


def schema() -> dict:
    return json.loads(resources.files("nemi.io").joinpath("pseudo_labels.schema.json").read_text())


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
        edges = {t for act in v["activities"] for t in act}
        stray = [t for t in v.get("cap_splits_s", []) if t not in edges]
        if stray:
            raise NemiInputError(f"{path}: video {vid}: cap split at {stray[0]} s is no edge of its activities")


def read_pseudo_labels(path: str | os.PathLike) -> dict:
    doc = load_json(path, "pseudo-label file")
    validate(doc, path)
    return doc


def write_pseudo_labels(path: str | os.PathLike, doc: dict) -> None:
    """Validate ``doc`` and write it atomically."""
    validate(doc, path)
    write_text_atomic(path, json.dumps(doc, indent=1) + "\n")
