"""nemi.detectors.hog.descriptor: VLFeat's UoCTTI HOG, checked against VLFeat (cyvlfeat)
and its committed golden outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nemi.detectors.hog.descriptor import HOG_DIM, hog, hog_shape

GOLDEN = Path(__file__).resolve().parent / "golden" / "hog_golden.npz"
TOL = 1e-5


def _golden_cases() -> list[str]:
    with np.load(GOLDEN) as data:
        return sorted(k[: -len("__image")] for k in data.files if k.endswith("__image"))


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def _vlfeat_hog():
    """cyvlfeat's vl_hog wrapper, or skip (importorskip without its pytest>=8.2 exc_type argument)."""
    try:
        from cyvlfeat.hog import hog as vl_hog
    except ImportError as exc:
        pytest.skip(f"cyvlfeat not importable ({exc}): checked against the golden file only")
    return vl_hog


def _random_image(rng: np.random.Generator, shape: tuple[int, ...], integer: bool) -> np.ndarray:
    if integer:
        return rng.integers(0, 256, shape).astype(np.float32)
    return (rng.random(shape) * 255).astype(np.float32)


# --- against VLFeat's own outputs, committed (always runs) ---


def test_golden_file_is_from_the_oracle(golden: dict[str, np.ndarray]) -> None:
    meta = json.loads(str(golden["meta"]))
    assert "cyvlfeat" in meta["oracle"] and "UoCTTI" in meta["oracle"]
    assert len(_golden_cases()) >= 6


@pytest.mark.parametrize("case", _golden_cases())
def test_matches_vlfeat_golden(golden: dict[str, np.ndarray], case: str) -> None:
    image, cell, expected = golden[f"{case}__image"], int(golden[f"{case}__cell"]), golden[f"{case}__hog"]
    got = hog(image, cell)
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    assert np.abs(expected).max() > 0.05  # a real descriptor, not zeros
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


# --- against VLFeat live, where cyvlfeat is installed ---


@pytest.mark.parametrize("integer", [True, False], ids=["int-valued", "float-valued"])
@pytest.mark.parametrize(
    ("shape", "cell"),
    [
        ((96, 128, 3), 8),
        ((37, 53, 3), 8),
        ((53, 37, 3), 8),
        ((61, 45, 3), 6),
        ((33, 47), 8),
        ((40, 24, 1), 4),
        ((9, 11, 3), 7),
        ((5, 4, 3), 8),
    ],
)
def test_matches_cyvlfeat_random(shape: tuple[int, ...], cell: int, integer: bool) -> None:
    vl_hog = _vlfeat_hog()
    rng = np.random.default_rng(hash((shape, cell, integer)) % 2**32)
    for _ in range(3):
        image = _random_image(rng, shape, integer)
        expected = vl_hog(image, cell)
        got = hog(image, cell)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_matches_cyvlfeat_real_frames(shared_dir: Path) -> None:
    vl_hog = _vlfeat_hog()
    av = pytest.importorskip("av")
    videos = sorted((shared_dir / "data" / "videos").glob("*.mp4"))
    assert videos, f"no .mp4 under {shared_dir / 'data' / 'videos'}"
    checked = 0
    for path in videos:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 15:
                    continue
                small = frame.reformat(width=128, height=96, format="rgb24").to_ndarray()
                full = frame.to_ndarray(format="rgb24")  # odd native sizes too (e.g. 240x426)
                for image in (small, full):
                    np.testing.assert_allclose(hog(image), vl_hog(image.astype(np.float32), 8), rtol=0, atol=TOL)
                    checked += 1
                if i >= 60:
                    break
    assert checked >= 2 * len(videos)


# --- properties that hold without any oracle ---


@pytest.mark.parametrize(
    ("height", "width", "cell", "expected"),
    [(96, 128, 8, (12, 16)), (37, 53, 8, (5, 7)), (36, 52, 8, (5, 7)), (35, 51, 8, (4, 6)), (4, 4, 8, (1, 1))],
)
def test_shape_and_dtype(height: int, width: int, cell: int, expected: tuple[int, int]) -> None:
    out = hog(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8), cell)
    assert out.shape == (*expected, HOG_DIM) == hog_shape(height, width, cell)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous


def test_uint8_float32_float64_give_the_same_descriptor() -> None:
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ref = hog(image)
    np.testing.assert_array_equal(hog(image.astype(np.float32)), ref)
    np.testing.assert_array_equal(hog(image.astype(np.float64)), ref)
    np.testing.assert_array_equal(hog(image.astype(np.int32)), ref)


def test_non_contiguous_input_equals_its_copy() -> None:
    big = np.random.default_rng(2).integers(0, 256, (100, 140, 3), dtype=np.uint8)
    view = big[2:98, 5:133, ::-1]  # a crop seen through BGR -> RGB flip
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(hog(view), hog(np.ascontiguousarray(view)))


@pytest.mark.parametrize("value", [0, 77, 255])
def test_constant_image_gives_zeros(value: int) -> None:
    out = hog(np.full((96, 128, 3), value, dtype=np.uint8))
    np.testing.assert_array_equal(out, np.zeros((12, 16, HOG_DIM), np.float32))


def test_grayscale_2d_equals_one_channel_and_equal_rgb_channels() -> None:
    gray = np.random.default_rng(3).integers(0, 256, (40, 56), dtype=np.uint8)
    ref = hog(gray)
    assert ref.shape == (5, 7, HOG_DIM)
    np.testing.assert_array_equal(hog(gray[:, :, None]), ref)
    # VLFeat keeps the channel with the strongest gradient: three equal channels = gray.
    np.testing.assert_array_equal(hog(np.repeat(gray[:, :, None], 3, axis=2)), ref)


def test_strongest_channel_wins() -> None:
    rng = np.random.default_rng(4)
    strong = rng.integers(0, 256, (32, 48), dtype=np.uint8)
    weak = (strong // 8).astype(np.uint8)  # same edges, 8x weaker gradients
    rgb = np.stack([weak, strong, weak], axis=2)
    np.testing.assert_array_equal(hog(rgb), hog(strong))


def test_horizontal_flip_permutes_bins() -> None:
    """A mirrored image (width a multiple of the cell) gives mirrored cells with VLFeat's bin permutation.

    Float-valued pixels: with integer ones a vertical gradient (gx == 0) ties the 80 and 100
    degree bins and VLFeat keeps the first, which breaks the mirror symmetry in VLFeat too.
    """
    image = (np.random.default_rng(5).random((48, 64, 3)) * 255).astype(np.float32)
    n = 9
    perm = [(n - o) % (2 * n) for o in range(2 * n)]  # directed: angle t -> pi - t
    perm += [2 * n + (n - o) % n for o in range(n)]  # undirected
    perm += [3 * n + 1, 3 * n, 3 * n + 3, 3 * n + 2]  # texture: left and right blocks swap
    flipped = hog(image[:, ::-1])[:, ::-1][:, :, perm]
    np.testing.assert_allclose(flipped, hog(image), rtol=0, atol=TOL)


def test_values_are_bounded_and_directed_sum_to_undirected_scale() -> None:
    out = hog(np.random.default_rng(6).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    assert out.min() >= 0
    # Each of the 27 orientation values is half a sum of 4 values clipped at 0.2.
    assert out[:, :, :27].max() <= 0.4 + 1e-6
    assert out[:, :, 27:].max() <= 9 * 0.2 / np.sqrt(18) + 1e-6


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros(64, np.uint8), r"shape \(64,\)"),
        (np.zeros((2, 16, 16, 3), np.uint8), r"shape \(2, 16, 16, 3\)"),
        (np.zeros((16, 16, 2), np.uint8), r"shape \(16, 16, 2\)"),
        (np.zeros((16, 16, 4), np.uint8), r"shape \(16, 16, 4\)"),
        (np.zeros((3, 16, 3), np.uint8), "too small"),
        (np.zeros((16, 16, 3), bool), "dtype bool"),
        (np.zeros((16, 16, 3), complex), "dtype complex128"),
    ],
    ids=["1d", "4d", "2-channels", "4-channels", "too-small", "bool", "complex"],
)
def test_bad_image_raises(image: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hog(image)


@pytest.mark.parametrize("cell", [0, -8, 2.5, True])
def test_bad_cell_size_raises(cell: object) -> None:
    with pytest.raises(ValueError, match="cell_size must be a positive integer"):
        hog(np.zeros((16, 16, 3), np.uint8), cell)  # type: ignore[arg-type]


def test_image_smaller_than_half_a_cell_raises() -> None:
    with pytest.raises(ValueError, match="holds no cell of 16 pixels"):
        hog(np.zeros((6, 40, 3), np.uint8), 16)
