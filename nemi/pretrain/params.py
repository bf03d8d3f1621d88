"""PretrainParams (config section ``pretrain``): NEMI's switches, and the fitting and model settings
of a pretraining derived from them. Defaults are written once, in the config schema.

The switches become settings the shared loop (``nemi.fit``) and the model already know: the
contrastive term (and each of ``extra_losses``) is one more entry of every stage's ``losses``, the
query strategy and the classification loss are model settings, and ``train`` overrides the train
section. A pretraining trains the paper's terms only (``OBJECTIVE``) unless ``extra_losses`` names
another: a schedule or model section that trains one it does not name is refused. Importing this
module imports no torch, so the workflow checks a pretraining while it plans the DAG.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from nemi.errors import NemiConfigError
from nemi.fit.params import TrainParams, merge
from nemi.params import build

# The paper's pretraining objective, L = L_cls + 5 L_loc + 2 L_overlap + eta L_con, as criterion terms:
# labels -> L_cls (loss_ce), boxes -> L_loc and L_overlap (loss_bbox, loss_giou), contrastive -> L_con.
OBJECTIVE = ("labels", "boxes", "contrastive")
# Computed for epochs.csv with no gradient and no weight (DETR's cardinality error): not a term.
LOGGED_ONLY = ("cardinality",)
DECODER_STAGES = ("all", "all_but_completeness")


@dataclass(frozen=True)
class PretrainParams:
    """Field meanings and units: the ``pretrain`` section of nemi/schemas/config.schema.yaml."""

    SECTION: ClassVar[str] = "pretrain"

    labels: str
    splits: tuple[str, ...]
    transductive: bool
    reassemble: str
    crop_min_fraction: float
    crop_max_fraction: float
    splice_prior: str
    min_target_steps: int
    query_strategy: str
    contrastive: bool
    extra_losses: tuple[str, ...]
    classification: str
    seed: int
    seeding: str
    train: Mapping[str, Any]

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

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None = None) -> PretrainParams:
        return build(cls, raw)

    def added_losses(self) -> list[str]:
        """The terms the pretraining adds to each stage that trains the decoder."""
        return (["contrastive"] if self.contrastive else []) + list(self.extra_losses)

    def fit_params(self, train_section: Mapping[str, Any]) -> TrainParams:
        """The train section with this pretraining's overrides; with the contrastive term (and ``extra_losses``)
        in every stage that trains the decoder. A stage training a term beyond the paper's that
        ``extra_losses`` does not name is refused, naming the stage."""
        raw = merge(dict(train_section), dict(self.train))
        fitting = TrainParams.from_dict(raw)
        schedules = copy.deepcopy(dict(fitting.schedules))
        for name, stage in schedules[fitting.schedule].items():
            # A stage without its own losses uses model_section's (checked there, with the terms added);
            # a head-only stage leaves the decoder frozen, so the terms would move nothing there.
            losses = stage["model"].get("losses")
            if losses is None:
                continue
            where = f"train.schedules.{fitting.schedule}.{name}"
            self._check_objective(losses, f"{where}.model.losses")
            if "completeness" in self.extra_losses and stage["trainable"] == "all_but_completeness":
                # The term would train the decoder to suit a frozen, randomly drawn head.
                raise NemiConfigError(f"pretrain: extra_losses has completeness, but {where}.trainable is "
                                      "all_but_completeness: the completeness head would stay frozen; use all")
            if stage["trainable"] in DECODER_STAGES:
                stage["model"] = {**stage["model"], "losses": _with(losses, self.added_losses())}
        return fitting.replace(schedules=schedules)

    def model_section(self, model: Mapping[str, Any]) -> dict[str, Any]:
        """The model section the pretraining builds its network with (its own query strategy and classification)."""
        out = {**dict(model), "query_strategy": self.query_strategy, "classification": self.classification}
        losses = list(out.get("losses") or _default_losses())
        self._check_objective(losses, "model.losses (what a stage without losses of its own trains)")
        out["losses"] = _with(losses, self.added_losses())
        return out

    def _check_objective(self, losses: Any, key: str) -> None:
        if "contrastive" in losses and not self.contrastive:
            raise NemiConfigError(f"pretrain: {key} trains contrastive, but pretrain.contrastive is false")
        extra = [x for x in losses if x not in OBJECTIVE + LOGGED_ONLY + self.extra_losses]
        if extra:
            raise NemiConfigError(
                f"pretrain: {key} trains {', '.join(extra)}, not a term of the paper's pretraining objective "
                f"({', '.join(OBJECTIVE)}); name it in pretrain.extra_losses to train it anyway, or leave it out")


def _with(losses: Any, added: list[str]) -> list[str]:
    return list(losses) + [x for x in added if x not in losses]


def _default_losses() -> list[str]:
    from nemi.params import defaults

    return list(defaults("model")["losses"])
