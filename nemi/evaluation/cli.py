"""``nemi evaluate proposals|detections``: metrics against the reference toolkits.

Also registers ``nemi annotations`` (ground-truth CSVs from real annotation files),
which the evaluation commands read.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("nemi.evaluation")

PROTOCOL_NAMES = ("thumos14", "thumos14-daps", "activitynet")


def register(subparsers: argparse._SubParsersAction) -> None:
    from nemi import params

    p = subparsers.add_parser("evaluate", help="AR@AN / mAP@tIoU of a proposal or detection CSV")
    sub = p.add_subparsers(dest="evaluate_command", metavar="KIND", required=True)
    for kind in ("proposals", "detections"):
        e = sub.add_parser(kind, help=f"evaluate {kind}")
        e.add_argument("--gt", required=True, help="ground-truth CSV: video_id,t_start,t_end[,label][,fps]")
        e.add_argument("--pred", required=True, help="predictions CSV: video_id,t_start,t_end,score[,label]")
        e.add_argument("--protocol", required=True, choices=PROTOCOL_NAMES)
        e.add_argument("--json", required=True, help="output JSON with the metrics")
        e.add_argument("--csv", help="also write a one-row CSV table of the headline metrics")
        amb = e.add_mutually_exclusive_group()
        amb.add_argument("--keep-ambiguous", dest="keep_ambiguous", action="store_const", const=True, default=None,
                         help="keep ground truth labelled Ambiguous (default for proposals under thumos14-daps)")
        amb.add_argument("--drop-ambiguous", dest="keep_ambiguous", action="store_const", const=False,
                         help="drop ground truth labelled Ambiguous (default otherwise)")
        e.add_argument("--split", default=None,
                       help="score only the ground truth's rows of this split (default: test, where the ground "
                            "truth has a split column); 'all': every row")
        e.add_argument("--videos", help="evaluate a subset: thumos14-213|thumos14-212|thumos14-210 or a file of ids")
        if kind == "proposals":
            e.add_argument("--fps", type=float, default=params.defaults("evaluation")["default_fps"],
                           help="frame rate for thumos14-daps where the ground truth has no fps column")
        e.set_defaults(func=_evaluate, kind=kind)

    from nemi.evaluation.annotations_cli import register as register_annotations

    register_annotations(subparsers)


def _evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from nemi.io.annotations import resolve_videos
    from nemi.evaluation import evaluate_detections, evaluate_proposals, read_ground_truth
    from nemi.io.tables import select_split, write_csv, write_json
    from nemi.io.provenance import provenance, sha256_file

    # Read here for its columns and videos; evaluate_* reads it again, dropping (or keeping) Ambiguous rows
    # as the protocol chooses.
    gt = read_ground_truth(args.gt, keep_ambiguous=True)
    # Test predictions are scored against the test split only: a file of every split would count the
    # training videos' segments as missed (Thumos14's test ground truth given as
    # its own predictions scored AR@100 52.8 % against val + test).
    split = args.split if args.split is not None else "test" if "split" in gt.columns else "all"
    if split == "all" and "split" not in gt.columns:
        log.info("%s: no split column; every row is ground truth", args.gt)
    selected = None if split == "all" else split
    # Checked here too, so that a missing split is named before --videos is resolved against the file.
    chosen = select_split(gt, selected, args.gt)
    videos = resolve_videos(args.videos, chosen["video_id"]) if args.videos else None
    if args.kind == "proposals":
        result = evaluate_proposals(args.gt, args.pred, args.protocol, keep_ambiguous=args.keep_ambiguous,
                                    videos=videos, default_fps=args.fps, split=selected)
        headline = {f"AR@{k}": v for k, v in result["AR@AN"].items()} | {"AUC": result["AUC"]}
    else:
        result = evaluate_detections(args.gt, args.pred, args.protocol, keep_ambiguous=args.keep_ambiguous,
                                     videos=videos, split=selected)
        headline = {f"mAP@{k}": v for k, v in result["mAP"].items()} | {"average_mAP": result["average_mAP"]}
    result["split"] = split
    result["subset"] = args.videos or "all"
    result["inputs"] = {"gt": str(args.gt), "gt_sha256": sha256_file(args.gt),
                        "pred": str(args.pred), "pred_sha256": sha256_file(args.pred)}
    result["provenance"] = provenance("evaluate")
    write_json(args.json, result)
    row = {"protocol": result["protocol"], "subset": result["subset"], "ambiguous_kept": result["ambiguous_kept"],
           "n_videos": result["n_videos"], "split": split} | headline
    if args.csv:
        write_csv(args.csv, pd.DataFrame([row]))
    ambiguous = "Ambiguous kept" if result["ambiguous_kept"] else "Ambiguous dropped"
    print(f"{args.kind} | protocol {result['protocol']} | split {split} | {result['n_videos']} videos | {ambiguous} | "
          f"{Path(args.pred).name}")
    for k, v in headline.items():
        print(f"  {k:>14}  {100 * v:6.2f}")
    return 0
