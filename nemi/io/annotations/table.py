"""The one ground-truth table every reader returns.

Columns: ``video_id`` (str), ``t_start``, ``t_end`` (float seconds), ``label`` (str;
``Ambiguous`` marks Thumos14's hard-to-label spans, not a class), ``split`` (str),
and ``fps``, ``duration`` (float, NaN where the file does not say).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError

COLUMNS = ["video_id", "t_start", "t_end", "label", "split", "fps", "duration"]


def make_table(rows: dict[str, list] | pd.DataFrame, source: str | os.PathLike) -> pd.DataFrame:
    """Normalise column types and order; check ``0 <= t_start <= t_end``. An optional ``line`` column (the
    row's line in the source file) goes into the message and is dropped."""
    df = pd.DataFrame(rows)
    lines = df.pop("line") if "line" in df.columns else None
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan if col in ("fps", "duration") else ""
    df = df[COLUMNS].copy()
    # pandas reads an empty field as NaN, and str(NaN) would make it the video "nan".
    empty = (df["video_id"].isna() | (df["video_id"].astype(str).str.strip() == "")).to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        where = f"line {int(lines.iat[i])}: " if lines is not None else ""
        raise NemiInputError(f"{source}: {where}video_id is empty ({int(empty.sum())} row(s))")
    for col in ("video_id", "label", "split"):
        df[col] = df[col].astype(str)
    for col in ("t_start", "t_end", "fps", "duration"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
    bad = ~np.isfinite(df["t_start"]) | ~np.isfinite(df["t_end"]) | (df["t_start"] < 0) | (df["t_end"] < df["t_start"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        first = df.iloc[i]
        where = f"line {int(lines.iat[i])}: " if lines is not None else ""
        raise NemiInputError(f"{source}: {where}{int(bad.sum())} bad segment(s), e.g. {first['video_id']} "
                             f"[{first['t_start']}, {first['t_end']}] (need 0 <= start <= end, in seconds)")
    return df.reset_index(drop=True)


def load_json(path: str | os.PathLike):
    return load_json_text(path)[0]


def load_json_text(path: str | os.PathLike) -> tuple[Any, str]:
    """The parsed JSON and its text (to name the line of a bad entry)."""
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: file not found")
    try:
        text = p.read_text()
        return json.loads(text), text
    except json.JSONDecodeError as err:
        raise NemiInputError(f"{p}: line {err.lineno}: not valid JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise NemiInputError(f"{p}: not valid JSON text ({err})") from None


def json_line(text: str, key: str) -> int:
    """The line on which ``key`` first appears as a JSON string (1 when it does not)."""
    i = text.find(json.dumps(key))
    return text.count("\n", 0, i) + 1 if i >= 0 else 1


def video_entries(data: Any, text: str, path: str | os.PathLike, fmt: str, video_keys: tuple[str, ...],
                  annotation_keys: tuple[str, ...]) -> Iterator[tuple[str, dict, list[dict]]]:
    """(video_id, entry, annotations) of a {video_id: {..., "annotations": [...]}} mapping, every entry checked:
    a file of another format stops at its first entry that does not fit, naming the file and the line."""

    def fail(vid: str | None, problem: str) -> NoReturn:
        line = json_line(text, vid) if vid is not None else 1
        raise NemiInputError(f"{path}: line {line}: {problem}; not a {fmt} file?")

    if not isinstance(data, dict) or not data:
        fail(None, f"expected a non-empty object of videos, found {type(data).__name__}")
    for vid, v in data.items():
        if not isinstance(v, dict):
            fail(vid, f"entry {vid!r} is a {type(v).__name__}, not a video object")
        missing = [k for k in (*video_keys, "annotations") if k not in v]
        if missing:
            fail(vid, f"video {vid!r} lacks {missing} (has {sorted(v)[:6]})")
        anns = v["annotations"]
        if not isinstance(anns, list):
            fail(vid, f"video {vid!r}: annotations is a {type(anns).__name__}, not a list")
        for a in anns:
            if not isinstance(a, dict) or any(k not in a for k in ("segment", *annotation_keys)):
                fail(vid, f"video {vid!r}: an annotation lacks segment or {list(annotation_keys)}: {str(a)[:80]}")
            seg = a["segment"]
            if not isinstance(seg, list) or len(seg) != 2:
                fail(vid, f"video {vid!r}: segment {seg!r} is not [start, end]")
        yield str(vid), v, anns


def read_csv(path: str | os.PathLike, required: tuple[str, ...]) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: file not found")
    try:
        df = pd.read_csv(p, index_col=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise NemiInputError(f"{p}: not a readable CSV file ({err})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise NemiInputError(f"{p}: line 1 (header): missing column(s) {missing}; found {list(df.columns)[:8]}")
    # pandas reads an empty field as NaN: said here, before an id becomes "nan" or a reader trips on a float.
    for col in required:
        empty = (df[col].isna() | (df[col].astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            lines = ", ".join(str(int(i) + 2) for i in np.flatnonzero(empty)[:5])
            raise NemiInputError(f"{p}: line {lines}: {col} is empty")
    return df
