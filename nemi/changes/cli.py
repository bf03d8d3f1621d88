"""``nemi changes``: change curves between neighbouring frames (HOG) or snippets (CNN)."""

from __future__ import annotations

import argparse


def _hog(args: argparse.Namespace) -> int:
    from nemi.changes.hog_curve import hog_curves_for_shard

    hog_curves_for_shard(args.frames, args.out, cell_px=args.cell_px, height_px=args.height_px,
                         width_px=args.width_px)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("changes", help="compute change curves (HOG per frame, CNN per snippet)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    h = kinds.add_parser("hog", help="HOG change curve of every video in a frame shard")
    h.add_argument("--frames", required=True, help="frame shard (.h5) from nemi decode")
    h.add_argument("--out", required=True, help="change-curve file to write (.h5)")
    h.add_argument("--cell-px", type=int, default=8)
    h.add_argument("--height-px", type=int, default=96)
    h.add_argument("--width-px", type=int, default=128)
    h.set_defaults(func=_hog)
    from nemi.changes.cnn import register_cli

    register_cli(kinds)
