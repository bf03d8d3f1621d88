"""Dataset adapters (Thumos14, ActivityNet-1.3) from the real files into the tables the demo uses, clear
errors before any job (missing videos, features, overlapping splits, a file of the wrong format), and a
dataset of published features that plans CNN pseudo labels, TEM, training and evaluation with no video."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from nemi import datasets as ds
from nemi.errors import NemiConfigError, NemiInputError
from nemi.io import annotations as A
from nemi.io.annotations.adapters import activitynet_tables, thumos14_tables
from nemi.io.manifest import read_manifest
from nemi.io.tables import read_ground_truth
from tests.conftest import REPO, SHARED
from tests.test_workflow import planned_jobs, snakemake, write_config

TH = SHARED / "data" / "thumos14"
AN = SHARED / "data" / "activitynet13"
TH_INFO = [TH / "TH14_video_info.json", TH / "thumos14_test_groundtruth.csv"]


@pytest.fixture(scope="module")
def thumos(shared_dir):
    return thumos14_tables(TH, TH_INFO)


def test_thumos14_validation_videos_train_and_the_213_test_videos_are_evaluated(thumos):
    m, gt = thumos.manifest, thumos.ground_truth
    assert m["split"].value_counts().to_dict() == {"test": 213, "train": 200}
    assert set(m.loc[m["split"] == "train", "subset"]) == {"val"}
    # The true frame rates: 30 for 381 (+ video_test_0001292 from RTD-Net's CSV), 29.97, 25, 24 for the others.
    assert m["fps"].round(2).value_counts().to_dict() == {30.0: 382, 29.97: 18, 25.0: 11, 24.0: 2}
    assert (gt["label"] != "Ambiguous").sum() == 3358 + 3007 and (gt["label"] == "Ambiguous").sum() == 99 + 89
    assert set(gt["label"]) - {"Ambiguous"} == set(A.THUMOS14_CLASSES)
    fps = m.set_index("video_id")["fps"]
    assert np.allclose(gt["fps"], gt["video_id"].map(fps)), "the ground truth carries each video's true fps"
    assert fps["video_validation_0000051"] != 30.0 or (fps != 30.0).sum() == 31


def test_thumos14_from_rtd_nets_json_gives_the_same_tables_with_the_true_fps(thumos):
    rtd = thumos14_tables(TH / "thumos14_anno_action.json", TH_INFO)
    cols = ["video_id", "t_start", "t_end", "label", "split", "fps"]
    a = thumos.ground_truth[cols].sort_values(cols[:4]).reset_index(drop=True)
    b = rtd.ground_truth[cols].sort_values(cols[:4]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (rtd.manifest["fps"] != 30.0).sum() == 31, "RTD-Net's JSON says 30 for all; the tables do not"


def test_tables_are_what_the_demo_reads_and_drop_ambiguous(tmp_path, thumos):
    from nemi.io.tables import write_csv

    write_csv(tmp_path / "videos.csv", thumos.manifest)
    write_csv(tmp_path / "gt.csv", thumos.ground_truth)
    assert len(read_manifest(tmp_path / "videos.csv")) == 413
    gt = read_ground_truth(tmp_path / "gt.csv")
    assert "Ambiguous" not in set(gt["label"]) and len(gt) == 6365
    assert gt["video_id"].nunique() == 412, "video_test_0001292 holds only Ambiguous spans"


@pytest.mark.parametrize("subset, n", [("thumos14-213", 213), ("thumos14-212", 212), ("thumos14-210", 210)])
def test_named_subsets_count_test_videos_only(thumos, subset, n):
    assert len(A.thumos14_test_subset(subset, thumos.manifest["video_id"])) == n


def test_thumos14_without_an_fps_source_for_a_video_names_it():
    with pytest.raises(NemiInputError, match="video_test_0001292"):
        thumos14_tables(TH, [TH / "TH14_video_info.json"])


def test_activitynet_bsn_files_training_and_validation(shared_dir):
    t = activitynet_tables(AN / "anet_anno_action.json", AN / "video_info_new.csv")
    assert t.manifest["split"].value_counts().to_dict() == {"train": 9649, "test": 4728}
    assert set(t.manifest.loc[t.manifest["split"] == "test", "subset"]) == {"validation"}
    assert len(t.ground_truth) == 22152 and t.ground_truth["label"].nunique() == 200
    assert t.manifest["fps"].notna().all() and t.manifest["frame_count"].notna().all()


def _official(path, bsn_ids):
    """A few of BSN's videos written in the official activity_net.v1-3.min.json format."""
    bsn = json.loads((AN / "anet_anno_action.json").read_text())
    info = pd.read_csv(AN / "video_info_new.csv").set_index("video")
    db = {v[2:]: {"subset": info.loc[v, "subset"], "duration": bsn[v]["duration_second"], "resolution": "",
                  "url": "", "annotations": [{"segment": a["segment"], "label": a["label"]}
                                             for a in bsn[v]["annotations"]]} for v in bsn_ids}
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": db}, indent=2))


def test_the_official_activitynet_format_reads_as_bsns(tmp_path, shared_dir):
    info = pd.read_csv(AN / "video_info_new.csv")
    first = {s: list(info.loc[info["subset"] == s, "video"]) for s in ("training", "validation", "testing")}
    ids = first["training"][:3] + first["validation"][:2] + first["testing"][:1]
    _official(tmp_path / "activity_net.v1-3.min.json", ids)
    off = activitynet_tables(tmp_path / "activity_net.v1-3.min.json", AN / "video_info_new.csv")
    bsn = activitynet_tables(AN / "anet_anno_action.json", AN / "video_info_new.csv")
    assert list(off.manifest["video_id"]) == sorted(ids[:5]), "testing videos are left out"
    want = bsn.ground_truth[bsn.ground_truth["video_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(off.ground_truth.drop(columns="duration"), want.drop(columns="duration"))


def test_the_cli_writes_both_tables(tmp_path, shared_dir):
    from nemi.io.annotations.cli import main

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "video_test_0000004.mkv").touch()
    assert main(["thumos14", "--annotations", str(TH), "--video-info", *map(str, TH_INFO),
                 "--video-dir", str(videos), "--out-dir", str(tmp_path / "out")]) == 0
    m = read_manifest(tmp_path / "out" / "videos.csv").set_index("video_id")
    assert m.loc["video_test_0000004", "path"] == str(videos / "video_test_0000004.mkv")
    assert m.loc["video_test_0000006", "path"] == str(videos / "video_test_0000006.mp4")
    assert len(read_ground_truth(tmp_path / "out" / "groundtruth.csv", keep_ambiguous=True)) == 6553
    assert main(["activitynet13", "--annotations", str(TH / "thumos14_anno_action.json"),
                 "--out-dir", str(tmp_path / "x")]) == 2
    from nemi.cli import main as nemi_main  # the same, as the project's command: nemi annotations prepare

    assert nemi_main(["annotations", "prepare", "thumos14", "--annotations", str(TH), "--video-info",
                      *map(str, TH_INFO), "--out-dir", str(tmp_path / "cmd")]) == 0
    assert (tmp_path / "cmd" / "groundtruth.csv").read_bytes() == (tmp_path / "out" / "groundtruth.csv").read_bytes()


# --- annotation files of the wrong format: the message names the file and the line ---

def test_a_thumos14_json_given_as_activitynet_names_file_and_line():
    with pytest.raises(NemiInputError, match=r"thumos14_anno_action\.json: line 1: no 'database'"):
        A.read_activitynet_json(TH / "thumos14_anno_action.json")
    # BSN's reader given G-TAD's file: the first entry that does not fit, with its line
    with pytest.raises(NemiInputError, match=r"thumos_gt\.json: line \d+: .*not a BSN anet_anno_action\.json"):
        A.read_bsn_anno_action(TH / "thumos_gt.json")


def test_a_damaged_entry_is_reported_at_its_line(tmp_path):
    data = json.loads((TH / "thumos14_anno_action.json").read_text())
    vid = sorted(data)[5]
    del data[vid]["annotations"][0]["segment"]
    p = tmp_path / "anno.json"
    text = json.dumps(data, indent=1)
    p.write_text(text)
    line = text[:text.index(f'"{vid}"')].count("\n") + 1
    with pytest.raises(NemiInputError, match=rf"anno\.json: line {line}: video '{vid}': an annotation lacks segment"):
        thumos14_tables(p, TH_INFO)
    p.write_text(text[:200])
    with pytest.raises(NemiInputError, match=r"anno\.json: line \d+: not valid JSON"):
        A.read_rtd_thumos14_json(p)


def test_wrong_text_and_csv_formats_name_file_and_line(tmp_path):
    d = tmp_path / "ann"
    d.mkdir()
    (d / "Diving_val.txt").write_text("video_validation_0000051 1.0 2.0\nvideo_validation_0000051,1.0,2.0\n")
    with pytest.raises(NemiInputError, match=r"Diving_val\.txt: line 2: expected 'video start end'"):
        A.read_thumos14_txt(d, "val")
    (tmp_path / "gt.csv").write_text("video-name,t-init,t-end,frame-rate,video-duration,label-idx\n"
                                     "video_test_0000004,0.2,1.1,30,33.7,3\nvideo_test_0000004,x,1.5,30,33.7,3\n")
    with pytest.raises(NemiInputError, match=r"gt\.csv: line 3: "):
        A.read_thumos14_groundtruth_csv(tmp_path / "gt.csv")
    with pytest.raises(NemiInputError, match=r"test_Annotation\.csv: line 1 \(header\): missing column"):
        A.read_bsn_video_info(TH / "test_Annotation.csv")


# --- checks before any job ---

def _manifest(path, rows):
    pd.DataFrame(rows, columns=["video_id", "path", "split"]).to_csv(path, index=False)


def _eff(tmp_path, manifest, **over):
    cfg = {"targets": ["real"], "datasets": {"real": {"videos": {"source": "manifest", "manifest": str(manifest)},
                                                      **over}}}
    return ds.effective_config(cfg, "real")


def test_missing_videos_are_counted_and_the_first_ten_named(tmp_path):
    (tmp_path / "v").mkdir()
    rows = [(f"vid{i:02d}", f"v/vid{i:02d}.mp4", "train" if i % 2 else "test") for i in range(14)]
    (tmp_path / "v" / "vid03.mp4").touch()
    _manifest(tmp_path / "m.csv", rows)
    eff = _eff(tmp_path, tmp_path / "m.csv")
    with pytest.raises(NemiConfigError) as err:
        ds.check_inputs(eff, ds.video_table(eff))
    msg = str(err.value)
    assert "datasets.real.videos.manifest" in msg and "13 of 14 videos not found" in msg
    assert "vid00, vid01, vid02, vid04," in msg and "vid10 and 3 more" in msg and "vid11" not in msg
    eff["videos"]["on_error"] = "skip"  # decode records them: only logged
    ds.check_inputs(eff, ds.video_table(eff))


def test_the_test_split_pointing_at_training_videos_is_refused(tmp_path):
    (tmp_path / "a.mp4").touch()
    (tmp_path / "b.mp4").touch()
    _manifest(tmp_path / "m.csv", [("a", "a.mp4", "train"), ("b", "b.mp4", "train"), ("t", "a.mp4", "test")])
    eff = _eff(tmp_path, tmp_path / "m.csv")
    with pytest.raises(NemiConfigError, match=r"datasets\.real\.videos\.manifest .*1 video file\(s\) are in both "
                                              r"the train and the test split, e.g. a \(train\) and t \(test\)"):
        ds.check_inputs(eff, ds.video_table(eff))
    _manifest(tmp_path / "m.csv", [("a", "a.mp4", "train"), ("b", "b.mp4", "test")])
    (tmp_path / "eval.txt").write_text("a\nb\n")
    eff = _eff(tmp_path, tmp_path / "m.csv", evaluation={"videos": str(tmp_path / "eval.txt")})
    with pytest.raises(NemiConfigError, match=r"datasets\.real\.evaluation\.videos .*1 evaluated video\(s\) are in "
                                              r"the manifest's train split: a"):
        ds.check_inputs(eff, ds.video_table(eff))


def test_the_evaluated_subset_is_a_named_value_of_the_thumos_config():
    cfg = yaml.safe_load((REPO / "workflow" / "configs" / "thumos14.yaml").read_text())
    eff = ds.effective_config(cfg, "thumos")
    assert eff["evaluation"]["videos"] == "thumos14-213"
    assert eff["evaluation"]["tal_protocols"] == ["thumos14", "thumos14-daps"]
    assert eff["detect"]["classifier"]["train_split"] == "train"
    assert set(cfg["experiments"]) >= {"thumos_rtd", "thumos_nemi_self"}
    assert cfg["experiments"]["thumos_nemi_self"]["pretraining"]


def test_the_activitynet_config_is_rtd_nets_anet_setting():
    from nemi.model.params import ModelParams
    from nemi.fit.params import FitParams

    cfg = yaml.safe_load((REPO / "workflow" / "configs" / "activitynet13.yaml").read_text())
    eff = ds.effective_config(cfg, "anet")
    model = ModelParams.from_dict(eff["model"], where="anet")
    train = FitParams.from_dict({"model": eff["model"], "train": eff["train"]}).train
    assert model.num_queries == 100 and model.boundary_scale == 1.0
    assert train.batch_size == 128 and eff["features"]["snippet_frames"] == 16
    assert eff["train"]["schedules"]["rtd_three_stage"]["stage1"]["lr"] == 5e-5
    assert eff["evaluation"]["tal_protocols"] == ["activitynet"] and eff["evaluation"]["videos"] is None


# --- published features without videos: snakemake -n ---

def _imported_dataset(tmp_path, kinds):
    feats = tmp_path / "i3d_features"
    feats.mkdir()
    rng = np.random.default_rng(0)
    ids = ["video_test_0000004", "video_test_0000006", "video_validation_0000051", "video_validation_0000052"]
    for v in ids:
        np.save(feats / f"{v}.npy", rng.standard_normal((40, 2048)).astype(np.float32))
    # The adapter's tables for these four videos, no --video-dir: no video exists anywhere.
    t = thumos14_tables(TH, TH_INFO)
    t.manifest[t.manifest["video_id"].isin(ids)].to_csv(tmp_path / "videos.csv", index=False)
    t.ground_truth[t.ground_truth["video_id"].isin(ids)].to_csv(tmp_path / "gt.csv", index=False)
    cfg = {"targets": ["pub"], "datasets": {"pub": {
        "videos": {"source": "manifest", "manifest": "videos.csv", "annotations": "gt.csv", "shard_size": 2},
        "features": {"source": "import", "import": {"dir": str(feats), "format": "actionformer"}},
        "labels": {"kinds": kinds},
        "evaluation": {"videos": "thumos14-213"},
        "pretrain": {"labels": "cnn"},
    }}, "pretrainings": {"pub_cnn": {"dataset": "pub"}},
        "experiments": {"rtd": {"dataset": "pub", "seeds": [0]},
                        "nemi": {"dataset": "pub", "pretraining": "pub_cnn", "seeds": [0]}}}
    write_config(tmp_path, cfg)
    return feats, ids


def test_imported_features_plan_cnn_labels_tem_train_detection_and_evaluation_without_any_video(tmp_path, shared_dir):
    _imported_dataset(tmp_path, ["cnn"])
    res = snakemake(tmp_path, "-n")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    jobs = planned_jobs(res.stdout + res.stderr)
    assert "decode" not in jobs and "features" not in jobs, jobs
    assert jobs["features_import"] == 2 and jobs["changes"] == 2 and jobs["pseudo_labels"] == 1, jobs
    assert jobs["tem"] == 1 and jobs["tem_pseudo"] == 1 and jobs["pretrain"] == 1, jobs
    assert jobs["train"] == 2 and jobs["proposals"] == 2 and jobs["report_html"] == 1, jobs
    assert jobs["evaluate_run_proposals"] == 2 and jobs["classify"] == 1 and jobs["detect_experiment"] == 2, jobs
    assert not list(tmp_path.rglob("*.mp4"))


def test_hog_from_imported_features_says_it_needs_the_raw_videos(tmp_path, shared_dir):
    feats, ids = _imported_dataset(tmp_path, ["hog", "cnn"])
    (feats / f"{ids[0]}.npy").unlink()
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "datasets.pub.videos.manifest" in err and "4 of 4 videos not found" in err, err[-3000:]
    assert "HOG decomposition needs the raw videos" in err
    # the same one message also names the missing feature file, under its own key
    assert f"datasets.pub.features.import.dir ({feats}): 1 of 4 videos have no actionformer feature file: {ids[0]}" \
        in err
    assert not (tmp_path / "results").exists()


def test_a_missing_video_directory_stops_snakemake_before_any_job(tmp_path):
    _manifest(tmp_path / "m.csv", [("a", "nowhere/a.mp4", "train"), ("b", "nowhere/b.mp4", "test")])
    write_config(tmp_path, {"targets": ["real"], "datasets": {"real": {
        "videos": {"source": "manifest", "manifest": "m.csv"}, "labels": {"kinds": ["hog"]}}}})
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "config key datasets.real.videos.manifest (m.csv): video directory" in err, err[-3000:]
    assert f"{tmp_path}/nowhere not found (2 of the 2 videos are in it)" in err


def test_the_true_fps_reaches_the_imported_features_timebase(tmp_path, thumos):
    from nemi.cli import main
    from nemi.io.features import FeatureShardReader

    ids = ["video_test_0000273", "video_test_0000950"]  # 29.97 and 25 fps
    src = tmp_path / "feats"
    src.mkdir()
    for v in ids:
        np.save(src / f"{v}.npy", np.zeros((10, 2048), np.float32))
    thumos.manifest[thumos.manifest["video_id"].isin(ids)].to_csv(tmp_path / "videos.csv", index=False)
    assert main(["features", "import", "--source-dir", str(src), "--format", "actionformer", "--stride-frames", "4",
                 "--window-frames", "16", "--fps", "30", "--manifest", str(tmp_path / "videos.csv"),
                 "--shard", "shard000", "--shard-size", "2", "--out", str(tmp_path / "f.h5")]) == 0
    with FeatureShardReader(tmp_path / "f.h5") as r:
        assert [round(r.timebase(v).fps, 2) for v in ids] == [29.97, 25.0]
        assert r.attrs("video_test_0000950")["frame_count"] == int(
            thumos.manifest.set_index("video_id").loc["video_test_0000950", "frame_count"])


def test_evaluating_on_training_videos_stops_snakemake_before_any_job(tmp_path):
    for v in ("a", "b"):
        (tmp_path / f"{v}.mp4").touch()
    _manifest(tmp_path / "m.csv", [("a", "a.mp4", "train"), ("b", "b.mp4", "test")])
    (tmp_path / "eval.txt").write_text("a\nb\n")
    write_config(tmp_path, {"targets": ["real"], "datasets": {"real": {
        "videos": {"source": "manifest", "manifest": "m.csv"}, "labels": {"kinds": ["hog"]},
        "evaluation": {"predictions": {"p": {"path": "p.csv", "kind": "proposals", "protocol": "thumos14",
                                             "videos": "eval.txt"}}}}}})
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "config key datasets.real.evaluation.predictions.p.videos (eval.txt): 1 evaluated video(s) are in " \
           "the manifest's train split: a" in err, err[-3000:]
