"""Compare two complete result folders stage by stage: the first stage that differs, and by how much.

    python benchmarks/compare_runs.py results_a/ results_b/          # e.g. two machines' results/

Every file both folders hold is compared by its content, not its bytes, so that what is recorded about
the run (provenance: time, host, CPU, threads) does not count: HDF5 datasets, CSV columns, torch
tensors and JSON values, each as the largest absolute difference of its numbers (0: equal; text that
differs: inf). Files are grouped by stage (results/<dataset>/<stage>/...), in the pipeline's order, and
one table row per stage says how many files differ and the largest difference; the first stage that
differs is named at the end (every stage after it differs for that reason, or not at all).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

STAGES = ("synth", "frames", "decode", "changes", "pseudo_labels", "labels", "features", "tem", "classify",
          "pretrain", "train", "proposals", "detect", "detections", "evaluation", "tables", "report")
# What records the run rather than its result.
IGNORED_KEYS = {"provenance", "created_utc", "host", "git_sha", "git_dirty", "run_dir", "source"}
IGNORED_ATTRS = {"source_path", "source_file", "source_sha256", "params_json", "nemi_version", "git_sha",
                 "created_utc", "rgb_weights", "flow_weights", "rgb_weights_sha256", "flow_weights_sha256"}
SKIPPED_SUFFIXES = {".png", ".html", ".log", ".tsv"}


def _diff_values(a, b) -> float:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - IGNORED_KEYS
        return max((_diff_values(a.get(k), b.get(k)) for k in keys), default=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return math.inf
        return max((_diff_values(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return 0.0 if a == b else math.inf
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(float(a) - float(b))


def _diff_arrays(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    if a.dtype.kind in "fciub" and b.dtype.kind in "fciub":
        a, b = a.astype(np.float64), b.astype(np.float64)
        both_nan = np.isnan(a) & np.isnan(b)
        d = np.where(both_nan, 0.0, np.abs(a - b))
        return float(np.nanmax(d, initial=0.0)) if not np.isnan(d).any() else math.inf
    if a.dtype == object or b.dtype == object:  # variable-length entries: compare them one by one
        return max((_diff_arrays(np.asarray(x), np.asarray(y)) for x, y in zip(a.ravel(), b.ravel())),
                   default=0.0)
    return 0.0 if np.array_equal(a, b) else math.inf


def _h5(a: Path, b: Path) -> float:
    import h5py

    def datasets(path):
        # Datasets, and the attributes of groups below the root that carry meaning (n_steps, fps, ...);
        # the root's attributes are the provenance.
        out = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for k, v in obj.attrs.items():
                if k not in IGNORED_ATTRS:
                    out[f"{name}@{k}"] = v
        with h5py.File(path, "r") as f:
            f.visititems(visit)
        return out
    da, db = datasets(a), datasets(b)
    if set(da) != set(db):
        return math.inf
    return max((_diff_arrays(np.asarray(da[k]), np.asarray(db[k])) for k in da), default=0.0)


def _csv(a: Path, b: Path) -> float:
    import pandas as pd

    fa, fb = pd.read_csv(a), pd.read_csv(b)
    if list(fa.columns) != list(fb.columns) or len(fa) != len(fb):
        return math.inf
    return max((_diff_arrays(fa[c].to_numpy(), fb[c].to_numpy()) for c in fa.columns), default=0.0)


def _torch(a: Path, b: Path) -> float:
    import torch

    def tensors(obj, prefix=""):
        if isinstance(obj, torch.Tensor):
            return {prefix: obj.detach().cpu().numpy()}
        if isinstance(obj, dict):
            return {k2: v2 for k, v in obj.items() if k not in IGNORED_KEYS
                    for k2, v2 in tensors(v, f"{prefix}/{k}").items()}
        return {}
    ta = tensors(torch.load(a, map_location="cpu", weights_only=False))
    tb = tensors(torch.load(b, map_location="cpu", weights_only=False))
    if set(ta) != set(tb):
        return math.inf
    return max((_diff_arrays(ta[k], tb[k]) for k in ta), default=0.0)


def _json(a: Path, b: Path) -> float:
    return _diff_values(json.loads(a.read_text()), json.loads(b.read_text()))


READERS = {".h5": _h5, ".csv": _csv, ".pt": _torch, ".json": _json}


def stage_of(rel: Path) -> str:
    """The stage folder a file lies in (results/<dataset>/<stage>/... or <stage>/...); top-level CSVs are tables."""
    stage = next((part for part in rel.parts[:-1] if part in STAGES), None)
    if stage is None:
        return "tables" if len(rel.parts) == 1 and rel.suffix == ".csv" else rel.parts[0]
    return stage


def compare(a: Path, b: Path) -> tuple[dict[str, dict], list[str]]:
    """{stage: {files, differ, max_diff, worst}}, and the files only one folder holds."""
    rel_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file() and "runs" not in p.relative_to(a).parts}
    rel_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and "runs" not in p.relative_to(b).parts}
    stages: dict[str, dict] = {}
    for rel in sorted(rel_a & rel_b):
        reader = READERS.get(rel.suffix)
        if reader is None or rel.suffix in SKIPPED_SUFFIXES:
            continue
        d = reader(a / rel, b / rel)
        s = stages.setdefault(stage_of(rel), {"files": 0, "differ": 0, "max_diff": 0.0, "worst": ""})
        s["files"] += 1
        if d > 0:
            s["differ"] += 1
            if d > s["max_diff"] or not s["worst"]:
                s["max_diff"], s["worst"] = max(d, s["max_diff"]), str(rel)
    only = sorted(str(r) for r in (rel_a ^ rel_b) if r.suffix in READERS)
    return stages, only


def order(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    for d in (args.a, args.b):
        if not d.is_dir():
            print(f"compare_runs: {d} is not a folder", file=sys.stderr)
            return 2
    stages, only = compare(args.a, args.b)
    print(f"{args.a} against {args.b}\n")
    print("| stage | files compared | files that differ | largest difference | in |")
    print("|---|---:|---:|---:|---|")
    first = None
    for name in sorted(stages, key=order):
        s = stages[name]
        print(f"| {name} | {s['files']} | {s['differ']} | {s['max_diff']:.3g} | {s['worst'] or '-'} |")
        if s["differ"] and first is None:
            first = name
    if only:
        print(f"\nin one folder only ({len(only)}): " + ", ".join(only[:10]) + (" ..." if len(only) > 10 else ""))
    print(f"\nfirst stage that differs: {first} (largest difference {stages[first]['max_diff']:.3g}, "
          f"{stages[first]['worst']})" if first else "\nno stage differs: the two folders hold the same results")
    return 1 if first or only else 0


if __name__ == "__main__":
    sys.exit(main())
