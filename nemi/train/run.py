"""The train stage: RTD-Net on a dataset's annotated training videos, through ``nemi.fit``'s loop."""

from __future__ import annotations

import os

import pandas as pd
import torch

from nemi.fit.loop import fit
from nemi.fit.params import FitParams
from nemi.train import VERSION
from nemi.train.data import Annotations, TrainingVideos, windows_for


def train(features, boundary, annotations: Annotations, videos: TrainingVideos, gt: pd.DataFrame,
          params: FitParams, out_dir: str | os.PathLike,
          run_dir: str | os.PathLike | None = None, stop_after_epochs: int | None = None,
          init: str | os.PathLike | None = None, data: dict[str, str] | None = None) -> torch.nn.Module | None:
    """Windows of the training videos (targets: their annotations) and of the held-out ones, then ``fit``.

    ``init``: a checkpoint (a NEMI pretraining's model.pt) whose matching weights start the run; ``data``: the
    digests of its manifest and annotations (``nemi.fit.identity.data_identity``), part of the run's identity.
    """
    wp = params.windows()
    train_ds = windows_for(videos.train, features, wp, "train", annotations, boundary)
    holdout = windows_for(videos.holdout, features, wp, "test", annotations, boundary) if videos.holdout else None
    record = {"n_train_videos": len(videos.train), "n_holdout_videos": len(videos.holdout),
              "holdout_videos": videos.holdout, "n_unannotated_videos_left_out": len(videos.unannotated),
              "unannotated_videos": videos.unannotated}
    return fit(train_ds, holdout, gt, params, out_dir, run_dir=run_dir,
               stop_after_epochs=stop_after_epochs, init=init, record=record, stage="train", version=VERSION,
               data=data)
