"""``nemi pretrain``'s parameters: PretrainFitParams, the fitting stage's (nemi.fit.params.FitParams: the
network, the schedule and loop, the window grid) as a pretraining trains them, with its switches
(PretrainParams, config section ``pretrain``). Defaults are written once, in the config schema.

It is built once, from the sections the rule passes (the dataset's model section with the architecture of
the experiments fine-tuning from it, its train section, the pretrain section), into the settings the shared
loop (``nemi.fit``) and the model already know: the pretrain section's ``model`` overrides the model section
(the query strategy, and the classification loss: bce unless it says otherwise; never the architecture its
fine-tuning takes), its ``train`` overrides the train section (less the fine-tuning-only keys:
``train.pretrained`` never reaches a pretraining, whose start is ``init``, another pretraining, or random
weights), and the contrastive term (and each of ``extra_losses``) is one more entry of every stage's
``losses``. A pretraining trains the paper's terms only (``OBJECTIVE``) unless ``extra_losses`` names
another: a schedule or model section that trains one it does not name is refused. Importing this module
imports no torch, so the workflow checks a pretraining while it plans the DAG.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from nemi.errors import NemiConfigError
from nemi.fit.params import FitParams, TrainParams, merge, stage_sections
from nemi.model.params import ARCHITECTURE_FIELDS, ModelParams
from nemi.params import build, defaults

# The paper's pretraining objective, L = L_cls + 5 L_loc + 2 L_overlap + eta L_con, as criterion terms:
# labels -> L_cls (loss_ce), boxes -> L_loc and L_overlap (loss_bbox, loss_giou), contrastive -> L_con.
OBJECTIVE = ("labels", "boxes", "contrastive")
# Computed for epochs.csv with no gradient and no weight (DETR's cardinality error): not a term.
LOGGED_ONLY = ("cardinality",)
DECODER_STAGES = ("all", "all_but_completeness")
# Train-section keys for fine-tuning only: train.pretrained may name a checkpoint trained on annotations.
FINE_TUNING_ONLY = ("pretrained",)
# The pretrain section's overrides of other sections, applied when the stage is built (not switches).
OVERRIDES = ("model", "train")
# What a pretraining takes from the experiments that fine-tune from it (nemi.experiments.pretrain_model): every
# model setting that gives a weight its shape or changes what the weights compute, so that all of them carry
# over; the query strategy is the pretraining's own switch (its extra layer is left behind).
TRANSFERRED = tuple(k for k in ARCHITECTURE_FIELDS if k != "query_strategy")


@dataclass(frozen=True)
class PretrainParams:
    """NEMI's switches. Field meanings and units: the ``pretrain`` section of nemi/schemas/config.schema.yaml
    (its ``model`` and ``train`` overrides are applied by :class:`PretrainFitParams`)."""

    SECTION: ClassVar[str] = "pretrain"

    labels: str
    splits: tuple[str, ...]
    transductive: bool
    reassemble: str
    crop_min_fraction: float
    crop_max_fraction: float
    splice_prior: str
    min_target_steps: int
    contrastive: bool
    extra_losses: tuple[str, ...]
    seed: int
    seeding: str
    init: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "extra_losses", tuple(self.extra_losses))
        if "test" in self.splits and not self.transductive:
            raise ValueError("pretrain.splits: the test split's videos are allowed only with pretrain.transductive: "
                             "true (transductive pretraining, recorded in every table)")
        if not 0 < self.crop_min_fraction <= self.crop_max_fraction <= 1:
            raise ValueError(f"pretrain: need 0 < crop_min_fraction ({self.crop_min_fraction}) <= crop_max_fraction "
                             f"({self.crop_max_fraction}) <= 1")
        if self.reassemble not in ("insert", "overwrite", "off"):
            raise ValueError(f"pretrain.reassemble must be insert, overwrite or off, not {self.reassemble!r}")

    def added_losses(self) -> list[str]:
        """The terms the pretraining adds to each stage that trains the decoder."""
        return (["contrastive"] if self.contrastive else []) + list(self.extra_losses)

    def check_objective(self, losses: Any, key: str) -> None:
        if "contrastive" in losses and not self.contrastive:
            raise NemiConfigError(f"pretrain: {key} trains contrastive, but pretrain.contrastive is false")
        extra = [x for x in losses if x not in OBJECTIVE + LOGGED_ONLY + self.extra_losses]
        if extra:
            raise NemiConfigError(
                f"pretrain: {key} trains {', '.join(extra)}, not a term of the paper's pretraining objective "
                f"({', '.join(OBJECTIVE)}); name it in pretrain.extra_losses to train it anyway, or leave it out")


@dataclass(frozen=True)
class PretrainFitParams(FitParams):
    """``nemi pretrain``'s parameters: ``model`` and ``train`` as the pretraining trains them, ``pretrain``
    its switches; built once (``nemi.params.from_args``, or :meth:`from_dict` of the ``{"model": ...,
    "train": ..., "pretrain": ...}`` sections the rule passes). Its flags set the pretrain section."""

    FLAGS: ClassVar[str] = "pretrain"

    pretrain: PretrainParams

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None = None) -> PretrainFitParams:
        raw = stage_sections(cls, raw)
        section = dict(raw.get("pretrain") or {})
        given = {k: section.pop(k) for k in OVERRIDES if k in section}
        p = build(PretrainParams, section)
        train_over = given.get("train", defaults("pretrain")["train"])
        # The pretraining's classification (bce) holds unless its own model section names another.
        model_over = {**defaults("pretrain.model"), **(given.get("model") or {})}
        fitting = _fitting(p, dict(raw.get("train") or {}), dict(train_over or {}))
        return cls(_model(p, dict(raw.get("model") or {}), model_over), fitting, p)


def _fitting(p: PretrainParams, train_section: dict[str, Any], override: dict[str, Any]) -> TrainParams:
    """The train section with the pretraining's overrides; with the contrastive term (and ``extra_losses``)
    in every stage that trains the decoder. A stage training a term beyond the paper's that ``extra_losses``
    does not name is refused, naming the stage."""
    for key, section in (("train", train_section), ("pretrain.train", override)):
        given = {k: section[k] for k in FINE_TUNING_ONLY if section.get(k) is not None}
        if given:
            listed = ", ".join(f"{key}.{k} ({v})" for k, v in given.items())
            raise NemiConfigError(f"pretrain: {listed} is a fine-tuning setting and may name a checkpoint trained "
                                  "on annotations; a pretraining starts from random weights or pretrain.init "
                                  "(another NEMI pretraining's model.pt)")
    fitting = TrainParams.from_dict(merge(train_section, override))
    schedules = copy.deepcopy(dict(fitting.schedules))
    for name, stage in schedules[fitting.schedule].items():
        # A stage without its own losses uses the model section's (checked there, with the terms added);
        # a head-only stage leaves the decoder frozen, so the terms would move nothing there.
        losses = stage["model"].get("losses")
        if losses is None:
            continue
        where = f"train.schedules.{fitting.schedule}.{name}"
        p.check_objective(losses, f"{where}.model.losses")
        if "completeness" in p.extra_losses and stage["trainable"] == "all_but_completeness":
            # The term would train the decoder to suit a frozen, randomly drawn head.
            raise NemiConfigError(f"pretrain: extra_losses has completeness, but {where}.trainable is "
                                  "all_but_completeness: the completeness head would stay frozen; use all")
        if stage["trainable"] in DECODER_STAGES:
            stage["model"] = {**stage["model"], "losses": _with(losses, p.added_losses())}
    return fitting.replace(schedules=schedules)


def _model(p: PretrainParams, model: dict[str, Any], override: dict[str, Any]) -> ModelParams:
    """The network the pretraining builds: the model section with its own overrides (never of the architecture
    its fine-tuning takes), training the terms it adds."""
    taken = sorted(set(override) & set(TRANSFERRED))
    if taken:
        raise NemiConfigError(
            f"pretrain.model: {', '.join(taken)} is the architecture the experiments fine-tuning from the "
            "pretraining take (or its dataset's, with none): set it in the model section, not the pretraining's")
    out = {**model, **override}
    losses = list(out.get("losses") or defaults("model")["losses"])
    p.check_objective(losses, "model.losses (what a stage without losses of its own trains)")
    out["losses"] = _with(losses, p.added_losses())
    return ModelParams.from_dict(out, where="model (with pretrain.model)")


def label_free(train_section: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset's train section as its pretrainings get it: without the fine-tuning-only keys."""
    return {k: v for k, v in train_section.items() if k not in FINE_TUNING_ONLY}


def _with(losses: Any, added: list[str]) -> list[str]:
    return list(losses) + [x for x in added if x not in losses]
