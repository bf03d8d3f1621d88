"""``python -m nemi.io.annotations``: a real dataset's official files -> its manifest and ground-truth CSVs.

    python -m nemi.io.annotations thumos14 --annotations ../shared/data/thumos14 \\
        --video-info TH14_video_info.json thumos14_test_groundtruth.csv --video-dir /data/thumos14/videos \\
        --out-dir data/thumos14
    python -m nemi.io.annotations activitynet13 --annotations anet_anno_action.json \\
        --video-info video_info_new.csv --video-dir /data/anet/videos --out-dir data/activitynet13

writes ``<out-dir>/videos.csv`` (video_id,path,split,subset,fps,frame_count,duration) and
``<out-dir>/groundtruth.csv`` (video_id,t_start,t_end,label,split,fps,duration), what a config's
``videos.manifest`` and ``videos.annotations`` name (workflow/configs/thumos14.yaml, activitynet13.yaml).
``register`` adds the same as ``nemi annotations prepare``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("nemi.io.annotations")


def _add(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (("thumos14", "Thumos14: validation videos (train) and the 213 test videos (test)"),
                           ("activitynet13", "ActivityNet-1.3: training (train) and validation (test) videos")):
        p = sub.add_parser(name, help=helptext)
        if name == "thumos14":
            p.add_argument("--annotations", required=True,
                           help="folder holding the official per-class *_val.txt and *_test.txt files (searched "
                                "below it), or RTD-Net's thumos14_anno_action.json")
            p.add_argument("--video-info", nargs="+", required=True,
                           help="per-video fps/duration/frames, first that knows a video wins: TH14_video_info.json "
                                "and thumos14_test_groundtruth.csv (which also has video_test_0001292)")
        else:
            p.add_argument("--annotations", required=True,
                           help="BSN's anet_anno_action.json or the official activity_net.v1-3.min.json")
            p.add_argument("--video-info", help="BSN's video_info_new.csv (splits, fps, frame counts)")
        p.add_argument("--video-dir", help="folder of the video files <video_id>.<ext>; leave out for imported "
                                           "features (paths then name <video_id><ext> beside the manifest)")
        p.add_argument("--ext", default=".mp4", help="extension of a video not found in --video-dir (default .mp4)")
        p.add_argument("--out-dir", required=True, help="writes videos.csv and groundtruth.csv here")
        p.set_defaults(func=_prepare, dataset=name)


def register(subparsers: argparse._SubParsersAction) -> None:
    """``prepare DATASET ...`` under a parent parser (``nemi annotations``)."""
    p = subparsers.add_parser("prepare", help="a dataset's official files -> its manifest and ground-truth CSVs")
    _add(p.add_subparsers(dest="dataset", metavar="DATASET", required=True))


def _prepare(args: argparse.Namespace) -> int:
    from nemi.io.annotations.adapters import activitynet_tables, thumos14_tables
    from nemi.io.tables import write_csv

    if args.dataset == "thumos14":
        tables = thumos14_tables(args.annotations, args.video_info, video_dir=args.video_dir, ext=args.ext)
    else:
        tables = activitynet_tables(args.annotations, args.video_info, video_dir=args.video_dir, ext=args.ext)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "videos.csv", tables.manifest)
    write_csv(out / "groundtruth.csv", tables.ground_truth)
    m, gt = tables.manifest, tables.ground_truth
    n_amb = int((gt["label"] == "Ambiguous").sum())
    counts = ", ".join(f"{n} {s}" for s, n in m["split"].value_counts().sort_index().items())
    log.info("%s: %d videos (%s); %s: %d instances%s", out / "videos.csv", len(m), counts, out / "groundtruth.csv",
             len(gt) - n_amb, f" + {n_amb} Ambiguous" if n_amb else "")
    return 0


def main(argv: list[str] | None = None) -> int:
    from nemi.errors import NemiInputError
    from nemi.log import setup_logging

    parser = argparse.ArgumentParser(prog="python -m nemi.io.annotations", description=__doc__.split("\n\n")[0])
    _add(parser.add_subparsers(dest="dataset", metavar="DATASET", required=True))
    args = parser.parse_args(argv)
    setup_logging(False)
    try:
        return args.func(args)
    except NemiInputError as err:
        print(f"nemi: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
