"""The train stage: resume to identical weights, refusals, bad input, held-out selection, records."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from nemi.errors import NemiConfigError, NemiInputError
from nemi.model import load_checkpoint, save_model
from nemi.train.data import TrainingVideos, training_videos
from nemi.fit.distributed import check_devices
from nemi.fit.params import FitParams, TrainParams
from nemi.train.run import train
from tests.train_data import TINY_MODEL, fit_params, synthetic

VIDEOS = TrainingVideos(["v0", "v1", "v2", "v3"], ["v4", "v5"], [])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _params(**kw) -> FitParams:
    return fit_params(**kw)


def _weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def test_killed_run_resumes_to_identical_weights(tmp_path):
    feats, bnd, ann, gt = synthetic()
    p = _params(select="last")  # stage 1 two epochs, stages 2 and 3 one each: the kill falls on a stage boundary
    train(feats, bnd, ann, VIDEOS, gt, p, tmp_path / "a")
    assert train(feats, bnd, ann, VIDEOS, gt, p, tmp_path / "b", stop_after_epochs=2) is None
    assert not (tmp_path / "b" / "model.pt").exists()
    at_kill = torch.load(next((tmp_path / "b" / "runs").iterdir()) / "checkpoint.pt", weights_only=True)
    assert (at_kill["stage"], at_kill["epoch"]) == (0, 2)
    train(feats, bnd, ann, VIDEOS, gt, p, tmp_path / "b")  # the same command again
    a, b = _weights(tmp_path / "a" / "model.pt"), _weights(tmp_path / "b" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Training went on after the kill, so the equality above is not vacuous.
    assert not all(torch.equal(a[k], at_kill["model"][k]) for k in a)
    rows_a = pd.read_csv(tmp_path / "a" / "epochs.csv")
    rows_b = pd.read_csv(tmp_path / "b" / "epochs.csv")
    assert len(rows_a) == 5 and np.allclose(rows_a["train_loss"], rows_b["train_loss"], equal_nan=True)
    assert rows_a["epoch"].tolist() == [0, 1, 2, 3, 4] and np.isnan(rows_a["train_loss"].iloc[0])


def test_records_selection_and_curves(tmp_path):
    feats, bnd, ann, gt = synthetic()
    train(feats, bnd, ann, VIDEOS, gt, _params(), tmp_path)
    rows = pd.read_csv(tmp_path / "epochs.csv")
    # Epoch 0 scores the weights before any step: where the held-out curve starts.
    assert list(rows["stage"]) == ["stage1", "stage1", "stage1", "stage2", "stage3"]
    assert rows["epoch"].tolist() == [0, 1, 2, 3, 4] and rows["val_AR@100"].notna().all()
    assert {"train_loss", "val_loss", "val_AR@100", "val_sum_ar", "lr"} <= set(rows.columns)
    assert rows["train_loss_iou"].notna().tolist() == [False, False, False, False, True]
    assert (tmp_path / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["select"] == "best" and record["holdout_videos"] == ["v4", "v5"]
    for name, sel in record["selection"].items():
        best = rows[(rows["stage"] == name) & (rows["epoch"] > 0)]["val_sum_ar"].max()  # epoch 0 is no candidate
        assert sel["checkpoint"] == "best" and sel["val_sum_ar"] == pytest.approx(best)
    model, mp = load_checkpoint(tmp_path / "model.pt")
    assert mp.proposal_score == "class_completeness" and mp.num_queries == 4  # stage 3's scoring
    ckpt = torch.load(next((tmp_path / "runs").iterdir()) / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "data_order", "epoch", "config"} <= set(ckpt)
    assert {"python", "numpy", "torch", "cuda"} == set(ckpt["rng"])


def test_stages_freeze_what_they_do_not_train(tmp_path):
    feats, bnd, ann, gt = synthetic()
    sched = {"rtd_three_stage": {"stage1": {"epochs": 1}, "stage2": {"epochs": 1}, "stage3": {"epochs": 1}}}
    p = _params(schedules=sched, select="last", holdout_share=0)
    train(feats, bnd, ann, VIDEOS, gt, p, tmp_path / "full")
    three = p.train.schedules["rtd_three_stage"]
    p1 = dataclasses.replace(p, train=p.train.replace(schedules={"x": {"s1": {**three["stage1"]},
                                                                       "s2": {**three["stage2"]}}}, schedule="x"))
    train(feats, bnd, ann, VIDEOS, gt, p1, tmp_path / "two")
    a, b = _weights(tmp_path / "full" / "model.pt"), _weights(tmp_path / "two" / "model.pt")
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and all(k.startswith(("iou_conv.", "iou_embed.")) for k in changed)  # stage 3 alone


def test_refuses_a_checkpoint_of_another_architecture(tmp_path):
    feats, bnd, ann, gt = synthetic()
    p = _params()
    train(feats, bnd, ann, VIDEOS, gt, p, tmp_path / "a", run_dir=tmp_path / "run", stop_after_epochs=1)
    with pytest.raises(NemiInputError, match=r"num_queries = 4 in the checkpoint, 6 in the config"):
        train(feats, bnd, ann, VIDEOS, gt, fit_params({**TINY_MODEL, "num_queries": 6}), tmp_path / "a",
              run_dir=tmp_path / "run")
    with pytest.raises(NemiInputError, match=r"train.seed = 0 in the checkpoint, 3 in the config"):
        train(feats, bnd, ann, VIDEOS, gt, _params(seed=3), tmp_path / "a", run_dir=tmp_path / "run")
    # A pretrained checkpoint of another architecture, named with the differences.
    from nemi.model import ModelParams, build_model

    other = ModelParams.from_dict({**TINY_MODEL, "hidden_dim": 8})
    save_model(tmp_path / "other.pt", build_model(other), other)
    with pytest.raises(NemiInputError, match=r"other\.pt.*hidden_dim = 8 in the checkpoint, 16 in the config"):
        train(feats, bnd, ann, VIDEOS, gt, _params(pretrained=str(tmp_path / "other.pt")), tmp_path / "b")


def test_nan_features_name_the_video(tmp_path):
    feats, bnd, ann, gt = synthetic()
    f = feats["v2"][0].copy()
    f[3, 1] = np.inf
    feats["v2"] = (f, *feats["v2"][1:])
    with pytest.raises(NemiInputError, match="video v2: features hold NaN or Inf"):
        train(feats, bnd, ann, VIDEOS, gt, _params(), tmp_path)


def test_short_video_is_padded_and_trains(tmp_path):
    feats, bnd, ann, gt = synthetic(steps=30)
    short, sb, sa, sgt = synthetic(n_videos=1, steps=6, seed=3)  # 6 steps < a window of 10
    feats["v9"], bnd["v9"], ann["v9"] = short["v0"], sb["v0"], sa["v0"]
    gt = pd.concat([gt, sgt.assign(video_id="v9")])
    videos = TrainingVideos(["v9"], ["v4"], [])
    train(feats, bnd, ann, videos, gt, _params(holdout_share=0.5), tmp_path)
    record = json.loads((tmp_path / "run.json").read_text())
    trained = pd.read_csv(tmp_path / "epochs.csv").query("epoch > 0")
    assert record["n_train_windows"] == 1 and trained["train_loss"].notna().all()


def test_unannotated_training_video_is_left_out_and_counted(caplog):
    _, _, ann, _ = synthetic()
    splits = {f"v{i}": "train" for i in range(6)} | {"v6": "train", "t0": "test"}
    vids = training_videos(splits, ann, share=0.2, seed=0)
    assert vids.unannotated == ["v6"] and "t0" not in vids.train + vids.holdout
    assert len(vids.holdout) == 1 and len(vids.train) == 5
    assert "1 training video(s) have no annotation" in caplog.text
    with pytest.raises(NemiInputError, match="none of the 1 videos of split 'train' has an annotation"):
        training_videos({"v6": "train"}, ann, share=0.1, seed=0)


def test_annotation_outside_the_video_is_left_out_with_a_warning(tmp_path, caplog):
    feats, bnd, ann, gt = synthetic()
    segs = np.vstack([ann["v1"][0], [[100.0, 110.0]]])  # the video lasts 24 s
    ann["v1"] = (segs, np.zeros(2, np.int64))
    train(feats, bnd, ann, VIDEOS, gt, _params(select="last"), tmp_path)
    assert "video v1: 1 of 2 segments start after the video's end" in caplog.text


def test_more_gpus_than_there_are_is_refused_before_any_work():
    with pytest.raises(NemiConfigError, match=r"train.gpus is 64 but this machine has \d+ CUDA GPU"):
        check_devices(_params(gpus=64).train)


def test_partial_schedules_merge_into_the_schema_defaults():
    p = TrainParams.from_dict({"schedules": {"one_stage": {"main": {"epochs": 2}}}, "schedule": "one_stage"})
    (st,) = p.stages()
    assert (st.epochs, st.lr, st.lr_step_epochs, st.trainable) == (2, 1e-4, 30, "all")
    three = TrainParams.from_dict({}).stages()
    assert [(s.epochs, s.lr, s.lr_step_epochs, s.trainable) for s in three] == [
        (50, 1e-4, 30, "all_but_completeness"), (10, 1e-5, 5, "class_head"), (20, 1e-4, None, "completeness_head")]
    assert three[1].model == {"relaxed_matching": True}
    with pytest.raises(NemiConfigError, match="no schedule 'nope'"):
        TrainParams.from_dict({"schedule": "nope"})
    with pytest.raises(NemiConfigError, match="may not change the architecture"):
        p.stages()[0].__class__(**{**vars(st), "model": {"num_queries": 3}}).model_params({})


def test_learning_curve_every_epoch_by_default_or_at_most_every_curve_every_s(tmp_path):
    feats, bnd, ann, gt = synthetic()
    for name, every in (("each", 0), ("rare", 1e9)):
        train(feats, bnd, ann, VIDEOS, gt, _params(curve_every_s=every), tmp_path / name,
              stop_after_epochs=1)  # one epoch of stage 1's two: no stage has ended yet
        run = next((tmp_path / name / "runs").iterdir())
        assert (run / "learning_curve.png").exists() == (every == 0) and (run / "epochs.csv").exists()


def test_fewer_training_windows_than_the_batch_warns_with_the_count(tmp_path, caplog):
    feats, bnd, ann, gt = synthetic(steps=30)
    videos = TrainingVideos(["v0"], ["v4"], [])  # one 30-step video, windows of 10: a handful of windows
    train(feats, bnd, ann, videos, gt, _params(batch_size=64, holdout_share=0.5), tmp_path / "few")
    n = json.loads((tmp_path / "few" / "run.json").read_text())["n_train_windows"]
    assert 0 < n < 64
    assert f"only {n} training window(s), fewer than train.batch_size 64" in caplog.text
    caplog.clear()
    train(feats, bnd, ann, videos, gt, _params(batch_size=1, holdout_share=0.5), tmp_path / "many")
    assert "fewer than train.batch_size" not in caplog.text
