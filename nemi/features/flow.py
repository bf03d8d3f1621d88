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
``tvl1-torch`` is that CUDA algorithm in torch (nemi.features.tvl1_torch), on CUDA
when available, and computes the pairs of a batch together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from nemi.errors import NemiInputError

FLOW_METHODS = ("tvl1", "tvl1-torch", "dis", "farneback")
FLOW_BOUND_PX = 20.0
TORCH_BATCH_PAIRS = 16  # pairs per tvl1-torch call in paired_flow_stream: fills a GPU, costs nothing on CPU

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
BatchFlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def flow_params(method: str) -> dict:
    """The parameters each method runs with, as recorded in the feature shard."""
    if method == "tvl1":
        return {"impl": "cv2.optflow.DualTVL1OpticalFlow_create", "tau": 0.25, "lambda": 0.15, "theta": 0.3,
                "nscales": 5, "warps": 5, "epsilon": 0.01, "inner_iterations": 30, "outer_iterations": 10,
                "scale_step": 0.8, "gamma": 0.0, "median_filtering": 5}
    if method == "tvl1-torch":
        from nemi.features.tvl1_torch import TVL1Params

        return {"impl": "nemi.features.tvl1_torch (OpenCV CUDA OpticalFlowDual_TVL1)", **TVL1Params().as_dict()}
    if method == "dis":
        return {"impl": "cv2.DISOpticalFlow_create", "preset": "medium"}
    if method == "farneback":
        return {"impl": "cv2.calcOpticalFlowFarneback", "pyr_scale": 0.5, "levels": 3, "winsize": 15,
                "iterations": 3, "poly_n": 5, "poly_sigma": 1.2, "flags": 0}
    raise ValueError(f"flow method must be one of {FLOW_METHODS}, not {method!r}")


def make_flow(method: str, device: str = "auto") -> FlowFn:
    """A function ``(gray0, gray1) -> flow`` with gray uint8 (H, W) and flow float32 (H, W, 2) in px.

    Each call of ``make_flow`` makes its own OpenCV object: use one per thread.
    ``device`` is for tvl1-torch only (auto: CUDA when available).
    """
    import cv2

    p = flow_params(method)
    if method == "tvl1-torch":
        batch = make_batch_flow(method, device)
        return lambda a, b: batch(a[None], b[None])[0]
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


def make_batch_flow(method: str, device: str = "auto") -> BatchFlowFn:
    """A function ``(gray0, gray1) -> flow`` on batches: uint8 (B, H, W) twice -> float32 (B, H, W, 2).

    tvl1-torch computes the pairs together on ``device`` (checked now, before any
    work); the OpenCV methods go pair by pair.
    """
    if method == "tvl1-torch":
        from nemi.features.tvl1_torch import TVL1Params, resolve_device, tvl1_flow

        dev, params = resolve_device(device), TVL1Params()
        return lambda a, b: tvl1_flow(a, b, params, dev)
    fn = make_flow(method)

    def per_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if len(a) != len(b):
            raise ValueError(f"{len(a)} first frames but {len(b)} second frames")
        return np.stack([fn(x, y) for x, y in zip(a, b)]) if len(a) else np.zeros((0, *a.shape[1:], 2), np.float32)

    return per_pair


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


def paired_flow_stream(rgb_frames: Iterable[np.ndarray], method: str, batch_pairs: int | None = None,
                       device: str = "auto") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(rgb, flow)`` per input frame, streamed: flow is the quantised (H, W, 2) uint8 field t -> t+1.

    The last frame repeats the previous field, and a single frame gets zero flow
    (q = 128). Holds ``batch_pairs + 1`` frames at a time and computes their pairs in
    one call (default: TORCH_BATCH_PAIRS for tvl1-torch, 1 for the OpenCV methods).
    The method and device are checked here, before the first frame is read; all
    frames must have one size.
    """
    if batch_pairs is None:
        batch_pairs = TORCH_BATCH_PAIRS if method == "tvl1-torch" else 1
    if batch_pairs < 1:
        raise ValueError(f"batch_pairs must be >= 1, not {batch_pairs}")
    return _paired_flow(rgb_frames, make_batch_flow(method, device), batch_pairs)


def _paired_flow(rgb_frames: Iterable[np.ndarray], fn: BatchFlowFn,
                 batch_pairs: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    rgbs: list[np.ndarray] = []
    grays: list[np.ndarray] = []
    last_q: np.ndarray | None = None

    def flush() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        nonlocal last_q, rgbs, grays
        flows = fn(np.stack(grays[:-1]), np.stack(grays[1:]))
        for rgb, f in zip(rgbs[:-1], flows):
            last_q = quantise_flow(f)
            yield rgb, last_q
        rgbs, grays = rgbs[-1:], grays[-1:]  # the last frame starts the next batch's first pair

    for i, rgb in enumerate(rgb_frames):
        if rgbs and rgb.shape != rgbs[0].shape:
            raise NemiInputError(f"optical flow: frame {i} is {rgb.shape[1]}x{rgb.shape[0]} px, but the frames "
                                 f"before it are {rgbs[0].shape[1]}x{rgbs[0].shape[0]} px; one size per video")
        rgbs.append(rgb)
        grays.append(to_gray(rgb))
        if len(rgbs) == batch_pairs + 1:
            yield from flush()
    if not rgbs:
        return
    if len(rgbs) > 1:
        yield from flush()
    if last_q is None:
        last_q = quantise_flow(np.zeros((*rgbs[0].shape[:2], 2), np.float32))
    yield rgbs[0], last_q
