"""Snakemake plans the whole DAG of a real-sized dataset: Thumos14's and ActivityNet-1.3's real video lists,
empty files standing in for the videos. Prints the job count and the time (benchmarks/README.md has figures)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("bench_dag", REPO / "benchmarks" / "bench_dag.py")
bench_dag = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_dag)


@pytest.mark.parametrize("name, n_videos", [("thumos14", 412), ("activitynet", 19228)])
def test_the_whole_dag_of_a_real_dataset_plans(tmp_path, shared_dir, name, n_videos, capsys):
    ids = {"thumos14": bench_dag.thumos14_ids, "activitynet": bench_dag.activitynet_ids}[name]()
    assert len(ids) == n_videos
    seconds, jobs = bench_dag.plan(tmp_path, name, ids, shard_size=100)
    shards = math.ceil(n_videos / 100)
    # Per shard: decode, features, two change curves, two plots; then two label files and `all` (the weights
    # file exists); then through the tables: tem, tem_pseudo, classify, a pretraining run per seed (3), per
    # run (2 experiments x 3 seeds) train, proposals, detect, two evaluations, and the report's index, tables
    # and page.
    assert jobs == 6 * shards + 3 + 3 + 3 + 6 * 5 + 3
    with capsys.disabled():
        print(f"\n{name}: {n_videos} videos, {jobs} jobs planned in {seconds:.1f} s")
