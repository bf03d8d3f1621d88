"""What feature extraction will cost, said before it runs: TV-L1 optical flow on a CPU takes hours per video.

The Thumos14 setting (the schema's defaults: 30 fps, TV-L1, 224-px crops) is what a dataset gets when it
names no preset; on a CPU its flow alone runs about 50 times slower than real time. The workflow prints
:func:`flow_cpu_notice` while it plans such a dataset's feature jobs. Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

# OpenCV's DualTVL1OpticalFlow on 224x224 frames, one core of the 2-core VM, quiet (benchmarks/README.md,
# "Optical flow": 0.6 pairs/s with 1 and with 2 threads). tvl1-torch on a CPU thread is of the same order
# (same file, "TV-L1 in torch"). The cost grows with the pixels of the crop the flow is computed on.
TVL1_PAIRS_PER_S = 0.6
TVL1_MEASURED_PX = 224


def tvl1_on_cpu(eff: Mapping[str, Any]) -> bool:
    """Whether a dataset's feature jobs compute TV-L1 flow on a CPU: OpenCV's always (its Python build has
    no CUDA TV-L1), tvl1-torch unless it is sent to a GPU (``auto``: where there is none)."""
    if eff["features"]["source"] == "import" or eff["videos"]["source"] == "rehearsal":
        return False
    f = eff["features"]
    return f["flow_method"] == "tvl1" or (f["flow_method"] == "tvl1-torch" and not str(f["device"]).startswith("cuda"))


def seconds_per_pair(crop_px: int) -> float:
    return (crop_px / TVL1_MEASURED_PX) ** 2 / TVL1_PAIRS_PER_S


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def flow_cpu_notice(eff: Mapping[str, Any], durations_s: Sequence[float], n_videos: int, jobs: int) -> str | None:
    """One line for a dataset whose flow is TV-L1 on a CPU (else None): its CPU time for ``n_videos`` videos
    lasting ``durations_s`` (empty: unknown, then per minute of video), over ``jobs`` feature jobs at once."""
    if not tvl1_on_cpu(eff):
        return None
    f, fps = eff["features"], float(eff["decode"]["fps"])
    per_pair = seconds_per_pair(int(f["crop_px"]))
    where = "" if f["flow_method"] == "tvl1" else " (tvl1-torch, where there is no CUDA GPU)"
    head = (f"nemi: dataset {eff['dataset']}: TV-L1 optical flow runs on the CPU{where}, about "
            f"{1 / per_pair:.2g} frame pairs/s at {f['crop_px']}-px crops (benchmarks/README.md)")
    if durations_s:
        total = float(sum(durations_s))
        cpu = total * fps * per_pair
        cost = (f"{n_videos} videos ({_span(total)} of video at {fps:g} fps): about {cpu / 3600:.1f} h of CPU "
                f"for the flow alone, about {_span(cpu / max(1, jobs))} with {jobs} feature job(s) at once")
    else:
        cost = (f"about {60 * fps * per_pair / 60:.0f} min of CPU per minute of video at {fps:g} fps "
                f"({n_videos} videos, durations known once decoded)")
    return (f"{head}: {cost}. On a small CPU take the demo's setting, `preset: small_cpu` (dis flow at 15 fps "
            "and 96-px crops: minutes), or imported features (README, \"Datasets, and running on your own videos\")")


def video_durations(paths: Sequence[str | os.PathLike]) -> list[float]:
    """Each video's duration from its container (nothing decoded); empty when any is missing or unreadable,
    so that a total is never silently short."""
    import av

    out = []
    for path in paths:
        try:
            with av.open(str(path), metadata_errors="ignore") as c:
                if c.duration is None:
                    return []
                out.append(c.duration / av.time_base)
        except (OSError, av.FFmpegError):
            return []
    return out
