"""Readers for BSN's ActivityNet-1.3 files (as shipped with RTD-Net's ANet branch).

``anet_anno_action.json`` holds 19,228 videos (BSN's subset of the 19,994) without
split names; ``video_info_new.csv`` gives each video's ``subset``
(training / validation / testing).  A few annotations have zero length
(t_end == t_start); they are kept, as the ActivityNet toolkit keeps them.
"""

from __future__ import annotations

import os

import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.annotations.table import load_json_text, make_table, read_csv, video_entries


def read_bsn_video_info(path: str | os.PathLike) -> pd.DataFrame:
    """``video_info_new.csv``: video_id, split, fps, duration (s), n_frames."""
    df = read_csv(path, ("video", "numFrame", "seconds", "fps", "subset"))
    bad = pd.to_numeric(df["fps"], errors="coerce").isna() | pd.to_numeric(df["numFrame"], errors="coerce").isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise NemiInputError(f"{path}: line {i + 2}: fps or numFrame is not a number ({df.iloc[i].to_dict()})")
    return pd.DataFrame({"video_id": df["video"].astype(str), "split": df["subset"].astype(str),
                         "fps": df["fps"].astype(float), "duration": df["seconds"].astype(float),
                         "n_frames": df["numFrame"].astype(int)})


def read_bsn_anno_action(path: str | os.PathLike, video_info: str | os.PathLike | None = None) -> pd.DataFrame:
    """``anet_anno_action.json`` into the ground-truth table; split and fps from ``video_info`` if given."""
    data, text = load_json_text(path)
    rows: dict[str, list] = {k: [] for k in ("video_id", "t_start", "t_end", "label", "duration")}
    for vid, v, anns in video_entries(data, text, path, "BSN anet_anno_action.json", ("duration_second",), ("label",)):
        for a in anns:
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
                       "duration": df["video-duration"], "line": df.index + 2}, path)


def read_activitynet_json(path: str | os.PathLike, id_prefix: str = "v_") -> pd.DataFrame:
    """The official ``activity_net.v1-3.min.json`` (``database``: youtube id -> subset, duration, annotations).

    Video ids get ``id_prefix`` (``v_``, as BSN's files, the crawler's file names and the published features
    name them). The testing subset has no annotations and gives no row; fps is not in the file.
    """
    data, text = load_json_text(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise NemiInputError(f"{path}: line 1: no 'database' object; not an activity_net.v1-3.min.json file?")
    rows: dict[str, list] = {k: [] for k in ("video_id", "t_start", "t_end", "label", "split", "duration")}
    for vid, v, anns in video_entries(data["database"], text, path, "activity_net.v1-3.min.json",
                                      ("subset", "duration"), ("label",)):
        for a in anns:
            for k, x in zip(rows, (id_prefix + vid, a["segment"][0], a["segment"][1], a["label"], v["subset"],
                                   v["duration"])):
                rows[k].append(x)
    return make_table(rows, path)


def read_activitynet_subsets(path: str | os.PathLike, id_prefix: str = "v_") -> pd.DataFrame:
    """Every video of an ``activity_net.v1-3.min.json``, annotated or not: video_id, split, duration."""
    data, text = load_json_text(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise NemiInputError(f"{path}: line 1: no 'database' object; not an activity_net.v1-3.min.json file?")
    entries = list(video_entries(data["database"], text, path, "activity_net.v1-3.min.json",
                                 ("subset", "duration"), ("label",)))
    return pd.DataFrame({"video_id": [id_prefix + vid for vid, _, _ in entries],
                         "split": [str(v["subset"]) for _, v, _ in entries],
                         "duration": [float(v["duration"]) for _, v, _ in entries]})
