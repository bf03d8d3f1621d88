"""The embedded demo dataset: deterministic synthetic untrimmed videos with known actions and cuts."""

from nemi.synth.plan import CLASSES, Action, Scene, VideoPlan, plan

__all__ = ["CLASSES", "Action", "Scene", "VideoPlan", "plan"]
