"""The end-to-end demo and each stage's share of it, from a finished run's per-rule benchmark files.

Every rule writes ``results/<dataset>/benchmarks/<stage>/...tsv`` (Snakemake's ``benchmark:``: wall
seconds, peak memory), and the rules shared by every dataset ``results/benchmarks/<stage>/...tsv`` (the
I3D weights' conversion). This sums them per stage over every dataset of the run, so the slowest stage
is visible, and prints the wall time of the run when given its Snakemake log.

    snakemake --cores 2 && python benchmarks/bench_demo.py --log .snakemake/log/<latest>.snakemake.log
"""

from __future__ import annotations

import argparse
import platform
import re
from pathlib import Path

import pandas as pd


def benchmark_files(results: Path) -> list[Path]:
    return [*results.glob("*/benchmarks/**/*.tsv"), *results.glob("benchmarks/**/*.tsv")]


def stage_table(results: Path) -> pd.DataFrame:
    rows = []
    for tsv in sorted(benchmark_files(results)):
        parts = tsv.relative_to(results).parts
        # results/<dataset>/benchmarks/<stage>/... or, for shared rules, results/benchmarks/<stage>/...
        dataset, stage = ("(shared)", parts[1]) if parts[0] == "benchmarks" else (parts[0], parts[2])
        b = pd.read_csv(tsv, sep="\t")
        rows.append({"dataset": dataset, "stage": stage.removesuffix(".tsv"), "s": float(b["s"].iloc[-1]),
                     "max_rss_mb": float(pd.to_numeric(b["max_rss"], errors="coerce").iloc[-1])})
    if not rows:
        raise SystemExit(f"no benchmark files under {results}/*/benchmarks or {results}/benchmarks: run the demo first")
    df = pd.DataFrame(rows)
    out = df.groupby("stage").agg(jobs=("s", "size"), job_s=("s", "sum"), slowest_job_s=("s", "max"),
                                  peak_rss_mb=("max_rss_mb", "max"))
    out["share"] = out["job_s"] / out["job_s"].sum()
    return out.sort_values("job_s", ascending=False)


def wall_seconds(log: Path) -> float | None:
    text = log.read_text()
    stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]", text, re.M)
    if len(stamps) < 2:
        return None
    times = pd.to_datetime(stamps, format="%a %b %d %H:%M:%S %Y")
    return float((times.max() - times.min()).total_seconds())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results", type=Path)
    ap.add_argument("--log", type=Path, help="the run's Snakemake log, for its wall time")
    args = ap.parse_args()
    table = stage_table(args.results)
    print(f"machine: {platform.node()} {platform.machine()}, {platform.processor() or 'cpu'}")
    if args.log:
        wall = wall_seconds(args.log)
        print(f"wall time of the run (first to last job): {wall:.0f} s" if wall else "wall time: not in the log")
    print(f"job-seconds in all: {table['job_s'].sum():.0f} s over {int(table['jobs'].sum())} jobs\n")
    print("| stage | jobs | job-seconds | share | slowest job s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for stage, r in table.iterrows():
        print(f"| {stage} | {int(r.jobs)} | {r.job_s:.1f} | {r.share:.1%} | {r.slowest_job_s:.1f} "
              f"| {r.peak_rss_mb:.0f} |")


if __name__ == "__main__":
    main()
