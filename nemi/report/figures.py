"""The report's figures as matplotlib Figures (never pyplot: no global state, no GUI backend).

Figure 2: ablation bars, mAP against tIoU, one panel per ablation kind. Figure 3: held-out AR@AN
per epoch, mean over seeds. Figure 3c: a decoder cross-attention map. Timelines: ground truth,
proposals and pseudo activities of a few test videos.
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nemi.errors import NemiInputError
from nemi.report.tables import ABLATION_SWITCH, ABLATIONS

DPI = 90
_MAP = re.compile(r"^mAP@([0-9.]+)_pct_mean$")
_VAL_AR = re.compile(r"^val_AR@(\d+)$")


def png_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI, so the HTML needs no file beside it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bar_label(row: Mapping[str, Any], kind: str) -> str:
    value = str(row[ABLATION_SWITCH[kind]]) or "none"
    if kind == "contrastive":
        value = {"true": "with contrastive", "false": "without contrastive"}.get(value, value)
    tag = " (reference)" if row["ablation"] == "reference" else ""
    return f"{value}{tag}: {row['experiment']}"


def ablation_figure(table: pd.DataFrame) -> Figure:
    """Figure 2 from an ablations table: per kind, bars per variant over tIoU, error bars = std over seeds."""
    kinds = [k for k in ABLATIONS if (table["ablation"] == k).any()]
    if not kinds:
        raise NemiInputError("ablations table: no row of an ablation kind, nothing to draw")
    thresholds = [m.group(1) for c in table.columns if (m := _MAP.match(c))]
    fig = Figure(figsize=(4.6 * len(kinds), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(kinds), squeeze=False)[0])
    x = np.arange(len(thresholds))
    for ax, kind in zip(axes, kinds):
        rows = table[(table["ablation"] == kind) | (table["ablation"] == "reference")]
        width = 0.8 / max(len(rows), 1)
        for i, (_, row) in enumerate(rows.iterrows()):
            means = [float(row[f"mAP@{t}_pct_mean"]) for t in thresholds]
            stds = [float(row[f"mAP@{t}_pct_std"]) for t in thresholds]
            ax.bar(x + (i - (len(rows) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
                   label=f"{_bar_label(row, kind)} (n={row['n_seeds']})")
        ax.set_xticks(x, thresholds)
        ax.set(xlabel="tIoU", ylabel="mAP (%)", title=f"ablation: {kind}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def read_epochs(path: str | os.PathLike) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: epochs.csv not found")
    try:
        df = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise NemiInputError(f"{p}: not a readable epochs CSV ({err})") from None
    if "epoch" not in df.columns or not pd.api.types.is_numeric_dtype(df["epoch"]):
        raise NemiInputError(f"{p}: no numeric epoch column (columns: {list(df.columns)})")
    return df


def curves(runs: Sequence[Mapping[str, Any]]) -> dict[int, pd.DataFrame]:
    """AN -> per-epoch mean and std of held-out AR over the runs that have it (columns epoch, mean, std, n)."""
    tables = [read_epochs(r["epochs"]) for r in runs]
    out: dict[int, pd.DataFrame] = {}
    ans = sorted({int(m.group(1)) for t in tables for c in t.columns if (m := _VAL_AR.match(c))})
    for an in ans:
        col = f"val_AR@{an}"
        long = pd.concat([t[["epoch", col]] for t in tables if col in t.columns], ignore_index=True).dropna()
        g = long.groupby("epoch")[col]
        out[an] = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n": g.size()}).reset_index()
    return out


def learning_figure(lines: Mapping[str, Sequence[Mapping[str, Any]]], what: str = "held-out") -> Figure | None:
    """Figure 3: AR@AN (percent) per epoch, one line per legend label (its runs: mean, band = std over seeds).

    ``lines``: label -> runs (each with an ``epochs`` CSV path). None when no run has held-out scores.
    """
    per_line = {label: curves(runs) for label, runs in lines.items()}
    ans = sorted({an for c in per_line.values() for an in c})
    if not ans:
        return None
    fig = Figure(figsize=(3.6 * len(ans), 3.2))
    axes = fig.subplots(1, len(ans), squeeze=False)[0]
    for ax, an in zip(axes, ans):
        for label, c in per_line.items():
            if an not in c:
                continue
            d = c[an]
            line = ax.plot(d["epoch"], 100 * d["mean"], label=f"{label} (n={int(d['n'].max())})")[0]
            ax.fill_between(d["epoch"], 100 * (d["mean"] - d["std"]), 100 * (d["mean"] + d["std"]),
                            color=line.get_color(), alpha=0.2)
        ax.set(xlabel="epoch (all stages)", ylabel="AR (%)", title=f"{what} AR@{an}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def attention_figure(weights: np.ndarray, gt_steps: np.ndarray, title: str) -> Figure:
    """Figure 3c: (queries, steps) attention, each query's row scaled to its maximum; ground truth as lines."""
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.subplots()
    im = ax.imshow(weights, aspect="auto", cmap="magma", interpolation="nearest", vmin=0.0, vmax=1.0,
                   extent=(0, weights.shape[1], weights.shape[0] - 0.5, -0.5))
    for k, (s, e) in enumerate(np.asarray(gt_steps, dtype=np.float64).reshape(-1, 2)):
        for b in (s, e):
            ax.axvline(b, color="cyan", lw=1.2, ls="--", label="ground-truth boundary" if k == 0 and b == s else None)
    if len(gt_steps):
        ax.legend(fontsize=7, loc="upper right")
    ax.set_yticks(range(weights.shape[0]))
    ax.set(xlabel="window step", ylabel="query", title=title)
    fig.colorbar(im, ax=ax, label="attention / row max")
    fig.tight_layout()
    return fig


def timeline_figure(videos: Sequence[Mapping[str, Any]], top_n: int) -> Figure:
    """One panel per video: ground truth, the top proposals (shaded by score), each pseudo-label file's activities.

    Each video: {"video_id", "duration_s", "gt": (N, 2), "proposals": (M, 3) start, end, score,
    "pseudo": {name: (K, 2) or None when the file has no such video}}.
    """
    fig = Figure(figsize=(9, 1.9 * len(videos)))
    axes = fig.subplots(len(videos), 1, squeeze=False)[:, 0]
    for ax, v in zip(axes, videos):
        lanes: list[tuple[str, np.ndarray, Any]] = [("ground truth", np.asarray(v["gt"]).reshape(-1, 2), "tab:green")]
        props = np.asarray(v["proposals"], dtype=np.float64).reshape(-1, 3)
        lanes.append((f"top-{top_n} proposals", props[:, :2], "tab:blue"))
        for name, acts in v["pseudo"].items():
            lanes.append((f"pseudo: {name}" + ("" if acts is not None else " (video absent)"),
                          np.zeros((0, 2)) if acts is None else np.asarray(acts).reshape(-1, 2), "tab:orange"))
        for y, (_, segs, color) in enumerate(lanes):
            if y == 1:
                # Stacked thin bars: proposals overlap; alpha by score shows their ranking.
                scores = props[:, 2]
                lo, hi = (scores.min(), scores.max()) if len(scores) else (0.0, 1.0)
                for j, (s, e) in enumerate(segs):
                    alpha = 0.35 + 0.65 * ((scores[j] - lo) / (hi - lo) if hi > lo else 1.0)
                    h = 0.8 / max(len(segs), 1)
                    ax.broken_barh([(s, e - s)], (y - 0.4 + j * h, h), color=color, alpha=alpha)
            else:
                # White edges: pseudo activities tile the video, and their boundaries are what matters.
                ax.broken_barh([(s, e - s) for s, e in segs], (y - 0.35, 0.7), facecolor=color, edgecolor="white",
                               linewidth=1.5)
        ax.set_yticks(range(len(lanes)), [lane[0] for lane in lanes], fontsize=7)
        ax.set_xlim(0, float(v["duration_s"]))
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        ax.set_title(v["video_id"], fontsize=9)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    return fig
