"""``nemi decode``: the videos of one shard of a manifest -> one frame shard (HDF5)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode", help="decode one shard of videos onto a fixed timeline (HDF5 frame shard)",
        description="Decode the videos of one shard onto a fixed timeline (frames resampled to --fps by "
                    "timestamp, resized to the working size) and store them in one HDF5 frame shard.")
    p.add_argument("--manifest", required=True, help="video manifest CSV (video_id,path,split)")
    p.add_argument("--shard", required=True, help="shard name, e.g. shard000 (see --shard-size)")
    p.add_argument("--shard-size", type=int, required=True, help="videos per shard")
    p.add_argument("--out", required=True, help="output frame shard (.h5)")
    p.add_argument("--skipped", required=True, help="output CSV of skipped videos (video_id,path,reason)")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="fail: a bad video fails the job; skip: record it in --skipped and go on")
    p.add_argument("--threads", choices=("SLICE", "FRAME", "AUTO", "NONE"), default="SLICE",
                   help="PyAV decoder threading (SLICE keeps one core busy per job)")
    from nemi import params
    from nemi.decode.shard import DecodeParams

    params.add_arguments(p, DecodeParams)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nemi import params as stage_params
    from nemi.decode.shard import DecodeParams, decode_shard
    from nemi.errors import NemiInputError
    from nemi.io.manifest import plan_shards, read_manifest

    manifest = read_manifest(args.manifest)
    if args.shard_size < 1:
        raise NemiInputError(f"--shard-size must be >= 1, not {args.shard_size}")
    shards = plan_shards(list(manifest["video_id"]), args.shard_size)
    if args.shard not in shards:
        raise NemiInputError(f"{args.manifest}: no shard {args.shard!r} with shard size {args.shard_size} "
                             f"(has {', '.join(shards) or 'none'})")
    paths = dict(zip(manifest["video_id"], manifest["path"]))
    videos = [(vid, paths[vid]) for vid in shards[args.shard]]
    params = stage_params.from_args(DecodeParams, args)
    decode_shard(videos, args.out, args.skipped, params, on_error=args.on_error, thread_type=args.threads)
    return 0
