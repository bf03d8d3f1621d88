"""Decoding benchmarks: speed on one core, peak memory and frame-file size of a 30-minute video.

(a) Decode + resample + HOG change curve of a 320x240 H.264 video on one core (the process
    is pinned to one CPU), next to decoding alone and to the naive alternative: every source
    frame converted to full-size RGB by PyAV (``to_ndarray()``) and resized by cv2.INTER_AREA.
(b) Peak RSS (``resource.getrusage`` of a child process) of ``nemi decode`` on a 30-minute
    340x256 30 fps H.264 video, and its frame file size in MB per minute, at the working size
    340x256 and 30 fps with JPEG quality 90 (and at the demo's 160x120, 15 fps).

Videos are generated once into benchmarks/out/ (git-ignored) with the demo renderer.
Run: ``python benchmarks/bench_decode.py`` (``--minutes 5`` for a quicker memory run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from nemi.params import build as build_params
import numpy as np

OUT = Path(__file__).resolve().parent / "out"
TAU_FPS = 15


def long_plan(minutes: float, fps: int, width: int, height: int, seed: int = 7):
    """One VideoPlan made by chaining the shots and actions of demo plans until ``minutes`` long."""
    from nemi.synth.plan import plan

    scenes, actions, t = [], [], 0.0
    k = 0
    while t < minutes * 60:
        for p in plan(8, seed + k, 0.5):
            base = len(scenes)
            scenes += [replace(s, t_start=s.t_start + t, t_end=s.t_end + t) for s in p.scenes]
            actions += [replace(a, t_start=a.t_start + t, t_end=a.t_end + t, scene=a.scene + base)
                        for a in p.actions]
            t += p.duration_s
        k += 1
    first = plan(1, seed)[0]
    n = int(minutes * 60 * fps)
    return replace(first, video_id="long", fps_num=fps, fps_den=1, width=width, height=height, n_frames=n,
                   scenes=tuple(scenes), actions=tuple(actions))


def make_video(path: Path, minutes: float, fps: int, width: int, height: int) -> Path:
    from nemi.io.atomic import atomic_output
    from nemi.synth.render import encode_video, render_frames

    if not path.exists():
        t0 = time.perf_counter()
        p = long_plan(minutes, fps, width, height)
        with atomic_output(path) as tmp:
            encode_video(render_frames(p), tmp, Fraction(fps), width, height)
        print(f"# generated {path.name}: {p.n_frames} frames in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


# --- (a) speed -------------------------------------------------------------------------------------------

def naive_timeline(path: Path, fps: float, width: int, height: int):
    """The alternative: every frame to full-size RGB, cv2 resize, then sample-and-hold by timestamp."""
    import av
    import cv2

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        prev, i = None, 0
        for f in c.decode(s):
            rgb = cv2.resize(f.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA)
            t = float(f.pts * s.time_base)
            while prev is not None and i / fps < t:
                yield prev
                i += 1
            prev = rgb
        end = t + 1 / float(s.average_rate)
        while i / fps < end - 1e-9:
            yield prev
            i += 1


def bench_speed(path: Path, repeats: int = 5) -> list[dict]:
    import av

    from nemi.detectors.hog import hog_distance_curve
    from nemi.decode import DecodeParams, decode_shard, iter_timeline

    with av.open(str(path)) as c:
        n_src = c.streams.video[0].frames
    def ours(fps: float):
        return iter_timeline(path, fps, 160, 120)

    def naive(fps: float):
        return naive_timeline(path, fps, 160, 120)

    cases = {
        "ours: decode -> 15 fps 160x120 (shown frames only)": lambda: sum(1 for _ in ours(15)),
        "naive: every frame to RGB + cv2.resize -> 15 fps": lambda: sum(1 for _ in naive(15)),
        "ours: decode 15 fps 160x120 + HOG curve": lambda: 1 + len(hog_distance_curve(ours(15))),
        "naive: decode 15 fps 160x120 + HOG curve": lambda: 1 + len(hog_distance_curve(naive(15))),
        "ours: decode 30 fps (every frame) + HOG curve": lambda: 1 + len(hog_distance_curve(ours(30))),
        "ours: nemi decode stage, JPEG q90 shard, 15 fps": lambda: _decode_stage(
            path, decode_shard, build_params(DecodeParams, dict(fps=15, width_px=160, height_px=120))),
    }
    rows = []
    for name, fn in cases.items():
        best, n = float("inf"), 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            n = fn()
            best = min(best, time.perf_counter() - t0)
        rows.append({"case": name, "source_frames": n_src, "timeline_frames": n, "seconds": best,
                     "source_fps": n_src / best, "timeline_fps": n / best})
    return rows


def _decode_stage(path: Path, decode_shard, params) -> int:
    import h5py

    out = OUT / "speed_shard.h5"
    decode_shard([("v", str(path))], out, OUT / "speed_skipped.csv", params)
    with h5py.File(out) as f:
        return int(f["v"].attrs["frame_count"])


# --- (b) memory ------------------------------------------------------------------------------------------

def child_decode(path: str, out: str, fps: float, width: int, height: int, codec: str) -> None:
    """Runs in a fresh process: decode one video, print time and peak RSS as JSON."""
    from nemi.decode import DecodeParams, decode_shard

    t0 = time.perf_counter()
    decode_shard([("v", path)], out, out + ".skipped.csv",
                 build_params(DecodeParams, dict(fps=fps, width_px=width, height_px=height, codec=codec,
                                                 jpeg_quality=90)))
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_memory(path: Path, minutes: float, fps: float, width: int, height: int, codec: str = "jpeg") -> dict:
    import h5py

    out = OUT / f"mem_{path.stem}_{width}x{height}_{fps:g}_{codec}.h5"
    r = subprocess.run([sys.executable, __file__, "--child-decode", str(path), str(out), str(fps), str(width),
                        str(height), codec], check=True, capture_output=True, text=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    with h5py.File(out) as f:
        n = int(f["v"].attrs["frame_count"])
    size_mb = out.stat().st_size / 1e6
    out.unlink()
    Path(str(out) + ".skipped.csv").unlink()
    return {"video": path.name, "minutes": minutes, "working": f"{width}x{height} @ {fps:g} fps, {codec}",
            "frames": n, "seconds": res["seconds"], "peak_rss_mb": res["maxrss_mb"], "file_mb": size_mb,
            "mb_per_min": size_mb / minutes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the long video for (b)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--child-decode", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_decode:
        p, o, fps, w, h, codec = args.child_decode
        child_decode(p, o, float(fps), int(w), int(h), codec)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    import av

    print(f"# machine: {os.cpu_count()} CPUs ({os.uname().machine}), PyAV {av.__version__}, "
          f"numpy {np.__version__}")
    v320 = make_video(OUT / "bench_320x240_30fps_60s.mp4", 1.0, 30, 320, 240)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})   # (a) is about one core
    print("\n## (a) one core: 320x240 H.264, 30 fps, 60 s (1800 source frames); best of 5")
    print(f"{'case':52s} {'timeline fr':>11s} {'s':>7s} {'source fr/s':>12s} {'timeline fr/s':>14s}")
    for r in bench_speed(v320):
        print(f"{r['case']:52s} {r['timeline_frames']:11d} {r['seconds']:7.3f} {r['source_fps']:12.0f} "
              f"{r['timeline_fps']:14.0f}")
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    if args.skip_memory:
        return
    long = make_video(OUT / f"bench_340x256_30fps_{args.minutes:g}min.mp4", args.minutes, 30, 340, 256)
    one = make_video(OUT / "bench_340x256_30fps_1min.mp4", 1.0, 30, 340, 256)
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "mmaction2_demo.mp4"
    print("\n## (b) peak memory and frame file size (child process per row; JPEG quality 90)")
    print(f"{'video':34s} {'working size / codec':30s} {'frames':>7s} {'s':>7s} {'peak RSS MB':>11s} "
          f"{'file MB':>8s} {'MB/min':>7s}")
    rows = [bench_memory(long, args.minutes, 30, 340, 256), bench_memory(long, args.minutes, 15, 160, 120),
            bench_memory(one, 1.0, 30, 340, 256, "raw")]
    if real.exists():
        rows.append(bench_memory(real, 10 / 60, 30, 340, 256))
    for r in rows:
        print(f"{r['video']:34s} {r['working']:30s} {r['frames']:7d} {r['seconds']:7.1f} {r['peak_rss_mb']:11.0f} "
              f"{r['file_mb']:8.1f} {r['mb_per_min']:7.1f}")


if __name__ == "__main__":
    main()
