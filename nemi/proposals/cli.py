"""``nemi proposals rtd|sliding-window``: a method's proposals for a dataset's test split."""

from __future__ import annotations

import argparse


def _split_ids(manifest: str, split: str) -> list[str]:
    from nemi.errors import NemiInputError
    from nemi.io.manifest import read_manifest

    df = read_manifest(manifest)
    ids = sorted(df.loc[df["split"] == split, "video_id"].astype(str))
    if not ids:
        raise NemiInputError(f"{manifest}: no video of split {split!r}")
    return ids


def _rtd(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.io.boundary import read_start_end
    from nemi.io.features import read_video_features
    from nemi.io.tables import write_proposals
    from nemi.proposals.params import ProposalParams
    from nemi.proposals.run import proposals

    p = params.from_args(ProposalParams, args)
    ids = _split_ids(args.manifest, args.split)
    features = read_video_features(args.features, ids)
    _, boundary = read_start_end(args.boundary)
    table, info = proposals(args.checkpoint, features, boundary, ids, p)
    write_proposals(args.out, table, {**info, "split": args.split})
    return 0


def _sliding_window(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.io.features import read_video_durations
    from nemi.io.tables import write_proposals
    from nemi.proposals.params import SlidingWindowParams
    from nemi.proposals.sliding import sliding_windows

    p = params.from_args(SlidingWindowParams, args)
    top_n = args.top_n if args.top_n is not None else params.defaults("proposals")["top_n"]
    ids = _split_ids(args.manifest, args.split)
    table, info = sliding_windows(read_video_durations(args.features, ids), p, top_n)
    write_proposals(args.out, table, {**info, "split": args.split})
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--features", nargs="+", required=True, help="feature shards (.h5)")
    p.add_argument("--manifest", required=True, help="manifest CSV with a split column")
    p.add_argument("--split", default="test", help="which videos (default test)")
    p.add_argument("--out", required=True, help="proposal CSV; its record goes to the same name with .json, "
                                                "the videos proposed for to .videos.txt")


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import params
    from nemi.proposals.params import ProposalParams, SlidingWindowParams

    parser = sub.add_parser("proposals", help="proposals for a split: video_id,t_start,t_end,score (+ .json)")
    methods = parser.add_subparsers(dest="method", metavar="METHOD", required=True)
    p = methods.add_parser("rtd", help="a trained RTD-Net's proposals")
    p.add_argument("--checkpoint", required=True, help="model file (nemi train's model.pt, or RTD-Action's)")
    p.add_argument("--boundary", required=True, help="boundary-score file (nemi tem)")
    _common(p)
    params.add_arguments(p, ProposalParams)
    p.set_defaults(func=_rtd)
    p = methods.add_parser("sliding-window", help="multi-scale sliding windows, nothing learnt (a floor)",
                           description="Windows of each scale from 0 s, stepping by a fraction of the scale, "
                                       "the last one ending at the video's end; a scale longer than a video "
                                       "is clipped to it. Durations come from the feature shards.")
    _common(p)
    p.add_argument("--top-n", type=int, default=None,
                   help=f"proposals kept per video, best first (default: proposals.top_n, "
                        f"{params.defaults('proposals')['top_n']})")
    params.add_arguments(p, SlidingWindowParams)
    p.set_defaults(func=_sliding_window)
