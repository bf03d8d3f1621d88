"""Peak memory of ``nemi features extract`` as a function of video length (streamed vs. holding the video).

For each duration a frame shard with one generated video (a textured pattern that
moves, ``--size`` working frames, JPEG as ``decode.codec: jpeg``) is written, then
features are extracted in a fresh process (random-init I3D, cross-modality flow
stream, ``--flow`` optical flow) and its peak resident memory is read from
``getrusage``. The alternative column is what holding the whole video's network
input in memory would take (cropped RGB + flow, uint8), computed, not run.

    python benchmarks/bench_features_memory.py --minutes 0.5 1 2 --crop 32
    python benchmarks/bench_features_memory.py --minutes 60 --crop 112 --device cuda   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nemi.params import build as build_params
import numpy as np


def make_shard(path: Path, minutes: float, fps: float, width: int, height: int) -> int:
    from nemi.io.frames import FrameShardWriter

    n = int(round(minutes * 60 * fps))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)

    def frames():
        for i in range(n):
            dy, dx = (i // 3) % height, i % width  # slow motion, so flow is not trivial
            yield np.ascontiguousarray(base[dy:dy + height, dx:dx + width])

    with FrameShardWriter(path, codec="jpeg", jpeg_quality=90, root_attrs={"params_json": "{}"}) as w:
        w.add_video("long", frames(), width=width, height=height, target_fps=fps, attrs={
            "source_path": "generated", "source_size_bytes": 0, "source_fps": fps, "source_frame_count": n,
            "duration_s": n / fps})
    return n


def child(args: argparse.Namespace) -> None:
    import torch

    from nemi.features.extract import ExtractParams, StreamModels, extract_shard
    from nemi.i3d import build_i3d

    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rgb = build_i3d(3)
    flow = build_i3d(2)
    params = build_params(ExtractParams, dict(snippet_frames=8, window_frames=16, crop_px=args.crop,
                                              flow_method=args.flow,
                           batch_size=args.batch_size, device=args.device))
    weights = {"rgb_weights": "random-init", "rgb_weights_sha256": "", "flow_weights": "random-init",
               "flow_weights_sha256": ""}
    t0 = time.perf_counter()
    extract_shard(args.frames, args.out, params, StreamModels(rgb=rgb, flow=flow, weights=weights))
    dt = time.perf_counter() - t0
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "seconds": dt, "gpu_peak_mb": gpu_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--size", default="160x120", help="working frame size WxH (the demo's decode size)")
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--flow", default="dis")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--frames", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    width, height = map(int, args.size.split("x"))
    print(f"# features extract peak memory: {args.size} working frames at {args.fps:g} fps, crop {args.crop}, "
          f"{args.flow} flow, random-init I3D both streams, batch {args.batch_size}, device {args.device}")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| video (min) | frames | snippets | extract time (s) | peak RSS, streamed (MB) | GPU peak (MB) "
          "| whole video held, uint8 rgb+flow at this crop / at 224 (MB, computed) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            frames = Path(tmp) / f"frames_{minutes:g}.h5"
            n = make_shard(frames, minutes, args.fps, width, height)
            cmd = [sys.executable, __file__, "--child", "--frames", str(frames), "--out", str(Path(tmp) / "f.h5"),
                   "--crop", str(args.crop), "--flow", args.flow, "--batch-size", str(args.batch_size),
                   "--device", args.device]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
                             .splitlines()[-1])
            whole, whole224 = (n * c * c * 5 / 2**20 for c in (args.crop, 224))
            print(f"| {minutes:g} | {n} | {-(-n // 8)} | {res['seconds']:.0f} | {res['peak_rss_mb']:.0f} "
                  f"| {res['gpu_peak_mb']:.0f} | {whole:.0f} / {whole224:.0f} |", flush=True)
            frames.unlink()


if __name__ == "__main__":
    main()
