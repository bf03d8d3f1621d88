"""tem -> train -> proposals -> evaluation through Snakemake on a tiny synthetic dataset with a tiny RTD-Net."""

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
    "proposals": {"top_n": 50},
    "evaluation": {"predictions": {"rtd": {"path": "results/tiny/proposals/rtd.csv", "kind": "proposals",
                                           "protocol": "thumos14", "videos": "results/tiny/proposals/rtd.videos.txt"}}},
}
TARGET = "results/tiny/evaluation/rtd.json"


@pytest.fixture(scope="module")
def rtd_run(tmp_path_factory):
    import torch

    from nemi.i3d import build_i3d

    workdir = tmp_path_factory.mktemp("rtd")
    torch.manual_seed(0)
    torch.save(build_i3d(3).state_dict(), workdir / "random_rgb.pt")
    write_config(workdir, {**TINY, **RTD})
    res = snakemake(workdir, TARGET)
    assert res.returncode == 0, res.stderr[-5000:]
    return workdir


def test_tem_train_proposals_evaluation(rtd_run):
    import h5py

    out = rtd_run / "results" / "tiny"
    with h5py.File(out / "tem" / "boundary.h5") as h5:
        assert h5.attrs["kind"] == "tem" and len(h5) == 4 and h5[sorted(h5)[0]]["start"].ndim == 1
    rows = pd.read_csv(out / "train" / "epochs.csv")
    assert list(rows["stage"]) == ["stage1", "stage1", "stage2", "stage3"] and "val_AR@100" in rows
    record = json.loads((out / "train" / "run.json").read_text())
    assert record["n_holdout_videos"] == 1 and record["select"] == "best"
    props = pd.read_csv(out / "proposals" / "rtd.csv")
    assert list(props.columns) == ["video_id", "t_start", "t_end", "score"] and len(props) > 0
    test_ids = (out / "proposals" / "rtd.videos.txt").read_text().split()
    assert set(props["video_id"]) == set(test_ids) and len(test_ids) == 2
    assert not set(test_ids) & set(record["holdout_videos"]), "the test split never selects a checkpoint"
    info = json.loads((out / "proposals" / "rtd.json").read_text())
    assert info["config_hash"] == record["config_hash"] and len(info["checkpoint_sha256"]) == 64
    metrics = json.loads((out / "evaluation" / "rtd.json").read_text())
    assert metrics["n_videos"] == 2 and 0 <= metrics["AR@AN"]["100"] <= 1
    assert (out / "logs" / "train" / "train.log").is_file() and (out / "benchmarks" / "train" / "train.tsv").is_file()


def test_nothing_reruns_and_a_train_change_reruns_train_and_after(rtd_run):
    res = snakemake(rtd_run, TARGET, "-n")
    assert "Nothing to be done" in res.stdout + res.stderr
    cfg = yaml.safe_load((rtd_run / "config.yaml").read_text())
    cfg["train"]["seed"] = 1
    write_config(rtd_run, cfg)
    jobs = planned_jobs(snakemake(rtd_run, TARGET, "-n").stdout)
    assert {k: jobs.get(k) for k in ("tem", "train", "proposals", "evaluate_predictions")} == {
        "tem": None, "train": 1, "proposals": 1, "evaluate_predictions": 1}


def test_bad_train_config_stops_before_any_job(tmp_path):
    cfg = {**TINY, **RTD, "train": {**RTD["train"], "schedule": "nope"}}
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "no schedule 'nope'" in res.stdout + res.stderr
    cfg = {**TINY, **RTD, "train": {**RTD["train"], "schedule": "mine", "schedules": {"mine": {"s1": {"epochs": 2}}}}}
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and "train.schedules.mine.s1: missing ['lr'" in res.stdout + res.stderr
