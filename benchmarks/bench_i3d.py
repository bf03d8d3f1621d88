"""I3D throughput per stream: batched versus one clip at a time, and (on a GPU) data wait.

    python benchmarks/bench_i3d.py --device auto --seconds 10

Section 1 (any device): clips/s of ``features_for_clips`` on ready-made 16x224x224
clips, RGB (3 channels) and flow (2 channels), one clip per call versus batches of
``--batch``, same model and same run, the two taking turns; clips/s is from the
median call. On CUDA the rows are mixed precision (autocast float16) and float32
side by side.

Section 2 (CUDA only): the same call fed by a torch DataLoader whose workers JPEG-
decode 16 frames per clip (as frame shards store them) and scale them to [-1, 1].
"wait" is the share of wall time the loop spends blocked on the next batch; the
feature copy back to the host synchronises every step, so the GPU is idle then.
Rows compare 0 workers (loading in the main process) with ``--workers``.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Iterator

import numpy as np
import torch

from nemi.i3d import build_i3d, features_for_clips, select_device

T, SIZE = 16, 224


def _clips(channels: int, n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(channels, T, SIZE, SIZE, generator=g) * 2 - 1 for _ in range(n)]


def interleaved(model: torch.nn.Module, channels: int, batches: tuple[int, ...], device: torch.device,
                amp: bool, seconds: float, min_rounds: int = 3) -> dict[int, list[float]]:
    """Seconds per clip of each call, per batch size, the sizes taking turns.

    Taking turns (ABAB...) and reporting medians keeps the comparison fair on a
    machine whose load changes while the benchmark runs.
    """
    clips = {b: _clips(channels, b) for b in batches}
    for b in batches:
        features_for_clips(model, clips[b], b, device, amp)  # warm-up: allocator, cuDNN/oneDNN plans
    per_clip: dict[int, list[float]] = {b: [] for b in batches}
    t_start, rounds = time.perf_counter(), 0
    while rounds < min_rounds or time.perf_counter() - t_start < seconds * len(batches):
        for b in batches:
            t0 = time.perf_counter()
            features_for_clips(model, clips[b], b, device, amp)
            per_clip[b].append((time.perf_counter() - t0) / b)
        rounds += 1
    return per_clip


class JpegClips(torch.utils.data.Dataset):
    """Clips decoded from JPEG frames in the worker, like reading a frame shard."""

    def __init__(self, channels: int, n_clips: int) -> None:
        import cv2

        rng = np.random.default_rng(0)
        # Smooth random images compress like video frames, not like white noise.
        small = rng.integers(0, 256, size=(32, SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
        self.jpegs = [cv2.imencode(".jpg", cv2.resize(f, (SIZE, SIZE)), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
                      for f in small]
        self.channels, self.n = channels, n_clips

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        import cv2

        frames = np.stack([cv2.imdecode(self.jpegs[(i + k) % len(self.jpegs)], cv2.IMREAD_COLOR)
                           for k in range(T)])  # [T, H, W, 3] uint8
        x = torch.from_numpy(frames[..., : self.channels]).permute(3, 0, 1, 2).float()
        return x / 127.5 - 1.0


class _Timed:
    """Wraps an iterator: adds up the time spent waiting in next(), ends after ``seconds``."""

    def __init__(self, it: Iterator[torch.Tensor], seconds: float) -> None:
        self.it, self.seconds, self.waited, self.t0 = it, seconds, 0.0, 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self) -> torch.Tensor:
        t0 = time.perf_counter()
        self.t0 = self.t0 or t0
        if t0 - self.t0 >= self.seconds:
            raise StopIteration
        try:
            return next(self.it)
        finally:
            self.waited += time.perf_counter() - t0


def loader_run(model: torch.nn.Module, channels: int, batch: int, workers: int, device: torch.device,
               amp: bool, seconds: float) -> tuple[int, float, float]:
    """(clips, seconds, wait share) of features_for_clips fed by a DataLoader for ``seconds``."""
    loader = torch.utils.data.DataLoader(JpegClips(channels, 1_000_000), batch_size=batch, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=False,
                                         prefetch_factor=4 if workers else None)
    it = iter(loader)
    features_for_clips(model, [next(it)], batch, device, amp)  # warm-up; workers have started
    timed = _Timed(it, seconds)
    t0 = time.perf_counter()
    feats = features_for_clips(model, timed, batch, device, amp)
    elapsed = time.perf_counter() - t0
    return len(feats), elapsed, timed.waited / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds per row (section 1: at least 3 calls of each batch size)")
    parser.add_argument("--batch", type=int, default=0, help="batch size (default: 8 on CPU, 32 on CUDA)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers for section 2")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device() if args.device == "auto" else torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (32 if cuda else 8)
    name = torch.cuda.get_device_name(device) if cuda else f"{platform.machine()} CPU"
    print(f"# I3D clips of {T}x{SIZE}x{SIZE}; device {device} ({name}); torch {torch.__version__}; "
          f"{torch.get_num_threads()} CPU threads; {args.seconds:g} s per row")

    print("\n## 1. model throughput (ready-made clips)")
    print(f"{'stream':<6} {'precision':<9} {'mode':<16} {'calls':>5} {'clips':>6} {'clips/s':>8} {'speed-up':>8}")
    precisions = [("amp-fp16", True), ("fp32", False)] if cuda else [("fp32", False)]
    for stream, channels in (("rgb", 3), ("flow", 2)):
        model = build_i3d(channels).to(device)
        for label, amp in precisions:
            per_clip = interleaved(model, channels, (1, batch), device, amp, args.seconds)
            base = 1.0 / float(np.median(per_clip[1]))
            for mode, b in (("one at a time", 1), (f"batched ({batch})", batch)):
                rate = 1.0 / float(np.median(per_clip[b]))
                calls = len(per_clip[b])
                print(f"{stream:<6} {label:<9} {mode:<16} {calls:>5} {calls * b:>6} {rate:>8.2f} {rate / base:>7.2f}x")

    if not cuda:
        print("\n## 2. DataLoader-fed GPU loop: skipped (no CUDA device)")
        return
    print(f"\n## 2. DataLoader-fed loop, amp-fp16, batch {batch}, JPEG-decoding workers")
    print(f"{'stream':<6} {'workers':>7} {'clips':>6} {'s':>7} {'clips/s':>8} {'GPU waits':>9}")
    for stream, channels in (("rgb", 3), ("flow", 2)):
        model = build_i3d(channels).to(device)
        for workers in (0, args.workers):
            n, s, wait = loader_run(model, channels, batch, workers, device, True, args.seconds)
            print(f"{stream:<6} {workers:>7} {n:>6} {s:>7.1f} {n / s:>8.2f} {wait:>8.1%}")


if __name__ == "__main__":
    main()
