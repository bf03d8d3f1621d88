"""The Thumos14 test-set variants papers report on: 213, 212 and 210 videos.

- ``213``: every test video with temporal annotations (the official files;
  RTD-Net's ``thumos14_test_groundtruth.csv`` and ``thumos14_anno_action.json``).
- ``212``: without ``video_test_0001292``.  In the official files that video holds
  only Ambiguous spans (no action instance), so any evaluation that drops Ambiguous
  sees 212 videos; ActionFormer (happyharrycn/actionformer_release) and code that
  follows it also skip it by name.
- ``210``: also without ``video_test_0000270`` and ``video_test_0001496``, whose
  annotations are wrong: G-TAD's ``evaluation/thumos_gt.json`` (frostinassiky/gtad)
  leaves out exactly these three, and TadTR-style code lists them as
  ``ignored_videos`` ("follow SSN/PGCN/AFSD/MUSES to remove three falsely annotated
  videos").
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nemi.errors import NemiInputError

THUMOS14_TEST_PREFIX = "video_test_"
THUMOS14_TEST_OMITTED: dict[str, tuple[str, ...]] = {
    "213": (),
    "212": ("video_test_0001292",),
    "210": ("video_test_0000270", "video_test_0001292", "video_test_0001496"),
}


def thumos14_test_subset(name: str, test_videos: Iterable[str]) -> list[str]:
    """The videos of subset ``name`` ("213", "212" or "210", optionally "thumos14-" prefixed).

    Only test videos (``video_test_*``) count: a ground truth that also holds the validation (training)
    videos, as a dataset's one table does, must not put them in the evaluated set.
    """
    key = name.removeprefix("thumos14-")
    if key not in THUMOS14_TEST_OMITTED:
        raise NemiInputError(f"unknown Thumos14 test subset {name!r}; choose one of {sorted(THUMOS14_TEST_OMITTED)}")
    omit = set(THUMOS14_TEST_OMITTED[key])
    return sorted(v for v in set(test_videos) if v not in omit and v.startswith(THUMOS14_TEST_PREFIX))


def resolve_videos(spec: str, available: Iterable[str]) -> list[str]:
    """``thumos14-213|212|210`` or a text file with one video id per line."""
    if spec.removeprefix("thumos14-") in THUMOS14_TEST_OMITTED:
        return thumos14_test_subset(spec, available)
    p = Path(spec)
    if not p.is_file():
        names = ", ".join(f"thumos14-{k}" for k in THUMOS14_TEST_OMITTED)
        raise NemiInputError(f"--videos {spec!r}: neither a named subset ({names}) nor a file of video ids")
    ids = [line.strip() for line in p.read_text().splitlines() if line.strip()]
    if not ids:
        raise NemiInputError(f"{p}: no video ids")
    return ids


