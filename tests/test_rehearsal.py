"""The rehearsal dataset: synthetic features on Thumos14's and ActivityNet-1.3's real annotations
(nemi.features.rehearsal)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nemi import params
from nemi.datasets import (
    check_config,
    check_rules,
    coerce_command_line_text,
    deep_merge,
    effective_config,
    video_table,
)
from nemi.errors import NemiConfigError, NemiInputError
from nemi.experiments import check_pretraining
from nemi.features.imported import import_features, read_feature_file
from nemi.features.rehearsal import LABELS, LAYOUTS, RehearsalParams, generate, prototypes, subset_of, tables
from nemi.io.features import FeatureShardReader

VIDEOS = ["video_validation_0000311", "video_validation_0000051", "video_test_0001292", "video_test_0000004"]


def _params(shared_dir: Path, **kw) -> RehearsalParams:
    d = shared_dir / "data" / "thumos14"
    return params.build(RehearsalParams, {"annotations": str(d), "video_info": [str(d / "TH14_video_info.json"),
                                          str(d / "thumos14_test_groundtruth.csv")], **kw})


@pytest.fixture(scope="module")
def written(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal") / "features"
    return out, generate(out, _params(shared_dir), video_ids=VIDEOS)


def test_one_file_per_video_at_its_true_fps_and_frame_count(written, shared_dir):
    out, record = written
    m = pd.read_csv(out / "videos.csv").set_index("video_id")
    assert sorted(m.index) == sorted(VIDEOS)
    assert m.loc["video_validation_0000311", "fps"] == 25.0      # TH14_video_info.json: not 30
    assert m.loc["video_test_0001292", "frame_count"] == 6975    # not in TH14_video_info.json: the test CSV's
    for vid in VIDEOS:
        x = read_feature_file(out / f"{vid}.npy", "actionformer")  # the import path reads it as published
        assert x.dtype == np.float32 and x.shape == (-(-int(m.loc[vid, "frame_count"]) // 8), 2048)
    gt = pd.read_csv(out / "groundtruth.csv")
    assert set(gt["video_id"]) <= set(VIDEOS) and "Ambiguous" in set(gt["label"])  # the official files, unchanged
    assert record["label"] == LABELS["thumos14"] and record["n_videos"] == 4 and record["layout"] == LAYOUTS["thumos14"]
    assert json.loads((out / "rehearsal.json").read_text())["params"]["seed"] == 0
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_pure_function_of_the_seed(written, shared_dir, tmp_path):
    out, _ = written
    again = generate(tmp_path / "a", _params(shared_dir), video_ids=VIDEOS[2:])  # another subset: the same files
    for vid in VIDEOS[2:]:
        assert (tmp_path / "a" / f"{vid}.npy").read_bytes() == (out / f"{vid}.npy").read_bytes()
    generate(tmp_path / "b", _params(shared_dir, seed=1), video_ids=VIDEOS[3:])
    assert not np.array_equal(np.load(tmp_path / "b" / f"{VIDEOS[3]}.npy"), np.load(out / f"{VIDEOS[3]}.npy"))
    assert again["n_videos"] == 2


def test_actions_carry_their_class_and_the_noise_its_ratio(written, shared_dir):
    out, _ = written
    gt = pd.read_csv(out / "groundtruth.csv")
    protos = prototypes(0)
    x = np.load(out / "video_validation_0000051.npy")
    t = (np.arange(len(x)) + 0.5) * 8 / 30.0
    g = gt[(gt["video_id"] == "video_validation_0000051") & (gt["label"] != "Ambiguous")]
    inside = np.zeros(len(x), bool)
    for s, e in g[["t_start", "t_end"]].to_numpy():
        inside |= (t > s + 0.5) & (t < e - 0.5)
    label = g["label"].iloc[0]
    cos = x @ protos[label] / (np.linalg.norm(x, axis=1) * np.linalg.norm(protos[label]))
    # At 0 dB, inside its actions a snippet is far nearer its class prototype than background is.
    assert cos[inside].mean() > 0.4 and abs(cos[~inside].mean()) < 0.05


def test_the_import_path_reads_the_layout(written, tmp_path):
    out, _ = written
    m = pd.read_csv(out / "videos.csv")
    fps = dict(zip(m["video_id"], m["fps"]))
    import_features(out, "actionformer", VIDEOS, tmp_path / "shard.h5", fps=fps, stride_frames=8, window_frames=8,
                    frame_counts=dict(zip(m["video_id"], m["frame_count"])))
    with FeatureShardReader(tmp_path / "shard.h5") as r:
        assert r.timebase("video_validation_0000311").fps == 25.0
        np.testing.assert_array_equal(np.asarray(r.features("video_test_0000004")),
                                      np.load(out / "video_test_0000004.npy"))


# --- bad input ---

def _annotation_folder(root: Path, val_lines: list[str], test_lines: list[str]) -> Path:
    for split, lines in (("val", val_lines), ("test", test_lines)):
        (root / f"annotations_{split}").mkdir(parents=True)
        (root / f"annotations_{split}" / f"Diving_{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_an_annotation_folder_without_video_info_names_the_file(tmp_path, shared_dir):
    folder = _annotation_folder(tmp_path / "th14", ["video_validation_0000051 1.0 2.0"],
                                ["video_test_0000004 1.0 2.0"])
    p = params.build(RehearsalParams, {"annotations": str(folder),
                                       "video_info": [str(folder / "TH14_video_info.json")]})
    with pytest.raises(NemiInputError, match=r"th14/TH14_video_info.json: video-info file not found"):
        generate(tmp_path / "out", p)
    assert not (tmp_path / "out").exists()


def test_an_annotation_past_the_duration_is_clipped_and_counted(tmp_path, shared_dir, caplog):
    # video_test_0000004 lasts 1012 frames at 30 fps (33.73 s); one action ends at 40 s, one starts at 50 s.
    folder = _annotation_folder(tmp_path / "th14", ["video_validation_0000051 1.0 2.0"],
                                ["video_test_0000004 30.0 40.0", "video_test_0000004 50.0 51.0"])
    d = shared_dir / "data" / "thumos14"
    p = params.build(RehearsalParams, {"annotations": str(folder), "video_info": [str(d / "TH14_video_info.json")]})
    with caplog.at_level(logging.WARNING, logger="nemi"):
        record = generate(tmp_path / "out", p)
    assert record["n_segments_clipped_to_duration"] == 1 and record["n_segments_after_duration"] == 1
    assert "1 segment(s) run past their video's end" in caplog.text
    x = np.load(tmp_path / "out" / "video_test_0000004.npy")
    assert x.shape == (127, 2048)  # the video's own length, not the annotation's
    gt = pd.read_csv(tmp_path / "out" / "groundtruth.csv")
    assert gt["t_end"].max() == 51.0  # the ground truth keeps the files' times; only the rendering clips


@pytest.mark.parametrize("key, value", [("seed", -1), ("seed", 2**32), ("snr_db", 61.0), ("snr_db", -31.0)])
def test_a_seed_or_snr_out_of_range_is_refused_naming_the_key(key, value):
    config = {"datasets": {"thumos": {"videos": {"source": "rehearsal"}, "features": {"rehearsal": {key: value}}}}}
    with pytest.raises(NemiConfigError, match=rf"datasets\.thumos .*features\.rehearsal\.{key}"):
        effective_config(config, "thumos")
    with pytest.raises(NemiConfigError, match=rf"features\.rehearsal\.{key}: .* out of range"):
        params.build(RehearsalParams, {key: value})


def test_the_cli_refuses_an_snr_out_of_range(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nemi", "features", "rehearsal", "--out", str(tmp_path / "o"),
                        "--snr-db", "100"], capture_output=True, text=True, env={**os.environ})
    assert r.returncode != 0 and "features.rehearsal.snr_db" in r.stderr


def test_the_users_command_plans_with_the_rehearsal_config(repo_dir):
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile", "workflow/configs/thumos14.yaml",
           "workflow/configs/thumos14_rehearsal.yaml", "--", "results/thumos_tad.csv"]
    r = subprocess.run(cmd, cwd=repo_dir, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(repo_dir)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    jobs = dict(line.split() for line in r.stdout.splitlines()
                if len(line.split()) == 2 and line.split()[1].isdigit())
    # One generator job, the 413 videos in 9 shards of 50, three seeds of two trained rows (NEMI's pretraining
    # once per seed, pretrain.seeding per_run), the floor.
    assert jobs["features_rehearsal"] == "1" and jobs["features_import"] == "9" and jobs["train"] == "6"
    assert jobs["pretrain"] == "3" and jobs["proposals_sliding_window"] == "1" and "decode" not in jobs


# --- ActivityNet-1.3: BSN's files, 16-frame snippets, a subset by max_videos ---

def _anet_params(shared_dir: Path, **kw) -> RehearsalParams:
    d = shared_dir / "data" / "activitynet13"
    return params.build(RehearsalParams, {"benchmark": "activitynet13",
                                          "annotations": str(d / "anet_anno_action.json"),
                                          "video_info": [str(d / "video_info_new.csv")], **kw})


@pytest.fixture(scope="module")
def anet_written(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("anet") / "features"
    return out, generate(out, _anet_params(shared_dir, max_videos=6))


def test_activitynet_videos_at_their_true_length_in_16_frame_snippets(anet_written, shared_dir, tmp_path):
    out, record = anet_written
    m = pd.read_csv(out / "videos.csv")
    info = pd.read_csv(shared_dir / "data" / "activitynet13" / "video_info_new.csv").set_index("video")
    assert len(m) == 6 and sorted(m["split"]) == ["test"] * 2 + ["train"] * 4  # 9,649 : 4,728 of 14,377
    for row in m.itertuples():
        assert row.frame_count == info.loc[row.video_id, "numFrame"] and row.fps == info.loc[row.video_id, "fps"]
        x = read_feature_file(out / f"{row.video_id}.npy", "actionformer")
        assert x.dtype == np.float32 and x.shape == (-(-row.frame_count // 16), 2048)
    gt = pd.read_csv(out / "groundtruth.csv")
    assert set(gt["video_id"]) == set(m["video_id"]) and "Ambiguous" not in set(gt["label"])
    assert record["label"] == LABELS["activitynet13"]
    assert LABELS["activitynet13"] == "rehearsal (synthetic features on ActivityNet-1.3's annotations)"
    assert record["layout"]["stride_frames"] == 16 and record["n_classes"] == 200
    assert record["subset"]["max_videos"] == 6 and record["subset"]["n_videos_annotated"] == 14377
    assert record["subset"]["by_split"] == {"test": 2, "train": 4}
    # The import path reads the layout, each video at its own fps (ActivityNet's run from 2 to 33 fps).
    import_features(out, "actionformer", list(m["video_id"]), tmp_path / "shard.h5",
                    fps=dict(zip(m["video_id"], m["fps"])), stride_frames=16, window_frames=16,
                    frame_counts=dict(zip(m["video_id"], m["frame_count"])))
    with FeatureShardReader(tmp_path / "shard.h5") as r:
        assert r.timebase(m["video_id"][0]).fps == m["fps"][0]


def test_activitynet_actions_carry_their_class(anet_written, anet_tables):
    out, _ = anet_written
    gt = pd.read_csv(out / "groundtruth.csv")
    m = pd.read_csv(out / "videos.csv").set_index("video_id")
    protos = prototypes(0, sorted(set(anet_tables.ground_truth["label"])))  # every annotated video's classes
    near = []
    for vid, g in gt.groupby("video_id"):
        x = np.load(out / f"{vid}.npy")
        t = (np.arange(len(x)) + 0.5) * 16 / m.loc[vid, "fps"]
        (s, e), label = g[["t_start", "t_end"]].to_numpy()[0], g["label"].iloc[0]
        inside = (t > s + 1.5) & (t < e - 1.5)
        if inside.any():
            p = protos[label]
            near.append(float((x[inside] @ p / (np.linalg.norm(x[inside], axis=1) * np.linalg.norm(p))).mean()))
    assert near and min(near) > 0.4


@pytest.fixture(scope="module")
def anet_tables(shared_dir):
    return tables(_anet_params(shared_dir))[0]


def test_a_subset_is_each_splits_share_of_the_test_videos_classes_and_the_same_for_every_seed(anet_tables,
                                                                                                shared_dir):
    m, gt = anet_tables.manifest, anet_tables.ground_truth
    small, rec = subset_of(m, gt, 20)
    large, _ = subset_of(m, gt, 500)
    assert rec["by_split"] == {"test": 7, "train": 13} and len(large) == 500
    for sub in (small, large):
        g = gt[gt["video_id"].isin(sub["video_id"])]
        # Every class a training video holds is evaluated: the classifier never names an unknown label.
        assert set(g.loc[g["split"] == "train", "label"]) <= set(g.loc[g["split"] == "test", "label"])
    test_small = set(small.loc[small["split"] == "test", "video_id"])
    assert test_small < set(large.loc[large["split"] == "test", "video_id"])  # the lowest hashes first
    assert list(small["video_id"]) == sorted(small["video_id"])  # in the manifest's order
    assert subset_of(m, gt, 2)[1]["by_split"] == {"test": 1, "train": 1}  # each split keeps one
    assert len(subset_of(m, gt, 10**6)[0]) == len(m) == 14377
    other_seed = tables(_anet_params(shared_dir, max_videos=20, seed=5))[0]
    assert list(other_seed.manifest["video_id"]) == list(small["video_id"])
    assert set(other_seed.ground_truth["video_id"]) == set(small["video_id"])


@pytest.mark.parametrize("value", [0, -3, 1])
def test_a_subset_of_fewer_than_two_videos_is_refused_naming_the_key(value):
    config = {"datasets": {"anet": {"videos": {"source": "rehearsal"},
                                    "features": {"rehearsal": {"max_videos": value}}}}}
    with pytest.raises(NemiConfigError, match=r"datasets\.anet .*features\.rehearsal\.max_videos"):
        effective_config(config, "anet")
    with pytest.raises(NemiConfigError, match=r"features\.rehearsal\.max_videos: .* integer >= 2"):
        params.build(RehearsalParams, {"max_videos": value})


def test_the_cli_refuses_a_subset_of_zero(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nemi", "features", "rehearsal", "--out", str(tmp_path / "o"),
                        "--max-videos", "0"], capture_output=True, text=True, env={**os.environ})
    assert r.returncode != 0 and "features.rehearsal.max_videos" in r.stderr and not (tmp_path / "o").exists()


def test_snakemake_config_text_becomes_the_schemas_type_and_zero_is_still_refused():
    # `--config 'datasets={anet: {features: {rehearsal: {max_videos: 500}}}}'` reaches the config as text.
    entry = {"videos": {"source": "rehearsal", "shard_size": "50"},
             "features": {"rehearsal": {"max_videos": "500"}, "amp": "false"}, "train": {"pretrained": "null"}}
    config = {"targets": ["anet"], "datasets": {"anet": entry}}
    changed = coerce_command_line_text(config)
    assert entry["features"]["rehearsal"]["max_videos"] == 500 and entry["videos"]["shard_size"] == 50
    assert entry["features"]["amp"] is False and len(changed) == 3
    assert entry["train"]["pretrained"] == "null"  # a key that takes text keeps it
    check_config(config)
    entry["features"]["rehearsal"]["max_videos"] = "null"
    coerce_command_line_text(config)
    assert entry["features"]["rehearsal"]["max_videos"] is None
    entry["features"]["rehearsal"]["max_videos"] = "0"
    coerce_command_line_text(config)
    with pytest.raises(NemiConfigError, match=r"datasets\.anet .*features\.rehearsal\.max_videos: 0 is less than"):
        effective_config(config, "anet")
    entry["videos"]["shard_size"] = "many"  # not a number: left as text, refused naming the key
    assert coerce_command_line_text(config) == []
    with pytest.raises(NemiConfigError, match=r"datasets\.anet\.videos\.shard_size: 'many' is not of type"):
        check_config(config)


def _bsn_files(root: Path, videos: dict, info_rows: list[str]) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "anet_anno_action.json").write_text(json.dumps(videos))
    (root / "video_info_new.csv").write_text("video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
                                             + "".join(r + "\n" for r in info_rows))
    return root / "anet_anno_action.json", root / "video_info_new.csv"


def _bsn_video(duration=20.0, **kw) -> dict:
    return {"duration_second": duration, "duration_frame": int(duration * 30), "feature_frame": int(duration * 30),
            "annotations": [{"segment": [2.0, 8.0], "label": "Ballet"}], **kw}


def _generate_anet(tmp_path: Path, videos: dict, info_rows: list[str]):
    anno, info = _bsn_files(tmp_path / "anet", videos, info_rows)
    p = params.build(RehearsalParams, {"benchmark": "activitynet13", "annotations": str(anno),
                                       "video_info": [str(info)]})
    return generate(tmp_path / "out", p)


def test_an_activitynet_video_without_video_info_names_the_file(tmp_path):
    with pytest.raises(NemiInputError, match=r"anet/video_info_new\.csv: no row for 1 video\(s\) of "
                                             r".*anet/anet_anno_action\.json, e\.g\. v_b"):
        _generate_anet(tmp_path, {"v_a": _bsn_video(), "v_b": _bsn_video()},
                       ["v_a,600,20.0,30.0,30.0,training,592"])
    assert not (tmp_path / "out").exists()


def test_an_activitynet_video_without_a_duration_names_the_file(tmp_path):
    bad = _bsn_video()
    del bad["duration_second"]
    with pytest.raises(NemiInputError, match=r"anet/anet_anno_action\.json: line 1: video 'v_b' lacks "
                                             r"\['duration_second'\]"):
        _generate_anet(tmp_path, {"v_a": _bsn_video(), "v_b": bad},
                       ["v_a,600,20.0,30.0,30.0,training,592", "v_b,600,20.0,30.0,30.0,validation,592"])


def test_an_activitynet_video_of_no_frames_names_the_file(tmp_path):
    with pytest.raises(NemiInputError, match=r"video_info_new\.csv'\]: 1 video\(s\) of .* have no positive fps "
                                             r"and frame count, e\.g\. v_b"):
        _generate_anet(tmp_path, {"v_a": _bsn_video(), "v_b": _bsn_video()},
                       ["v_a,600,20.0,30.0,30.0,training,592", "v_b,0,20.0,30.0,30.0,validation,0"])


def test_activitynet_past_its_duration_is_clipped_and_counted(tmp_path):
    late = _bsn_video(annotations=[{"segment": [15.0, 25.0], "label": "Ballet"},
                                   {"segment": [30.0, 31.0], "label": "Ballet"}])
    record = _generate_anet(tmp_path, {"v_a": _bsn_video(), "v_b": late},
                            ["v_a,600,20.0,30.0,30.0,training,592", "v_b,600,20.0,30.0,30.0,validation,592"])
    assert record["n_segments_clipped_to_duration"] == 1 and record["n_segments_after_duration"] == 1
    assert np.load(tmp_path / "out" / "v_b.npy").shape == (38, 2048)  # ceil(600 / 16)


def test_activitynet_takes_one_video_info_file_naming_the_key(tmp_path, shared_dir):
    d = shared_dir / "data" / "activitynet13"
    p = _anet_params(shared_dir, video_info=[str(d / "video_info_new.csv")] * 2)
    with pytest.raises(NemiInputError, match=r"features\.rehearsal\.video_info: ActivityNet-1\.3 takes one"):
        generate(tmp_path / "out", p)


def test_a_bad_annotation_file_stops_the_plan_naming_the_key_and_file(tmp_path):
    anno, info = _bsn_files(tmp_path / "anet", {"v_a": _bsn_video(), "v_b": _bsn_video()},
                            ["v_a,600,20.0,30.0,30.0,training,592"])
    config = {"datasets": {"anet": {"videos": {"source": "rehearsal"}, "labels": {"kinds": ["cnn"]},
                                    "features": {"rehearsal": {"benchmark": "activitynet13", "annotations": str(anno),
                                                               "video_info": [str(info)]}}}}}
    with pytest.raises(NemiConfigError, match=r"datasets\.anet\.features\.rehearsal\.annotations \(activitynet13\): "
                                              r".*video_info_new\.csv: no row for 1 video"):
        video_table(effective_config(config, "anet"))


def test_the_shipped_activitynet13_rehearsal_config_passes_every_rule(repo_dir):
    cfg = yaml.safe_load((repo_dir / "config.yaml").read_text())
    for name in ("activitynet13.yaml", "activitynet13_rehearsal.yaml"):
        cfg = deep_merge(cfg, yaml.safe_load((repo_dir / "workflow" / "configs" / name).read_text()))
    check_config(cfg)
    eff = effective_config(cfg, "anet")
    check_rules(eff)
    check_pretraining(cfg, "anet_cnn", eff)
    assert eff["features"]["rehearsal"]["benchmark"] == "activitynet13" and eff["train"]["rescale_steps"] == 100


def test_the_whole_activitynet13_rehearsal_plans(repo_dir):
    """Every annotated video (14,377 of BSN's 19,228) through results/anet_tal.csv (benchmarks/README.md times it)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile",
           "workflow/configs/activitynet13.yaml", "workflow/configs/activitynet13_rehearsal.yaml", "--",
           "results/anet_tal.csv"]
    r = subprocess.run(cmd, cwd=repo_dir, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(repo_dir)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    jobs = dict(line.split() for line in r.stdout.splitlines()
                if len(line.split()) == 2 and line.split()[1].isdigit())
    # One generator job, 14,377 videos in 144 shards of 100, three seeds of two trained rows (NEMI's pretraining
    # once per seed), the floor; nothing decoded.
    assert jobs["features_rehearsal"] == "1" and jobs["features_import"] == "144" and jobs["changes"] == "144"
    assert jobs["train"] == "6" and jobs["pretrain"] == "3" and jobs["proposals_sliding_window"] == "1"
    assert "decode" not in jobs
