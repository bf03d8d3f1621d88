"""tvl1-torch against OpenCV's CPU TV-L1: endpoint differences and I3D flow-feature cosine, on real and demo frames.

Frames: each clip in ../shared/data/videos and demo videos rendered by ``nemi.synth``
(frames from the start of their first action, so an object moves), resized to the
decode stage's 340x256 and centre-cropped to 224 as ``nemi features extract`` does;
grey for the flow. OpenCV's ``cv2.optflow.DualTVL1OpticalFlow`` runs with the CUDA
defaults where its parameters allow (tau 0.25, lambda 0.15, theta 0.3, 5 scales,
scale step 0.8, 5 warps, epsilon 0.01, gamma 0, 300 iterations in one inner loop,
no median filter; its remaining differences: zero border and a = -0.75 in the cubic
warp, half-pixel pyramid, the stopping error computed every iteration).

Per source: mean and 95th percentile of the endpoint difference (px) over all pixels,
and the mean over the interior (16 px from the border left out); the flow then goes
through the dense_flow quantisation into the flow I3D, one 16-frame window per
snippet, and the cosine similarity of the two Mixed_5c features is reported per
snippet. The flow I3D is the cross-modality init from the Kinetics RGB weights when
the weights file exists (``nemi i3d convert``), else a random init (seed 0); the
table says which.

    python benchmarks/compare_tvl1.py [--snippets 2] [--demo-videos 2] [--rgb-weights PATH] [--device auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from nemi.features.clips import crop_frame
from nemi.features.flow import FLOW_BOUND_PX, flow_to_unit, quantise_flow
from nemi.features.tvl1_torch import TVL1Params, resolve_device, tvl1_flow

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_WEIGHTS = Path.home() / ".cache" / "nemi" / "i3d_kinetics400_rgb.pt"
WINDOW = 16
MARGIN = 16


def prepare(rgb: np.ndarray, crop: int) -> np.ndarray:
    return crop_frame(cv2.resize(rgb, (340, 256), interpolation=cv2.INTER_AREA), crop)


def real_clip(path: Path, n: int, crop: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(prepare(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), crop))
    cap.release()
    return out


def demo_clips(n_videos: int, n: int, crop: int) -> dict[str, list[np.ndarray]]:
    from nemi.synth.plan import plan
    from nemi.synth.render import render_frames

    out = {}
    for p in plan(n_videos=max(2, n_videos))[:n_videos]:
        start = round(p.actions[0].t_start * p.fps) if p.actions else 0
        frames = []
        for k, rgb in enumerate(render_frames(p)):
            if k >= start:
                frames.append(prepare(rgb, crop))
            if len(frames) == n:
                break
        out[f"{p.video_id} (demo)"] = frames
    return out


def opencv_tvl1(p: TVL1Params):
    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=p.tau, lambda_=p.lambda_, theta=p.theta, nscales=p.num_scales, warps=p.warps, epsilon=p.epsilon,
        innnerIterations=p.iterations, outerIterations=1, scaleStep=p.scale_step, gamma=p.gamma, medianFiltering=1)


def flow_model(weights: Path):
    from nemi.features.i3d import build_i3d
    from nemi.features.i3d_weights import cross_modality_flow_init, load_i3d

    if weights.is_file():
        rgb, _ = load_i3d(weights, in_channels=3)
        model = build_i3d(2, rgb.num_classes)
        model.load_state_dict(cross_modality_flow_init(rgb.state_dict()))
        return model.eval(), f"cross-modality init from {weights.name}"
    torch.manual_seed(0)
    return build_i3d(2).eval(), "random init, seed 0 (no RGB weights file)"


def i3d_input(flows: np.ndarray) -> torch.Tensor:
    """(T, H, W, 2) float px -> (2, T, H, W) network input, as the features stage makes it."""
    q = np.stack([quantise_flow(f) for f in flows])
    return torch.from_numpy(np.ascontiguousarray(flow_to_unit(q).transpose(3, 0, 1, 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snippets", type=int, default=2, help="16-frame windows per source")
    ap.add_argument("--demo-videos", type=int, default=2)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--rgb-weights", type=Path, default=Path(os.environ.get("NEMI_I3D_RGB", DEFAULT_WEIGHTS)))
    ap.add_argument("--device", default="auto", help="tvl1-torch device")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for OpenCV and torch")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    n = args.snippets * WINDOW + 1
    sources = {p.name: real_clip(p, n, args.crop) for p in sorted((SHARED / "data" / "videos").iterdir())}
    sources.update(demo_clips(args.demo_videos, n, args.crop))
    model, model_desc = flow_model(args.rgb_weights)
    params = TVL1Params()
    cv_tvl1 = opencv_tvl1(params)

    print(f"# tvl1-torch ({device}) vs OpenCV {cv2.__version__} CPU DualTVL1OpticalFlow, {args.crop}x{args.crop}, "
          f"{args.snippets} snippets of {WINDOW} frames per source")
    print(f"# flow I3D: {model_desc}; {platform.machine()}, {os.cpu_count()} CPUs, {args.threads} thread(s)")
    print("# EPE: endpoint difference to OpenCV (px); clipped: both flows clipped to +-20 px first (what the features "
          f"see); interior: {MARGIN} px from the border left out; border=zero: tvl1-torch reading zeros outside the "
          "image in the warp as OpenCV's CPU remap does (CUDA, and tvl1-torch's default, repeat the edge)\n")
    print("| source | pairs | mean \\|flow\\| | EPE mean | EPE p95 | EPE mean, clipped | EPE mean, interior "
          "| I3D cosine mean | I3D cosine min | border=zero: EPE mean | EPE p95 | I3D cosine mean "
          "| OpenCV s/pair | tvl1-torch s/pair |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    zero = dataclasses.replace(params, border="zero")
    totals: dict[str, list] = {k: [] for k in ("epe", "clip", "inner", "cos", "zepe", "zcos")}

    def cosines(ref: np.ndarray, ours: np.ndarray) -> list[float]:
        out = []
        for s in range(len(ref) // WINDOW):
            w = slice(s * WINDOW, (s + 1) * WINDOW)
            with torch.no_grad():
                f = model.extract_features(torch.stack([i3d_input(ref[w]), i3d_input(ours[w])]))
            out.append(float(torch.nn.functional.cosine_similarity(f[0:1], f[1:2]).item()))
        return out

    for name, frames in sources.items():
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        t0 = time.perf_counter()
        ref = np.stack([cv_tvl1.calc(a, b, None) for a, b in zip(grey[:-1], grey[1:])])
        t1 = time.perf_counter()
        ours = tvl1_flow(np.stack(grey[:-1]), np.stack(grey[1:]), params, device)
        t2 = time.perf_counter()
        ours_z = tvl1_flow(np.stack(grey[:-1]), np.stack(grey[1:]), zero, device)
        epe = np.linalg.norm(ours - ref, axis=-1)
        bound = FLOW_BOUND_PX
        clip = np.linalg.norm(np.clip(ours, -bound, bound) - np.clip(ref, -bound, bound), axis=-1)
        inner = epe[:, MARGIN:-MARGIN, MARGIN:-MARGIN]
        zepe = np.linalg.norm(ours_z - ref, axis=-1)
        cos, zcos = cosines(ref, ours), cosines(ref, ours_z)
        for k, v in (("epe", epe), ("clip", clip), ("inner", inner), ("zepe", zepe)):
            totals[k].append(v.ravel())
        totals["cos"] += cos
        totals["zcos"] += zcos
        print(f"| {name} | {len(ref)} | {np.abs(ref).mean():.2f} | {epe.mean():.3f} | {np.percentile(epe, 95):.3f} "
              f"| {clip.mean():.3f} | {inner.mean():.3f} | {np.mean(cos):.4f} | {np.min(cos):.4f} "
              f"| {zepe.mean():.3f} | {np.percentile(zepe, 95):.3f} | {np.mean(zcos):.4f} "
              f"| {(t1 - t0) / len(ref):.2f} | {(t2 - t1) / len(ref):.2f} |", flush=True)
    t = {k: np.concatenate(v) for k, v in totals.items() if k not in ("cos", "zcos")}
    print(f"| **all** | {sum(len(f) - 1 for f in sources.values())} | | **{t['epe'].mean():.3f}** "
          f"| **{np.percentile(t['epe'], 95):.3f}** | {t['clip'].mean():.3f} | {t['inner'].mean():.3f} "
          f"| **{np.mean(totals['cos']):.4f}** | {np.min(totals['cos']):.4f} | {t['zepe'].mean():.3f} "
          f"| {np.percentile(t['zepe'], 95):.3f} | {np.mean(totals['zcos']):.4f} | | |")
    print("\nGoals: mean EPE < 0.2 px; I3D flow-feature cosine >= 0.99 per snippet on average.")


if __name__ == "__main__":
    main()
