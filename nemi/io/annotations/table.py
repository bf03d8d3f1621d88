"""The one ground-truth table every reader returns.

Columns: ``video_id`` (str), ``t_start``, ``t_end`` (float seconds), ``label`` (str;
``Ambiguous`` marks Thumos14's hard-to-label spans, not a class), ``split`` (str),
and ``fps``, ``duration`` (float, NaN where the file does not say).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError

COLUMNS = ["video_id", "t_start", "t_end", "label", "split", "fps", "duration"]


def make_table(rows: dict[str, list] | pd.DataFrame, source: str | os.PathLike) -> pd.DataFrame:
    """Normalise column types and order; check ``0 <= t_start <= t_end``."""
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan if col in ("fps", "duration") else ""
    df = df[COLUMNS].copy()
    for col in ("video_id", "label", "split"):
        df[col] = df[col].astype(str)
    for col in ("t_start", "t_end", "fps", "duration"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
    bad = ~np.isfinite(df["t_start"]) | ~np.isfinite(df["t_end"]) | (df["t_start"] < 0) | (df["t_end"] < df["t_start"])
    if bad.any():
        first = df[bad].iloc[0]
        raise NemiInputError(f"{source}: {int(bad.sum())} bad segment(s), e.g. {first['video_id']} "
                             f"[{first['t_start']}, {first['t_end']}]")
    return df.reset_index(drop=True)


def load_json(path: str | os.PathLike):
    import json

    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: file not found")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NemiInputError(f"{p}: not valid JSON ({err})") from None


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
        raise NemiInputError(f"{p}: missing column(s) {missing}")
    return df
