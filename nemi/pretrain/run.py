"""``pretrain``: pseudo-activity windows (re-assembled) through ``nemi.fit``'s loop, with the contrastive term."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd
import torch

from nemi.fit.holdout import split_holdout
from nemi.fit.loop import fit
from nemi.model.checkpoint import require_pretraining
from nemi.params import as_dict
from nemi.pretrain import VERSION
from nemi.pretrain.data import Annotations, PretrainWindows, collate_pretrain
from nemi.pretrain.params import PretrainFitParams
from nemi.windows.dataset import build_windows


def pretrain(features, boundary, activities: Annotations, activity_table: pd.DataFrame, videos: list[str],
             params: PretrainFitParams, out_dir: str | os.PathLike, *, run_dir: str | os.PathLike | None = None,
             stop_after_epochs: int | None = None, record: Mapping[str, str] | None = None,
             data: Mapping[str, str] | None = None) -> torch.nn.Module | None:
    """Pretrain on ``videos``' pseudo activities; a held-out share of them (their pseudo activities) chooses
    checkpoints. ``params``: the network, fitting and switches of the pretraining, built once; ``data``: the
    digests of its manifest and pseudo labels (``nemi.fit.identity.data_identity``), part of the run's identity.
    Its start is random weights or ``params.pretrain.init``, a checkpoint whose own record says it is a
    label-free pretraining (anything else is refused)."""
    p, fitting = params.pretrain, params.train
    init_kind = require_pretraining(p.init, "pretrain.init") if p.init else None
    wp = params.windows()
    trained, held = split_holdout(videos, fitting.holdout_share, fitting.holdout_seed)
    windows = build_windows({v: features[v] for v in trained}, wp, "train", annotations=activities,
                            boundary=boundary, video_ids=trained)
    holdout = (build_windows({v: features[v] for v in held}, wp, "test", annotations=activities, boundary=boundary,
                             video_ids=held) if held else None)
    run = {"n_train_videos": len(trained), "n_holdout_videos": len(held), "holdout_videos": held,
           "splits": list(p.splits), "transductive": p.transductive, "init_kind": init_kind, **dict(record or {})}
    source = PretrainWindows(windows, p, params.model)
    return fit(source, holdout, activity_table[activity_table["video_id"].isin(held)],
               params, out_dir, run_dir=run_dir,
               stop_after_epochs=stop_after_epochs, collate_fn=collate_pretrain, init=p.init,
               config_extra={"pretrain": as_dict(p)}, record=run, stage="pretrain", version=VERSION, data=data)
