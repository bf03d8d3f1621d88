"""Damaged artifacts: every loader names the file, what is wrong and the command that rebuilds it; superseded
run folders are listed by `nemi clean --runs`; an empty video_id is called empty."""

from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np
import pytest

from nemi.cli import main
from nemi.errors import NemiInputError


def _truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def _h5(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5["v1/rgb"] = np.zeros((500, 1024), np.float32)
    _truncate(path)
    return path


@pytest.mark.parametrize(("rel", "rules"), [
    ("features/shard000.h5", "features features_import"),
    ("changes/hog/shard000.h5", "changes"),
    ("tem/boundary.h5", "tem"),
    ("tem/pseudo_hog.train.h5", "tem_pseudo"),
])
def test_truncated_hdf5_names_the_file_and_the_command_that_rebuilds_it(tmp_path, rel, rules):
    """Before, a truncated shard failed every job reading it with h5py's words only, and Snakemake, seeing
    a file newer than its inputs, never remade it."""
    from nemi.io.boundary import read_boundary
    from nemi.io.curves import read_curves
    from nemi.io.features import FeatureShardReader

    path = _h5(tmp_path / "results" / "demo" / rel)
    reader = {"features": FeatureShardReader, "changes": read_curves, "tem": read_boundary}[rel.split("/")[0]]
    with pytest.raises(NemiInputError) as err:
        reader(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: cannot open ") and "truncated file" in msg
    assert f"`rm {path}`" in msg and f"`snakemake --cores 1 --forcerun {rules} -- {path}`" in msg


def test_truncated_json_names_the_file_and_the_command_that_rebuilds_it(tmp_path):
    from nemi.io.pseudo_labels import read_pseudo_labels
    from nemi.report.tables import load_index

    labels = tmp_path / "results" / "demo" / "pseudo_labels" / "hog.json"
    index = tmp_path / "results" / "demo" / "report" / "index.json"
    for path in (labels, index):
        path.parent.mkdir(parents=True)
        path.write_text('{"videos": {"v1": {"activities": [[0.0, 1')
    with pytest.raises(NemiInputError, match=re.escape(f"{labels}: pseudo-label file is not JSON")) as err:
        read_pseudo_labels(labels)
    assert f"`rm {labels}`" in str(err.value) and "--forcerun pseudo_labels" in str(err.value)
    with pytest.raises(NemiInputError, match=re.escape(f"{index}: report index is not JSON")) as err:
        load_index(index)
    assert f"`rm {index}`" in str(err.value) and "--forcerun report_index" in str(err.value)


def test_damaged_checkpoints_name_the_file_and_the_command(tmp_path):
    import torch

    from nemi.fit.state import load_checkpoint as load_state
    from nemi.model import load_checkpoint

    seed = tmp_path / "results" / "demo" / "train" / "rtd" / "seed0"
    run = seed / "runs" / "0123456789abcdef"
    run.mkdir(parents=True)
    for path in (seed / "model.pt", run / "checkpoint.pt"):
        torch.save({"model": {"w": torch.zeros(4000)}}, path)
        _truncate(path)
    with pytest.raises(NemiInputError, match=re.escape(f"{seed / 'model.pt'}: not a readable torch checkpoint")) as e:
        load_checkpoint(seed / "model.pt")
    assert "--forcerun train --" in str(e.value)
    with pytest.raises(NemiInputError, match=re.escape(f"{run / 'checkpoint.pt'}: not a readable training checkpoint")
                       ) as e:
        load_state(run / "checkpoint.pt")
    # A resume checkpoint is no rule's output: the run folder goes, and the run starts again.
    assert f"`rm -r {run}`" in str(e.value) and "starts from its first epoch" in str(e.value)


def test_a_users_own_file_is_never_offered_for_deletion(tmp_path):
    from nemi.io.artifacts import rebuild_hint, rules_of
    from nemi.io.h5 import open_h5

    mine = _h5(tmp_path / "data" / "features" / "shard000.h5")
    with pytest.raises(NemiInputError) as err:
        open_h5(mine, "feature shard")
    assert "rm " not in str(err.value) and "replace it with a complete copy" in str(err.value)
    assert rules_of(tmp_path / "results" / "demo" / "train" / "rtd" / "seed0" / "runs" / "ab" / "best_s1.pt") == []
    assert rules_of("weights/i3d_kinetics400_rgb.pt") == ["i3d_weights"]
    assert "--forcerun proposals proposals_sliding_window" in rebuild_hint("results/d/proposals/sw/seed0.json")


def test_every_rule_a_hint_names_exists(repo_dir):
    from nemi.io.artifacts import _RULES

    text = "\n".join(p.read_text() for p in (repo_dir / "workflow" / "rules").glob("*.smk"))
    defined = set(re.findall(r"^rule (\w+):", text, flags=re.M))
    named = {r for _, rules in _RULES for r in rules.split()} | {"i3d_weights"}
    assert named <= defined, named - defined


def _run_folder(out, name, mtime, files=("checkpoint.pt", "best_stage1.pt", "epochs.csv")):
    d = out / "runs" / name
    d.mkdir(parents=True)
    for f in files:
        (d / f).write_bytes(b"x" * 1000)
        os.utime(d / f, (mtime, mtime))
    return d


def test_clean_runs_lists_superseded_run_folders_and_removes_them_with_yes(tmp_path, capsys):
    """README: superseded runs/<hash>/ folders (25 MB each for the demo) are listed by `nemi clean --runs`."""
    seed = tmp_path / "results" / "demo" / "train" / "rtd" / "seed0"
    seed.mkdir(parents=True)
    (seed / "run.json").write_text(json.dumps({"config_hash": "c" * 16}))
    finished = (seed / "run.json").stat().st_mtime
    old = _run_folder(seed, "a" * 16, finished - 100)
    current = _run_folder(seed, "c" * 16, finished - 10)
    newer = _run_folder(seed, "b" * 16, finished + 100)  # a newer config's killed run: resumed next time
    odd = _run_folder(seed, "d" * 16, finished - 100, files=("checkpoint.pt", "notes.txt"))
    pre = tmp_path / "results" / "demo" / "pretrain" / "nemi" / "seed0"
    pre.mkdir(parents=True)
    (pre / "run.json").write_text(json.dumps({"config_hash": "e" * 16}))
    pre_old = _run_folder(pre, "f" * 16, (pre / "run.json").stat().st_mtime - 100)
    unfinished = tmp_path / "results" / "demo" / "train" / "rtd" / "seed1"
    in_progress = _run_folder(unfinished, "9" * 16, finished - 100)  # no run.json: nothing finished there

    assert main(["clean", "--runs", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    for d in (old, odd, pre_old):
        assert str(d) in out
    for d in (current, newer, in_progress):
        assert str(d) not in out
    assert "notes.txt" in out and "2 folder(s), 0.0 MB; dry run, nothing removed" in out
    assert all(d.is_dir() for d in (old, odd, pre_old, current, newer, in_progress))

    assert main(["clean", "--runs", "--delete", str(tmp_path / "results")]) == 0
    assert "removed 2 folder(s)" in capsys.readouterr().out
    assert not old.exists() and not pre_old.exists()
    assert all(d.is_dir() for d in (odd, current, newer, in_progress))
    assert main(["clean", "--runs", "--yes", str(tmp_path / "results" / "demo" / "pretrain")]) == 0
    assert "no superseded run folder" in capsys.readouterr().out


def test_empty_video_id_is_reported_as_empty_not_nan(tmp_path):
    from nemi.io.annotations import read_thumos14_annotation_csv
    from nemi.io.manifest import read_manifest

    manifest = tmp_path / "videos.csv"
    manifest.write_text("video_id,path,split\nv1,a.mp4,train\n,b.mp4,test\n")
    with pytest.raises(NemiInputError, match=re.escape(f"{manifest}: row 3: video_id is empty")):
        read_manifest(manifest)
    ann = tmp_path / "test_Annotation.csv"
    ann.write_text("video,type,start,end\nvideo_test_0000004,Diving,1,2\n,Diving,3,4\n")
    with pytest.raises(NemiInputError, match=re.escape(f"{ann}: line 3: video is empty")):
        read_thumos14_annotation_csv(ann)


def test_truncated_classifier_names_the_file_and_the_command(tmp_path):
    """A truncated classify/model.npz raised zipfile's BadZipFile, a traceback."""
    from nemi.detect.classifier import VideoClassifier

    path = tmp_path / "results" / "demo" / "classify" / "model.npz"
    path.parent.mkdir(parents=True)
    VideoClassifier(("A", "B"), np.zeros(4), np.ones(4), np.zeros((4, 2)), np.zeros(2)).save(path)
    _truncate(path)
    with pytest.raises(NemiInputError, match=re.escape(f"{path}: not a nemi video classifier")) as err:
        VideoClassifier.load(path)
    assert f"`rm {path}`" in str(err.value) and "--forcerun classify --" in str(err.value)
