"""Optical flow for the flow stream of I3D: TV-L1, DIS or Farneback, quantised as dense_flow does.

Conventions (recorded in every feature shard as ``flow_method`` and ``params_json``):

- Flow is computed on grayscale versions of the *cropped* RGB frames, so both
  streams see exactly the same pixels (dense_flow computes on the full frame and
  crops afterwards; on a centre crop the difference is confined to the border).
- Frame ``t``'s flow is the flow from frame ``t`` to frame ``t+1``. The last frame
  has no successor: it repeats the previous frame's flow (a one-frame video gets
  zero flow), so there is one flow field per frame and the RGB and flow windows of a
  snippet cover the same frame indices.
- Each component is clipped to [-20, 20] px and quantised to uint8 as dense_flow
  (``q = round(255 * (v + 20) / 40)``); the network sees ``q / 255 * 2 - 1`` in
  [-1, 1]. Zero motion becomes q = 128, i.e. +0.0039 after scaling, exactly as in the
  JPEG flow images the published Thumos14 features were computed from.

TV-L1 uses OpenCV contrib's ``cv2.optflow.DualTVL1OpticalFlow_create`` with its
defaults (tau 0.25, lambda 0.15, theta 0.3, 5 scales, 5 warps, epsilon 0.01), the
same defaults as the CUDA ``OpticalFlowDual_TVL1`` that dense_flow calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

FLOW_METHODS = ("tvl1", "dis", "farneback")
FLOW_BOUND_PX = 20.0

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def flow_params(method: str) -> dict:
    """The parameters each method runs with, as recorded in the feature shard."""
    if method == "tvl1":
        return {"impl": "cv2.optflow.DualTVL1OpticalFlow_create", "tau": 0.25, "lambda": 0.15, "theta": 0.3,
                "nscales": 5, "warps": 5, "epsilon": 0.01, "inner_iterations": 30, "outer_iterations": 10,
                "scale_step": 0.8, "gamma": 0.0, "median_filtering": 5}
    if method == "dis":
        return {"impl": "cv2.DISOpticalFlow_create", "preset": "medium"}
    if method == "farneback":
        return {"impl": "cv2.calcOpticalFlowFarneback", "pyr_scale": 0.5, "levels": 3, "winsize": 15,
                "iterations": 3, "poly_n": 5, "poly_sigma": 1.2, "flags": 0}
    raise ValueError(f"flow method must be one of {FLOW_METHODS}, not {method!r}")


def make_flow(method: str) -> FlowFn:
    """A function ``(gray0, gray1) -> flow`` with gray uint8 (H, W) and flow float32 (H, W, 2) in px.

    Each call of ``make_flow`` makes its own OpenCV object: use one per thread.
    """
    import cv2

    p = flow_params(method)
    if method == "tvl1":
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
            tau=p["tau"], lambda_=p["lambda"], theta=p["theta"], nscales=p["nscales"], warps=p["warps"],
            epsilon=p["epsilon"], innnerIterations=p["inner_iterations"], outerIterations=p["outer_iterations"],
            scaleStep=p["scale_step"], gamma=p["gamma"], medianFiltering=p["median_filtering"])
        return lambda a, b: tvl1.calc(a, b, None)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: dis.calc(a, b, None)
    return lambda a, b: cv2.calcOpticalFlowFarneback(
        a, b, None, p["pyr_scale"], p["levels"], p["winsize"], p["iterations"], p["poly_n"], p["poly_sigma"],
        p["flags"])


def quantise_flow(flow: np.ndarray, bound: float = FLOW_BOUND_PX) -> np.ndarray:
    """(H, W, 2) float px -> uint8: clip to [-bound, bound], ``round(255 * (v + bound) / (2 bound))``."""
    v = np.clip(flow, -bound, bound)
    return np.rint(255.0 * (v + bound) / (2.0 * bound)).astype(np.uint8)


def flow_to_unit(q: np.ndarray) -> np.ndarray:
    """uint8 quantised flow -> float32 in [-1, 1]: ``q / 255 * 2 - 1``."""
    return q.astype(np.float32) * (2.0 / 255.0) - 1.0


def to_gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def paired_flow_stream(rgb_frames: Iterable[np.ndarray], method: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(rgb, flow)`` per input frame, streamed: flow is the quantised (H, W, 2) uint8 field t -> t+1.

    The last frame repeats the previous field, and a single frame gets zero flow
    (q = 128). Holds two frames at a time; runs one OpenCV flow object.
    """
    fn = make_flow(method)
    prev_rgb: np.ndarray | None = None
    prev_gray: np.ndarray | None = None
    last_q: np.ndarray | None = None
    for rgb in rgb_frames:
        gray = to_gray(rgb)
        if prev_rgb is not None:
            last_q = quantise_flow(fn(prev_gray, gray))
            yield prev_rgb, last_q
        prev_rgb, prev_gray = rgb, gray
    if prev_rgb is None:
        return
    if last_q is None:
        last_q = quantise_flow(np.zeros((*prev_rgb.shape[:2], 2), np.float32))
    yield prev_rgb, last_q
