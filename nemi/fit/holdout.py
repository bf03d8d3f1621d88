"""The held-out part of a training split: the videos that choose checkpoints (never the test split)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nemi.errors import NemiInputError


def split_holdout(videos: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """(trained on, held out): a seeded ``share`` of ``videos`` held out, at least one when share > 0."""
    videos = sorted(videos)
    n_hold = 0 if share <= 0 else max(1, int(round(share * len(videos))))
    if n_hold >= len(videos):
        raise NemiInputError(f"holdout_share {share} leaves no training video ({len(videos)} usable)")
    order = np.random.default_rng(seed).permutation(len(videos))
    hold = sorted(videos[i] for i in order[:n_hold])
    return sorted(set(videos) - set(hold)), hold
