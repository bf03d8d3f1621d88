"""TemParams: the boundary prior's parameters, with defaults read from ``tem.schema.yaml`` only."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from importlib import resources
from typing import Any

import jsonschema
import yaml

from nemi.errors import NemiConfigError


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The JSON-schema fragment (a config section can embed it as it is)."""
    return yaml.safe_load(resources.files("nemi.tem").joinpath("tem.schema.yaml").read_text())


@dataclass(frozen=True)
class TemParams:
    """See tem.schema.yaml for every field's meaning and default."""

    kind: str
    hidden_dim: int
    boundary_ratio: float
    match_threshold: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    lr_step_epochs: int
    lr_gamma: float
    seed: int

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, where: str = "tem") -> TemParams:
        """Schema defaults, overridden by ``values``; unknown keys and bad values raise, naming ``where.key``."""
        values = dict(values or {})
        props = schema()["properties"]
        unknown = sorted(set(values) - set(props))
        if unknown:
            raise NemiConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(props)}")
        merged = {k: p["default"] for k, p in props.items()} | values
        try:
            jsonschema.validate(merged, schema())
        except jsonschema.ValidationError as err:
            key = ".".join(str(p) for p in err.absolute_path)
            raise NemiConfigError(f"{where}.{key}: {err.message}") from err
        return cls(**merged)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


assert {f.name for f in fields(TemParams)} == set(schema()["properties"]), "TemParams and tem.schema.yaml differ"
