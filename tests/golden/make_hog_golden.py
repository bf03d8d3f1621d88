"""Regenerate tests/golden/hog_golden.npz from VLFeat itself (cyvlfeat over libvlfeat), not from nemi.

Usage (needs cyvlfeat and PyAV; see nemi/hog.py for how to install the oracle):
    python tests/golden/make_hog_golden.py

For each case the file holds ``<case>__image`` (the input exactly as given to
``nemi.detectors.hog.descriptor.hog``), ``<case>__cell`` (cell size) and ``<case>__hog`` (what
``cyvlfeat.hog.hog(image.astype(float32), cell)`` returned, UoCTTI, (rows, cols, 31)),
plus ``meta`` (a JSON string: oracle versions and where the real frame came from).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cyvlfeat
import numpy as np
from cyvlfeat.hog import hog as vl_hog

HERE = Path(__file__).resolve().parent
OUT = HERE / "hog_golden.npz"
VIDEO = HERE.parents[2] / "shared" / "data" / "videos" / "mmaction2_demo.mp4"
FRAME_INDEX = 40


def real_frame() -> np.ndarray:
    """Frame FRAME_INDEX of the shared demo video, resized to 96x128 RGB uint8 by PyAV (swscale)."""
    with av.open(str(VIDEO)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == FRAME_INDEX:
                return frame.reformat(width=128, height=96, format="rgb24").to_ndarray()
    raise RuntimeError(f"{VIDEO} has fewer than {FRAME_INDEX + 1} frames")


def cases() -> dict[str, tuple[np.ndarray, int]]:
    rng = np.random.default_rng(20240601)
    return {
        "rand_96x128_rgb_u8": (rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), 8),
        "rand_37x53_rgb_u8": (rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), 8),
        "rand_29x41_rgb_f32": ((rng.random((29, 41, 3)) * 255).astype(np.float32), 8),
        "rand_37x53_gray_u8": (rng.integers(0, 256, (37, 53), dtype=np.uint8), 8),
        "rand_21x18_rgb_u8_cell5": (rng.integers(0, 256, (21, 18, 3), dtype=np.uint8), 5),
        "rand_4x4_rgb_u8": (rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), 8),
        "real_96x128_rgb_u8": (real_frame(), 8),
    }


def main() -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, (image, cell) in cases().items():
        arrays[f"{name}__image"] = image
        arrays[f"{name}__cell"] = np.array(cell)
        arrays[f"{name}__hog"] = vl_hog(image.astype(np.float32), cell)
    meta = {
        "oracle": f"cyvlfeat {cyvlfeat.__version__}.hog.hog(image.astype(float32), cell), variant UoCTTI",
        "vlfeat": "Debian libvlfeat-dev 0.9.21+full-1",
        "real_frame": f"{VIDEO.name} frame {FRAME_INDEX}, PyAV {av.__version__} reformat to 128x96 rgb24",
    }
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(arrays) // 3} cases)")


if __name__ == "__main__":
    main()
