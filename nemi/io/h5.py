"""Opening an HDF5 artifact for reading: one place that turns h5py's errors into a message naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from nemi.errors import NemiInputError
from nemi.io.artifacts import damaged


def open_h5(path: str | os.PathLike, what: str = "HDF5 file") -> h5py.File:
    """``h5py.File(path, "r")``, or a NemiInputError naming ``path``, ``what`` it should have been and how to
    rebuild it."""
    if not Path(path).is_file():
        raise NemiInputError(f"{path}: {what} not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:  # truncated, or not HDF5 at all
        raise damaged(path, f"cannot open {what}", err) from None
