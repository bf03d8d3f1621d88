"""VLFeat's UoCTTI HOG descriptor (``vl_hog(im, cellSize)``) in NumPy and Numba.

This is the HOG that UntrimmedNets' shot detector (MHLfuncs ``ML_VidShot.detectCuts``)
used, and the one the change threshold tau = 0.0715 was tuned on. It follows VLFeat's
public ``vl/hog.c`` (0.9.21) step by step, in the same float32/float64 arithmetic and
summation order, so that it equals VLFeat to float rounding (max |diff| ~6e-8 against
``cyvlfeat.hog.hog`` over Debian's ``libvlfeat-dev``, and against libvl driven as the
MATLAB mex drives it: column-major image, ``transposed`` flag set). The oracle installs
with ``apt-get install libvlfeat-dev`` and then, with Cython, wheel, setuptools, numpy
and scipy present, ``pip install --no-build-isolation cyvlfeat``.

Conventions
-----------
* Input: an (H, W, 3) RGB, (H, W, 1) or (H, W) grayscale array with values in 0..255
  (uint8, or any real dtype; it is cast to float32 as ``vl_hog`` receives SINGLE data).
  The range matters: the block norms carry a 1e-4 regulariser, so the same image scaled
  to 0..1 (as in ``vl_hog(im2single(im))``, VLFeat's doc example) differs in low-contrast
  cells (up to ~0.03 on a real 96x128 frame); the shot detector used 0..255.
  H and W must be at least 4 pixels.
* Gradients: central differences on interior pixels only (the one-pixel border gets
  none); at each pixel the channel with the largest gradient magnitude is used (the
  first one on ties).
* Orientation: hard assignment to the nearest of 18 directed bins (20 degrees apart,
  bin 0 pointing right, angles clockwise with y pointing down); VLFeat's
  ``bilinear orientation`` option is off by default for UoCTTI and is not offered.
* Space: each gradient is spread bilinearly over the four nearest cell centres.
  The grid has ``rows = (H + cell_size // 2) // cell_size`` and
  ``cols = (W + cell_size // 2) // cell_size`` cells (integer division: the last cell
  is at least half inside the image); 96x128 at cell 8 gives 12x16 cells.
* Normalisation: each cell is divided by the L2 norms of the four 2x2-cell blocks that
  contain it (``1 / sqrt(e1 + e2 + e3 + e4 + 1e-4)``, e = squared L2 norm of a cell's
  undirected histogram; cells beyond the grid edge replicate the edge), and every
  normalised value is clipped at 0.2.
* Output: a float32 (rows, cols, 31) array, per cell: 18 directed orientations
  (each: its 4 normalised, clipped values summed, times 0.5), 9 undirected orientations
  (directed bin k plus bin k + 9, then the same), and 4
  texture values (for each of the 4 block normalisations, the sum of the 9 clipped
  undirected values, times 1/sqrt(18)). This is the layout ``vl_hog``
  returns in MATLAB and ``cyvlfeat.hog.hog(image, cell_size)`` returns in Python.

scikit-image's ``skimage.feature.hog`` and OpenCV's ``HOGDescriptor`` implement the
Dalal-Triggs variant instead: blocks of cells normalised and concatenated (36 values per
block, a different length and scale), unsigned orientations only, no texture features
and no 0.5 averaging. Distances between their descriptors live on another scale, so a
threshold such as tau = 0.0715, tuned on mean |H_{t+1} - H_t| of UoCTTI descriptors,
means something else with them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["hog", "hog_shape", "N_ORIENTATIONS", "HOG_DIM"]

N_ORIENTATIONS = 9
HOG_DIM = 3 * N_ORIENTATIONS + 4  # 31 values per cell

# Unit vectors at the centres of the 9 undirected bins, rounded to float32 as VLFeat
# stores them; the directed bin is picked by the sign of the projection.
_ANGLES = np.arange(N_ORIENTATIONS) * math.pi / N_ORIENTATIONS
_ORIENT_X = np.cos(_ANGLES).astype(np.float32)
_ORIENT_Y = np.sin(_ANGLES).astype(np.float32)
# VLFeat writes the constant as (1.0f / sqrtf(18.0f)): a float32 value.
_TEXTURE_SCALE = float(np.float32(1.0) / np.sqrt(np.float32(18.0)))


def hog_shape(height: int, width: int, cell_size: int = 8) -> tuple[int, int, int]:
    """Shape (rows, cols, 31) of :func:`hog`'s output for an image of height x width pixels."""
    return ((height + cell_size // 2) // cell_size, (width + cell_size // 2) // cell_size, HOG_DIM)


@njit(cache=True, nogil=True)
def _cell_weights(n: int, cell: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel coordinate: left cell index and the two bilinear weights (float32)."""
    first = np.empty(n, dtype=np.int64)
    w1 = np.empty(n, dtype=np.float32)
    w2 = np.empty(n, dtype=np.float32)
    for i in range(n):
        # Offset from the cell centre on the left, in cells; computed in double and
        # stored in float as VLFeat does.
        h = np.float32((i + 0.5) / cell - 0.5)
        b = int(math.floor(h))
        first[i] = b
        w2[i] = h - np.float32(b)
        w1[i] = np.float32(1.0) - w2[i]
    return first, w1, w2


@njit(cache=True, nogil=True)
def _histograms(img: np.ndarray, cell: int, orient_x: np.ndarray, orient_y: np.ndarray, hist: np.ndarray) -> None:
    """Accumulate directed-orientation histograms into hist (rows, cols, 18), in place.

    img is float32 (H, W, C); the arithmetic stays in float32 and the summation order
    (rows, then columns, then the four neighbouring cells) is VLFeat's, so each bin gets
    the same rounding.
    """
    height, width, channels = img.shape
    rows, cols, _ = hist.shape
    n_orient = orient_x.shape[0]
    bx, wx1, wx2 = _cell_weights(width, cell)
    by, wy1, wy2 = _cell_weights(height, cell)
    zero = np.float32(0.0)
    for y in range(1, height - 1):
        b_y = by[y]
        fy1 = wy1[y]
        fy2 = wy2[y]
        top = b_y >= 0
        bottom = b_y < rows - 1
        for x in range(1, width - 1):
            gx = zero
            gy = zero
            norm2 = zero
            for k in range(channels):
                gx_ = img[y, x + 1, k] - img[y, x - 1, k]
                gy_ = img[y + 1, x, k] - img[y - 1, x, k]
                n2 = gx_ * gx_ + gy_ * gy_
                if n2 > norm2:
                    gx = gx_
                    gy = gy_
                    norm2 = n2
            if norm2 == zero:
                continue  # VLFeat adds exact zeros here
            mag = np.sqrt(norm2)
            best = np.float32(-1.0)
            o = 0
            for k in range(n_orient):
                score = gx * orient_x[k] + gy * orient_y[k]
                b = k
                if score < zero:
                    score = -score
                    b = k + n_orient
                if score > best:
                    best = score
                    o = b
            b_x = bx[x]
            left = b_x >= 0
            right = b_x < cols - 1
            if left and top:
                hist[b_y, b_x, o] += mag * wx1[x] * fy1
            if right and top:
                hist[b_y, b_x + 1, o] += mag * wx2[x] * fy1
            if right and bottom:
                hist[b_y + 1, b_x + 1, o] += mag * wx2[x] * fy2
            if left and bottom:
                hist[b_y + 1, b_x, o] += mag * wx1[x] * fy2


@njit(cache=True, nogil=True)
def _normalise(hist: np.ndarray, texture_scale: float, out: np.ndarray) -> None:
    """UoCTTI block normalisation of hist (rows, cols, 2n) into out (rows, cols, 3n + 4)."""
    rows, cols, n2 = hist.shape
    n = n2 // 2
    energy = np.zeros((rows, cols), dtype=np.float32)
    for y in range(rows):
        for x in range(cols):
            e = np.float32(0.0)
            for k in range(n):
                h = hist[y, x, k] + hist[y, x, k + n]
                e += h * h
            energy[y, x] = e
    for y in range(rows):
        ym = max(y - 1, 0)
        yp = min(y + 1, rows - 1)
        for x in range(cols):
            xm = max(x - 1, 0)
            xp = min(x + 1, cols - 1)
            e1 = float(energy[ym, xm])
            e2 = float(energy[ym, x])
            e3 = float(energy[ym, xp])
            e4 = float(energy[y, xm])
            e5 = float(energy[y, x])
            e6 = float(energy[y, xp])
            e7 = float(energy[yp, xm])
            e8 = float(energy[yp, x])
            e9 = float(energy[yp, xp])
            # Blocks: up-left, up-right, down-left, down-right of the cell.
            f1 = 1.0 / math.sqrt(e1 + e2 + e4 + e5 + 1e-4)
            f2 = 1.0 / math.sqrt(e2 + e3 + e5 + e6 + 1e-4)
            f3 = 1.0 / math.sqrt(e4 + e5 + e7 + e8 + 1e-4)
            f4 = 1.0 / math.sqrt(e5 + e6 + e8 + e9 + 1e-4)
            t1 = 0.0
            t2 = 0.0
            t3 = 0.0
            t4 = 0.0
            for k in range(n):
                ha = float(hist[y, x, k])
                hb = float(hist[y, x, k + n])
                ha1 = f1 * ha
                ha2 = f2 * ha
                ha3 = f3 * ha
                ha4 = f4 * ha
                hb1 = f1 * hb
                hb2 = f2 * hb
                hb3 = f3 * hb
                hb4 = f4 * hb
                hc1 = min(0.2, ha1 + hb1)
                hc2 = min(0.2, ha2 + hb2)
                hc3 = min(0.2, ha3 + hb3)
                hc4 = min(0.2, ha4 + hb4)
                t1 += hc1
                t2 += hc2
                t3 += hc3
                t4 += hc4
                out[y, x, k] = 0.5 * (min(0.2, ha1) + min(0.2, ha2) + min(0.2, ha3) + min(0.2, ha4))
                out[y, x, k + n] = 0.5 * (min(0.2, hb1) + min(0.2, hb2) + min(0.2, hb3) + min(0.2, hb4))
                out[y, x, k + 2 * n] = 0.5 * (hc1 + hc2 + hc3 + hc4)
            out[y, x, 3 * n] = texture_scale * t1
            out[y, x, 3 * n + 1] = texture_scale * t2
            out[y, x, 3 * n + 2] = texture_scale * t3
            out[y, x, 3 * n + 3] = texture_scale * t4


def _as_image(image: np.ndarray) -> np.ndarray:
    """Validate and return a C-contiguous float32 (H, W, C) view or copy of image."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(
            f"hog: expected an (H, W, 3) RGB, (H, W, 1) or (H, W) grayscale image, got an array of shape {arr.shape}"
        )
    if arr.dtype.kind not in "uif":
        raise ValueError(f"hog: expected a real-valued image (uint8 or float, values 0..255), got dtype {arr.dtype}")
    if arr.shape[0] < 4 or arr.shape[1] < 4:
        raise ValueError(f"hog: image of {arr.shape[0]}x{arr.shape[1]} pixels is too small: need at least 4x4")
    return np.ascontiguousarray(arr, dtype=np.float32)


def hog(image: np.ndarray, cell_size: int = 8) -> np.ndarray:
    """UoCTTI HOG of an image, equal to VLFeat's ``vl_hog(single(image), cell_size)``.

    Args:
        image: (H, W, 3) RGB, (H, W, 1) or (H, W) grayscale, values 0..255 (uint8 or
            float; cast to float32). H, W >= 4.
        cell_size: cell side in pixels (8 for the HOG change detector).

    Returns:
        float32 array (rows, cols, 31), rows = (H + cell_size // 2) // cell_size and
        cols likewise from W; per cell 18 directed orientations, 9 undirected
        orientations and 4 texture values (see the module docstring).

    Raises:
        ValueError: wrong number of dimensions or channels, a non-numeric dtype, an
            image smaller than 4x4 or smaller than half a cell, or a cell size < 1.
    """
    if isinstance(cell_size, bool) or not isinstance(cell_size, (int, np.integer)) or cell_size < 1:
        raise ValueError(f"hog: cell_size must be a positive integer, got {cell_size!r}")
    cell = int(cell_size)
    img = _as_image(image)
    rows, cols, dim = hog_shape(img.shape[0], img.shape[1], cell)
    if rows < 1 or cols < 1:
        raise ValueError(
            f"hog: image of {img.shape[0]}x{img.shape[1]} pixels holds no cell of {cell} pixels "
            f"(each side needs at least {cell - cell // 2})"
        )
    hist = np.zeros((rows, cols, 2 * N_ORIENTATIONS), dtype=np.float32)
    _histograms(img, cell, _ORIENT_X, _ORIENT_Y, hist)
    out = np.empty((rows, cols, dim), dtype=np.float32)
    _normalise(hist, _TEXTURE_SCALE, out)
    return out
