"""Change detectors, the plug-ins that find pseudo activity boundaries: ``hog`` (VLFeat HOG of
frames, MHLfuncs' shot-detector threshold) and ``cnn`` (I3D feature change, the paper's ratio).

``get(name)`` returns a detector; the rules, the CLI, the labels stage and the plots ask this
registry and never dispatch on the name themselves.
"""

from nemi.detectors.base import ChangeDetector, get, names, register, unregister
from nemi.detectors import cnn, hog  # noqa: E402,F401  (importing registers them)

__all__ = ["ChangeDetector", "get", "names", "register", "unregister"]
