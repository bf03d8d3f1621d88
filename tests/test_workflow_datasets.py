"""Datasets as wildcards: a user's dataset of real videos beside the demo in one DAG, paths with spaces,
per-shard dependencies on the manifest, overrides validated, and clear errors for what is missing."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from tests.test_workflow import planned_jobs, snakemake, write_config

VIDEOS = ["mmaction2_demo.mp4", "mmaction2_test.mp4", "mmaction2_test.avi"]


def _config(manifest, annotations):
    return {
        "targets": ["clips"],
        "datasets": {
            "clips": {
                "videos": {"source": "manifest", "manifest": str(manifest), "annotations": str(annotations),
                           "shard_size": 2},
                "decode": {"fps": 5, "width_px": 128, "height_px": 96},
            },
            # A second dataset in the same DAG; never built unless asked for.
            "tiny": {"videos": {"source": "synth", "shard_size": 2},
                     "synth": {"n_videos": 2, "test_fraction": 0.5, "seed": 3}},
        },
        "labels": {"kinds": ["hog"]},
    }


@pytest.fixture(scope="module")
def clips_run(tmp_path_factory, shared_dir):
    work = tmp_path_factory.mktemp("clips")
    data = work / "my data"  # a space in every path the rules see
    data.mkdir()
    for name in VIDEOS:
        shutil.copy(shared_dir / "data" / "videos" / name, data / name)
    manifest = data / "videos list.csv"
    pd.DataFrame({"video_id": ["a", "b", "c"], "path": VIDEOS, "split": ["train", "train", "test"]}).to_csv(
        manifest, index=False)
    gt = data / "ground truth.csv"
    pd.DataFrame({"video_id": ["a"], "t_start": [1.0], "t_end": [3.0], "label": ["x"]}).to_csv(gt, index=False)
    write_config(work, _config(manifest, gt))
    res = snakemake(work)
    assert res.returncode == 0, res.stderr[-4000:]
    return work, manifest


def test_a_manifest_dataset_with_spaces_in_its_paths_runs(clips_run):
    from nemi.io.pseudo_labels import read_pseudo_labels

    work, _ = clips_run
    out = work / "results" / "clips"
    doc = read_pseudo_labels(out / "pseudo_labels" / "hog.json")
    assert sorted(doc["videos"]) == ["a", "b", "c"] and doc["dataset"] == "clips"
    assert len(list((out / "plots" / "timeline" / "hog").glob("shard*/*.png"))) == 3
    merged = yaml.safe_load((out / "config.merged.yaml").read_text())
    assert merged["decode"]["fps"] == 5 and merged["decode"]["codec"] == "jpeg"
    assert not (work / "results" / "tiny").exists(), "a dataset that is not a target is not built"


def test_editing_one_manifest_row_reruns_only_that_shard(clips_run):
    work, manifest = clips_run
    original = manifest.read_text()
    df = pd.read_csv(manifest)
    try:
        df.loc[df["video_id"] == "c", "split"] = "train"  # decoding does not depend on the split
        df.to_csv(manifest, index=False)
        res = snakemake(work, "-n")
        assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]
        shutil.copy(manifest.parent / VIDEOS[2], manifest.parent / "moved.avi")
        df.loc[df["video_id"] == "c", "path"] = "moved.avi"  # shard001 holds c alone
        df.to_csv(manifest, index=False)
        res = snakemake(work, "-n")
        assert res.returncode == 0, res.stderr[-3000:]
        jobs = planned_jobs(res.stdout + res.stderr)
        assert jobs.get("decode") == 1 and "shard001" in res.stdout and "frames/shard000.h5" not in res.stdout, jobs
    finally:
        manifest.write_text(original)


def test_another_dataset_is_built_by_naming_its_target(clips_run):
    work, _ = clips_run
    res = snakemake(work, "-n", "results/tiny/pseudo_labels/hog.json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert planned_jobs(res.stdout + res.stderr)["synth"] == 1


def test_a_misspelt_dataset_override_stops_before_any_job(tmp_path):
    cfg = _config(tmp_path / "none.csv", tmp_path / "none.csv")
    cfg["datasets"]["tiny"]["decode"] = {"fsp": 3}
    cfg["targets"] = ["tiny"]
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "datasets.tiny" in err and "fsp" in err
    assert not (tmp_path / "results").exists()


def test_a_missing_manifest_names_the_key_and_stops_only_its_dataset(tmp_path):
    cfg = _config(tmp_path / "nowhere" / "videos.csv", tmp_path / "gt.csv")
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "datasets.clips.videos.manifest" in err and "not found" in err
    cfg["targets"] = ["tiny"]  # the other dataset of the same config plans fine
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "-n")
    assert res.returncode == 0, res.stderr[-3000:]


def test_an_unknown_target_is_refused(tmp_path):
    cfg = _config(tmp_path / "m.csv", tmp_path / "gt.csv")
    cfg["targets"] = ["thumos"]
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path, "-n")
    assert res.returncode != 0 and "no dataset 'thumos'" in res.stdout + res.stderr


def test_skipped_videos_are_summarised_at_the_end_of_the_run(tmp_path, shared_dir):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shared_dir / "data" / "videos" / "mmaction2_test.avi", data / "good.avi")
    (data / "bad.mp4").write_text("not a video")
    pd.DataFrame({"video_id": ["bad", "good"], "path": ["bad.mp4", "good.avi"], "split": ["test", "test"]}).to_csv(
        data / "videos.csv", index=False)
    cfg = _config(data / "videos.csv", data / "none.csv")
    cfg["datasets"]["clips"]["videos"].update(annotations=None, on_error="skip", shard_size=10)
    write_config(tmp_path, cfg)
    res = snakemake(tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    out = res.stdout + res.stderr
    assert "nemi: 1 video(s) of dataset clips were skipped; see results/clips/frames/*.skipped.csv" in out
