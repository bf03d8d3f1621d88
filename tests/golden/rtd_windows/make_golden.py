"""Make golden.json: RTD-Action's Thumos14 window rule run on all 413 videos' real annotation file.

Run with a checkout of MCG-NJU/RTD-Action @ a1b357e (not committed here):

    RTD_ACTION_DIR=/tmp/ref/rtd python tests/golden/rtd_windows/make_golden.py

The reference (``datasets/thumos14.py``, ``ThumosDetection.__init__``) cuts windows from the rows of
one BSN TEM CSV per video and takes targets from ``thumos14_anno_action.json``'s ``segment_frame``.
The TEM CSVs are not public data here, so this script writes stand-ins: one row per 5-frame step at
frames 0, 5, 10, ... (ceil(duration_frame / 5) rows; the file's ``feature_dim`` is one less for every
video, and gives 4,483 training windows instead of 4,485). Only ``__init__`` runs: it reads no feature.

Besides each window (first step, number of targets), the golden records, per video, whether the
reference's ``segment_frame`` is the official seconds times the video's true fps (TH14_video_info.json,
the test CSV for video_test_0001292): for the 29.97 fps videos and video_validation_0000666 it is the
seconds times 30, so the reference's targets sit at other steps than the seconds say.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "data" / "thumos14"


def true_fps() -> dict[str, float]:
    fps = {v: float(e["fps"]) for v, e in json.loads((SHARED / "TH14_video_info.json").read_text()).items()}
    csv = pd.read_csv(SHARED / "thumos14_test_groundtruth.csv").drop_duplicates("video-name")
    for v, f in zip(csv["video-name"], csv["frame-rate"]):
        fps.setdefault(v, float(f))
    return fps


def main() -> None:
    sys.path.insert(0, os.environ["RTD_ACTION_DIR"])
    import datasets.thumos14 as ref

    # NumPy 2 no longer converts a (1,) array with float(); the reference wrote float(locations[0]).
    ref.float = lambda x: builtins.float(np.asarray(x).reshape(-1)[0])
    anno_file = SHARED / "thumos14_anno_action.json"
    anno = json.loads(anno_file.read_text())
    fps = true_fps()
    args = argparse.Namespace(window_size=100, interval=5, gt_size=100, point_prob_normalize=False,
                              absolute_position=False)
    out: dict = {"reference": "MCG-NJU/RTD-Action@a1b357e datasets/thumos14.py", "windows": {}, "videos": {}}
    for vid, e in sorted(anno.items()):
        segs = np.array([a["segment"] for a in e["annotations"]], dtype=np.float64)
        frames = np.array([a["segment_frame"] for a in e["annotations"]], dtype=np.float64)
        out["videos"][vid] = {"duration_frame": int(e["duration_frame"]), "fps": fps[vid],
                              "frames_at_true_fps": bool(np.abs(frames - segs * fps[vid]).max() <= 1.0)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tem").mkdir()
        for vid, e in anno.items():
            n = math.ceil(int(e["duration_frame"]) / 5)
            pd.DataFrame({"frame": np.arange(n) * 5, "start": np.ones(n), "end": np.ones(n)}).to_csv(
                tmp / "tem" / f"{vid}.csv", index=False)
        for split, ours in (("train", "train"), ("val", "test")):
            with contextlib.redirect_stdout(io.StringIO()):  # the reference prints its count
                ds = ref.ThumosDetection(tmp, tmp / "tem", anno_file, split, args)
            windows: dict[str, list] = {}
            for rec in ds.video_list:
                windows.setdefault(rec.id, []).append([int(rec.base) // 5, len(rec.gt)])
            out["windows"][ours] = windows
            print(f"{ours}: {len(ds.video_list)} windows from {len(windows)} videos")
    (HERE / "golden.json").write_text(json.dumps(out, separators=(",", ":"), sort_keys=True))


if __name__ == "__main__":
    main()
