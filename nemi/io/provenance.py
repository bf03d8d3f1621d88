"""Provenance recorded in every artifact: who made it, from what, with which code."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path

import nemi
from nemi import runtime
from nemi.errors import NemiInputError


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """The digest an artifact records of an input; a missing input is the user's to fix (a command run by
    hand on an intermediate that Snakemake has since removed), so it is named, not a traceback."""
    h = hashlib.sha256()
    if not Path(path).is_file():
        raise NemiInputError(f"{path}: input file not found")
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str, bool]:
    """(sha, dirty) of the checkout nemi runs from; ("unknown", False) outside git."""
    root = Path(nemi.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = bool(subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip())
        return sha, dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def provenance(stage: str) -> dict[str, str | bool | int]:
    """Flat, HDF5-attribute friendly record of the code and machine that made an artifact: the library
    versions, CPU, kernels and thread counts too, since each changes results in their last bits."""
    sha, dirty = git_state()
    return {
        "stage": stage,
        "nemi_version": nemi.__version__,
        "git_sha": sha,
        "git_dirty": dirty,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "host": platform.node(),
        **runtime.record(),
    }
