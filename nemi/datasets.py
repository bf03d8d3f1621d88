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
import difflib
import logging
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from nemi.errors import NemiConfigError
from nemi.params import defaults, schema

STAGE_SECTIONS = ("decode", "features", "changes", "labels", "evaluation", "detect",
                  "model", "tem", "train", "pretrain", "proposals")
RESULTS = "results"
log = logging.getLogger("nemi.datasets")


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
    preset = preset_of(config, name)
    for sec in STAGE_SECTIONS:
        eff[sec] = deep_merge(deep_merge(config.get(sec, {}), preset.get(sec, {})), entry.get(sec, {}))
    full = schema()
    sub = {"$ref": "#/$defs/effective", "$defs": full["$defs"]}
    validator = _fill_defaults(jsonschema.Draft202012Validator)(sub)
    errors = sorted(validator.iter_errors(eff), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        merged = f"its preset {entry['preset']} and the top-level sections" if entry.get("preset") else \
            "the top-level sections"
        raise NemiConfigError(f"config: datasets.{name} (merged with {merged}): {where}: {err.message}")
    if eff["videos"]["source"] == "synth" and "synth" not in eff:
        eff["synth"] = {}
        validator.validate(eff)
    # The dataset's evaluated videos (a Thumos14 subset, say) are written once, for every entry that names none.
    for e in eff["evaluation"]["predictions"].values():
        if e.get("videos") is None:
            e["videos"] = eff["evaluation"]["videos"]
    # A pseudo activity is at least one step of the grid its pretraining cuts the features into, unless the
    # config says otherwise (and check_rules then holds it to that step).
    shortest = activity_floor_frames(eff)
    for kind, section in eff["labels"].items():
        if isinstance(section, dict) and kind != "kinds" and section.get("min_activity_frames", 0) is None:
            section["min_activity_frames"] = shortest
    return eff


def preset_of(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The sections of the preset dataset ``name`` takes (``datasets.<name>.preset``), or none; an unknown
    preset is refused naming the key and the known ones."""
    preset = ((config.get("datasets") or {}).get(name) or {}).get("preset")
    if preset is None:
        return {}
    presets = config.get("presets") or {}
    if preset not in presets:
        raise NemiConfigError(f"config: datasets.{name}.preset: no preset {preset!r} under presets "
                              f"(known: {', '.join(sorted(presets)) or 'none'})")
    return presets[preset] or {}


def setting_key(config: Mapping[str, Any], name: str, section: str, key: str) -> str:
    """Where dataset ``name``'s ``section.key`` is written, for messages: its entry, its preset, else the
    top-level section."""
    entry = (config.get("datasets") or {}).get(name) or {}
    if key in (entry.get(section) or {}):
        return f"datasets.{name}.{section}.{key}"
    if key in (preset_of(config, name).get(section) or {}):
        return f"presets.{entry['preset']}.{section}.{key}"
    return f"{section}.{key}"


# Keys that had a second home, and the one they have now (section, key): a config still setting one is
# refused naming both. The window's length is the model's position table; the query strategy and the
# classification loss of a pretraining are model settings, which its pretrain section's model overrides.
MOVED = {("train", "window_steps"): ("model", "window_steps"),
         ("pretrain", "query_strategy"): ("pretrain.model", "query_strategy"),
         ("pretrain", "classification"): ("pretrain.model", "classification")}


def _moved_key(config: Mapping[str, Any]) -> str | None:
    """The first key of :data:`MOVED` the config sets, with its new home, as a refusal; None when it sets none."""
    places = [("", config)]
    places += [(f"presets.{n}.", p) for n, p in (config.get("presets") or {}).items()]
    places += [(f"datasets.{n}.", d) for n, d in (config.get("datasets") or {}).items()]
    found = []
    for prefix, where in places:
        if not isinstance(where, Mapping):
            continue
        pretrain = where.get("pretrain")
        sections = {sec: where.get(sec) for sec in ("train", "pretrain")}
        sections["pretrain.train"] = pretrain.get("train") if isinstance(pretrain, Mapping) else None
        for sec, section in sections.items():
            old = "train" if sec == "pretrain.train" else sec
            for (moved_sec, key), (home, new_key) in MOVED.items():
                if moved_sec == old and isinstance(section, Mapping) and key in section:
                    found.append((f"{prefix}{sec}.{key}", f"{prefix}{home}.{new_key}"))
    for name, entry in (config.get("pretrainings") or {}).items():  # an entry overrides the pretrain section
        for (moved_sec, key), (home, new_key) in MOVED.items():
            if isinstance(entry, Mapping):
                if moved_sec == "pretrain" and key in entry:
                    found.append((f"pretrainings.{name}.{key}", f"pretrainings.{name}.{home.removeprefix('pretrain.')}"
                                                                f".{new_key}"))
                if moved_sec == "train" and key in (entry.get("train") or {}):
                    found.append((f"pretrainings.{name}.train.{key}", f"{home}.{new_key} (of the model section)"))
    if not found:
        return None
    old, new = found[0]
    return (f"config: {old} is no longer a key: it is written once, as {new}; move it there "
            f"(README, \"Parameters, and where their defaults live\")")


def check_config(config: Mapping[str, Any]) -> None:
    """The whole config against the schema, as written (before any merge): its first problem as one
    NemiConfigError line naming the key, and for a key the schema does not know, the nearest known one; a key
    that moved (:data:`MOVED`) names its new home. (Snakemake's own ``validate`` prints the whole schema with
    the error: thousands of lines.)"""
    moved = _moved_key(config)
    if moved:
        raise NemiConfigError(moved)
    validator = jsonschema.Draft202012Validator(schema())
    # The shallowest problem first: a misspelt section says so, not what its misplaced keys break below it.
    errors = sorted(validator.iter_errors(dict(config)),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        known = sorted(err.schema.get("properties", {}))
        unknown = sorted(k for k in err.instance if k not in known)
        if unknown and known:
            key = unknown[0]
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f" (known: {', '.join(known)})"
            raise NemiConfigError(f"config: unknown key {((where + '.') if where else '') + key!r}{hint} "
                                  f"({_SCHEMA_NOTE})")
    message = err.message if len(err.message) <= 200 else err.message[:200] + " ..."
    raise NemiConfigError(f"config: {where or '(top level)'}: {message} ({_SCHEMA_NOTE})")


_SCHEMA_NOTE = "validated against nemi/schemas/config.schema.yaml"


def coerce_command_line_text(config: dict) -> list[str]:
    """Snakemake's ``--config`` reads a nested value as text (``--config 'datasets={anet: {features:
    {rehearsal: {max_videos: 500}}}}'`` gives ``'500'``; only a top-level ``key=value`` is parsed): where the
    schema wants an integer, number, boolean or null and the text is one, it becomes that value, in place,
    before :func:`check_config`. Text that is none of them stays and is refused there, naming the key.
    Returns the dotted keys it changed."""
    # A dataset's stage sections are checked once merged (effective_config); here each is read with its
    # section's schema, so that its text values are found too (only type errors are acted on).
    full = copy.deepcopy(schema())
    for sec in STAGE_SECTIONS:
        full["$defs"]["dataset"]["properties"][sec] = {"$ref": f"#/$defs/{sec}"}
    validator = jsonschema.Draft202012Validator(full)
    changed: list[str] = []
    for _ in range(1000):  # each pass fixes every value it finds; a fixed value exposes the keys below it
        fixes = []
        for err in _type_errors(validator.iter_errors(config)):
            value = _parse_text(err.instance, err.validator_value)
            if value is not _NOT_PARSED and err.absolute_path:
                fixes.append((list(err.absolute_path), value))
        if not fixes:
            return changed
        for path, value in fixes:
            node = config
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            changed.append(".".join(map(str, path)))
    return changed


_NOT_PARSED = object()
_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def _type_errors(errors):
    for err in errors:
        if err.validator == "type" and isinstance(err.instance, str):
            yield err
        yield from _type_errors(err.context or [])


def _parse_text(text: str, wanted: str | list[str]) -> Any:
    types = [wanted] if isinstance(wanted, str) else list(wanted)
    if "string" in types:
        return _NOT_PARSED
    t = text.strip()
    if "null" in types and t in ("null", "Null", "NULL", "~", ""):
        return None
    if "boolean" in types and t.lower() in ("true", "false"):
        return t.lower() == "true"
    if "integer" in types and _INT_TEXT.fullmatch(t):
        return int(t)
    if "number" in types:
        if _INT_TEXT.fullmatch(t):
            return int(t)
        try:
            v = float(t)
        except ValueError:
            return _NOT_PARSED
        return v if math.isfinite(v) else _NOT_PARSED  # 'nan' and 'inf' are text, not a config's number
    return _NOT_PARSED


def raw_setting(config: Mapping[str, Any], name: str, section: str, key: str) -> Any:
    """Dataset ``name``'s ``section.key`` as written (its entry, its preset, the top-level section, else the schema's
    default), without merging or validating the dataset: what the workflow's wildcard constraints read for
    every dataset, so that a dataset no target reaches is never validated (nor refused)."""
    entry = (config.get("datasets") or {}).get(name) or {}
    stage = section in STAGE_SECTIONS
    # An unknown preset is left to effective_config, which refuses it when a target reaches the dataset.
    preset = (config.get("presets") or {}).get(entry.get("preset")) or {}
    for source in (entry.get(section), preset.get(section) if stage else None, config.get(section) if stage else None):
        if isinstance(source, Mapping) and key in source:
            return source[key]
    return defaults(section).get(key)


def step_frames(eff: Mapping[str, Any], train: Mapping[str, Any]) -> int | None:
    """Frames of one RTD-Net step on the grid ``train`` (a train section) cuts the dataset's features into:
    ``train.step_frames``, else one feature snippet; None where a step is a share of each video's length
    (``train.rescale_steps``), which no config value fixes."""
    if train.get("rescale_steps"):
        return None
    if train.get("step_frames"):
        return int(train["step_frames"])
    if eff["videos"]["source"] == "rehearsal":
        from nemi.features.rehearsal import LAYOUTS

        return int(LAYOUTS[eff["features"]["rehearsal"]["benchmark"]]["stride_frames"])
    if eff["features"]["source"] == "import":
        return int(eff["features"]["import"]["stride_frames"])
    return int(eff["features"]["snippet_frames"])


def pretraining_grid(eff: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The grid keys a pretraining on the dataset runs on unless its entry overrides them (its pretrain
    section's ``train``, else the dataset's ``train``), and the section that holds ``step_frames``, for messages."""
    own = eff["pretrain"].get("train") or {}
    grid = {k: own.get(k, eff["train"].get(k)) for k in ("step_frames", "rescale_steps")}
    return grid, "pretrain.train" if "step_frames" in own else "train"


def activity_floor_frames(eff: Mapping[str, Any]) -> int:
    """The shortest pseudo activity, in frames, where ``labels.<kind>.min_activity_frames`` is null: one step
    of the pretraining's grid; one feature snippet where a step is a share of each video (``rescale_steps``),
    the shortest stretch the features tell apart."""
    grid, _ = pretraining_grid(eff)
    step = step_frames(eff, grid)
    return step if step is not None else step_frames(eff, {})


def check_activity_floor(eff: Mapping[str, Any], kind: str, grid: Mapping[str, Any], train_key: str,
                         where: str, whose: str) -> None:
    """Refuse pseudo activities of ``kind`` shorter than one step of ``grid`` (a shorter one is no target a
    window of steps can hold: re-assembling would stretch it to a whole step), naming both keys. A step that
    is a share of each video (``rescale_steps``) has no length in frames to compare."""
    step = step_frames(eff, grid)
    shortest = (eff["labels"].get(kind) or {}).get("min_activity_frames")
    if step is not None and shortest is not None and shortest < step:
        raise NemiConfigError(
            f"{where}: labels.{kind}.min_activity_frames ({shortest}) is below one step of {whose} grid, "
            f"{step_key(eff, grid, train_key)} ({step} frames): a shorter pseudo activity is no target a window "
            f"of steps can hold; raise labels.{kind}.min_activity_frames to {step} or more (or leave it out: "
            "its default is one step)")


def step_key(eff: Mapping[str, Any], train: Mapping[str, Any], train_key: str = "train") -> str:
    """The config key :func:`step_frames` read, for messages."""
    if train.get("step_frames"):
        return f"{train_key}.step_frames"
    if eff["videos"]["source"] == "rehearsal":
        return f"{train_key}.step_frames (null: one rehearsal snippet)"
    if eff["features"]["source"] == "import":
        return f"{train_key}.step_frames (null: one snippet, features.import.stride_frames)"
    return f"{train_key}.step_frames (null: one snippet, features.snippet_frames)"


def check_rules(eff: Mapping[str, Any]) -> None:
    """Rules between keys of a dataset's merged config that no one section can judge, refused while the DAG
    is planned (before any job) naming both keys; what a pretraining changes is checked with it
    (``nemi.experiments``)."""
    key = f"config: datasets.{eff['dataset']}"
    model = eff["model"]
    grid, grid_key = pretraining_grid(eff)
    for kind in eff["labels"]["kinds"]:
        check_activity_floor(eff, kind, grid, grid_key, key, "the dataset's")
    if model.get("query_strategy", "localisation") == "activity_query":
        # The model section is also what fine-tuning and inference build: there the activity projection
        # would be an untrained layer, and a pretraining takes its strategy from pretrain.model.
        raise NemiConfigError(f"{key}: model.query_strategy is activity_query, which only a pretraining uses: "
                              "set pretrain.model.query_strategy (or pretrainings.<name>.model.query_strategy) "
                              "instead, and leave model.query_strategy localisation")


@dataclass(frozen=True)
class Video:
    video_id: str
    split: str
    path: str


def synth_dir(name: str) -> str:
    return f"{RESULTS}/{name}/synth"


def data_label(eff: Mapping[str, Any]) -> str | None:
    """What a dataset's numbers are measured on, when it is not the dataset's own data (a rehearsal); else None."""
    if eff["videos"]["source"] != "rehearsal":
        return None
    from nemi.features.rehearsal import LABELS

    return LABELS[eff["features"]["rehearsal"]["benchmark"]]


def rehearsal_dir(name: str) -> str:
    """Where ``nemi features rehearsal`` writes a rehearsal dataset (its .npy files, manifest, ground truth)."""
    return f"{RESULTS}/{name}/features/rehearsal"


def manifest_path(eff: Mapping[str, Any]) -> str:
    """The dataset's manifest CSV: the generated one for ``source: synth`` and ``rehearsal``."""
    if eff["videos"]["source"] == "synth":
        return f"{synth_dir(eff['dataset'])}/videos.csv"
    if eff["videos"]["source"] == "rehearsal":
        return f"{rehearsal_dir(eff['dataset'])}/videos.csv"
    path = eff["videos"]["manifest"]
    if not path:
        raise NemiConfigError(f"config: datasets.{eff['dataset']}.videos.manifest must name a CSV "
                              "when videos.source is 'manifest'")
    return path


def ground_truth_path(eff: Mapping[str, Any]) -> str | None:
    """The dataset's ground-truth CSV (video_id,t_start,t_end,label), or None."""
    if eff["videos"]["source"] == "synth":
        return f"{synth_dir(eff['dataset'])}/annotations/groundtruth.csv"
    if eff["videos"]["source"] == "rehearsal":
        return f"{rehearsal_dir(eff['dataset'])}/groundtruth.csv"
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


@cache
def _rehearsal_table(name: str, benchmark: str, annotations: str, video_info: tuple[str, ...],
                     max_videos: int | None) -> tuple[Video, ...]:
    from nemi import params
    from nemi.errors import NemiInputError
    from nemi.features.rehearsal import RehearsalParams, tables

    key = f"config: datasets.{name}.features.rehearsal"
    for f in video_info:
        if not Path(f).is_file():
            need = {"thumos14": "TH14_video_info.json, then thumos14_test_groundtruth.csv",
                    "activitynet13": "BSN's video_info_new.csv"}[benchmark]
            raise NemiConfigError(f"{key}.video_info: {f} not found ({need})")
    rp = params.build(RehearsalParams, {"benchmark": benchmark, "annotations": annotations,
                                        "video_info": list(video_info), "max_videos": max_videos})
    try:
        m = tables(rp)[0].manifest
    except NemiInputError as err:
        raise NemiConfigError(f"{key}.annotations ({benchmark}): {err}") from None
    return tuple(Video(v, s, p) for v, s, p in zip(m["video_id"], m["split"], m["path"]))


def video_table(eff: Mapping[str, Any]) -> tuple[Video, ...]:
    """Every video of the dataset, known when the DAG is built so that its shards are fixed before any job."""
    if eff["videos"]["source"] == "synth":
        s = eff["synth"]
        return _synth_table(eff["dataset"], s["n_videos"], s["seed"], s["test_fraction"])
    if eff["videos"]["source"] == "rehearsal":
        r = eff["features"]["rehearsal"]
        return _rehearsal_table(eff["dataset"], r["benchmark"], r["annotations"], tuple(r["video_info"]),
                                r["max_videos"])
    path = manifest_path(eff)
    if not Path(path).is_file():
        raise NemiConfigError(f"config: datasets.{eff['dataset']}.videos.manifest: {path} not found "
                              f"(a CSV video_id,path,split of the dataset's videos)")
    return _manifest_table(path, Path(path).stat().st_mtime)


# --- Checks before any job: what a dataset's jobs read must be there, and the splits must not overlap. ---

TRAIN_SPLIT, TEST_SPLIT = "train", "test"
_FIRST = 10


def _first(ids: list[str]) -> str:
    more = f" and {len(ids) - _FIRST} more" if len(ids) > _FIRST else ""
    return ", ".join(ids[:_FIRST]) + more


def needs_videos(eff: Mapping[str, Any]) -> bool:
    """Whether the dataset's jobs decode its videos: always when features are extracted; with imported
    features only for the HOG decomposition, which reads frames."""
    if eff["videos"]["source"] in ("synth", "rehearsal"):
        return False
    return eff["features"]["source"] != "import" or "hog" in eff["labels"]["kinds"]


def check_inputs(eff: Mapping[str, Any], videos: tuple[Video, ...]) -> None:
    """Every problem with a dataset's inputs in one NemiConfigError naming the config keys, before any job:
    a test split that points at training videos, a missing video directory, missing videos (how many, the
    first ten), a missing feature directory or missing feature files. Missing videos with
    ``videos.on_error: skip`` are only logged: decode records them."""
    if eff["videos"]["source"] == "synth":
        return
    key = f"datasets.{eff['dataset']}"
    if eff["videos"]["source"] == "rehearsal":
        # Its features are written by a rule; there is no video, so no decomposition that reads frames.
        if "hog" in eff["labels"]["kinds"]:
            raise NemiConfigError(f"config key {key}.labels.kinds: hog reads decoded frames, and a rehearsal "
                                  "dataset (videos.source: rehearsal) has no video; use [cnn]")
        _check_splits(eff, videos, {v.video_id: ("missing", v.video_id) for v in videos}, key)
        return
    files = {v.video_id: _file_id(v.path) for v in videos}  # one stat per video: ActivityNet has ~20k
    _check_splits(eff, videos, files, key)
    problems = []
    if eff["features"]["source"] == "import":
        problems += _missing_features(eff, videos, key)
    if needs_videos(eff):
        problems += _missing_videos(eff, [v for v in videos if files[v.video_id][0] != "file"], len(videos), key)
    if problems:
        raise NemiConfigError("\n".join(problems))


def _file_id(path: str) -> tuple[str, Any]:
    """("file", (device, inode)) of an existing file, so that links and symlinks compare equal; else
    ("missing", the normalised path)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing", os.path.normpath(path)
    return ("file", (st.st_dev, st.st_ino)) if stat.S_ISREG(st.st_mode) else ("missing", os.path.normpath(path))


def _missing_videos(eff: Mapping[str, Any], missing: list[Video], n_videos: int, key: str) -> list[str]:
    if not missing:
        return []
    manifest = eff["videos"]["manifest"]
    imported = eff["features"]["source"] == "import"
    why = (" (labels.kinds has hog: the HOG decomposition needs the raw videos, which features.source: import "
           "does not give; leave hog out of labels.kinds to run from the imported features alone)") if imported else ""
    absent = sorted({d for d in {os.path.dirname(v.path) for v in missing} if not os.path.isdir(d)})
    if absent:
        n = sum(os.path.dirname(v.path) in set(absent) for v in missing)
        return [f"config key {key}.videos.manifest ({manifest}): video directory {absent[0]} not found "
                f"({n} of the {n_videos} videos are in it" + (f"; {len(absent) - 1} more directories missing"
                                                                  if len(absent) > 1 else "") + f"){why}"]
    msg = (f"config key {key}.videos.manifest ({manifest}): {len(missing)} of {n_videos} videos not found: "
           f"{_first([v.video_id for v in missing])} (e.g. {missing[0].path}){why}")
    if eff["videos"]["on_error"] == "skip" and not imported:
        log.warning("%s; videos.on_error is skip: decode records them in frames/<shard>.skipped.csv", msg)
        return []
    return [msg]


def _missing_features(eff: Mapping[str, Any], videos: tuple[Video, ...], key: str) -> list[str]:
    from nemi.errors import NemiInputError
    from nemi.features.imported import feature_file

    imp = eff["features"]["import"]
    d = imp["dir"]
    if not d or not Path(d).is_dir():
        return [f"config key {key}.features.import.dir (or features.import.dir): feature directory {d} not found "
                f"(features.source is import)"]
    missing = []
    for v in videos:
        try:
            feature_file(Path(d), v.video_id, imp["format"])
        except NemiInputError:
            missing.append(v.video_id)
    if not missing:
        return []
    return [f"config key {key}.features.import.dir ({d}): {len(missing)} of {len(videos)} videos have no "
            f"{imp['format']} feature file: {_first(missing)}"]


def _check_splits(eff: Mapping[str, Any], videos: tuple[Video, ...], files: dict[str, tuple[str, Any]],
                  key: str) -> None:
    """Refuse a test split that points at training videos: one file (path, link or symlink) under both
    splits, or evaluated videos (evaluation.videos, evaluation.predictions.<name>.videos) that are
    training videos."""
    splits_of: dict[tuple[str, Any], dict[str, str]] = {}
    for v in videos:
        if v.split in (TRAIN_SPLIT, TEST_SPLIT):
            splits_of.setdefault(files[v.video_id], {})[v.split] = v.video_id
    both = [ids for ids in splits_of.values() if len(ids) == 2]
    if both:
        e = both[0]
        raise NemiConfigError(f"config key {key}.videos.manifest ({eff['videos']['manifest']}): {len(both)} video "
                              f"file(s) are in both the train and the test split, e.g. {e[TRAIN_SPLIT]} (train) "
                              f"and {e[TEST_SPLIT]} (test): the test split must not point at training videos")
    train = {v.video_id for v in videos if v.split == TRAIN_SPLIT}
    specs = [(f"{key}.evaluation.videos", eff["evaluation"]["videos"])]
    specs += [(f"{key}.evaluation.predictions.{n}.videos", e.get("videos"))
              for n, e in eff["evaluation"]["predictions"].items()]
    for where, spec in specs:
        ids = _evaluated_ids(spec, [v.video_id for v in videos])
        overlap = sorted(set(ids or ()) & train)
        if overlap:
            raise NemiConfigError(f"config key {where} ({spec}): {len(overlap)} evaluated video(s) are in the "
                                  f"manifest's train split: {_first(overlap)}; never evaluate on training videos")


def _evaluated_ids(spec: str | None, all_ids: list[str]) -> list[str] | None:
    """The ids a videos spec names, or None where it names none now (null, or a file a rule writes)."""
    from nemi.io.annotations.subsets import THUMOS14_TEST_OMITTED, thumos14_test_subset

    if not spec:
        return None
    if spec.removeprefix("thumos14-") in THUMOS14_TEST_OMITTED:
        return thumos14_test_subset(spec, all_ids)
    p = Path(spec)
    return [line.strip() for line in p.read_text().splitlines() if line.strip()] if p.is_file() else None
