"""Read and check ground-truth and prediction CSV files; write result files.

Ground truth: ``video_id,t_start,t_end[,label]`` (optional ``fps``, ``duration``,
``split``); predictions: ``video_id,t_start,t_end,score[,label]``.  Times are seconds,
the first line is a header, other columns are ignored.  Every problem is reported as
:class:`~nemi.errors.NemiInputError` naming the file, the line (1 = header) and what
is wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.atomic import atomic_output

AMBIGUOUS = "Ambiguous"
GT_COLUMNS = ("video_id", "t_start", "t_end")
PRED_COLUMNS = ("video_id", "t_start", "t_end", "score")
OPTIONAL_NUMERIC = ("fps", "duration")


def _read_csv(path: str | os.PathLike, required: tuple[str, ...]) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: file not found")
    try:
        # index_col=False: a row with an extra field is an error naming its line, never a shifted row.
        df = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False)
    except pd.errors.EmptyDataError:
        raise NemiInputError(f"{p}: empty file (expected a header line with {', '.join(required)})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise NemiInputError(f"{p}: not a readable CSV file ({err})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise NemiInputError(
            f"{p}: missing column(s) {missing}; the header has {list(df.columns)} "
            f"and must have {list(required)}"
        )
    if df.empty:
        raise NemiInputError(f"{p}: no data rows below the header")
    return df


def _bad_rows(path: Path, df: pd.DataFrame, mask: np.ndarray, problem: str) -> None:
    if mask.any():
        rows = np.flatnonzero(mask)
        lines = ", ".join(str(int(df["line"].iat[i])) for i in rows[:5])
        more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
        raise NemiInputError(f"{path}: line {lines}{more}: {problem}")


def _numeric(path: Path, df: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(df[column].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        _bad_rows(path, df, bad, f"{column} must be a finite number, got {df[column].iat[first]!r}")
    return values


def _check_strings(path: Path, df: pd.DataFrame, column: str) -> None:
    df[column] = df[column].str.strip()
    _bad_rows(path, df, (df[column] == "").to_numpy(), f"{column} is empty")


def _segments(path: Path, df: pd.DataFrame, *, allow_empty: bool, allow_negative: bool = False) -> None:
    df["t_start"] = _numeric(path, df, "t_start")
    df["t_end"] = _numeric(path, df, "t_end")
    start, end = df["t_start"].to_numpy(), df["t_end"].to_numpy()
    if not allow_negative:
        _bad_rows(path, df, start < 0, "negative t_start (times are seconds from the start of the video)")
    _bad_rows(path, df, end < start, "reversed segment (t_end < t_start)")
    if not allow_empty:
        _bad_rows(path, df, end == start, "zero-length segment (t_end == t_start)")


def read_ground_truth(path: str | os.PathLike, *, keep_ambiguous: bool = False) -> pd.DataFrame:
    """Ground truth table: ``video_id, t_start, t_end`` (+ ``label``, ``fps``, ... when present).

    Rows labelled ``Ambiguous`` are dropped unless ``keep_ambiguous``.  Segments must
    have ``0 <= t_start <= t_end``.
    """
    p = Path(path)
    df = _read_csv(p, GT_COLUMNS)
    df.insert(0, "line", np.arange(2, len(df) + 2))
    _check_strings(p, df, "video_id")
    # Zero-length segments are kept, as the reference keeps them (BSN's ActivityNet
    # files hold a few); no prediction can reach a positive tIoU with one.
    _segments(p, df, allow_empty=True)
    if "label" in df.columns:
        _check_strings(p, df, "label")
        if not keep_ambiguous:
            df = df[df["label"] != AMBIGUOUS]
    for col in OPTIONAL_NUMERIC:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    if df.empty:
        raise NemiInputError(f"{p}: no ground-truth segments left (all rows were {AMBIGUOUS})")
    keep = [c for c in ("video_id", "t_start", "t_end", "label", "fps", "duration", "split", "line") if c in df]
    return df[keep].reset_index(drop=True)


def select_split(gt: pd.DataFrame, split: str | None, source: str | os.PathLike) -> pd.DataFrame:
    """The ground-truth rows of ``split`` (None: every row).

    A ground-truth CSV often holds every split (the adapters write one ``split`` column), and scoring
    test predictions against the training split's segments too counts those as missed: the test split's
    own ground truth given as predictions then scores far below 100 %.
    """
    if split is None:
        return gt
    if "split" not in gt.columns:
        raise NemiInputError(f"{source}: no split column, so split {split!r} cannot be selected "
                             f"(drop --split to score every row)")
    values = gt["split"].astype(str).str.strip()
    keep = (values == split).to_numpy()
    if not keep.any():
        found = ", ".join(repr(v) for v in sorted(set(values))) or "none"
        raise NemiInputError(f"{source}: no ground-truth row of split {split!r}; its split column has {found}")
    return gt[keep].reset_index(drop=True)


def read_predictions(path: str | os.PathLike, *, require_label: bool = False) -> pd.DataFrame:
    """Prediction table: ``video_id, t_start, t_end, score`` (+ ``label``) and ``line``.

    ``line`` is the row's line number in the file (1 is the header), kept for messages.
    Segments that start before 0 (or end after the video) are taken as given, as ActivityNet's
    and RTD-Net's evaluation take them; reversed segments are refused.
    """
    p = Path(path)
    required = PRED_COLUMNS + (("label",) if require_label else ())
    df = _read_csv(p, required)
    df.insert(0, "line", np.arange(2, len(df) + 2))
    _check_strings(p, df, "video_id")
    _segments(p, df, allow_empty=True, allow_negative=True)
    df["score"] = _numeric(p, df, "score")
    if "label" in df.columns:
        _check_strings(p, df, "label")
    keep = [c for c in ("video_id", "t_start", "t_end", "score", "label", "line") if c in df]
    return df[keep].reset_index(drop=True)


def check_table(df: pd.DataFrame, required: tuple[str, ...], what: str) -> pd.DataFrame:
    """Check an in-memory table passed to the library API; adds ``line`` if absent."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise NemiInputError(f"{what}: missing column(s) {missing}")
    if "line" not in df.columns:
        df = df.assign(line=np.arange(2, len(df) + 2))
    return df.reset_index(drop=True)


def write_json(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> None:
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False)


def group_rows(video_ids: pd.Series) -> dict[str, np.ndarray]:
    """Row indices of each video, in input order (one stable sort, no per-video scan)."""
    codes, uniques = pd.factorize(video_ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {str(v): order[bounds[i]:bounds[i + 1]] for i, v in enumerate(uniques)}


def write_proposals(out_csv: str | os.PathLike, table: pd.DataFrame, info: dict[str, Any]) -> None:
    """``video_id,t_start,t_end,score``, ``<out>.json`` (the record ``info``) beside it, and
    ``<out>.videos.txt``: ``info["video_ids"]``, the videos proposed for (one id a line, what
    ``nemi evaluate --videos`` reads to evaluate just that split)."""
    from nemi.io.atomic import write_text_atomic

    write_csv(out_csv, table[list(PRED_COLUMNS)])
    base = Path(str(out_csv)).with_suffix("")
    write_json(f"{base}.json", info)
    write_text_atomic(f"{base}.videos.txt", "".join(f"{v}\n" for v in info["video_ids"]))
