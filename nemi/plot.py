"""``nemi plot timeline``: where the pipeline thinks activities begin and end, against the truth.

One PNG per video: the change curve, the threshold, the detected boundaries, the
pseudo-label activities and, where a ground-truth CSV is given, the true actions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nemi.errors import NemiInputError


def _ground_truth(path: str | None, video_id: str):
    if not path:
        return []
    import pandas as pd

    gt = pd.read_csv(path)
    missing = {"video_id", "t_start", "t_end"} - set(gt.columns)
    if missing:
        raise NemiInputError(f"{path}: ground truth lacks column(s) {sorted(missing)}")
    rows = gt[gt["video_id"] == video_id]
    labels = rows["label"] if "label" in rows else ["action"] * len(rows)
    return list(zip(rows["t_start"], rows["t_end"], labels))


def plot_timeline(curve_path: str, labels_path: str, video_id: str, out_path: str,
                  gt_path: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nemi import detectors
    from nemi.io.atomic import atomic_output
    from nemi.io.curves import read_curves
    from nemi.io.pseudo_labels import read_pseudo_labels

    kind, _, curves = read_curves(curve_path)
    if video_id not in curves:
        raise NemiInputError(f"{curve_path}: no curve for video {video_id}")
    doc = read_pseudo_labels(labels_path)
    if video_id not in doc["videos"]:
        raise NemiInputError(f"{labels_path}: no pseudo labels for video {video_id}")
    c, v = curves[video_id], doc["videos"][video_id]
    det = detectors.get(kind)
    params = det.from_record(doc["params"])  # what the labels stage used, as the file records it
    truth = _ground_truth(gt_path, video_id)

    fig, (ax, lane) = plt.subplots(2, 1, figsize=(12, 4.2), sharex=True, height_ratios=[3, 1.3],
                                   constrained_layout=True)
    ax.plot(c.t_s, c.distance, lw=0.8, color="0.25", label=f"{kind} change d_t")
    mask = det.boundaries(c.distance, params)
    line = det.threshold_line(c.distance, mask, params)
    if line is not None:
        ax.axhline(line[0], color="tab:red", lw=1, ls="--", label=line[1])
    for t in c.t_s[mask]:
        ax.axvline(t, color="tab:red", lw=0.6, alpha=0.6)
    ax.set_ylabel("distance")
    ax.set_title(f"{video_id}: {len(v['activities'])} pseudo activities, {int(mask.sum())} boundaries "
                 f"({doc['params']['rule']})", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)

    for i, (s, e) in enumerate(v["activities"]):
        lane.broken_barh([(s, e - s)], (1.1, 0.8), facecolors=("tab:blue", "tab:cyan")[i % 2])
    palette = plt.get_cmap("tab10")
    classes = sorted({lab for *_, lab in truth})
    for s, e, lab in truth:
        lane.broken_barh([(s, e - s)], (0.1, 0.8), facecolors=palette(classes.index(lab) % 10))
        lane.text((s + e) / 2, 0.5, str(lab), ha="center", va="center", fontsize=6, clip_on=True)
    lane.set_yticks([0.5, 1.5], ["truth" if truth else "(no truth)", "pseudo"])
    lane.set_ylim(0, 2)
    lane.set_xlim(0, v["duration_s"])
    lane.set_xlabel("time (s)")
    out = Path(out_path)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _run(args: argparse.Namespace) -> int:
    if args.video:
        if not args.out:
            raise NemiInputError("plot timeline: --video needs --out PNG")
        plot_timeline(args.curves, args.labels, args.video, args.out, args.gt)
        return 0
    if not args.out_dir:
        raise NemiInputError("plot timeline: give --video and --out, or --out-dir for every video")
    from nemi.io.curves import read_curves

    _, _, curves = read_curves(args.curves)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for vid in sorted(curves):
        plot_timeline(args.curves, args.labels, vid, str(out_dir / f"{vid}.png"), args.gt)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="figures")
    what = p.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    t = what.add_parser("timeline", help="change curve, threshold, boundaries and true actions of one video")
    t.add_argument("--curves", required=True, help="change-curve file holding the video")
    t.add_argument("--labels", required=True, help="pseudo-label JSON made from those curves")
    t.add_argument("--video", help="video id (default: every video in the curve file, needs --out-dir)")
    t.add_argument("--gt", help="ground-truth CSV video_id,t_start,t_end,label (optional)")
    t.add_argument("--out", help="PNG to write (with --video)")
    t.add_argument("--out-dir", help="folder for one PNG per video, named <video_id>.png")
    t.set_defaults(func=_run)
