"""nemi: self-supervised pretraining for temporal action localisation (NEMI) as a staged pipeline."""

__version__ = "0.1.0"
