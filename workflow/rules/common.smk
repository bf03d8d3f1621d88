# Shared wiring: config validation, the video list, shards, paths, input functions.

import dataclasses
import json
import os
from pathlib import Path

import yaml
from snakemake.utils import validate

from snakemake.exceptions import WorkflowError

from nemi import detectors
from nemi.detect.workflow import detect_outputs
from nemi.evaluation.workflow import outputs as evaluation_outputs
from nemi.features.extract import CROSS_MODALITY
from nemi.io.manifest import plan_shards, read_manifest
from nemi.params import schema_path

# Stops the run before any job starts, naming the offending key; also fills defaults.
# The schema lives in the package: it is also where every stage's defaults are written.
validate(config, schema=schema_path())

if "cnn" in config["labels"]["kinds"] and "features" not in config:
    raise ValueError(
        "config: labels.kinds has cnn, which needs a features section (features.rgb_weights, ...)"
    )

DATASET = config["dataset"]
OUT = f"results/{DATASET}"
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
SYNTH_DIR = f"{OUT}/synth"


def _video_table():
    """[(video_id, split, path)] known at parse time, so shards are fixed before any job runs."""
    if config["videos"]["source"] == "synth":
        from nemi.synth import plan

        s = config["synth"]
        vids = plan(s["n_videos"], s["seed"], s["test_fraction"])
        return [
            (v.video_id, v.split, f"{SYNTH_DIR}/videos/{v.video_id}.mp4") for v in vids
        ]
    if not config["videos"]["manifest"]:
        raise ValueError(
            "config: videos.manifest must name a CSV when videos.source is 'manifest'"
        )
    df = read_manifest(config["videos"]["manifest"])
    return list(zip(df["video_id"], df["split"], df["path"]))


_TABLE = _video_table()
VIDEOS = [(v, split) for v, split, _ in _TABLE]
VIDEO_PATHS = {v: path for v, _, path in _TABLE}
SHARDS = plan_shards([v for v, _ in VIDEOS], config["videos"]["shard_size"])


def manifest_path():
    if config["videos"]["source"] == "synth":
        return f"{SYNTH_DIR}/videos.csv"
    return config["videos"]["manifest"]


def ground_truth_path():
    """Ground-truth CSV (video_id,t_start,t_end,label) if the dataset has one, else None."""
    if config["videos"]["source"] == "synth":
        return f"{SYNTH_DIR}/annotations/groundtruth.csv"
    return config["videos"]["annotations"]


def shard_videos(wildcards):
    ids = SHARDS[wildcards.shard]
    if config["videos"]["source"] == "synth":
        return [f"{SYNTH_DIR}/videos/{v}.mp4" for v in ids]
    # Missing videos are left to `nemi decode`, which fails naming them or, with
    # on_error: skip, records them and goes on; existing ones are inputs so that a
    # replaced video is decoded again.
    return [p for p in (VIDEO_PATHS[v] for v in ids) if os.path.exists(p)]


def stage_params(section, cls, version):
    """A stage's parameters as the one JSON argument its command takes (``--params``): the fields of
    its dataclass from the validated section, plus the stage's VERSION so that Snakemake's params
    trigger reruns it when its meaning changes."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return json.dumps({**{k: v for k, v in section.items() if k in fields}, "version": version}, sort_keys=True)


def detector_input(wildcards):
    """The shard a detector's curve is made from: frames (hog) or features (cnn)."""
    return f"{OUT}/{detectors.get(wildcards.kind).input}/{wildcards.shard}.h5"


def weights_input(key):
    """The weights file named by features.<key> as an input; stops the run before any job if it is missing.

    A path some rule can make (e.g. the converted Kinetics weights) is left to that rule.
    """
    path = config["features"][key]
    if key == "flow_weights" and path == CROSS_MODALITY:
        return []
    producible = {os.path.normpath(p) for p in globals().get("PRODUCIBLE_WEIGHTS", ())}  # from weights.smk
    if not Path(path).is_file() and os.path.normpath(path) not in producible:
        raise WorkflowError(f"config key features.{key}: weights file {path} not found")
    return [os.path.normpath(path)]


wildcard_constraints:
    kind="|".join(detectors.names()),
    shard=r"shard\d+",


def final_outputs():
    outs = [f"{OUT}/pseudo_labels/{kind}.json" for kind in config["labels"]["kinds"]]
    outs += expand(
        f"{OUT}/plots/timeline/{{kind}}/{{shard}}",
        kind=config["labels"]["kinds"],
        shard=SHARDS,
    )
    outs += expand(f"{OUT}/frames/{{shard}}.skipped.csv", shard=SHARDS)
    outs += evaluation_outputs(config, OUT) + detect_outputs(config, OUT)
    return outs


# Every run records the merged config (defaults filled in by the schema) beside its artifacts.
onstart:
    os.makedirs(OUT, exist_ok=True)
    tmp = f"{OUT}/.config.merged.yaml.tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(json.loads(json.dumps(config)), f, sort_keys=False)
    os.replace(tmp, f"{OUT}/config.merged.yaml")
