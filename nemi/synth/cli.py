"""``nemi synth``: write the embedded demo dataset (videos, manifest, annotations)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth", help="generate the demo dataset of synthetic untrimmed videos",
        description="Write a deterministic demo dataset: H.264 videos with textured shots, camera cuts and "
                    "actions of five classes, a manifest (videos.csv), ground truth and Thumos14-style "
                    "annotation files, and the true scene changes.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-videos", type=int, default=24, help="number of videos")
    p.add_argument("--seed", type=int, default=0, help="the whole dataset is a function of the seed")
    p.add_argument("--test-fraction", type=float, default=0.5, help="share of videos in the test split")
    p.add_argument("--workers", type=int, default=None, help="processes rendering videos (default: all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nemi.errors import NemiInputError
    from nemi.synth.generate import generate

    if args.n_videos < 1:
        raise NemiInputError(f"--n-videos must be >= 1, not {args.n_videos}")
    if not 0.0 <= args.test_fraction <= 1.0:
        raise NemiInputError(f"--test-fraction must be in [0, 1], not {args.test_fraction}")
    if args.workers is not None and args.workers < 1:
        raise NemiInputError(f"--workers must be >= 1, not {args.workers}")
    generate(args.out, args.n_videos, args.seed, args.test_fraction, workers=args.workers)
    return 0
