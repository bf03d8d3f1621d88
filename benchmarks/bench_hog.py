"""UoCTTI HOG throughput at 96x128 on one core: nemi.detectors.hog.descriptor vs cyvlfeat (VLFeat) vs scikit-image.

Usage: python benchmarks/bench_hog.py [--seconds 2.0] [--no-jit]

Pins the process to one CPU and sets every thread pool to one thread before NumPy and
Numba load, then times each implementation on the same 64 RGB frames (96x128, uint8,
decoded from a shared demo video when it is there, random otherwise), one frame per
call as the change detector uses it. scikit-image runs its own Dalal-Triggs HOG at
comparable settings (9 orientations, 8x8-pixel cells, 2x2-cell blocks): a speed
reference only, its values are not comparable. A second table times the first call
of nemi.detectors.hog.descriptor in fresh interpreters, with an empty and with a warm Numba cache.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import argparse  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HEIGHT, WIDTH, N_FRAMES = 96, 128, 64
VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def load_frames() -> tuple[np.ndarray, str]:
    """(N_FRAMES, 96, 128, 3) uint8 frames and where they came from."""
    try:
        import av

        path = sorted(VIDEOS.glob("*.mp4"))[0]
        frames = []
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(frame.reformat(width=WIDTH, height=HEIGHT, format="rgb24").to_ndarray())
                if len(frames) == N_FRAMES:
                    break
        if len(frames) == N_FRAMES:
            return np.stack(frames), f"{path.name}, resized by PyAV"
    except (ImportError, IndexError, OSError):
        pass
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (N_FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8), "random uint8"


def frames_per_second(fn: Callable[[np.ndarray], object], frames: np.ndarray, seconds: float) -> float:
    """Frames per second of fn applied to one frame at a time, best of 3 runs of ~seconds/3."""
    for frame in frames[:4]:
        fn(frame)  # warm up: JIT, caches
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            for frame in frames:
                fn(frame)
            count += len(frames)
        best = max(best, count / (time.perf_counter() - start))
    return best


def implementations() -> list[tuple[str, Callable[[np.ndarray], object], str]]:
    from nemi.detectors.hog.descriptor import hog

    impls: list[tuple[str, Callable[[np.ndarray], object], str]] = [
        ("nemi.detectors.hog.descriptor.hog (Numba)", lambda f: hog(f, 8), "UoCTTI, 12x16x31"),
    ]
    try:
        from cyvlfeat.hog import hog as vl_hog

        impls.append(("cyvlfeat.hog.hog (VLFeat C)", lambda f: vl_hog(f.astype(np.float32), 8), "UoCTTI, 12x16x31"))
    except ImportError:
        print("cyvlfeat not importable: skipped", file=sys.stderr)
    try:
        from skimage.feature import hog as sk_hog

        impls.append(
            (
                "skimage.feature.hog",
                lambda f: sk_hog(f, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), channel_axis=-1),
                "Dalal-Triggs, 11x15x2x2x9",
            )
        )
    except ImportError:
        print("scikit-image not importable: skipped", file=sys.stderr)
    return impls


_FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from nemi.detectors.hog.descriptor import hog
t1 = time.perf_counter()
hog(np.zeros((96, 128, 3), np.uint8) + np.arange(128, dtype=np.uint8)[None, :, None])
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def first_call_times() -> list[tuple[str, float, float]]:
    """(cache state, import s, first call s) in fresh interpreters with a private Numba cache."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for state in ("empty cache (compiles)", "warm cache (loads)"):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL], env=env, check=True, capture_output=True, text=True
            )
            imp, call = (float(v) for v in out.stdout.split())
            rows.append((state, imp, call))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per implementation (s)")
    parser.add_argument("--no-jit", action="store_true", help="skip the first-call (JIT compile) table")
    args = parser.parse_args()

    frames, source = load_frames()
    print(f"UoCTTI HOG, cell 8, one {HEIGHT}x{WIDTH} RGB frame per call, 1 core; frames: {source}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}")
    print(f"{'implementation':<30} {'variant, output':<26} {'frames/s':>10} {'us/frame':>10}")
    for name, fn, variant in implementations():
        fps = frames_per_second(fn, frames, args.seconds)
        print(f"{name:<30} {variant:<26} {fps:>10,.0f} {1e6 / fps:>10.1f}")

    if not args.no_jit:
        print()
        print(f"{'nemi.detectors.hog.descriptor first call, fresh process':<36} {'import s':>9} {'first call s':>13}")
        for state, imp, call in first_call_times():
            print(f"{state:<36} {imp:>9.3f} {call:>13.3f}")


if __name__ == "__main__":
    main()
