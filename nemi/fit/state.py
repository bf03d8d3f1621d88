"""Training checkpoints: everything a killed run needs to continue to the same weights.

``checkpoint.pt`` in the run folder holds the model, optimiser, scheduler and gradient-scaler
states, every random-number state (Python, NumPy, torch CPU and CUDA; the data order is a
function of the sampler's seed and the epoch, both stored), the stage and epoch reached, the
best held-out result so far, the epoch history and the merged config it was made with. It also
carries ``model_params``, so ``nemi.model.load`` reads it like a model file. ``open_run`` finds it
when a run starts, ``resume_stage`` puts it back into the stage it was written in.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nemi import runtime
from nemi.errors import NemiInputError
from nemi.io.artifacts import load_torch
from nemi.io.atomic import atomic_output
from nemi.log import logger
from nemi.model.params import ARCHITECTURE_FIELDS

if TYPE_CHECKING:
    from nemi.fit.optimiser import StageOptimiser

FORMAT = "nemi-train-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT = "checkpoint.pt"  # its name in the run folder


def rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        # As plain values, so that weights-only loading reads them.
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(s: dict[str, Any]) -> None:
    random.setstate(_tuples(s["python"]))
    kind, keys, pos, has_gauss, gauss = s["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    obj = load_torch(path, "training checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise NemiInputError(f"{path}: not a nemi training checkpoint (format {found!r}, expected {FORMAT!r})")
    if obj.get("format_version") != FORMAT_VERSION:
        raise NemiInputError(f"{path}: training-checkpoint version {obj.get('format_version')}, "
                             f"this nemi reads {FORMAT_VERSION}")
    return obj


def check_same_run(path: str | os.PathLike, stored: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint made with another architecture or another config, naming both."""
    s_model, c_model = stored.get("model", {}), config["model"]
    arch = [k for k in ARCHITECTURE_FIELDS if s_model.get(k) != c_model.get(k)]
    if arch:
        listed = ", ".join(f"{k} = {s_model.get(k)} in the checkpoint, {c_model.get(k)} in the config" for k in arch)
        raise NemiInputError(f"{path}: a checkpoint of another architecture than the config's: {listed}")
    diffs = [f"{sec}.{k} = {stored.get(sec, {}).get(k)!r} in the checkpoint, {v!r} in the config"
             for sec, values in config.items() if isinstance(values, dict)
             for k, v in values.items() if stored.get(sec, {}).get(k) != v]
    diffs += [f"{sec} = {stored.get(sec)!r} in the checkpoint, {v!r} in the config"
              for sec, v in config.items() if not isinstance(v, dict) and stored.get(sec) != v]
    if diffs:
        raise NemiInputError(f"{path}: made with another config than this run's: {'; '.join(diffs[:6])}. "
                             "Resume with the config it was made with, or train into another run folder")


def open_run(run_dir: Path, config: dict[str, Any], writer: bool) -> dict[str, Any] | None:
    """The run folder made (by the writing process) and the state a killed run left in it, or None for a
    fresh run. A checkpoint of another config is refused; one written under another CPU setting resumes
    with a warning, since its weights will not be an uninterrupted run's."""
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    check_same_run(path, state["config"], config)
    logger.info("resuming %s at stage %d, epoch %d", run_dir, state["stage"] + 1, state["epoch"])
    changed = runtime.differences(state.get("provenance", {}), runtime.record())
    if changed:
        # Measured: 1 against 2 torch threads gives other weights from epoch 3 (max |dw| 0.01).
        logger.warning("%s: resumed under another CPU setting than it was started with (%s): the weights "
                       "will differ from an uninterrupted run's", path, "; ".join(changed))
    return state


def resume_stage(state: dict[str, Any], model: torch.nn.Module, optimiser: StageOptimiser) -> int:
    """Put the checkpoint's weights, optimiser and random-number states back into the stage it was written
    in; returns the epochs of that stage it had finished, where the stage goes on."""
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state)
    set_rng_states(state["rng"])
    return state["epoch"]
