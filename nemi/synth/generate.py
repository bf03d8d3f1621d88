"""Writing the demo dataset: videos, manifest, ground truth, Thumos14-style annotations, true changes.

Layout under ``out``::

    videos/<video_id>.mp4                H.264 (libx264, yuv420p)
    videos.csv                           manifest: video_id,path,split,fps,width,height,duration_s
                                         (path relative to the CSV's folder)
    annotations/groundtruth.csv          video_id,t_start,t_end,label,split (the evaluator's format)
    annotations/<split>/<Class>_<split>.txt   one line per instance: "video_id start end"
                                         (the official THUMOS'14 per-class format)
    annotations/scene_changes.csv        video_id,t_s,kind (kind: cut, action_start, action_end)
    synth.json                           parameters, classes, provenance

Every file is written through :func:`nemi.io.atomic.atomic_output`.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing as mp
import os
import time
from fractions import Fraction
from pathlib import Path

from nemi.io.atomic import atomic_output, write_text_atomic
from nemi.io.provenance import provenance
from nemi.synth.plan import CLASSES, SPLITS, VideoPlan, plan
from nemi.synth.render import encode_video, render_frames

log = logging.getLogger("nemi.synth")


def write_video(p: VideoPlan, path: str | os.PathLike) -> str:
    """Render and encode one planned video to ``path`` (atomically); return its id."""
    with atomic_output(path) as tmp:
        encode_video(render_frames(p), tmp, Fraction(p.fps_num, p.fps_den), p.width, p.height)
    return p.video_id


def _write_video_job(job: tuple[VideoPlan, str]) -> str:
    return write_video(*job)


def generate(out: str | os.PathLike, n_videos: int = 24, seed: int = 0, test_fraction: float = 0.5,
             workers: int | None = None, cut_inside_share: float = 0.0) -> list[VideoPlan]:
    """Write the whole demo dataset under ``out``; ``workers`` processes render videos (default: all cores)."""
    out = Path(out)
    t0 = time.perf_counter()
    plans = plan(n_videos, seed, test_fraction, cut_inside_share)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    jobs = [(p, str(out / "videos" / f"{p.video_id}.mp4")) for p in plans]
    # Longest videos first, so that no worker is left with a long one at the end.
    jobs.sort(key=lambda j: -j[0].n_frames * j[0].width * j[0].height)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        for job in jobs:
            _write_video_job(job)
    else:
        with mp.get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
            for done, vid in enumerate(pool.imap_unordered(_write_video_job, jobs), start=1):
                log.debug("synth: %s written (%d/%d)", vid, done, len(jobs))
    write_annotations(out, plans)
    elapsed = time.perf_counter() - t0
    meta = {
        **provenance("synth"),
        "params": {"n_videos": n_videos, "seed": seed, "test_fraction": test_fraction,
                   "cut_inside_share": cut_inside_share},
        "classes": list(CLASSES),
        "n_frames_total": sum(p.n_frames for p in plans),
        "n_actions": sum(len(p.actions) for p in plans),
        "n_cuts": sum(len(p.cuts) for p in plans),
        "n_cuts_inside_actions": sum(any(a.t_start < c < a.t_end for a in p.actions) for p in plans for c in p.cuts),
        "workers": workers,
        "elapsed_s": round(elapsed, 2),
    }
    write_text_atomic(out / "synth.json", json.dumps(meta, indent=2) + "\n")
    log.info("synth: %d videos, %d frames, %d actions, %d cuts in %.1f s (%d workers) -> %s", len(plans),
             meta["n_frames_total"], meta["n_actions"], meta["n_cuts"], elapsed, workers, out)
    return plans


def write_annotations(out: Path, plans: list[VideoPlan]) -> None:
    """Manifest, ground truth, per-class Thumos14-style files and true scene changes."""
    _write_csv(out / "videos.csv", ["video_id", "path", "split", "fps", "width", "height", "duration_s"],
               [[p.video_id, f"videos/{p.video_id}.mp4", p.split, _num(p.fps), p.width, p.height,
                 _num(p.duration_s)] for p in plans])
    _write_csv(out / "annotations" / "groundtruth.csv", ["video_id", "t_start", "t_end", "label", "split"],
               [[p.video_id, _num(a.t_start), _num(a.t_end), a.label, p.split] for p in plans for a in p.actions])
    _write_csv(out / "annotations" / "scene_changes.csv", ["video_id", "t_s", "kind"],
               [[p.video_id, _num(t), kind] for p in plans for t, kind in p.changes()])
    for split in SPLITS:
        for label in CLASSES:
            lines = [f"{p.video_id} {a.t_start:.3f} {a.t_end:.3f}\n" for p in plans if p.split == split
                     for a in p.actions if a.label == label]
            write_text_atomic(out / "annotations" / split / f"{label}_{split}.txt", "".join(lines))


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
