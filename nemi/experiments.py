"""Experiments and pretrainings of a workflow config: what to run, where it goes, what the tables hold.

An experiment fine-tunes RTD-Net on a dataset, from scratch or from a named NEMI pretraining,
once per seed; a pretraining is named once and shared by every experiment naming it (one job per seed).
An experiment of ``method: sliding_window`` trains nothing: its one run (seed 0) proposes multi-scale
sliding windows (the tables' floor) and is detected, evaluated and tabulated as the trained runs.
Paths, with ``d`` the dataset and ``e`` the experiment:

- ``results/<pretraining dataset>/pretrain/<pretraining>/seed<k>/model.pt``: one per fine-tuning seed k
  (``pretrain.seeding: per_run``), or one at the pretraining's own seed (``shared``)
- ``results/d/train/e/seed<n>/model.pt`` (none for sliding windows), ``proposals/e/seed<n>.csv``,
  ``detections/e/seed<n>.csv``
- ``results/d/evaluation/e/seed<n>.<protocol>.json`` (AR@AN) and ``seed<n>.tad.json`` (mAP)
- ``results/d/report/index.json``, the tables ``results/d_tal.csv``, ``d_tad.csv``,
  ``d_ablations.csv`` and ``results/d_report.html``.

Nothing here imports torch: the workflow asks it while it plans the DAG.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from nemi.datasets import data_label, deep_merge
from nemi.errors import NemiConfigError
from nemi.params import as_dict, build, defaults, schema
from nemi.pretrain.params import TRANSFERRED
from nemi.proposals.params import SlidingWindowParams

SLIDING_WINDOW = "sliding_window"


def _experiment_defaults() -> dict[str, Any]:
    props = schema()["$defs"]["experiment"]["properties"]
    return {k: copy.deepcopy(p["default"]) for k, p in props.items() if "default" in p}


def experiment(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Experiment ``name`` with the schema's defaults filled in; an unknown name is refused, naming the key."""
    entries = config.get("experiments") or {}
    if name not in entries:
        raise NemiConfigError(f"config: no experiment {name!r} under experiments (known: {', '.join(sorted(entries))})")
    out = {**_experiment_defaults(), **entries[name]}
    out["label"] = out["label"] or name
    if out["method"] == SLIDING_WINDOW:
        out["seeds"] = [0]  # deterministic: one run, whatever seeds says (the schema fills its default in)
    return out


def is_trained(e: Mapping[str, Any]) -> bool:
    """Whether an experiment (as :func:`experiment` gives it) trains a model (method rtd)."""
    return e["method"] != SLIDING_WINDOW


def sliding_window_params(config: Mapping[str, Any], name: str) -> SlidingWindowParams:
    """The windows of sliding_window experiment ``name`` (schema defaults filled in); a bad value is
    refused naming the key."""
    e = experiment(config, name)
    if e["method"] != SLIDING_WINDOW:
        raise NemiConfigError(f"config: experiments.{name} is of method {e['method']}, not {SLIDING_WINDOW}")
    if e.get(SLIDING_WINDOW) is None:
        raise NemiConfigError(f"config: experiments.{name}.sliding_window: a sliding_window experiment names its "
                              "windows (scales_s, seconds)")
    try:
        return build(SlidingWindowParams, e[SLIDING_WINDOW])
    except NemiConfigError as err:
        msg = str(err).removeprefix(f"{SlidingWindowParams.SECTION}: ")
        sep = "." if msg.split(":")[0] in SlidingWindowParams.__dataclass_fields__ else ": "
        raise NemiConfigError(f"config: experiments.{name}.sliding_window{sep}{msg}") from None


def pretraining(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    entries = config.get("pretrainings") or {}
    if name not in entries:
        raise NemiConfigError(f"config: no pretraining {name!r} under pretrainings "
                              f"(known: {', '.join(sorted(entries)) or 'none'})")
    return dict(entries[name])


def pretrain_section(config: Mapping[str, Any], name: str, dataset_config: Mapping[str, Any]) -> dict[str, Any]:
    """The pretrain section of pretraining ``name``: its dataset's, overridden by the entry's keys."""
    entry = {k: v for k, v in pretraining(config, name).items() if k != "dataset"}
    return deep_merge(dataset_config["pretrain"], entry)


def pretrain_query_strategy(section: Mapping[str, Any]) -> str:
    """The query strategy of a pretraining with pretrain section ``section``: its model override's, else the
    model section's (which is localisation wherever a dataset is trained: nemi.datasets.check_rules)."""
    return (section.get("model") or {}).get("query_strategy", defaults("model")["query_strategy"])


def fine_tuned_from(config: Mapping[str, Any], name: str) -> list[str]:
    """The experiments that fine-tune from pretraining ``name``, in config order."""
    return [n for n in (config.get("experiments") or {}) if experiment(config, n)["pretraining"] == name]


def pretrain_model(config: Mapping[str, Any], name: str,
                   effective: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """The model section pretraining ``name`` builds its network with: its own dataset's, with the architecture
    (:data:`TRANSFERRED`) of the experiments that fine-tune from it, so that fine-tuning loads every weight
    but the pretraining-only ones (a pretraining on ActivityNet for Thumos14 has Thumos14's queries and
    encoder). Its training settings (dropout, matching, loss weights) and its data (features, grid) stay its
    own dataset's. With no experiment fine-tuning from it: its own dataset's model. Refused, naming both
    experiments, when two of them fine-tune models of different architectures (one pretraining trains one),
    and when its features are not as wide as the model they feed (model.input_dim)."""
    entry = pretraining(config, name)
    own = {**defaults("model"), **effective(entry["dataset"])["model"]}
    users = fine_tuned_from(config, name)
    if not users:
        return own
    arch = {}
    for n in users:
        model = {**defaults("model"), **effective(experiment(config, n)["dataset"])["model"]}
        arch[n] = {k: model[k] for k in TRANSFERRED}
    first = users[0]
    for other in users[1:]:
        diff = [k for k in TRANSFERRED if arch[other][k] != arch[first][k]]
        if diff:
            a, b = (experiment(config, n)["dataset"] for n in (first, other))
            listed = ", ".join(f"{_model_key(config, a, k)} {arch[first][k]} against {_model_key(config, b, k)} "
                               f"{arch[other][k]}" for k in diff)
            raise NemiConfigError(
                f"config: pretrainings.{name} is fine-tuned by experiments {first} (dataset {a}) and {other} "
                f"(dataset {b}), of two architectures ({listed}): a pretraining trains one architecture, so one of "
                "them would not load its weights; give each architecture a pretraining of its own under pretrainings")
    target = experiment(config, first)["dataset"]
    if arch[first]["input_dim"] != own["input_dim"]:
        raise NemiConfigError(
            f"config: pretrainings.{name}: its features, {_model_key(config, entry['dataset'], 'input_dim')} "
            f"{own['input_dim']}, are not as wide as the model experiment {first} fine-tunes reads, "
            f"{_model_key(config, target, 'input_dim')} {arch[first]['input_dim']}: the input projection could "
            "not carry over")
    return {**own, **arch[first]}


def check(config: Mapping[str, Any], effective: Callable[[str], Mapping[str, Any]]) -> None:
    """Refuse, before any job, an experiment or pretraining that names an unknown dataset or pretraining,
    or whose settings do not build; ``effective(name)`` is a dataset's merged config. The workflow runs
    :func:`check_names` on the whole config and :func:`check_settings` per dataset its targets reach."""
    check_names(config)
    for name in config.get("datasets") or {}:
        check_settings(config, name, effective)


def check_names(config: Mapping[str, Any]) -> None:
    """What the config's experiments and pretrainings name exists, and each experiment's method fits its keys:
    nothing here merges a dataset, so a dataset no target reaches is not judged under another's settings."""
    datasets = config.get("datasets") or {}
    pretrainings = config.get("pretrainings") or {}
    for name, entry in pretrainings.items():
        if entry["dataset"] not in datasets:
            raise NemiConfigError(f"config: pretrainings.{name}.dataset: no dataset {entry['dataset']!r} "
                                  "under datasets")
    for name in config.get("experiments") or {}:
        e = experiment(config, name)
        if e["dataset"] not in datasets:
            raise NemiConfigError(f"config: experiments.{name}.dataset: no dataset {e['dataset']!r} under datasets")
        if e["pretraining"] is not None and e["pretraining"] not in pretrainings:
            raise NemiConfigError(f"config: experiments.{name}.pretraining: no pretraining {e['pretraining']!r} "
                                  f"under pretrainings (known: {', '.join(sorted(pretrainings))})")
        _check_method(config, name, e)


def check_settings(config: Mapping[str, Any], dataset: str, effective: Callable[[str], Mapping[str, Any]]) -> None:
    """The settings of dataset ``dataset``'s pretrainings and experiments (and of the pretrainings they start
    from, on whatever dataset), under its merged config ``effective(dataset)``; refused naming the keys."""
    pretrainings = config.get("pretrainings") or {}
    named = [n for n in (config.get("experiments") or {}) if experiment(config, n)["dataset"] == dataset]
    used = {experiment(config, n)["pretraining"] for n in named}
    for name, entry in pretrainings.items():  # in config order: the first one written is reported first
        if entry["dataset"] == dataset or name in used:
            check_pretraining(config, name, effective(entry["dataset"]), effective)
    eff = effective(dataset)
    for name in named:
        e = experiment(config, name)
        if eff["evaluation"]["test_split"] == "train":
            raise NemiConfigError(f"config: datasets.{dataset}.evaluation.test_split is train, the split "
                                  f"experiment {name} is trained on: evaluate on another split")
        if is_trained(e) and e["pretraining"] is None and eff["train"]["pretrained"]:
            # The row claims RTD-Net from scratch; starting it from a checkpoint would make that claim false.
            own_train = ((config.get("datasets") or {}).get(dataset) or {}).get("train") or {}
            train_key = f"datasets.{dataset}.train.pretrained" if "pretrained" in own_train else "train.pretrained"
            raise NemiConfigError(
                f"config: {train_key} is {eff['train']['pretrained']}, "
                f"but experiment {name} is from scratch (pretraining: null): its runs would start from that "
                "checkpoint. Leave train.pretrained null on a dataset with a from-scratch experiment")
        if is_trained(e) and eff["model"]["query_strategy"] != "localisation":
            raise NemiConfigError(
                f"config: {_model_key(config, e['dataset'], 'query_strategy')} is "
                f"{eff['model']['query_strategy']}, the model experiment {name} fine-tunes: activity queries are "
                "a pretraining switch (pretrainings.<name>.model.query_strategy); fine-tuning and inference use the "
                "learned queries (localisation)")


def _model_key(config: Mapping[str, Any], dataset: str, key: str) -> str:
    """Where a dataset's model setting is written: its own entry, its preset, else the top-level model section."""
    from nemi.datasets import setting_key

    return setting_key(config, dataset, "model", key)


def check_pretraining(config: Mapping[str, Any], name: str, dataset_config: Mapping[str, Any],
                      effective: Callable[[str], Mapping[str, Any]] | None = None) -> None:
    """Pretraining ``name`` builds on its dataset's merged config, and its keys agree with each other: a pseudo
    activity it learns from is at least one step of its grid (a shorter one is no target a window of steps
    can hold: re-assembling would stretch it to a whole step). Each refusal names both keys. With
    ``effective`` (every dataset's merged config) its model is the one :func:`pretrain_model` gives, with the
    architecture of the experiments fine-tuning from it (refused there when they disagree); without, its own
    dataset's. Its start, ``init``, may be no file the workflow makes but another pretraining's model.pt (a
    file from elsewhere has its record checked by the job)."""
    from nemi.datasets import check_activity_floor
    from nemi.pretrain.params import PretrainFitParams, label_free

    where = f"config: pretrainings.{name} (dataset {dataset_config['dataset']})"
    section = pretrain_section(config, name, dataset_config)
    own = pretrain_model(config, name, effective) if effective is not None else dataset_config["model"]
    try:
        stage = PretrainFitParams.from_dict({"model": own, "train": label_free(dataset_config["train"]),
                                             "pretrain": section})
    except (NemiConfigError, ValueError) as err:
        raise NemiConfigError(f"config: pretrainings.{name}: {err}") from None
    if stage.pretrain.init is not None:
        _check_init(config, name, stage.pretrain.init)
    # The key as the user wrote it: the pretraining's own train overrides, else the dataset's.
    grid = {"step_frames": stage.train.step_frames, "rescale_steps": stage.train.rescale_steps}
    check_activity_floor(dataset_config, stage.pretrain.labels, grid,
                         "pretrain.train" if "step_frames" in (section.get("train") or {}) else "train",
                         where, "the pretraining's")


def _check_init(config: Mapping[str, Any], name: str, init: str) -> None:
    """Pretraining ``name``'s init, if a workflow output, is a run of another pretraining (its model.pt)."""
    key = f"pretrainings.{name}.init" if "init" in pretraining(config, name) else "pretrain.init"
    path = os.path.normpath(os.path.relpath(init) if os.path.isabs(init) else init)
    run = re.fullmatch(r"results/[^/]+/pretrain/(\w+)/seed(\d+)/model\.pt", path)
    of = run.group(1) if run and run.group(1) in (config.get("pretrainings") or {}) else None
    if of == name:
        raise NemiConfigError(f"config: {key}: {init} is a run of pretraining {name} itself")
    if (of is None or path != f"{pretrain_dir(config, of, int(run.group(2)))}/model.pt") \
            and path.split(os.sep)[0] == "results":
        raise NemiConfigError(
            f"config: {key}: {init} is not a pretraining's model.pt; a pretraining starts only from random weights "
            "or another pretraining (results/<dataset>/pretrain/<pretraining>/seed<k>/model.pt of an entry of "
            "pretrainings), never from a file made from annotations")


def _check_method(config: Mapping[str, Any], name: str, e: Mapping[str, Any]) -> None:
    where = f"config: experiments.{name}"
    if is_trained(e):
        if e.get(SLIDING_WINDOW) is not None:
            raise NemiConfigError(f"{where}.sliding_window: only an experiment of method sliding_window has "
                                  "windows (this one is rtd)")
        return
    if e["pretraining"] is not None:
        raise NemiConfigError(f"{where}.pretraining: a sliding_window experiment trains nothing, so it has no "
                              "pretraining")
    sliding_window_params(config, name)


def of_dataset(config: Mapping[str, Any], dataset: str, group: str | None = None) -> list[str]:
    """Names of the experiments fine-tuned on ``dataset`` (of one group, or all), in config order."""
    entries = {n: experiment(config, n) for n in (config.get("experiments") or {})}
    return [n for n, e in entries.items() if e["dataset"] == dataset and group in (None, e["group"])]


def require_experiments(config: Mapping[str, Any], dataset: str, group: str | None = None) -> None:
    """A dataset's tables (of one group, or any) need an experiment naming it: without one they would be
    built empty. Refused saying how to add the two rows README's example has."""
    if of_dataset(config, dataset, group):
        return
    which = f" of group {group}" if group else ""
    raise NemiConfigError(
        f"config: no experiment{which} names dataset {dataset}, so its tables and report would be empty. Add "
        f"some under experiments: (README, \"Datasets, and running on your own videos\"), e.g. RTD-Net from "
        f"scratch and the sliding-window floor: experiments: {{{dataset}_rtd: {{dataset: {dataset}, seeds: [0, 1]"
        f"{', group: ' + group if group and group != 'table1' else ''}}}, {dataset}_floor: {{dataset: {dataset}, "
        f"method: sliding_window, sliding_window: {{scales_s: [1, 2, 4, 8, 16]}}}}}} (window lengths in seconds, "
        "as long as your actions)")


def check_shipped_names(shipped: Mapping[str, Any], shipped_file: str,
                        files: list[tuple[str, Mapping[str, Any]]]) -> None:
    """Refuse an experiment, pretraining or preset of a user's config file (``files``: path and content of
    each ``--configfile``) that has the name of one of the shipped config's (``shipped``, read from
    ``shipped_file``): Snakemake merges the two entries key by key, so the user's would silently take the
    shipped one's other keys, and the demo's rows would change. The user's files may refine each other's
    entries (workflow/configs/thumos14_rehearsal.yaml does thumos14.yaml's)."""
    for path, content in files:
        for section in ("experiments", "pretrainings", "presets"):
            ours = (shipped.get(section) or {})
            for name in (content or {}).get(section) or {}:
                if name in ours:
                    of = ours[name].get("dataset") if isinstance(ours[name], Mapping) else None
                    mine = content[section][name]
                    own = mine.get("dataset") if isinstance(mine, Mapping) and mine.get("dataset") else "my"
                    raise NemiConfigError(
                        f"config: {section}.{name} in {path} has the name of one in {shipped_file}"
                        f"{f' (on dataset {of})' if of else ''}: Snakemake would merge the two key by key, "
                        f"changing that one's too. Give yours a name of its own (e.g. {own}_{name})")


def runs(config: Mapping[str, Any], dataset: str, group: str | None = None) -> list[tuple[str, int]]:
    return [(n, s) for n in of_dataset(config, dataset, group) for s in experiment(config, n)["seeds"]]


def train_section(dataset_config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The dataset's train section with the run's seed."""
    return {**dataset_config["train"], "seed": int(seed)}


def pretrain_seed(section: Mapping[str, Any], seed: int) -> int:
    """The seed of the pretraining run that a fine-tuning run of ``seed`` starts from (``pretrain.seeding``)."""
    return int(seed) if section["seeding"] == "per_run" else int(section["seed"])


def pretrain_run_section(section: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The pretrain section of pretraining run ``seed``: per_run sets its re-assembling and training seeds
    to it; shared has one run, at its own seed, and refuses another."""
    if section["seeding"] == "shared":
        if int(seed) != int(section["seed"]):
            raise NemiConfigError(f"pretraining seeding is shared at seed {section['seed']}: there is no run of "
                                  f"seed {seed}")
        return dict(section)
    return {**section, "seed": int(seed), "train": {**dict(section.get("train") or {}), "seed": int(seed)}}


def pretrain_dir(config: Mapping[str, Any], name: str, seed: int) -> str:
    return f"results/{pretraining(config, name)['dataset']}/pretrain/{name}/seed{int(seed)}"


def init_model(config: Mapping[str, Any], name: str, seed: int,
               effective: Callable[[str], Mapping[str, Any]]) -> str | None:
    """The pretrained checkpoint run ``seed`` of experiment ``name`` starts from, or None (from scratch).
    ``effective`` gives a dataset's merged config (its pretrain section says how pretraining is seeded)."""
    e = experiment(config, name)
    if e["pretraining"] is None:
        return None
    section = pretrain_section(config, e["pretraining"], effective(pretraining(config, e["pretraining"])["dataset"]))
    return f"{pretrain_dir(config, e['pretraining'], pretrain_seed(section, seed))}/model.pt"


def config_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_paths(dataset: str, name: str, seed: int, tal_protocols: list[str], trained: bool = True) -> dict[str, Any]:
    """A run's files; an untrained run (sliding windows) has no run.json, epochs.csv or model (None)."""
    out, run = f"results/{dataset}", f"results/{dataset}/train/{name}/seed{seed}"
    train = ({"run": f"{run}/run.json", "epochs": f"{run}/epochs.csv", "model": f"{run}/model.pt"} if trained
             else {"run": None, "epochs": None, "model": None})
    return {**train,
            "proposals_csv": f"{out}/proposals/{name}/seed{seed}.csv",
            "tal": {p: f"{out}/evaluation/{name}/seed{seed}.{p}.json" for p in tal_protocols},
            "tad": f"{out}/evaluation/{name}/seed{seed}.tad.json"}


def index(config: Mapping[str, Any], dataset: str, effective: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """What the report stage reads: every experiment of ``dataset``, its pretraining and its runs' files."""
    eff = effective(dataset)
    ev = eff["evaluation"]
    scores = eff["detect"]["scores"]
    experiments = {}
    for name in of_dataset(config, dataset):
        e = experiment(config, name)
        pre = None
        if e["pretraining"] is not None:
            entry = pretraining(config, e["pretraining"])
            section = pretrain_section(config, e["pretraining"], effective(entry["dataset"]))
            pre = {"name": e["pretraining"], "dataset": entry["dataset"], "labels": section["labels"],
                   "query_strategy": pretrain_query_strategy(section), "contrastive": section["contrastive"],
                   "reassemble": section["reassemble"], "transductive": section["transductive"],
                   "seeding": section["seeding"],
                   "runs": [{"seed": k, "epochs": f"{pretrain_dir(config, e['pretraining'], k)}/epochs.csv"}
                            for k in sorted({pretrain_seed(section, s) for s in e["seeds"]})]}
        windows = None if is_trained(e) else as_dict(sliding_window_params(config, name))
        experiments[name] = {"group": e["group"], "label": e["label"], "ablation": e["ablation"],
                             "method": e["method"], "sliding_window": windows, "pretraining": pre,
                             "runs": [{"seed": s, **run_paths(dataset, name, s, ev["tal_protocols"], is_trained(e))}
                                      for s in e["seeds"]]}
    m = eff["model"]
    return {"dataset": dataset, "data_label": data_label(eff),
            "config_hash": config_hash({"dataset": eff, "experiments": experiments}),
            "tal_protocols": list(ev["tal_protocols"]), "tad_protocol": ev["tad_protocol"],
            "class_scores": class_scores_name(scores),
            "model_note": (f"RTD-Net with d {m['hidden_dim']}, {m['decoder_layers']} decoder layers, "
                           f"{m['num_queries']} queries, windows of {m['window_steps']} steps"),
            "experiments": experiments}


def ablations_path(dataset: str) -> str:
    """Figure 2's table of ``dataset`` (``nemi report tables --ablations``)."""
    return f"results/{dataset}_ablations.csv"


def outputs(config: Mapping[str, Any], dataset: str) -> list[str]:
    """The tables and the report of ``dataset``, when it has experiments; its ablations too when
    ``report.ablations`` is true (else they are a target of their own)."""
    if not of_dataset(config, dataset, "table1"):
        return []
    out = [f"results/{dataset}_tal.csv", f"results/{dataset}_tad.csv", f"results/{dataset}_report.html"]
    if (config.get("report") or {}).get("ablations") and of_dataset(config, dataset, "ablations"):
        out.append(ablations_path(dataset))
    return out


def report_ablations(config: Mapping[str, Any], dataset: str, targets: Collection[str],
                     exists: Callable[[str], bool]) -> list[str]:
    """The ablations table the report of ``dataset`` takes as an input: none when it has no experiment of
    group ablations; else the table when this run builds it (a target, or ``report.ablations``) or it is
    already on disk. An input, not a flag chosen by the file's presence: Snakemake then orders the report
    after the table and redraws Figure 2 whenever the table is rebuilt. ``targets``: the run's targets as
    given (paths or rule names); ``exists``: whether a path is on disk."""
    if not of_dataset(config, dataset, "ablations"):
        return []
    path = ablations_path(dataset)
    # A target is compared as an absolute path: "./results/d_ablations.csv" names the same file.
    if (os.path.abspath(path) in {os.path.abspath(t) for t in targets}
            or path in outputs(config, dataset) or exists(path)):
        return [path]
    return []


def class_scores(dataset_config: Mapping[str, Any], out: str) -> str:
    """The video-level class-score file experiments' detections use (detect.scores)."""
    scores = dataset_config["detect"]["scores"]
    return f"{out}/classify/class_scores.csv" if scores == "classifier" else scores


def class_scores_flag(dataset_config: Mapping[str, Any]) -> str:
    return "--unet-scores" if dataset_config["detect"]["scores"].endswith(".npy") else "--class-scores"


def class_scores_name(scores: str) -> str:
    if scores == "classifier":
        return "built-in classifier"
    return "UntrimmedNet" if scores.endswith(".npy") else f"class scores {scores}"


def evaluation_args(dataset_config: Mapping[str, Any], protocol: str, kind: str, videos_file: str) -> str:
    """``nemi evaluate`` options for an experiment's run: the protocol and the evaluated videos (the
    configured subset, else the test-split videos the proposals were made for)."""
    ev = dataset_config["evaluation"]
    args = f"--protocol {protocol} --videos {ev['videos'] or videos_file}"
    if kind == "proposals":
        args += f" --fps {ev['default_fps']}"
    return args


def check_dataset(name: str, dataset_config: Mapping[str, Any], splits: Mapping[str, int],
                  ground_truth: str | None) -> None:
    """A dataset experiments fine-tune on needs annotations, training videos and a test split; refused
    before any job, naming the key. ``splits``: video count per split."""
    test = dataset_config["evaluation"]["test_split"]
    if not ground_truth:
        raise NemiConfigError(f"config: datasets.{name}.videos.annotations: experiments fine-tune on annotations, "
                              "and this dataset has none (a ground-truth CSV video_id,t_start,t_end,label)")
    if not splits.get("train"):
        raise NemiConfigError(f"config: datasets.{name}: no video of split train in its manifest to fine-tune on")
    if not splits.get(test):
        raise NemiConfigError(f"config: datasets.{name}.evaluation.test_split: no video of split {test!r} in its "
                              f"manifest (splits: {', '.join(f'{k} {v}' for k, v in sorted(splits.items()))})")
