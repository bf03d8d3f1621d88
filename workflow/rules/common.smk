# Shared wiring: config validation, the dataset and video tables, wildcard constraints and input
# functions. Every path is results/{dataset}/...; a dataset's parameters are its entry under
# `datasets` merged into the top-level sections (nemi.datasets), so one DAG holds several datasets.

import dataclasses
import re
import json
import os
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from nemi import datasets as _ds
from nemi import detectors
from nemi.detect.workflow import detect_outputs
from nemi.errors import NemiInputError
from nemi.evaluation.workflow import outputs as evaluation_outputs
from nemi.features.extract import CROSS_MODALITY
from nemi.io.manifest import plan_shards
from nemi.params import schema_path

# Stops the run before any job starts, naming the offending key; also fills defaults.
# The schema lives in the package: it is also where every stage's defaults are written.
validate(config, schema=schema_path())

OUT = "results/{dataset}"
LOGS = "results/{dataset}/logs"
BENCH = "results/{dataset}/benchmarks"

for _name in config["targets"]:
    if _name not in config["datasets"]:
        raise WorkflowError(f"config key targets: no dataset {_name!r} under datasets "
                            f"(known: {', '.join(sorted(config['datasets']))})")


def _checked(fn):
    """Config and manifest errors become one WorkflowError naming the key or file, before any job."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NemiInputError as err:
            raise WorkflowError(str(err)) from None

    return wrapper


_EFFECTIVE = {}


@_checked
def DS(name):
    """Dataset ``name``'s effective configuration (validated once)."""
    if name not in _EFFECTIVE:
        _EFFECTIVE[name] = _ds.effective_config(config, name)
    return _EFFECTIVE[name]


# Every dataset's merged sections are checked now, so a bad override stops the run before any job.
for _name in config["datasets"]:
    DS(_name)


@_checked
def videos(name):
    """[nemi.datasets.Video] of a dataset; read only when one of its jobs is wanted."""
    return _ds.video_table(DS(name))


def shards(name):
    """{shard: [video id]} of a dataset."""
    return plan_shards([v.video_id for v in videos(name)], DS(name)["videos"]["shard_size"])


def is_synth(name):
    return DS(name)["videos"]["source"] == "synth"


def manifest_path(name):
    return _ds.manifest_path(DS(name))


def ground_truth_path(name):
    return _ds.ground_truth_path(DS(name))


def datasets_where(test):
    """A dataset wildcard constraint matching the datasets for which ``test(name)`` holds (else nothing)."""
    names = [n for n in config["datasets"] if test(n)]
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


def shard_videos(wildcards):
    """The video files of one shard: a decode job depends on its own videos only."""
    if is_synth(wildcards.dataset):
        return [f"results/{wildcards.dataset}/synth/videos.csv"]
    ids = set(shards(wildcards.dataset)[wildcards.shard])
    # Missing videos are left to `nemi decode`, which fails naming them or, with on_error: skip,
    # records them and goes on; existing ones are inputs so that a replaced video is decoded again.
    return [v.path for v in videos(wildcards.dataset) if v.video_id in ids and os.path.exists(v.path)]


def shard_rows(wildcards):
    """The manifest rows of one shard, as a params value: editing another shard's rows reruns nothing here."""
    ids = set(shards(wildcards.dataset)[wildcards.shard])
    return [[v.video_id, v.path] for v in videos(wildcards.dataset) if v.video_id in ids]


def shard_files(kind):
    """Input function: ``results/{dataset}/<kind>/{shard}.h5`` of every shard of the dataset."""
    return lambda wc: [f"results/{wc.dataset}/{kind}/{s}.h5" for s in shards(wc.dataset)]


def stage_params(section, cls, version):
    """A stage's parameters as the one JSON argument its command takes (``--params``): the fields of
    its dataclass from the validated section, plus the stage's VERSION so that Snakemake's params
    trigger reruns it when its meaning changes."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return json.dumps({**{k: v for k, v in section.items() if k in fields}, "version": version}, sort_keys=True)


def detector_input(wildcards):
    """The shard a detector's curve is made from: frames (hog) or features (cnn)."""
    return f"results/{wildcards.dataset}/{detectors.get(wildcards.kind).input}/{wildcards.shard}.h5"


def producible_weights():
    """Weights files some rule can make (the converted Kinetics RGB I3D)."""
    return {os.path.normpath(config["weights"]["i3d_kinetics400_rgb"])}


def weights_input(key):
    """Input function: the weights file named by the dataset's features.<key>; a missing one stops the
    run before any job, naming the key. A path some rule can make is left to that rule."""

    def files(wildcards):
        path = DS(wildcards.dataset)["features"][key]
        if key == "flow_weights" and path == CROSS_MODALITY:
            return []
        if not Path(path).is_file() and os.path.normpath(path) not in producible_weights():
            raise WorkflowError(f"config key datasets.{wildcards.dataset}.features.{key} (or features.{key}): "
                                f"weights file {path} not found")
        return [os.path.normpath(path)]

    return files


def import_dir(wildcards):
    """The directory of published features of an imported dataset; missing: one message naming the key."""
    d = DS(wildcards.dataset)["features"]["import"]["dir"]
    if not d or not Path(d).is_dir():
        raise WorkflowError(f"config key datasets.{wildcards.dataset}.features.import.dir: "
                            f"feature directory {d} not found")
    return d


def dataset_outputs(name):
    eff, out = DS(name), f"results/{name}"
    kinds = eff["labels"]["kinds"]
    outs = [f"{out}/pseudo_labels/{kind}.json" for kind in kinds]
    outs += [f"{out}/plots/timeline/{kind}/{s}" for kind in kinds for s in shards(name)]
    outs += [f"{out}/frames/{s}.skipped.csv" for s in shards(name)]
    outs += evaluation_outputs(eff, out) + detect_outputs(eff, out)
    return outs


def final_outputs():
    return [p for name in config["targets"] for p in dataset_outputs(name)]


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    kind="|".join(detectors.names()),
    shard=r"shard\d+",


# Every run records each target dataset's merged config (defaults filled in) beside its artifacts.
onstart:
    for name in config["targets"]:
        os.makedirs(f"results/{name}", exist_ok=True)
        tmp = f"results/{name}/.config.merged.yaml.tmp"
        with open(tmp, "w") as f:
            yaml.safe_dump(json.loads(json.dumps(DS(name))), f, sort_keys=False)
        os.replace(tmp, f"results/{name}/config.merged.yaml")
    # A cluster run whose jobs ask for GPUs where the partition has none stops here, before any sbatch.
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        import runpy

        _gpu_check = runpy.run_path(os.path.join(workflow.basedir, "workflow/profiles/slurm/gpu_check.py"))
        _gpu_check["check"](workflow.dag.needrun_jobs())


# Skipped videos are easy to miss in per-shard CSVs: say how many, and where the list is.
onsuccess:
    import csv

    for name in config["targets"]:
        csvs = sorted(Path(f"results/{name}/frames").glob("*.skipped.csv"))
        n = sum(max(0, len(list(csv.reader(p.open()))) - 1) for p in csvs)
        if n:
            print(f"nemi: {n} video(s) of dataset {name} were skipped; see results/{name}/frames/*.skipped.csv")
