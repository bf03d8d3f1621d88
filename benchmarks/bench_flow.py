"""Optical-flow throughput: OpenCV TV-L1, tvl1-torch, DIS and Farneback at 224x224 and 340x256, on real frames.

Frames come from ../shared/data/videos, grey: at 224x224 the short side is resized to
224 and centre-cropped (the flow stream of ``nemi features extract``), at 340x256 the
frame is resized to the decode stage's size. Each method runs on the same consecutive
pairs, once on one thread (OpenCV and torch) and once with the default threads.
tvl1-torch on the CPU computes all pairs of the run in one batch. When a CUDA GPU is
present, tvl1-torch also runs there at batch sizes 1 to 64 (fp32); without one that
part is skipped with a note. Prints Markdown tables on stdout.

    python benchmarks/bench_flow.py [--pairs 40] [--tvl1-pairs 8] [--video mmaction2_test.mp4]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from nemi.features.clips import crop_frame
from nemi.features.flow import flow_params, make_batch_flow, quantise_flow

SHARED = Path(__file__).resolve().parents[2] / "shared"
SIZES = ((224, 224), (340, 256))
CUDA_BATCHES = (1, 2, 4, 8, 16, 32, 64)


def load_gray(video: Path, n: int, size: int | tuple[int, int] = 224) -> list[np.ndarray]:
    """``n`` grey frames: ``size`` an int = short side to ``size`` then centre crop; (w, h) = resized to it."""
    cap = cv2.VideoCapture(str(video))
    out: list[np.ndarray] = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        if isinstance(size, tuple):
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        else:
            h, w = bgr.shape[:2]
            s = size / min(h, w)
            bgr = cv2.resize(bgr, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_AREA)
            bgr = crop_frame(bgr, size)
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cap.release()
    if len(out) < 2:
        raise SystemExit(f"{video}: could not read two frames")
    return out


def set_threads(n: int) -> None:
    cv2.setNumThreads(n)
    torch.set_num_threads(n)


def pairs_of(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack(frames[:-1]), np.stack(frames[1:])


def run(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
        batch: int) -> tuple[float, float]:
    """Pairs/s and mean |flow| of ``fn`` on the pairs ``(a[i], b[i])``, ``batch`` per call, quantisation included."""
    fn(a[:batch], b[:batch])  # warm-up (allocations, CUDA context)
    t0 = time.perf_counter()
    mags = []
    for i in range(0, len(a), batch):
        flows = fn(a[i:i + batch], b[i:i + batch])
        for f in flows:
            quantise_flow(f)
            mags.append(float(np.abs(f).mean()))
    return len(a) / (time.perf_counter() - t0), float(np.mean(mags))


def cpu_table(video: Path, pairs: int, tvl1_pairs: int, default_threads: int) -> None:
    print("| method | implementation | size | pairs | pairs/s (1 thread) | pairs/s (default threads) "
          "| mean \\|flow\\| (px) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for w, h in SIZES:
        size: int | tuple[int, int] = w if w == h else (w, h)
        frames = load_gray(video, pairs + 1, size)
        for method in ("tvl1", "tvl1-torch", "dis", "farneback"):
            few = frames[:tvl1_pairs + 1] if method.startswith("tvl1") else frames
            batch = len(few) - 1 if method == "tvl1-torch" else 1
            fn = make_batch_flow(method, device="cpu")
            set_threads(1)
            one, mag = run(fn, *pairs_of(few), batch)
            set_threads(default_threads)
            many, _ = run(fn, *pairs_of(few), batch)
            impl = flow_params(method)["impl"] + (f", batch {batch}" if method == "tvl1-torch" else "")
            print(f"| {method} | {impl} | {w}x{h} | {len(few) - 1} | {one:.2f} | {many:.2f} | {mag:.2f} |",
                  flush=True)


def cuda_table(video: Path, pairs: int) -> None:
    if not torch.cuda.is_available():
        print("\ntvl1-torch on CUDA: skipped, no CUDA device on this machine.")
        return
    name = torch.cuda.get_device_name()
    print(f"\n## tvl1-torch on {name}, fp32, pairs/s by batch size (host arrays in and out, quantisation on the CPU)\n")
    print("| size | " + " | ".join(f"batch {b}" for b in CUDA_BATCHES) + " |")
    print("|---|" + "---:|" * len(CUDA_BATCHES))
    fn = make_batch_flow("tvl1-torch", device="cuda")
    for w, h in SIZES:
        a, b = pairs_of(load_gray(video, pairs + 1, w if w == h else (w, h)))
        row = []
        for batch in CUDA_BATCHES:
            reps = -(-2 * batch // len(a))  # real pairs repeated to fill two calls of a full batch
            rate, _ = run(fn, np.tile(a, (reps, 1, 1))[:2 * batch], np.tile(b, (reps, 1, 1))[:2 * batch], batch)
            row.append(f"{rate:.1f}")
        print(f"| {w}x{h} | " + " | ".join(row) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40, help="pairs for DIS and Farneback (and CUDA)")
    ap.add_argument("--tvl1-pairs", type=int, default=8, help="pairs for the TV-L1 methods on the CPU")
    ap.add_argument("--video", default="mmaction2_test.mp4")
    ap.add_argument("--no-cpu", action="store_true", help="only the CUDA table")
    args = ap.parse_args()
    video = SHARED / "data" / "videos" / args.video
    default_threads = cv2.getNumThreads()
    torch_threads = torch.get_num_threads()
    print(f"# Optical flow on grey frames from {args.video}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, OpenCV {cv2.__version__} (default threads "
          f"{default_threads}), torch {torch.__version__} (default threads {torch_threads})\n")
    if not args.no_cpu:
        cpu_table(video, args.pairs, args.tvl1_pairs, default_threads)
    set_threads(default_threads)
    torch.set_num_threads(torch_threads)
    cuda_table(video, args.pairs)


if __name__ == "__main__":
    main()
