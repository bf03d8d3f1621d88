"""Rescaled windows (RTD-Net's ActivityNet setting): BSN's poolData, targets in units of the video's span,
one window per video, and train / pretrain / proposals honouring it end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from nemi.fit.params import FitParams
from nemi.io.pseudo_labels import write_pseudo_labels
from nemi.io.timebase import Timebase
from nemi.model import load_checkpoint
from nemi.pretrain.data import read_activities
from nemi.pretrain.params import PretrainFitParams
from nemi.pretrain.run import pretrain
from nemi.proposals import ProposalParams
from nemi.params import build
from nemi.proposals.run import proposals
from nemi.segments import cw_to_se, se_to_cw
from nemi.train.data import TrainingVideos
from nemi.train.run import train
from nemi.windows.dataset import build_windows, collate
from nemi.windows.grid import WindowParams
from nemi.windows.prior import minmax_per_window
from nemi.windows.steps import resample_steps
from tests.train_data import TINY_MODEL, TINY_TRAIN

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "windows_rescale" / "golden.json"
ANET = WindowParams(window_steps=100, train_stride=25, test_stride=50, step_frames=5, rescale_steps=100)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _linear_video(n_rows: int, fps: float = 10.0):
    """Rows at 0.5, 1.5, ... s (one per second at fps 10), column 0 the row index, column 1 its square."""
    feats = np.stack([np.arange(n_rows), np.arange(n_rows) ** 2], axis=1).astype(np.float32)
    return feats, Timebase(fps, 10, 10), n_rows * 10 / fps


def test_rows_are_bsn_pool_data_by_hand():
    # 4 rows centred at 0.5, 1.5, 2.5, 3.5 s, 5 steps of 0.8 s; each step: mean of the interpolation at
    # its start, middle and end, kept within [0.5, 3.5]. Step 0 samples 0.5, 0.65, 0.8 s = rows 0, .15, .3.
    ds = build_windows({"v": _linear_video(4)}, WindowParams(5, 5, 5, None, rescale_steps=5), "test")
    col0 = [(0 + .15 + .3) / 3, (.3 + .7 + 1.1) / 3, (1.1 + 1.5 + 1.9) / 3, (1.9 + 2.3 + 2.7) / 3,
            (2.7 + 2.85 + 3.0) / 3]
    sq = lambda x: np.interp(x, [0, 1, 2, 3], [0, 1, 4, 9])  # noqa: E731 - the squares, linear in between
    col1 = [np.mean(sq(np.array(p))) for p in ([0, .15, .3], [.3, .7, 1.1], [1.1, 1.5, 1.9], [1.9, 2.3, 2.7],
                                                [2.7, 2.85, 3.0])]
    np.testing.assert_allclose(ds[0]["features"][:, 0], col0, atol=1e-6)
    np.testing.assert_allclose(ds[0]["features"][:, 1], [0.15, 2.3 / 3, 2.5, 16.7 / 3, 8.25], atol=1e-5)
    np.testing.assert_allclose(ds[0]["features"][:, 1], col1, atol=1e-5)
    assert ds.videos["v"].grid.step_s == pytest.approx(0.8)


def test_steps_outside_the_centres_are_zeros_and_one_snippet_repeats():
    # 2 rows (centres 0.5 and 1.5 s) over 10 steps of 0.2 s: steps 0-1 end before 0.5 s, 8-9 start after 1.5 s.
    feats = _linear_video(2)[0] + 1.0
    out = build_windows({"v": (feats, Timebase(10.0, 10, 10), 2.0)}, WindowParams(10, 10, 10, None, 10), "test")[0]
    zero = np.flatnonzero(~out["features"].any(axis=1))
    assert zero.tolist() == [0, 1, 8, 9] and out["mask"].all()
    one = np.array([[3.0, 4.0]], np.float32)
    np.testing.assert_array_equal(resample_steps(one, Timebase(10.0, 10, 10), Timebase.rescaled(1.0, 7), 7),
                                  np.repeat(one, 7, axis=0))


def test_equals_bsn_pool_data():
    """tests/golden/windows_rescale/make_golden.py ran BSN's own poolData on these videos."""
    golden = json.loads(GOLDEN.read_text())
    feats = {}
    for g in golden["videos"]:
        f = np.random.default_rng(g["seed"]).normal(size=(g["snippets"], 400)).astype(np.float32)
        # The features stop a few frames short of the video: BSN's corrected_second is their span.
        feats[g["video_id"]] = (f, Timebase.native(g["fps"], 16, 16), g["frames"] / g["fps"])
    ds = build_windows(feats, ANET, "test")
    assert len(ds) == len(golden["videos"])
    worst = 0.0
    for g in golden["videos"]:
        got = ds.videos[g["video_id"]].features[:, :golden["keep"]]
        # BSN keeps its samples 1e-4 s inside the first and last centre (for scipy's interp1d): a
        # step at either end moves by 1e-4 s of a slope of about one standard normal per 0.6 s snippet.
        worst = max(worst, float(np.abs(got - np.asarray(g["pooled"])).max()))
        span = g["snippets"] * 16 / g["fps"]
        assert ds.videos[g["video_id"]].grid.cell_to_time(100) == pytest.approx(span)
    assert worst < 1e-3  # 3.1e-4 at most here
    short = ds.videos["short"].features  # 37 snippets: BSN's zero rows at both ends
    assert not short[0].any() and not short[-1].any() and short[50].any()


def test_targets_in_units_of_the_span_and_boxes_back_to_seconds():
    f = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    tb = Timebase(10.0, 10, 10)  # 50 rows, 1 s each: the features span 50 s
    segs = np.array([[5.0, 15.0], [40.0, 60.0], [49.0, 50.0]])
    for duration, expect in [(50.0, [[0.1, 0.3], [0.8, 1.0], [0.98, 1.0]]), (52.0, [[0.1, 0.3], [0.8, 1.0],
                                                                                     [0.98, 1.0]])]:
        ds = build_windows({"v": (f, tb, duration)}, ANET, "train", annotations={"v": (segs, np.arange(3))})
        w = ds[0]
        np.testing.assert_allclose(cw_to_se(w["boxes"].astype(np.float64)), expect, atol=1e-6)
        assert w["labels"].tolist() == [0, 1, 2]
        # The model's boxes map back by the span: (centre, length) in units of 50 s.
        np.testing.assert_allclose(ds.to_seconds(0, se_to_cw(np.array([[0.1, 0.3], [0.25, 0.5]]))),
                                   [[5.0, 15.0], [12.5, 25.0]])
        back = ds.to_seconds(0, w["boxes"])
        np.testing.assert_allclose(back, np.minimum(segs, 50.0), atol=1e-4)
    # A segment starting where the features stop (50 s of a 60 s video) is no target.
    ds = build_windows({"v": (f, tb, 60.0)}, ANET, "train", annotations={"v": (np.array([[50.0, 55.0]]), [0])})
    assert len(ds) == 0


def test_one_window_per_video_whatever_its_length():
    rng = np.random.default_rng(1)
    tb = Timebase.native(30.0, 16, 16)
    lengths = {"short": 3, "mid": 100, "long": 2000}  # snippets: 1.6 s, 53 s, 18 min
    feats = {v: (rng.normal(size=(n, 8)).astype(np.float32), tb, n * 16 / 30.0) for v, n in lengths.items()}
    ann = {v: (np.array([[0.2 * d, 0.7 * d]]), [0]) for v, (_, _, d) in feats.items()}
    bnd = {v: (rng.uniform(size=(n, 2)).astype(np.float32), tb) for v, n in lengths.items()}
    for split in ("train", "test"):
        ds = build_windows(feats, ANET, split, annotations=ann, boundary=bnd)
        assert [(r.video_id, r.start, r.n_valid) for r in ds.records] == [(v, 0, 100) for v in sorted(lengths)]
        b = collate([ds[i] for i in range(len(ds))])
        assert b["features"].shape == (3, 100, 8) and b["mask"].all()
        for t in b["targets"]:
            np.testing.assert_allclose(cw_to_se(t["boxes"].double().numpy()), [[0.2, 0.7]], atol=1e-6)
    # Boundary scores resampled the same way as the features, then min-max over the window.
    for i, v in enumerate(sorted(lengths)):
        raw = resample_steps(bnd[v][0], tb, ds.videos[v].grid, 100)
        np.testing.assert_allclose(ds.videos[v].boundary, raw)
        np.testing.assert_allclose(ds[i]["boundary"], minmax_per_window(raw))
    # step_frames and the strides have no say.
    other = build_windows(feats, WindowParams(100, 7, 13, None, 100), "test", boundary=bnd)
    assert all(np.array_equal(other[i]["features"], ds[i]["features"]) for i in range(3))


def test_params_schema_and_the_activitynet_config():
    assert FitParams.from_dict({}).windows().rescale_steps is None
    assert FitParams.from_dict({"train": {"rescale_steps": 100}}).windows() == ANET
    cfg = yaml.safe_load((ROOT / "workflow" / "configs" / "activitynet13.yaml").read_text())
    anet = cfg["datasets"]["anet"]
    assert FitParams.from_dict({"model": anet["model"], "train": anet["train"]}).windows().rescale_steps == 100
    with pytest.raises(ValueError, match="rescale_steps must be >= 1"):
        WindowParams(10, 5, 5, None, 0)


def _videos(seed: int = 0):
    """Videos of 12, 30 and 75 rows of 0.8 s, one action each (visible in the features)."""
    rng = np.random.default_rng(seed)
    tb = Timebase.native(10.0, 8, 8)
    feats, bnd, ann, rows = {}, {}, {}, []
    for i, n in enumerate([12, 30, 75, 20, 45]):
        vid, d = f"v{i}", n * 0.8
        s, e = 0.2 * d, 0.6 * d
        f = rng.normal(size=(n, 16)).astype(np.float32)
        f[int(s / 0.8):int(e / 0.8)] += 1.0
        feats[vid], bnd[vid] = (f, tb, d), (rng.uniform(size=(n, 2)).astype(np.float32), tb)
        ann[vid] = (np.array([[s, e]]), np.zeros(1, np.int64))
        rows.append((vid, s, e, "act"))
    return feats, bnd, ann, pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label"])


RESCALED = {**TINY_TRAIN, "rescale_steps": 10, "step_frames": 5}


def test_train_and_proposals_end_to_end(tmp_path):
    feats, bnd, ann, gt = _videos()
    p = FitParams.from_dict({"model": TINY_MODEL, "train": {**RESCALED, "select": "last"}})
    train(feats, bnd, ann, TrainingVideos(["v0", "v1", "v2"], ["v3", "v4"], []), gt, p, tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["n_train_windows"] == 3 and run["n_holdout_windows"] == 2  # one window per video
    extras = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    assert extras["windows"]["rescale_steps"] == 10

    table, info = proposals(tmp_path / "model.pt", feats, bnd, sorted(feats), build(ProposalParams, {"device": "cpu"}))
    assert info["windows"]["rescale_steps"] == 10 and info["n_windows"] == 5
    ds = build_windows(feats, p.windows(), "test", boundary=bnd)
    model, _ = load_checkpoint(tmp_path / "model.pt")
    with torch.no_grad():
        b = collate([ds[i] for i in range(len(ds))])
        out = model.eval()(b["features"], b["boundary"], b["mask"])
    for i, r in enumerate(ds.records):
        d = feats[r.video_id][2]
        expect = np.clip(cw_to_se(out["pred_boxes"][i].double().numpy()), 0, 1) * d  # units of the video's length
        got = table[table.video_id == r.video_id][["t_start", "t_end"]].to_numpy()
        assert len(got) == TINY_MODEL["num_queries"]
        assert all(np.isclose(got, row, atol=1e-5).all(axis=1).any() for row in expect)
        assert got.max() <= d + 1e-6


def test_pretraining_honours_it(tmp_path):
    feats, bnd, _, _ = _videos()
    doc = {"schema_version": 1, "dataset": "d", "kind": "hog",
           "params": {"rule": "tau", "max_activity_frames": 300, "min_activity_frames": 2},
           "source": {"stage": "labels", "nemi_version": "0", "git_sha": "x", "created_utc": "now", "inputs": []},
           "videos": {v: {"duration_s": d, "n_steps": len(f), "step_s": 0.8,
                          "activities": [[0.1 * d, 0.3 * d], [0.5 * d, 0.8 * d]]} for v, (f, _, d) in feats.items()}}
    write_pseudo_labels(tmp_path / "hog.json", doc)
    acts, table = read_activities(tmp_path / "hog.json", "d")
    section = {"train": {"schedule": "nemi_pretrain", "schedules": {"nemi_pretrain": {"main": {"epochs": 1}}}},
               "crop_min_fraction": 0.5, "crop_max_fraction": 1.0}
    params = PretrainFitParams.from_dict({"model": TINY_MODEL, "train": {**RESCALED, "holdout_share": 0.2},
                                          "pretrain": section})
    pretrain(feats, bnd, acts, table, sorted(feats), params, tmp_path / "pre")
    run = json.loads((tmp_path / "pre" / "run.json").read_text())
    assert run["n_train_windows"] == 4 and run["n_holdout_windows"] == 1
    assert torch.load(tmp_path / "pre" / "model.pt", weights_only=True)["windows"]["rescale_steps"] == 10


def test_rescaled_timebase():
    g = Timebase.rescaled(50.0, 100)  # steps of 0.5 s
    np.testing.assert_allclose(g.cell_to_time(np.array([0.0, 1.0, 100.0])), [0.0, 0.5, 50.0])
    np.testing.assert_allclose(g.time_to_cell(np.array([0.25, 49.0])), [0.5, 98.0])
    assert g.index_to_time(0) == 0.25 and g.step_s == 0.5
    with pytest.raises(ValueError, match="duration_s > 0"):
        Timebase.rescaled(0.0, 100)
