from __future__ import annotations

from pathlib import Path

import pytest

import nemi  # noqa: F401  (first: nemi chooses the CPU kernels before any test loads torch)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests read the real data files from ../shared")
    return SHARED


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture()
def one_torch_thread():
    """One torch thread for tiny models: on 2 cores a second thread only waits (and results do not depend on it)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
