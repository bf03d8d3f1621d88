"""RTD-Net, the proposal transformer, as four objects in the DETR manner.

``build(params) -> (model, criterion, postprocess)`` and ``load(path)`` are the public API:

>>> from nemi.model import ModelParams, build
>>> model, criterion, postprocess = build(ModelParams.from_dict({"num_queries": 32}))
>>> out = model(features, boundary)            # (B, T, 2048), (B, T, 2)
>>> losses = criterion(out, [{"boxes": cw} for cw in targets])   # (N, 2) centre, length in window units
>>> proposals = postprocess(out)               # scores (B, Q), segments (B, Q, 2) in window units
"""

from nemi.model.build import build, build_criterion, build_model, weight_dict
from nemi.model.checkpoint import load, load_checkpoint, save_model
from nemi.model.params import ModelParams

__all__ = ["ModelParams", "build", "build_criterion", "build_model", "load", "load_checkpoint", "save_model",
           "weight_dict"]
