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


SLIDING_WINDOW_VERSION = 1  # bump when what `nemi proposals sliding-window` writes changes meaning
SCORES = ("longer_first", "uniform")


@dataclass(frozen=True)
class SlidingWindowParams:
    """A sliding_window experiment's windows; field meanings: ``$defs.sliding_window`` of the schema."""

    SECTION: ClassVar[str] = "sliding_window"

    scales_s: tuple[float, ...]
    stride_fraction: float
    stride_s: float | None
    score: str

    def __post_init__(self) -> None:
        # Messages start with the key: the workflow names the experiment in front of them.
        try:
            scales = tuple(float(s) for s in self.scales_s)  # a JSON list, or a tuple
        except (TypeError, ValueError):
            raise ValueError(f"scales_s: a list of window lengths in seconds, not {self.scales_s!r}") from None
        object.__setattr__(self, "scales_s", scales)
        if not scales:
            raise ValueError("scales_s: give at least one window length (seconds)")
        bad = [s for s in scales if not 0 < s < float("inf")]
        if bad:
            raise ValueError(f"scales_s: every window length must be a number of seconds > 0, not {bad}")
        twice = sorted({s for s in scales if scales.count(s) > 1})
        if twice:
            raise ValueError(f"scales_s: {twice} listed more than once")
        if not 0 < self.stride_fraction <= 1:
            raise ValueError(f"stride_fraction: the stride is a fraction of each scale, 0 < f <= 1, "
                             f"not {self.stride_fraction}")
        if self.stride_s is not None and not 0 < self.stride_s < float("inf"):
            raise ValueError(f"stride_s: the stride in seconds must be > 0 (or null: stride_fraction), "
                             f"not {self.stride_s}")
        if self.score not in SCORES:
            raise ValueError(f"score: one of {list(SCORES)}, not {self.score!r}")

    def stride_for(self, scale_s: float) -> float:
        """Seconds between two windows of one scale: stride_s when given, else stride_fraction of the scale."""
        return self.stride_s if self.stride_s is not None else self.stride_fraction * scale_s
