"""Optical-flow throughput at 224x224: TV-L1 vs DIS vs Farneback, side by side, on real frames.

Frames come from ../shared/data/videos (short side resized to 224, centre crop 224x224,
grayscale), the same preparation as the flow stream of ``nemi features extract``.
Each method runs on the same consecutive pairs, single-threaded OpenCV and with
OpenCV's default threads. Prints a Markdown table on stdout.

    python benchmarks/bench_flow.py [--pairs 40] [--video mmaction2_test.mp4]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from nemi.features.clips import crop_frame
from nemi.features.flow import FLOW_METHODS, flow_params, make_flow, quantise_flow

SHARED = Path(__file__).resolve().parents[2] / "shared"


def load_gray(video: Path, n: int, size: int = 224) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    out: list[np.ndarray] = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        s = size / min(h, w)
        bgr = cv2.resize(bgr, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(crop_frame(bgr, size), cv2.COLOR_BGR2GRAY))
    cap.release()
    if len(out) < 2:
        raise SystemExit(f"{video}: could not read two frames")
    return out


def run(method: str, frames: list[np.ndarray], threads: int) -> tuple[float, float]:
    cv2.setNumThreads(threads)
    fn = make_flow(method)
    fn(frames[0], frames[1])  # warm-up (allocations)
    t0 = time.perf_counter()
    mags = []
    for a, b in zip(frames[:-1], frames[1:]):
        f = fn(a, b)
        quantise_flow(f)
        mags.append(float(np.abs(f).mean()))
    dt = time.perf_counter() - t0
    return (len(frames) - 1) / dt, float(np.mean(mags))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--video", default="mmaction2_test.mp4")
    args = ap.parse_args()
    frames = load_gray(SHARED / "data" / "videos" / args.video, args.pairs + 1)
    default_threads = cv2.getNumThreads()
    print(f"# Optical flow, {len(frames) - 1} pairs of 224x224 grayscale frames from {args.video}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, OpenCV {cv2.__version__}, "
          f"default OpenCV threads {default_threads}\n")
    print("| method | implementation | pairs/s (1 thread) | pairs/s (default threads) | mean abs flow (px) |")
    print("|---|---|---:|---:|---:|")
    for method in FLOW_METHODS:
        one, mag = run(method, frames, 1)
        many, _ = run(method, frames, default_threads)
        print(f"| {method} | {flow_params(method)['impl']} | {one:.1f} | {many:.1f} | {mag:.2f} |")
    cv2.setNumThreads(default_threads)


if __name__ == "__main__":
    main()
