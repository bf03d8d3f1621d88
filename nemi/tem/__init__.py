"""The boundary prior of RTD-Net: BSN's temporal evaluation module, or a prior without training."""

from nemi.tem.network import TEM
from nemi.tem.params import TemParams, schema
from nemi.tem.prior import KINDS, boundary_prior
from nemi.tem.train import fit, score

__all__ = ["TEM", "TemParams", "schema", "KINDS", "boundary_prior", "fit", "score"]
