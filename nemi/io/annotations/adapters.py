"""Dataset adapters: a real dataset's official files -> the two tables every stage reads.

- the manifest (:mod:`nemi.io.manifest`): ``video_id,path,split`` plus ``subset`` (the dataset's own
  split name), ``fps``, ``frame_count`` and ``duration`` (``nemi features import`` reads fps and
  frame_count per video);
- the ground truth (:mod:`nemi.io.tables`): ``video_id,t_start,t_end,label,split,fps,duration``.

Splits are ``train`` (what training, the TEM and the classifier learn from) and ``test`` (what
proposals are made for and evaluated), so nothing downstream knows which dataset it reads:
Thumos14's validation videos (200) are ``train`` and its test videos (213) ``test``;
ActivityNet-1.3's training videos are ``train`` and its validation videos ``test`` (its testing
videos have no public annotations and are left out). Thumos14's Ambiguous spans stay in the ground
truth as label ``Ambiguous``, which the readers of that table drop unless a protocol keeps them: it
is never a class.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.annotations.activitynet import (
    read_activitynet_json,
    read_activitynet_subsets,
    read_bsn_anno_action,
    read_bsn_video_info,
)
from nemi.io.annotations.table import COLUMNS, load_json
from nemi.io.annotations.thumos14 import (
    read_rtd_thumos14_json,
    read_thumos14_txt,
    read_thumos14_video_info,
    thumos14_split_of,
)

TRAIN, TEST = "train", "test"
MANIFEST_COLUMNS = ["video_id", "path", "split", "subset", "fps", "frame_count", "duration"]
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
THUMOS14_SPLITS = {"val": TRAIN, "test": TEST}
ACTIVITYNET_SPLITS = {"training": TRAIN, "validation": TEST}


@dataclass(frozen=True)
class DatasetTables:
    manifest: pd.DataFrame
    ground_truth: pd.DataFrame


def video_paths(video_ids: Sequence[str], video_dir: str | os.PathLike | None, ext: str = ".mp4") -> list[str]:
    """Each video's file: the one in ``video_dir`` whose name is ``<id><any video extension>``, else
    ``<video_dir>/<id><ext>`` (a missing one is reported before any job, see nemi.datasets); without
    ``video_dir``, ``<id><ext>`` (beside the manifest: enough for imported features)."""
    if video_dir is None:
        return [f"{v}{ext}" for v in video_ids]
    d = Path(video_dir).resolve()
    found: dict[str, str] = {}
    if d.is_dir():
        # One listing, not one stat per video: ActivityNet has ~20k of them, with mixed extensions.
        for entry in os.scandir(d):
            stem, suffix = os.path.splitext(entry.name)
            if suffix.lower() in VIDEO_EXTENSIONS and (stem not in found or suffix == ext):
                found[stem] = entry.name
    return [str(d / found.get(v, f"{v}{ext}")) for v in video_ids]


def _manifest(videos: pd.DataFrame, video_dir, ext: str) -> pd.DataFrame:
    m = videos.sort_values("video_id", kind="stable").reset_index(drop=True)
    m["path"] = video_paths(list(m["video_id"]), video_dir, ext)
    m["frame_count"] = m["frame_count"].astype("Int64")
    return m[MANIFEST_COLUMNS]


def _thumos14_annotations(path: Path) -> pd.DataFrame:
    """Both splits from RTD-Net's JSON or from the official per-class files under a folder."""
    if path.is_file():
        return read_rtd_thumos14_json(path)
    if not path.is_dir():
        raise NemiInputError(f"{path}: Thumos14 annotations not found (a folder of the official per-class "
                             "files <Class>_val.txt / <Class>_test.txt, or RTD-Net's thumos14_anno_action.json)")
    tables = []
    for split in THUMOS14_SPLITS:
        folders = sorted({f.parent for f in path.rglob(f"*_{split}.txt")})
        if len(folders) != 1:
            raise NemiInputError(f"{path}: expected one folder of official *_{split}.txt files below it, "
                                 f"found {len(folders)}: {[str(f) for f in folders][:3]}")
        tables.append(read_thumos14_txt(folders[0], split))
    return pd.concat(tables, ignore_index=True)


def thumos14_tables(annotations: str | os.PathLike, video_info: Sequence[str | os.PathLike], *,
                    video_dir: str | os.PathLike | None = None, ext: str = ".mp4") -> DatasetTables:
    """Thumos14's 200 validation (train) and 213 test videos with every annotation, Ambiguous included.

    ``video_info``: files giving each video's true fps (30, 29.97, 25 or 24), duration and frame count,
    the first that knows a video wins: ``TH14_video_info.json`` (412 videos) and RTD-Net's
    ``thumos14_test_groundtruth.csv`` (the 213 test videos, also video_test_0001292). RTD-Net's JSON says
    30 fps for all, which is wrong for 31 videos, so its fps is never used.
    """
    gt = _thumos14_annotations(Path(annotations))
    if not video_info:
        raise NemiInputError("Thumos14: the true fps of each video needs a video-info file "
                             "(TH14_video_info.json, and thumos14_test_groundtruth.csv for video_test_0001292)")
    info = pd.concat([read_thumos14_video_info(p) for p in video_info], ignore_index=True)
    info = info.drop_duplicates("video_id", keep="first").set_index("video_id")
    ids = pd.Series(sorted(set(gt["video_id"])))
    unknown = ids[~ids.isin(info.index)]
    if len(unknown):
        raise NemiInputError(f"{len(unknown)} Thumos14 video(s) have no fps in {[str(p) for p in video_info]}: "
                             f"{', '.join(unknown[:10])} (add thumos14_test_groundtruth.csv as a video-info file)")
    own = ids.map(thumos14_split_of)
    if (own == "").any():
        raise NemiInputError(f"{annotations}: video id(s) {list(ids[own == ''][:10])} are not Thumos14's "
                             "video_validation_* / video_test_*")
    videos = pd.DataFrame({"video_id": ids, "subset": own, "split": own.map(THUMOS14_SPLITS),
                           "fps": ids.map(info["fps"]).to_numpy(), "duration": ids.map(info["duration"]).to_numpy(),
                           "frame_count": ids.map(info["frame_count"]).to_numpy()})
    by_id = videos.set_index("video_id")
    table = gt.assign(split=gt["video_id"].map(by_id["split"]), fps=gt["video_id"].map(by_id["fps"]),
                      duration=gt["video_id"].map(by_id["duration"]))
    return DatasetTables(_manifest(videos, video_dir, ext), _sorted(table))


def activitynet_tables(annotations: str | os.PathLike, video_info: str | os.PathLike | None = None, *,
                       video_dir: str | os.PathLike | None = None, ext: str = ".mp4") -> DatasetTables:
    """ActivityNet-1.3's training (train) and validation (test) videos.

    ``annotations``: BSN's ``anet_anno_action.json`` with its ``video_info_new.csv`` (19,228 videos, with
    fps and frame counts), or the official ``activity_net.v1-3.min.json`` (its own subsets; fps, frame
    counts from ``video_info_new.csv`` where given, else unknown). Ids are ``v_<youtube id>``.
    """
    path = Path(annotations)
    info = read_bsn_video_info(video_info).set_index("video_id") if video_info is not None else None
    if _is_official(path):
        gt = read_activitynet_json(path)
        videos = read_activitynet_subsets(path)
    else:
        if info is None:
            raise NemiInputError(f"{path}: BSN's anet_anno_action.json has no splits: give its video_info_new.csv")
        gt = read_bsn_anno_action(path, video_info)
        videos = pd.DataFrame({"video_id": info.index, "split": info["split"].to_numpy(),
                               "duration": info["duration"].to_numpy()})
        # Every video of BSN's file, also one whose annotation list is empty (it has no segment).
        in_file = set(load_json(path))
        unknown = sorted(in_file - set(info.index))
        if unknown:  # else it would be left out of both tables without a word
            raise NemiInputError(f"{video_info}: no row for {len(unknown)} video(s) of {path}, e.g. "
                                 f"{', '.join(unknown[:10])} (its fps, frame count and subset)")
        videos = videos[videos["video_id"].isin(in_file)]
    videos = videos[videos["split"].isin(ACTIVITYNET_SPLITS)].rename(columns={"split": "subset"})
    videos["split"] = videos["subset"].map(ACTIVITYNET_SPLITS)
    for col, src in (("fps", "fps"), ("frame_count", "n_frames")):
        videos[col] = videos["video_id"].map(info[src]) if info is not None else np.nan
    if info is not None and videos["fps"].isna().any():
        miss = videos.loc[videos["fps"].isna(), "video_id"]
        raise NemiInputError(f"{video_info}: no row for {len(miss)} video(s) of {path}, e.g. {', '.join(miss[:10])}")
    by_id = videos.set_index("video_id")
    gt = gt[gt["video_id"].isin(by_id.index)]
    table = gt.assign(split=gt["video_id"].map(by_id["split"]), fps=gt["video_id"].map(by_id["fps"]))
    return DatasetTables(_manifest(videos.reset_index(drop=True), video_dir, ext), _sorted(table))


def _is_official(path: Path) -> bool:
    """The official file's top level is {version, taxonomy, database}; BSN's is {video id: ...}."""
    if not path.is_file():
        raise NemiInputError(f"{path}: ActivityNet annotation file not found")
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", "replace")
    return any(f'"{k}"' in head for k in ("database", "taxonomy", "version"))


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["video_id", "t_start", "t_end"], kind="stable").reset_index(drop=True)[COLUMNS]
