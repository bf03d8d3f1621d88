"""Experiments as wildcards: what the DAG plans for them, shared pretrainings, and refusals before any job."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from nemi.errors import NemiConfigError
from nemi.datasets import effective_config
from nemi.experiments import check, check_dataset, index, pretrain_model, report_ablations, runs
from tests.test_train_workflow import RTD
from tests.test_workflow import TINY, planned_jobs, snakemake, write_config

TARGET = "results/tiny_tad.csv"


def _write(workdir, cfg):
    (workdir / "random_rgb.pt").write_bytes(b"")  # dry runs only ask that the weights file exists
    write_config(workdir, cfg)


def _cfg(**changes):
    cfg = copy.deepcopy({**TINY, **RTD})
    cfg["experiments"] = {"rtd": {"dataset": "tiny", "seeds": [0, 1]},
                          "a": {"dataset": "tiny", "pretraining": "tiny_cnn", "seeds": [0, 1]},
                          "b": {"dataset": "tiny", "pretraining": "tiny_cnn", "seeds": [0]},
                          "c": {"dataset": "tiny", "pretraining": "tiny_nocon", "seeds": [0], "group": "ablations",
                                "ablation": "contrastive"}}
    cfg["pretrainings"] = {"tiny_cnn": {"dataset": "tiny", "labels": "cnn"},
                           "tiny_nocon": {"dataset": "tiny", "labels": "cnn", "contrastive": False}}
    for key, value in changes.items():
        cfg[key] = value
    return cfg


def test_runs_per_seed_and_a_pretraining_run_per_seed_shared_by_experiments(tmp_path):
    _write(tmp_path, _cfg())
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout)
    # Table 1: rtd x2, a x2, b x1 = 5 runs; a and b share tiny_cnn, pretrained once per seed (0 and 1);
    # the ablation is not in _tad.csv.
    assert (jobs["train"], jobs["pretrain"], jobs["proposals"], jobs["evaluate_run_detections"]) == (5, 2, 5, 5)
    assert jobs["tem_pseudo"] == 1 and jobs["report_tables"] == 1
    res = snakemake(tmp_path, "results/tiny_ablations.csv", "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout)
    assert (jobs["train"], jobs["pretrain"]) == (6, 3)


def test_a_shared_pretraining_is_one_run_every_seed_fine_tunes_from(tmp_path):
    from nemi.experiments import init_model

    cfg = _cfg()
    cfg["pretrainings"]["tiny_cnn"].update(seeding="shared", seed=3)
    eff = lambda n: effective_config(cfg, n)  # noqa: E731
    assert {init_model(cfg, "a", s, eff) for s in (0, 1)} == {"results/tiny/pretrain/tiny_cnn/seed3/model.pt"}
    assert init_model(cfg, "c", 1, eff) == "results/tiny/pretrain/tiny_nocon/seed1/model.pt"
    assert init_model(cfg, "rtd", 0, eff) is None
    _write(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    assert planned_jobs(res.stdout)["pretrain"] == 1
    res = snakemake(tmp_path, "results/tiny/pretrain/tiny_cnn/seed0/model.pt", "-n")
    assert res.returncode != 0 and "seeding is shared at seed 3: there is no run of seed 0" in res.stdout + res.stderr


def test_index_lists_every_run_and_its_pretraining():
    cfg = _cfg()
    from nemi.datasets import effective_config

    idx = index(cfg, "tiny", lambda n: effective_config(cfg, n))
    assert [(r["seed"]) for r in idx["experiments"]["rtd"]["runs"]] == [0, 1]
    assert idx["experiments"]["a"]["pretraining"]["labels"] == "cnn"
    assert idx["experiments"]["c"]["pretraining"]["contrastive"] is False
    assert [r["epochs"] for r in idx["experiments"]["a"]["pretraining"]["runs"]] == [
        f"results/tiny/pretrain/tiny_cnn/seed{k}/epochs.csv" for k in (0, 1)]
    assert idx["experiments"]["rtd"]["pretraining"] is None and len(idx["config_hash"]) == 16
    assert runs(cfg, "tiny", "table1") == [("rtd", 0), ("rtd", 1), ("a", 0), ("a", 1), ("b", 0)]


@pytest.mark.parametrize("changes,message", [
    ({"experiments": {"x": {"dataset": "nope"}}}, "experiments.x.dataset: no dataset 'nope'"),
    ({"experiments": {"x": {"dataset": "tiny", "pretraining": "nope"}}},
     "experiments.x.pretraining: no pretraining 'nope'"),
    ({"pretrainings": {"p": {"dataset": "nope"}}}, "pretrainings.p.dataset: no dataset 'nope'"),
    # Beside the pretrainings the experiments name: a name no entry has is refused first, config-wide.
    ({"pretrainings": {**_cfg()["pretrainings"], "p": {"dataset": "tiny", "splits": ["train", "test"]}}},
     "pretrainings.p:.*transductive"),
])
def test_unknown_names_are_refused_before_any_job(tmp_path, changes, message):
    import re

    _write(tmp_path, _cfg(**changes))
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and re.search(message, res.stdout + res.stderr), (res.stdout + res.stderr)[-2000:]


def _report_command(res) -> str:
    """The `nemi report html` command a dry run with -p prints (one report job)."""
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "nemi report html" in ln]
    assert res.returncode == 0 and len(lines) == 1, (res.stdout + res.stderr)[-3000:]
    return lines[0]


def test_the_report_takes_the_ablations_as_input_whenever_they_are_built(tmp_path):
    """Figure 2 follows its data: the ablations table is an input of the report when the same run builds it
    (a target, or report.ablations: true) or it is on disk, so the report waits for it and is redrawn
    when it is rebuilt; otherwise the report is made without it (and says so, tests/test_report.py)."""
    _write(tmp_path, _cfg())
    both = snakemake(tmp_path, "results/tiny_ablations.csv", "results/tiny_report.html", "-n", "-p")
    assert "--ablations results/tiny_ablations.csv" in _report_command(both)
    alone = snakemake(tmp_path, "results/tiny_report.html", "-n", "-p")
    assert "--ablations" not in _report_command(alone) and "report_ablations" not in planned_jobs(alone.stdout)

    _write(tmp_path, _cfg(report={"ablations": True}))
    default = snakemake(tmp_path, "-n", "-p")  # the default target now holds them
    assert "--ablations results/tiny_ablations.csv" in _report_command(default)
    assert planned_jobs(default.stdout)["report_ablations"] == 1

    _write(tmp_path, _cfg())
    (tmp_path / "results").mkdir(exist_ok=True)
    (tmp_path / "results" / "tiny_ablations.csv").write_text("made by an earlier run\n")
    there = snakemake(tmp_path, "results/tiny_report.html", "-n", "-p")
    assert "--ablations results/tiny_ablations.csv" in _report_command(there)


def test_report_ablations_reads_targets_as_paths_and_needs_ablation_experiments(tmp_path):
    cfg, path = _cfg(), "results/tiny_ablations.csv"
    never = lambda p: False  # noqa: E731
    assert report_ablations(cfg, "tiny", [], never) == []
    assert report_ablations(cfg, "tiny", ["all", "results/tiny_tad.csv"], never) == []
    for target in (path, f"./{path}", str(Path.cwd() / path)):
        assert report_ablations(cfg, "tiny", [target], never) == [path]
    assert report_ablations(cfg, "tiny", [], lambda p: p == path) == [path]
    assert report_ablations(_cfg(report={"ablations": True}), "tiny", [], never) == [path]
    no_ablations = _cfg()
    del no_ablations["experiments"]["c"]
    assert report_ablations(no_ablations, "tiny", [path], lambda p: True) == []


def _check(cfg):
    check(cfg, lambda n: effective_config(cfg, n))


def _refused_top_level_and_own(section, value, top, own):
    """``value`` set in the top-level ``section`` and in the dataset's own: both refused, each message matching;
    returns the top-level config."""
    cfg = _cfg(**{section: {**RTD[section], **value}})
    with pytest.raises(NemiConfigError, match=top):
        _check(cfg)
    mine = _cfg()
    mine["datasets"]["tiny"][section] = dict(value)
    with pytest.raises(NemiConfigError, match=own):
        _check(mine)
    return cfg


def test_activity_query_on_a_fine_tuning_model_is_refused_naming_the_key_and_the_experiment(tmp_path):
    cfg = _refused_top_level_and_own(
        "model", {"query_strategy": "activity_query"},
        r"config: model\.query_strategy is activity_query, the model experiment rtd fine-tunes.*"
        r"pretrainings\.<name>\.model\.query_strategy",
        r"datasets\.tiny\.model\.query_strategy is activity_query")
    # As a pretraining's switch it is fine (the pretrainings' own section).
    _check(_cfg(pretrainings={"tiny_cnn": {"dataset": "tiny", "labels": "cnn",
                                           "model": {"query_strategy": "activity_query"}},
                              "tiny_nocon": {"dataset": "tiny", "labels": "cnn", "contrastive": False}}))
    # At planning: snakemake stops before any job (the dataset's own rule, nemi.datasets.check_rules, is
    # met first there; both refuse it).
    _write(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "model.query_strategy is activity_query" in res.stdout + res.stderr


def test_evaluating_on_the_training_split_is_refused(tmp_path):
    cfg = _cfg()
    cfg["evaluation"] = {"test_split": "train"}
    _write(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "evaluation.test_split is train" in res.stdout + res.stderr


def test_dataset_without_test_split_or_annotations():
    eff = {"evaluation": {"test_split": "test"}}
    with pytest.raises(NemiConfigError, match="videos.annotations: experiments fine-tune on annotations"):
        check_dataset("mine", eff, {"train": 3, "test": 2}, None)
    with pytest.raises(NemiConfigError, match=r"evaluation.test_split: no video of split 'test'.*train 3"):
        check_dataset("mine", eff, {"train": 3}, "gt.csv")
    with pytest.raises(NemiConfigError, match="no video of split train"):
        check_dataset("mine", eff, {"test": 3}, "gt.csv")
    check_dataset("mine", eff, {"train": 3, "test": 1}, "gt.csv")


def test_a_from_scratch_experiment_refuses_train_pretrained(tmp_path):
    """The row says RTD-Net from scratch: a dataset whose train.pretrained names a checkpoint cannot have it."""
    cfg = _refused_top_level_and_own(
        "train", {"pretrained": "fine_tuned.pt"},
        r"config: train\.pretrained is fine_tuned\.pt, but experiment rtd is from scratch \(pretraining: null\)",
        r"datasets\.tiny\.train\.pretrained is fine_tuned\.pt")
    # Experiments from a pretraining may start fine-tuning from it (their record names both starts).
    del cfg["experiments"]["rtd"]
    _check(cfg)
    _write(tmp_path, _cfg(train={**RTD["train"], "pretrained": "fine_tuned.pt"}))
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "experiment rtd is from scratch" in res.stdout + res.stderr


def _two_datasets(**experiments):
    """tiny and tiny2 (another seed, a model of other queries and encoder width), a pretraining on tiny2."""
    cfg = _cfg()
    cfg["datasets"]["tiny2"] = {**copy.deepcopy(cfg["datasets"]["tiny"]), "model": {"num_queries": 6,
                                                                                    "encoder_hidden_dim": 24}}
    cfg["datasets"]["tiny2"]["synth"]["seed"] = 2
    cfg["pretrainings"] = {"p2": {"dataset": "tiny2", "labels": "cnn"}}
    cfg["experiments"] = experiments
    return cfg


def _pretrain_model_params(res) -> dict:
    """The model section in the --params of the one `nemi pretrain` command a dry run with -p prints."""
    import json
    import shlex

    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "nemi pretrain --" in ln]
    assert res.returncode == 0 and len(lines) == 1, (res.stdout + res.stderr)[-3000:]
    args = shlex.split(lines[0][lines[0].index("nemi pretrain --"):])
    return json.loads(args[args.index("--params") + 1])["model"]


def test_a_pretraining_is_built_with_the_architecture_of_the_experiments_fine_tuning_from_it(tmp_path):
    """A pretraining on tiny2 that an experiment on tiny fine-tunes from builds tiny's network (queries,
    encoder width: every weight then carries over); its dropout and training settings stay tiny2's. Alone,
    it builds tiny2's own."""
    cfg = _two_datasets(x={"dataset": "tiny", "pretraining": "p2", "seeds": [0]})
    cfg["datasets"]["tiny2"]["model"]["dropout"] = 0.3
    _write(tmp_path, cfg)
    model = _pretrain_model_params(snakemake(tmp_path, "results/tiny/train/x/seed0/model.pt", "-n", "-p"))
    assert (model["num_queries"], model["encoder_hidden_dim"], model["hidden_dim"]) == (4, 16, 16)
    assert model["dropout"] == 0.3
    cfg["experiments"] = {"rtd": {"dataset": "tiny", "seeds": [0]}}
    _write(tmp_path, cfg)
    model = _pretrain_model_params(snakemake(tmp_path, "results/tiny2/pretrain/p2/seed0/model.pt", "-n", "-p"))
    assert (model["num_queries"], model["encoder_hidden_dim"]) == (6, 24)


def test_a_pretraining_shared_by_two_architectures_is_refused_naming_both_experiments(tmp_path):
    cfg = _two_datasets(x={"dataset": "tiny", "pretraining": "p2", "seeds": [0]},
                        y={"dataset": "tiny2", "pretraining": "p2", "seeds": [0]})
    message = (r"pretrainings\.p2 is fine-tuned by experiments x \(dataset tiny\) and y \(dataset tiny2\), of two "
               r"architectures \(model\.encoder_hidden_dim 16 against datasets\.tiny2\.model\.encoder_hidden_dim 24, "
               r"model\.num_queries 4 against datasets\.tiny2\.model\.num_queries 6\)")
    with pytest.raises(NemiConfigError, match=message):
        _check(cfg)
    _write(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    import re

    assert res.returncode != 0 and re.search(message, res.stdout + res.stderr), (res.stdout + res.stderr)[-3000:]
    # One architecture: shared across datasets is fine.
    cfg["datasets"]["tiny2"]["model"] = {}
    _check(cfg)


def test_a_pretraining_on_features_of_another_width_is_refused_naming_both_keys_and_its_windows_are_its_models():
    cfg = _two_datasets(x={"dataset": "tiny", "pretraining": "p2", "seeds": [0]})
    cfg["datasets"]["tiny2"]["model"]["input_dim"] = 1024
    with pytest.raises(NemiConfigError, match=r"pretrainings\.p2: its features, datasets\.tiny2\.model\.input_dim "
                                              r"1024, are not as wide as the model experiment x fine-tunes reads, "
                                              r"model\.input_dim 2048"):
        _check(cfg)
    # tiny2's own windows are 12 steps; the model it pretrains for has a position table of 20, and the
    # window's length has one home, the model's: the pretraining's windows are 20 steps.
    cfg = _two_datasets(x={"dataset": "tiny", "pretraining": "p2", "seeds": [0]})
    cfg["datasets"]["tiny2"]["model"]["window_steps"] = 12
    _check(cfg)
    assert pretrain_model(cfg, "p2", lambda n: effective_config(cfg, n))["window_steps"] == 20


def _layered(*names: str) -> dict:
    import yaml

    from nemi.datasets import deep_merge
    from tests.conftest import REPO

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in names:
        cfg = deep_merge(cfg, yaml.safe_load((REPO / "workflow" / "configs" / name).read_text()))
    return cfg


@pytest.mark.parametrize("strategy", ["localisation", "activity_query"])
def test_fine_tuning_from_the_shipped_cross_dataset_pretraining_loads_every_weight_but_activity_queries(
        tmp_path, strategy):
    """thumos14_cross.yaml: NEMI pretrained on ActivityNet-1.3 and fine-tuned on Thumos14. The pretraining's
    network, as the workflow builds it (the pretraining's model section), gives the Thumos14 model every weight;
    only activity_query_proj, which a pretraining with activity queries adds, stays behind."""
    from nemi.experiments import experiment, pretrain_model, pretrain_section, pretraining
    from nemi.model.checkpoint import load_matching
    from nemi.model import ModelParams, build_model, save_model
    from nemi.pretrain.params import PretrainFitParams, label_free

    cfg = _layered("thumos14.yaml", "activitynet13.yaml", "thumos14_cross.yaml")
    eff = lambda n: effective_config(cfg, n)  # noqa: E731
    name = experiment(cfg, "thumos_nemi_cross")["pretraining"]
    cfg["pretrainings"][name]["model"] = {"query_strategy": strategy}
    check(cfg, eff)
    own = eff(pretraining(cfg, name)["dataset"])
    pre = PretrainFitParams.from_dict({"model": pretrain_model(cfg, name, eff), "train": label_free(own["train"]),
                                       "pretrain": pretrain_section(cfg, name, own)}).model
    save_model(tmp_path / "pretrained.pt", build_model(pre), pre)
    fine = build_model(ModelParams.from_dict(eff("thumos")["model"]))
    loaded = load_matching(fine, tmp_path / "pretrained.pt")
    assert loaded["not_in_checkpoint"] == [] and len(loaded["loaded"]) == len(fine.state_dict())
    assert loaded["not_loaded_from_checkpoint"] == (
        ["activity_query_proj.bias", "activity_query_proj.weight"] if strategy == "activity_query" else [])
