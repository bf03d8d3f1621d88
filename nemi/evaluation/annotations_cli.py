"""``nemi annotations export``: a real annotation file into the ground-truth CSV ``nemi evaluate`` reads."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("nemi.io.annotations")


def register(subparsers: argparse._SubParsersAction) -> None:
    from nemi.io.annotations import READERS

    p = subparsers.add_parser("annotations", help="read real annotation files (Thumos14, ActivityNet)")
    sub = p.add_subparsers(dest="annotations_command", metavar="ACTION", required=True)
    from nemi.io.annotations.cli import register as register_prepare

    register_prepare(sub)  # `nemi annotations prepare thumos14|activitynet13 ...`
    e = sub.add_parser("export", help="write the ground-truth CSV (video_id,t_start,t_end,label,split,fps,duration)")
    e.add_argument("--format", required=True, choices=sorted(READERS), help="input file format")
    e.add_argument("--path", required=True, help="annotation file (thumos14-txt: the folder of per-class files)")
    e.add_argument("--split", help="keep this split only (thumos14: val|test; activitynet: training|validation); "
                                   "required for thumos14-txt")
    e.add_argument("--video-info", help="per-video fps/duration: TH14_video_info.json (Thumos14) or "
                                        "video_info_new.csv (bsn-anet-json)")
    e.add_argument("--videos", help="keep a subset: thumos14-213|thumos14-212|thumos14-210 or a file of video ids")
    e.add_argument("--out", required=True, help="output CSV")
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from nemi.io.annotations import READERS, attach_video_info, read_thumos14_video_info, resolve_videos
    from nemi.errors import NemiInputError
    from nemi.io.tables import write_csv

    reader = READERS[args.format]
    if args.format == "thumos14-txt":
        if not args.split:
            raise NemiInputError("--format thumos14-txt needs --split (val or test)")
        table = reader(args.path, args.split)
    elif args.format == "bsn-anet-json":
        table = reader(args.path, args.video_info)
    else:
        table = reader(args.path)
    if args.video_info and args.format != "bsn-anet-json":
        table = attach_video_info(table, read_thumos14_video_info(args.video_info))
    if args.split and args.format != "thumos14-txt":
        table = table[table["split"] == args.split]
        if table.empty:
            raise NemiInputError(f"{args.path}: no rows in split {args.split!r}")
    if args.videos:
        table = table[table["video_id"].isin(set(resolve_videos(args.videos, table["video_id"])))]
    write_csv(args.out, table)
    n_amb = int((table["label"] == "Ambiguous").sum())
    print(f"{args.out}: {table['video_id'].nunique()} videos, {len(table) - n_amb} instances"
          + (f" + {n_amb} Ambiguous" if n_amb else ""))
    return 0
