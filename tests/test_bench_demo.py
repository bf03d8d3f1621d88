"""benchmarks/bench_demo.py sums every rule's benchmark file, the shared rules' (I3D weights) included."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench_demo():
    spec = importlib.util.spec_from_file_location("bench_demo", REPO / "benchmarks" / "bench_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tsv(path, seconds: float, rss: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t0\t0\t0\t0\t0\t0\t0\n")


def test_stage_table_counts_dataset_and_shared_rules(tmp_path):
    _tsv(tmp_path / "demo" / "benchmarks" / "features" / "shard000.tsv", 30.0, 900)
    _tsv(tmp_path / "demo" / "benchmarks" / "features" / "shard001.tsv", 10.0, 800)
    _tsv(tmp_path / "demo2" / "benchmarks" / "train" / "rtd" / "seed0.tsv", 20.0, 500)
    _tsv(tmp_path / "benchmarks" / "i3d_weights" / "i3d_weights.tsv", 40.0, 1200)
    table = _bench_demo().stage_table(tmp_path)
    assert table.loc["features", "jobs"] == 2 and table.loc["features", "job_s"] == 40.0
    assert table.loc["i3d_weights", "job_s"] == 40.0 and table.loc["i3d_weights", "peak_rss_mb"] == 1200
    assert abs(table["share"].sum() - 1) < 1e-12 and table.loc["train", "share"] == 20.0 / 100.0
