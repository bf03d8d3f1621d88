"""Datasets of a workflow config: each one's effective configuration and its table of videos.

A config names its datasets under ``datasets``; each entry gives its videos (a manifest, or
``source: synth`` for a generated one) and may override any top-level stage section key by
key (``datasets.demo.decode.fps: 15``). ``effective_config`` merges and validates one
dataset's sections against the schema, so a misspelt override is refused like a misspelt
top-level key, naming ``datasets.<name>``. Nothing here runs a stage: the workflow asks it
for paths and parameters, so that one DAG holds several datasets.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from nemi.errors import NemiConfigError
from nemi.params import schema

STAGE_SECTIONS = ("decode", "features", "changes", "labels", "evaluation", "detect",
                  "model", "tem", "train", "pretrain", "proposals")
RESULTS = "results"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` applied key by key; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _fill_defaults(validator_cls):
    """A validator class that also fills in ``default`` values (as Snakemake's ``validate`` does)."""
    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sub):
        if isinstance(instance, dict):
            for name, prop in properties.items():
                if "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from validate_properties(validator, properties, instance, sub)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def effective_config(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Dataset ``name``'s configuration: its entry's overrides merged into the top-level stage sections,
    validated (defaults filled in) as the schema's ``effective`` object."""
    datasets = config.get("datasets") or {}
    if name not in datasets:
        raise NemiConfigError(f"config: no dataset {name!r} under datasets (known: {', '.join(sorted(datasets))})")
    entry = datasets[name]
    eff: dict[str, Any] = {"dataset": name, "videos": copy.deepcopy(entry.get("videos", {}))}
    if "synth" in entry:
        eff["synth"] = copy.deepcopy(entry["synth"])
    eff["weights"] = copy.deepcopy(config.get("weights", {}))
    for sec in STAGE_SECTIONS:
        eff[sec] = deep_merge(config.get(sec, {}), entry.get(sec, {}))
    full = schema()
    sub = {"$ref": "#/$defs/effective", "$defs": full["$defs"]}
    validator = _fill_defaults(jsonschema.Draft202012Validator)(sub)
    errors = sorted(validator.iter_errors(eff), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise NemiConfigError(f"config: datasets.{name} (merged with the top-level sections): {where}: {err.message}")
    if eff["videos"]["source"] == "synth" and "synth" not in eff:
        eff["synth"] = {}
        validator.validate(eff)
    return eff


@dataclass(frozen=True)
class Video:
    video_id: str
    split: str
    path: str


def synth_dir(name: str) -> str:
    return f"{RESULTS}/{name}/synth"


def manifest_path(eff: Mapping[str, Any]) -> str:
    """The dataset's manifest CSV: the generated one for ``source: synth``."""
    if eff["videos"]["source"] == "synth":
        return f"{synth_dir(eff['dataset'])}/videos.csv"
    path = eff["videos"]["manifest"]
    if not path:
        raise NemiConfigError(f"config: datasets.{eff['dataset']}.videos.manifest must name a CSV "
                              "when videos.source is 'manifest'")
    return path


def ground_truth_path(eff: Mapping[str, Any]) -> str | None:
    """The dataset's ground-truth CSV (video_id,t_start,t_end,label), or None."""
    if eff["videos"]["source"] == "synth":
        return f"{synth_dir(eff['dataset'])}/annotations/groundtruth.csv"
    return eff["videos"]["annotations"]


@cache
def _synth_table(name: str, n_videos: int, seed: int, test_fraction: float) -> tuple[Video, ...]:
    from nemi.synth import plan

    return tuple(Video(v.video_id, v.split, f"{synth_dir(name)}/videos/{v.video_id}.mp4")
                 for v in plan(n_videos, seed, test_fraction))


@cache
def _manifest_table(path: str, mtime: float) -> tuple[Video, ...]:
    from nemi.io.manifest import read_manifest

    df = read_manifest(path)
    return tuple(Video(v, s, p) for v, s, p in zip(df["video_id"], df["split"], df["path"]))


def video_table(eff: Mapping[str, Any]) -> tuple[Video, ...]:
    """Every video of the dataset, known when the DAG is built so that its shards are fixed before any job."""
    if eff["videos"]["source"] == "synth":
        s = eff["synth"]
        return _synth_table(eff["dataset"], s["n_videos"], s["seed"], s["test_fraction"])
    path = manifest_path(eff)
    if not Path(path).is_file():
        raise NemiConfigError(f"config: datasets.{eff['dataset']}.videos.manifest: {path} not found "
                              f"(a CSV video_id,path,split of the dataset's videos)")
    return _manifest_table(path, Path(path).stat().st_mtime)
