"""``nemi proposals``: a trained RTD-Net's proposals for a dataset's test split."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.errors import NemiInputError
    from nemi.io.boundary import read_start_end
    from nemi.io.features import read_video_features
    from nemi.io.manifest import read_manifest
    from nemi.proposals.params import ProposalParams
    from nemi.proposals.run import proposals, write_proposals

    p = params.from_args(ProposalParams, args)
    df = read_manifest(args.manifest)
    ids = sorted(df.loc[df["split"] == args.split, "video_id"].astype(str))
    if not ids:
        raise NemiInputError(f"{args.manifest}: no video of split {args.split!r}")
    features = read_video_features(args.features, ids)
    _, boundary = read_start_end(args.boundary)
    table, info = proposals(args.checkpoint, features, boundary, ids, p)
    write_proposals(args.out, table, {**info, "split": args.split})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from nemi import params
    from nemi.proposals.params import ProposalParams

    p = sub.add_parser("proposals", help="RTD-Net proposals for a split: video_id,t_start,t_end,score (+ .json)")
    p.add_argument("--checkpoint", required=True, help="model file (nemi train's model.pt, or RTD-Action's)")
    p.add_argument("--features", nargs="+", required=True, help="feature shards (.h5)")
    p.add_argument("--boundary", required=True, help="boundary-score file (nemi tem)")
    p.add_argument("--manifest", required=True, help="manifest CSV with a split column")
    p.add_argument("--split", default="test", help="which videos (default test)")
    p.add_argument("--out", required=True, help="proposal CSV; its record goes to the same name with .json")
    params.add_arguments(p, ProposalParams)
    p.set_defaults(func=_run)
