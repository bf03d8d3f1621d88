"""The change-detector interface and its registry.

A detector makes a change curve from one shard (``curves``) and turns a cached curve into
boundaries (``boundaries``). The two halves run in different stages on purpose: the
``changes`` stage caches the curve, the ``labels`` stage thresholds it, so that changing a
threshold never recomputes a curve. Each half has its own typed parameters (the config
sections ``changes.<name>`` and ``labels.<name>``) and the detector a ``VERSION`` that the
rules pass on, so a change of meaning reruns exactly the jobs it touches.

A third detector is one module defining a subclass, decorated with ``@register``, plus its
import in ``nemi/detectors/__init__.py`` and its two schema sections.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from nemi.io.curves import ChangeCurve

INPUTS = ("frames", "features")


class ChangeDetector(ABC):
    name: ClassVar[str]
    VERSION: ClassVar[int]
    input: ClassVar[str]  # which shard the curve is made from: "frames" or "features"
    curve_params: ClassVar[type]  # frozen dataclass, SECTION "changes.<name>"
    boundary_params: ClassVar[type]  # frozen dataclass, SECTION "labels.<name>"

    @abstractmethod
    def curves(self, shard: str | os.PathLike, params: Any) -> dict[str, ChangeCurve]:
        """The curve of every video of a frame or feature shard (``self.input`` says which)."""

    @abstractmethod
    def boundaries(self, distance: np.ndarray, params: Any) -> np.ndarray:
        """(N-1,) bool over a curve: True where a new activity starts at step k+1."""

    def curve_record(self, params: Any) -> dict[str, Any]:
        """The curve parameters as recorded in the curve file (and, through it, the pseudo labels)."""
        from dataclasses import asdict

        return asdict(params)

    def describe(self, params: Any) -> dict[str, Any]:
        """The boundary parameters as recorded in the pseudo-label file."""
        from dataclasses import asdict

        return asdict(params)

    def from_record(self, record: dict[str, Any]) -> Any:
        """The boundary parameters back from a pseudo-label file's ``params`` (the inverse of ``describe``)."""
        from dataclasses import fields

        from nemi.params import build

        names = {f.name for f in fields(self.boundary_params)}
        return build(self.boundary_params, {k: v for k, v in record.items() if k in names})

    def threshold_line(self, distance: np.ndarray, mask: np.ndarray, params: Any) -> tuple[float, str] | None:
        """(level, legend) of the threshold to draw over a curve, or None."""
        return None


_REGISTRY: dict[str, ChangeDetector] = {}


def register(cls: type[ChangeDetector]) -> type[ChangeDetector]:
    if cls.input not in INPUTS:
        raise ValueError(f"detector {cls.__name__}: input must be one of {INPUTS}, not {cls.input!r}")
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise ValueError(f"a change detector named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> ChangeDetector:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown change detector {name!r}; registered: {', '.join(names())}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)
