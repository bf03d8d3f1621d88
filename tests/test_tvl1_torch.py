"""tvl1-torch: agrees with OpenCV's TV-L1 where a one-scale or unwarped variant does not; batches; bad input.

The reference is OpenCV's CPU ``DualTVL1OpticalFlow`` set like the CUDA defaults
(no median filter, all iterations in one inner loop), with 50 iterations on 64x64
frames to keep the test fast; tvl1-torch runs with the same settings. Errors are
measured away from the border: there OpenCV's CPU remap reads zeros outside the
image where CUDA (and tvl1-torch) repeat the edge, so the two differ by design.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from nemi.errors import NemiInputError
from nemi.features.flow import flow_params, make_flow, paired_flow_stream
from nemi.features.tvl1_torch import TVL1Params, tvl1_flow

FAST = TVL1Params(iterations=50)
MARGIN = 12           # px left out at each side: more than the motion (5 px) plus the cubic kernel's reach
GOOD_MEAN_PX = 0.05   # seen: 0.012
GOOD_P95_PX = 0.15    # seen: 0.017


def shifted_pair(h: int, w: int, dx: float, dy: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same texture moved by (dx, dy) px."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + 40, w + 40)).astype(np.float32), (0, 0), 2.0)
    big = ((big - big.min()) / (big.max() - big.min()) * 255).astype(np.uint8)
    moved = cv2.warpAffine(big, np.float32([[1, 0, dx], [0, 1, dy]]), (w + 40, h + 40), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(big[20:20 + h, 20:20 + w]), np.ascontiguousarray(moved[20:20 + h, 20:20 + w])


def opencv_tvl1(a: np.ndarray, b: np.ndarray, p: TVL1Params) -> np.ndarray:
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=p.tau, lambda_=p.lambda_, theta=p.theta, nscales=p.num_scales, warps=p.warps, epsilon=p.epsilon,
        innnerIterations=p.iterations, outerIterations=1, scaleStep=p.scale_step, gamma=p.gamma, medianFiltering=1)
    return tvl1.calc(a, b, None)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Frames this small gain nothing from threads, and lose much when other jobs share the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def pairs():
    """Two 64x64 pairs moving (5, -3) px, and OpenCV's flow for them with the reference settings."""
    ab = [shifted_pair(64, 64, 5.0, -3.0, seed) for seed in (0, 1)]
    a, b = np.stack([x for x, _ in ab]), np.stack([y for _, y in ab])
    ref = np.stack([opencv_tvl1(x, y, FAST) for x, y in ab])
    return a, b, ref


def interior_error(pairs, **overrides) -> tuple[float, float]:
    """Mean and 95th percentile of the endpoint difference to OpenCV, away from the border."""
    a, b, ref = pairs
    flow = tvl1_flow(a, b, dataclasses.replace(FAST, **overrides), "cpu")
    epe = np.linalg.norm(flow - ref, axis=-1)[:, MARGIN:-MARGIN, MARGIN:-MARGIN]
    return float(epe.mean()), float(np.percentile(epe, 95))


def test_agrees_with_opencv(pairs):
    mean, p95 = interior_error(pairs)
    assert mean < GOOD_MEAN_PX and p95 < GOOD_P95_PX
    assert np.median(pairs[2][:, MARGIN:-MARGIN, MARGIN:-MARGIN], axis=(0, 1, 2)) == pytest.approx([5, -3], abs=0.1)


@pytest.mark.parametrize("broken", [{"num_scales": 1}, {"warps": 1}], ids=["one-scale", "no-warping"])
def test_broken_variants_fail_the_thresholds(pairs, broken):
    mean, p95 = interior_error(pairs, **broken)
    assert mean > 5 * GOOD_MEAN_PX and p95 > 5 * GOOD_P95_PX  # seen: one scale 4.7 / 8.0 px, one warp 0.57 / 4.0 px


def test_gamma_agrees_with_opencv():
    a, b = shifted_pair(48, 48, 2.0, 1.0, seed=2)
    p = dataclasses.replace(FAST, gamma=0.1)
    epe = np.linalg.norm(tvl1_flow(a[None], b[None], p, "cpu")[0] - opencv_tvl1(a, b, p), axis=-1)
    assert epe[8:-8, 8:-8].mean() < GOOD_MEAN_PX


def test_real_frames_agree_with_opencv(shared_dir):
    cap = cv2.VideoCapture(str(shared_dir / "data" / "videos" / "mmaction2_test.mp4"))
    grey = []
    for _ in range(3):
        ok, bgr = cap.read()
        assert ok
        grey.append(cv2.cvtColor(cv2.resize(bgr, (96, 72), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY))
    cap.release()
    flow = tvl1_flow(grey[:-1], grey[1:], FAST, "cpu")
    ref = np.stack([opencv_tvl1(x, y, FAST) for x, y in zip(grey[:-1], grey[1:])])
    epe = np.linalg.norm(flow - ref, axis=-1)
    assert epe.mean() < 0.2  # the goal, on whole frames


def test_a_pair_gets_the_same_flow_in_any_batch():
    ab = [shifted_pair(40, 48, dx, dy, seed) for seed, (dx, dy) in enumerate([(4, -2), (1, 0.5), (0, 0)])]
    a, b = np.stack([x for x, _ in ab]), np.stack([y for _, y in ab])
    together = tvl1_flow(a, b, FAST, "cpu")
    assert together.shape == (3, 40, 48, 2) and together.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(together[i], tvl1_flow(a[i:i + 1], b[i:i + 1], FAST, "cpu")[0], atol=1e-5)
    assert np.median(together[0, 8:-8, 8:-8], axis=(0, 1)) == pytest.approx([4, -2], abs=0.2)


def test_registered_as_a_flow_method():
    p = flow_params("tvl1-torch")
    assert (p["tau"], p["lambda"], p["theta"], p["num_scales"], p["warps"], p["epsilon"], p["iterations"],
            p["scale_step"], p["gamma"]) == (0.25, 0.15, 0.3, 5, 5, 0.01, 300, 0.8, 0.0)
    a, b = shifted_pair(32, 32, 1.0, 0.0, seed=3)
    assert make_flow("tvl1-torch", device="cpu")(a, b).shape == (32, 32, 2)


def rgb_frames(n: int, h: int = 20, w: int = 24) -> list[np.ndarray]:
    a, _ = shifted_pair(h, w + 3 * n, 0, 0, seed=4)
    return [np.repeat(np.ascontiguousarray(a[:, 3 * k:3 * k + w])[..., None], 3, axis=2) for k in range(n)]


def test_batched_stream_equals_pair_by_pair():
    frames = rgb_frames(6)
    one = list(paired_flow_stream(iter(frames), "tvl1-torch", batch_pairs=1, device="cpu"))
    two = list(paired_flow_stream(iter(frames), "tvl1-torch", batch_pairs=2, device="cpu"))
    many = list(paired_flow_stream(iter(frames), "tvl1-torch", device="cpu"))
    assert len(one) == len(two) == len(many) == 6
    for (r1, q1), (r2, q2), (r3, q3), f in zip(one, two, many, frames):
        assert r1 is f and r2 is f and r3 is f
        assert np.array_equal(q1, q2) and np.array_equal(q1, q3)
    assert np.array_equal(one[-1][1], one[-2][1])  # the last frame repeats the previous field


# --- bad input ---------------------------------------------------------------------------------------------------

def test_frames_of_different_sizes_in_one_batch():
    a, b = shifted_pair(32, 32, 1, 0, seed=5)
    c, d = shifted_pair(32, 40, 1, 0, seed=6)
    with pytest.raises(NemiInputError, match="one size"):
        tvl1_flow([a, c], [b, d], FAST, "cpu")
    with pytest.raises(NemiInputError, match="one size"):
        tvl1_flow(a[None], d[None], FAST, "cpu")
    frames = rgb_frames(3) + [np.zeros((20, 28, 3), np.uint8)]
    with pytest.raises(NemiInputError, match="frame 3 is 28x20 px.*24x20 px"):
        list(paired_flow_stream(iter(frames), "tvl1-torch", batch_pairs=2, device="cpu"))


def test_one_frame_video_gets_zero_flow():
    f = rgb_frames(1)[0]
    ((rgb, q),) = list(paired_flow_stream([f], "tvl1-torch", device="cpu"))
    assert rgb is f and q.shape == (20, 24, 2) and (q == 128).all()
    assert list(paired_flow_stream([], "tvl1-torch", device="cpu")) == []


def test_cuda_asked_for_without_one_fails_before_any_work(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def frames_never_read():
        raise AssertionError("a frame was read")
        yield  # pragma: no cover

    with pytest.raises(NemiInputError, match="'cuda:0' asked for, but no CUDA device"):
        paired_flow_stream(frames_never_read(), "tvl1-torch", device="cuda:0")
    with pytest.raises(NemiInputError, match="no CUDA device"):
        tvl1_flow(np.zeros((1, 16, 16), np.uint8), np.zeros((1, 16, 16), np.uint8), FAST, "cuda")
    with pytest.raises(NemiInputError, match="not a torch device"):
        make_flow("tvl1-torch", device="tpu")
