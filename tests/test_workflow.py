"""The Snakemake workflow end to end on a tiny demo, what reruns after a change, and config errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO

TINY = {
    "targets": ["tiny"],
    "datasets": {"tiny": {"videos": {"source": "synth", "shard_size": 2, "on_error": "fail"},
                          "synth": {"n_videos": 3, "test_fraction": 0.5, "seed": 1}}},
    "decode": {"fps": 10, "width_px": 128, "height_px": 96, "codec": "jpeg", "jpeg_quality": 90},
    "changes": {"hog": {"cell_px": 8, "height_px": 96, "width_px": 128}},
    "features": {"snippet_frames": 8, "window_frames": 16, "crop_px": 32, "flow_method": "dis",
                 "rgb_weights": "random_rgb.pt", "flow_weights": "cross-modality", "batch_size": 4,
                 "device": "cpu"},
    "labels": {"kinds": ["hog", "cnn"], "hog": {"tau": 0.0715}, "cnn": {"ratio": 0.05, "rule": "top"}},
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2", *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)


def planned_jobs(out: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    table = out.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def write_config(workdir: Path, cfg: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import torch

    from nemi.i3d import build_i3d

    workdir = tmp_path_factory.mktemp("wf")
    torch.manual_seed(0)  # a random-init network keeps the test offline; the real weights have their own tests
    torch.save(build_i3d(3).state_dict(), workdir / "random_rgb.pt")
    write_config(workdir, TINY)
    res = snakemake(workdir)
    assert res.returncode == 0, res.stderr[-4000:]
    return workdir


def test_tiny_demo_runs_end_to_end(tiny_run):
    import h5py

    from nemi.io.pseudo_labels import read_pseudo_labels

    out = tiny_run / "results" / "tiny"
    for kind in ("hog", "cnn"):
        doc = read_pseudo_labels(out / "pseudo_labels" / f"{kind}.json")
        assert len(doc["videos"]) == 3 and doc["kind"] == kind
        pngs = sorted((out / "plots" / "timeline" / kind).glob("shard*/*.png"))
        assert len(pngs) == 3
    assert read_pseudo_labels(out / "pseudo_labels" / "cnn.json")["params"]["rule"] == "cnn-top"
    with h5py.File(out / "features" / "shard000.h5") as h5:
        vid = sorted(h5)[0]
        assert h5[vid]["rgb"].shape[1] == h5[vid]["flow"].shape[1] == 1024
        assert "cross-modality" in h5.attrs["params_json"]
    assert not list((out / "frames").glob("*.h5")), "frame shards are temp() and must be gone"
    assert len(list((out / "changes" / "hog").glob("shard*.h5"))) == 2
    merged = yaml.safe_load((out / "config.merged.yaml").read_text())
    assert merged["labels"]["hog"]["max_activity_frames"] == 300, "schema defaults are filled in"
    assert (out / "logs" / "decode" / "shard000.log").is_file()
    assert (out / "benchmarks" / "changes" / "hog" / "shard000.tsv").is_file()


@pytest.mark.parametrize(("kind", "change"), [("hog", {"tau": 0.09}), ("cnn", {"ratio": 0.2, "rule": "top"})])
def test_changing_a_threshold_reruns_only_labels_and_after(tiny_run, kind, change):
    """Decoding, HOG, features and curves are cached: only that kind's labels and pictures rerun."""
    write_config(tiny_run, {**TINY, "labels": {**TINY["labels"], kind: change}})
    try:
        res = snakemake(tiny_run, "-n")
        assert res.returncode == 0, res.stderr[-3000:]
        jobs = planned_jobs(res.stdout + res.stderr)
        assert jobs == {"pseudo_labels": 1, "plot_timeline": 2, "all": 1}, jobs
        assert f"pseudo_labels/{kind}.json" in res.stdout + res.stderr
    finally:
        write_config(tiny_run, TINY)


def test_nothing_to_do_when_up_to_date(tiny_run):
    res = snakemake(tiny_run, "-n")
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c: c["labels"]["hog"].update(tua=0.1), "tua"),
        (lambda c: c["labels"]["hog"].update(tau=-0.1), "tau"),
        (lambda c: c["decode"].update(fps="fast"), "fps"),
        (lambda c: c.update(decoder={}), "decoder"),
        (lambda c: c["features"].update(rgb_weights="nowhere/rgb.pt"), "features.rgb_weights"),
    ],
    ids=["misspelt-key", "negative-tau", "wrong-type", "unknown-section", "missing-weights"],
)
def test_bad_config_stops_before_any_job(tmp_path, change, needle):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    change(cfg)
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert needle in err
    assert "validat" in err.lower() or "nowhere/rgb.pt" in err
    assert not (tmp_path / "results").exists()


def test_evaluate_and_detect_rules_on_perfect_predictions(tiny_run):
    """Perfect proposals -> detect (class scores from the truth) -> evaluate: every metric is 1.0."""
    import json

    import pandas as pd

    from nemi.evaluation import evaluate_detections

    gt = pd.read_csv(tiny_run / "results" / "tiny" / "synth" / "annotations" / "groundtruth.csv")
    gt.assign(score=1.0)[["video_id", "t_start", "t_end", "score"]].to_csv(tiny_run / "props.csv", index=False)
    classes = gt[["video_id", "label"]].drop_duplicates().assign(score=1.0)
    classes.to_csv(tiny_run / "class_scores.csv", index=False)
    cfg = {
        **TINY,
        "evaluation": {"predictions": {
            "perfect_props": {"path": "props.csv", "kind": "proposals", "protocol": "thumos14"},
            "fused": {"path": "results/tiny/detections/fused.csv", "kind": "detections", "protocol": "thumos14"},
            "own": {"path": "results/tiny/detections/own.csv", "kind": "detections", "protocol": "thumos14"},
        }},
        "detect": {"top_k_classes": 1, "runs": {
            "fused": {"proposals": "props.csv", "class_scores": "class_scores.csv"},
            "own": {"proposals": "props.csv", "classifier": True},  # scores from rule classify
        }},
    }
    write_config(tiny_run, cfg)
    try:
        res = snakemake(tiny_run)
        assert res.returncode == 0, res.stderr[-4000:]
        props = json.loads((tiny_run / "results/tiny/evaluation/perfect_props.json").read_text())
        assert props["protocol"] == "thumos14" and props["AR@AN"]["50"] == 1.0
        dets = json.loads((tiny_run / "results/tiny/evaluation/fused.json").read_text())
        if gt.groupby("video_id")["label"].nunique().max() == 1:
            assert dets["average_mAP"] == 1.0
        else:  # top-1 class per video: videos holding two classes lose the other one's actions
            assert 0 < dets["average_mAP"] < 1.0
        scores = pd.read_csv(tiny_run / "results/tiny/classify/class_scores.csv")
        assert set(scores["video_id"]) == set(gt["video_id"]) | set(scores["video_id"])
        assert scores["score"].between(0, 1).all()
        # The built-in classifier's run: its detections are the proposals labelled with each video's best
        # class, and the rule's mAP is the library's on that file, against the test split.
        own_dets = pd.read_csv(tiny_run / "results/tiny/detections/own.csv")
        # A label of the video's highest class score (classes present in the same training videos tie).
        label_score = scores.set_index(["video_id", "label"])["score"]
        chosen = label_score.loc[list(zip(own_dets["video_id"], own_dets["label"]))].to_numpy()
        np.testing.assert_array_equal(chosen, own_dets["video_id"].map(scores.groupby("video_id")["score"].max()))
        key = ["video_id", "t_start", "t_end"]
        pd.testing.assert_frame_equal(own_dets[key].sort_values(key).reset_index(drop=True),
                                      gt[key].sort_values(key).reset_index(drop=True), check_dtype=False)
        own = json.loads((tiny_run / "results/tiny/evaluation/own.json").read_text())
        expected = evaluate_detections(gt, own_dets, "thumos14", split="test")
        assert own["split"] == "test" and own["n_videos"] == gt.loc[gt["split"] == "test", "video_id"].nunique()
        assert own["average_mAP"] == pytest.approx(expected["average_mAP"], abs=1e-12)
        assert own["n_predictions"] == len(gt)
    finally:
        write_config(tiny_run, TINY)


def _repo_config(**features) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["features"].update(features)
    return cfg


def test_snakemake_lint_passes(tmp_path):
    """Every rule is defined whatever the config, so one lint sees them all."""
    write_config(tmp_path, _repo_config())
    res = snakemake(tmp_path, "--lint")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert "Congratulations" in res.stdout + res.stderr


def test_features_import_rule_end_to_end(tmp_path):
    """Rule features_import on three tiny ActionFormer-style files: the shard holds the same numbers and times."""
    from nemi.io.features import FeatureShardReader

    published = tmp_path / "published"
    published.mkdir()
    rng = np.random.default_rng(0)
    lengths = {"video_test_0000004": 5, "video_test_0000006": 3, "video_validation_0000051": 4}
    feats = {v: rng.standard_normal((n, 2048)).astype(np.float32) for v, n in lengths.items()}
    for vid, f in feats.items():
        np.save(published / f"{vid}.npy", f)
    # The videos need not exist: importing reads only the manifest and the published files.
    rows = [f"{vid},videos/{vid}.mp4,{'test' if 'test' in vid else 'val'},{fps}"
            for vid, fps in zip(sorted(lengths), (30.0, 25.0, 29.97))]
    (tmp_path / "videos.csv").write_text("video_id,path,split,fps\n" + "\n".join(rows) + "\n")
    cfg = _repo_config()
    cfg["targets"] = ["imp"]
    cfg["datasets"]["imp"] = {
        "videos": {"source": "manifest", "manifest": "videos.csv", "shard_size": 2, "on_error": "fail"},
        "features": {"source": "import", "import": {"dir": str(published), "format": "actionformer",
                                                    "stride_frames": 4, "window_frames": 16, "offset_frames": 0,
                                                    "fps": 30}},
        "labels": {"kinds": ["cnn"]},  # HOG reads the raw videos, which imported features do not give
    }
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "results/imp/features/shard000.h5", "results/imp/features/shard001.h5")
    assert res.returncode == 0, res.stderr[-4000:]
    assert planned_jobs(res.stdout + res.stderr) == {"features_import": 2}
    fps = dict(zip(sorted(lengths), (30.0, 25.0, 29.97)))
    seen = []
    for shard in ("shard000", "shard001"):
        with FeatureShardReader(tmp_path / "results" / "imp" / "features" / f"{shard}.h5") as r:
            for vid in r.video_ids():
                seen.append(vid)
                np.testing.assert_array_equal(r.rgb(vid), feats[vid][:, :1024])
                np.testing.assert_array_equal(r.flow(vid), feats[vid][:, 1024:])
                np.testing.assert_allclose(r.t_center_s(vid), (np.arange(lengths[vid]) * 4 + 8) / fps[vid])
    assert seen == sorted(lengths)


def _feature_job_threads(out: str) -> list[int]:
    """The threads of every planned features job in a dry run's job list (1 when it prints none)."""
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", out)
    return [int(m.group(1)) if (m := re.search(r"^\s+threads: (\d+)$", b, re.M)) else 1
            for b in blocks if re.match(r"(?:local)?rule features:", b)]


@pytest.mark.parametrize("threads", [None, 1])
def test_feature_jobs_take_features_threads(tmp_path, threads):
    """A feature job's threads are the dataset's features.threads (default 2: TV-L1 beside I3D), so a
    small_cpu dataset's one-thread DIS jobs run two at a time on 2 cores."""
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    if threads is not None:
        cfg["features"]["threads"] = threads
    write_config(tmp_path, cfg)
    (tmp_path / "random_rgb.pt").touch()  # a plan only asks that the weights file exists
    res = snakemake(tmp_path, "-n")
    assert res.returncode == 0, res.stderr[-4000:]
    found = _feature_job_threads(res.stdout + res.stderr)
    assert found and set(found) == {threads or 2}, found
