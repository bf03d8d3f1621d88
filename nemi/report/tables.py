"""Result tables over experiments and seeds, from the INDEX file the workflow writes per dataset.

INDEX (JSON, one per dataset; relative paths are relative to the working directory, as the
Snakemake workflow writes them)::

    {"dataset": "demo", "config_hash": "<16 hex: the workflow config's>",
     "tal_protocols": ["thumos14", "thumos14-daps"],   # proposal protocols evaluated (ActivityNet: ["activitynet"])
     "tad_protocol": "thumos14",                       # detection protocol
     "class_scores": "UntrimmedNet",                   # video-level class scores the detections used
     "model_note": "d 128, 3 decoder layers (demo)",   # printed in the report's header
     "experiments": {
       "<name>": {"group": "table1" | "ablations", "label": "RTD-Net (from scratch)",
                  "ablation": null | "decomposition" | "query" | "contrastive" | "reassemble",
                  "method": "rtd" | "sliding_window",            # optional, rtd when absent
                  "sliding_window": null | {"scales_s": [1.0, 2.0], "stride_fraction": 0.5, "stride_s": null,
                                            "score": "longer_first"},
                  "pretraining": null | {"name": "demo_hog", "dataset": "demo", "labels": "hog",
                                         "query_strategy": "localisation", "contrastive": true,
                                         "reassemble": "insert", "transductive": false,
                                         "seeding": "per_run" | "shared",
                                         "runs": [{"seed": 0, "epochs": ".../pretrain/demo_hog/seed0/epochs.csv"}]},
                  "runs": [{"seed": 0, "run": ".../run.json", "epochs": ".../epochs.csv", "model": ".../model.pt",
                            "proposals_csv": ".../seed0.csv", "tal": {"<protocol>": ".../eval.json"},
                            "tad": ".../eval_tad.json"}]}}}

``run`` is the training's ``run.json`` (``select``, ``selection``, ``config_hash``; for a run fine-tuned
from a pretraining, ``initialised`` with the lists ``not_loaded_from_checkpoint`` and ``not_in_checkpoint``);
``tal`` and ``tad`` are what ``nemi evaluate proposals|detections --json`` writes; ``epochs`` is the
training's ``epochs.csv`` (Figure 3 reads its ``val_AR@<n>`` columns); ``model`` (read only for
the attention map) and ``proposals_csv`` (the timelines) are read by ``nemi report html``. A
group ``ablations`` entry names its ``ablation`` kind. ``pretraining.runs`` are the pretraining runs the
experiment's seeds start from (one per seed with ``seeding: per_run``); the report draws their curves.
A ``sliding_window`` experiment trains nothing: its one run has ``run``, ``epochs`` and ``model``
null, its rows say ``checkpoint_rule`` "none (no training)", and the report draws no learning curve
or attention map of it.

Tables (every metric in percent, rounded to 2 decimals, so the columns are named ``..._pct_*``;
``_mean`` and ``_std`` are over the experiment's seeds, std the sample standard deviation
(ddof 1), 0 when there is one seed, which ``n_seeds`` then says):

- ``{dataset}_tal.csv``: one row per ``table1`` experiment: the identity columns
  (:data:`IDENTITY`; ``pretrain_weights_not_loaded`` lists the modules of the pretraining's checkpoint that
  fine-tuning did not load, ``weights_not_pretrained`` those of the fine-tuned model that did not come from
  it, each "none" when nothing was left out and empty without a pretraining),
  ``proposals_per_video_mean`` (proposals per evaluated video, mean over
  seeds: ``n_predictions / n_videos`` of the first proposal protocol's evaluation, 2 decimals; an
  AR@AN at a larger AN counts no further proposal), then per proposal protocol ``{protocol}:n_videos``,
  ``{protocol}:AR@{n}_pct_mean|std`` for every AN the evaluation JSON holds and
  ``{protocol}:AUC_pct_mean|std``.
- ``{dataset}_tad.csv``: one row per ``table1`` experiment: identity, ``proposals_per_video_mean``
  (as in the TAL table), ``protocol``, ``class_scores``, ``n_videos``, ``mAP@{t}_pct_mean|std`` per
  tIoU threshold of the JSON (as :func:`nemi.evaluation.protocols.threshold_key` writes it),
  ``mAP_avg_pct_mean|std``.
- ``{dataset}_ablations.csv``: the TAD columns plus ``ablation`` first, for every ``ablations``
  experiment (``ablation`` = its kind) and, as the bar every variant is compared with, each
  ``table1`` experiment pretrained on this dataset itself (``ablation`` = ``reference``), as the
  paper's ablations pretrain and fine-tune on one dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.evaluation.protocols import PROTOCOLS
from nemi.io.artifacts import read_json

GROUPS = ("table1", "ablations")
ABLATIONS = ("decomposition", "query", "contrastive", "reassemble")
# The identity column that tells the variants of each ablation kind apart (bar labels of Figure 2).
ABLATION_SWITCH = {"decomposition": "decomposition", "query": "query_strategy", "contrastive": "contrastive",
                   "reassemble": "reassemble"}
IDENTITY = ("experiment", "label", "method", "pretraining", "pretrain_dataset", "decomposition", "query_strategy",
            "contrastive", "reassemble", "transductive", "pretrain_seeding", "pretrain_weights_not_loaded",
            "weights_not_pretrained", "n_seeds", "seeds", "checkpoint_rule", "config_hash", "run_config_hashes", "data")
# run.json's initialised entry (nemi.model.checkpoint.load_matching): the checkpoint's weights fine-tuning left out,
# and the model's weights the checkpoint did not give (initialised at random).
NOT_LOADED, NOT_IN = "not_loaded_from_checkpoint", "not_in_checkpoint"
NOTHING_LEFT_OUT = "none"
PRETRAIN_KEYS = ("name", "dataset", "labels", "query_strategy", "contrastive", "reassemble", "transductive")
RUN_KEYS = ("seed", "run", "epochs", "proposals_csv", "tal", "tad")
METHODS = ("rtd", "sliding_window")
UNTRAINED_RULE = "none (no training)"
DECIMALS = 2


def _need(cond: bool, path: str | os.PathLike, where: str, problem: str) -> None:
    if not cond:
        raise NemiInputError(f"{path}: {where}: {problem}")


def load_index(path: str | os.PathLike) -> dict[str, Any]:
    """The INDEX file, checked (:func:`check_index`)."""
    return check_index(read_json(path, "report index"), path)


def check_index(doc: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """``doc`` if every key the tables and the report read is there and of its type; ``path`` names it in errors.

    Only the structure: the files it lists are read (and checked) by the tables and the report.
    """
    for key in ("dataset", "config_hash", "tad_protocol", "class_scores", "model_note"):
        _need(isinstance(doc.get(key), str), path, key, "missing, or not a string")
    protocols = doc.get("tal_protocols")
    _need(isinstance(protocols, list) and len(protocols) > 0, path, "tal_protocols", "must be a non-empty list")
    for p in [*protocols, doc["tad_protocol"]]:
        _need(p in PROTOCOLS, path, "protocols", f"unknown protocol {p!r}; known: {sorted(PROTOCOLS)}")
    exps = doc.get("experiments")
    _need(isinstance(exps, dict) and len(exps) > 0, path, "experiments", "must be a non-empty object")
    for name, e in exps.items():
        where = f"experiments.{name}"
        _need(isinstance(e, dict), path, where, "must be an object")
        _need(e.get("group") in GROUPS, path, f"{where}.group",
              f"must be one of {list(GROUPS)}, not {e.get('group')!r}")
        _need(isinstance(e.get("label"), str), path, f"{where}.label", "missing, or not a string")
        kind = e.get("ablation")
        _need(kind is None or kind in ABLATIONS, path, f"{where}.ablation", f"must be null or one of {list(ABLATIONS)}")
        _need(e["group"] != "ablations" or kind is not None, path, f"{where}.ablation",
              "an experiment of group ablations names its ablation kind")
        method = e.get("method", "rtd")
        _need(method in METHODS, path, f"{where}.method", f"must be one of {list(METHODS)}, not {method!r}")
        pre = e.get("pretraining")
        _need(pre is None or isinstance(pre, dict), path, f"{where}.pretraining", "must be null or an object")
        _need(method == "rtd" or pre is None, path, f"{where}.pretraining", f"a {method} experiment has none")
        if pre is not None:
            missing = [k for k in PRETRAIN_KEYS if k not in pre]
            _need(not missing, path, f"{where}.pretraining", f"lacks {missing}")
        runs = e.get("runs")
        _need(isinstance(runs, list) and len(runs) > 0, path, f"{where}.runs", "must be a non-empty list")
        for i, r in enumerate(runs):
            _need(isinstance(r, dict), path, f"{where}.runs[{i}]", "must be an object")
            missing = [k for k in RUN_KEYS if k not in r]
            _need(not missing, path, f"{where}.runs[{i}]", f"lacks {missing}")
            _need(isinstance(r["tal"], dict), path, f"{where}.runs[{i}].tal", "must map protocol -> eval JSON")
            lacking = [p for p in protocols if p not in r["tal"]]
            _need(not lacking, path, f"{where}.runs[{i}].tal", f"no evaluation for protocol(s) {lacking}")
            _need(method != "rtd" or isinstance(r["run"], str), path, f"{where}.runs[{i}].run",
                  "a trained run names its run.json")
        seeds = [r["seed"] for r in runs]
        _need(len(set(seeds)) == len(seeds), path, f"{where}.runs", f"a seed is listed twice: {seeds}")
    return doc


def read_evaluation(path: str | os.PathLike, kind: str, protocol: str) -> dict[str, Any]:
    """An evaluation JSON of ``kind`` ("proposals" | "detections") under ``protocol``, its metrics checked."""
    doc = read_json(path, f"{kind} evaluation")
    _need(doc.get("protocol") == protocol, path, "protocol", f"is {doc.get('protocol')!r}, the index says {protocol!r}")
    _need(isinstance(doc.get("n_videos"), int), path, "n_videos", "missing, or not an integer")
    keys = ("AR@AN", "AUC") if kind == "proposals" else ("mAP", "average_mAP")
    for key in keys:
        value = doc.get(key)
        numbers = value.values() if isinstance(value, dict) else [value]
        ok = bool(numbers) and all(isinstance(v, (int, float)) and np.isfinite(v) for v in numbers)
        _need(ok, path, key, "missing, or not finite numbers")
    return doc


def checkpoint_rule(path: str | os.PathLike) -> tuple[str, str]:
    """(the checkpoint rule of a run: "last" | "best on held-out" | a mix per stage, its config hash)."""
    doc = read_json(path, "training run record")
    _need(doc.get("select") in ("best", "last"), path, "select", f"must be best or last, not {doc.get('select')!r}")
    sel = doc.get("selection")
    _need(isinstance(sel, dict) and all(isinstance(v, dict) for v in sel.values()), path, "selection",
          "must map stage -> {checkpoint: best | last}")
    _need(isinstance(doc.get("config_hash"), str), path, "config_hash", "missing, or not a string")
    chosen = {stage: v.get("checkpoint") for stage, v in sel.items()}
    if doc["select"] == "last" or all(c == "last" for c in chosen.values()):
        rule = "last"  # select best without held-out videos also hands on the last epoch
    elif all(c == "best" for c in chosen.values()):
        rule = "best on held-out"
    else:
        best = ",".join(s for s, c in chosen.items() if c == "best")
        rule = f"best on held-out ({best}), last elsewhere"
    return rule, doc["config_hash"]


def modules(names: list[str]) -> str:
    """Weight names as the modules that hold them, in order, joined by ";" ("activity_query_proj" for its
    weight and bias); :data:`NOTHING_LEFT_OUT` for none."""
    held = dict.fromkeys(n.rsplit(".", 1)[0] for n in names)
    return ";".join(held) or NOTHING_LEFT_OUT


def transfer(path: str | os.PathLike) -> tuple[str, str]:
    """(the pretraining's weights a fine-tuned run did not load, the run's weights the pretraining did not
    give), as :func:`modules`, from its run.json's ``initialised`` entry."""
    doc = read_json(path, "training run record")
    init = doc.get("initialised")
    _need(isinstance(init, dict) and all(isinstance(init.get(k), list) for k in (NOT_LOADED, NOT_IN)), path,
          "initialised", f"a run fine-tuned from a pretraining lists the weights it did not load ({NOT_LOADED}, "
          f"{NOT_IN}); found {sorted(init) if isinstance(init, dict) else init!r}")
    return modules(init[NOT_LOADED]), modules(init[NOT_IN])


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for one value) of fractions, as percent rounded to DECIMALS."""
    pct = 100.0 * np.asarray(values, dtype=np.float64)
    std = float(pct.std(ddof=1)) if len(pct) > 1 else 0.0
    return round(float(pct.mean()), DECIMALS), round(std, DECIMALS)


def _text(v: Any) -> str:
    return "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def is_trained(exp: Mapping[str, Any]) -> bool:
    """Whether an INDEX experiment trained a model (method rtd), so that its runs have run.json and epochs.csv."""
    return exp.get("method", "rtd") == "rtd"


def identity(name: str, exp: Mapping[str, Any], index: Mapping[str, Any]) -> dict[str, Any]:
    pre = exp.get("pretraining") or {}
    if is_trained(exp):
        rules, hashes = zip(*(checkpoint_rule(r["run"]) for r in exp["runs"]))
    else:
        rules, hashes = (UNTRAINED_RULE,), ()
    # What fine-tuning did not take from the pretraining (the same for every seed: one checkpoint, one model).
    left_out = (_same([transfer(r["run"]) for r in exp["runs"]], "the weights loaded from the pretraining", name)
                if pre else ("", ""))
    return {
        "experiment": name, "label": exp["label"], "method": exp.get("method", "rtd"),
        "pretraining": pre.get("name") or "none",
        "pretrain_dataset": _text(pre.get("dataset")), "decomposition": _text(pre.get("labels")),
        "query_strategy": _text(pre.get("query_strategy")), "contrastive": _text(pre.get("contrastive")),
        "reassemble": _text(pre.get("reassemble")), "transductive": _text(pre.get("transductive")),
        # per_run: each seed's own pretraining (the spread includes it); shared: one for every seed
        "pretrain_seeding": _text(pre.get("seeding")),
        "pretrain_weights_not_loaded": left_out[0], "weights_not_pretrained": left_out[1],
        "n_seeds": len(exp["runs"]), "seeds": ";".join(str(r["seed"]) for r in exp["runs"]),
        "checkpoint_rule": " | ".join(dict.fromkeys(rules)), "config_hash": index["config_hash"],
        "run_config_hashes": ";".join(hashes),
        # A rehearsal's rows say so in every table (index data_label); an index that predates the key is real data.
        "data": index.get("data_label") or "the dataset's own",
    }


def _same(values: list, what: str, name: str) -> Any:
    if len(set(values)) != 1:
        raise NemiInputError(f"experiment {name}: its seeds disagree on {what} ({values}); a mean over "
                             "different evaluations would mean nothing")
    return values[0]


def _metric_columns(docs: list[dict], key: str, prefix: str, name: str,
                    order: Callable[[str], float] = float) -> dict[str, float]:
    keys = _same([tuple(sorted(d[key], key=order)) for d in docs], f"the {key} entries", name)
    out: dict[str, float] = {}
    for k in keys:
        out[f"{prefix}{k}_pct_mean"], out[f"{prefix}{k}_pct_std"] = mean_std([d[key][k] for d in docs])
    return out


def proposals_per_video(exp: Mapping[str, Any], index: Mapping[str, Any]) -> float:
    """Proposals per evaluated video, mean over the runs (the first proposal protocol's evaluations)."""
    p = index["tal_protocols"][0]
    counts = []
    for r in exp["runs"]:
        doc = read_evaluation(r["tal"][p], "proposals", p)
        _need(isinstance(doc.get("n_predictions"), int), r["tal"][p], "n_predictions", "missing, or not an integer")
        counts.append(doc["n_predictions"] / max(doc["n_videos"], 1))
    return round(float(np.mean(counts)), DECIMALS)


def tal_row(name: str, exp: Mapping[str, Any], index: Mapping[str, Any]) -> dict[str, Any]:
    row = identity(name, exp, index) | {"proposals_per_video_mean": proposals_per_video(exp, index)}
    for p in index["tal_protocols"]:
        docs = [read_evaluation(r["tal"][p], "proposals", p) for r in exp["runs"]]
        row[f"{p}:n_videos"] = _same([d["n_videos"] for d in docs], f"{p} n_videos", name)
        row |= _metric_columns(docs, "AR@AN", f"{p}:AR@", name, order=float)
        row[f"{p}:AUC_pct_mean"], row[f"{p}:AUC_pct_std"] = mean_std([d["AUC"] for d in docs])
    return row


def tad_row(name: str, exp: Mapping[str, Any], index: Mapping[str, Any]) -> dict[str, Any]:
    p = index["tad_protocol"]
    docs = [read_evaluation(r["tad"], "detections", p) for r in exp["runs"]]
    row = identity(name, exp, index) | {"proposals_per_video_mean": proposals_per_video(exp, index),
                                         "protocol": p, "class_scores": index["class_scores"],
                                         "n_videos": _same([d["n_videos"] for d in docs], "n_videos", name)}
    # Thresholds high to low, as the paper's Table 1 prints them.
    row |= _metric_columns(docs, "mAP", "mAP@", name, order=lambda k: -float(k))
    row["mAP_avg_pct_mean"], row["mAP_avg_pct_std"] = mean_std([d["average_mAP"] for d in docs])
    return row


def _experiments(index: Mapping[str, Any], group: str) -> dict[str, Any]:
    return {n: e for n, e in index["experiments"].items() if e["group"] == group}


def tal_table(index: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([tal_row(n, e, index) for n, e in _experiments(index, "table1").items()])


def tad_table(index: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([tad_row(n, e, index) for n, e in _experiments(index, "table1").items()])


def is_self_pretrained(exp: Mapping[str, Any], dataset: str) -> bool:
    return bool(exp.get("pretraining")) and exp["pretraining"].get("dataset") == dataset


def ablations_table(index: Mapping[str, Any]) -> pd.DataFrame:
    abl = _experiments(index, "ablations")
    if not abl:
        raise NemiInputError(f"report index of {index['dataset']}: no experiment of group ablations")
    refs = {n: e for n, e in _experiments(index, "table1").items() if is_self_pretrained(e, index["dataset"])}
    rows = [{"ablation": "reference", **tad_row(n, e, index)} for n, e in refs.items()]
    rows += [{"ablation": e["ablation"], **tad_row(n, e, index)} for n, e in abl.items()]
    return pd.DataFrame(rows)


def read_table(path: str | os.PathLike, what: str) -> pd.DataFrame:
    """A table this module wrote, read back with empty cells as empty strings."""
    p = Path(path)
    if not p.is_file():
        raise NemiInputError(f"{p}: {what} not found")
    try:
        # Identity columns stay text: "true" is not read as a bool, seeds "0" not as an int.
        df = pd.read_csv(p, keep_default_na=False, dtype={c: str for c in IDENTITY if c != "n_seeds"})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise NemiInputError(f"{p}: {what} is not a readable CSV ({err})") from None
    missing = [c for c in ("experiment", "label", "n_seeds") if c not in df.columns]
    if missing:
        raise NemiInputError(f"{p}: {what} lacks column(s) {missing}; write it with `nemi report tables`")
    return df
