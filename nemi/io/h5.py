"""Opening an HDF5 artifact for reading: one place that turns h5py's errors into a message naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from nemi.errors import NemiInputError


def open_h5(path: str | os.PathLike, what: str = "HDF5 file") -> h5py.File:
    """``h5py.File(path, "r")``, or a NemiInputError naming ``path`` and ``what`` it should have been."""
    if not Path(path).is_file():
        raise NemiInputError(f"{path}: {what} not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise NemiInputError(f"{path}: cannot open {what} ({err})") from err
