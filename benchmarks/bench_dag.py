"""How long Snakemake takes to plan the whole DAG for a real-sized dataset, and how many jobs it holds.

    python benchmarks/bench_dag.py [--shard-size 100] [--datasets thumos14 activitynet]

Builds a manifest from the real video lists in ../shared/data (Thumos14: TH14_video_info.json, 412
videos; ActivityNet-1.3: BSN's video_info_new.csv, 19,228 videos) with empty placeholder files
standing in for the videos, and times `snakemake -n` of the whole DAG through the result tables and
the report: pseudo labels (HOG and CNN), features, timeline plots, the boundary priors, a NEMI
pretraining, RTD-Net from scratch and fine-tuned (three seeds each), proposals, detections and
evaluation. Snakemake's own floor for any DAG, measured in the same run, is the first
row: a one-rule workflow.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def thumos14_ids() -> list[tuple[str, str]]:
    info = json.loads((SHARED / "thumos14" / "TH14_video_info.json").read_text())
    return [(v, "train" if d["subset"] == "validation" else "test") for v, d in sorted(info.items())]


def activitynet_ids() -> list[tuple[str, str]]:
    with open(SHARED / "activitynet13" / "video_info_new.csv") as f:
        return [(r["video"], "train" if r["subset"] == "training" else "test") for r in csv.DictReader(f)]


def plan(workdir: Path, name: str, ids: list[tuple[str, str]], shard_size: int) -> tuple[float, int]:
    videos = workdir / "videos"
    videos.mkdir()
    for vid, _ in ids:
        (videos / f"{vid}.mp4").touch()
    with open(workdir / "videos.csv", "w") as f:
        f.write("video_id,path,split\n")
        f.writelines(f"{v},videos/{v}.mp4,{s}\n" for v, s in ids)
    with open(workdir / "groundtruth.csv", "w") as f:  # one stand-in segment a video: the DAG is what is timed
        f.write("video_id,t_start,t_end,label\n")
        f.writelines(f"{v},1.0,2.0,action\n" for v, _ in ids)
    weights = workdir / "rgb.pt"
    weights.touch()
    cfg = {"targets": [name],
           "datasets": {name: {"videos": {"source": "manifest", "manifest": str(workdir / "videos.csv"),
                                          "annotations": str(workdir / "groundtruth.csv"),
                                          "shard_size": shard_size},
                               "features": {"rgb_weights": str(weights)}, "labels": {"kinds": ["hog", "cnn"],
                                          # one 5-frame step of the grid: shorter is refused at planning
                                          "hog": {"min_activity_frames": 5}}}},
           "pretrainings": {"self": {"dataset": name}},
           "experiments": {"rtd": {"dataset": name}, "nemi_self": {"dataset": name, "pretraining": "self"}}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "-q", "rules",
                          "--cores", "1"], cwd=workdir, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"snakemake -n failed for {name}:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)", res.stdout + res.stderr, re.M)
    return dt, int(total.group(1)) if total else -1


def floor(workdir: Path) -> float:
    (workdir / "Snakefile").write_text('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-n", "-q", "--cores", "1"], cwd=workdir,
                   capture_output=True, text=True, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shard-size", type=int, default=100)
    ap.add_argument("--datasets", nargs="+", default=["thumos14", "activitynet"])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "floor").mkdir()
        rows.append(("snakemake floor (one rule)", 1, 1, floor(Path(tmp) / "floor")))
        for name in args.datasets:
            ids = {"thumos14": thumos14_ids, "activitynet": activitynet_ids}[name]()
            work = Path(tmp) / name
            work.mkdir()
            dt, jobs = plan(work, name, ids, args.shard_size)
            rows.append((f"{name}, shards of {args.shard_size}", len(ids), jobs, dt))
    print(f"{'DAG':<34} {'videos':>7} {'jobs':>7} {'snakemake -n (s)':>17}")
    for what, n, jobs, dt in rows:
        print(f"{what:<34} {n:>7} {jobs:>7} {dt:>17.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
