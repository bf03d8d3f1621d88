"""``nemi synth``: write the embedded demo dataset (videos, manifest, annotations)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth", help="generate the demo dataset of synthetic untrimmed videos",
        description="Write a deterministic demo dataset: H.264 videos with textured shots, camera cuts "
                    "(between actions and, with --cut-inside-share, inside them) and actions of five classes, "
                    "a manifest (videos.csv), ground truth and Thumos14-style annotation files, and the true "
                    "scene changes.")
    p.add_argument("--out", required=True, help="output folder")
    from nemi import params
    from nemi.synth.plan import SynthParams

    params.add_arguments(p, SynthParams)
    p.add_argument("--workers", type=int, default=None, help="processes rendering videos (default: all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nemi import params
    from nemi.errors import NemiInputError
    from nemi.synth.generate import generate
    from nemi.synth.plan import SynthParams

    p = params.from_args(SynthParams, args)
    if args.workers is not None and args.workers < 1:
        raise NemiInputError(f"--workers must be >= 1, not {args.workers}")
    generate(args.out, p.n_videos, p.seed, p.test_fraction, workers=args.workers,
             cut_inside_share=p.cut_inside_share)
    return 0
