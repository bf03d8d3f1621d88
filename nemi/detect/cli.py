"""``nemi detect`` (labelled detections from proposals and video-level class scores) and ``nemi classify``
(the built-in video-level classifier)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("nemi.detect")


def register(subparsers: argparse._SubParsersAction) -> None:
    from nemi import params
    from nemi.detect.classifier import ClassifierParams
    from nemi.detect.fusion import DetectParams

    d = subparsers.add_parser("detect", help="labelled detections from proposals and video-level class scores")
    d.add_argument("--proposals", required=True, help="proposal CSV: video_id,t_start,t_end,score")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--unet-scores", help="UntrimmedNet uNet_test.npy (Thumos14 test, 1574 x 101)")
    src.add_argument("--class-scores", help="class-score CSV video_id,label,score (from nemi classify)")
    params.add_arguments(d, DetectParams)
    d.add_argument("--out", required=True, help="detections CSV: video_id,t_start,t_end,score,label")
    d.set_defaults(func=_detect)

    c = subparsers.add_parser("classify", help="train the video-level classifier and score videos")
    c.add_argument("--train-features", nargs="+", required=True, help="feature shards (HDF5) of the training split")
    c.add_argument("--train-gt", required=True, help="ground-truth CSV of the training split (labels)")
    c.add_argument("--features", nargs="+", required=True, help="feature shards of the videos to score")
    c.add_argument("--manifest", help="video manifest: train on the videos of --train-split only "
                   "(those without actions as negatives)")
    params.add_arguments(c, ClassifierParams)
    c.add_argument("--out", required=True, help="class-score CSV video_id,label,score")
    c.add_argument("--model-out", help="also save the fitted model (.npz)")
    c.set_defaults(func=_classify)



def _detect(args: argparse.Namespace) -> int:
    from nemi.io.annotations import THUMOS14_CLASSES, THUMOS14_UCF101_IDS
    from nemi.errors import NemiInputError
    from nemi import params as stage_params
    from nemi.detect.fusion import DetectParams, detections_from_proposals, read_class_scores
    from nemi.io.tables import read_predictions, write_csv
    from nemi.detect.unet import read_unet_scores

    params = stage_params.from_args(DetectParams, args)
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
    from nemi import params as stage_params
    from nemi.detect.classifier import (
        ClassifierParams,
        class_score_table,
        load_video_descriptors,
        multi_hot,
        train_video_classifier,
    )
    from nemi.io.tables import read_ground_truth, write_csv
    from nemi.io.provenance import provenance

    p = stage_params.from_args(ClassifierParams, args)
    gt = read_ground_truth(args.train_gt)
    if "label" not in gt.columns:
        raise NemiInputError(f"{args.train_gt}: no label column; the classifier needs labels")
    ids, x = load_video_descriptors(args.train_features)
    if args.manifest:
        # The split decides who trains: a training video without actions is a negative example,
        # and no video of another split is ever seen, whatever the feature shards hold.
        from nemi.io.manifest import read_manifest

        split = read_manifest(args.manifest).set_index("video_id")["split"]
        train = set(split.index[split == p.train_split])
        if not train:
            raise NemiInputError(f"{args.manifest}: no video in split {p.train_split!r}")
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
    model = train_video_classifier(x[keep], multi_hot(ids, gt, classes), classes, l2=p.l2)
    if args.model_out:
        model.save(args.model_out, provenance("classify") | {"l2": p.l2, "n_train_videos": len(ids)})
    test_ids, x_test = load_video_descriptors(args.features)
    write_csv(args.out, class_score_table(test_ids, model.predict_proba(x_test), classes))
    print(f"{args.out}: {len(classes)} classes x {len(test_ids)} videos (trained on {len(ids)} videos)")
    return 0
