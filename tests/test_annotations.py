"""Readers for the real annotation files in shared/data: published counts, subsets, round trips."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nemi.io.annotations as A
from nemi.evaluation.proposals import snap_to_frames
from nemi.evaluation import evaluate_detections, evaluate_proposals, read_ground_truth
from nemi.evaluation.cli import register

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TH = DATA / "thumos14"
AN = DATA / "activitynet13"


@pytest.fixture(autouse=True)
def _real_files_present():
    # The published counts are the point of these tests: missing data is a failure, not a skip.
    if not TH.is_dir():
        pytest.fail(f"{TH} is missing: these tests read the real annotation files from ../shared")


def actions(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["label"] != "Ambiguous"]


@pytest.fixture(scope="module")
def test_txt() -> pd.DataFrame:
    return A.read_thumos14_txt(TH / "annotations_test", "test")


def test_thumos14_official_counts(test_txt):
    assert test_txt["video_id"].nunique() == 213
    assert len(actions(test_txt)) == 3358 and (test_txt["label"] == "Ambiguous").sum() == 99
    assert set(actions(test_txt)["label"]) == set(A.THUMOS14_CLASSES)
    val = A.read_thumos14_txt(TH / "annotations_val", "val")
    assert val["video_id"].nunique() == 200
    assert len(actions(val)) == 3007 and (val["label"] == "Ambiguous").sum() == 89


def _key(df: pd.DataFrame) -> list[tuple]:
    return sorted(zip(df["video_id"], df["t_start"].round(3), df["t_end"].round(3), df["label"]))


def test_all_thumos14_test_formats_hold_the_same_instances(test_txt):
    csv = A.read_thumos14_groundtruth_csv(TH / "thumos14_test_groundtruth.csv")
    ann = A.read_thumos14_annotation_csv(TH / "test_Annotation.csv")
    rtd = A.read_rtd_thumos14_json(TH / "thumos14_anno_action.json")
    assert _key(csv) == _key(test_txt) == _key(ann) == _key(rtd[rtd["split"] == "test"])
    assert csv["fps"].notna().all() and set(csv["split"]) == {"test"}
    gtad = A.read_gtad_thumos_gt(TH / "thumos_gt.json")
    test = gtad[gtad["split"] == "test"]
    assert test["video_id"].nunique() == 210 and len(test) == 3311
    subset_210 = set(A.thumos14_test_subset("210", test_txt["video_id"]))
    assert set(test["video_id"]) == subset_210
    assert _key(test) == _key(actions(test_txt[test_txt["video_id"].isin(subset_210)]))


def test_named_subsets(test_txt):
    all_ids = set(test_txt["video_id"])
    s213, s212, s210 = (set(A.thumos14_test_subset(n, all_ids)) for n in ("213", "thumos14-212", "210"))
    assert (len(s213), len(s212), len(s210)) == (213, 212, 210)
    assert s213 - s212 == {"video_test_0001292"}
    assert s212 - s210 == {"video_test_0000270", "video_test_0001496"}
    # 1292 holds only Ambiguous spans: dropping Ambiguous leaves the 212 set
    assert set(actions(test_txt)["video_id"]) == s212


def test_video_info_fills_fps():
    info = A.read_thumos14_video_info(TH / "TH14_video_info.json")
    rtd = A.attach_video_info(A.read_rtd_thumos14_json(TH / "thumos14_anno_action.json"), info)
    fps = rtd.drop_duplicates("video_id").set_index("video_id")["fps"]
    assert fps.notna().sum() == 412  # TH14_video_info.json lacks video_test_0001292
    # SOURCES.md: 381 videos at 30 fps, 18 at 29.97, 11 at 25, 2 at 24 (412 with info)
    counts = fps.dropna().round(2).value_counts().to_dict()
    assert counts == {30.0: 381, 29.97: 18, 25.0: 11, 24.0: 2}


def test_activitynet_bsn_files():
    table = A.read_bsn_anno_action(AN / "anet_anno_action.json", AN / "video_info_new.csv")
    # 19,228 videos in the file; the 4,851 "testing" ones carry no annotations
    assert len(A.read_bsn_video_info(AN / "video_info_new.csv")) == 19228
    assert table["video_id"].nunique() == 9649 + 4728 and len(table) == 22152
    assert table["label"].nunique() == 200
    assert table.groupby("split")["video_id"].nunique().to_dict() == {"training": 9649, "validation": 4728}
    val = A.read_bsn_val_groundtruth(AN / "anet_val_groundtruth_label.csv")
    assert val["video_id"].nunique() == 4728 and len(val) == 7293
    assert set(val["video_id"]) == set(table.loc[table["split"] == "validation", "video_id"])


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nemi")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("protocol", ["thumos14", "thumos14-daps", "activitynet"])
def test_perfect_predictions_on_real_thumos14_score_one(tmp_path, protocol):
    out = tmp_path / "gt.csv"
    assert _run(["annotations", "export", "--format", "thumos14-txt", "--path", str(TH / "annotations_test"),
                 "--split", "test", "--video-info", str(TH / "TH14_video_info.json"), "--out", str(out)]) == 0
    gt = read_ground_truth(out)
    assert gt["video_id"].nunique() == 212 and len(gt) == 3358
    pred = gt.assign(score=np.linspace(1.0, 0.5, len(gt)))
    if protocol == "thumos14-daps":  # DAPs compares whole ground-truth frames: perfect = on frames
        pred = snap_to_frames(pred)
    res = evaluate_proposals(gt, pred, protocol)
    assert res["curve"]["AR"][-1] == 1.0
    if protocol != "thumos14-daps":
        assert res["AR@AN"][str(max(map(int, res["AR@AN"])))] == 1.0
    det = evaluate_detections(gt, pred, protocol)
    assert det["average_mAP"] == 1.0 and det["n_videos"] == 212
    assert evaluate_detections(gt, pred, protocol, videos=A.thumos14_test_subset("210", gt["video_id"]))[
        "n_videos"] == 210


def test_perfect_predictions_on_real_activitynet_val_score_one():
    table = A.read_bsn_anno_action(AN / "anet_anno_action.json", AN / "video_info_new.csv")
    gt = table[table["split"] == "validation"].reset_index(drop=True)
    pred = gt.assign(score=1.0)
    res = evaluate_detections(gt, pred, "activitynet")
    # zero-length ground truth (t_end == t_start) can never be matched: mAP just below 1
    n_zero = int((gt["t_end"] == gt["t_start"]).sum())
    assert n_zero > 0 and 0.99 < res["average_mAP"] < 1.0
    ok = gt[gt["t_end"] > gt["t_start"]]
    assert evaluate_detections(ok, ok.assign(score=1.0), "activitynet")["average_mAP"] == 1.0


def test_daps_protocol_keeps_the_99_ambiguous_segments_by_default(tmp_path):
    """RTD-Net's thumos14_test_groundtruth.csv counts them, so its AR (and the paper's) includes them."""
    out = tmp_path / "gt.csv"
    assert _run(["annotations", "export", "--format", "thumos14-txt", "--path", str(TH / "annotations_test"),
                 "--split", "test", "--video-info", str(TH / "TH14_video_info.json"), "--out", str(out)]) == 0
    gt = read_ground_truth(out, keep_ambiguous=True)
    # One proposal per segment, Ambiguous included, in all 213 videos; on whole frames as DAPs compares them
    # (video_test_0001292 has no fps in TH14_video_info.json: the protocol's default 30).
    pred = snap_to_frames(gt.assign(score=1.0, fps=gt["fps"].fillna(30.0)))
    daps = evaluate_proposals(out, pred, "thumos14-daps")
    assert daps["ambiguous_kept"] and daps["n_ground_truth"] == 3358 + 99 and daps["n_ambiguous"] == 99
    assert daps["n_videos"] == 213 and daps["curve"]["AR"][-1] == 1.0
    dropped = evaluate_proposals(out, pred, "thumos14-daps", keep_ambiguous=False)
    assert not dropped["ambiguous_kept"] and dropped["n_ground_truth"] == 3358 and dropped["n_videos"] == 212
    anet = evaluate_proposals(out, pred, "thumos14")
    assert not anet["ambiguous_kept"] and anet["n_ground_truth"] == 3358
    # Proposals on only the actions: recall at tIoU 1 misses exactly the Ambiguous segments under the DAPs default.
    actions_only = pred[pred["label"] != "Ambiguous"]
    recall = evaluate_proposals(out, actions_only, "thumos14-daps")["recall_at_tiou"]["1.0"]
    only_ambiguous = gt[gt["video_id"] == "video_test_0001292"]
    assert set(only_ambiguous["label"]) == {"Ambiguous"}  # so it has no proposals, and DAPs leaves it out
    assert recall == pytest.approx(3358 / (3358 + 99 - len(only_ambiguous)), abs=1e-12)


def test_daps_default_matches_rtd_nets_own_evaluation(tmp_path):
    """Golden AR from RTD-Net's thumos14_eval.py (tests/golden/make_rtd_daps_golden.py) on the same proposals."""
    import importlib.util
    import json

    golden_dir = Path(__file__).resolve().parent / "golden"
    spec = importlib.util.spec_from_file_location("make_rtd_daps_golden", golden_dir / "make_rtd_daps_golden.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    golden = json.loads((golden_dir / "rtd_daps_ar.json").read_text())
    rtd_gt = pd.read_csv(TH / "thumos14_test_groundtruth.csv")
    props = maker.make_proposals(rtd_gt)
    assert len(props) == golden["n_proposals"]
    fps = props["video-name"].map(rtd_gt.groupby("video-name")["frame-rate"].first())
    pred = pd.DataFrame({"video_id": props["video-name"], "t_start": props["f-init"] / fps,
                         "t_end": props["f-end"] / fps, "score": props["score"]})
    out = tmp_path / "gt.csv"
    assert _run(["annotations", "export", "--format", "thumos14-groundtruth-csv", "--path",
                 str(TH / "thumos14_test_groundtruth.csv"), "--out", str(out)]) == 0
    ours = evaluate_proposals(out, pred, "thumos14-daps")
    dropped = evaluate_proposals(out, pred, "thumos14-daps", keep_ambiguous=False)
    for an, ar in golden["AR@AN"].items():
        assert ours["AR@AN"][an] == pytest.approx(ar, abs=1e-9)
        assert abs(dropped["AR@AN"][an] - ar) > 1e-3  # dropping Ambiguous is not RTD-Net's number


def test_export_subset_and_split(tmp_path):
    out = tmp_path / "gt210.csv"
    assert _run(["annotations", "export", "--format", "thumos14-groundtruth-csv", "--path",
                 str(TH / "thumos14_test_groundtruth.csv"), "--videos", "thumos14-210", "--out", str(out)]) == 0
    assert read_ground_truth(out)["video_id"].nunique() == 210
    out2 = tmp_path / "val.csv"
    assert _run(["annotations", "export", "--format", "rtd-thumos14-json", "--path",
                 str(TH / "thumos14_anno_action.json"), "--split", "val", "--out", str(out2)]) == 0
    assert read_ground_truth(out2, keep_ambiguous=True)["video_id"].nunique() == 200



def test_daps_ground_truth_frames_are_rounded_seconds_as_in_rtds_csv():
    """thumos14-daps rounds t * fps to whole frames: exactly the f-init / f-end of RTD-Net's ground truth."""
    raw = pd.read_csv(TH / "thumos14_test_groundtruth.csv")
    fps = raw["frame-rate"].astype(float)
    assert (np.round(raw["t-init"] * fps) == raw["f-init"]).all()
    assert (np.round(raw["t-end"] * fps) == raw["f-end"]).all()
    assert (raw["t-init"] * fps != raw["f-init"]).sum() > 500  # unrounded frames would differ on many rows
