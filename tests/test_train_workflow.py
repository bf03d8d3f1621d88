"""tem -> (pretrain) -> train -> proposals -> evaluation through Snakemake: a tiny synthetic dataset, a tiny
RTD-Net, one experiment from scratch and one fine-tuned from a NEMI pretraining."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.test_workflow import TINY, planned_jobs, snakemake, write_config

RTD = {
    "datasets": {"tiny": {**TINY["datasets"]["tiny"], "synth": {"n_videos": 4, "test_fraction": 0.5, "seed": 1}}},
    "labels": {"kinds": ["cnn"], "cnn": {"ratio": 0.05, "rule": "top"}},
    "model": {"proj_dim": 8, "hidden_dim": 16, "encoder_hidden_dim": 16, "heads": 2, "ffn_dim": 32,
              "decoder_layers": 2, "num_queries": 4, "window_steps": 20},
    "tem": {"hidden_dim": 16, "epochs": 2, "batch_size": 4},
    "train": {"window_steps": 20, "train_stride": 10, "test_stride": 10, "step_frames": None, "batch_size": 4,
              "holdout_share": 0.5,
              "schedules": {"rtd_three_stage": {"stage1": {"epochs": 2}, "stage2": {"epochs": 1},
                                                "stage3": {"epochs": 1}}}},
    "pretrain": {"train": {"schedule": "nemi_pretrain", "schedules": {"nemi_pretrain": {"main": {"epochs": 2}}}}},
    "proposals": {"top_n": 50},
    "pretrainings": {"tiny_cnn": {"dataset": "tiny", "labels": "cnn"}},
    "experiments": {"rtd": {"dataset": "tiny", "seeds": [0]},
                    "nemi": {"dataset": "tiny", "pretraining": "tiny_cnn", "seeds": [0]}},
}
TARGET = "results/tiny/evaluation/rtd/seed0.thumos14.json"
NEMI_TARGET = "results/tiny/evaluation/nemi/seed0.thumos14.json"


@pytest.fixture(scope="module")
def rtd_run(tmp_path_factory):
    import torch

    from nemi.i3d import build_i3d

    workdir = tmp_path_factory.mktemp("rtd")
    torch.manual_seed(0)
    torch.save(build_i3d(3).state_dict(), workdir / "random_rgb.pt")
    write_config(workdir, {**TINY, **RTD})
    res = snakemake(workdir, TARGET, NEMI_TARGET)
    assert res.returncode == 0, res.stderr[-5000:]
    return workdir


def test_tem_train_proposals_evaluation(rtd_run):
    import h5py

    out = rtd_run / "results" / "tiny"
    with h5py.File(out / "tem" / "boundary.h5") as h5:
        assert h5.attrs["kind"] == "tem" and len(h5) == 4 and h5[sorted(h5)[0]]["start"].ndim == 1
    run = out / "train" / "rtd" / "seed0"
    rows = pd.read_csv(run / "epochs.csv")
    # Epoch 0 (the held-out scores before any step) opens the curve.
    assert list(rows["stage"]) == ["stage1", "stage1", "stage1", "stage2", "stage3"] and "val_AR@100" in rows
    assert rows["epoch"].tolist() == [0, 1, 2, 3, 4]
    record = json.loads((run / "run.json").read_text())
    assert record["n_holdout_videos"] == 1 and record["select"] == "best" and record["config"]["train"]["seed"] == 0
    props = pd.read_csv(out / "proposals" / "rtd" / "seed0.csv")
    assert list(props.columns) == ["video_id", "t_start", "t_end", "score"] and len(props) > 0
    test_ids = (out / "proposals" / "rtd" / "seed0.videos.txt").read_text().split()
    assert set(props["video_id"]) == set(test_ids) and len(test_ids) == 2
    assert not set(test_ids) & set(record["holdout_videos"]), "the test split never selects a checkpoint"
    info = json.loads((out / "proposals" / "rtd" / "seed0.json").read_text())
    assert info["config_hash"] == record["config_hash"] and len(info["checkpoint_sha256"]) == 64
    metrics = json.loads((out / "evaluation" / "rtd" / "seed0.thumos14.json").read_text())
    assert metrics["n_videos"] == 2 and 0 <= metrics["AR@AN"]["100"] <= 1
    assert (out / "logs" / "train" / "rtd" / "seed0.log").is_file()
    assert (out / "benchmarks" / "train" / "rtd" / "seed0.tsv").is_file()


def test_pretraining_feeds_fine_tuning(rtd_run):
    out = rtd_run / "results" / "tiny"
    pre = json.loads((out / "pretrain" / "tiny_cnn" / "seed0" / "run.json").read_text())
    assert pre["config"]["pretrain"]["labels"] == "cnn" and pre["config"]["model"]["classification"] == "bce"
    assert "contrastive" in pre["config"]["model"]["losses"]
    assert pre["objective"] == {"main": {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0, "loss_con": 1.0}}
    tuned = json.loads((out / "train" / "nemi" / "seed0" / "run.json").read_text())
    init = tuned["initialised"]
    assert init["init"] == "results/tiny/pretrain/tiny_cnn/seed0/model.pt" and init["n_loaded"] > 0
    assert "position_embedding.position_table" in init["loaded"]
    # One architecture, pretrained and fine-tuned: every weight carried over, as the tables read it.
    from nemi.report.tables import transfer

    assert init["not_in_checkpoint"] == [] and init["not_loaded_from_checkpoint"] == []
    assert transfer(out / "train" / "nemi" / "seed0" / "run.json") == ("none", "none")
    assert json.loads((out / "evaluation" / "nemi" / "seed0.thumos14.json").read_text())["n_videos"] == 2


def test_no_human_label_reaches_pretraining(rtd_run):
    """Every input of the pretrain job and of the prior it uses, read off the DAG: no annotation file."""
    res = snakemake(rtd_run, "results/tiny/pretrain/tiny_cnn/seed0/model.pt", "results/tiny/train/rtd/seed0/model.pt",
                    "-n", "--forceall")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (res.stdout + res.stderr).splitlines()
    inputs = {}  # rule -> the input line of its job
    for i, line in enumerate(lines):
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
            inputs[rule] = next((x for x in lines[i + 1:i + 4] if x.strip().startswith("input:")), "")
    assert {"pretrain", "tem_pseudo", "train", "tem"} <= set(inputs), sorted(inputs)
    for rule in ("pretrain", "tem_pseudo"):
        assert "groundtruth" not in inputs[rule] and "annotations" not in inputs[rule], inputs[rule]
    # The check reads the inputs it claims to: the supervised jobs do list the annotation file.
    assert all("annotations/groundtruth.csv" in inputs[rule] for rule in ("train", "tem"))


def test_nothing_reruns_and_a_train_change_reruns_train_and_after(rtd_run):
    res = snakemake(rtd_run, TARGET, "-n")
    assert "Nothing to be done" in res.stdout + res.stderr
    cfg = yaml.safe_load((rtd_run / "config.yaml").read_text())
    cfg["train"]["clip_max_norm"] = 1.0
    write_config(rtd_run, cfg)
    jobs = planned_jobs(snakemake(rtd_run, TARGET, "-n").stdout)
    assert {k: jobs.get(k) for k in ("tem", "train", "proposals", "evaluate_run_proposals")} == {
        "tem": None, "train": 1, "proposals": 1, "evaluate_run_proposals": 1}


def test_bad_train_config_stops_before_any_job(tmp_path):
    cfg = {**TINY, **RTD, "train": {**RTD["train"], "schedule": "nope"}}
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "no schedule 'nope'" in res.stdout + res.stderr
    cfg = {**TINY, **RTD, "train": {**RTD["train"], "schedule": "mine", "schedules": {"mine": {"s1": {"epochs": 2}}}}}
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "train.schedules.mine.s1: missing ['lr'" in res.stdout + res.stderr
