"""Readers for BSN's ActivityNet-1.3 files (as shipped with RTD-Net's ANet branch).

``anet_anno_action.json`` holds 19,228 videos (BSN's subset of the 19,994) without
split names; ``video_info_new.csv`` gives each video's ``subset``
(training / validation / testing).  A few annotations have zero length
(t_end == t_start); they are kept, as the ActivityNet toolkit keeps them.
"""

from __future__ import annotations

import os

import pandas as pd

from nemi.io.annotations.table import load_json, make_table, read_csv


def read_bsn_video_info(path: str | os.PathLike) -> pd.DataFrame:
    """``video_info_new.csv``: video_id, split, fps, duration (s), n_frames."""
    df = read_csv(path, ("video", "numFrame", "seconds", "fps", "subset"))
    return pd.DataFrame({"video_id": df["video"].astype(str), "split": df["subset"].astype(str),
                         "fps": df["fps"].astype(float), "duration": df["seconds"].astype(float),
                         "n_frames": df["numFrame"].astype(int)})


def read_bsn_anno_action(path: str | os.PathLike, video_info: str | os.PathLike | None = None) -> pd.DataFrame:
    """``anet_anno_action.json`` into the ground-truth table; split and fps from ``video_info`` if given."""
    data = load_json(path)
    rows: dict[str, list] = {k: [] for k in ("video_id", "t_start", "t_end", "label", "duration")}
    for vid, v in data.items():
        for a in v["annotations"]:
            for k, x in zip(rows, (vid, a["segment"][0], a["segment"][1], a["label"], v["duration_second"])):
                rows[k].append(x)
    table = make_table(rows, path)
    if video_info is not None:
        info = read_bsn_video_info(video_info).set_index("video_id")
        table["split"] = table["video_id"].map(info["split"]).fillna("").astype(str)
        table["fps"] = table["video_id"].map(info["fps"])
    return table


def read_bsn_val_groundtruth(path: str | os.PathLike,
                             class_names: dict[int, str] | None = None) -> pd.DataFrame:
    """``anet_val_groundtruth_label.csv``; label = the file's ``label-idx`` as text unless ``class_names`` maps it."""
    df = read_csv(path, ("video-name", "t-init", "t-end", "frame-rate", "video-duration", "label-idx"))
    idx = df["label-idx"].astype(int)
    labels = idx.map(class_names) if class_names else idx.astype(str)
    return make_table({"video_id": df["video-name"], "t_start": df["t-init"], "t_end": df["t-end"],
                       "label": labels, "split": "validation", "fps": df["frame-rate"],
                       "duration": df["video-duration"]}, path)
