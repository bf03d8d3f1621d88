"""The training loop every model-fitting stage shares: a schedule's stages, held-out selection, resume.

``fit`` takes its windows ready made, so the supervised stage (``nemi train``, annotations as
targets) and NEMI's pretraining (``nemi pretrain``, pseudo activities, re-assembled) are the same
loop with another data source and criterion, not two copies.

Every epoch: train, then (with held-out windows) losses and AR@AN on them, a row in ``epochs.csv``
(with held-out windows, a first row ``epoch`` 0 scores the weights before any step),
the learning curve, and ``checkpoint.pt`` in the run folder, so a killed run started again with the
same command continues from its last finished epoch to the same weights. Each stage hands on the
checkpoint ``select`` names (best summed AR@AN on the held-out videos, or its last epoch); the test
split never takes part. With torchrun (``WORLD_SIZE`` > 1) the gradients are averaged across
processes, the sampler is sharded and only rank 0 writes (``nemi.fit.distributed``).

The loop is ``fit``; its helpers live by what they hold: the run's config and hash in
``nemi.fit.identity``, the checkpoint and resume in ``nemi.fit.state``, a stage's optimiser in
``nemi.fit.optimiser``, the held-out scores in ``nemi.fit.holdout``, the epoch rows and best epochs in
``nemi.fit.progress``, what is written and when in ``nemi.fit.outputs``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nemi.engine import train_one_epoch
from nemi.errors import NemiInputError
from nemi.fit.distributed import Dist, data_parallel, setup_distributed
from nemi.fit.holdout import held_out_scores
from nemi.fit.identity import config_hash, run_config
from nemi.fit.optimiser import StageOptimiser
from nemi.fit.outputs import Pacer, final_files, run_record
from nemi.fit.params import FitParams, TrainParams
from nemi.fit.progress import Progress
from nemi.fit.state import CHECKPOINT, open_run, resume_stage, rng_states, save_checkpoint
from nemi.io.provenance import provenance
from nemi.log import logger
from nemi.model import ModelParams, build, build_model, load_checkpoint, save_model
from nemi.model.checkpoint import load_matching
from nemi.windows.dataset import WindowDataset, collate


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_windows(train_ds: WindowDataset, batch_size: int, kind: str) -> None:
    """Refuse a run with nothing to train on; warn when every epoch would be one short optimiser step."""
    if len(train_ds) == 0:
        raise NemiInputError("no training window holds a whole segment; nothing to train on")
    if len(train_ds) < batch_size:
        # One short optimiser step an epoch: a schedule written in epochs then trains far less than it reads.
        logger.warning("%s: only %d training window(s), fewer than train.batch_size %d: every epoch is one "
                       "optimiser step; more videos, a smaller train.train_stride or model.window_steps give more "
                       "windows", kind, len(train_ds), batch_size)


def initial_model(base: ModelParams, params: TrainParams, init: str | os.PathLike | None, device: torch.device,
                  resuming: bool) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model a run starts from and the record of that start: weights drawn from ``params.seed``, then,
    for a fresh run (a resumed one takes its checkpoint's), ``params.pretrained`` whole and ``init``'s
    matching weights over it."""
    seed_everything(params.seed)
    model = build_model(base).to(device)
    initialised: dict[str, Any] = {}
    if params.pretrained and not resuming:
        # nemi.model refuses a checkpoint of another architecture, naming both.
        model.load_state_dict(load_checkpoint(params.pretrained, base)[0].state_dict())
        initialised["pretrained"] = str(params.pretrained)
    if init is not None and not resuming:
        # Over the pretrained weights, if both are given: the record names both starts.
        loaded = load_matching(model, init)
        initialised |= {"init": str(init), "n_loaded": len(loaded["loaded"]), **loaded}
        logger.info("initialised %d of %d weights from %s; not carried over: %s", len(loaded["loaded"]),
                    len(model.state_dict()), init, ", ".join(loaded["not_loaded_from_checkpoint"]) or "none")
    return model, initialised


def training_loader(train_ds: WindowDataset, params: TrainParams, dist: Dist,
                    collate_fn: Callable[[list[dict]], dict]) -> torch.utils.data.DataLoader:
    """This process's share of the training windows in batches, shuffled by ``params.seed`` and the epoch
    (``train_epoch`` sets it), so that a resumed run draws an uninterrupted run's batches."""
    sampler = torch.utils.data.DistributedSampler(train_ds, num_replicas=dist.world, rank=dist.rank,
                                                  shuffle=True, seed=params.seed)
    return torch.utils.data.DataLoader(train_ds, batch_size=params.batch_size // dist.world, sampler=sampler,
                                       collate_fn=collate_fn, num_workers=params.workers)


def train_epoch(net: torch.nn.Module, criterion, loader: torch.utils.data.DataLoader, optimiser: StageOptimiser,
                index: int, max_norm: float, device: torch.device) -> dict[str, float]:
    """One pass over the training windows as epoch ``index`` of all stages orders them (and a data source
    that draws anew every epoch, re-assembling, draws them), then the schedule's step; returns the
    epoch's learning rate and its ``train_`` losses."""
    loader.sampler.set_epoch(index)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(index)
    lr = optimiser.lr
    losses = train_one_epoch(net, criterion, loader, optimiser.optimizer, device, max_norm=max_norm,
                             scaler=optimiser.scaler)
    optimiser.scheduler.step()
    return {"lr": lr, **{f"train_{k}": v for k, v in losses.items()}}


def hand_on_best(model: torch.nn.Module, path: Path, mp: ModelParams, dist: Dist) -> None:
    """Load a stage's best held-out weights into ``model``, the start of the next stage and the result."""
    if dist.world > 1:
        torch.distributed.barrier()  # rank 0 has written the best weights before anyone reads them
    model.load_state_dict(load_checkpoint(path, mp)[0].state_dict())


def fit(train_ds: WindowDataset, holdout: WindowDataset | None, holdout_gt: pd.DataFrame | None,
        fitting: FitParams, out_dir: str | os.PathLike, *,
        run_dir: str | os.PathLike | None = None, stop_after_epochs: int | None = None,
        collate_fn: Callable[[list[dict]], dict] = collate, init: str | os.PathLike | None = None,
        config_extra: Mapping[str, Any] | None = None, record: Mapping[str, Any] | None = None,
        stage: str = "train", version: int = 1, data: Mapping[str, str] | None = None) -> torch.nn.Module | None:
    """Train into ``run_dir`` (default ``out_dir/runs/<config hash>``); write ``out_dir/model.pt``,
    ``epochs.csv``, ``learning_curve.png`` and ``run.json`` (rank 0); return the trained model, or None
    when stopped early.

    ``holdout`` and ``holdout_gt`` (its segments as a ground-truth table) choose checkpoints; None:
    every stage hands on its last epoch. ``init``: a checkpoint whose matching weights start the run
    (``load_matching``); ``fitting.train.pretrained`` loads a whole checkpoint of this architecture (first, when
    both are given; ``run.json``'s ``initialised`` records both).
    ``config_extra``: further config sections (a pretraining's) that belong to the run's identity.
    ``record``: entries added to ``run.json``. ``data``: the digests of what the run learns from
    (:func:`nemi.fit.identity.data_identity`), part of its identity. ``stop_after_epochs`` stops after that
    many epochs in all (a kill, for tests).
    """
    params = fitting.train
    dist = setup_distributed(params)
    config = run_config(fitting, config_extra, init, data)
    chash = config_hash(config)
    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir is not None else out_dir / "runs" / chash
    check_windows(train_ds, params.batch_size, stage)
    state = open_run(run_dir, config, dist.writer)
    model, initialised = initial_model(ModelParams.from_dict(config["model"]), params, init, dist.device,
                                       resuming=state is not None)
    stages = params.stages()
    progress = Progress.start(stages, state, initialised, stage, dist.writer)
    pacer = Pacer(params.checkpoint_every_s, params.curve_every_s)
    loader = training_loader(train_ds, params, dist, collate_fn)
    for si, st in enumerate(stages):
        if state is not None and si < state["stage"]:
            continue  # finished before the run was stopped
        mp = st.model_params(config["model"])
        _, criterion, postprocess = build(mp)
        optimiser = StageOptimiser.for_stage(model, st, params.weight_decay, dist.device)
        start = 0
        if state is not None and si == state["stage"]:
            start, state = resume_stage(state, model, optimiser), None
        net = data_parallel(model, dist)
        score = None if holdout is None else partial(held_out_scores, model, criterion, postprocess, holdout,
                                                     holdout_gt, params.protocol, dist.device, loader.batch_size)
        if score is not None and not progress.history:
            # Epoch 0: the held-out scores before any step, where the learning curve starts. Never a
            # candidate checkpoint. Scoring draws one number from torch's generator (the DataLoader's base
            # seed), as every epoch's does: a run with held-out windows draws other dropout masks than one without.
            t0 = time.perf_counter()
            progress.history.append({"stage": st.name, "stage_epoch": 0, "epoch": 0, "lr": optimiser.lr,
                                     **score(), "seconds": time.perf_counter() - t0})
        for epoch in range(start, st.epochs):
            if progress.stopped(stop_after_epochs):
                progress.bar.close()
                return None
            t0 = time.perf_counter()
            trained = train_epoch(net, criterion, loader, optimiser, progress.epochs_done, params.clip_max_norm,
                                  dist.device)
            progress.epochs_done += 1
            row = {"stage": st.name, "stage_epoch": epoch + 1, "epoch": progress.epochs_done, **trained,
                   **(score() if score is not None else {})}
            row["seconds"] = time.perf_counter() - t0
            progress.add(row, st)
            if score is not None and progress.improved(row) and dist.writer:
                save_model(run_dir / f"best_{st.name}.pt", model, mp)
            last = epoch + 1 == st.epochs
            if dist.writer and pacer.checkpoint_due(last or progress.stopped(stop_after_epochs)):
                save_checkpoint(run_dir / CHECKPOINT, {
                    "model": model.state_dict(), "model_params": mp.to_dict(), **optimiser.state_dict(),
                    "rng": rng_states(), "data_order": {"sampler_seed": params.seed,
                                                        "sampler_epoch": progress.epochs_done},
                    "stage": si, "epoch": epoch + 1, "history": progress.history, "best": progress.best,
                    "config": config, "initialised": progress.initialised, "provenance": provenance(stage)})
            if dist.writer:
                pacer.epoch_files(run_dir, progress.history, last)
        if params.select == "best" and st.name in progress.best:
            hand_on_best(model, run_dir / f"best_{st.name}.pt", mp, dist)
    progress.bar.close()
    if not dist.writer:
        return model
    run = run_record(config, chash, run_dir, params.select, stages, progress.best, progress.initialised,
                     (len(train_ds), len(holdout) if holdout is not None else 0), dist.world, dist.device,
                     version, dict(record or {}), stage)
    final_files(out_dir, model, stages[-1].model_params(config["model"]), fitting.windows(), progress.history, run)
    return model
