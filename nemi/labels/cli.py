"""``nemi labels``: cached change curves -> pseudo-label JSON for a dataset."""

from __future__ import annotations

import argparse

from nemi.errors import NemiConfigError


def _positive(name: str, value: float, allow_zero: bool = True) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise NemiConfigError(f"labels: {name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _run(args: argparse.Namespace) -> int:
    from nemi.labels.pseudo_labels import make_pseudo_labels

    _positive("max_activity_frames", args.max_activity_frames, allow_zero=False)
    _positive("min_activity_frames", args.min_activity_frames, allow_zero=False)
    common = {"max_activity_frames": args.max_activity_frames, "min_activity_frames": args.min_activity_frames}
    if args.kind == "hog":
        _positive("tau", args.tau)
        if args.local_test and args.local_window_frames % 2 == 0:
            raise NemiConfigError(f"labels: local_window_frames must be odd, got {args.local_window_frames}")
        params = {"rule": "hog-threshold", "tau": args.tau, "local_test": args.local_test,
                  "local_window_frames": args.local_window_frames, "local_std_factor": args.local_std_factor,
                  **common}
    else:
        _positive("ratio", args.ratio, allow_zero=False)
        if args.cnn_rule == "top" and args.ratio > 1:
            raise NemiConfigError(f"labels: ratio is the share of changes marked by rule top, <= 1; got {args.ratio}")
        params = {"rule": f"cnn-{args.cnn_rule}", "cnn_rule": args.cnn_rule, "ratio": args.ratio, **common}
    make_pseudo_labels(args.curves, args.out, dataset=args.dataset, kind=args.kind, params=params)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("labels", help="turn change curves into pseudo-label JSON (activities per video)")
    p.add_argument("--kind", choices=("hog", "cnn"), required=True)
    p.add_argument("--dataset", required=True, help="dataset name recorded in the file")
    p.add_argument("--curves", nargs="+", required=True, help="change-curve files of every shard")
    p.add_argument("--out", required=True, help="pseudo-label JSON to write")
    p.add_argument("--tau", type=float, default=0.0715, help="hog: boundary where d_t > tau")
    p.add_argument("--local-test", action="store_true", help="hog: also require d_t > local mean + k std")
    p.add_argument("--local-window-frames", type=int, default=11)
    p.add_argument("--local-std-factor", type=float, default=1.5)
    p.add_argument("--ratio", type=float, default=0.01, help="cnn: the paper's ratio")
    p.add_argument("--cnn-rule", default="top", choices=("top", "relative"),
                   help="cnn: top = the largest ratio share of changes; relative = every change above ratio")
    p.add_argument("--max-activity-frames", type=int, default=300)
    p.add_argument("--min-activity-frames", type=int, default=2)
    p.set_defaults(func=_run)
