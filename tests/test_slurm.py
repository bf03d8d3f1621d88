"""The SLURM profile on a real single-node SLURM (Debian's munge, slurmctld, slurmd; no accounting
database; one fake GPU): the tiny demo through features and pseudo labels goes through sbatch and gives
the same artifacts as a local run; a shard job killed mid-write is the only one the rerun rebuilds; a run
asking for GPUs where the cluster has none stops before submitting. The daemons are this test's own,
stopped by their pid files. Skipped, with the reason, only where the Debian packages cannot be installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.conftest import REPO
from tests.slurm.cluster import SlurmCluster, install_packages
from tests.test_workflow import TINY, planned_jobs

PROFILE = REPO / "workflow" / "profiles" / "slurm"
# Two shards of one video each; device auto: the features jobs ask for the GPU (on this machine they
# then run on the CPU, as the local run does).
CFG = {**TINY, "datasets": {"tiny": {"videos": {"source": "synth", "shard_size": 1, "on_error": "fail"},
                                     "synth": {"n_videos": 2, "test_fraction": 0.5, "seed": 1}}},
       "features": {**TINY["features"], "device": "auto"}, "labels": {**TINY["labels"], "kinds": ["cnn"]}}
# CNN pseudo labels: decode, features, change curves and labels, every level of the demo but synth.
TARGETS = ["results/tiny/pseudo_labels/cnn.json"]
SHARDS = ("shard000", "shard001")
# The plugin's first status check waits 40 s, as on a real cluster; a test does not need to be polite.
FAST = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2"]


def _gpu_check():
    import runpy

    return SimpleNamespace(**runpy.run_path(str(PROFILE / "gpu_check.py")))


def _require_slurm() -> None:
    reason = install_packages()
    if reason is None:
        try:
            import snakemake_executor_plugin_slurm  # noqa: F401
        except ImportError:
            reason = 'snakemake-executor-plugin-slurm is not installed (pip install -e ".[slurm]")'
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        print(f"test_slurm skipped: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster():
    _require_slurm()
    # munge's socket path must stay short: a directory of its own under /tmp.
    root = Path(tempfile.mkdtemp(prefix="nemi-slurm-", dir="/tmp"))
    # More CPUs and memory than the machine has (slurmd is told to trust the configuration): the
    # jobs of a level run side by side, as they would on a cluster, instead of queueing.
    c = SlurmCluster(root, cpus=8, mem_mb=20000, gpus=1)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def _workdir(path: Path, weights: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(CFG, sort_keys=False))
    shutil.copy(weights, path / "random_rgb.pt")
    return path


def _snakemake(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The same tiny demo run locally and with the slurm profile, side by side."""
    import torch

    from nemi.i3d import build_i3d

    base = tmp_path_factory.mktemp("slurm_runs")
    torch.manual_seed(0)
    torch.save(build_i3d(3).state_dict(), base / "random_rgb.pt")
    local, remote = _workdir(base / "local", base / "random_rgb.pt"), _workdir(base / "slurm", base / "random_rgb.pt")
    # The generated videos are made once, here, for both runs: the same input, and one level of jobs
    # less for a test that pays for every level with a few Python start-ups per job.
    s = CFG["datasets"]["tiny"]["synth"]
    subprocess.run(["nemi", "synth", "--out", str(base / "synth"), "--n-videos", str(s["n_videos"]), "--seed",
                    str(s["seed"]), "--test-fraction", str(s["test_fraction"]), "--workers", "2"], check=True)
    for work in (local, remote):
        shutil.copytree(base / "synth", work / "results" / "tiny" / "synth")
    t0 = time.monotonic()
    local_proc = subprocess.Popen(_snakemake("--cores", "2", *TARGETS), cwd=local, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
    res = subprocess.run(_snakemake("--profile", str(PROFILE), "--jobs", "8", *FAST, *TARGETS), cwd=remote,
                         env=cluster.env, capture_output=True, text=True, timeout=900)
    local_out, _ = local_proc.communicate(timeout=900)
    print(f"local and slurm runs: {time.monotonic() - t0:.0f} s")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:] + cluster.logs()
    assert local_proc.returncode == 0, local_out[-4000:]
    return SimpleNamespace(local=local, slurm=remote, log=res.stdout + res.stderr)


def _submitted(log: str) -> dict[int, str]:
    """SLURM job id -> its log file, from the plugin's 'submitted' lines."""
    return {int(m[1]): m[2] for m in re.finditer(r"submitted with SLURM jobid (\d+) \(log: ([^)]+)\)", log)}


def _without_provenance(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc.pop("source")  # code version, host, time and input hashes (the curve files carry their own times)
    return doc


def _arrays(path: Path) -> dict:
    import h5py

    out = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_features(a: Path, b: Path) -> None:
    import numpy as np

    x, y = _arrays(a), _arrays(b)
    assert sorted(x) == sorted(y) and x
    for name in x:
        assert np.array_equal(x[name], y[name]), f"{a.name}:{name} differs"


def test_slurm_run_goes_through_sbatch_and_equals_a_local_run(runs, cluster):
    jobs = _submitted(runs.log)
    # 2 decode, 2 features, 2 change curves, 1 pseudo-label file: every job.
    assert len(jobs) == 7, runs.log[-3000:]
    ctld = (cluster.root / "log" / "slurmctld.log").read_text()
    for job_id, log in jobs.items():
        assert f"_slurm_rpc_submit_batch_job: JobId={job_id} " in ctld, f"job {job_id} unknown to slurmctld"
        assert Path(log).is_file() and Path(log).name == f"{job_id}.log", log
        assert Path(log).is_relative_to(runs.slurm / "results" / "logs" / "slurm"), log
    # GPUs as the plugin documents them: --gpus=1 on the features jobs only (squeue keeps finished jobs
    # for MinJobAge), which then see the fake GPU.
    queue = cluster.run("squeue", "-h", "-t", "all", "-O", "JobID:12,Comment:80,tres-per-job:40").splitlines()
    tres = {int(line.split()[0]): line.split()[1:] for line in queue}
    for job_id in jobs:
        comment, per_job = tres[job_id]
        assert (per_job == "gres:gpu:1") == comment.startswith("rule_features_"), (comment, per_job)
    features_logs = [Path(log).read_text() for log in jobs.values() if "rule_features" in log]
    assert len(features_logs) == 2 and all("gpu=1" in text for text in features_logs)

    rel = Path("results/tiny/pseudo_labels/cnn.json")
    assert _without_provenance(runs.slurm / rel) == _without_provenance(runs.local / rel)
    for shard in SHARDS:
        rel = Path("results/tiny/features") / f"{shard}.h5"
        _assert_same_features(runs.slurm / rel, runs.local / rel)


def test_a_shard_killed_mid_write_is_the_only_one_rebuilt(runs, cluster):
    """Features of shard001 are made again; SLURM kills the job while it writes; the rerun rebuilds that
    shard alone (and what reads it), and its features equal the local run's."""
    work = runs.slurm
    # Snakemake leaves a missing intermediate file alone while what it feeds is up to date: name them.
    targets = [*TARGETS, *(f"results/tiny/features/{shard}.h5" for shard in SHARDS)]
    target = work / "results/tiny/features/shard001.h5"
    kept = work / "results/tiny/features/shard000.h5"
    kept_mtime = kept.stat().st_mtime_ns
    target.unlink()
    proc = subprocess.Popen(_snakemake("--profile", str(PROFILE), "--jobs", "8", *FAST, *targets), cwd=work,
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list(target.parent.glob(".shard001.h5.tmp-*")):
            assert proc.poll() is None and time.monotonic() < deadline, "the features job never started writing"
            time.sleep(0.2)
        queue = cluster.run("squeue", "-h", "-o", "%i|%k").splitlines()
        job_id = next(line.split("|")[0] for line in queue if "rule_features" in line and "shard001" in line)
        cluster.run("scancel", job_id)
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-2000:]
    assert not target.exists(), "a killed job must leave nothing under the final name"
    assert kept.stat().st_mtime_ns == kept_mtime

    dry = subprocess.run(_snakemake("--profile", str(PROFILE), "-n", *targets), cwd=work, env=cluster.env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    plan = planned_jobs(dry.stdout + dry.stderr)
    assert plan["features"] == 1 and set(plan) <= {"decode", "features", "changes", "pseudo_labels"}, plan
    outputs = [line for line in (dry.stdout + dry.stderr).splitlines() if line.strip().startswith("output:")]
    shard_outputs = [line for line in outputs if "pseudo_labels" not in line]
    assert shard_outputs and all("shard001" in line and "shard000" not in line for line in shard_outputs), outputs

    res = subprocess.run(_snakemake("--profile", str(PROFILE), "--jobs", "8", *FAST, *targets), cwd=work,
                         env=cluster.env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    _assert_same_features(target, runs.local / "results/tiny/features/shard001.h5")
    assert kept.stat().st_mtime_ns == kept_mtime


def test_gpu_jobs_on_a_cluster_without_gpus_stop_before_submitting(tmp_path):
    _require_slurm()
    root = Path(tempfile.mkdtemp(prefix="nemi-slurm-", dir="/tmp"))
    c = SlurmCluster(root, gpus=0)
    try:
        c.start()
        work = tmp_path / "w"
        work.mkdir()
        (work / "config.yaml").write_text(yaml.safe_dump(CFG, sort_keys=False))
        (work / "random_rgb.pt").write_bytes(b"")  # present: the run must stop before anything reads it
        res = subprocess.run(_snakemake("--profile", str(PROFILE), *FAST, *TARGETS), cwd=work, env=c.env,
                             capture_output=True, text=True, timeout=300)
        err = res.stdout + res.stderr
        assert res.returncode != 0
        assert "2 job(s) of rule features (gpu=1) ask for GPUs, but the default partition (debug) has none" in err, err
        assert "Nothing was submitted" in err
        assert "_slurm_rpc_submit_batch_job" not in (root / "log" / "slurmctld.log").read_text()
        assert not (work / "results" / "tiny" / "synth").exists()
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(
    ("sinfo", "partition", "ok"),
    [
        ("debug*|gpu:fake:1|1\n", None, True),
        ("cpu*|(null)|10\ngpu|gpu:a100:4(S:0-1)|2\n", None, False),
        ("cpu*|(null)|10\ngpu|gpu:a100:4(S:0-1)|2\n", "gpu", True),
        ("cpu*|(null)|10\ngpu|gpu:2,mps:100|1\n", "cpu", False),
    ],
)
def test_gpu_check_reads_partitions_and_job_requests(sinfo, partition, ok):
    check = _gpu_check()
    res = {"gpu": 1, **({"slurm_partition": partition} if partition else {})}
    jobs = [SimpleNamespace(rule=SimpleNamespace(name="features"), resources=res),
            SimpleNamespace(rule=SimpleNamespace(name="decode"), resources={"gpu": 0})]
    if ok:
        check.check(jobs, sinfo=lambda: sinfo)
    else:
        with pytest.raises(Exception, match="1 job\\(s\\) of rule features \\(gpu=1\\) ask for GPUs"):
            check.check(jobs, sinfo=lambda: sinfo)
    assert check.partition_gpus("cpu*|(null)|10\ngpu|gpu:a100:4(S:0-1)|2\n") == ({"cpu": 0, "gpu": 8}, "cpu")
    assert check.job_gpus({"gres": "gpu:v100:2"}) == 2 and check.job_gpus({"gres": "tmp:10G"}) == 0


def test_profiles_keep_cluster_settings_out_of_anything_auto_loaded():
    """Snakemake auto-loads profiles/default beside the Snakefile or the working directory, key by key, also
    under --profile: there must be none, and the workstation profile must not name an executor."""
    assert not (REPO / "profiles").exists()
    default = yaml.safe_load((REPO / "workflow" / "profiles" / "default" / "config.yaml").read_text())
    assert "executor" not in default and "default-resources" not in default
    assert default["resources"]["gpu"] >= 0
    slurm = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["slurm-status-command"] == "squeue"


def test_slurm_env_matches_the_pyproject_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "slurm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [p for p in pip if not p.startswith("-e")]
    assert sorted(listed) == sorted(project["dependencies"] + project["optional-dependencies"]["slurm"])
    assert "-e .." in pip
