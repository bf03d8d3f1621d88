"""The rehearsal dataset: synthetic features on Thumos14's real annotations (nemi.features.rehearsal)."""

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

from nemi import params
from nemi.datasets import effective_config
from nemi.errors import NemiConfigError, NemiInputError
from nemi.features.imported import import_features, read_feature_file
from nemi.features.rehearsal import LABEL, LAYOUT, RehearsalParams, generate, prototypes
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
    assert record["label"] == LABEL and record["n_videos"] == 4 and record["layout"] == LAYOUT
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
    # One generator job, the 413 videos in 9 shards of 50, three seeds of two trained rows, the floor.
    assert jobs["features_rehearsal"] == "1" and jobs["features_import"] == "9" and jobs["train"] == "6"
    assert jobs["pretrain"] == "1" and jobs["proposals_sliding_window"] == "1" and "decode" not in jobs
