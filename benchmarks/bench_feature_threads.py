"""Feature extraction per frame shard: one two-thread job against two one-thread jobs side by side.

The demo's question (``features.threads``): on 2 cores, is it faster to give a feature job both cores
(TV-L1 flow needs a thread beside I3D's) or to run two jobs of one thread at once (DIS flow is serial,
so a two-thread job leaves a core half idle)? Runs the real ``nemi features extract`` command, as the
rule does, on one frame shard of a finished or partial demo run:

    snakemake --cores 2 -- results/demo/frames/shard005.h5     # a frame shard (the rule's temp() output)
    python benchmarks/bench_feature_threads.py --frames results/demo/frames/shard005.h5

Rows: one job with 2 threads; one job with 1 thread; two 1-thread jobs at once (the same shard twice).
"shards/min" is what a run's feature stage gets from 2 cores in each setting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path


def command(frames: str, out: Path, weights: str, threads: int, params: dict) -> list[str]:
    return ["nemi", "features", "extract", "--frames", frames, "--out", str(out), "--rgb-weights", weights,
            "--flow-weights", "cross-modality", "--params", json.dumps(params), "--threads", str(threads)]


def run(jobs: list[list[str]], threads: int) -> tuple[float, float]:
    """Wall seconds until every job has ended, and the CPU seconds they used."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}  # what Snakemake exports for the rule's threads:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(j, env=env, stderr=subprocess.DEVNULL) for j in jobs]
    for p in procs:
        if p.wait():
            raise SystemExit(f"{' '.join(jobs[0][:3])} failed (exit {p.returncode})")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", required=True, help="a frame shard (results/<dataset>/frames/shardNNN.h5)")
    ap.add_argument("--weights", default="weights/i3d_kinetics400_rgb.pt")
    # The small_cpu preset's features section (config.yaml), as the rule passes it.
    ap.add_argument("--params", default=json.dumps({"amp": True, "batch_size": 8, "crop_px": 96, "device": "cpu",
                                                    "flow_method": "dis", "snippet_frames": 8, "window_frames": 8}))
    a = ap.parse_args()
    params = json.loads(a.params)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = [Path(tmp) / f"f{i}.h5" for i in range(2)]
        for name, threads, n in (("one job, 2 threads", 2, 1), ("one job, 1 thread", 1, 1),
                                 ("two jobs at once, 1 thread each", 1, 2)):
            wall, cpu = run([command(a.frames, out[i], a.weights, threads, params) for i in range(n)], threads)
            rows.append((name, n, wall, cpu, 60 * n / wall))
            for f in out:
                f.unlink(missing_ok=True)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, {a.frames}, flow {params['flow_method']}")
    print("| setting | shards | wall s | CPU s | shards/min |")
    print("|---|---:|---:|---:|---:|")
    for name, n, wall, cpu, rate in rows:
        print(f"| {name} | {n} | {wall:.1f} | {cpu:.1f} | {rate:.2f} |")


if __name__ == "__main__":
    main()
