"""The named evaluation protocols: which algorithm, which tIoU thresholds, which budgets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Protocol:
    """One row of the protocol table in ``docs/evaluation.md``.

    ``proposal_algorithm`` is ``"anet"`` (ActivityNet's
    ``average_recall_vs_avg_nr_proposals``) or ``"daps"`` (the DAPs/RTD-Net
    ``average_recall_vs_nr_proposals``).  ``average_numbers`` are the AN at which AR is
    reported; the ActivityNet algorithm builds its curve up to the largest of them.
    ``proposals_keep_ambiguous``: whether ground truth labelled ``Ambiguous`` counts in
    proposal recall unless the caller says otherwise (RTD-Net's ground truth for DAPs
    holds Thumos14's 99 Ambiguous test segments).  Detections drop them by default under
    every protocol: Ambiguous is not a class.
    """

    name: str
    proposal_algorithm: str
    proposal_tious: tuple[float, ...]
    average_numbers: tuple[int, ...]
    detection_tious: tuple[float, ...]
    proposals_keep_ambiguous: bool = False

    @property
    def max_average_number(self) -> int:
        return max(self.average_numbers)


def _grid(lo: float, hi: float, n: int) -> tuple[float, ...]:
    # np.linspace, as the reference scripts write their thresholds.
    return tuple(float(x) for x in np.linspace(lo, hi, n))


PROTOCOLS: dict[str, Protocol] = {
    "thumos14": Protocol(
        "thumos14", "anet", _grid(0.5, 1.0, 11), (50, 100, 200, 500, 1000), _grid(0.3, 0.7, 5)
    ),
    # Detection under the DAPs name is the same ActivityNet mAP as "thumos14": DAPs is a
    # proposal protocol only.
    "thumos14-daps": Protocol(
        "thumos14-daps", "daps", _grid(0.5, 1.0, 11), (50, 100, 200, 500, 1000), _grid(0.3, 0.7, 5),
        proposals_keep_ambiguous=True,
    ),
    "activitynet": Protocol(
        "activitynet", "anet", _grid(0.5, 0.95, 10), (1, 5, 10, 100), _grid(0.5, 0.95, 10)
    ),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose one of {sorted(PROTOCOLS)}") from None


def threshold_key(t: float) -> str:
    """JSON key of a tIoU threshold: 0.3 -> "0.3", 0.55 -> "0.55", 1.0 -> "1.0"."""
    s = f"{round(t, 2):.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s
