"""benchmarks/compare_runs.py: the first stage that differs between two result folders, and by how much."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd

from tests.conftest import REPO


def _folder(root, feature_shift=0.0, created="2026-01-01"):
    (root / "features").mkdir(parents=True)
    (root / "train" / "rtd").mkdir(parents=True)
    with h5py.File(root / "features" / "shard000.h5", "w") as f:
        f.attrs["created_utc"] = created  # provenance: never counts
        f.create_dataset("v0/rgb", data=np.arange(6, dtype=np.float32) + feature_shift)
    pd.DataFrame({"epoch": [0, 1], "val_AR@100": [0.2, 0.5 + feature_shift]}).to_csv(
        root / "train" / "rtd" / "epochs.csv", index=False)
    (root / "train" / "rtd" / "run.json").write_text(json.dumps({"n": 3, "provenance": {"host": created}}))


def _run(a, b):
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare_runs.py"), str(a), str(b)],
                          capture_output=True, text=True)


def test_same_results_with_other_provenance_are_equal(tmp_path):
    _folder(tmp_path / "a")
    _folder(tmp_path / "b", created="2026-02-02")
    out = _run(tmp_path / "a", tmp_path / "b")
    assert out.returncode == 0 and "no stage differs" in out.stdout


def test_names_the_first_stage_that_differs_and_by_how_much(tmp_path):
    _folder(tmp_path / "a")
    _folder(tmp_path / "b", feature_shift=0.25)
    out = _run(tmp_path / "a", tmp_path / "b")
    assert out.returncode == 1
    assert "first stage that differs: features (largest difference 0.25, features/shard000.h5)" in out.stdout
    assert "| train | 2 | 1 | 0.25 |" in out.stdout
