"""Make golden.json: BSN's ``poolData`` (its ActivityNet features rescaled to 100 steps) on seeded features.

Run with a checkout of wzmsltw/BSN-boundary-sensitive-network @ f13707f (not committed here):

    BSN_DIR=/tmp/ref/bsn python tests/golden/windows_rescale/make_golden.py

Only ``poolData`` is taken from ``data/activitynet_feature_cuhk/data_process.py`` (the rest of
that file is a Python 2 script that reads BSN's CSVs when imported) and executed unchanged.
Features are 400-d (``poolData`` writes 400 into its zero and single-snippet rows), drawn from
``VIDEOS``' seeds exactly as tests/test_windows_rescale.py draws them; the golden keeps the first
``KEEP`` columns of each output (columns never mix, so they check the whole arithmetic).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import scipy.interpolate

HERE = Path(__file__).resolve().parent
DIM, KEEP, STEPS = 400, 8, 100
# (video id, snippets, fps, frames past the last whole snippet, seed)
VIDEOS = [("long", 230, 29.97, 7, 1), ("short", 37, 25.0, 3, 2), ("one", 1, 30.0, 2, 3),
          ("hundred", 100, 24.0, 15, 4), ("very_long", 2000, 30.0, 9, 5)]


def features(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def pool_data():
    src = (Path(os.environ["BSN_DIR"]) / "data" / "activitynet_feature_cuhk" / "data_process.py").read_text()
    body = re.search(r"^def poolData\(.*?(?=^\S)", src, re.S | re.M).group(0)
    ns = {"np": np, "scipy": scipy}
    exec(body, ns)  # noqa: S102 - the reference's own function, unchanged
    return ns["poolData"]


def main() -> None:
    pool = pool_data()
    out = []
    for vid, n, fps, extra, seed in VIDEOS:
        frames = n * 16 + extra
        anno = {"duration_frame": frames, "duration_second": frames / fps}
        pooled = np.asarray(pool(features(n, seed), anno, num_prop=STEPS, num_bin=1, num_sample_bin=3,
                                 pool_type="mean"), dtype=np.float64)
        out.append({"video_id": vid, "snippets": n, "fps": fps, "frames": frames, "seed": seed,
                    "pooled": np.round(pooled[:, :KEEP], 7).tolist()})
    (HERE / "golden.json").write_text(json.dumps({"steps": STEPS, "keep": KEEP, "videos": out}) + "\n")


if __name__ == "__main__":
    main()
