"""``nemi labels DETECTOR``: cached change curves -> pseudo-label JSON for a dataset."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from nemi import detectors, params
    from nemi.labels.pseudo_labels import make_pseudo_labels

    det = detectors.get(args.detector)
    p = params.from_args(det.boundary_params, args)
    make_pseudo_labels(args.curves, args.out, dataset=args.dataset, kind=args.detector, params=p)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import detectors, params

    p = sub.add_parser("labels", help="turn change curves into pseudo-label JSON (activities per video)")
    kinds = p.add_subparsers(dest="detector", metavar="DETECTOR", required=True)
    for name in detectors.names():
        c = kinds.add_parser(name, help=f"pseudo labels from {name} change curves")
        c.add_argument("--dataset", required=True, help="dataset name recorded in the file")
        c.add_argument("--curves", nargs="+", required=True, help="change-curve files of every shard")
        c.add_argument("--out", required=True, help="pseudo-label JSON to write")
        params.add_arguments(c, detectors.get(name).boundary_params)
        c.set_defaults(func=_run)
