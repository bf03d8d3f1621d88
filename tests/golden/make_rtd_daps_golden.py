"""Regenerate tests/golden/rtd_daps_ar.json from RTD-Net's own DAPs evaluation, not from nemi.

Usage (a checkout of MCG-NJU/RTD-Action outside this tree; its datasets/thumos14_eval.py is imported,
never copied):
    RTD_ACTION_DIR=/tmp/RTD-Action python tests/golden/make_rtd_daps_golden.py

The proposals come from ``make_proposals`` below (seeded, 60 per Thumos14 test video, 30 % near a
ground-truth segment, Ambiguous ones included); the ground truth is RTD-Net's own
``thumos14_test_groundtruth.csv`` (../shared/data/thumos14), whose 99 Ambiguous rows (label-idx -1)
its evaluation counts. The file holds the reference's AR at AN 50 and 100 (interp1d, extrapolated).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "rtd_daps_ar.json"
GT_CSV = HERE.parents[2] / "shared" / "data" / "thumos14" / "thumos14_test_groundtruth.csv"
AVERAGE_NUMBERS = (50, 100)


def make_proposals(rtd_gt: pd.DataFrame, per_video: int = 60, seed: int = 0) -> pd.DataFrame:
    """Proposals in RTD-Net's layout: video-name, f-init, f-end (float frames), score."""
    rng = np.random.default_rng(seed)
    rows = []
    for vid, g in rtd_gt.groupby("video-name", sort=True):
        near = int(0.3 * per_video)
        pick = g.iloc[rng.integers(0, len(g), near)]
        s = np.concatenate([pick["f-init"].to_numpy() + rng.normal(0, 30, near),
                            rng.uniform(0, g["video-frames"].iat[0], per_video - near)])
        e = np.concatenate([pick["f-end"].to_numpy() + rng.normal(0, 30, near),
                            s[near:] + rng.uniform(15, 900, per_video - near)])
        s = np.round(np.clip(s, 0, None), 2)
        e = np.round(np.maximum(e, s + 1), 2)
        rows.append(pd.DataFrame({"video-name": vid, "f-init": s, "f-end": e, "score": rng.random(per_video)}))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    ref_dir = Path(os.environ["RTD_ACTION_DIR"])
    np.float = float  # the reference uses the alias numpy removed
    sys.modules.setdefault("util", types.ModuleType("util"))
    sys.modules.setdefault("util.misc", types.ModuleType("util.misc"))
    sys.path.insert(0, str(ref_dir / "datasets"))
    import thumos14_eval as ref
    from scipy.interpolate import interp1d

    rtd_gt = pd.read_csv(GT_CSV)
    props = make_proposals(rtd_gt)
    ar, an = ref.average_recall_vs_nr_proposals(props, rtd_gt)
    f = interp1d(an, ar, axis=0, fill_value="extrapolate")
    commit = subprocess.run(["git", "-C", str(ref_dir), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    OUT.write_text(json.dumps({
        "reference": f"MCG-NJU/RTD-Action@{commit.strip() or 'unknown'} datasets/thumos14_eval.py",
        "ground_truth": "thumos14_test_groundtruth.csv (3358 actions + 99 Ambiguous)",
        "n_proposals": len(props),
        "AR@AN": {str(n): float(f(n)) for n in AVERAGE_NUMBERS},
    }, indent=1) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
