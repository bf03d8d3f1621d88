"""``nemi tem``: the boundary prior of every video in one boundary-score file, for tem, change and none."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from nemi.cli import main
from nemi.io.boundary import read_boundary
from nemi.io.curves import ChangeCurve, write_curves
from nemi.io.features import FeatureShardWriter
from nemi.io.timebase import Timebase

TB = Timebase.native(10.0, 8, 8)


@pytest.fixture()
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    rows, gt = ["video_id,path,split"], ["video_id,t_start,t_end,label"]
    with FeatureShardWriter(tmp_path / "f.h5", {"source": "extracted"}) as w:
        for i, split in enumerate(["train", "train", "train", "test"]):
            vid, n = f"v{i}", 40 + 5 * i
            rgb = rng.normal(size=(n, 1024)).astype(np.float32)
            w.add_video(vid, rgb, rgb[:, ::-1].copy(), TB, {"frame_count": n * 8})
            rows.append(f"{vid},{vid}.mp4,{split}")
            gt.append(f"{vid},{2 + i},{9 + i},act")
    (tmp_path / "videos.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "gt.csv").write_text("\n".join(gt) + "\n")
    return tmp_path


def _run(d, *extra) -> int:
    return main(["tem", "--features", str(d / "f.h5"), "--manifest", str(d / "videos.csv"),
                 "--ground-truth", str(d / "gt.csv"), "--window-steps", "20", "--stride", "10",
                 "--out", str(d / "b.h5"), *extra])


def test_tem_fits_on_training_labels_and_scores_every_video(dataset):
    params = json.dumps({"hidden_dim": 8, "epochs": 2, "batch_size": 4, "version": 1})
    assert _run(dataset, "--params", params) == 0
    root, scores = read_boundary(dataset / "b.h5")
    assert root["kind"] == "tem" and sorted(scores) == ["v0", "v1", "v2", "v3"]  # the test video is scored too
    assert len(scores["v3"].start) == 55 and scores["v3"].timebase == TB
    assert json.loads(root["params_json"])["hidden_dim"] == 8
    for s in scores.values():
        assert ((s.start > 0) & (s.start < 1)).all() and not np.allclose(s.start, s.start[0])
    first = {v: s.start.copy() for v, s in scores.items()}
    assert _run(dataset, "--params", params) == 0  # seeded: the same scores again
    assert all(np.array_equal(first[v], s.start) for v, s in read_boundary(dataset / "b.h5")[1].items())
    with h5py.File(dataset / "b.h5") as h5:  # what a user opens
        assert h5["v0/end"].shape == (40,)


def test_none_and_change_priors(dataset):
    assert _run(dataset, "--kind", "none") == 0
    root, scores = read_boundary(dataset / "b.h5")
    assert root["kind"] == "none" and all((s.start_end() == 1).all() for s in scores.values())
    curves = {f"v{i}": ChangeCurve(np.linspace(0, 1, 39 + 5 * i).astype(np.float32),
                                   np.arange(39 + 5 * i) * 0.8 + 0.8, 40 + 5 * i, 0.8, (40 + 5 * i) * 0.8)
              for i in range(4)}
    write_curves(dataset / "c.h5", "cnn", curves, {})
    assert _run(dataset, "--kind", "change", "--curves", str(dataset / "c.h5")) == 0
    root, scores = read_boundary(dataset / "b.h5")
    assert root["kind"] == "change" and scores["v0"].start.min() == 0 and scores["v0"].start.max() == 1
    assert _run(dataset, "--kind", "change") == 2  # no curves: an error, not ones


def test_no_annotated_training_video_is_an_error(dataset, capsys):
    (dataset / "gt.csv").write_text("video_id,t_start,t_end,label\nv3,1,2,act\n")
    assert _run(dataset) == 2
    assert "no video of split(s) ['train'] with segments" in capsys.readouterr().err


def test_tem_fits_on_pseudo_labels_of_the_given_splits(dataset):
    """NEMI pretraining's prior: pseudo activities instead of annotations; the same activities give the same TEM."""
    gt = pd.read_csv(dataset / "gt.csv")
    doc = {"schema_version": 1, "dataset": "d", "kind": "hog",
           "params": {"rule": "tau", "max_activity_frames": 300, "min_activity_frames": 2},
           "source": {"stage": "labels", "nemi_version": "0", "git_sha": "x", "created_utc": "now", "inputs": []},
           "videos": {r.video_id: {"duration_s": 60.0, "n_steps": 1800, "step_s": 1 / 30,
                                   "activities": [[r.t_start, r.t_end]]} for r in gt.itertuples()}}
    (dataset / "p.json").write_text(json.dumps(doc))
    params = json.dumps({"hidden_dim": 8, "epochs": 2, "batch_size": 4, "version": 1})
    assert _run(dataset, "--params", params) == 0
    by_gt = {v: s.start.copy() for v, s in read_boundary(dataset / "b.h5")[1].items()}
    args = ["tem", "--features", str(dataset / "f.h5"), "--manifest", str(dataset / "videos.csv"),
            "--pseudo-labels", str(dataset / "p.json"), "--window-steps", "20", "--stride", "10",
            "--out", str(dataset / "p.h5"), "--params", params]
    assert main(args) == 0
    by_pseudo = read_boundary(dataset / "p.h5")[1]
    assert all(np.array_equal(by_gt[v], s.start) for v, s in by_pseudo.items())
    assert main([*args, "--splits", "train", "test"]) == 0  # the transductive choice fits on the test video too
    assert not all(np.array_equal(by_gt[v], s.start) for v, s in read_boundary(dataset / "p.h5")[1].items())
    assert main([*args, "--ground-truth", str(dataset / "gt.csv")]) == 2  # one kind of segment, not both
