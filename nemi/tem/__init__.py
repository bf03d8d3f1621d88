"""The boundary prior of RTD-Net: BSN's temporal evaluation module, or a prior without training.

The network and its training (torch) load on first use, so that ``TemParams`` can be read while the
workflow plans its DAG without importing torch.
"""

from nemi.tem.params import TemParams, schema
from nemi.tem.prior import KINDS, boundary_prior

__all__ = ["TEM", "TemParams", "schema", "KINDS", "boundary_prior", "fit", "score"]

_LAZY = {"TEM": "nemi.tem.network", "fit": "nemi.tem.train", "score": "nemi.tem.train"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nemi.tem' has no attribute {name!r}")
