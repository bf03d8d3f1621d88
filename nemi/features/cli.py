"""``nemi features``: extract two-stream I3D snippet features, or import published ones."""

from __future__ import annotations

import argparse


def _extract(args: argparse.Namespace) -> int:
    from nemi import params as stage_params
    from nemi.features.extract import ExtractParams, extract_shard, load_stream_models

    params = stage_params.from_args(ExtractParams, args)
    if args.threads:
        from nemi import runtime

        runtime.set_threads(args.threads)  # the job's share of the node: torch and OpenCV default to every core
    models = load_stream_models(args.rgb_weights, args.flow_weights)
    extract_shard(args.frames, args.out, params, models)
    return 0


def _import(args: argparse.Namespace) -> int:
    from nemi.errors import NemiInputError
    from nemi.features.imported import import_features
    from nemi.io.manifest import plan_shards, read_manifest

    fps: float | dict[str, float] = args.fps
    frame_counts = None
    if args.manifest:
        df = read_manifest(args.manifest)
        ids = list(df["video_id"])
        if args.shard:
            shards = plan_shards(ids, args.shard_size)
            if args.shard not in shards:
                raise NemiInputError(f"{args.manifest}: no shard {args.shard!r} with shard_size {args.shard_size} "
                                     f"(there are {len(shards)})")
            ids = shards[args.shard]
        rows = df.set_index("video_id").loc[ids]
        if "fps" in rows.columns:
            fps = {vid: float(v) if v == v else float(args.fps) for vid, v in rows["fps"].items()}
        if "frame_count" in rows.columns:
            frame_counts = {vid: int(v) for vid, v in rows["frame_count"].items() if v == v}
    else:
        ids = sorted(args.videos)
    if fps is None:
        raise NemiInputError("features import: --fps is required unless the manifest has an fps column")
    import_features(args.source_dir, args.format, ids, args.out, fps=fps, stride_frames=args.stride_frames,
                    window_frames=args.window_frames, offset_frames=args.offset_frames, frame_counts=frame_counts)
    return 0


def _rehearsal(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.features.rehearsal import RehearsalParams, generate

    generate(args.out, params.from_args(RehearsalParams, args), video_ids=args.videos)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="two-stream I3D snippet features (extract from frames, or import)")
    cmds = p.add_subparsers(dest="features_command", metavar="ACTION", required=True)

    e = cmds.add_parser("extract", help="frame shard -> feature shard (RGB + flow I3D, 1024 + 1024 per snippet)")
    e.add_argument("--frames", required=True, help="frame shard (.h5) from nemi decode")
    e.add_argument("--out", required=True, help="feature shard (.h5) to write")
    e.add_argument("--threads", type=int, default=0, help="CPU threads for torch and OpenCV (0: their default)")
    e.add_argument("--rgb-weights", required=True, help="RGB I3D weights file (nemi or piergiaj format)")
    e.add_argument("--flow-weights", required=True,
                   help="flow I3D weights file, or 'cross-modality' to initialise the flow stream from the RGB weights")
    from nemi import params
    from nemi.features.extract import ExtractParams

    params.add_arguments(e, ExtractParams)
    e.set_defaults(func=_extract)

    i = cmds.add_parser("import", help="published per-video features -> feature shard")
    i.add_argument("--source-dir", required=True, help="directory with one feature file per video")
    i.add_argument("--format", required=True, choices=("actionformer", "rtd"),
                   help="actionformer: <id>.npy (T, 2048); rtd: torch tensor file <id> (T, 2048)")
    i.add_argument("--stride-frames", type=int, required=True, help="frames between features (AF 4, RTD-Net 8)")
    i.add_argument("--window-frames", type=int, required=True, help="frames per feature's clip (AF 16, RTD-Net 8)")
    i.add_argument("--offset-frames", type=float, default=0.0, help="first frame of feature 0's clip (default 0)")
    i.add_argument("--fps", type=float, default=None,
                   help="frame rate the stride counts on (a manifest fps column overrides it per video)")
    src = i.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="manifest CSV (video_id,path,split[,fps,frame_count])")
    src.add_argument("--videos", nargs="+", help="video ids to import")
    i.add_argument("--shard", default=None, help="only this shard of the manifest (e.g. shard003)")
    i.add_argument("--shard-size", type=int, default=100, help="videos per shard, as videos.shard_size")
    i.add_argument("--out", required=True, help="feature shard (.h5) to write")
    i.set_defaults(func=_import)

    r = cmds.add_parser("rehearsal", help="synthetic features on Thumos14's or ActivityNet-1.3's annotations, "
                        "one .npy per video",
                        description="Write the rehearsal dataset (nemi.features.rehearsal): one (T, 2048) float32 "
                                    "<video>.npy per annotated video (of the --max-videos subset) at its true fps "
                                    "and frame count, the manifest (videos.csv), the ground truth (groundtruth.csv) "
                                    "and rehearsal.json.")
    r.add_argument("--out", required=True, help="folder to write (replaced whole when complete)")
    r.add_argument("--videos", nargs="+", default=None,
                   help="only these videos (default: every one, Thumos14's 413, or the --max-videos subset)")
    from nemi.features.rehearsal import RehearsalParams

    params.add_arguments(r, RehearsalParams)
    r.set_defaults(func=_rehearsal)
