"""ModelParams: every RTD-Net network, matcher, criterion and post-processing setting.

The defaults are written once, in the config schema's ``model`` section
(``nemi/schemas/config.schema.yaml``); the dataclass has none of its own so the two cannot drift.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import jsonschema

from nemi.errors import NemiInputError
from nemi.params import section_schema

# Fields that change the network's parameters or outputs: a checkpoint made with other values is
# a different model. The rest only change how it is trained or scored.
ARCHITECTURE_FIELDS = (
    "input_dim", "proj_dim", "boundary_scale", "hidden_dim", "encoder_layers", "encoder_hidden_dim",
    "decoder_layers", "heads", "ffn_dim", "num_queries", "window_steps", "query_strategy",
)


@functools.cache
def schema() -> dict:
    """The JSON schema of the config's ``model`` section."""
    return section_schema("model")


def defaults() -> dict[str, Any]:
    return {k: v["default"] for k, v in schema()["properties"].items()}


@dataclass(frozen=True)
class ModelParams:
    """Field meanings and units: the ``model`` section of ``nemi/schemas/config.schema.yaml``."""

    SECTION: ClassVar[str] = "model"  # the config section, as nemi.params names stage sections

    input_dim: int
    proj_dim: int
    boundary_scale: float
    hidden_dim: int
    encoder_layers: int
    encoder_hidden_dim: int
    decoder_layers: int
    heads: int
    ffn_dim: int
    dropout: float
    num_queries: int
    window_steps: int
    aux_loss: bool
    query_strategy: str
    cost_class: float
    cost_l1: float
    cost_tiou: float
    relaxed_matching: bool
    losses: tuple[str, ...]
    weight_ce: float
    weight_bbox: float
    weight_giou: float
    weight_iou: float
    weight_con: float
    contrastive_temperature: float
    contrastive_aux: bool
    no_action_weight: float
    classification: str
    bce_tiou_threshold: float
    completeness_sampling: str
    completeness_positive_tiou: float
    completeness_negative_tiou: float
    completeness_middle_per_positive: float
    completeness_negatives_per_positive: float
    proposal_score: str

    def __post_init__(self) -> None:
        if self.hidden_dim % self.heads:
            raise NemiInputError(f"model.heads ({self.heads}) must divide model.hidden_dim ({self.hidden_dim})")
        if self.cost_class == 0 and self.cost_l1 == 0 and self.cost_tiou == 0:
            raise NemiInputError("model.cost_class, cost_l1 and cost_tiou are all 0: the matching would be arbitrary")
        if self.completeness_negative_tiou > self.completeness_positive_tiou:
            raise NemiInputError(
                f"model.completeness_negative_tiou ({self.completeness_negative_tiou}) is above "
                f"model.completeness_positive_tiou ({self.completeness_positive_tiou})")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None = None, *, where: str = "model") -> ModelParams:
        """Fill missing keys from the schema's defaults; unknown keys and bad values are errors.

        ``where`` names the source (a file and section) in error messages.
        """
        raw = dict(raw or {})
        raw.pop("version", None)  # stage version stamped into rule params, not a model setting
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise NemiInputError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
        merged = defaults() | raw
        try:
            jsonschema.validate(merged, schema())
        except jsonschema.ValidationError as err:
            key = ".".join(str(p) for p in err.absolute_path) or "(section)"
            raise NemiInputError(f"{where}.{key}: {err.message}") from None
        merged["losses"] = tuple(merged["losses"])
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able values that ``from_dict`` reads back to an equal object."""
        d = asdict(self)
        d["losses"] = list(self.losses)
        return d

    def architecture(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ARCHITECTURE_FIELDS}
