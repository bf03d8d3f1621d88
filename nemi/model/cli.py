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
    s.add_argument("checkpoint", nargs="?", type=Path, default=None,
                   help="a model file (model.pt of train/ or pretrain/, a run's checkpoint.pt, RTD-Action's .pth): "
                        "its model, loaded, and what its training recorded")
    s.add_argument("--configfile", type=Path, default=None,
                   help="YAML with a 'model:' section (the pipeline config) or model settings alone; "
                        "default: the schema defaults (Thumos14); with CHECKPOINT, the settings it must match")
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

    params = None
    if args.configfile or args.checkpoint is None:
        raw, where = read_model_section(args.configfile) if args.configfile else ({}, "model")
        params = ModelParams.from_dict(raw, where=where)
    if args.checkpoint is None:
        model, source = build_model(params), []
    else:
        from nemi.model.checkpoint import load_checkpoint

        # Loaded, not only read: a file whose weights do not fit its own settings is refused here too.
        model, params = load_checkpoint(args.checkpoint, params)
        source = checkpoint_lines(args.checkpoint)
    rows = parameter_table(model)
    width = max(len(name) for name, _ in rows)
    out = sys.stdout
    out.write(f"RTD-Net, {params.num_queries} queries, window {params.window_steps} steps\n")
    for name, n in rows:
        out.write(f"{name:<{width}}  {n:>12,}\n")
    for line in source:
        out.write(line + "\n")
    return 0


def checkpoint_lines(path: Path) -> list[str]:
    """What a model file says about itself: its kind, its windows and how its training chose it."""
    import json
    from collections.abc import Mapping

    from nemi.io.artifacts import load_torch

    obj = load_torch(path, "torch checkpoint")
    if not isinstance(obj, Mapping):
        return [f"{path}"]
    if obj.get("format") == "nemi-train-checkpoint":
        return [f"{path}: a training run's resume checkpoint, stage {obj.get('stage')}, epoch {obj.get('epoch')}"]
    if "args" in obj:
        return [f"{path}: RTD-Action checkpoint, epoch {obj.get('epoch')}"]
    lines = [f"{path}: nemi model" if "model_params" in obj else f"{path}: state dict"]
    if isinstance(obj.get("windows"), Mapping):
        lines.append("windows: " + json.dumps(obj["windows"], sort_keys=True))
    record = json.loads(obj["train_record"]) if isinstance(obj.get("train_record"), str) else None
    if record is None:
        lines.append("no training record (a best-epoch model, or not made by nemi's training)")
        return lines
    stage = (record.get("provenance") or {}).get("stage")
    chosen = "; ".join(f"{name}: {sel.get('checkpoint')}" + (f" (epoch {sel['epoch']})" if sel.get("epoch") else "")
                       for name, sel in (record.get("selection") or {}).items())
    lines.append(f"trained by {stage}, {record.get('n_train_windows')} training windows, config hash "
                 f"{record.get('config_hash')}; checkpoint {chosen or 'unrecorded'}")
    return lines
