"""``nemi pretrain``: RTD-Net pretrained on a dataset's pseudo activities, with no human label among its inputs."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from nemi.params import json_object
    from nemi import params
    from nemi.fit import relaunch_under_torchrun
    from nemi.fit.distributed import check_devices
    from nemi.pretrain.params import PretrainParams

    p = params.from_args(PretrainParams, args)
    train_section = json_object(args.train_params, "--train-params")
    fitting = p.fit_params(train_section)
    check_devices(fitting)  # before any work
    status = relaunch_under_torchrun(fitting.gpus)
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
    features = read_video_features(args.features, sorted(v for v, s in splits.items() if s in p.splits))
    videos = pretraining_videos(splits, activities, p, list(features))
    _, boundary = read_start_end(args.boundary)
    pretrain(features, boundary, activities, table, videos, p, train_section,
             json_object(args.model_params, "--model-params"), args.out_dir, run_dir=args.run_dir,
             stop_after_epochs=args.stop_after_epochs,
             record={"dataset": args.dataset, "pseudo_labels": str(args.pseudo_labels)},
             data=data_identity({"manifest": args.manifest, "pseudo_labels": args.pseudo_labels}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import params
    from nemi.fit import add_run_arguments
    from nemi.pretrain.params import PretrainParams

    p = sub.add_parser("pretrain", help="NEMI pretraining on pseudo activities (resumes a killed run)")
    add_run_arguments(p, "boundary-score file (nemi tem on pseudo labels, or change)")
    p.add_argument("--pseudo-labels", required=True, help="pseudo-label JSON (nemi labels): the targets")
    p.add_argument("--dataset", required=True, help="the dataset the features are of (the pseudo labels must be too)")
    p.add_argument("--train-params", metavar="JSON", default=None, help="the dataset's train section as JSON")
    params.add_arguments(p, PretrainParams, skip=("train",))
    p.set_defaults(func=_run)
