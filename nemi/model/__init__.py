"""RTD-Net, the proposal transformer, as four objects in the DETR manner.

``build(params) -> (model, criterion, postprocess)`` and ``load(path)`` are the public API:

>>> from nemi.model import ModelParams, build
>>> model, criterion, postprocess = build(ModelParams.from_dict({"num_queries": 32}))
>>> out = model(features, boundary)            # (B, T, 2048), (B, T, 2)
>>> losses = criterion(out, [{"boxes": cw} for cw in targets])   # (N, 2) centre, length in window units
>>> proposals = postprocess(out)               # scores (B, Q), segments (B, Q, 2) in window units
"""

from importlib import import_module

# Resolved on first use, so that the workflow can check a config's model section (ModelParams)
# without importing torch.
_EXPORTS = {
    "ModelParams": "nemi.model.params", "build": "nemi.model.builder", "build_criterion": "nemi.model.builder",
    "build_model": "nemi.model.builder", "weight_dict": "nemi.model.builder", "load": "nemi.model.checkpoint",
    "load_checkpoint": "nemi.model.checkpoint", "save_model": "nemi.model.checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nemi.model' has no attribute {name!r}")
