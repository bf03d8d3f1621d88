"""Helpers the ``detect`` and ``classify`` rules (workflow/rules/detect.smk) call with the config.

Kept in the package so the rule file holds rules only (``snakemake --lint``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _detect_run(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    try:
        return config["detect"]["runs"][name]
    except KeyError:
        raise ValueError(f"config: detect.runs has no entry {name!r}") from None


def detect_scores(config: Mapping[str, Any], name: str, out: str) -> str:
    """The video-level class-score file of a detection run: uNet npy, a class-score CSV, or
    the built-in classifier's scores (rule classify)."""
    run = _detect_run(config, name)
    if run.get("classifier"):
        return f"{out}/classify/class_scores.csv"
    return run.get("unet_scores") or run["class_scores"]


def detect_scores_flag(config: Mapping[str, Any], name: str) -> str:
    return "--unet-scores" if _detect_run(config, name).get("unet_scores") else "--class-scores"


def detect_params_json(config: Mapping[str, Any]) -> str:
    """``nemi detect --params``: the detect section without its runs and classifier settings."""
    import json

    skip = ("runs", "classifier", "scores")
    return json.dumps({k: v for k, v in config["detect"].items() if k not in skip}, sort_keys=True)


def detect_outputs(config: Mapping[str, Any], out: str) -> list[str]:
    return [f"{out}/detections/{name}.csv" for name in config.get("detect", {}).get("runs", {})]
