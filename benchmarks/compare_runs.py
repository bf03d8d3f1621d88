"""Are two runs' artifacts the same numbers? Compares two results/<dataset>/ folders, apart from provenance.

    python benchmarks/compare_runs.py OLD/results/demo NEW/results/demo

Pseudo-label JSON: everything but ``source`` (who made it, when, from which file bytes). Change curves
and feature shards: every dataset of every video, exactly (no tolerance), and the per-video attributes
that carry meaning (``n_steps``, ``step_s``, ``duration_s``, ``fps``, ...); root attributes are
provenance (package version, git commit, input hashes) and are listed only when they differ in keys.
Prints one row per artifact kind and exits 1 if anything differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np

# Per-video attributes that are provenance, not content: paths and hashes of the machine that ran it.
PROVENANCE_ATTRS = {"source_path", "params_json", "nemi_version", "git_sha", "rgb_weights", "rgb_weights_sha256",
                    "flow_weights", "flow_weights_sha256", "created_utc", "source_sha256", "source_file"}


def _json_diff(a, b, where=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}/{k}: only in one" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += _json_diff(a[k], b[k], f"{where}/{k}")
        return out
    return [] if a == b else [f"{where}: {str(a)[:60]} != {str(b)[:60]}"]


def compare_labels(old: Path, new: Path) -> tuple[int, list[str]]:
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    a.pop("source", None)
    b.pop("source", None)
    return len(a["videos"]), _json_diff(a, b)


def _attrs(obj) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in obj.attrs.items() if k not in PROVENANCE_ATTRS}


def compare_h5(old: Path, new: Path) -> tuple[int, list[str]]:
    diffs: list[str] = []
    n = 0
    with h5py.File(old, "r") as fa, h5py.File(new, "r") as fb:
        if sorted(fa) != sorted(fb):
            return 0, [f"{new.name}: videos {sorted(fa)} != {sorted(fb)}"]
        for vid in fa:
            ga, gb = fa[vid], fb[vid]
            if sorted(ga) != sorted(gb):
                diffs.append(f"{new.name}/{vid}: datasets {sorted(ga)} != {sorted(gb)}")
                continue
            for name in ga:
                n += 1
                x, y = ga[name][()], gb[name][()]
                if x.shape != y.shape or not np.array_equal(x, y):
                    diffs.append(f"{new.name}/{vid}/{name}: differs (max |diff| "
                                 f"{np.max(np.abs(x - y)) if x.shape == y.shape else 'shape'})")
            aa, ab = _attrs(ga), _attrs(gb)
            for k in sorted(set(aa) & set(ab)):
                if not np.array_equal(np.asarray(aa[k]), np.asarray(ab[k])):
                    diffs.append(f"{new.name}/{vid} @{k}: {aa[k]} != {ab[k]}")
    return n, diffs


def main(old_root: str, new_root: str) -> int:
    old, new = Path(old_root), Path(new_root)
    rows, failed = [], False
    for kind, pattern, fn in [("pseudo labels", "pseudo_labels/*.json", compare_labels),
                              ("change curves", "changes/*/*.h5", compare_h5),
                              ("features", "features/*.h5", compare_h5)]:
        files = sorted(p.relative_to(old) for p in old.glob(pattern))
        missing = [f for f in files if not (new / f).is_file()]
        count, diffs = 0, [f"{f}: missing in {new}" for f in missing]
        for f in files:
            if f not in missing:
                n, d = fn(old / f, new / f)
                count += n
                diffs += d
        failed |= bool(diffs) or not files
        rows.append((kind, len(files), count, len(diffs), diffs[:5]))
    print(f"{'artifact':<14} {'files':>5} {'compared':>9} {'differences':>11}")
    for kind, nf, n, nd, _ in rows:
        print(f"{kind:<14} {nf:>5} {n:>9} {nd:>11}")
    for kind, *_, first in rows:
        for d in first:
            print(f"  {kind}: {d}")
    print("identical apart from provenance" if not failed else "DIFFERENT")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
