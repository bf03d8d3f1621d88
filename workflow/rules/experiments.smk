# Experiments (nemi.experiments): their names checked config-wide, the checkpoint a fine-tuning run starts
# from, the runs a dataset's targets, tables and report read. A pretraining's sections and inputs are in
# params.smk, with the other rules' parameters.

import os
import re
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

import nemi.experiments as _experiments_mod


# What experiments and pretrainings name, config-wide (no dataset merged); their settings are checked per
# dataset, by DS, for the datasets the targets reach.
_checked(_experiments_mod.check_names)(config)


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


def experiment_outputs(name):
    return _experiments_mod.outputs(config, name)


def sliding_window_experiments():
    """A wildcard constraint matching the sliding_window experiments' names (else nothing)."""
    names = [n for n in config["experiments"]
             if not _experiments_mod.is_trained(_experiments_mod.experiment(config, n))]
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


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
