"""``nemi changes DETECTOR``: the change curve of every video in a shard (one subcommand per detector)."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from nemi import detectors, params
    from nemi.changes.run import curves_for_shard

    det = detectors.get(args.detector)
    curves_for_shard(args.detector, args.input, args.out, params.from_args(det.curve_params, args))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import detectors, params

    p = sub.add_parser("changes", help="compute change curves (one subcommand per change detector)")
    kinds = p.add_subparsers(dest="detector", metavar="DETECTOR", required=True)
    for name in detectors.names():
        det = detectors.get(name)
        c = kinds.add_parser(name, help=f"{name} change curve of every video in a {det.input[:-1]} shard")
        c.add_argument(f"--{det.input}", dest="input", required=True, help=f"{det.input[:-1]} shard (.h5)")
        c.add_argument("--out", required=True, help="change-curve file to write (.h5)")
        params.add_arguments(c, det.curve_params)
        c.set_defaults(func=_run)
