"""Helpers the ``evaluate_predictions`` rule (workflow/rules/evaluate.smk) calls with the config.

Kept in the package so the rule file holds rules only (``snakemake --lint``).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping


def entry(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``config["evaluation"]["predictions"][name]``, or a ValueError naming the key."""
    try:
        return config["evaluation"]["predictions"][name]
    except KeyError:
        raise ValueError(f"config: evaluation.predictions has no entry {name!r}") from None


def ground_truth(config: Mapping[str, Any], fallback: str | None) -> str:
    """``evaluation.ground_truth`` if set, else ``fallback`` (the dataset's annotations)."""
    path = config["evaluation"].get("ground_truth") or fallback
    if not path:
        raise ValueError("config: evaluation needs a ground-truth CSV: set evaluation.ground_truth "
                         "or videos.annotations")
    return path


def cli_args(config: Mapping[str, Any], name: str) -> str:
    """The ``nemi evaluate`` options of one entry, after the kind."""
    e = entry(config, name)
    args = f"--protocol {e['protocol']}"
    if e.get("videos"):
        args += f" --videos {e['videos']}"
    if e.get("keep_ambiguous") is not None:  # null: the protocol's choice
        args += " --keep-ambiguous" if e["keep_ambiguous"] else " --drop-ambiguous"
    if e["kind"] == "proposals":
        args += f" --fps {config['evaluation'].get('default_fps', 30.0)}"
    return args


def outputs(config: Mapping[str, Any], out: str) -> list[str]:
    """Every ``{out}/evaluation/{name}.json`` the config asks for."""
    return [f"{out}/evaluation/{name}.json" for name in config.get("evaluation", {}).get("predictions", {})]
