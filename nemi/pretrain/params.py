"""PretrainParams (config section ``pretrain``): NEMI's switches, and the fitting and model settings
of a pretraining derived from them. Defaults are written once, in the config schema.

The switches become settings the shared loop (``nemi.fit``) and the model already know: the
contrastive term is one more entry of every stage's ``losses``, the query strategy and the
classification loss are model settings, and ``train`` overrides the train section. Importing this
module imports no torch, so the workflow checks a pretraining while it plans the DAG.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from nemi.fit.params import TrainParams, merge
from nemi.params import build


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
    min_target_steps: int
    query_strategy: str
    contrastive: bool
    classification: str
    seed: int
    train: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
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

    def fit_params(self, train_section: Mapping[str, Any]) -> TrainParams:
        """The train section with this pretraining's overrides; with the contrastive term in every stage."""
        raw = merge(dict(train_section), dict(self.train))
        fitting = TrainParams.from_dict(raw)
        if not self.contrastive:
            return fitting
        schedules = copy.deepcopy(dict(fitting.schedules))
        for stage in schedules[fitting.schedule].values():
            # A stage without its own losses uses model_section's, which has the term; a head-only
            # stage leaves the decoder frozen, so the term would move nothing there.
            losses = stage["model"].get("losses")
            if losses is not None and stage["trainable"] in ("all", "all_but_completeness"):
                stage["model"] = {**stage["model"], "losses": list(losses) + [x for x in ("contrastive",)
                                                                               if x not in losses]}
        return fitting.replace(schedules=schedules)

    def model_section(self, model: Mapping[str, Any]) -> dict[str, Any]:
        """The model section the pretraining builds its network with (its own query strategy and classification)."""
        out = {**dict(model), "query_strategy": self.query_strategy, "classification": self.classification}
        if self.contrastive:
            losses = list(out.get("losses") or _default_losses())
            out["losses"] = losses + [x for x in ("contrastive",) if x not in losses]
        return out


def _default_losses() -> list[str]:
    from nemi.params import defaults

    return list(defaults("model")["losses"])
