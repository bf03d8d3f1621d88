"""Inference over the test windows, boxes back to seconds, merged across windows, top-N per video.

Windows overlap (test stride 50 of 100 steps), so one action is usually proposed by two
windows. RTD-Net keeps every proposal (no NMS) and so does the default here; ``nms`` and
``soft_nms`` (nemi.segments) are options. The CSV gets a JSON beside it recording the
checkpoint's sha256, the training config's hash and the package version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from nemi import __version__
from nemi.engine import evaluate
from nemi.errors import NemiInputError
from nemi.io.artifacts import load_torch
from nemi.io.provenance import provenance, sha256_file
from nemi.io.tables import PRED_COLUMNS
from nemi.log import logger
from nemi.model import load_checkpoint
from nemi.model.postprocess import PostProcess
from nemi.params import as_dict
from nemi.proposals.params import VERSION, ProposalParams
from nemi.segments import nms, soft_nms
from nemi.windows.dataset import Indexed, build_windows, collate_indexed
from nemi.windows.grid import WindowParams, file_window_params



def merge_windows(table: pd.DataFrame, params: ProposalParams) -> pd.DataFrame:
    """Every window's proposals of a video pooled, suppressed as configured, the best ``top_n`` kept."""
    out = []
    for vid, g in table.groupby("video_id", sort=True):
        seg = g[["t_start", "t_end"]].to_numpy(np.float64)
        score = g["score"].to_numpy(np.float64)
        if params.suppression == "nms":
            keep = nms(seg, score, params.nms_threshold)[:params.top_n]
        elif params.suppression == "soft_nms":
            keep, score_kept = soft_nms(seg, score, params.soft_nms_sigma, params.top_n)
            score = score.copy()
            score[keep] = score_kept
        else:
            keep = np.argsort(-score, kind="stable")[:params.top_n]
        out.append(pd.DataFrame({"video_id": vid, "t_start": seg[keep, 0], "t_end": seg[keep, 1],
                                 "score": score[keep]}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(PRED_COLUMNS))


def _checkpoint_extras(path: str | os.PathLike) -> dict[str, Any]:
    obj = load_torch(path, "model file")
    return obj if isinstance(obj, Mapping) else {}


def window_params(extras: Mapping[str, Any]) -> WindowParams:
    """The grid the model was trained on (recorded in a nemi model file or training checkpoint), else the
    schema's RTD-Net grid."""
    return file_window_params(extras)


def checkpoint_kind(extras: Mapping[str, Any]) -> str:
    """What the file is, for the record: a model file, or a training checkpoint and how far its run was."""
    from nemi.fit.state import FORMAT

    if extras.get("format") != FORMAT:
        return "model file"
    stages = list(extras["config"]["train"]["schedules"][extras["config"]["train"]["schedule"]])
    return (f"training checkpoint (stage {extras['stage'] + 1} of {len(stages)}, epoch {extras['epoch']}): "
            "the weights of its last saved epoch, not the checkpoint its run selects (model.pt)")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise NemiInputError("proposals.device is cuda but there is no CUDA GPU")
    return torch.device(name)


def proposals(checkpoint: str | os.PathLike, features, boundary, video_ids: list[str],
              params: ProposalParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(proposal table, record) for ``video_ids``; features and boundary as build_windows takes them."""
    model, mp = load_checkpoint(checkpoint)
    extras = _checkpoint_extras(checkpoint)
    wp = window_params(extras)
    if wp.window_steps != mp.window_steps:
        raise NemiInputError(f"{checkpoint}: window_steps {wp.window_steps} but the model's position table has "
                             f"{mp.window_steps}")
    kind = checkpoint_kind(extras)
    if kind != "model file":
        logger.warning("%s: a %s", checkpoint, kind)
    device = resolve_device(params.device)
    model.to(device)
    windows = build_windows({v: features[v] for v in video_ids}, wp, "test", boundary=boundary, video_ids=video_ids)

    loader = torch.utils.data.DataLoader(Indexed(windows), batch_size=params.batch_size, collate_fn=collate_indexed)
    _, raw = evaluate(model, None, PostProcess(mp.proposal_score), loader, device, windows)
    table = merge_windows(raw, params)
    record = json.loads(extras["train_record"]) if isinstance(extras.get("train_record"), str) else {}
    if kind != "model file":
        from nemi.fit.identity import config_hash

        record = {"config_hash": config_hash(extras["config"])}
    info = {"checkpoint": str(checkpoint), "checkpoint_kind": kind, "checkpoint_sha256": sha256_file(checkpoint),
            "config_hash": record.get("config_hash"), "nemi_version": __version__, "version": VERSION,
            "params": as_dict(params), "proposal_score": mp.proposal_score, "windows": as_dict(wp),
            "n_videos": len(video_ids), "video_ids": list(video_ids), "n_windows": len(windows),
            "n_proposals": len(table),
            "provenance": provenance("proposals")}
    logger.info("%d proposals for %d videos from %d windows", len(table), len(video_ids), len(windows))
    return table, info
