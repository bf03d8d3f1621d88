"""``nemi evaluate proposals|detections``, ``nemi detect`` and ``nemi classify``.

Also registers ``nemi annotations`` (ground-truth CSVs from real annotation files),
which the evaluation commands read.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("nemi.evaluation")

PROTOCOL_NAMES = ("thumos14", "thumos14-daps", "activitynet")


def register(subparsers: argparse._SubParsersAction) -> None:
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
        e.add_argument("--videos", help="evaluate a subset: thumos14-213|thumos14-212|thumos14-210 or a file of ids")
        if kind == "proposals":
            e.add_argument("--fps", type=float, default=30.0,
                           help="frame rate for thumos14-daps where the ground truth has no fps column")
        e.set_defaults(func=_evaluate, kind=kind)

    d = subparsers.add_parser("detect", help="labelled detections from proposals and video-level class scores")
    d.add_argument("--proposals", required=True, help="proposal CSV: video_id,t_start,t_end,score")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--unet-scores", help="UntrimmedNet uNet_test.npy (Thumos14 test, 1574 x 101)")
    src.add_argument("--class-scores", help="class-score CSV video_id,label,score (from nemi classify)")
    d.add_argument("--params", help="JSON object of DetectParams (top_k_classes, soft_nms_sigma, ...)")
    d.add_argument("--out", required=True, help="detections CSV: video_id,t_start,t_end,score,label")
    d.set_defaults(func=_detect)

    c = subparsers.add_parser("classify", help="train the video-level classifier and score videos")
    c.add_argument("--train-features", nargs="+", required=True, help="feature shards (HDF5) of the training split")
    c.add_argument("--train-gt", required=True, help="ground-truth CSV of the training split (labels)")
    c.add_argument("--features", nargs="+", required=True, help="feature shards of the videos to score")
    c.add_argument("--manifest", help="video manifest: train on the videos of --train-split only "
                   "(those without actions as negatives)")
    c.add_argument("--train-split", default="train", help="split of the manifest to train on (with --manifest)")
    c.add_argument("--l2", type=float, default=1e-3, help="L2 weight on the logistic-regression weights")
    c.add_argument("--out", required=True, help="class-score CSV video_id,label,score")
    c.add_argument("--model-out", help="also save the fitted model (.npz)")
    c.set_defaults(func=_classify)

    from nemi.annotations.cli import register as register_annotations

    register_annotations(subparsers)


def _evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from nemi.annotations import resolve_videos
    from nemi.evaluation import evaluate_detections, evaluate_proposals, read_ground_truth
    from nemi.evaluation.io import write_csv, write_json
    from nemi.io.provenance import provenance, sha256_file

    # Ambiguous rows are dropped (or kept) by evaluate_*, which knows the protocol's choice.
    gt = read_ground_truth(args.gt, keep_ambiguous=True)
    videos = resolve_videos(args.videos, gt["video_id"]) if args.videos else None
    if args.kind == "proposals":
        result = evaluate_proposals(gt, args.pred, args.protocol, keep_ambiguous=args.keep_ambiguous,
                                    videos=videos, default_fps=args.fps)
        headline = {f"AR@{k}": v for k, v in result["AR@AN"].items()} | {"AUC": result["AUC"]}
    else:
        result = evaluate_detections(gt, args.pred, args.protocol, keep_ambiguous=args.keep_ambiguous, videos=videos)
        headline = {f"mAP@{k}": v for k, v in result["mAP"].items()} | {"average_mAP": result["average_mAP"]}
    result["subset"] = args.videos or "all"
    result["inputs"] = {"gt": str(args.gt), "gt_sha256": sha256_file(args.gt),
                        "pred": str(args.pred), "pred_sha256": sha256_file(args.pred)}
    result["provenance"] = provenance("evaluate")
    write_json(args.json, result)
    row = {"protocol": result["protocol"], "subset": result["subset"], "ambiguous_kept": result["ambiguous_kept"],
           "n_videos": result["n_videos"]} | headline
    if args.csv:
        write_csv(args.csv, pd.DataFrame([row]))
    ambiguous = "Ambiguous kept" if result["ambiguous_kept"] else "Ambiguous dropped"
    print(f"{args.kind} | protocol {result['protocol']} | {result['n_videos']} videos | {ambiguous} | "
          f"{Path(args.pred).name}")
    for k, v in headline.items():
        print(f"  {k:>14}  {100 * v:6.2f}")
    return 0


def _detect(args: argparse.Namespace) -> int:
    from nemi.annotations import THUMOS14_CLASSES, THUMOS14_UCF101_IDS
    from nemi.errors import NemiInputError
    from nemi.evaluation.detect import DetectParams, detections_from_proposals, read_class_scores
    from nemi.evaluation.io import read_predictions, write_csv
    from nemi.evaluation.unet import read_unet_scores

    try:
        params = DetectParams.from_dict(json.loads(args.params) if args.params else {})
    except json.JSONDecodeError as err:
        raise NemiInputError(f"--params is not a JSON object: {err}") from None
    proposals = read_predictions(args.proposals)
    if args.unet_scores:
        scores = read_unet_scores(args.unet_scores, THUMOS14_CLASSES, THUMOS14_UCF101_IDS)
    else:
        scores = read_class_scores(args.class_scores)
    try:
        dets = detections_from_proposals(proposals, scores, params)
    except NemiInputError as err:
        raise NemiInputError(f"{args.proposals} with {args.unet_scores or args.class_scores}: {err}") from None
    write_csv(args.out, dets)
    print(f"{args.out}: {len(dets)} detections in {dets['video_id'].nunique()} videos")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from nemi.errors import NemiInputError
    from nemi.evaluation.classifier import (
        class_score_table,
        load_video_descriptors,
        multi_hot,
        train_video_classifier,
    )
    from nemi.evaluation.io import read_ground_truth, write_csv
    from nemi.io.provenance import provenance

    gt = read_ground_truth(args.train_gt)
    if "label" not in gt.columns:
        raise NemiInputError(f"{args.train_gt}: no label column; the classifier needs labels")
    ids, x = load_video_descriptors(args.train_features)
    if args.manifest:
        # The split decides who trains: a training video without actions is a negative example,
        # and no video of another split is ever seen, whatever the feature shards hold.
        from nemi.io.manifest import read_manifest

        split = read_manifest(args.manifest).set_index("video_id")["split"]
        train = set(split.index[split == args.train_split])
        if not train:
            raise NemiInputError(f"{args.manifest}: no video in split {args.train_split!r}")
        gt = gt[gt["video_id"].isin(train)]
        keep = [i for i, v in enumerate(ids) if v in train]
    else:
        labelled = set(gt["video_id"])
        keep = [i for i, v in enumerate(ids) if v in labelled]
        if len(keep) < len(ids):
            log.warning("%d training videos without ground truth are left out", len(ids) - len(keep))
    if not keep or gt.empty:
        raise NemiInputError(f"{args.train_gt}: none of the {len(ids)} training videos has ground truth")
    ids = [ids[i] for i in keep]
    classes = sorted(set(gt["label"]))
    model = train_video_classifier(x[keep], multi_hot(ids, gt, classes), classes, l2=args.l2)
    if args.model_out:
        model.save(args.model_out, provenance("classify") | {"l2": args.l2, "n_train_videos": len(ids)})
    test_ids, x_test = load_video_descriptors(args.features)
    write_csv(args.out, class_score_table(test_ids, model.predict_proba(x_test), classes))
    print(f"{args.out}: {len(classes)} classes x {len(test_ids)} videos (trained on {len(ids)} videos)")
    return 0
