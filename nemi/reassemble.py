"""NEMI's inter-activity re-assembling (paper section 3.2) on one window, and activity pooling.

``reassemble(item, rng, params)`` takes one window as ``nemi.windows.dataset.WindowDataset.window(i)``
returns it and gives a new one in which a random sub-span b' of one activity b is spliced in at
a boundary between two other activities; b and b' are the positive pair of the contrastive loss
(Eq. 4), the window's other activities its negatives. It is meant to run each time a window is
drawn (in a Dataset's ``__getitem__``, before collation), so it is NumPy only and does one
fancy-index copy per per-step array.

Units. Everything happens on the window's step grid: a target of window units (centre c,
length w) covers the steps ``[round(W (c - w/2)), round(W (c + w/2)))``, rounded half up, at
least one step. A re-assembled window's targets are all on that grid (each bound moved by at
most half a step, 0.005 window units at W = 100): the inputs are per step, so a sub-step bound
carries nothing the features do not, and integer bounds make the splice exact.

The draw, in this order from ``rng`` (so a seeded generator repeats it exactly):

1. b: uniformly among the targets at least ``max(1, min_target_steps)`` steps long.
2. L, the length of b': uniformly among the integers in ``[lo, hi]``, ``lo = max(1,
   min_target_steps, ceil(min_fraction n_b))``, ``hi = max(lo, floor(max_fraction n_b))``
   capped at ``n_b`` (so "at least one step" and the minimum target length win over the fractions).
3. b' = b's steps ``[o, o + L)``, ``o`` uniformly in ``[start_b, end_b - L]``.
4. The injection point p, uniformly among the candidates:

   - *between two other activities*: for consecutive targets t, u in start order (ties by end),
     neither of them b, with ``end_t <= start_u``: ``p = end_t``;
   - only when there is none (one other activity, or b between the only two): the start and the
     end of every other activity;

   keeping only points that lie strictly inside no target (so no target is split), that are not
   a bound of b (b' right beside b would make a boundary with no change of content), where b'
   fits (``p + L <= W``), and after which b survives (``insert``: b is not pushed past the
   window's end; ``overwrite``: b keeps ``max(1, min_target_steps)`` steps).

No eligible b, or no candidate point (a window with a single activity always): the item comes
back unchanged with pair ``None``, for the caller to count and train without the contrastive term.

The splice, with an index array ``idx`` (W,) applied to ``features``, ``boundary`` and ``mask``
alike (so padding moves with its content and b' steps take b's mask, which is True):

- ``insert``: ``idx = [0..p) + [o..o+L) + [p..W)``, cut to W. Targets starting at or after p move
  right by L; those now ending past W are dropped (so is the real content that fell off).
- ``overwrite``: ``idx = [0..W)`` with ``[p..p+L)`` replaced by ``[o..o+L)``. A target starting
  inside ``[p, p+L)`` (no target straddles p) is trimmed to start at ``p + L``, and dropped when
  shorter than ``max(1, min_target_steps)`` steps.

Boundary scores are not re-normalised: they stay in [0, 1], but a channel whose maximum fell off
the window no longer reaches 1. b' is cut from inside b, so the scores it carries are b's
mid-activity ones: no start peak at its first step, no end peak at its last, and RTD-Net's input
scaling (``s * start``, ``s * end``) damps it against every real activity. The ``prior`` rule
(``pretrain.splice_prior``; README gives the default and its measurement) says what its two ends get:

- ``carry``: nothing more (b's scores at ``o`` and ``o + L - 1`` stay);
- ``copy_ends``: b's own start score (channel 0 at ``start_b``) goes to b''s first step and b's end
  score (channel 1 at ``end_b - 1``) to its last step, so b' begins and ends as b does. The steps
  around the splice keep what the index copy gave them (the activity before p its end, the one after
  it its start). The prior is the TEM's, fitted on the unspliced pseudo activities; recomputing it
  on every drawn window would run the TEM inside the data loader, and the copied scores are what
  that TEM says at b's real bounds.

The new targets keep the survivors' original order and b' is appended last, with b's label; the
returned pair is ``(index of b, index of b')`` in them. ``segments`` (every segment meeting the
window, for the boundary prior's labels) becomes the new targets as (start, end): a splice has no
meaning for a segment crossing the window's edge.

Worked example (W = 20, targets in steps A = [0, 4), B = [4, 10), C = [10, 14), D = [14, 18),
real steps 0-17, padding 18-19; the draw picks b = B, L = 3, o = 5, so b' = steps 5, 6, 7).
Candidates: C|D at 14 (A|B and B|C touch b), both modes.

- ``insert`` at p = 14: ``idx = 0..13, 5, 6, 7, 14, 15, 16`` (step 17 and the padding fall
  off). Targets: A [0, 4), B [4, 10), C [10, 14), D [17, 21) dropped (past 20), b' [14, 17).
  New boxes ``[A, B, C, b']``, pair ``(1, 3)``; the mask is all True (18 - 1 + 3 = 20 real steps).
- ``overwrite`` at p = 14: ``idx = 0..13, 5, 6, 7, 17, 18, 19``. D [14, 18) is trimmed to
  [17, 18): 1 step, dropped with ``min_target_steps = 2``, kept with 1. Targets (min 2): A, B,
  C, b' [14, 17); pair ``(1, 3)``; the mask is True on 0-17, padding on 18-19 as before.

(``tests/test_reassemble.py`` checks these numbers.)

``pool_activities(features, boxes, W)`` is the activity-query input: the mean feature over each
target's steps, by the same step rounding.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from nemi.errors import NemiInputError
from nemi.segments import cw_to_se, se_to_cw

Mode = Literal["insert", "overwrite"]
Prior = Literal["carry", "copy_ends"]
PRIORS = ("carry", "copy_ends")
Pair = tuple[int, int]


@dataclass(frozen=True)
class ReassembleParams:
    """mode: insert | overwrite. min_fraction / max_fraction: length of b' as a share of b's, 0 < min <= max <= 1.
    min_target_steps: a target trimmed below this many steps is dropped (b' is never shorter), >= 1.
    prior: what b''s two ends get of the boundary prior (carry | copy_ends; the module docstring)."""

    mode: Mode
    min_fraction: float
    max_fraction: float
    min_target_steps: int
    prior: Prior

    def __post_init__(self) -> None:
        if self.mode not in ("insert", "overwrite"):
            raise NemiInputError(f"reassemble mode must be insert or overwrite, not {self.mode!r}")
        if self.prior not in PRIORS:
            raise NemiInputError(f"reassemble prior must be one of {', '.join(PRIORS)}, not {self.prior!r}")
        if not 0 < self.min_fraction <= self.max_fraction <= 1:
            raise NemiInputError(f"reassemble fractions need 0 < min_fraction <= max_fraction <= 1, not "
                                 f"{self.min_fraction}, {self.max_fraction}")
        if isinstance(self.min_target_steps, bool) or not isinstance(self.min_target_steps, int | np.integer) \
                or self.min_target_steps < 1:
            raise NemiInputError(f"reassemble min_target_steps must be an integer >= 1, not {self.min_target_steps!r}")


def boxes_to_steps(boxes_cw: np.ndarray, window_steps: int) -> np.ndarray:
    """(N, 2) (centre, length) in window units -> (N, 2) int64 step bounds [start, end), at least one step."""
    se = cw_to_se(np.asarray(boxes_cw, dtype=np.float64).reshape(-1, 2)) * window_steps
    steps = np.floor(se + 0.5).astype(np.int64)
    steps[:, 1] = np.maximum(steps[:, 1], steps[:, 0] + 1)
    return steps


def steps_to_boxes(steps: np.ndarray, window_steps: int) -> np.ndarray:
    """(N, 2) step bounds [start, end) -> (N, 2) float32 (centre, length) in window units."""
    return se_to_cw(np.asarray(steps, dtype=np.float64).reshape(-1, 2) / window_steps).astype(np.float32)


def _check(item: dict) -> int:
    feats, boundary, mask, boxes = item["features"], item["boundary"], item["mask"], item["boxes"]
    w = len(feats)
    if feats.ndim != 2 or boundary.shape != (w, 2) or mask.shape != (w,) or mask.dtype != bool:
        raise ValueError(f"window {item.get('video_id')}@{item.get('start')}: need features (W, F), boundary (W, 2), "
                         f"mask (W,) bool; got {feats.shape}, {boundary.shape}, {mask.shape} {mask.dtype}")
    if boxes.ndim != 2 or boxes.shape[1] != 2 or len(item["labels"]) != len(boxes):
        raise ValueError(f"window {item.get('video_id')}@{item.get('start')}: need boxes (N, 2) and labels (N,); "
                         f"got {boxes.shape}, {np.shape(item['labels'])}")
    return w


def _candidates(steps: np.ndarray, b: int) -> np.ndarray:
    """Injection points before the fit and survival filters (see the module docstring)."""
    order = np.lexsort((steps[:, 1], steps[:, 0]))
    t, u = order[:-1], order[1:]
    between = (t != b) & (u != b) & (steps[t, 1] <= steps[u, 0])
    points = steps[t[between], 1]
    if len(points) == 0:
        others = np.delete(steps, b, axis=0)
        points = others.reshape(-1)
    points = np.unique(points)
    inside_any = ((steps[None, :, 0] < points[:, None]) & (points[:, None] < steps[None, :, 1])).any(axis=1)
    return points[~inside_any & (points != steps[b, 0]) & (points != steps[b, 1])]


def _survives(steps: np.ndarray, b: int, p: np.ndarray, length: int, w: int, params: ReassembleParams) -> np.ndarray:
    """For each candidate point: does b' fit, and does b survive the splice?"""
    s, e = steps[b]
    fits = p + length <= w
    if params.mode == "insert":
        return fits & ((s < p) | (e + length <= w))
    start = np.where((s >= p) & (s < p + length), p + length, s)
    return fits & (e - start >= max(1, params.min_target_steps))


def _splice_targets(steps: np.ndarray, p: int, length: int, w: int,
                    params: ReassembleParams) -> tuple[np.ndarray, np.ndarray]:
    """(new step bounds of the kept targets, their indices in ``steps``)."""
    out = steps.copy()
    if params.mode == "insert":
        out[steps[:, 0] >= p] += length
        keep = out[:, 1] <= w
    else:
        cut = (steps[:, 0] >= p) & (steps[:, 0] < p + length)
        out[cut, 0] = p + length
        keep = out[:, 1] - out[:, 0] >= max(1, params.min_target_steps)
    return out[keep], np.flatnonzero(keep)


class Splice(NamedTuple):
    """One draw: target ``b``; b' = its steps ``[crop_start, crop_start + length)``; injected at step ``point``."""

    b: int
    crop_start: int
    length: int
    point: int


def draw(boxes_cw: np.ndarray, window_steps: int, rng: np.random.Generator, params: ReassembleParams) -> Splice | None:
    """The random part of ``reassemble`` (steps 1-4 of the module docstring); None when no splice is possible."""
    w = window_steps
    steps = boxes_to_steps(boxes_cw, w)
    n = steps[:, 1] - steps[:, 0]
    eligible = np.flatnonzero(n >= max(1, params.min_target_steps))
    if len(steps) < 2 or len(eligible) == 0:
        return None
    b = int(eligible[rng.integers(len(eligible))])
    n_b = int(n[b])
    lo = max(1, params.min_target_steps, math.ceil(params.min_fraction * n_b - 1e-9))
    hi = min(n_b, max(lo, math.floor(params.max_fraction * n_b + 1e-9)))
    length = int(rng.integers(lo, hi + 1))
    crop_start = int(steps[b, 0] + rng.integers(n_b - length + 1))
    points = _candidates(steps, b)
    points = points[_survives(steps, b, points, length, w, params)]
    if len(points) == 0:
        return None
    return Splice(b, crop_start, length, int(points[rng.integers(len(points))]))


def splice(item: dict, s: Splice, params: ReassembleParams) -> tuple[dict, Pair]:
    """The deterministic part of ``reassemble``: apply one splice (``params.mode``, ``min_target_steps``).

    The caller guarantees what ``draw`` does (b' inside b, no target straddling the point, b' fits,
    b survives); the result is the new item and ``(index of b, index of b')`` in its boxes.
    """
    w = _check(item)
    steps = boxes_to_steps(item["boxes"], w)
    p, length, o = s.point, s.length, s.crop_start
    if params.mode == "insert":
        idx = np.concatenate([np.arange(p), np.arange(o, o + length), np.arange(p, w)])[:w]
    else:
        idx = np.arange(w)
        idx[p:p + length] = np.arange(o, o + length)
    kept, old = _splice_targets(steps, p, length, w, params)
    if not (old == s.b).any():
        raise ValueError(f"splice {s} drops b (target {s.b}); draw() never chooses such a point")
    new_steps = np.concatenate([kept, [[p, p + length]]])
    labels = np.asarray(item["labels"])
    out = dict(item)
    out["features"] = item["features"][idx]
    out["boundary"] = item["boundary"][idx]
    if params.prior == "copy_ends":
        s_b, e_b = steps[s.b]
        out["boundary"][p, 0] = item["boundary"][s_b, 0]
        out["boundary"][p + length - 1, 1] = item["boundary"][e_b - 1, 1]
    out["mask"] = item["mask"][idx]
    out["boxes"] = steps_to_boxes(new_steps, w)
    out["labels"] = np.concatenate([labels[old], labels[s.b:s.b + 1]])
    out["segments"] = (new_steps / w).astype(np.float32)
    return out, (int(np.flatnonzero(old == s.b)[0]), len(new_steps) - 1)


def reassemble(item: dict, rng: np.random.Generator, params: ReassembleParams) -> tuple[dict, Pair | None]:
    """One re-assembled window and its positive pair ``(index of b, index of b')`` in the new ``boxes``.

    ``item``: a window as ``WindowDataset.window`` gives it (``features`` (W, F), ``boundary`` (W, 2),
    ``mask`` (W,) bool, ``boxes`` (N, 2) centre/length in window units, ``labels`` (N,)); it is not
    modified. Other keys are copied (``segments`` is replaced, see the module docstring). With no
    possible splice the same ``item`` comes back with pair ``None``.
    """
    w = _check(item)
    s = draw(item["boxes"], w, rng, params)
    if s is None:
        return item, None
    return splice(item, s, params)


def pool_activities(features, boxes_cw, window_steps: int):
    """(W, F) features (NumPy or torch) and (N, 2) centre/length boxes in window units -> (N, F) means.

    Each activity's mean runs over its steps as ``boxes_to_steps`` rounds them, clipped to the
    window. Torch in, torch out (same device and dtype, differentiable); NumPy gives float32.
    """
    boxes = boxes_cw
    torch = sys.modules.get("torch")
    is_torch = torch is not None and isinstance(features, torch.Tensor)
    if torch is not None and isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    steps = np.clip(boxes_to_steps(boxes, window_steps), 0, window_steps)
    steps[:, 0] = np.minimum(steps[:, 0], window_steps - 1)
    steps[:, 1] = np.maximum(steps[:, 1], steps[:, 0] + 1)
    if features.shape[0] != window_steps:
        raise ValueError(f"features have {features.shape[0]} steps, the window {window_steps}")
    counts = steps[:, 1] - steps[:, 0]
    if is_torch:
        cs = torch.cat([features.new_zeros(1, features.shape[1]), features.cumsum(0)])
        s = torch.as_tensor(steps, device=features.device)
        return (cs[s[:, 1]] - cs[s[:, 0]]) / torch.as_tensor(counts, device=features.device,
                                                             dtype=features.dtype)[:, None]
    cs = np.concatenate([np.zeros((1, features.shape[1])), np.cumsum(features, axis=0, dtype=np.float64)])
    return ((cs[steps[:, 1]] - cs[steps[:, 0]]) / counts[:, None]).astype(np.float32)
