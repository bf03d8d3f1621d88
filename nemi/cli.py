"""The ``nemi`` command: one subcommand per pipeline stage.

Each stage module exposes ``register(subparsers)``; heavy imports (torch, cv2) happen
inside the handlers so that ``nemi --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nemi import __version__, runtime
from nemi.errors import NemiInputError
from nemi.log import setup_logging

# Order is the order of the pipeline, which is the order --help lists them in.
STAGE_MODULES = (
    "nemi.synth.cli",
    "nemi.decode.cli",
    "nemi.changes.cli",
    "nemi.labels.cli",
    "nemi.i3d.cli",
    "nemi.features.cli",
    "nemi.tem.cli",
    "nemi.model.cli",
    "nemi.train.cli",
    "nemi.pretrain.cli",
    "nemi.proposals.cli",
    "nemi.detect.cli",
    "nemi.evaluation.cli",
    "nemi.report.cli",
    "nemi.inspect",
    "nemi.plot",
    "nemi.clean",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemi", description="NEMI pipeline stages; each rule of the Snakemake workflow calls one of these.")
    parser.add_argument("--version", action="version", version=f"nemi {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    runtime.set_threads()  # the rule's threads: (Snakemake's OMP_NUM_THREADS) for every library the job loads
    try:
        return int(args.func(args) or 0)
    except NemiInputError as err:
        print(f"nemi: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nemi inspect X | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
