"""Load RTD-Net weights: nemi checkpoints and RTD-Action's released ``checkpoint_best_sum_ar.pth``.

Both are ``torch.save``d dicts whose ``model`` entry is the state dict (parameter names are the
same). A nemi checkpoint also carries its ``ModelParams`` under ``model_params``; RTD-Action's
carries an ``argparse.Namespace`` under ``args``, read with ``weights_only`` loading by allowing
just that class. ``recorded_kind`` reads what made a checkpoint off its own record (a nemi model
file's ``train_record``, a resume checkpoint's provenance), so that a pretraining can refuse one that
saw annotations. ``load_matching`` copies the weights of matching name and shape (a fine-tuning
started from a pretraining of other heads).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nemi.errors import NemiInputError
from nemi.io.artifacts import load_torch
from nemi.io.atomic import atomic_output
from nemi.model.builder import build_model
from nemi.model.params import ModelParams
from nemi.model.rtd import RTDNet

MODEL_KEY = "model"
PARAMS_KEY = "model_params"
_SHOWN = 8  # keys listed per kind in a refusal; the rest are counted


def save_model(path: str | os.PathLike, model: RTDNet, params: ModelParams, **extra: Any) -> None:
    """Write ``{"model": state_dict, "model_params": params, **extra}`` atomically."""
    with atomic_output(path) as tmp:
        torch.save({MODEL_KEY: model.state_dict(), PARAMS_KEY: params.to_dict(), **extra}, tmp)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], ModelParams | None]:
    """The state dict and, for nemi checkpoints, the ModelParams it was made with."""
    path = Path(path)
    if not path.is_file():
        raise NemiInputError(f"{path}: checkpoint not found")
    obj = load_torch(path, "torch checkpoint")
    if isinstance(obj, Mapping) and MODEL_KEY in obj:
        state, raw_params = obj[MODEL_KEY], obj.get(PARAMS_KEY)
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, raw_params = obj, None  # a bare state dict
    else:
        keys = sorted(obj)[:_SHOWN] if isinstance(obj, Mapping) else type(obj).__name__
        raise NemiInputError(f"{path}: no '{MODEL_KEY}' state dict in the checkpoint (found {keys})")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NemiInputError(f"{path}: '{MODEL_KEY}' is not a state dict of tensors")
    params = ModelParams.from_dict(raw_params, where=f"{path}: {PARAMS_KEY}") if raw_params is not None else None
    return dict(state), params


def recorded_kind(path: str | os.PathLike) -> tuple[str, bool]:
    """What made the checkpoint at ``path``, as the file itself records it, and whether that is a NEMI
    pretraining that saw no annotation: made by ``nemi pretrain`` and not started from ``train.pretrained``
    (a pretraining's own start, ``pretrain.init``, was checked the same way when it ran). A file whose
    record is missing or unreadable is not one: nothing shows what it was trained on."""
    from nemi.fit.state import FORMAT as RESUME_FORMAT

    obj = load_torch(Path(path), "torch checkpoint")
    if not isinstance(obj, Mapping):
        return f"a torch file holding a {type(obj).__name__}", False
    if "args" in obj:
        return "an RTD-Action checkpoint (trained on annotations)", False
    if obj.get("format") == RESUME_FORMAT:
        record, what = obj, "resume checkpoint"
    elif isinstance(obj.get("train_record"), str):
        what = "model file"
        try:
            record = json.loads(obj["train_record"])
        except json.JSONDecodeError:
            return "a nemi model file whose training record is not JSON", False
    elif PARAMS_KEY in obj:
        return "a nemi model file without a training record (a best-epoch model, or not made by nemi's training)", False
    else:
        return "a state dict without a record of what made it", False
    stage = (record.get("provenance") or {}).get("stage") if isinstance(record, Mapping) else None
    if stage == "train":
        return f"a fine-tuned nemi {what} (nemi train, on annotations)", False
    if stage != "pretrain":
        return f"a nemi {what} of stage {stage!r}", False
    started = record.get("initialised") or {}
    if "pretrained" in started:
        return (f"a NEMI pretraining's {what} started from {started['pretrained']} (train.pretrained, a checkpoint "
                "that may have seen annotations)"), False
    return f"a NEMI pretraining's {what}", True


def require_pretraining(path: str | os.PathLike, key: str) -> str:
    """The kind of the checkpoint at ``path`` (see ``recorded_kind``) if it is a label-free pretraining;
    else refused, naming ``key``, the file and its kind."""
    path = Path(path)
    if not path.is_file():
        raise NemiInputError(f"{key}: {path}: checkpoint not found")
    kind, label_free = recorded_kind(path)
    if not label_free:
        raise NemiInputError(f"{key}: {path} is {kind}; a pretraining starts only from random weights or another "
                             "NEMI pretraining's model.pt, so that no human label reaches it")
    return kind


def infer_params(state: Mapping[str, torch.Tensor], base: ModelParams) -> ModelParams:
    """``base`` with the sizes a state dict shows (queries, window, layers, widths) taken from it.

    ``boundary_scale`` leaves no trace in the weights: it stays as in ``base``.
    """
    found: dict[str, int] = {}
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if len(shapes.get("query_embed.weight", ())) == 2:
        found["num_queries"], found["hidden_dim"] = shapes["query_embed.weight"]
    if len(shapes.get("position_embedding.position_table", ())) == 3:
        found["window_steps"] = shapes["position_embedding.position_table"][1]
    if len(shapes.get("input_proj.weight", ())) == 4:
        found["proj_dim"], found["input_dim"] = shapes["input_proj.weight"][:2]
    if len(shapes.get("transformer.decoder.layers.0.linear1.weight", ())) == 2:
        found["ffn_dim"] = shapes["transformer.decoder.layers.0.linear1.weight"][0]
    if len(shapes.get("transformer.encoder.layers.0.weight", ())) == 2:
        found["encoder_hidden_dim"] = shapes["transformer.encoder.layers.0.weight"][0]
    for field, pattern in (("decoder_layers", r"transformer\.decoder\.layers\.(\d+)\."),
                           ("encoder_layers", r"transformer\.encoder\.layers\.(\d+)\.")):
        layers = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
        if layers:
            found[field] = max(layers) + 1
    try:
        return replace(base, **found)
    except NemiInputError:  # e.g. heads no longer divide the width: compare with base and report
        return base


def _refusal(path: Path, model: RTDNet, state: Mapping[str, torch.Tensor]) -> str | None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    parts = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            parts.append(f"{what} ({len(items)}): {items[:_SHOWN]}{more}")
    if not parts:
        return None
    return f"{path}: not an RTD-Net state dict of this architecture: " + "; ".join(parts)


def load_checkpoint(path: str | os.PathLike, params: ModelParams | None = None) -> tuple[RTDNet, ModelParams]:
    """The model of a nemi or RTD-Action checkpoint, in eval mode, and the params it was built with.

    Without ``params``: a nemi checkpoint's own; for an RTD-Action checkpoint the schema defaults
    with the sizes read off its weights (so its ActivityNet one needs ``params`` only for
    ``boundary_scale`` = 1). With ``params`` whose architecture differs from a nemi checkpoint's,
    or weights that do not fit, the checkpoint is refused, naming the differences.
    """
    path = Path(path)
    state, stored = read_checkpoint(path)
    if params is not None and stored is not None and params.architecture() != stored.architecture():
        diff = {k: (v, stored.architecture()[k]) for k, v in params.architecture().items()
                if v != stored.architecture()[k]}
        listed = ", ".join(f"{k} = {c} in the checkpoint, {v} in the config" for k, (v, c) in diff.items())
        raise NemiInputError(f"{path}: made with other model settings than the config: {listed}")
    used = params or stored or infer_params(state, ModelParams.from_dict({}))
    try:
        model = build_model(used)
    except (ValueError, RuntimeError) as err:
        raise NemiInputError(f"{path}: cannot build a model for its weights ({err})") from None
    problem = _refusal(path, model, state)
    if problem:
        raise NemiInputError(problem)
    model.load_state_dict(state, strict=True)
    return model.eval(), used


def load(path: str | os.PathLike, params: ModelParams | None = None) -> RTDNet:
    """``load_checkpoint`` without the params."""
    return load_checkpoint(path, params)[0]


def load_matching(model: torch.nn.Module, path: str | os.PathLike) -> dict[str, list[str]]:
    """Copy every weight of the checkpoint at ``path`` whose name and shape match ``model``'s.

    Fine-tuning from a pretraining: its pretraining-only layers (the activity-query projection) and
    anything of another shape stay as initialised. Returns the names loaded, and those left out of
    the checkpoint and of the model, so that the run records them.
    """
    state, _ = read_checkpoint(path)
    own = model.state_dict()
    loaded = sorted(k for k, v in state.items() if k in own and own[k].shape == v.shape)
    if not loaded:
        raise NemiInputError(f"{path}: no weight of the checkpoint fits this model (names or shapes differ)")
    model.load_state_dict({**own, **{k: state[k] for k in loaded}})
    return {"loaded": loaded, "not_loaded_from_checkpoint": sorted(set(state) - set(loaded)),
            "not_in_checkpoint": sorted(set(own) - set(loaded))}
