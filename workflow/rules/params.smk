# The parameters each stage's command is given (its params:): a stage's section as the one JSON
# argument (--params), the model section, the fine-tuning run's and the pretraining run's sections,
# the features.import section, a sliding_window experiment's windows; and the pretraining's own inputs
# (its pseudo labels, prior and pretrain.init), which read the same pretraining entry (_pretraining_of).

import dataclasses
import json
import os

from snakemake.exceptions import WorkflowError

from nemi import datasets as _ds
import nemi.experiments as _experiments_mod
import nemi.features.rehearsal as _rehearsal
import nemi.pretrain as _pretrain
import nemi.pretrain.params as _pretrain_params
import nemi.proposals.params as _proposals_params
import nemi.train as _train


def stage_params(section, cls, version):
    """A stage's parameters as the one JSON argument its command takes (``--params``): the fields of
    its dataclass from the validated section, plus the stage's VERSION so that Snakemake's params
    trigger reruns it when its meaning changes."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return json.dumps({**{k: v for k, v in section.items() if k in fields}, "version": version}, sort_keys=True)


def import_section(wildcards):
    """features.import of a dataset; a rehearsal's is the layout its generator writes, in its own folder."""
    if is_rehearsal(wildcards.dataset):
        benchmark = DS(wildcards.dataset)["features"]["rehearsal"]["benchmark"]
        # fps: the manifest's fps column gives each video's own; this is only the command's fallback.
        return {**_rehearsal.LAYOUTS[benchmark], "dir": _ds.rehearsal_dir(wildcards.dataset), "fps": 30}
    return DS(wildcards.dataset)["features"]["import"]


def train_params(wildcards):
    """The run's parameters as the one JSON argument `nemi train --params` takes (nemi.fit.params.FitParams):
    the dataset's model section and its train section with the run's seed, and the stage's VERSION."""
    sections = {"model": DS(wildcards.dataset)["model"], "train": run_train_section(wildcards)}
    return json.dumps({**sections, "version": _train.VERSION}, sort_keys=True)


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


def run_train_section(wildcards):
    """The dataset's train section with the run's seed (a seed the experiment does not list is refused)."""
    e = _checked(_experiments_mod.experiment)(config, wildcards.experiment)
    if not _experiments_mod.is_trained(e):
        raise WorkflowError(f"experiment {wildcards.experiment} is of method {e['method']}: nothing is trained")
    if int(wildcards.seed) not in e["seeds"]:
        raise WorkflowError(f"experiment {wildcards.experiment} has no seed {wildcards.seed} (seeds: {e['seeds']})")
    return _experiments_mod.train_section(DS(wildcards.dataset), int(wildcards.seed))


def sliding_window_params(wildcards):
    """A sliding_window experiment's windows as the JSON `nemi proposals sliding-window --params` takes."""
    e = _checked(_experiments_mod.experiment)(config, wildcards.experiment)
    if e["dataset"] != wildcards.dataset:
        raise WorkflowError(f"experiment {wildcards.experiment} is of dataset {e['dataset']}, not {wildcards.dataset}")
    p = _checked(_experiments_mod.sliding_window_params)(config, wildcards.experiment)
    return json.dumps({**dataclasses.asdict(p), "version": _proposals_params.SLIDING_WINDOW_VERSION}, sort_keys=True)
