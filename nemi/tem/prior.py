"""The boundary prior's three kinds: trained TEM scores, the change curve, or ones."""

from __future__ import annotations

import numpy as np

from nemi.errors import NemiInputError
from nemi.io.timebase import Timebase

KINDS = ("tem", "change", "none")


def boundary_prior(kind: str, n_features: int, *, timebase: Timebase | None = None,
                   curve: np.ndarray | None = None, curve_t_s: np.ndarray | None = None,
                   model=None, features: np.ndarray | None = None, name: str = "video") -> np.ndarray:
    """(n_features, 2) float32 start and end scores of one video, on its feature grid.

    none: ones (the boundary-attentive scaling then does nothing).
    change: the change curve (``curve[k]`` at ``curve_t_s[k]`` seconds, e.g. a change-curve
    file's ``distance`` and ``t_s``) linearly resampled at the feature centres given by
    ``timebase``, min-max normalised over the video, for start and end alike; a constant
    curve gives ones.
    tem: a trained TEM's start and end scores of ``features`` (see nemi.tem.train.score).
    """
    if kind == "none":
        return np.ones((n_features, 2), np.float32)
    if kind == "change":
        if timebase is None or curve is None or curve_t_s is None:
            raise ValueError("the change prior needs timebase, curve and curve_t_s")
        c, t = np.asarray(curve, np.float64).reshape(-1), np.asarray(curve_t_s, np.float64).reshape(-1)
        if len(c) != len(t):
            raise NemiInputError(f"{name}: change curve has {len(c)} values but {len(t)} times")
        if not (np.isfinite(c).all() and np.isfinite(t).all()):
            raise NemiInputError(f"{name}: change curve holds NaN or Inf")
        if len(c) and (np.diff(t) <= 0).any():
            raise NemiInputError(f"{name}: change curve times must increase")
        if len(c) == 0:
            return np.ones((n_features, 2), np.float32)
        v = np.interp(timebase.centers(n_features), t, c)
        span = v.max() - v.min()
        v = np.ones_like(v) if span <= 0 else (v - v.min()) / span
        return np.repeat(v[:, None], 2, axis=1).astype(np.float32)
    if kind == "tem":
        if model is None or features is None:
            raise ValueError("the tem prior needs a trained model and the video's features")
        from nemi.tem.train import score
        out = score(model, features)[:, 1:3]
        if len(out) != n_features:
            raise ValueError(f"{name}: {len(out)} feature rows, expected {n_features}")
        return out
    raise ValueError(f"boundary prior kind must be one of {KINDS}, not {kind!r}")
