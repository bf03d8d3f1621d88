"""``nemi model summary``: parameters per top-level module of RTD-Net and the total."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from nemi.errors import NemiInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model", help="RTD-Net proposal model tools")
    sub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    s = sub.add_parser("summary", help="parameters per top-level module and the total")
    s.add_argument("--configfile", type=Path, default=None,
                   help="YAML with a 'model:' section (the pipeline config) or model settings alone; "
                        "default: the schema defaults (Thumos14)")
    s.set_defaults(func=_summary)


def read_model_section(path: Path) -> tuple[dict, str]:
    """The model settings of a YAML file, and where they came from (for error messages)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise NemiInputError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise NemiInputError(f"{path}: not valid YAML ({err})") from None
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise NemiInputError(f"{path}: expected a mapping, got {type(doc).__name__}")
    if "model" in doc:
        if not isinstance(doc["model"], dict):
            raise NemiInputError(f"{path}: model: expected a mapping")
        return doc["model"], f"{path}: model"
    return doc, str(path)


def parameter_table(model) -> list[tuple[str, int]]:
    rows = [(name, sum(p.numel() for p in child.parameters())) for name, child in model.named_children()]
    return rows + [("total", sum(p.numel() for p in model.parameters()))]


def _summary(args: argparse.Namespace) -> int:
    from nemi.model.builder import build_model
    from nemi.model.params import ModelParams

    raw, where = read_model_section(args.configfile) if args.configfile else ({}, "model")
    params = ModelParams.from_dict(raw, where=where)
    rows = parameter_table(build_model(params))
    width = max(len(name) for name, _ in rows)
    out = sys.stdout
    out.write(f"RTD-Net, {params.num_queries} queries, window {params.window_steps} steps\n")
    for name, n in rows:
        out.write(f"{name:<{width}}  {n:>12,}\n")
    return 0
