"""``nemi pretrain``: RTD-Net pretrained on a dataset's pseudo activities, with no human label among its inputs."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.fit import relaunch_under_torchrun
    from nemi.fit.distributed import check_devices
    from nemi.pretrain.params import PretrainFitParams

    p = params.from_args(PretrainFitParams, args)
    check_devices(p.train)  # before any work
    status = relaunch_under_torchrun(p.train.gpus)
    if status is not None:
        return status
    from nemi.fit.identity import data_identity
    from nemi.io.boundary import read_start_end
    from nemi.io.features import read_video_features
    from nemi.io.manifest import read_splits
    from nemi.pretrain.data import pretraining_videos, read_activities
    from nemi.pretrain.run import pretrain

    activities, table = read_activities(args.pseudo_labels, args.dataset)
    splits = read_splits(args.manifest)
    features = read_video_features(args.features, sorted(v for v, s in splits.items() if s in p.pretrain.splits))
    videos = pretraining_videos(splits, activities, p.pretrain, list(features))
    _, boundary = read_start_end(args.boundary)
    pretrain(features, boundary, activities, table, videos, p, args.out_dir, run_dir=args.run_dir,
             stop_after_epochs=args.stop_after_epochs,
             record={"dataset": args.dataset, "pseudo_labels": str(args.pseudo_labels)},
             data=data_identity({"manifest": args.manifest, "pseudo_labels": args.pseudo_labels}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import params
    from nemi.fit import add_run_arguments
    from nemi.pretrain.params import PretrainFitParams

    p = sub.add_parser("pretrain", help="NEMI pretraining on pseudo activities (resumes a killed run)")
    add_run_arguments(p, "boundary-score file (nemi tem on pseudo labels, or change)")
    p.add_argument("--pseudo-labels", required=True, help="pseudo-label JSON (nemi labels): the targets")
    p.add_argument("--dataset", required=True, help="the dataset the features are of (the pseudo labels must be too)")
    params.add_arguments(p, PretrainFitParams)
    p.set_defaults(func=_run)
