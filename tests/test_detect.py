"""Detection from proposals: Soft-NMS, fusion with class scores, UntrimmedNet scores, the classifier."""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from nemi.params import build as build_params
from nemi.io.annotations import THUMOS14_CLASSES, THUMOS14_UCF101_IDS
from nemi.errors import NemiInputError
from nemi.evaluation import evaluate_detections, read_predictions
from nemi.detect.classifier import VideoClassifier, load_video_descriptors, multi_hot, train_video_classifier
from nemi.detect.cli import register
from nemi.detect.fusion import DetectParams, detections_from_proposals
from nemi.segments import soft_nms
from nemi.detect.unet import read_unet_scores

UNET = Path(__file__).resolve().parents[2] / "shared" / "data" / "thumos14" / "uNet_test.npy"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nemi")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_soft_nms_gaussian_decay():
    seg = np.array([[0.0, 10.0], [0.0, 5.0], [20.0, 30.0]])
    keep, score = soft_nms(seg, np.array([0.9, 0.8, 0.5]), sigma=0.5, max_keep=3)
    # [0,5] overlaps [0,10] with tIoU 0.5: 0.8 * exp(-0.25 / 0.5) = 0.485 < 0.5
    assert keep.tolist() == [0, 2, 1]
    np.testing.assert_allclose(score, [0.9, 0.5, 0.8 * np.exp(-0.5)])
    keep, score = soft_nms(seg, np.array([0.9, 0.8, 0.5]), sigma=0.0, max_keep=2)
    assert keep.tolist() == [0, 1] and score.tolist() == [0.9, 0.8]


def test_detections_fuse_top_k_and_cap():
    props = pd.DataFrame({"video_id": ["a", "a", "b"], "t_start": [0.0, 20.0, 1.0], "t_end": [5.0, 25.0, 2.0],
                          "score": [0.9, 0.6, 0.5]})
    cls = pd.DataFrame({"video_id": ["a", "a", "a", "b"], "label": ["x", "y", "z", "x"],
                        "score": [0.5, 1.0, 0.1, 0.2]})
    det = detections_from_proposals(
        props, cls, build_params(DetectParams, dict(top_k_classes=2, max_detections_per_video=3)))
    a = det[det["video_id"] == "a"]
    assert a["label"].tolist() == ["y", "y", "x"]  # 0.9, 0.6, 0.45 (0.3 cut by the cap)
    np.testing.assert_allclose(a["score"], [0.9, 0.6, 0.45])
    assert det[det["video_id"] == "b"]["score"].tolist() == [0.1]
    with pytest.raises(NemiInputError, match="no class scores"):
        detections_from_proposals(props, cls[cls["video_id"] == "a"], build_params(DetectParams))
    with pytest.raises(NemiInputError, match=r"unknown key\(s\) \['top_k'\]"):
        build_params(DetectParams, {"top_k": 3})


def test_unet_scores_columns_and_rows():
    table = read_unet_scores(UNET, THUMOS14_CLASSES, THUMOS14_UCF101_IDS)
    raw = np.load(UNET)
    assert len(table) == 1574 * 20
    row = table[table["video_id"] == "video_test_0000004"].set_index("label")["score"]
    assert row["CricketBowling"] == pytest.approx(raw[3, 23 - 1] / 2)
    assert table["score"].between(0, 1).all()


def _write_features(path: Path, videos: dict[str, np.ndarray], rng) -> None:
    with h5py.File(path, "w") as f:
        for vid, centre in videos.items():
            g = f.create_group(vid)
            t = int(rng.integers(3, 9))
            g["rgb"] = (centre[:1024] + 0.3 * rng.standard_normal((t, 1024))).astype(np.float32)
            g["flow"] = (centre[1024:] + 0.3 * rng.standard_normal((t, 1024))).astype(np.float32)


def _classifier_data(tmp_path: Path):
    rng = np.random.default_rng(0)
    protos = {c: rng.standard_normal(2048) for c in ("x", "y", "z")}
    train, test, gt_rows = {}, {}, []
    for i in range(24):
        present = [c for j, c in enumerate(protos) if (i >> j) & 1] or ["x"]
        train[f"tr{i}"] = sum(protos[c] for c in present)
        gt_rows += [(f"tr{i}", 1.0, 2.0, c) for c in present]
    for i, c in enumerate(protos):
        test[f"te{i}"] = protos[c]
    _write_features(tmp_path / "train.h5", train, rng)
    _write_features(tmp_path / "test.h5", test, rng)
    pd.DataFrame(gt_rows, columns=["video_id", "t_start", "t_end", "label"]).to_csv(tmp_path / "gt.csv", index=False)
    return tmp_path


def test_classifier_learns_and_is_deterministic(tmp_path):
    d = _classifier_data(tmp_path)
    ids, x = load_video_descriptors([d / "train.h5"])
    gt = pd.read_csv(d / "gt.csv")
    y = multi_hot(ids, gt, ["x", "y", "z"])
    assert x.shape == (24, 2048) and y.sum() == len(gt)
    m1 = train_video_classifier(x, y, ["x", "y", "z"], l2=1e-3)
    m2 = train_video_classifier(x, y, ["x", "y", "z"], l2=1e-3)
    np.testing.assert_array_equal(m1.weight, m2.weight)
    test_ids, xt = load_video_descriptors([d / "test.h5"])
    proba = m1.predict_proba(xt)
    assert proba.argmax(axis=1).tolist() == [0, 1, 2]
    m1.save(d / "m.npz")
    np.testing.assert_array_equal(VideoClassifier.load(d / "m.npz").predict_proba(xt), proba)


def test_bad_feature_shard(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_group("v1")["rgb"] = np.zeros((4, 1024), np.float32)
    with pytest.raises(NemiInputError, match="bad.h5: video 'v1' has no 'flow'"):
        load_video_descriptors([tmp_path / "bad.h5"])
    with h5py.File(tmp_path / "bad2.h5", "w") as f:
        g = f.create_group("v1")
        g["rgb"] = np.zeros((4, 512), np.float32)
        g["flow"] = np.zeros((4, 1024), np.float32)
    with pytest.raises(NemiInputError, match=r"v1/rgb has shape \(4, 512\)"):
        load_video_descriptors([tmp_path / "bad2.h5"])


def test_classify_detect_evaluate_chain(tmp_path):
    d = _classifier_data(tmp_path)
    assert _run(["classify", "--train-features", str(d / "train.h5"), "--train-gt", str(d / "gt.csv"),
                 "--features", str(d / "test.h5"), "--out", str(d / "scores.csv"),
                 "--model-out", str(d / "model.npz")]) == 0
    gt = pd.DataFrame({"video_id": ["te0", "te1", "te2"], "t_start": [1.0, 5.0, 2.0], "t_end": [4.0, 9.0, 6.0],
                       "label": ["x", "y", "z"]})
    gt.to_csv(d / "test_gt.csv", index=False)
    gt.assign(score=0.9).drop(columns="label").to_csv(d / "props.csv", index=False)
    assert _run(["detect", "--proposals", str(d / "props.csv"), "--class-scores", str(d / "scores.csv"),
                 "--params", '{"top_k_classes": 1}', "--out", str(d / "det.csv")]) == 0
    det = read_predictions(d / "det.csv", require_label=True)
    assert len(det) == 3
    assert evaluate_detections(d / "test_gt.csv", d / "det.csv", "thumos14")["average_mAP"] == 1.0
