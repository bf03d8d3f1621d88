"""``nemi train``: RTD-Net on a dataset's training split, selected on held-out training videos."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.fit import relaunch_under_torchrun
    from nemi.fit.distributed import check_devices
    from nemi.fit.params import FitParams

    p = params.from_args(FitParams, args)
    check_devices(p.train)  # before any work
    status = relaunch_under_torchrun(p.train.gpus)
    if status is not None:
        return status
    from nemi.fit.identity import data_identity
    from nemi.io.boundary import read_start_end
    from nemi.io.features import read_video_features
    from nemi.io.tables import read_ground_truth
    from nemi.io.manifest import read_splits
    from nemi.train.data import read_annotations, training_videos
    from nemi.train.run import train

    splits = read_splits(args.manifest)
    annotations = read_annotations(args.ground_truth)
    videos = training_videos(splits, annotations, p.train.holdout_share, p.train.holdout_seed)
    features = read_video_features(args.features, videos.train + videos.holdout)
    _, boundary = read_start_end(args.boundary)
    train(features, boundary, annotations, videos, read_ground_truth(args.ground_truth), p, args.out_dir,
          args.run_dir, args.stop_after_epochs,
          init=args.init, data=data_identity({"manifest": args.manifest, "annotations": args.ground_truth}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import params
    from nemi.fit import add_run_arguments
    from nemi.fit.params import FitParams

    p = sub.add_parser("train", help="train RTD-Net (the schedule's stages; resumes a killed run)")
    add_run_arguments(p, "boundary-score file of the dataset (nemi tem)")
    p.add_argument("--ground-truth", required=True, help="ground-truth CSV video_id,t_start,t_end[,label]")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from the matching weights of this model file (a NEMI pretraining's model.pt)")
    params.add_arguments(p, FitParams, skip=("schedules",))
    p.set_defaults(func=_run)
