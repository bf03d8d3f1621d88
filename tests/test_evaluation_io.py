"""Bad input to the evaluation commands: each names the file, the line and the problem."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from nemi.errors import NemiInputError
from nemi.detect.cli import register as register_detect
from nemi.evaluation import evaluate_proposals, read_ground_truth, read_predictions
from nemi.evaluation.cli import register

GT = "video_id,t_start,t_end,label\nv1,1.0,5.0,A\nv1,10.0,12.0,B\nv2,0.0,3.0,A\nv2,4.0,6.0,Ambiguous\n"
PRED = "video_id,t_start,t_end,score,label,extra\nv1,1.0,5.0,0.9,A,q\nv1,10.0,12.5,0.8,B,q\nv2,0.5,3.0,0.7,A,q\n"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nemi")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    register_detect(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "gt.csv").write_text(GT)
    (tmp_path / "pred.csv").write_text(PRED)
    return tmp_path


def test_reads_and_drops_ambiguous(files):
    gt = read_ground_truth(files / "gt.csv")
    assert len(gt) == 3 and "Ambiguous" not in set(gt["label"])
    assert len(read_ground_truth(files / "gt.csv", keep_ambiguous=True)) == 4
    pred = read_predictions(files / "pred.csv", require_label=True)
    assert list(pred.columns) == ["video_id", "t_start", "t_end", "score", "label", "line"]


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_cli_writes_json_csv_and_table(files, kind, capsys):
    out = files / "out.json"
    rc = run(["evaluate", kind, "--gt", str(files / "gt.csv"), "--pred", str(files / "pred.csv"),
              "--protocol", "thumos14", "--json", str(out), "--csv", str(files / "out.csv")])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["protocol"] == "thumos14" and res["n_videos"] == 2
    if kind == "proposals":
        # tIoU 1, 0.8 and 0.833 with the three segments: all covered up to 0.8, one of three above,
        # at every AN (3 proposals, budget 1000 per video): AR = (7 + 4/3) / 11; the curve starts at AN 10.
        assert res["AR@AN"] == pytest.approx(dict.fromkeys(["50", "100", "200", "500", "1000"], 25 / 33), abs=1e-12)
        assert res["AUC"] == pytest.approx(25 / 33 * 0.99, abs=1e-12)
    else:  # every detection matches its class's segment at tIoU >= 0.8 > 0.7
        assert res["mAP"] == dict.fromkeys(["0.3", "0.4", "0.5", "0.6", "0.7"], 1.0)
        assert res["AP_per_class"] == {c: dict.fromkeys(res["mAP"], 1.0) for c in ("A", "B")}
    assert (files / "out.csv").read_text().startswith("protocol,subset,ambiguous_kept,n_videos,")
    assert "protocol thumos14" in capsys.readouterr().out


BAD_PRED = {
    "missing column": ("video_id,t_start,score,label\nv1,1.0,0.9,A\n", r"missing column\(s\) \['t_end'\]"),
    "reversed": ("video_id,t_start,t_end,score,label\nv1,5.0,2.0,0.9,A\n", r"line 2: reversed segment"),
    "reversed negative": ("video_id,t_start,t_end,score,label\nv1,-1.0,-2.0,0.9,A\n", r"line 2: reversed segment"),
    "nan start": ("video_id,t_start,t_end,score,label\nv1,1,2,0.5,A\nv1,nan,2.0,0.9,A\n",
                  r"line 3: t_start must be a finite number, got 'nan'"),
    "text end": ("video_id,t_start,t_end,score,label\nv1,1.0,end,0.9,A\n", r"line 2: t_end must be a finite number"),
    "nan score": ("video_id,t_start,t_end,score,label\nv1,1,2,0.5,A\nv1,1,2,0.5,A\nv1,1.0,2.0,nan,A\n",
                  r"line 4: score must be a finite number, got 'nan'"),
    "text score": ("video_id,t_start,t_end,score,label\nv1,1.0,2.0,high,A\n", r"line 2: score must be a finite number"),
    "empty score": ("video_id,t_start,t_end,score,label\nv1,1.0,2.0,,A\n", r"line 2: score must be a finite number"),
    "unknown label": ("video_id,t_start,t_end,score,label\nv1,1.0,2.0,0.5,A\nv1,1.0,2.0,0.9,Cat\n",
                      r"line 3: unknown label 'Cat'"),
    "empty file": ("", r"empty file"),
    "header only": ("video_id,t_start,t_end,score,label\n", r"no data rows"),
    "empty label": ("video_id,t_start,t_end,score,label\nv1,1.0,2.0,0.5,\n", r"line 2: label is empty"),
    "extra field": ("video_id,t_start,t_end,score,label\nv1,1.0,2.0,0.5,A\nv1,0,10,20,0.5,A\n",
                    r"Expected 5 fields in line 3, saw 6"),
}


@pytest.mark.parametrize(("kind", "case"), [("detections", c) for c in sorted(BAD_PRED)]
                         + [("proposals", c) for c in sorted(BAD_PRED) if "label" not in c])
def test_bad_predictions_name_file_line_and_problem(files, case, kind):
    text, pattern = BAD_PRED[case]
    bad = files / "bad.csv"
    bad.write_text(text)
    out = files / "out.json"
    with pytest.raises(NemiInputError, match=pattern) as err:
        run(["evaluate", kind, "--gt", str(files / "gt.csv"), "--pred", str(bad),
             "--protocol", "activitynet", "--json", str(out)])
    assert str(bad) in str(err.value)
    assert not out.exists() and not list(files.glob(".out.json.tmp-*"))


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_segments_outside_the_video_are_taken_as_given(tmp_path, kind, caplog):
    """As ActivityNet's and RTD-Net's code: [-1, 5] against [0, 5] has tIoU 5/6, [2, 7] against [2, 6] 4/5."""
    (tmp_path / "gt.csv").write_text("video_id,t_start,t_end,label,duration\nv1,0.0,5.0,A,6.0\nv2,2.0,6.0,A,6.0\n")
    (tmp_path / "pred.csv").write_text("video_id,t_start,t_end,score,label\nv1,-1.0,5.0,0.9,A\nv2,2.0,7.0,0.8,A\n")
    out = tmp_path / "out.json"
    with caplog.at_level("WARNING", logger="nemi.evaluation"):
        assert run(["evaluate", kind, "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv"),
                    "--protocol", "thumos14", "--json", str(out)]) == 0
    assert "1 segments start before 0 / 1 end after the video" in caplog.text
    res = json.loads(out.read_text())
    assert res["predictions_outside_video"] == {"start_before_0": 1, "end_after_video": 1}
    if kind == "proposals":  # both covered at tIoU 0.5 ... 0.8, neither above: 7 of 11 thresholds
        assert res["AR@AN"]["100"] == pytest.approx(7 / 11, abs=1e-12)
    else:  # thresholds 0.3 ... 0.7: both match
        assert res["average_mAP"] == 1.0
    # Unclipped: clipping [-1, 5] to the video would make it perfect at every threshold.
    res = evaluate_proposals(tmp_path / "gt.csv", tmp_path / "pred.csv", "thumos14-daps")
    assert res["recall_at_tiou"]["0.85"] == 0.0 and res["predictions_outside_video"]["start_before_0"] == 1


@pytest.mark.parametrize(("kind", "protocol", "flag", "kept"), [
    ("proposals", "thumos14-daps", None, True),  # RTD-Net's protocol counts Ambiguous as ground truth
    ("proposals", "thumos14-daps", "--drop-ambiguous", False),
    ("proposals", "thumos14", None, False),
    ("proposals", "thumos14", "--keep-ambiguous", True),
    ("detections", "thumos14-daps", None, False),  # Ambiguous is no class
    ("detections", "thumos14", "--keep-ambiguous", True),
])
def test_ambiguous_default_per_protocol_is_recorded(files, kind, protocol, flag, kept):
    out = files / "out.json"
    argv = ["evaluate", kind, "--gt", str(files / "gt.csv"), "--pred", str(files / "pred.csv"),
            "--protocol", protocol, "--json", str(out), "--csv", str(files / "out.csv")]
    assert run(argv + ([flag] if flag else [])) == 0
    res = json.loads(out.read_text())
    assert res["ambiguous_kept"] is kept and res["n_ambiguous"] == int(kept)
    assert res["n_ground_truth"] == 3 + kept
    row = (files / "out.csv").read_text().splitlines()
    assert row[0].split(",")[2] == "ambiguous_kept" and row[1].split(",")[2] == str(kept)


def test_detections_need_labels(files):
    (files / "nolabel.csv").write_text("video_id,t_start,t_end,score\nv1,1,2,0.5\n")
    with pytest.raises(NemiInputError, match="missing column.*label"):
        run(["evaluate", "detections", "--gt", str(files / "gt.csv"), "--pred", str(files / "nolabel.csv"),
             "--protocol", "thumos14", "--json", str(files / "o.json")])


@pytest.mark.parametrize("text, pattern", [
    ("video_id,t_start,t_end,label\nv1,4.0,2.0,A\n", "line 2: reversed segment"),
    ("video_id,t_start,t_end,label\nv1,1.0,2.0,A\nv1,-1.0,2.0,A\n", "line 3: negative t_start"),
    ("video_id,start,end\nv1,1,2\n", "missing column"),
    ("video_id,t_start,t_end,label\nv1,1.0,2.0,Ambiguous\n", "all rows were Ambiguous"),
])
def test_bad_ground_truth(tmp_path, text, pattern):
    p = tmp_path / "gt.csv"
    p.write_text(text)
    with pytest.raises(NemiInputError, match=pattern):
        read_ground_truth(p)


def test_missing_file_and_subset(files):
    with pytest.raises(NemiInputError, match="file not found"):
        read_predictions(files / "nope.csv")
    with pytest.raises(NemiInputError, match="neither a named subset"):
        run(["evaluate", "proposals", "--gt", str(files / "gt.csv"), "--pred", str(files / "pred.csv"),
             "--protocol", "thumos14", "--json", str(files / "o.json"), "--videos", "thumos14-999"])


def test_predictions_only_for_unknown_videos_is_an_error(files):
    (files / "far.csv").write_text("video_id,t_start,t_end,score\nzz,1,2,0.5\n")
    with pytest.raises(NemiInputError, match="no proposal is left for any ground-truth video"):
        run(["evaluate", "proposals", "--gt", str(files / "gt.csv"), "--pred", str(files / "far.csv"),
             "--protocol", "activitynet", "--json", str(files / "o.json")])
    with pytest.raises(NemiInputError, match="no ground-truth segment lies in a video that has predictions"):
        run(["evaluate", "proposals", "--gt", str(files / "gt.csv"), "--pred", str(files / "far.csv"),
             "--protocol", "thumos14-daps", "--json", str(files / "o.json")])


def test_help_exits_zero():
    for argv in (["evaluate", "--help"], ["evaluate", "proposals", "--help"], ["detect", "--help"],
                 ["classify", "--help"], ["annotations", "export", "--help"]):
        with pytest.raises(SystemExit) as exc:
            run(argv)
        assert exc.value.code == 0


@pytest.fixture(scope="module")
def thumos_both_splits(shared_dir, tmp_path_factory):
    """Thumos14's real ground truth of both splits in one CSV, as `nemi annotations prepare` writes it
    (validation videos `train`, test videos `test`), and the test split's segments as predictions."""
    from nemi.io.annotations import read_thumos14_txt

    d = tmp_path_factory.mktemp("thumos_splits")
    root = shared_dir / "data" / "thumos14"
    val = read_thumos14_txt(root / "annotations_val", "val").assign(split="train")
    test = read_thumos14_txt(root / "annotations_test", "test")
    pd.concat([val, test]).to_csv(d / "gt.csv", index=False)
    actions = test[test["label"] != "Ambiguous"].drop(columns="split").assign(score=1.0)
    actions.to_csv(d / "perfect.csv", index=False)
    return d, test


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_test_split_ground_truth_as_predictions_scores_exactly_100(thumos_both_splits, kind):
    """Today's code scored every row of a ground truth with a split column: the test split's exact
    ground truth given as predictions got AR 52.8 % (and mAP 52.5 %) against val + test."""
    d, test = thumos_both_splits
    out = d / f"{kind}.json"
    assert run(["evaluate", kind, "--gt", str(d / "gt.csv"), "--pred", str(d / "perfect.csv"),
                "--protocol", "thumos14", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    if kind == "proposals":
        assert res["AR@AN"] == dict.fromkeys(["50", "100", "200", "500", "1000"], 1.0)
        assert set(res["recall_at_tiou"].values()) == {1.0}
    else:
        assert res["mAP"] == dict.fromkeys(["0.3", "0.4", "0.5", "0.6", "0.7"], 1.0)
        assert res["average_mAP"] == 1.0
    # 213 test videos, one of which holds Ambiguous spans only.
    assert res["n_videos"] == test.loc[test["label"] != "Ambiguous", "video_id"].nunique() == 212
    assert res["split"] == "test"


def test_split_option_selects_names_and_refuses(thumos_both_splits, files):
    d, _ = thumos_both_splits
    argv = ["evaluate", "proposals", "--gt", str(d / "gt.csv"), "--pred", str(d / "perfect.csv"),
            "--protocol", "thumos14", "--json", str(d / "o.json")]
    assert run(argv + ["--split", "all"]) == 0  # every row, as before: the val segments are missed
    res = json.loads((d / "o.json").read_text())
    assert res["split"] == "all" and res["n_videos"] == 412 and res["AR@AN"]["100"] < 0.6
    with pytest.raises(NemiInputError, match=r"gt\.csv: no ground-truth row of split 'validation'; "
                                             r"its split column has 'test', 'train'"):
        run(argv + ["--split", "validation"])
    with pytest.raises(NemiInputError, match=r"gt\.csv: no split column, so split 'test' cannot be selected"):
        run(["evaluate", "detections", "--gt", str(files / "gt.csv"), "--pred", str(files / "pred.csv"),
             "--protocol", "thumos14", "--json", str(files / "o.json"), "--split", "test"])
    # Without a split column and without --split, every row is ground truth (the fixtures above).
    assert run(["evaluate", "detections", "--gt", str(files / "gt.csv"), "--pred", str(files / "pred.csv"),
                "--protocol", "thumos14", "--json", str(files / "o.json")]) == 0
    assert json.loads((files / "o.json").read_text())["split"] == "all"


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_ground_truth_not_covering_the_predictions_warns_with_counts(tmp_path, kind, caplog):
    (tmp_path / "gt.csv").write_text("video_id,t_start,t_end,label,split\nv1,0,5,A,test\nv2,0,5,A,test\n"
                                     "v3,0,5,A,train\n")
    (tmp_path / "pred.csv").write_text("video_id,t_start,t_end,score,label\nv1,0,5,0.9,A\nv3,0,5,0.8,A\n"
                                       "v3,1,5,0.7,A\nzz,0,5,0.6,A\n")
    with caplog.at_level("WARNING", logger="nemi.evaluation"):
        assert run(["evaluate", kind, "--gt", str(tmp_path / "gt.csv"), "--pred", str(tmp_path / "pred.csv"),
                    "--protocol", "thumos14", "--json", str(tmp_path / "o.json")]) == 0
    assert ("pred.csv: 2 of its 3 videos (3 rows) have no ground truth of split 'test' in "
            f"{tmp_path / 'gt.csv'} (1 in split 'train' of {tmp_path / 'gt.csv'})") in caplog.text
    assert "pred.csv: 1 of the 2 ground-truth videos of split 'test' have no prediction" in caplog.text
