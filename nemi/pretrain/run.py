"""``pretrain``: pseudo-activity windows (re-assembled) through ``nemi.fit``'s loop, with the contrastive term."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from nemi.fit.holdout import split_holdout
from nemi.fit.loop import fit
from nemi.model.checkpoint import require_pretraining
from nemi.params import as_dict
from nemi.pretrain import VERSION
from nemi.pretrain.data import Annotations, PretrainWindows, collate_pretrain
from nemi.pretrain.params import PretrainParams
from nemi.windows.dataset import build_windows


def pretrain(features, boundary, activities: Annotations, activity_table: pd.DataFrame, videos: list[str],
             params: PretrainParams, train_section: Mapping[str, Any], model_section: Mapping[str, Any],
             out_dir: str | os.PathLike, *, run_dir: str | os.PathLike | None = None,
             stop_after_epochs: int | None = None, record: Mapping[str, Any] | None = None,
             data: Mapping[str, str] | None = None) -> torch.nn.Module | None:
    """Pretrain on ``videos``' pseudo activities; a held-out share of them (their pseudo activities) chooses
    checkpoints. ``train_section`` and ``model_section`` are the dataset's; the pretraining's own
    overrides and switches come from ``params``; ``data``: the digests of its manifest and pseudo labels
    (``nemi.fit.identity.data_identity``), part of the run's identity. Its start is random weights or
    ``params.init``, a checkpoint whose own record says it is a label-free pretraining (anything else is
    refused)."""
    fitting = params.fit_params(train_section)
    init_kind = require_pretraining(params.init, "pretrain.init") if params.init else None
    wp = fitting.windows()
    trained, held = split_holdout(videos, fitting.holdout_share, fitting.holdout_seed)
    windows = build_windows({v: features[v] for v in trained}, wp, "train", annotations=activities,
                            boundary=boundary, video_ids=trained)
    holdout = (build_windows({v: features[v] for v in held}, wp, "test", annotations=activities, boundary=boundary,
                             video_ids=held) if held else None)
    run = {"n_train_videos": len(trained), "n_holdout_videos": len(held), "holdout_videos": held,
           "splits": list(params.splits), "transductive": params.transductive, "init_kind": init_kind,
           **dict(record or {})}
    model = params.model_section(model_section)
    source = PretrainWindows(windows, params, int(model.get("num_queries") or _default_queries()))
    return fit(source, holdout, activity_table[activity_table["video_id"].isin(held)],
               fitting, model, out_dir, run_dir=run_dir,
               stop_after_epochs=stop_after_epochs, collate_fn=collate_pretrain, init=params.init,
               config_extra={"pretrain": as_dict(params)}, record=run, stage="pretrain", version=VERSION, data=data)


def _default_queries() -> int:
    from nemi.params import defaults

    return int(defaults("model")["num_queries"])
