"""Evaluation of temporal action proposals (AR@AN, AUC) and detections (mAP@tIoU).

Numbers agree with the reference toolkits (ActivityNet's ``Evaluation/`` code, and the
DAPs-style code in RTD-Net) to 1e-9; see ``docs/evaluation.md`` for the protocols.

>>> from nemi.evaluation import evaluate_proposals, read_ground_truth, read_predictions
>>> result = evaluate_proposals("gt.csv", "proposals.csv", "thumos14")   # doctest: +SKIP
>>> result["AR@AN"]["100"], result["AUC"]                                 # doctest: +SKIP
"""

from nemi.evaluation.api import evaluate_detections, evaluate_proposals
from nemi.io.tables import read_ground_truth, read_predictions
from nemi.evaluation.protocols import PROTOCOLS, Protocol, get_protocol

VERSION = 3  # bump when the numbers a command writes change meaning

__all__ = [
    "PROTOCOLS", "Protocol", "VERSION", "evaluate_detections", "evaluate_proposals", "get_protocol",
    "read_ground_truth", "read_predictions",
]
