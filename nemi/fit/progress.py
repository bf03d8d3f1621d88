"""Where a run stands: its epoch rows, each stage's best held-out epoch, the epochs done, and the report of
each epoch (a bar in a terminal, one line per epoch in a job's log)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from nemi.fit.params import Stage
from nemi.log import logger


@dataclass
class Progress:
    """What a checkpoint carries of the run besides its weights, so that a resumed run goes on from it."""

    history: list[dict]  # the rows of epochs.csv
    best: dict[str, Any]  # per stage: its best held-out epoch so far
    initialised: dict[str, Any]  # the start of the run, as run.json records it
    epochs_done: int  # of all stages
    total_epochs: int
    kind: str  # "train" or "pretrain", shown in the reports
    bar: tqdm

    @classmethod
    def start(cls, stages: list[Stage], state: dict[str, Any] | None, initialised: dict[str, Any], kind: str,
              writer: bool) -> Progress:
        """A fresh run's, or the one the checkpoint ``state`` holds."""
        total = sum(s.epochs for s in stages)
        done = sum(s.epochs for s in stages[:state["stage"]]) + state["epoch"] if state else 0
        # A bar in a terminal; a job's log gets the one line per epoch of ``add`` instead.
        bar = tqdm(total=total, initial=done, desc=kind, unit="epoch", disable=not (writer and sys.stderr.isatty()))
        return cls(state["history"] if state else [], state["best"] if state else {},
                   state.get("initialised", initialised) if state else initialised, done, total, kind, bar)

    def stopped(self, stop_after_epochs: int | None) -> bool:
        return stop_after_epochs is not None and self.epochs_done >= stop_after_epochs

    def add(self, row: dict[str, Any], stage: Stage) -> None:
        """Record a trained epoch's row and report it."""
        self.history.append(row)
        self.bar.update(1)
        self.bar.set_postfix({k: f"{row[k]:.3g}" for k in ("train_loss", "val_sum_ar") if k in row})
        shown = ["train_loss", "val_loss", "val_sum_ar"] + [k for k in row if k.startswith("val_AR@")][:3]
        logger.info("%s %s epoch %d/%d (%d/%d in all): %s; %.1f s, ETA %s", self.kind, stage.name, row["stage_epoch"],
                    stage.epochs, self.epochs_done, self.total_epochs,
                    ", ".join(f"{k} {row[k]:.4g}" for k in shown if k in row), row["seconds"], self._eta())

    def improved(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` is its stage's best held-out epoch so far (then recorded as such)."""
        name = row["stage"]
        if row["val_sum_ar"] > self.best.get(name, {}).get("val_sum_ar", -1.0):  # NaN never improves
            self.best[name] = {"val_sum_ar": row["val_sum_ar"], "epoch": row["epoch"],
                               "stage_epoch": row["stage_epoch"]}
            return True
        return False

    def _eta(self) -> str:
        secs = float(np.mean([h["seconds"] for h in self.history[-5:]])) * (self.total_epochs - self.epochs_done)
        return time.strftime("%H:%M:%S", time.gmtime(secs))
