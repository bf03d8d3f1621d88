"""Experiments as wildcards: what the DAG plans for them, shared pretrainings, and refusals before any job."""

from __future__ import annotations

import copy

import pytest

from nemi.errors import NemiConfigError
from nemi.experiments import check_dataset, index, runs
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


def test_runs_per_seed_and_one_pretraining_shared(tmp_path):
    _write(tmp_path, _cfg())
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout)
    # Table 1: rtd x2, a x2, b x1 = 5 runs; a and b share one pretraining; the ablation is not in _tad.csv.
    assert (jobs["train"], jobs["pretrain"], jobs["proposals"], jobs["evaluate_run_detections"]) == (5, 1, 5, 5)
    assert jobs["tem_pseudo"] == 1 and jobs["report_tables"] == 1
    res = snakemake(tmp_path, "results/tiny_ablations.csv", "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout)
    assert (jobs["train"], jobs["pretrain"]) == (6, 2)


def test_index_lists_every_run_and_its_pretraining():
    cfg = _cfg()
    from nemi.datasets import effective_config

    idx = index(cfg, "tiny", lambda n: effective_config(cfg, n))
    assert [(r["seed"]) for r in idx["experiments"]["rtd"]["runs"]] == [0, 1]
    assert idx["experiments"]["a"]["pretraining"]["labels"] == "cnn"
    assert idx["experiments"]["c"]["pretraining"]["contrastive"] is False
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
