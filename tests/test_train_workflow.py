"""tem -> (pretrain) -> train -> proposals -> evaluation through Snakemake: a tiny synthetic dataset, a tiny
RTD-Net, one experiment from scratch and one fine-tuned from a NEMI pretraining."""

from __future__ import annotations

import copy
import json
import re

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
    "train": {"train_stride": 10, "test_stride": 10, "step_frames": None, "batch_size": 4,
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


def dry_run_jobs(text: str) -> list[dict]:
    """Every job of a dry run with -p: its rule, input and output files, and shell command."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", text):
        head = re.match(r"(?:local)?rule (\w+):\n", block)
        if not head:
            continue
        files = {key: [f.strip() for f in m.group(1).split(",") if f.strip()] if (m := re.search(
            rf"^\s+{key}: (.*)$", block, re.M)) else [] for key in ("input", "output")}
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs.append({"rule": head.group(1), **files, "shell": shell.group(1) if shell else ""})
    return jobs


def ancestry(job: dict, jobs: list[dict]) -> set[str]:
    """Every file a job's inputs are made from, its inputs included."""
    made_by = {f: j for j in jobs for f in j["output"]}
    seen, todo = set(), list(job["input"])
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo += made_by[f]["input"] if f in made_by else []
    return seen


def is_annotation(path: str) -> bool:
    return "groundtruth" in path or "annotations" in path


def check_checkpoints_are_inputs(jobs: list[dict]) -> None:
    """Every checkpoint a job's command names is one of its inputs: replacing it reruns the job, and what
    a job loads can be read off the DAG. report_index only writes the runs' paths down (report_tables and
    report_html, which read them, have them as inputs)."""
    for job in (j for j in jobs if j["rule"] != "report_index"):
        named = set(re.findall(r"[\w./-]+\.pth?\b", job["shell"])) - set(job["output"])
        missing = sorted(named - set(job["input"]))
        assert not missing, f"{job['rule']} {job['output'][:1]}: loads {missing}, which is no input"


def check_label_free(jobs: list[dict]) -> None:
    """No pretraining job has, among its transitive inputs, an annotation file or anything made from one,
    and every checkpoint its command names is one of its inputs (so what it loads is read off the DAG)."""
    pretrainings = [j for j in jobs if j["rule"] == "pretrain"]
    assert pretrainings
    check_checkpoints_are_inputs(pretrainings)
    for job in pretrainings:
        made_by = {f: j["rule"] for j in jobs for f in j["output"]}
        # A checkpoint among its inputs is another pretraining's: one from outside the DAG could have seen anything.
        assert all(made_by.get(f) == "pretrain" for f in job["input"] if f.endswith((".pt", ".pth"))), job["input"]
        upstream = ancestry(job, jobs)
        assert not [f for f in upstream if is_annotation(f)], (job["output"][0], sorted(upstream))
        assert not [j["rule"] for j in jobs if j["rule"] == "train" and set(j["output"]) & upstream]


def label_free_config(**pretrainings) -> dict:
    """RTD's config where train.pretrained names a fine-tuned checkpoint (so no from-scratch experiment)."""
    cfg = copy.deepcopy({**TINY, **RTD})
    cfg["train"]["pretrained"] = "fine_tuned.pt"
    cfg["pretrainings"] = {**cfg["pretrainings"], **pretrainings}
    cfg["experiments"] = {"nemi": {"dataset": "tiny", "pretraining": "tiny_cnn", "seeds": [0]}}
    return cfg


def test_no_human_label_reaches_pretraining(tmp_path):
    """Read off the DAG (the jobs' inputs, outputs and commands): train.pretrained, a checkpoint fine-tuned on
    annotations here, reaches the fine-tuning only; the pretraining's inputs hold no annotation file and
    nothing made from one, and it is handed no checkpoint that is not among them."""
    (tmp_path / "random_rgb.pt").write_bytes(b"")  # dry runs only ask that the files exist
    (tmp_path / "fine_tuned.pt").write_bytes(b"")
    write_config(tmp_path, label_free_config())
    res = snakemake(tmp_path, "results/tiny/pretrain/tiny_cnn/seed0/model.pt", "results/tiny_tad.csv",
                    "results/tiny_report.html", "-n", "-p", "--forceall")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = dry_run_jobs(res.stdout + res.stderr)
    assert {"pretrain", "tem_pseudo", "train", "tem", "proposals", "report_html"} <= {j["rule"] for j in jobs}
    check_label_free(jobs)
    check_checkpoints_are_inputs(jobs)  # the other jobs' too: train, features (the I3D weights), proposals
    # The check reads the inputs it claims to: the supervised jobs do list the annotation file, and the
    # fine-tuning its pretrained checkpoint.
    for job in (j for j in jobs if j["rule"] in ("train", "tem")):
        assert any(f.endswith("annotations/groundtruth.csv") for f in job["input"]), job["input"]
    assert "fine_tuned.pt" in next(j for j in jobs if j["rule"] == "train")["input"]


def test_a_pretraining_starts_from_another_pretraining_only(tmp_path):
    (tmp_path / "random_rgb.pt").write_bytes(b"")
    (tmp_path / "fine_tuned.pt").write_bytes(b"")
    chain = {"dataset": "tiny", "labels": "cnn", "init": "results/tiny/pretrain/tiny_cnn/seed0/model.pt"}
    write_config(tmp_path, label_free_config(tiny_chain=chain))
    res = snakemake(tmp_path, "results/tiny/pretrain/tiny_chain/seed0/model.pt", "-n", "-p", "--forceall")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = dry_run_jobs(res.stdout + res.stderr)
    job = next(j for j in jobs if j["rule"] == "pretrain" and "tiny_chain" in j["output"][0])
    assert chain["init"] in job["input"]  # replacing it reruns the chained pretraining
    check_label_free(jobs)
    # A file the workflow makes from annotations, or the pretraining's own model, is refused before any job.
    not_one, itself = "is not a pretraining's model.pt", "is a run of pretraining tiny_chain itself"
    for init, message in (("results/tiny/train/nemi/seed0/model.pt", not_one),
                          ("./results/tiny/tem/boundary.h5", not_one),
                          ("results/tiny/pretrain/tiny_cnn/seed0/epochs.csv", not_one),
                          ("results/tiny/pretrain/tiny_chain/seed1/model.pt", itself)):
        write_config(tmp_path, label_free_config(tiny_chain={**chain, "init": init}))
        res = snakemake(tmp_path, "results/tiny/pretrain/tiny_chain/seed0/model.pt", "-n")
        assert res.returncode != 0 and f"pretrainings.tiny_chain.init: {init} {message}" in res.stdout + res.stderr


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
