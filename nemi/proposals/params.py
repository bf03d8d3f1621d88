"""ProposalParams (config section ``proposals``); importing it imports no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

VERSION = 1  # bump when what `nemi proposals` writes changes meaning


@dataclass(frozen=True)
class ProposalParams:
    """Field meanings: the ``proposals`` section of nemi/schemas/config.schema.yaml."""

    SECTION: ClassVar[str] = "proposals"

    top_n: int
    suppression: str
    nms_threshold: float
    soft_nms_sigma: float
    batch_size: int
    device: str
