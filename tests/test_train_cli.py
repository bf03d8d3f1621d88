"""``nemi train`` from files: a real SIGKILL mid-run, the same command again, the weights of a run never killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from nemi.cli import main
from nemi.io.boundary import BoundaryScores, write_boundary
from nemi.io.features import FeatureShardWriter
from nemi.model import load_checkpoint
from tests.conftest import REPO
from tests.train_data import TB, TINY_MODEL, TINY_TRAIN

MODEL = {**TINY_MODEL, "input_dim": 2048}
PARAMS = {**TINY_TRAIN, "schedule": "one_stage", "schedules": {"one_stage": {"main": {"epochs": 3}}},
          "holdout_share": 0, "select": "last", "checkpoint_every_s": 0}  # a checkpoint every epoch to kill at


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    rows, gt, scores = ["video_id,path,split"], ["video_id,t_start,t_end,label"], {}
    with FeatureShardWriter(tmp_path / "f.h5", {"source": "extracted"}) as w:
        for i in range(5):
            vid = f"v{i}"
            rgb = rng.normal(size=(30, 1024)).astype(np.float32)
            w.add_video(vid, rgb, rgb[:, ::-1].copy(), TB, {"frame_count": 240})
            rows.append(f"{vid},{vid}.mp4,{'test' if i == 4 else 'train'}")
            gt.append(f"{vid},{2 + i},{8 + i},act")
            u = rng.uniform(size=30).astype(np.float32)
            scores[vid] = BoundaryScores(u, u[::-1].copy(), u, TB)
    write_boundary(tmp_path / "b.h5", "tem", scores, {})
    (tmp_path / "videos.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "gt.csv").write_text("\n".join(gt) + "\n")
    return tmp_path


def _args(d, out: str, **params) -> list[str]:
    return ["train", "--features", str(d / "f.h5"), "--boundary", str(d / "b.h5"), "--manifest",
            str(d / "videos.csv"), "--ground-truth", str(d / "gt.csv"), "--out-dir", str(d / out),
            "--params", json.dumps({"model": MODEL, "train": {**PARAMS, **params}})]


def test_sigkill_then_the_same_command_resumes_to_identical_weights(files):
    torch.set_num_threads(1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nemi", *_args(files, "b")], env=env, cwd=files,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    ckpt = None
    while time.time() < deadline and proc.poll() is None:
        found = list((files / "b" / "runs").glob("*/checkpoint.pt")) if (files / "b" / "runs").is_dir() else []
        if found:
            ckpt = found[0]
            break
        time.sleep(0.02)
    assert ckpt is not None, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch_at_kill = torch.load(ckpt, weights_only=True)["epoch"]
    assert epoch_at_kill < 3 and not (files / "b" / "model.pt").exists()
    assert main(_args(files, "b")) == 0  # the same command
    assert main(_args(files, "a")) == 0  # never killed
    a = load_checkpoint(files / "a" / "model.pt")[0].state_dict()
    b = load_checkpoint(files / "b" / "model.pt")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len((files / "b" / "epochs.csv").read_text().splitlines()) == 4


def test_more_gpus_than_there_are_stops_before_any_work(files, capsys):
    assert main(_args(files, "c", gpus=64)) == 2
    assert "train.gpus is 64 but this machine has" in capsys.readouterr().err
    assert not (files / "c").exists()


def test_the_run_hash_identifies_the_runs_data(files):
    """Two datasets' runs of the same settings were one config hash (one runs/<hash>/ name, one resume key):
    the hash now holds the manifest's and the annotations' sha256 too."""
    one = {"schedules": {"one_stage": {"main": {"epochs": 1}}}}
    assert main(_args(files, "a", **one)) == 0
    (files / "gt.csv").write_text((files / "gt.csv").read_text().replace(",act", ",other"))
    assert main(_args(files, "b", **one)) == 0
    runs = {d: json.loads((files / d / "run.json").read_text()) for d in ("a", "b")}
    assert runs["a"]["config_hash"] != runs["b"]["config_hash"]
    assert runs["a"]["config"]["data"]["manifest_sha256"] == runs["b"]["config"]["data"]["manifest_sha256"]
    assert runs["a"]["config"]["data"]["annotations_sha256"] != runs["b"]["config"]["data"]["annotations_sha256"]
    assert (files / "b" / "runs" / runs["b"]["config_hash"]).is_dir()
    # The same data again: the same hash, so the same command resumes.
    assert main(_args(files, "c", **one)) == 0
    assert json.loads((files / "c" / "run.json").read_text())["config_hash"] == runs["b"]["config_hash"]


def test_a_training_checkpoint_gives_the_proposals_of_its_own_windows(files, tmp_path):
    """`nemi proposals --checkpoint runs/<hash>/checkpoint.pt` read the checkpoint as a model file with no
    windows ("window_steps 100 but the model's position table has 10"): it records its run's windows."""
    import pandas as pd

    one = {"schedules": {"one_stage": {"main": {"epochs": 1}}}}
    assert main(_args(files, "a", **one)) == 0
    ckpt = next((files / "a" / "runs").glob("*/checkpoint.pt"))
    common = ["--features", str(files / "f.h5"), "--boundary", str(files / "b.h5"), "--manifest",
              str(files / "videos.csv"), "--params", json.dumps({"device": "cpu", "top_n": 20})]
    assert main(["proposals", "rtd", "--checkpoint", str(ckpt), "--out", str(tmp_path / "c.csv"), *common]) == 0
    assert main(["proposals", "rtd", "--checkpoint", str(files / "a" / "model.pt"), "--out", str(tmp_path / "m.csv"),
                 *common]) == 0
    # One stage, select last: the checkpoint's weights are the model's.
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv"), pd.read_csv(tmp_path / "m.csv"))
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["windows"]["window_steps"] == MODEL["window_steps"]
    assert record["checkpoint_kind"].startswith("training checkpoint (stage 1 of 1, epoch 1)")
