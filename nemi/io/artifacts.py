"""Reading an artifact that may be damaged, and saying how to rebuild it.

Snakemake remakes a file only when it is missing or older than its inputs: a truncated
``features/shard000.h5`` that is newer than its frames stays as it is, and every job reading
it fails. So every loader here turns a damaged file into a :class:`~nemi.errors.NemiInputError`
that names the file, what is wrong, and the command that rebuilds it: ``rm`` the file (then the
same ``snakemake`` command remakes it and reruns what reads it) or ``--forcerun`` its rule.
A file the pipeline does not make (a user's weights, features or annotations) is never offered
for deletion.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from nemi.errors import NemiInputError

# results/<dataset>/<pattern> -> the rule(s) that may write it (workflow/rules/*.smk; a test checks each
# exists). Two rules: which one depends on the dataset's config (imported features, sliding windows).
_RULES: tuple[tuple[str, str], ...] = (
    (r"synth/.+", "synth"),
    (r"frames/[^/]+\.h5", "decode"),
    (r"features/[^/]+\.h5", "features features_import"),
    (r"changes/[^/]+/[^/]+\.h5", "changes"),
    (r"pseudo_labels/[^/]+\.json", "pseudo_labels"),
    (r"tem/boundary\.h5", "tem"),
    (r"tem/pseudo_[^/]+\.h5", "tem_pseudo"),
    (r"pretrain/[^/]+/seed\d+/[^/]+", "pretrain"),
    (r"train/[^/]+/seed\d+/[^/]+", "train"),
    (r"proposals/[^/]+/seed\d+\.[^/]+", "proposals proposals_sliding_window"),
    (r"classify/[^/]+", "classify"),
    (r"detections/[^/]+/seed\d+\.csv", "detect_experiment"),
    (r"detections/[^/]+\.csv", "detect"),
    (r"evaluation/[^/]+/seed\d+\.tad\.json", "evaluate_run_detections"),
    (r"evaluation/[^/]+/seed\d+\.[^/]+\.json", "evaluate_run_proposals"),
    (r"evaluation/[^/]+\.(json|csv)", "evaluate_predictions"),
    (r"report/index\.json", "report_index"),
)
# A training run's resume state: train/<experiment>/seed<n>/runs/<hash>/..., pretrain/<name>/seed<k>/runs/<hash>/...
_RUN_DIR = re.compile(r"((?:train/[^/]+/seed\d+|pretrain/[^/]+/seed\d+)/runs/[^/]+)/.+")
# The converted I3D weights (config `weights.i3d_kinetics400_rgb`, rule i3d_weights).
_I3D_WEIGHTS = "i3d_kinetics400_rgb.pt"


def _split_results(path: Path) -> tuple[Path, str] | None:
    """(``results/<dataset>`` as given, the rest as a posix string), or None outside such a folder."""
    parts = path.parts
    for i in range(len(parts) - 3, -1, -1):
        if parts[i] == "results":
            return Path(*parts[:i + 2]), "/".join(parts[i + 2:])
    return None


def rules_of(path: str | os.PathLike) -> list[str]:
    """The rule(s) that may write ``path`` (a file under ``results/<dataset>/``); [] when none does."""
    p = Path(path)
    if p.name == _I3D_WEIGHTS:
        return ["i3d_weights"]
    split = _split_results(p)
    if split is None or _RUN_DIR.fullmatch(split[1]):
        return []
    for pattern, rules in _RULES:
        if re.fullmatch(pattern, split[1]):
            return rules.split()
    return []


def rebuild_hint(path: str | os.PathLike) -> str:
    """The command that rebuilds ``path``, or why nemi does not offer one."""
    p = Path(path)
    q = shlex.quote(str(p))
    split = _split_results(p)
    if split is not None and (m := _RUN_DIR.fullmatch(split[1])):
        run_dir = shlex.quote(str(split[0] / m.group(1)))
        return (f"It is a training run's resume state: remove the run folder (`rm -r {run_dir}`) and run "
                f"snakemake again; that run then starts from its first epoch.")
    rules = rules_of(p)
    if not rules:
        return ("It is not under results/<dataset>/ as the Snakemake workflow lays it out: if a nemi command "
                "wrote it, remove it and run that command again; if it is your own file, replace it with a "
                "complete copy.")
    return (f"Snakemake does not remake a file that exists and is newer than its inputs: remove it "
            f"(`rm {q}`) and run the same snakemake command again, which remakes it (rule {' or '.join(rules)}) "
            f"and reruns what reads it; or `snakemake --cores 1 --forcerun {' '.join(rules)} -- {q}` "
            f"(with your --configfile, if any).")


def damaged(path: str | os.PathLike, problem: str, err: BaseException | str) -> NemiInputError:
    """The error for an unreadable ``path``: the file, the ``problem`` ("cannot open feature shard"), the
    reader's reason, and how to rebuild it."""
    detail = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return NemiInputError(f"{path}: {problem} ({detail}). {rebuild_hint(path)}")


def load_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """The parsed JSON of ``path``; a missing file or bad JSON raises naming the file."""
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: {what} not found")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise damaged(p, f"{what} is not JSON", err) from None


def read_json(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """:func:`load_json` of a file that must hold one JSON object."""
    doc = load_json(path, what)
    if not isinstance(doc, dict):
        raise NemiInputError(f"{path}: {what} must be a JSON object, not {type(doc).__name__}")
    return doc


def load_torch(path: str | os.PathLike, what: str = "torch file") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; an unreadable file raises naming it.

    ``argparse.Namespace`` is allowed: RTD-Action's released checkpoints store their arguments so.
    """
    import argparse
    import contextlib

    import torch

    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: {what} not found")
    allow = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    try:
        with allow([argparse.Namespace]) if allow else contextlib.nullcontext():
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # zip, pickle and weights-only errors all mean the same to a user
        raise damaged(p, f"not a readable {what}", err) from None
