"""``nemi tem``: the dataset's boundary prior, written to one boundary-score HDF5 (nemi.io.boundary).

tem: BSN's TEM fitted on the training split's annotated videos (windows of snippets), then run over
every video; change: the normalised change curves (``--curves``, e.g. the cnn change shards); none: ones.
"""

from __future__ import annotations

import argparse
import json

VERSION = 1


def _fit(features, args, p):
    import numpy as np
    import pandas as pd

    from nemi.errors import NemiInputError
    from nemi.io.manifest import read_manifest
    from nemi.io.tables import read_ground_truth
    from nemi.log import logger
    from nemi.tem import fit
    from nemi.windows.dataset import build_windows
    from nemi.windows.grid import WindowParams

    if not args.manifest or not (args.ground_truth or args.pseudo_labels):
        raise NemiInputError("the tem prior is trained: it needs --manifest and --ground-truth or --pseudo-labels")
    if args.ground_truth and args.pseudo_labels:
        raise NemiInputError("give --ground-truth or --pseudo-labels, not both: the TEM learns one kind of segment")
    df = read_manifest(args.manifest)
    if args.pseudo_labels:
        # NEMI pretraining's prior: fitted on pseudo activities, so no human label reaches it.
        from nemi.io.pseudo_labels import read_pseudo_labels

        doc = read_pseudo_labels(args.pseudo_labels)
        rows = [(vid, s, e) for vid, v in doc["videos"].items() for s, e in v["activities"]]
        gt = pd.DataFrame(rows, columns=["video_id", "t_start", "t_end"])
    else:
        gt = read_ground_truth(args.ground_truth)
    gt = gt[gt["t_end"] > gt["t_start"]]
    ann = {str(v): (g[["t_start", "t_end"]].to_numpy(np.float64), np.zeros(len(g), np.int64))
           for v, g in gt.groupby("video_id")}
    train_ids = sorted(set(df.loc[df["split"].isin(args.splits), "video_id"].astype(str)) & set(ann) & set(features))
    if not train_ids:
        raise NemiInputError(f"{args.manifest}: no video of split(s) {args.splits} with segments and features "
                             "to fit the TEM on")
    logger.info("fitting the TEM on %d training videos", len(train_ids))
    wp = WindowParams(args.window_steps, args.stride, args.stride, None)
    windows = build_windows({v: features[v] for v in train_ids}, wp, "train", annotations=ann, video_ids=train_ids)
    return fit(windows, p)


def _run(args: argparse.Namespace) -> int:
    from nemi.errors import NemiInputError
    from nemi.io.boundary import BoundaryScores, write_boundary
    from nemi.io.curves import read_curves
    from nemi.io.features import read_video_features
    from nemi.params import defaults
    from nemi.tem import TemParams, boundary_prior, score

    raw = json.loads(args.params) if args.params else {}
    if args.kind:
        raw["kind"] = args.kind
    raw.pop("version", None)
    p = TemParams.from_dict(raw)
    args.window_steps = args.window_steps or defaults("model")["window_steps"]
    args.stride = args.stride or defaults("train")["train_stride"]
    features = read_video_features(args.features)
    curves = {}
    if p.kind == "change":
        if not args.curves:
            raise NemiInputError("the change prior needs --curves (change-curve files)")
        for path in args.curves:
            curves.update(read_curves(path)[2])
    model = _fit(features, args, p) if p.kind == "tem" else None
    scores = {}
    for vid, (feats, tb, _) in sorted(features.items()):
        n = len(feats)
        if p.kind == "tem":
            out = score(model, feats)
            action, start_end = out[:, 0], out[:, 1:3]
        else:
            c = curves.get(vid)
            if p.kind == "change" and c is None:
                raise NemiInputError(f"video {vid}: no change curve in {args.curves}")
            start_end = boundary_prior(p.kind, n, timebase=tb, curve=None if c is None else c.distance,
                                       curve_t_s=None if c is None else c.t_s, name=vid)
            action = start_end[:, 0]
        scores[vid] = BoundaryScores(start_end[:, 0], start_end[:, 1], action, tb)
    write_boundary(args.out, p.kind, scores, {**p.as_dict(), "window_steps": args.window_steps,
                                             "stride": args.stride, "version": VERSION})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tem", help="the boundary prior (TEM, change curve or none) of every video -> HDF5")
    p.add_argument("--features", nargs="+", required=True, help="feature shards (.h5)")
    p.add_argument("--manifest", help="manifest CSV with a split column (kind tem)")
    p.add_argument("--ground-truth", help="ground-truth CSV of the training split (kind tem)")
    p.add_argument("--pseudo-labels", help="pseudo-label JSON instead of --ground-truth (kind tem, for pretraining)")
    p.add_argument("--splits", nargs="+", default=["train"], help="the splits whose videos fit the TEM (kind tem)")
    p.add_argument("--curves", nargs="*", default=[], help="change-curve files (kind change)")
    p.add_argument("--out", required=True, help="boundary-score file to write (.h5)")
    p.add_argument("--kind", choices=["tem", "change", "none"], default=None, help="overrides the params' kind")
    p.add_argument("--window-steps", type=int, default=None,
                   help="snippets per TEM training window (default: the config's model.window_steps)")
    p.add_argument("--stride", type=int, default=None,
                   help="snippets between TEM training windows (default: the config's train.train_stride)")
    p.add_argument("--params", metavar="JSON", help="the tem section as one JSON object (config schema, section tem)")
    p.set_defaults(func=_run)
