"""The report stage: result tables over experiments and seeds, and one self-contained HTML report.

``nemi report tables`` turns the per-run evaluation JSONs listed in an INDEX file (its format is
documented in :mod:`nemi.report.tables`) into ``{dataset}_tal.csv``, ``{dataset}_tad.csv`` and
``{dataset}_ablations.csv``; ``nemi report html`` draws the figures and writes
``{dataset}_report.html``. Both read only finished artifacts, so they run alone on finished runs.
"""

from dataclasses import dataclass

VERSION = 2  # bump whenever a table's columns or values change meaning


@dataclass(frozen=True)
class FigureParams:
    """timeline_videos: test videos drawn as timelines. top_proposals: proposals per video drawn there."""

    timeline_videos: int = 3
    top_proposals: int = 10

    def __post_init__(self) -> None:
        if self.timeline_videos < 1 or self.top_proposals < 1:
            raise ValueError(f"timeline_videos and top_proposals must be >= 1, not {self}")
