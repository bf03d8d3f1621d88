"""Does RTD-Net learn on a dataset's features? The measurements behind benchmarks/README.md's "Does it learn?".

Runs ``nemi.fit`` (the training loop every experiment uses) on a finished dataset's features, boundary
prior and annotations, with train/model overrides given as JSON, and prints one row per seed:

- ``overfit``: train on the training videos and score AR@AN on the *same* videos' windows (held out =
  trained on). DETR-style set prediction must be able to memorise a few windows; if it cannot, a defect
  sits in windows, targets, matching, losses, post-processing or the time base.
- ``heldout``: the dataset's own split (training videos less a held-out share): AR@AN of the held-out
  videos at the first, the chosen (best held-out) and the last epoch, and the test split's AR@AN of the
  chosen and of the last epoch (reported, never used to choose anything).

    python benchmarks/does_it_learn.py --dataset demo --mode overfit --seeds 0 1
    python benchmarks/does_it_learn.py --dataset demo --seeds 0 1 2 --train '{"schedules": {"one_stage":
        {"main": {"epochs": 200}}}}' --model '{"dropout": 0.1}' --out rows.csv --tag dropout

It reads a finished dataset (``results/<dataset>/``: features, ``tem/boundary.h5``, the generated
manifest and ground truth: run the demo first, or ``snakemake results/demo/tem/boundary.h5``) and takes
the settings from ``--config`` (default config.yaml). ``--out`` appends the rows to a CSV and writes
each run's ``epochs.csv`` beside it. The figures in benchmarks/README.md ("Does it learn?") came from it.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from nemi.datasets import deep_merge, effective_config
from nemi.evaluation import evaluate_proposals
from nemi.fit.loop import fit
from nemi.fit.params import FitParams
from nemi.io.boundary import read_start_end
from nemi.io.features import read_video_features
from nemi.io.manifest import read_splits
from nemi.io.tables import read_ground_truth
from nemi.model.postprocess import PostProcess
from nemi.params import build
from nemi.model import ModelParams
from nemi.engine import evaluate
from nemi.proposals.params import ProposalParams
from nemi.proposals.run import merge_windows
from nemi.train.data import read_annotations, training_videos, windows_for
from nemi.windows.dataset import Indexed, collate_indexed


def dataset_sections(config: Path, dataset: str) -> dict:
    """The dataset's merged settings as the workflow builds them from the config (schema defaults filled in)."""
    return effective_config(yaml.safe_load(config.read_text()), dataset)


def test_ar(model, mp: ModelParams, windows, gt: pd.DataFrame, videos: list[str], top_n: int) -> tuple[dict, float]:
    loader = torch.utils.data.DataLoader(Indexed(windows), batch_size=32, collate_fn=collate_indexed)
    _, raw = evaluate(model, None, PostProcess(mp.proposal_score), loader, torch.device("cpu"), windows)
    params = build(ProposalParams, {"top_n": top_n})
    table = merge_windows(raw, params)
    res = evaluate_proposals(gt, table, "thumos14", videos=sorted(videos))
    return {k: 100 * float(v) for k, v in res["AR@AN"].items()}, len(table) / max(1, len(videos))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--config", default="config.yaml", help="the workflow config the dataset's settings come from")
    ap.add_argument("--settings", default=None,
                    help="take the settings of this dataset of the config (default: --dataset's)")
    ap.add_argument("--mode", choices=("overfit", "heldout"), default="heldout")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--train", default="{}", help="JSON merged into the dataset's train section")
    ap.add_argument("--model", default="{}", help="JSON merged into the dataset's model section")
    ap.add_argument("--max-train-videos", type=int, default=None, help="overfit: this many training videos")
    ap.add_argument("--out", default=None, help="CSV of the rows (appended)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)

    results = Path("results") / args.dataset
    cfg = dataset_sections(Path(args.config), args.dataset if args.settings is None else args.settings)
    train_section = deep_merge(cfg["train"], json.loads(args.train))
    model_section = deep_merge(cfg["model"], json.loads(args.model))
    manifest = results / "synth" / "videos.csv"
    gt_path = results / "synth" / "annotations" / "groundtruth.csv"
    splits = read_splits(manifest)
    annotations = read_annotations(gt_path)
    gt = read_ground_truth(gt_path)
    features = read_video_features(sorted(glob.glob(str(results / "features" / "*.h5"))))
    _, boundary = read_start_end(results / "tem" / "boundary.h5")
    test_videos = sorted(v for v, s in splits.items() if s == "test")
    rows = []
    for seed in args.seeds:
        fp = FitParams.from_dict({"model": model_section, "train": {
            **train_section, "seed": seed, "checkpoint_every_s": 1e9, "curve_every_s": 1e9, "select": "best"}})
        tp = fp.train
        videos = training_videos(splits, annotations, tp.holdout_share, tp.holdout_seed)
        wp = fp.windows()
        if args.mode == "overfit":
            train_ids = (videos.train + videos.holdout)[:args.max_train_videos]
            hold_ids = train_ids
        else:
            train_ids, hold_ids = videos.train, videos.holdout
        train_ds = windows_for(train_ids, features, wp, "train", annotations, boundary)
        hold_ds = windows_for(hold_ids, features, wp, "test", annotations, boundary)
        test_ds = windows_for(test_videos, features, wp, "test", None, boundary)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            model = fit(train_ds, hold_ds, gt, fp, tmp)
            hist = pd.read_csv(Path(tmp) / "epochs.csv")
            if args.out:
                hist.to_csv(Path(args.out).with_name(f"{args.tag or 'run'}.seed{seed}.epochs.csv"), index=False)
            run = json.loads((Path(tmp) / "run.json").read_text())
            final = tp.stages()[-1].model_params(run["config"]["model"])
            chosen_ar, ppv = test_ar(model, final, test_ds, gt, test_videos, 1000)
            state = torch.load(Path(run["run_dir"]) / "checkpoint.pt", map_location="cpu", weights_only=False)
            model.load_state_dict(state["model"])
            last_ar, _ = test_ar(model, final, test_ds, gt, test_videos, 1000)
            hold_last = test_ar(model, final, hold_ds, gt, hold_ids, 1000)[0]
        sel = run["selection"]
        best_epoch = [v.get("epoch") for v in sel.values()]
        ar_cols = [c for c in hist.columns if c.startswith("val_AR@")]
        an = "100" if "val_AR@100" in hist else ar_cols[-1].split("@")[1]
        row = {"tag": args.tag, "mode": args.mode, "seed": seed, "train_windows": len(train_ds),
               "holdout_windows": len(hold_ds), "test_windows": len(test_ds),
               "epochs": len(hist), "steps": int(len(hist) * np.ceil(len(train_ds) / tp.batch_size)),
               "best_epoch": best_epoch[-1], "train_loss_first": hist["train_loss"].iloc[0],
               "train_loss_last": hist["train_loss"].iloc[-1],
               "hold_AR@100_first": 100 * hist[f"val_AR@{an}"].iloc[0],
               "hold_AR@100_best": 100 * hist[f"val_AR@{an}"].max(),
               "hold_AR@100_last": hold_last[an],
               "test_AR@100_chosen": chosen_ar[an], "test_AR@100_last": last_ar[an],
               "test_AR@50_chosen": chosen_ar["50"], "proposals_per_video": ppv,
               "seconds": time.perf_counter() - t0}
        for k in ("train_loss_ce", "train_loss_bbox", "train_loss_iou", "train_loss_completeness"):
            if k in hist:
                row[k + "_last"] = hist[k].iloc[-1]
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(df.round(2).to_string(index=False))
    if args.out:
        df.to_csv(args.out, mode="a", header=not Path(args.out).exists(), index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
