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
processes, the sampler is sharded and only rank 0 writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from nemi import __version__, runtime
from nemi.engine import evaluate, train_one_epoch
from nemi.errors import NemiConfigError, NemiInputError
from nemi.evaluation import evaluate_proposals, get_protocol
from nemi.fit.params import FitParams, TrainParams
from nemi.fit.state import check_same_run, load_checkpoint as load_state, rng_states, save_checkpoint, \
    set_rng_states
from nemi.io.atomic import atomic_output
from nemi.io.provenance import provenance
from nemi.io.tables import write_csv, write_json
from nemi.log import logger
from nemi.model import ModelParams, build, build_model, load_checkpoint, save_model
from nemi.model.builder import objective
from nemi.params import as_dict
from nemi.windows import Indexed, WindowDataset, collate, collate_indexed

CHECKPOINT = "checkpoint.pt"


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def writer(self) -> bool:
        return self.rank == 0


def check_devices(params: TrainParams) -> None:
    """Before any work: a config asking for more GPUs than this machine has is refused."""
    have = torch.cuda.device_count()
    if params.gpus > have:
        raise NemiConfigError(f"train.gpus is {params.gpus} but this machine has {have} CUDA GPU(s)")


def setup_distributed(params: TrainParams) -> Dist:
    check_devices(params)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() and (params.gpus > 0 or world == 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if use_cuda else "cpu")
    if world > 1 and not torch.distributed.is_initialized():
        if params.batch_size % world:
            raise NemiConfigError(f"train.batch_size ({params.batch_size}) must be a multiple of the "
                                  f"{world} processes")
        if use_cuda:
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(rank, world, device)


def merged_config(params: FitParams) -> dict[str, Any]:
    return {"model": params.model.to_dict(), "train": json.loads(json.dumps(as_dict(params.train)))}


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def data_identity(files: Mapping[str, str | os.PathLike]) -> dict[str, str]:
    """``{<name>_sha256: digest}`` of the files a run learns from (its manifest, its annotations or pseudo
    labels): part of the run's config, so that its hash, which names its runs/<hash>/ folder and keys its
    resume, tells two datasets' runs of the same settings apart, and a run on edited data from the old one."""
    from nemi.io.provenance import sha256_file

    return {f"{name}_sha256": sha256_file(path) for name, path in files.items()}


def _sha256(path: str | os.PathLike) -> str:
    from nemi.io.provenance import sha256_file

    if not Path(path).is_file():
        raise NemiInputError(f"{path}: checkpoint to start from not found")
    return sha256_file(path)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def held_out_scores(model, criterion, postprocess, holdout, gt: pd.DataFrame, protocol: str, dist: Dist,
                    batch_size: int) -> dict[str, float]:
    loader = torch.utils.data.DataLoader(Indexed(holdout), batch_size=batch_size, collate_fn=collate_indexed)
    losses, props = evaluate(model, criterion, postprocess, loader, dist.device, holdout)
    proto = get_protocol(protocol)
    res = evaluate_proposals(gt, props, protocol, videos=sorted(holdout.videos))
    ar = {f"val_AR@{n}": float(res["AR@AN"][str(n)]) for n in proto.average_numbers}
    return {**{f"val_{k}": v for k, v in losses.items()}, **ar, "val_sum_ar": float(sum(ar.values()))}


def plot_curve(history: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend

    df = pd.DataFrame(history)
    fig = Figure(figsize=(10, 3.5))
    ax = fig.subplots(1, 2)
    x = np.arange(1, len(df) + 1)
    ax[0].plot(x, df["train_loss"], label="train")
    if "val_loss" in df:
        ax[0].plot(x, df["val_loss"], label="held-out")
    ax[0].set(xlabel="epoch (all stages)", ylabel="weighted loss", title="loss")
    ax[0].legend()
    for col in [c for c in df.columns if c.startswith("val_AR@")]:
        ax[1].plot(x, df[col], label=col.removeprefix("val_"))
    ax[1].set(xlabel="epoch (all stages)", ylabel="AR", title="held-out AR@AN")
    if any(c.startswith("val_AR@") for c in df.columns):
        ax[1].legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)


def load_matching(model: torch.nn.Module, path: str | os.PathLike) -> dict[str, list[str]]:
    """Copy every weight of the checkpoint at ``path`` whose name and shape match ``model``'s.

    Fine-tuning from a pretraining: its pretraining-only layers (the activity-query projection) and
    anything of another shape stay as initialised. Returns the names loaded, and those left out of
    the checkpoint and of the model, so that the run records them.
    """
    from nemi.model.checkpoint import read_checkpoint

    state, _ = read_checkpoint(path)
    own = model.state_dict()
    loaded = sorted(k for k, v in state.items() if k in own and own[k].shape == v.shape)
    if not loaded:
        raise NemiInputError(f"{path}: no weight of the checkpoint fits this model (names or shapes differ)")
    model.load_state_dict({**own, **{k: state[k] for k in loaded}})
    return {"loaded": loaded, "not_loaded_from_checkpoint": sorted(set(state) - set(loaded)),
            "not_in_checkpoint": sorted(set(own) - set(loaded))}


def _eta(history: list[dict], epochs_left: int) -> str:
    secs = float(np.mean([h["seconds"] for h in history[-5:]])) * epochs_left
    return time.strftime("%H:%M:%S", time.gmtime(secs))


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
    (:func:`data_identity`), part of its identity. ``stop_after_epochs`` stops after that many epochs in
    all (a kill, for tests).
    """
    params = fitting.train
    dist = setup_distributed(params)
    config = {**merged_config(fitting), **json.loads(json.dumps(dict(config_extra or {})))}
    if init is not None:
        config["init"] = str(init)
    # The weights a run starts from belong to its identity: a retrained pretraining at the same path must
    # not let the fine-tuning resume (or call finished) a run that started from the old weights.
    for key, path in (("init", init), ("pretrained", params.pretrained)):
        if path is not None:
            config[f"{key}_sha256"] = _sha256(path)
    if data:
        config["data"] = dict(data)
    chash = config_hash(config)
    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir is not None else out_dir / "runs" / chash
    if len(train_ds) == 0:
        raise NemiInputError("no training window holds a whole segment; nothing to train on")
    if len(train_ds) < params.batch_size:
        # One short optimiser step an epoch: a schedule written in epochs then trains far less than it reads.
        logger.warning("%s: only %d training window(s), fewer than train.batch_size %d: every epoch is one "
                       "optimiser step; more videos, a smaller train.train_stride or model.window_steps give more "
                       "windows", stage, len(train_ds), params.batch_size)
    if dist.writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    state = None
    if (run_dir / CHECKPOINT).is_file():
        state = load_state(run_dir / CHECKPOINT)
        check_same_run(run_dir / CHECKPOINT, state["config"], config)
        logger.info("resuming %s at stage %d, epoch %d", run_dir, state["stage"] + 1, state["epoch"])
        changed = runtime.differences(state.get("provenance", {}), runtime.record())
        if changed:
            # Measured: 1 against 2 torch threads gives other weights from epoch 3 (max |dw| 0.01).
            logger.warning("%s: resumed under another CPU setting than it was started with (%s): the weights "
                           "will differ from an uninterrupted run's", run_dir / CHECKPOINT, "; ".join(changed))
    seed_everything(params.seed)
    base = ModelParams.from_dict(config["model"])
    model = build_model(base).to(dist.device)
    initialised: dict[str, Any] = {}
    if params.pretrained and state is None:
        # nemi.model refuses a checkpoint of another architecture, naming both.
        model.load_state_dict(load_checkpoint(params.pretrained, base)[0].state_dict())
        initialised["pretrained"] = str(params.pretrained)
    if init is not None and state is None:
        # Over the pretrained weights, if both are given: the record names both starts.
        loaded = load_matching(model, init)
        initialised |= {"init": str(init), "n_loaded": len(loaded["loaded"]), **loaded}
        logger.info("initialised %d of %d weights from %s; not carried over: %s", len(loaded["loaded"]),
                    len(model.state_dict()), init, ", ".join(loaded["not_loaded_from_checkpoint"]) or "none")
    history: list[dict] = state["history"] if state else []
    best: dict[str, Any] = state["best"] if state else {}
    initialised = state.get("initialised", initialised) if state else initialised
    stages = params.stages()
    total_epochs = sum(s.epochs for s in stages)
    epochs_done = sum(s.epochs for s in stages[:state["stage"]]) + state["epoch"] if state else 0
    per_rank = params.batch_size // dist.world
    drawn = saved = time.monotonic()
    # A bar in a terminal; a job's log gets the one line per epoch below instead.
    bar = tqdm(total=total_epochs, initial=epochs_done, desc=stage, unit="epoch",
               disable=not (dist.writer and sys.stderr.isatty()))
    for si, st in enumerate(stages):
        if state is not None and si < state["stage"]:
            continue
        mp = st.model_params(config["model"])
        _, criterion, postprocess = build(mp)
        for name, p in model.named_parameters():
            p.requires_grad_(st.trains(name))
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=st.lr, weight_decay=params.weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, st.lr_step_epochs or 10**9, st.lr_gamma)
        scaler = torch.amp.GradScaler(dist.device.type, enabled=False)  # bf16 needs no scaling; kept for the state
        start = 0
        if state is not None and si == state["stage"]:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            set_rng_states(state["rng"])
            start, state = state["epoch"], None
        # Unused-parameter detection: a stage whose losses leave a trainable head out still runs.
        net = (torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device] if dist.device.type == "cuda" else None, find_unused_parameters=True)
            if dist.world > 1 else model)
        sampler = torch.utils.data.DistributedSampler(train_ds, num_replicas=dist.world, rank=dist.rank,
                                                      shuffle=True, seed=params.seed)
        loader = torch.utils.data.DataLoader(train_ds, batch_size=per_rank, sampler=sampler, collate_fn=collate_fn,
                                             num_workers=params.workers)
        if holdout is not None and not history:
            # Epoch 0: the held-out scores before any step, where the learning curve starts. Never a
            # candidate checkpoint; evaluating draws no random number, so training is as without it.
            t0 = time.perf_counter()
            history.append({"stage": st.name, "stage_epoch": 0, "epoch": 0, "lr": optimizer.param_groups[0]["lr"],
                            **held_out_scores(model, criterion, postprocess, holdout, holdout_gt, params.protocol,
                                              dist, per_rank), "seconds": time.perf_counter() - t0})
        for epoch in range(start, st.epochs):
            if stop_after_epochs is not None and epochs_done >= stop_after_epochs:
                bar.close()
                return None
            t0 = time.perf_counter()
            sampler.set_epoch(epochs_done)
            if hasattr(train_ds, "set_epoch"):
                train_ds.set_epoch(epochs_done)  # a data source that draws anew every epoch (re-assembling)
            lr = optimizer.param_groups[0]["lr"]
            losses = train_one_epoch(net, criterion, loader, optimizer, dist.device, max_norm=params.clip_max_norm,
                                     scaler=scaler)
            scheduler.step()
            epochs_done += 1
            row = {"stage": st.name, "stage_epoch": epoch + 1, "epoch": epochs_done, "lr": lr,
                   **{f"train_{k}": v for k, v in losses.items()}}
            if holdout is not None:
                row |= held_out_scores(model, criterion, postprocess, holdout, holdout_gt, params.protocol, dist,
                                       per_rank)
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            bar.update(1)
            bar.set_postfix({k: f"{row[k]:.3g}" for k in ("train_loss", "val_sum_ar") if k in row})
            shown = ["train_loss", "val_loss", "val_sum_ar"] + [k for k in row if k.startswith("val_AR@")][:3]
            logger.info("%s %s epoch %d/%d (%d/%d in all): %s; %.1f s, ETA %s", stage, st.name, epoch + 1,
                        st.epochs, epochs_done, total_epochs,
                        ", ".join(f"{k} {row[k]:.4g}" for k in shown if k in row), row["seconds"],
                        _eta(history, total_epochs - epochs_done))
            if holdout is not None and row["val_sum_ar"] > best.get(st.name, {}).get("val_sum_ar", -1.0):
                best[st.name] = {"val_sum_ar": row["val_sum_ar"], "epoch": epochs_done, "stage_epoch": epoch + 1}
                if dist.writer:
                    save_model(run_dir / f"best_{st.name}.pt", model, mp)
            last = epoch + 1 == st.epochs
            stopping = stop_after_epochs is not None and epochs_done >= stop_after_epochs
            # A small model's checkpoint (weights, optimiser) takes longer to write than its epoch: it is
            # written every checkpoint_every_s seconds and at each stage's end, so a kill loses at most
            # that much training; the resumed run repeats the same epochs to the same weights.
            if dist.writer and (last or stopping or time.monotonic() - saved >= params.checkpoint_every_s):
                saved = time.monotonic()
                save_checkpoint(run_dir / CHECKPOINT, {
                    "model": model.state_dict(), "model_params": mp.to_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_states(),
                    "data_order": {"sampler_seed": params.seed, "sampler_epoch": epochs_done},
                    "stage": si, "epoch": epoch + 1, "history": history, "best": best, "config": config,
                    "initialised": initialised, "provenance": provenance(stage)})
            if dist.writer:
                write_csv(run_dir / "epochs.csv", pd.DataFrame(history))
                # Every epoch by default; drawing can cost more than a small model's epoch, so
                # curve_every_s > 0 redraws at most that often (and at each stage's end).
                if last or time.monotonic() - drawn >= params.curve_every_s:
                    plot_curve(history, run_dir / "learning_curve.png")
                    drawn = time.monotonic()
        if params.select == "best" and st.name in best:
            if dist.world > 1:
                torch.distributed.barrier()  # rank 0 has written the best weights before anyone reads them
            model.load_state_dict(load_checkpoint(run_dir / f"best_{st.name}.pt", mp)[0].state_dict())
    bar.close()
    final = stages[-1].model_params(config["model"])
    if not dist.writer:
        return model
    selection = {s.name: ({"checkpoint": "best", **best[s.name]} if params.select == "best" and s.name in best
                          else {"checkpoint": "last", "epoch": None}) for s in stages}
    run = {"config": config, "config_hash": chash, "run_dir": str(run_dir), "select": params.select,
           "selection": selection, "initialised": initialised,
           # Each stage's trained terms and weights as the criterion applies them (the last decoder layer's).
           "objective": {s.name: objective(s.model_params(config["model"])) for s in stages},
           "n_train_windows": len(train_ds),
           "n_holdout_windows": len(holdout) if holdout is not None else 0, "processes": dist.world,
           "device": str(dist.device), "nemi_version": __version__, "version": version, **dict(record or {}),
           "provenance": provenance(stage)}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(out_dir / "model.pt", model, final, windows=as_dict(fitting.windows()), train_record=json.dumps(run))
    write_csv(out_dir / "epochs.csv", pd.DataFrame(history))
    plot_curve(history, out_dir / "learning_curve.png")
    write_json(out_dir / "run.json", run)
    return model
