"""TemParams: the boundary prior's parameters, with defaults read from the config schema's ``tem`` section only."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import Any

import jsonschema

from nemi.errors import NemiConfigError
from nemi.params import section_schema


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The JSON schema of the config's ``tem`` section (``nemi/schemas/config.schema.yaml``)."""
    return section_schema("tem")


@dataclass(frozen=True)
class TemParams:
    """See the ``tem`` section of nemi/schemas/config.schema.yaml for every field's meaning and default."""

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


assert {f.name for f in fields(TemParams)} == set(schema()["properties"]), "TemParams vs schema"
