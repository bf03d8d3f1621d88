"""Optical flow: each method recovers a known shift; dense_flow quantisation; one field per frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nemi.features.flow import (FLOW_METHODS, flow_params, flow_to_unit, make_flow, paired_flow_stream,
                                quantise_flow)


def texture(h: int = 80, w: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h + 40, w + 40)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_each_method_recovers_a_shift(method):
    big = texture()
    a = np.ascontiguousarray(big[20:100, 20:116])
    b = np.ascontiguousarray(big[20:100, 17:113])  # content moves 3 px right, 0 px down
    flow = make_flow(method)(a, b)
    assert flow.shape == (80, 96, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.35)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.35)


def test_quantisation_as_dense_flow():
    v = np.array([[[-25.0, -20.0], [0.0, 20.0], [25.0, 0.1]]], np.float32)
    q = quantise_flow(v)
    assert q.dtype == np.uint8
    assert q.tolist() == [[[0, 0], [128, 255], [255, 128]]]
    assert quantise_flow(np.array([[[10.0, -10.0]]], np.float32)).tolist() == [[[191, 64]]]
    u = flow_to_unit(np.array([0, 128, 255], np.uint8))
    np.testing.assert_allclose(u, [-1.0, 128 / 255 * 2 - 1, 1.0], atol=1e-6)


def test_one_field_per_frame_last_repeats_previous():
    big = texture(seed=1)
    frames = [np.repeat(np.ascontiguousarray(big[20:60, 20 - s:60 - s])[..., None], 3, axis=2) for s in (0, 2, 5)]
    out = list(paired_flow_stream(iter(frames), "farneback"))
    assert len(out) == 3
    for (rgb, _), f in zip(out, frames):
        assert rgb is f
    assert out[0][1].shape == (40, 40, 2) and out[0][1].dtype == np.uint8
    assert np.array_equal(out[2][1], out[1][1])  # the last frame has no successor
    assert not np.array_equal(out[0][1], out[1][1])  # 2 px then 3 px of motion


def test_single_frame_gets_zero_flow_and_empty_stream_is_empty():
    f = np.zeros((16, 16, 3), np.uint8)
    ((rgb, q),) = list(paired_flow_stream([f], "dis"))
    assert rgb is f and (q == 128).all()
    assert list(paired_flow_stream([], "dis")) == []


def test_unknown_method():
    with pytest.raises(ValueError, match="tvl1"):
        flow_params("brox")
