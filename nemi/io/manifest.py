"""The video manifest (which videos, where, which split) and how videos are grouped into shards.

A manifest is a CSV with at least the columns ``video_id,path,split``. Paths are
resolved relative to the manifest's folder. Shards are consecutive groups of
``shard_size`` videos in ``video_id`` order, named ``shard000``, ``shard001``, ...: one
Snakemake job per shard and stage keeps ActivityNet's ~20k videos to hundreds of jobs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from nemi.errors import NemiInputError

REQUIRED_COLUMNS = ("video_id", "path", "split")
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_.+-]+$")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a manifest; ``path`` column made absolute; sorted by video_id."""
    path = Path(path)
    if not path.is_file():
        raise NemiInputError(f"{path}: manifest not found")
    try:
        df = pd.read_csv(path, dtype={"video_id": str, "path": str, "split": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise NemiInputError(f"{path}: not a readable CSV manifest ({err})") from err
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise NemiInputError(f"{path}: manifest lacks column(s) {missing}; needs {list(REQUIRED_COLUMNS)}")
    for row, vid in enumerate(df["video_id"], start=2):
        # pandas reads an empty field as NaN, which would be reported as the id "nan".
        if not isinstance(vid, str) or not vid.strip():
            raise NemiInputError(f"{path}: row {row}: video_id is empty")
        if not _VIDEO_ID.match(vid):
            raise NemiInputError(f"{path}: row {row}: video_id {vid!r} must be letters, digits, _ . + - only")
    for col in ("path", "split"):
        for row, value in enumerate(df[col], start=2):
            if not isinstance(value, str) or not value.strip():
                raise NemiInputError(f"{path}: row {row}: {col} is empty (video_id {df['video_id'].iat[row - 2]})")
    dup = df["video_id"][df["video_id"].duplicated()]
    if len(dup):
        raise NemiInputError(f"{path}: video_id {dup.iloc[0]!r} appears more than once")
    base = path.resolve().parent
    df["path"] = [str(p if os.path.isabs(p) else (base / p)) for p in df["path"]]
    return df.sort_values("video_id", kind="stable").reset_index(drop=True)


def shard_name(index: int) -> str:
    return f"shard{index:03d}"


def plan_shards(video_ids: list[str], shard_size: int) -> dict[str, list[str]]:
    """{shard name: video ids}, consecutive groups of ``shard_size`` in sorted id order."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, not {shard_size}")
    ids = sorted(video_ids)
    return {shard_name(i // shard_size): ids[i:i + shard_size] for i in range(0, len(ids), shard_size)}


def read_splits(path: str | os.PathLike) -> dict[str, str]:
    """video_id -> split, from a manifest's ``split`` column."""
    df = read_manifest(path)
    if "split" not in df.columns:
        raise NemiInputError(f"{path}: the manifest has no split column")
    return dict(zip(df["video_id"].astype(str), df["split"].astype(str)))
