"""From a change curve to activities: the video decomposition of NEMI section 3.2.

Boundary rule for HOG curves (MHLfuncs ``ML_VidShot.detectCuts``, the shot detector
whose threshold UntrimmedNets used): a boundary sits between steps k and k+1 when

    d_k > tau                                            (always)
    d_k > mean_11(d)_k + 1.5 * std_11(d)_k               (with ``local_test``)

where mean_11 / std_11 are taken over an 11-step window centred on k, the curve
mirrored at its ends without repeating the end value (as ``detectCuts`` pads it), and
std is the population standard deviation sqrt(E[d^2] - E[d]^2).

Steps between consecutive boundaries form one activity. Activities longer than
``max_steps`` are split into the fewest equal parts that fit; those shorter than
``min_steps`` are dropped (they remain background). Step k spans
[k * step_s, (k + 1) * step_s) seconds.
"""

from __future__ import annotations

import numpy as np


def local_mean_std(d: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std over a centred window, mirrored ends (detectCuts' padding)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, not {window}")
    half = window // 2
    d = np.asarray(d, dtype=np.float64)
    if len(d) == 0:
        return d.copy(), d.copy()
    if len(d) <= half:  # too short to mirror without repeating: fall back to edge padding
        padded = np.pad(d, half, mode="edge")
    else:
        padded = np.pad(d, half, mode="reflect")
    kernel = np.ones(window) / window
    mean = np.convolve(padded, kernel, mode="valid")
    mean_sq = np.convolve(padded * padded, kernel, mode="valid")
    return mean, np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def threshold_boundaries(d: np.ndarray, tau: float, *, local_test: bool = False, local_window: int = 11,
                         local_std_factor: float = 1.5) -> np.ndarray:
    """Boolean mask over d: True where step k+1 starts a new activity."""
    d = np.asarray(d, dtype=np.float64)
    mask = d > tau
    if local_test:
        mean, std = local_mean_std(d, local_window)
        mask &= d > mean + local_std_factor * std
    return mask


def activities_from_boundaries(boundary: np.ndarray, n_steps: int, *, max_steps: int,
                               min_steps: int) -> list[tuple[int, int]]:
    """[(start_step, end_step_exclusive)] for a boundary mask of length n_steps - 1."""
    if max_steps < 1 or min_steps < 1:
        raise ValueError("max_steps and min_steps must be >= 1")
    if n_steps <= 0:
        return []
    if len(boundary) != max(n_steps - 1, 0):
        raise ValueError(f"boundary mask has {len(boundary)} entries for {n_steps} steps")
    cuts = np.flatnonzero(boundary) + 1
    edges = np.concatenate([[0], cuts, [n_steps]]).astype(int)
    out: list[tuple[int, int]] = []
    for s, e in zip(edges[:-1], edges[1:]):
        length = e - s
        if length < min_steps:
            continue
        parts = -(-length // max_steps)
        bounds = np.round(np.linspace(s, e, parts + 1)).astype(int)
        out.extend((int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= min_steps)
    return out
