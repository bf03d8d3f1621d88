"""The pretrain stage's data source: pseudo activities as targets, re-assembled every time a window is drawn.

Windows are cut exactly as the fine-tuning's (``nemi.windows``: same grid, same "entirely inside"
rule), with the activities of one pseudo-label file (``nemi.io.pseudo_labels``) as targets of the
single class "activity". No annotation file is read here: the only inputs are features, a boundary
prior, the manifest's split column and the pseudo labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from nemi.errors import NemiInputError
from nemi.io.pseudo_labels import read_pseudo_labels
from nemi.log import logger
from nemi.model.params import ModelParams
from nemi.pretrain.params import PretrainParams
from nemi.reassemble import ReassembleParams, pool_activities, reassemble
from nemi.windows.dataset import WindowDataset, collate

Annotations = dict[str, tuple[np.ndarray, np.ndarray]]
NO_PAIR = (-1, -1)


def read_activities(path: str | os.PathLike, dataset: str) -> tuple[Annotations, pd.DataFrame]:
    """video_id -> (activities (N, 2) seconds, labels zeros), and the same as a ground-truth table
    (label ``activity``), from a pseudo-label file of ``dataset``; refused when made for another."""
    doc = read_pseudo_labels(path)
    if doc["dataset"] != dataset:
        raise NemiInputError(f"{path}: pseudo labels of dataset {doc['dataset']!r}, but the features are of "
                             f"dataset {dataset!r}: pretrain on the pseudo labels of the features' own videos")
    out: Annotations = {}
    rows = []
    for vid, v in sorted(doc["videos"].items()):
        acts = np.asarray(v["activities"], dtype=np.float64).reshape(-1, 2)
        out[vid] = (acts, np.zeros(len(acts), np.int64))
        rows.extend((vid, s, e, "activity") for s, e in acts)
    return out, pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label"])


def pretraining_videos(splits: Mapping[str, str], activities: Annotations, params: PretrainParams,
                       features: Sequence[str]) -> list[str]:
    """The videos of the configured splits that have features; those without a pseudo activity are
    left out and counted (they hold no window with a target)."""
    chosen = sorted(v for v, s in splits.items() if s in params.splits)
    if not chosen:
        raise NemiInputError(f"no video of split(s) {list(params.splits)} in the manifest")
    foreign = sorted(set(activities) - set(splits))
    if len(foreign) == len(activities):
        raise NemiInputError(f"none of the pseudo labels' {len(activities)} videos is in the manifest (first: "
                             f"{foreign[:3]}): the pseudo labels are of another dataset")
    missing = sorted(set(chosen) - set(features))
    if missing:
        raise NemiInputError(f"no features for {len(missing)} pretraining video(s): {missing[:10]}")
    empty = [v for v in chosen if v not in activities or len(activities[v][0]) == 0]
    if empty:
        logger.warning("%d video(s) have no pseudo activity and are left out: %s", len(empty),
                       ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else ""))
    kept = sorted(set(chosen) - set(empty))
    if not kept:
        raise NemiInputError(f"none of the {len(chosen)} videos of split(s) {list(params.splits)} "
                             "has a pseudo activity")
    return kept


class PretrainWindows(torch.utils.data.Dataset):
    """Training windows of pseudo activities, re-assembled anew each time one is drawn.

    A window's draw depends only on (``seed``, epoch, window index), so a resumed run and any
    number of loader workers assemble the same windows. ``skipped`` is left to the criterion: a
    window without a pair (a single activity: nowhere to inject) gets pair (-1, -1) and is trained
    without the contrastive term, which counts it.
    """

    def __init__(self, windows: WindowDataset, params: PretrainParams, model: ModelParams) -> None:
        self.windows, self.params, self.epoch = windows, params, 0
        self.num_queries, self.activity_queries = model.num_queries, model.query_strategy == "activity_query"
        self.records, self.videos = windows.records, windows.videos
        self.reassembly = None if params.reassemble == "off" else ReassembleParams(
            mode=params.reassemble, min_fraction=params.crop_min_fraction, max_fraction=params.crop_max_fraction,
            min_target_steps=params.min_target_steps, prior=params.splice_prior)

    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict:
        item = self.windows.window(i)
        pair = None
        if self.reassembly is not None:
            rng = np.random.default_rng([self.params.seed, self.epoch, i])
            item, pair = reassemble(item, rng, self.reassembly)
        item["pair"] = np.asarray(pair if pair is not None else NO_PAIR, np.int64)
        if self.activity_queries:
            # One query per activity, in window order; a window with more activities than queries
            # gives its first ones (the rest are still targets, found by the learned queries).
            boxes = item["boxes"][:self.num_queries]
            item["activity_features"] = pool_activities(item["features"], boxes, len(item["features"]))
        return item


def collate_pretrain(batch: list[dict]) -> dict:
    """``nemi.windows.dataset.collate`` plus each target's positive ``pair`` and, for activity queries, the
    pooled activity features as the model's ``activity_features`` (B, K, F) with ``activity_mask`` (B, K)."""
    out = collate(batch)
    for t, b in zip(out["targets"], batch):
        t["pair"] = torch.from_numpy(b["pair"])
    if "activity_features" in batch[0]:
        k = max(1, max(len(b["activity_features"]) for b in batch))
        dim = batch[0]["features"].shape[1]
        feats = np.zeros((len(batch), k, dim), np.float32)
        valid = np.zeros((len(batch), k), bool)
        for j, b in enumerate(batch):
            n = len(b["activity_features"])
            feats[j, :n], valid[j, :n] = b["activity_features"], True
        out["model_inputs"] = {"activity_features": torch.from_numpy(feats), "activity_mask": torch.from_numpy(valid)}
    return out
