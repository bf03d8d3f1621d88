"""NEMI pretraining: pseudo activities as targets, re-assembled windows, fine-tuning from it, bad input."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from nemi.cli import main
from nemi.errors import NemiConfigError, NemiInputError
from nemi.fit.loop import seed_everything
from nemi.io.manifest import read_splits
from nemi.io.pseudo_labels import write_pseudo_labels
from nemi.io.provenance import sha256_file
from nemi.model import ModelParams, build_model, load_checkpoint, save_model
from nemi.model.checkpoint import load_matching
from nemi.pretrain.data import PretrainWindows, collate_pretrain, pretraining_videos, read_activities
from nemi.fit.params import FitParams
from nemi.params import build
from nemi.pretrain.params import PretrainFitParams, PretrainParams
from nemi.pretrain.run import pretrain
from nemi.train.data import TrainingVideos
from nemi.train.run import train
from nemi.windows.dataset import build_windows
from nemi.windows.grid import WindowParams
from tests.train_data import TB, TINY_MODEL, TINY_TRAIN, synthetic

EPOCHS = {"schedule": "nemi_pretrain", "schedules": {"nemi_pretrain": {"main": {"epochs": 2}}}}
# Windows of a whole video (30 steps of 0.8 s), so that each holds three or four activities.
MODEL = {**TINY_MODEL, "window_steps": 30}
TRAIN = {**TINY_TRAIN, "train_stride": 10, "test_stride": 10}
ACTIVITY_QUERIES = {"model": {"query_strategy": "activity_query"}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _doc(activities: dict[str, list[list[float]]], dataset: str = "d") -> dict:
    return {"schema_version": 1, "dataset": dataset, "kind": "hog",
            "params": {"rule": "tau", "max_activity_frames": 300, "min_activity_frames": 2},
            "source": {"stage": "labels", "nemi_version": "0", "git_sha": "x", "created_utc": "now", "inputs": []},
            "videos": {v: {"duration_s": 24.0, "n_steps": 240, "step_s": 0.1, "activities": a}
                       for v, a in activities.items()}}


def _activities(n_videos: int = 6) -> dict[str, list[list[float]]]:
    """Three or four pseudo activities per video (2.4 s to 4 s long) on the 0.8 s grid of train_data.TB."""
    rng = np.random.default_rng(1)
    out = {}
    for i in range(n_videos):
        starts = np.sort(rng.choice(np.arange(0, 20, 4.8), size=3 + i % 2, replace=False))
        out[f"v{i}"] = [[float(s), float(s) + 2.4 + 0.8 * (j % 3)] for j, s in enumerate(starts)]
    return out


def _pretrain_params(train: dict | None = None, model_section: dict | None = None, **kw) -> PretrainFitParams:
    """A pretraining on ``train`` (default TRAIN with nothing held out) and ``model_section`` (default MODEL),
    its pretrain section's keys ``kw`` (``model``: the pretraining's overrides of the model section)."""
    return PretrainFitParams.from_dict({
        "model": MODEL if model_section is None else model_section,
        "train": {**TRAIN, "holdout_share": 0.0} if train is None else train,
        "pretrain": {"train": EPOCHS, "crop_min_fraction": 0.5, "crop_max_fraction": 1.0, **kw}})


def _fine_tuning(**train) -> FitParams:
    return FitParams.from_dict({"model": MODEL, "train": {**TRAIN, "holdout_share": 0.0, **train}})


def test_pretraining_then_fine_tuning_from_it(tmp_path):
    feats, bnd, ann, gt = synthetic()
    write_pseudo_labels(tmp_path / "hog.json", _doc(_activities()))
    acts, table = read_activities(tmp_path / "hog.json", "d")
    assert list(table.columns) == ["video_id", "t_start", "t_end", "label"] and set(table["label"]) == {"activity"}
    p = _pretrain_params({**TRAIN, "holdout_share": 0.2}, **ACTIVITY_QUERIES)
    pretrain(feats, bnd, acts, table, sorted(feats), p, tmp_path / "pre")
    record = json.loads((tmp_path / "pre" / "run.json").read_text())
    assert record["config"]["model"]["query_strategy"] == "activity_query"
    assert record["config"]["model"]["classification"] == "bce" and "contrastive" in record["config"]["model"]["losses"]
    rows = pd.read_csv(tmp_path / "pre" / "epochs.csv")
    trained = rows[rows["epoch"] > 0]  # epoch 0: held-out scores before any step
    assert len(rows) == 3 and (trained["train_loss_con"] > 0).all() and rows["val_AR@100"].notna().all()
    pre_model, pre_mp = load_checkpoint(tmp_path / "pre" / "model.pt")
    assert pre_mp.query_strategy == "activity_query" and hasattr(pre_model, "activity_query_proj")
    # The paper's four terms and nothing else: the completeness head leaves pretraining as it was drawn.
    assert record["objective"] == {"main": {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0, "loss_con": 1.0}}
    assert record["config"]["pretrain"]["extra_losses"] == [] and "train_loss_iou" not in rows
    seed_everything(0)
    drawn = build_model(p.model).state_dict()
    head = [k for k in drawn if k.startswith(("iou_conv.", "iou_embed."))]
    assert head and all(torch.equal(pre_model.state_dict()[k], drawn[k]) for k in head)
    assert not torch.equal(pre_model.state_dict()["class_embed.weight"], drawn["class_embed.weight"])

    # Fine-tuning starts from every weight of matching name and shape; the query layer stays behind.
    videos = TrainingVideos(sorted(feats), [], [])
    train(feats, bnd, ann, videos, gt, _fine_tuning(), tmp_path / "ft", init=tmp_path / "pre" / "model.pt",
          stop_after_epochs=0)
    ckpt = torch.load(next((tmp_path / "ft" / "runs").iterdir()) / "checkpoint.pt", weights_only=True) \
        if any((tmp_path / "ft" / "runs").glob("*/checkpoint.pt")) else None
    assert ckpt is None  # stopped before the first epoch: nothing written
    model = build_model(ModelParams.from_dict(MODEL))
    loaded = load_matching(model, tmp_path / "pre" / "model.pt")
    assert "activity_query_proj.weight" in loaded["not_loaded_from_checkpoint"] and not loaded["not_in_checkpoint"]
    state = pre_model.state_dict()
    assert all(torch.equal(model.state_dict()[k], state[k]) for k in loaded["loaded"])
    train(feats, bnd, ann, videos, gt, _fine_tuning(), tmp_path / "ft", init=tmp_path / "pre" / "model.pt")
    run = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert run["initialised"]["n_loaded"] == len(loaded["loaded"]) and run["config"]["init"].endswith("model.pt")

    # A retrained pretraining at the same path is another run: the finished one is not resumed (it was, when
    # only the path named the run, and its stale weights went downstream).
    assert run["config"]["init_sha256"] == sha256_file(tmp_path / "pre" / "model.pt")
    other = build_model(pre_mp)
    save_model(tmp_path / "pre" / "model.pt", other, pre_mp)
    train(feats, bnd, ann, videos, gt, _fine_tuning(), tmp_path / "ft", init=tmp_path / "pre" / "model.pt")
    again = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert again["config_hash"] != run["config_hash"] and len(list((tmp_path / "ft" / "runs").iterdir())) == 2


def test_windows_are_reassembled_anew_each_epoch_and_reproducibly():
    feats, bnd, _, _ = synthetic()
    acts = {v: (np.asarray(a), np.zeros(len(a), np.int64)) for v, a in _activities().items()}
    base = build_windows(feats, WindowParams(30, 10, 10, None), "train", annotations=acts, boundary=bnd)
    ds = PretrainWindows(base, _pretrain_params().pretrain, ModelParams.from_dict({**MODEL, "num_queries": 8}))
    first = [ds[i] for i in range(len(ds))]
    again = [ds[i] for i in range(len(ds))]
    assert all(np.array_equal(a["features"], b["features"]) and np.array_equal(a["boxes"], b["boxes"])
               for a, b in zip(first, again))
    paired = [w for w in first if w["pair"][0] >= 0]
    assert paired, "windows with two or more activities get a positive pair"
    for w in paired:
        b, bp = w["boxes"][w["pair"]]
        assert bp[1] <= b[1] + 1e-6  # the crop b' is no longer than (what is left of) b
    ds.set_epoch(1)
    later = [ds[i] for i in range(len(ds))]
    assert any(not np.array_equal(a["boxes"], b["boxes"]) for a, b in zip(first, later)), "drawn anew per epoch"
    batch = collate_pretrain(first[:3])
    assert all("pair" in t for t in batch["targets"]) and "model_inputs" not in batch


def test_single_activity_window_trains_without_the_contrastive_term():
    feats, bnd, _, _ = synthetic(n_videos=2)
    acts = {v: (np.array([[2.0, 5.0]]), np.zeros(1, np.int64)) for v in feats}
    base = build_windows(feats, WindowParams(10, 5, 5, None), "train", annotations=acts, boundary=bnd)
    p = _pretrain_params(TINY_TRAIN, TINY_MODEL, **ACTIVITY_QUERIES)
    ds = PretrainWindows(base, p.pretrain, p.model)
    items = [ds[i] for i in range(len(ds))]
    assert items and all(tuple(w["pair"]) == (-1, -1) for w in items)
    batch = collate_pretrain(items)
    mp = p.model
    from nemi.model import build

    model, criterion, _ = build(mp)
    out = model(batch["features"], batch["boundary"], batch["mask"], **batch["model_inputs"])
    losses = criterion(out, batch["targets"])
    assert float(losses["con_skipped"]) == len(items) and float(losses["loss_con"].detach()) == 0.0


def test_bad_pseudo_labels(tmp_path):
    doc = _doc(_activities(2))
    doc["videos"]["v0"]["activities"] = [[3.0, 1.0]]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(NemiInputError, match=r"bad\.json.*v0"):
        read_activities(tmp_path / "bad.json", "d")
    del doc["videos"]["v0"]["step_s"]
    (tmp_path / "schema.json").write_text(json.dumps(doc))
    with pytest.raises(NemiInputError, match=r"schema\.json: not a valid pseudo-label file"):
        read_activities(tmp_path / "schema.json", "d")
    write_pseudo_labels(tmp_path / "other.json", _doc(_activities(2), dataset="demo2"))
    with pytest.raises(NemiInputError, match=r"other\.json: pseudo labels of dataset 'demo2'.*dataset 'demo'"):
        read_activities(tmp_path / "other.json", "demo")


def test_videos_without_activity_are_left_out_and_test_split_needs_transductive(tmp_path, caplog):
    (tmp_path / "m.csv").write_text("video_id,path,split\nv0,a,train\nv1,b,train\nv2,c,test\n")
    splits = read_splits(tmp_path / "m.csv")
    acts = {"v0": (np.array([[1.0, 2.0]]), np.zeros(1, np.int64)), "v1": (np.zeros((0, 2)), np.zeros(0, np.int64)),
            "v2": (np.array([[1.0, 2.0]]), np.zeros(1, np.int64))}
    assert pretraining_videos(splits, acts, build(PretrainParams, {}), ["v0", "v1", "v2"]) == ["v0"]
    assert "1 video(s) have no pseudo activity" in caplog.text
    with pytest.raises(Exception, match="transductive"):
        build(PretrainParams, {"splits": ["train", "test"]})
    both = build(PretrainParams, {"splits": ["train", "test"], "transductive": True})
    assert pretraining_videos(splits, acts, both, ["v0", "v1", "v2"]) == ["v0", "v2"]
    with pytest.raises(NemiInputError, match="none of the pseudo labels' 1 videos is in the manifest"):
        pretraining_videos(splits, {"x9": acts["v0"]}, both, ["v0"])


def test_the_pretraining_command_takes_no_annotation_table(tmp_path, capsys):
    """The data source has no way in for human labels: no flag, and a ground-truth CSV is no pseudo-label file."""
    (tmp_path / "gt.csv").write_text("video_id,t_start,t_end,label\nv0,1,2,act\n")
    with pytest.raises(SystemExit):
        main(["pretrain", "--features", "f.h5", "--boundary", "b.h5", "--pseudo-labels", "p.json", "--manifest",
              "m.csv", "--dataset", "d", "--out-dir", str(tmp_path), "--ground-truth", str(tmp_path / "gt.csv")])
    assert "unrecognized arguments: --ground-truth" in capsys.readouterr().err
    with pytest.raises(NemiInputError, match=r"gt\.csv"):
        read_activities(tmp_path / "gt.csv", "d")
    assert TB.fps == 10.0


@pytest.fixture(scope="module")
def starts(tmp_path_factory):
    """A tiny pretraining, a fine-tuning of it and the data both read: the checkpoints a start may name."""
    torch.set_num_threads(1)  # module-scoped: the function-scoped fixture does not reach here
    root = tmp_path_factory.mktemp("starts")
    feats, bnd, ann, gt = synthetic()
    write_pseudo_labels(root / "hog.json", _doc(_activities()))
    acts, table = read_activities(root / "hog.json", "d")
    data = (feats, bnd, acts, table, sorted(feats))
    pretrain(*data, _pretrain_params(), root / "pre")
    ft_params = _fine_tuning(schedules={"rtd_three_stage": {
        "stage1": {"epochs": 1}, "stage2": {"epochs": 1}, "stage3": {"epochs": 1}}})
    train(feats, bnd, ann, TrainingVideos(sorted(feats), [], []), gt, ft_params, root / "ft",
          init=root / "pre" / "model.pt")
    return root, data, (ann, gt, ft_params)


def test_a_pretraining_starts_only_from_a_label_free_pretraining(starts, tmp_path):
    root, data, _ = starts
    train_section = {**TRAIN, "holdout_share": 0.0}
    model = build_model(ModelParams.from_dict(MODEL))
    rtd_action = tmp_path / "checkpoint_best_sum_ar.pth"
    torch.save({"model": model.state_dict(), "epoch": 1, "args": argparse.Namespace(lr=1e-4)}, rtd_action)
    save_model(tmp_path / "best_main.pt", model, ModelParams.from_dict(MODEL))  # what fit writes per stage
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    # A pretraining made (before this guard) while train.pretrained named a checkpoint.
    record = json.loads(torch.load(root / "pre" / "model.pt", weights_only=True)["train_record"])
    save_model(tmp_path / "tainted.pt", model, ModelParams.from_dict(MODEL),
               train_record=json.dumps({**record, "initialised": {"pretrained": "ft/model.pt"}}))
    refused = {root / "ft" / "model.pt": r"a fine-tuned nemi model file \(nemi train, on annotations\)",
               rtd_action: "an RTD-Action checkpoint",
               tmp_path / "best_main.pt": "a nemi model file without a training record",
               tmp_path / "bare.pt": "a state dict without a record",
               tmp_path / "tainted.pt": r"a NEMI pretraining's model file started from ft/model.pt \(train.pretrained",
               next((root / "ft" / "runs").iterdir()) / "checkpoint.pt": "a fine-tuned nemi resume checkpoint"}
    for path, kind in refused.items():
        with pytest.raises(NemiInputError, match=rf"pretrain.init: {re.escape(str(path))} is {kind}.*starts only "
                                                 "from random weights or another NEMI pretraining"):
            pretrain(*data, _pretrain_params(train_section, init=str(path)), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any work
    # train.pretrained (fine-tuning's) never starts a pretraining, whichever section names it.
    with pytest.raises(NemiConfigError, match=r"train.pretrained \(x.pt\) is a fine-tuning setting"):
        _pretrain_params({**train_section, "pretrained": "x.pt"})
    with pytest.raises(NemiConfigError, match=r"pretrain.train.pretrained \(x.pt\)"):
        PretrainFitParams.from_dict({"model": MODEL, "train": train_section,
                                     "pretrain": {"train": {**EPOCHS, "pretrained": "x.pt"}}})
    # Another pretraining is a start: every weight of it is carried over, and the record says so.
    pretrain(*data, _pretrain_params(train_section, init=str(root / "pre" / "model.pt")), tmp_path / "chain")
    run = json.loads((tmp_path / "chain" / "run.json").read_text())
    assert run["initialised"]["init"] == str(root / "pre" / "model.pt") and not run["initialised"]["not_in_checkpoint"]
    assert run["init_kind"] == "a NEMI pretraining's model file" and run["config"]["pretrain"]["init"]
    assert "pretrained" not in run["initialised"]


def test_fine_tuning_from_both_starts_records_both(starts, tmp_path):
    """train.pretrained (a whole checkpoint) and --init (a pretraining's matching weights, over it)."""
    root, (feats, bnd, *_), (ann, gt, ft_params) = starts
    videos = TrainingVideos(sorted(feats), [], [])
    both = dataclasses.replace(ft_params, train=ft_params.train.replace(pretrained=str(root / "ft" / "model.pt")))
    train(feats, bnd, ann, videos, gt, both, tmp_path, init=root / "pre" / "model.pt")
    started = json.loads((tmp_path / "run.json").read_text())["initialised"]
    assert started["pretrained"] == str(root / "ft" / "model.pt") and started["init"] == str(root / "pre" / "model.pt")
    assert started["n_loaded"] > 0
