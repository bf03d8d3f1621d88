"""The proposals stage: boxes to seconds through the window's time base, merging, suppression, the record."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

from nemi.model import ModelParams, build_model, save_model
from nemi.params import build
from nemi.proposals import ProposalParams
from nemi.io.tables import write_proposals
from nemi.proposals.run import merge_windows, proposals
from nemi.windows.dataset import build_windows, collate
from nemi.windows.grid import WindowParams
from tests.test_report import world  # noqa: F401 (a saved model, feature shards, boundary scores, a manifest)
from tests.train_data import TINY_MODEL, synthetic

WINDOWS = {"window_steps": 10, "train_stride": 5, "test_stride": 5, "step_frames": None}


def _params(**kw) -> ProposalParams:
    return build(ProposalParams, {"device": "cpu", **kw})


def test_merge_keeps_everything_by_default_and_suppresses_on_request():
    t = pd.DataFrame({"video_id": ["a"] * 4 + ["b"], "t_start": [0.0, 0.1, 5.0, 0.0, 1.0],
                      "t_end": [2.0, 2.1, 6.0, 2.0, 3.0], "score": [0.9, 0.8, 0.5, 0.1, 0.7]})
    none = merge_windows(t, _params(top_n=3))
    assert none["score"].tolist() == [0.9, 0.8, 0.5, 0.7]  # per video, best first, top 3 of a
    hard = merge_windows(t, _params(suppression="nms", nms_threshold=0.5))
    assert hard[hard.video_id == "a"]["score"].tolist() == [0.9, 0.5]
    soft = merge_windows(t, _params(suppression="soft_nms", soft_nms_sigma=0.5))
    a = soft[soft.video_id == "a"]
    assert len(a) == 4 and a["score"].iloc[0] == 0.9 and a["score"].max() == 0.9
    assert 0 < a["score"].iloc[-1] < 0.1 * 0.9  # the duplicate decayed


def test_proposals_map_boxes_to_seconds_and_record_provenance(tmp_path):
    torch.manual_seed(0)
    feats, bnd, _, _ = synthetic(n_videos=2, steps=23)
    mp = ModelParams.from_dict(TINY_MODEL)
    model = build_model(mp).eval()
    ckpt = tmp_path / "model.pt"
    save_model(ckpt, model, mp, windows=WINDOWS, train_record=json.dumps({"config_hash": "abc"}))
    table, info = proposals(ckpt, feats, bnd, ["v0", "v1"], _params(top_n=1000))
    ds = build_windows(feats, WindowParams(**WINDOWS), "test", boundary=bnd)
    assert info["n_windows"] == len(ds) and len(table) == len(ds) * mp.num_queries
    with torch.no_grad():
        b = collate([ds[0]])
        out = model(b["features"], b["boundary"], b["mask"])
    expect = ds.to_seconds(0, out["pred_boxes"][0])
    got = table[table.video_id == ds.records[0].video_id][["t_start", "t_end"]].to_numpy()
    assert all(np.isclose(got, row).all(axis=1).any() for row in expect)
    assert (table["t_end"] <= 23 * 0.8 + 1e-6).all() and (table["t_start"] >= 0).all()
    assert info["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert info["config_hash"] == "abc" and info["nemi_version"]
    write_proposals(tmp_path / "p.csv", table, info)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "video_id,t_start,t_end,score"
    assert (tmp_path / "p.videos.txt").read_text().split() == ["v0", "v1"]
    assert json.loads((tmp_path / "p.json").read_text())["n_proposals"] == len(table)


def test_a_checkpoint_of_another_window_is_refused(tmp_path):
    feats, bnd, _, _ = synthetic(n_videos=1)
    mp = ModelParams.from_dict(TINY_MODEL)
    save_model(tmp_path / "m.pt", build_model(mp), mp, windows={**WINDOWS, "window_steps": 12})
    with pytest.raises(ValueError, match="window_steps 12 but the model's position table has 10"):
        proposals(tmp_path / "m.pt", feats, bnd, ["v0"], _params())


def test_the_rtd_command_writes_the_functions_proposals(world, tmp_path):  # noqa: F811
    """`nemi proposals rtd`: a trained model's proposals for the manifest's test split, and their record."""
    from nemi.cli import main
    from nemi.io.boundary import read_start_end
    from nemi.io.features import read_video_features

    out = tmp_path / "rtd" / "seed0.csv"
    assert main(["proposals", "rtd", "--checkpoint", str(world / "model.pt"), "--features", str(world / "f.h5"),
                 "--boundary", str(world / "b.h5"), "--manifest", str(world / "videos.csv"), "--out", str(out),
                 "--params", json.dumps({"device": "cpu", "top_n": 20, "version": 1})]) == 0
    ids = ["v2", "v3", "v4"]
    want, _ = proposals(world / "model.pt", read_video_features([world / "f.h5"], ids),
                        read_start_end(world / "b.h5")[1], ids, _params(top_n=20))
    pd.testing.assert_frame_equal(pd.read_csv(out), want.reset_index(drop=True), check_dtype=False, atol=1e-5)
    assert json.loads((tmp_path / "rtd" / "seed0.json").read_text())["split"] == "test"
    assert (tmp_path / "rtd" / "seed0.videos.txt").read_text().split() == ids
