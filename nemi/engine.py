"""``train_one_epoch`` and ``evaluate``, in the DETR manner: no model building, no loss arithmetic
beyond the weighted sum the criterion's ``weight_dict`` defines.

A batch is ``nemi.windows.dataset.collate``'s dict, optionally with ``model_inputs``: further keyword
inputs of the model, which the training loop passes on (evaluation never does). On a GPU with
bfloat16 the forward pass runs under autocast (the criterion computes its losses in float32); on
the CPU everything is float32.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterable

import pandas as pd
import torch

from nemi.log import logger


def autocast(device: torch.device):
    """bf16 autocast where the GPU has it, else nothing (fp32)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _inputs(batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[dict]]:
    targets = [{k: v.to(device) for k, v in t.items()} for t in batch["targets"]]
    return (batch["features"].to(device, non_blocking=True), batch["boundary"].to(device, non_blocking=True),
            batch["mask"].to(device, non_blocking=True), targets)


def _extra(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """Further model inputs a data source adds under ``model_inputs`` (pretraining's activity queries)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.get("model_inputs", {}).items()}


def _is_count(key: str) -> bool:
    """Loss-dict entries that count windows (``con_skipped``): summed over an epoch, not averaged."""
    return key.startswith("con_skipped")


def _means(sums: dict[str, float], n: int) -> dict[str, float]:
    return {k: v if _is_count(k) else v / n for k, v in sums.items()}


def weighted_total(loss_dict: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    return sum(loss_dict[k] * w for k, w in weights.items() if k in loss_dict)


def train_one_epoch(model: torch.nn.Module, criterion: torch.nn.Module, loader: Iterable[dict],
                    optimizer: torch.optim.Optimizer, device: torch.device, *, max_norm: float = 0.1,
                    scaler: torch.amp.GradScaler | None = None) -> dict[str, float]:
    """One pass over ``loader``; returns the window-weighted mean of every loss term and ``loss`` (weighted total).

    Raises FloatingPointError naming every term when the total is not finite.
    """
    model.train()
    criterion.train()
    weights = criterion.weight_dict
    sums: dict[str, float] = defaultdict(float)
    n = 0
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for batch in loader:
        features, boundary, mask, targets = _inputs(batch, device)
        with autocast(device):
            outputs = model(features, boundary, mask, **_extra(batch, device))
        loss_dict = criterion(outputs, targets)
        total = weighted_total(loss_dict, weights)
        value = total.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"loss is {value}, stopping training; terms: "
                                     f"{ {k: round(v.item(), 4) for k, v in loss_dict.items()} }")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
        else:
            total.backward()
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        if scaler is not None and scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        b = len(targets)
        n += b
        sums["loss"] += value * b
        for k, v in loss_dict.items():
            sums[k] += v.item() if _is_count(k) else v.item() * b
    if n == 0:
        raise ValueError("train_one_epoch: the loader gave no batches")
    return _means(sums, n)


@torch.no_grad()
def evaluate(model: torch.nn.Module, criterion: torch.nn.Module | None, postprocess: torch.nn.Module,
             loader: Iterable[dict], device: torch.device, dataset) -> tuple[dict[str, float], pd.DataFrame]:
    """Mean losses (when ``criterion`` is given) and every window's proposals in seconds.

    ``dataset`` is the loader's WindowDataset; batches must carry ``index`` (the window's position in
    it), as ``nemi.train.data.collate_indexed`` adds. Proposals: ``video_id, t_start, t_end, score``,
    all windows concatenated, no suppression (as RTD-Net).
    """
    model.eval()
    if criterion is not None:
        criterion.eval()
    sums: dict[str, float] = defaultdict(float)
    n = 0
    rows: list[pd.DataFrame] = []
    for batch in loader:
        features, boundary, mask, targets = _inputs(batch, device)
        with autocast(device):
            outputs = model(features, boundary, mask)
        if criterion is not None:
            loss_dict = criterion(outputs, targets)
            b = len(targets)
            n += b
            sums["loss"] += weighted_total(loss_dict, criterion.weight_dict).item() * b
            for k, v in loss_dict.items():
                sums[k] += v.item() if _is_count(k) else v.item() * b
        result = postprocess(outputs)
        for j, i in enumerate(batch["index"].tolist()):
            se = dataset.to_seconds(i, outputs["pred_boxes"][j])  # clipped to the window, as the reference
            rows.append(pd.DataFrame({"video_id": dataset.records[i].video_id, "t_start": se[:, 0],
                                      "t_end": se[:, 1], "score": result["scores"][j].float().cpu().numpy()}))
    logger.debug("evaluated %d windows", sum(len(r) > 0 for r in rows))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["video_id", "t_start", "t_end",
                                                                                    "score"])
    return _means(sums, n) if n else {}, table
