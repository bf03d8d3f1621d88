"""`nemi inspect` provenance: package version, git commit, config hash and input hashes of every artifact,
and pseudo labels that two runs make byte for byte alike but for their provenance."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nemi
from nemi.cli import main
from nemi.errors import NemiInputError
from nemi.inspect import params_hash, summarize
from nemi.io.curves import ChangeCurve, write_curves
from nemi.io.provenance import git_state, provenance, sha256_file
from nemi.labels.pseudo_labels import make_pseudo_labels
from nemi.params import build
from nemi.proposals import ProposalParams
from nemi.io.tables import write_proposals
from nemi.proposals.run import proposals
from nemi.train.data import TrainingVideos
from nemi.train.run import train
from tests.test_labels import PARAMS
from tests.train_data import fit_params, synthetic

ROOT = Path(__file__).resolve().parents[1]
SHA = git_state()[0]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _curves(path: Path, seed: int = 0, n_videos: int = 3) -> Path:
    """A HOG curve shard as nemi.changes.run writes one: provenance, params and the frame shard's hash."""
    rng = np.random.default_rng(seed)
    curves = {}
    for i in range(n_videos):
        n = 200 + 37 * i
        d = rng.gamma(2.0, 0.02, size=n - 1).astype(np.float32)
        d[rng.choice(n - 1, 6, replace=False)] += 0.3
        curves[f"vid_{seed}_{i}"] = ChangeCurve(distance=d, t_s=np.arange(1, n) / 29.97, n_steps=n, step_s=1 / 29.97,
                                         duration_s=n / 29.97, attrs={"fps": 29.97, "frames_per_step": 1})
    root = {**provenance("changes_hog"), "params_json": json.dumps({"cell": 8, "bins": 9}, sort_keys=True),
            "input_path": "frames/shard_000.h5", "input_sha256": "ab" * 32}
    write_curves(path, "hog", curves, root)
    return path


def _line(text: str, start: str) -> str:
    return next((line for line in text.splitlines() if line.startswith(start)), "")


def test_hdf5_shows_version_commit_params_hash_and_input(tmp_path):
    text = summarize(_curves(tmp_path / "c.h5"))
    assert f"  nemi version: {nemi.__version__}" in text and f"  git commit: {SHA}" in text
    assert f"  config hash: {params_hash({'bins': 9, 'cell': 8})} (sha256 of the recorded params_json)" in text
    assert f"  input hashes (1):\n    {'ab' * 32} frames/shard_000.h5" in text
    assert "@kind = hog" in text  # the attribute listing is still there
    assert f"torch {torch.__version__}" in _line(text, "  libraries: ") and "  threads: torch " in text


def test_frame_shard_lists_each_source_video(tmp_path):
    from nemi.decode import DecodeParams, decode_shard
    from tests.test_decode import _encode

    video = _encode(tmp_path / "grey.mp4", list(range(0, 200, 20)), 32, 32)
    decode_shard([("grey", str(video))], tmp_path / "frames.h5", tmp_path / "skipped.csv",
                 build(DecodeParams, {"fps": 10, "width_px": 32, "height_px": 32}))
    text = summarize(tmp_path / "frames.h5")
    assert f"  nemi version: {nemi.__version__}" in text and "stage decode" in text
    assert f"  input hashes (1):\n    {sha256_file(video)} grey: {video}" in text
    assert "(sha256 of the recorded params_json)" in text


def test_imported_features_list_each_source_file(tmp_path):
    from nemi.features.imported import import_features

    src = tmp_path / "published"
    src.mkdir()
    for i in range(12):
        np.save(src / f"v{i:02d}.npy", np.full((3, 2048), i, np.float32))
    import_features(src, "actionformer", [f"v{i:02d}" for i in range(12)], tmp_path / "f.h5", fps=30.0,
                    stride_frames=4, window_frames=16)
    text = summarize(tmp_path / "f.h5")
    assert "  input hashes (12):" in text and "    ... 2 more" in text
    assert f"    {sha256_file(src / 'v00.npy')} v00: {(src / 'v00.npy').resolve()}" in text


def test_pseudo_labels_show_commit_params_hash_and_curve_hashes(tmp_path):
    curves = _curves(tmp_path / "c.h5")
    doc = make_pseudo_labels([curves], tmp_path / "hog.json", dataset="toy", kind="hog", params=PARAMS)
    text = summarize(tmp_path / "hog.json")
    assert f"made by nemi {nemi.__version__} ({SHA[:12]})" in text and f"  git commit: {SHA}" in text
    assert f"  config hash: {params_hash(doc['params'])} (sha256 of the recorded params)" in text
    assert f"  input hashes (1):\n    {sha256_file(curves)} {curves}" in text
    assert "videos: 3, activities:" in text
    # The libraries, CPU and threads the labels job ran with, as every other artifact shows them.
    assert f"torch {doc['source']['version_torch']}" in _line(text, "  libraries: ")
    assert f"  cpu: {doc['source']['cpu_model']} ({doc['source']['cpu_isa']})" in text and "  threads: torch " in text


def test_pseudo_labels_show_the_share_of_boundaries_the_length_cap_made(tmp_path):
    """Two CNN curves of 8-frame snippets, a cap of 80 frames (10 snippets): v0's changes at snippets 20 and 30
    leave [0, 20) and [30, 100) to be split (1 + 6 cap splits); v1's at 10 and 20 leave nothing over 10."""
    curves = {}
    for vid, n, cuts in (("v0", 100, (20, 30)), ("v1", 30, (10, 20))):
        d = np.zeros(n - 1, np.float32)
        d[[c - 1 for c in cuts]] = 0.5
        curves[vid] = ChangeCurve(distance=d, t_s=np.arange(1, n) * 8 / 30, n_steps=n, step_s=8 / 30,
                                  duration_s=n * 8 / 30, attrs={"fps": 30.0, "frames_per_step": 8})
    write_curves(tmp_path / "c.h5", "cnn", curves, {"params_json": "{}"})
    params = {"rule": "cnn-relative", "cnn_rule": "relative", "ratio": 0.1, "max_activity_frames": 80,
              "min_activity_frames": 8}
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "cnn.json", dataset="toy", kind="cnn", params=params)
    text = summarize(tmp_path / "cnn.json")
    # 4 changes and 7 splits: 7 / 11 of the boundaries are the cap's.
    assert ("  boundaries: 4 feature changes, 7 splits at the 80-frame cap (max_activity_frames): 63.6% from "
            "the cap") in text, text
    # A file written before the splits were recorded (schema 1) says so rather than guessing.
    old = {**doc, "schema_version": 1, "videos": {k: {x: y for x, y in v.items() if x != "cap_splits_s"}
                                                  for k, v in doc["videos"].items()}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert ("  boundaries from feature changes and from the length cap: not recorded (schema 1)"
            in summarize(tmp_path / "old.json"))


def _canonical(doc: dict) -> str:
    return json.dumps(doc, indent=1) + "\n"  # nemi.io.pseudo_labels.write_pseudo_labels' serialisation


def test_two_runs_give_byte_identical_pseudo_labels_but_for_provenance(tmp_path):
    """Two `nemi labels` processes, as on two machines: other directories, file names, hash seeds, time zones."""
    made = [_curves(tmp_path / f"s{i}.h5", seed=i) for i in range(2)]
    runs = []
    for name, seed in (("a", "1"), ("b", "987")):
        work = tmp_path / name
        work.mkdir()
        shards = [shutil.copy(path, work / f"{name}_{i}.h5") for i, path in enumerate(made)]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed,
               "TZ": "UTC" if name == "a" else "Asia/Tokyo"}
        subprocess.run([sys.executable, "-m", "nemi", "labels", "hog", "--dataset", "toy", "--curves",
                        *map(str, shards), "--out", str(work / "hog.json"), "--tau", "0.1",
                        "--max-activity-frames", "60", "--min-activity-frames", "2"], cwd=work, env=env, check=True,
                       capture_output=True)
        runs.append(work / "hog.json")
    a, b = (json.loads(p.read_text()) for p in runs)
    assert a["source"]["inputs"] != b["source"]["inputs"]  # the files had other names: provenance differs
    assert [i["sha256"] for i in a["source"]["inputs"]] == [i["sha256"] for i in b["source"]["inputs"]]
    assert sum(len(v["activities"]) for v in a["videos"].values()) > 10
    # b's bytes are a's with only the source block exchanged for b's: everything else byte for byte.
    assert runs[1].read_bytes() == _canonical({**a, "source": b["source"]}).encode()
    assert runs[0].read_bytes() == _canonical(a).encode()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("train")
    feats, bnd, ann, gt = synthetic()
    p = fit_params(schedules={"rtd_three_stage": {"stage1": {"epochs": 1}, "stage2": {"epochs": 1},
                                                  "stage3": {"epochs": 1}}})
    train(feats, bnd, ann, TrainingVideos(["v0", "v1", "v2", "v3"], ["v4", "v5"], []), gt, p, out)
    table, info = proposals(out / "model.pt", feats, bnd, ["v4", "v5"], build(ProposalParams, {"device": "cpu"}))
    write_proposals(out / "proposals.csv", table, info)
    return out, json.loads((out / "run.json").read_text())


def test_model_file_shows_the_training_record(trained):
    out, run = trained
    text = summarize(out / "model.pt")
    assert text.startswith(f"{out / 'model.pt'}: nemi model, ") and "num_queries 4, window_steps 10" in text
    assert f"  nemi version: {nemi.__version__}" in text and f"  git commit: {SHA}" in text
    assert f"  config hash: {run['config_hash']} (recorded: the training config's)" in text
    assert '"rescale_steps": null' in text and "stage train" in text
    # The training record names none of the feature, boundary or annotation files it read.
    assert "  input hashes: not recorded" in text


def test_training_checkpoint_and_best_model(trained):
    out, run = trained
    run_dir = Path(run["run_dir"])
    text = summarize(run_dir / "checkpoint.pt")
    assert "nemi training checkpoint" in text and "stage 2, epoch 1, 3 epoch(s) in its history" in text
    # The loop names the run folder by its config's hash: the same hash, computed from the checkpoint.
    assert f"  config hash: {run_dir.name} (sha256 of the recorded config: the run folder's name)" in text
    assert run_dir.name == run["config_hash"]
    from nemi import __version__

    assert f"  nemi version: {__version__}" in text and "  git commit: not recorded" not in text
    best = next(run_dir.glob("best_*.pt"))
    assert "no training record" in summarize(best) and "config hash: not recorded" in summarize(best)
    text = summarize(out / "run.json")
    assert "training record, select best" in text and f"  config hash: {run['config_hash']}" in text


def test_proposals_record_and_csv(trained):
    out, run = trained
    ckpt = out / "model.pt"
    for path in (out / "proposals.json", out / "proposals.csv"):
        text = summarize(path)
        assert "proposals record, 48 proposals for 2 videos from 12 windows" in text  # 6 windows x 4 queries each
        assert f"  nemi version: {nemi.__version__}" in text and f"  git commit: {SHA}" in text
        assert f"  config hash: {run['config_hash']} (recorded: the training config's, from the checkpoint)" in text
        assert f"  input hashes (1):\n    {sha256_file(ckpt)} {ckpt}" in text
        assert f"torch {torch.__version__}" in _line(text, "  libraries: ") and "  threads: torch " in text
    assert main(["inspect", str(out / "proposals.csv"), str(ckpt)]) == 0


def test_foreign_and_broken_torch_files(tmp_path):
    state = {"query_embed.weight": torch.zeros(3, 2), "class_embed.bias": torch.zeros(2)}
    torch.save({"model": state, "args": argparse.Namespace(num_queries=3)}, tmp_path / "rtd.pth")
    text = summarize(tmp_path / "rtd.pth")
    assert "RTD-Action checkpoint, 2 tensors, 8 values" in text and "  nemi version: not recorded" in text
    torch.save(state, tmp_path / "bare.pt")
    assert "state dict, 2 tensors" in summarize(tmp_path / "bare.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a zip")
    with pytest.raises(NemiInputError, match="bad.pt: not a readable torch file"):
        summarize(tmp_path / "bad.pt")
