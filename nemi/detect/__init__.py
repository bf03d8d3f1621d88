"""The ``detect`` stage: labelled detections from class-agnostic proposals and video-level class scores
(UntrimmedNet's, a class-score CSV, or the built-in classifier of rule ``classify``)."""
