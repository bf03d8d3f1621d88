"""RTD-Net training speed: windows/s and peak memory, data loading timed beside the model step.

Random features (2048-d) and boundary scores for ``--videos`` videos of ``--steps`` steps each, one or
two segments per video, the windows nemi.windows builds from them, and the training loop's own parts:
``DataLoader`` (collate) time per batch against forward + criterion + backward + clip + AdamW time. Each
setting runs in a fresh process, so its peak resident memory (``getrusage``) is its own.

    python benchmarks/bench_train.py                       # demo and Thumos14 settings on the CPU
    python benchmarks/bench_train.py --setting thumos14 --device cuda --batches 50
    python benchmarks/bench_train.py --setting thumos14-rehearsal --batches 4

``thumos14-rehearsal`` trains the full Thumos14 model (schema defaults) on the windows a Thumos14 run
builds: the rehearsal's synthetic features (nemi.features.rehearsal, generated in memory) on the real
annotation files in ``--thumos14`` (default ``../shared/data/thumos14``), every training video, the
schema's window grid (100 steps of 5 frames, stride 25), through the adapter and the train stage's
reader, so "windows in the dataset" is the count one epoch steps through and "epoch s" its estimate.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

# model / train overrides per setting; the demo's are config.yaml's datasets.demo values.
SETTINGS = {
    "demo": {"model": {"hidden_dim": 128, "encoder_hidden_dim": 128, "ffn_dim": 256, "decoder_layers": 3,
                       "num_queries": 16, "window_steps": 50},
             "window": (50, 25), "batch": 8},
    "thumos14": {"model": {}, "window": (100, 25), "batch": 32},
    "thumos14-rehearsal": {"model": {}, "window": (100, 25), "batch": 32},
}


def rehearsal_windows(thumos14: str):
    """The training windows of a Thumos14 rehearsal run, built from the real annotation files."""
    import tempfile
    from pathlib import Path

    from nemi.features.rehearsal import LAYOUTS, RehearsalParams, prototypes, video_features
    from nemi.io.annotations.adapters import thumos14_tables
    from nemi.io.timebase import Timebase
    from nemi.params import build, defaults
    from nemi.train.data import read_annotations
    from nemi.windows.dataset import build_windows
    from nemi.windows.grid import WindowParams

    d = Path(thumos14)
    info = [d / "TH14_video_info.json", d / "thumos14_test_groundtruth.csv"]
    p = build(RehearsalParams, {"annotations": str(d), "video_info": [str(f) for f in info]})
    layout = LAYOUTS[p.benchmark]
    tables = thumos14_tables(d, info)
    with tempfile.TemporaryDirectory() as tmp:
        gt_csv = Path(tmp) / "groundtruth.csv"
        tables.ground_truth.to_csv(gt_csv, index=False)
        annotations = read_annotations(gt_csv)
    train = tables.manifest[tables.manifest["split"] == "train"]
    gt = tables.ground_truth
    protos, stride = prototypes(p.seed), layout["stride_frames"]
    features = {}
    for r in train.itertuples():
        duration = r.frame_count / r.fps
        g = gt[(gt["video_id"] == r.video_id) & (gt["t_start"] < duration)]
        segs = g[["t_start", "t_end"]].to_numpy(float).clip(max=duration)
        x = video_features(r.video_id, -(-int(r.frame_count) // stride), float(r.fps), segs, list(g["label"]), p,
                           protos)
        features[r.video_id] = (x, Timebase(r.fps, stride, layout["window_frames"]), duration)
    w = defaults("train")
    params = WindowParams(defaults("model")["window_steps"], w["train_stride"], w["test_stride"], w["step_frames"])
    ids = sorted(v for v in features if v in annotations)
    return build_windows(features, params, "train", annotations=annotations, video_ids=ids)


def run_one(setting: str, device: str, batches: int, videos: int, steps: int, workers: int,
            thumos14: str = "../shared/data/thumos14") -> dict:
    import numpy as np
    import torch

    from nemi.engine import autocast, weighted_total
    from nemi.io.timebase import Timebase
    from nemi.model import ModelParams, build
    from nemi.windows.dataset import build_windows, collate
    from nemi.windows.grid import WindowParams

    cfg = SETTINGS[setting]
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    rng = np.random.default_rng(0)
    tb = Timebase.native(30.0, 8, 16)
    feats, bnd, ann = {}, {}, {}
    for i in range(0 if setting == "thumos14-rehearsal" else videos):
        d = steps * 8 / 30.0
        s = np.sort(rng.uniform(0, d, 4)).reshape(2, 2)
        feats[f"v{i}"] = (rng.normal(size=(steps, 2048)).astype(np.float32), tb, d)
        bnd[f"v{i}"] = (rng.uniform(size=(steps, 2)).astype(np.float32), tb)
        ann[f"v{i}"] = (s, np.zeros(2, np.int64))
    w, stride = cfg["window"]
    if setting == "thumos14-rehearsal":
        ds = rehearsal_windows(thumos14)
    else:
        ds = build_windows(feats, WindowParams(w, stride, stride, None), "train", annotations=ann, boundary=bnd)
    torch.manual_seed(0)
    model, criterion, _ = build(ModelParams.from_dict(cfg["model"]))
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg["batch"], shuffle=True, collate_fn=collate,
                                         num_workers=workers, drop_last=True)
    load_s = step_s = 0.0
    n_windows = n_batches = 0
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    while n_batches < batches:
        it = iter(loader)
        while n_batches < batches:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            x, b, m = batch["features"].to(dev), batch["boundary"].to(dev), batch["mask"].to(dev)
            targets = [{k: v.to(dev) for k, v in t.items()} for t in batch["targets"]]
            with autocast(dev):
                out = model(x, b, m)
            loss = weighted_total(criterion(out, targets), criterion.weight_dict)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            sync()
            t2 = time.perf_counter()
            if n_batches > 0:  # the first step warms up allocators and kernels
                load_s, step_s, n_windows = load_s + t1 - t0, step_s + t2 - t1, n_windows + len(targets)
            n_batches += 1
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    return {"setting": setting, "device": str(dev), "batch": cfg["batch"], "windows_in_dataset": len(ds),
            "parameters": sum(p.numel() for p in model.parameters()), "timed_batches": n_batches - 1,
            "windows_per_s": n_windows / (load_s + step_s), "model_windows_per_s": n_windows / step_s,
            "load_ms_per_batch": 1e3 * load_s / (n_batches - 1), "step_ms_per_batch": 1e3 * step_s / (n_batches - 1),
            "load_share": load_s / (load_s + step_s),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_gpu_mb": peak_gpu,
            "threads": torch.get_num_threads(),
            "epoch_s": len(ds) // cfg["batch"] * cfg["batch"] / (n_windows / (load_s + step_s))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setting", choices=[*SETTINGS, "all"], default="all")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--batches", type=int, default=6, help="optimiser steps per setting (the first is not timed)")
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--steps", type=int, default=600, help="steps (features) per video")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--thumos14", default="../shared/data/thumos14",
                    help="Thumos14's annotation folder (thumos14-rehearsal)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.setting, a.device, a.batches, a.videos, a.steps, a.workers, a.thumos14)))
        return
    rows = []
    for s in ([k for k in SETTINGS if k != "thumos14-rehearsal"] if a.setting == "all" else [a.setting]):
        cmd = [sys.executable, __file__, "--one", "--setting", s, "--device", a.device, "--batches", str(a.batches),
               "--videos", str(a.videos), "--steps", str(a.steps), "--workers", str(a.workers),
               "--thumos14", a.thumos14]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {a.videos} videos x {a.steps} steps")
    print("| setting | device | batch | params | windows in dataset | windows/s | model-only windows/s | load ms/batch "
          "| step ms/batch | load share | epoch s (est.) | peak RSS MB | peak GPU MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        gpu = "–" if r["peak_gpu_mb"] is None else f"{r['peak_gpu_mb']:.0f}"
        print(f"| {r['setting']} | {r['device']} | {r['batch']} | {r['parameters']:,} | {r['windows_in_dataset']:,} "
              f"| {r['windows_per_s']:.1f} | {r['model_windows_per_s']:.1f} | {r['load_ms_per_batch']:.1f} "
              f"| {r['step_ms_per_batch']:.0f} | {100 * r['load_share']:.1f}% | {r['epoch_s']:.0f} "
              f"| {r['peak_rss_mb']:.0f} | {gpu} |")


if __name__ == "__main__":
    main()
