# A dataset's effective configuration: its entry under `datasets` merged into the top-level sections
# (nemi.datasets), so one DAG holds several datasets, merged and checked once, only for the datasets the
# wanted targets reach; its video table; what rule all builds of it. Every path is results/{dataset}/...;
# the wildcards of every rule are constrained here, before any rule is defined.

import re

from nemi import datasets as _ds
from nemi import detectors
from nemi.detect.workflow import detect_outputs
from nemi.errors import NemiInputError
from nemi.evaluation.workflow import outputs as evaluation_outputs
from nemi.params import from_config
import nemi.decode.shard as _decode
import nemi.detect.classifier as _classifier
import nemi.detect.fusion as _fusion
import nemi.features.extract as _extract


OUT = "results/{dataset}"
LOGS = "results/{dataset}/logs"
BENCH = "results/{dataset}/benchmarks"


wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    kind="|".join(detectors.names()),
    shard=r"shard\d+",
    experiment="[A-Za-z0-9_]+",
    pretraining="[A-Za-z0-9_]+",
    seed=r"\d+",
    protocol="thumos14|thumos14-daps|activitynet",
    splits="[a-z]+(-[a-z]+)*",
    name="[A-Za-z0-9_.-]+",


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


# RTD-Net's sections (the boundary prior's tem, the model, train) are checked when DS merges a dataset, so
# that a bad value stops the run before any job; none of these imports torch.

from nemi.model.params import ModelParams as _ModelParams
from nemi.tem import TemParams as _TemParams
from nemi.fit.params import FitParams as _FitParams


@_checked
def _check_rtd_sections(name):
    """Run by DS when it first merges dataset ``name``."""
    eff = DS(name)
    _TemParams.from_dict({k: v for k, v in eff["tem"].items() if k != "version"}, where=f"datasets.{name}.tem")
    _ModelParams.from_dict(eff["model"], where=f"datasets.{name}.model")
    _FitParams.from_dict({"model": eff["model"], "train": eff["train"]})


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


# These three also build the rules' wildcard constraints, for every dataset of the config, so they read the
# keys as written rather than through DS: a dataset no target reaches is not merged or validated.
def is_synth(name):
    return _ds.raw_setting(config, name, "videos", "source") == "synth"


def is_rehearsal(name):
    return _ds.raw_setting(config, name, "videos", "source") == "rehearsal"


def imports_features(name):
    # A rehearsal's features are written in a published layout by rule features_rehearsal, then imported.
    return _ds.raw_setting(config, name, "features", "source") == "import" or is_rehearsal(name)


def manifest_path(name):
    return _ds.manifest_path(DS(name))


def ground_truth_path(name):
    return _ds.ground_truth_path(DS(name))


def datasets_where(test):
    """A dataset wildcard constraint matching the datasets for which ``test(name)`` holds (else nothing)."""
    names = [n for n in config["datasets"] if test(n)]
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


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
