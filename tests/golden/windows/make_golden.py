"""Make golden.json: RTD-Action's own Thumos14 loader run on four real videos' annotation.

Run from anywhere with a checkout of MCG-NJU/RTD-Action @ a1b357e (not committed here):

    RTD_ACTION_DIR=/tmp/ref/rtd python tests/golden/windows/make_golden.py

The reference reads BSN TEM scores from one CSV per video (columns frame, start, end; a
row per 5-frame step) and I3D rows from one torch file per video. Neither is public data
here, so this script writes stand-ins in a temporary folder: steps at frames 0, 5, 10, ...
(ceil(frames / 5) of them), scores from the formula in ``scores()`` (the test uses the
same), and features whose column 0 is the row number, so the golden records which feature
row each step took. Annotations are the real ones from ../shared (thumos14_anno_action.json).
"""

from __future__ import annotations

import argparse
import builtins
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "data" / "thumos14"
VIDEOS = ["video_validation_0000170", "video_validation_0000190", "video_test_0000028", "video_test_0000062"]


def scores(n_steps: int) -> np.ndarray:
    k = np.arange(n_steps, dtype=np.float64)
    return np.stack([0.5 + 0.45 * np.sin(0.37 * k + 1.0), 0.5 + 0.45 * np.cos(0.23 * k)], axis=1)


def main() -> None:
    sys.path.insert(0, os.environ["RTD_ACTION_DIR"])
    import datasets.thumos14 as ref  # the reference
    from datasets.thumos14 import ThumosDetection

    # NumPy 2 no longer converts a (1,) array with float(); the reference wrote float(locations[0]).
    ref.float = lambda x: builtins.float(np.asarray(x).reshape(-1)[0])

    anno = json.loads((SHARED / "thumos14_anno_action.json").read_text())
    info = json.loads((SHARED / "TH14_video_info.json").read_text())
    sub = {v: anno[v] for v in VIDEOS}
    assert all(info[v]["fps"] == 30.0 for v in VIDEOS)  # the reference's file says 30 for every video
    args = argparse.Namespace(window_size=100, interval=5, gt_size=100, point_prob_normalize=True,
                              absolute_position=False)
    out = {"videos": {}, "windows": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tem").mkdir()
        (tmp / "feat").mkdir()
        (tmp / "anno.json").write_text(json.dumps(sub))
        for v in VIDEOS:
            frames = int(sub[v]["duration_frame"])
            n_steps = math.ceil(frames / 5)
            s = scores(n_steps)
            pd.DataFrame({"frame": np.arange(n_steps) * 5, "start": s[:, 0], "end": s[:, 1]}).to_csv(
                tmp / "tem" / f"{v}.csv", index=False)
            n_rows = math.ceil(frames / 8)
            feat = torch.zeros(n_rows, 2048)
            feat[:, 0] = torch.arange(n_rows, dtype=torch.float32)
            torch.save(feat, tmp / "feat" / v)
            out["videos"][v] = {"duration_frame": frames, "fps": 30.0, "n_steps": n_steps, "n_rows": n_rows}
        for split in ("train", "val"):
            ds = ThumosDetection(tmp / "feat", tmp / "tem", tmp / "anno.json", split, args)
            for i, rec in enumerate(ds.video_list):
                vid, locations, fts, targets, _, base, s_e = ds.get_data(rec)
                out["windows"].append({
                    "split": "train" if split == "train" else "test", "video_id": vid,
                    "start_step": int(base) // 5, "base_frame": float(base),
                    "rows": fts[:, 0].to(torch.int64).tolist(),
                    "boxes_se": targets["boxes"].tolist(),
                    "boundary": np.round(s_e.numpy().astype(np.float64), 7).tolist() if i < 3 or i % 10 == 0 else None,
                })
    (HERE / "golden.json").write_text(json.dumps(out, separators=(",", ":")))
    print(f"{len(out['windows'])} windows written")


if __name__ == "__main__":
    main()
