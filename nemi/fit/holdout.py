"""The held-out part of a training split: the videos that choose checkpoints (never the test split), and
their scores after an epoch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from nemi.engine import evaluate
from nemi.errors import NemiInputError
from nemi.evaluation import evaluate_proposals, get_protocol
from nemi.windows.dataset import Indexed, WindowDataset, collate_indexed


def split_holdout(videos: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """(trained on, held out): a seeded ``share`` of ``videos`` held out, at least one when share > 0."""
    videos = sorted(videos)
    n_hold = 0 if share <= 0 else max(1, int(round(share * len(videos))))
    if n_hold >= len(videos):
        raise NemiInputError(f"holdout_share {share} leaves no training video ({len(videos)} usable)")
    order = np.random.default_rng(seed).permutation(len(videos))
    hold = sorted(videos[i] for i in order[:n_hold])
    return sorted(set(videos) - set(hold)), hold


def held_out_scores(model, criterion, postprocess, holdout: WindowDataset, gt: pd.DataFrame, protocol: str,
                    device: torch.device, batch_size: int) -> dict[str, float]:
    """The held-out windows' losses and AR@AN (``val_`` keys) and their sum, ``val_sum_ar``: what chooses a
    stage's best epoch and draws the held-out curve."""
    loader = torch.utils.data.DataLoader(Indexed(holdout), batch_size=batch_size, collate_fn=collate_indexed)
    losses, props = evaluate(model, criterion, postprocess, loader, device, holdout)
    proto = get_protocol(protocol)
    res = evaluate_proposals(gt, props, protocol, videos=sorted(holdout.videos))
    ar = {f"val_AR@{n}": float(res["AR@AN"][str(n)]) for n in proto.average_numbers}
    return {**{f"val_{k}": v for k, v in losses.items()}, **ar, "val_sum_ar": float(sum(ar.values()))}
