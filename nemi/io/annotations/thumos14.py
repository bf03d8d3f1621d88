"""Readers for the Thumos14 annotation files (official, RTD-Net, G-TAD formats).

Split names: ``val`` (the 200 validation videos used for training) and ``test``
(213 videos).  Facts checked in ``tests/test_annotations.py`` against the files in
``shared/data/thumos14`` (see its SOURCES.md): test 3,358 instances + 99 Ambiguous;
val 3,007 + 89.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from nemi.io.annotations.table import json_line, load_json_text, make_table, read_csv, video_entries
from nemi.errors import NemiInputError

# detclasslist.txt order; label-idx 0..19 in RTD-Net's groundtruth CSV follows it.
THUMOS14_CLASSES = (
    "BaseballPitch", "BasketballDunk", "Billiards", "CleanAndJerk", "CliffDiving", "CricketBowling",
    "CricketShot", "Diving", "FrisbeeCatch", "GolfSwing", "HammerThrow", "HighJump", "JavelinThrow",
    "LongJump", "PoleVault", "Shotput", "SoccerPenalty", "TennisSwing", "ThrowDiscus", "VolleyballSpiking",
)
# UCF101 class ids (1-based) of the classes above, as UntrimmedNet's 101-way scores index them.
THUMOS14_UCF101_IDS = (7, 9, 12, 21, 22, 23, 24, 26, 31, 33, 36, 40, 45, 51, 68, 79, 85, 92, 93, 97)


def _split_of(video_id: str) -> str:
    return "test" if "_test_" in video_id else "val" if "_validation_" in video_id else ""


def read_thumos14_txt(directory: str | os.PathLike, split: str) -> pd.DataFrame:
    """Official per-class files ``<Class>_<split>.txt`` (``video start end`` per line), Ambiguous included."""
    d = Path(directory)
    files = sorted(d.glob(f"*_{split}.txt"))
    if not files:
        raise NemiInputError(f"{d}: no Thumos14 annotation files named *_{split}.txt")
    rows: dict[str, list] = {"video_id": [], "t_start": [], "t_end": [], "label": []}
    for f in files:
        label = f.name[: -len(f"_{split}.txt")]
        for n, line in enumerate(f.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise NemiInputError(f"{f}: line {n}: expected 'video start end', got {line!r}")
            try:
                start, end = float(parts[1]), float(parts[2])
            except ValueError:
                raise NemiInputError(f"{f}: line {n}: times are not numbers: {line!r}") from None
            for k, v in zip(rows, (parts[0], start, end, label)):
                rows[k].append(v)
    rows["split"] = [split] * len(rows["video_id"])
    return make_table(rows, d)


def read_thumos14_groundtruth_csv(path: str | os.PathLike) -> pd.DataFrame:
    """RTD-Net's ``thumos14_test_groundtruth.csv``: label-idx -1 is Ambiguous, 0..19 index THUMOS14_CLASSES."""
    df = read_csv(path, ("video-name", "t-init", "t-end", "frame-rate", "video-duration", "label-idx"))
    idx = df["label-idx"].to_numpy()
    if ((idx < -1) | (idx >= len(THUMOS14_CLASSES))).any():
        raise NemiInputError(f"{path}: label-idx outside -1..{len(THUMOS14_CLASSES) - 1}")
    names = np.array(("Ambiguous",) + THUMOS14_CLASSES, dtype=object)
    return make_table({
        "video_id": df["video-name"], "t_start": df["t-init"], "t_end": df["t-end"], "label": names[idx + 1],
        "split": df["video-name"].map(_split_of), "fps": df["frame-rate"], "duration": df["video-duration"],
        "line": df.index + 2,
    }, path)


def read_thumos14_annotation_csv(path: str | os.PathLike) -> pd.DataFrame:
    """G-TAD's ``test_Annotation.csv`` / ``val_Annotation.csv`` (video,type,type_idx,start,end,...)."""
    df = read_csv(path, ("video", "type", "start", "end"))
    return make_table({"video_id": df["video"], "t_start": df["start"], "t_end": df["end"], "label": df["type"],
                       "split": df["video"].map(_split_of), "line": df.index + 2}, path)


def read_rtd_thumos14_json(path: str | os.PathLike) -> pd.DataFrame:
    """RTD-Net's ``thumos14_anno_action.json``; its subset ``train`` is the val split.

    Its ``fps`` (30 for every video) is wrong for 31 videos and is not kept.
    """
    data, text = load_json_text(path)
    rows: dict[str, list] = {k: [] for k in ("video_id", "t_start", "t_end", "label", "split", "duration")}
    for vid, v, anns in video_entries(data, text, path, "RTD-Net thumos14_anno_action.json",
                                      ("subset", "duration_second"), ("class",)):
        split = "test" if v.get("subset") == "test" else "val"
        for a in anns:
            for k, x in zip(rows, (vid, a["segment"][0], a["segment"][1], a["class"], split, v["duration_second"])):
                rows[k].append(x)
    return make_table(rows, path)


def read_gtad_thumos_gt(path: str | os.PathLike) -> pd.DataFrame:
    """G-TAD's ``thumos_gt.json`` (ActivityNet-style ``database``; segments as strings; no Ambiguous)."""
    data, text = load_json_text(path)
    if not isinstance(data, dict) or "database" not in data:
        raise NemiInputError(f"{path}: line 1: no 'database' key (not an ActivityNet-style ground truth)")
    rows: dict[str, list] = {k: [] for k in ("video_id", "t_start", "t_end", "label", "split")}
    for vid, v, anns in video_entries(data["database"], text, path, "G-TAD thumos_gt.json", (), ("label",)):
        split = "test" if v.get("subset") == "test" else "val"
        for a in anns:
            for k, x in zip(rows, (vid, float(a["segment"][0]), float(a["segment"][1]), a["label"], split)):
                rows[k].append(x)
    return make_table(rows, path)


def read_thumos14_video_info(path: str | os.PathLike) -> pd.DataFrame:
    """Per video ``fps``, ``duration`` (s) and ``frame_count``: from ``TH14_video_info.json`` (mmtad; 412
    videos, not video_test_0001292) or RTD-Net's ``thumos14_test_groundtruth.csv`` (213 test videos)."""
    if str(path).endswith(".csv"):
        df = read_csv(path, ("video-name", "frame-rate", "video-duration", "video-frames"))
        df = df.drop_duplicates("video-name")
        return pd.DataFrame({"video_id": df["video-name"].astype(str), "fps": df["frame-rate"].astype(float),
                             "duration": df["video-duration"].astype(float),
                             "frame_count": df["video-frames"].astype(int)}).reset_index(drop=True)
    data, text = load_json_text(path)
    if not isinstance(data, dict):
        raise NemiInputError(f"{path}: line 1: expected an object of videos (TH14_video_info.json)")
    out: dict[str, list] = {"video_id": [], "fps": [], "duration": [], "frame_count": []}
    for vid, v in data.items():
        if not isinstance(v, dict) or any(k not in v for k in ("fps", "duration")):
            raise NemiInputError(f"{path}: line {json_line(text, vid)}: video {vid!r} lacks fps or duration; "
                                 "not a TH14_video_info.json file?")
        n = v.get("num_frame")
        for k, x in zip(out, (vid, float(v["fps"]), float(v["duration"]),
                              int(n) if n is not None else round(float(v["fps"]) * float(v["duration"])))):
            out[k].append(x)
    return pd.DataFrame(out)


def attach_video_info(gt: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Fill ``fps``/``duration`` where the table lacks them from a per-video info table."""
    merged = gt.merge(info, on="video_id", how="left", suffixes=("", "_info"))
    for col in ("fps", "duration"):
        merged[col] = merged[col].fillna(merged.pop(f"{col}_info"))
    return merged[gt.columns]


def thumos14_split_of(video_id: str) -> str:
    """``val`` or ``test`` from a Thumos14 video id, "" for anything else."""
    return _split_of(video_id)
