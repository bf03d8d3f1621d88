"""What a run writes: each epoch's table and learning curve in the run folder, at a pace a small model's
epochs can afford, and at the end ``model.pt``, ``epochs.csv``, ``learning_curve.png`` and ``run.json``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nemi import __version__
from nemi.fit.params import Stage
from nemi.io.atomic import atomic_output
from nemi.io.provenance import provenance
from nemi.io.tables import write_csv, write_json
from nemi.model import ModelParams, save_model
from nemi.model.builder import objective
from nemi.params import as_dict


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


class Pacer:
    """When to write what can cost more than a small model's epoch: the checkpoint (weights, optimiser)
    every ``checkpoint_every_s`` seconds and whenever it must be (a stage's end, a stop), so a kill loses
    at most that much training and the resumed run repeats the same epochs to the same weights; the
    learning curve every ``curve_every_s`` seconds (0: every epoch) and at each stage's end."""

    def __init__(self, checkpoint_every_s: float, curve_every_s: float) -> None:
        self.checkpoint_every_s, self.curve_every_s = checkpoint_every_s, curve_every_s
        self.saved = self.drawn = time.monotonic()

    def checkpoint_due(self, must: bool) -> bool:
        """Whether to write the checkpoint now (then counted as written)."""
        if must or time.monotonic() - self.saved >= self.checkpoint_every_s:
            self.saved = time.monotonic()
            return True
        return False

    def epoch_files(self, run_dir: Path, history: list[dict], stage_end: bool) -> None:
        """``epochs.csv`` every epoch, the learning curve when due."""
        write_csv(run_dir / "epochs.csv", pd.DataFrame(history))
        if stage_end or time.monotonic() - self.drawn >= self.curve_every_s:
            plot_curve(history, run_dir / "learning_curve.png")
            self.drawn = time.monotonic()


def run_record(config: dict[str, Any], config_hash: str, run_dir: Path, select: str, stages: list[Stage],
               best: dict[str, Any], initialised: dict[str, Any], n_windows: tuple[int, int], processes: int,
               device: torch.device, version: int, record: dict[str, Any], kind: str) -> dict[str, Any]:
    """``run.json``: the run's config and hash, each stage's hand-on (its best held-out epoch or its last),
    the run's start, each stage's objective, the window counts, where it ran and ``record``."""
    selection = {s.name: ({"checkpoint": "best", **best[s.name]} if select == "best" and s.name in best
                          else {"checkpoint": "last", "epoch": None}) for s in stages}
    return {"config": config, "config_hash": config_hash, "run_dir": str(run_dir), "select": select,
            "selection": selection, "initialised": initialised,
            # Each stage's trained terms and weights as the criterion applies them (the last decoder layer's).
            "objective": {s.name: objective(s.model_params(config["model"])) for s in stages},
            "n_train_windows": n_windows[0], "n_holdout_windows": n_windows[1], "processes": processes,
            "device": str(device), "nemi_version": __version__, "version": version, **record,
            "provenance": provenance(kind)}


def final_files(out_dir: Path, model: torch.nn.Module, final: ModelParams, windows: Any, history: list[dict],
                run: dict[str, Any]) -> None:
    """``model.pt`` (the last stage's model params, the windows it was trained on and ``run`` as its
    training record), ``epochs.csv``, ``learning_curve.png`` and ``run.json``, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(out_dir / "model.pt", model, final, windows=as_dict(windows), train_record=json.dumps(run))
    write_csv(out_dir / "epochs.csv", pd.DataFrame(history))
    plot_curve(history, out_dir / "learning_curve.png")
    write_json(out_dir / "run.json", run)
