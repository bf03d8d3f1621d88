"""Change detectors are plug-ins: a third one is one class and one registration, and the changes and labels
stages, the CLI and the plots pick it up without any other change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from nemi import detectors
from nemi.detectors.base import ChangeDetector
from nemi.io.curves import ChangeCurve
from nemi.io.features import FeatureShardReader
from tests.test_changes_cnn import _shard


@dataclass(frozen=True)
class _NormParams:
    SECTION: ClassVar[str] = "changes.cnn"  # borrows a schema section: the toy needs no defaults of its own
    metric: str


@dataclass(frozen=True)
class _ThresholdParams:
    SECTION: ClassVar[str] = "labels.cnn"
    ratio: float
    rule: str
    max_activity_frames: int
    min_activity_frames: int


class FeatureNormDetector(ChangeDetector):
    """A toy: the change is the jump in the feature's L2 norm; a boundary where it exceeds ``ratio``."""

    name = "norm"
    VERSION = 1
    input = "features"
    curve_params = _NormParams
    boundary_params = _ThresholdParams

    def curves(self, shard, params):
        out = {}
        with FeatureShardReader(shard) as r:
            for vid in r.video_ids():
                f, tb = r.features(vid), r.timebase(vid)
                d = np.abs(np.diff(np.linalg.norm(f, axis=1))).astype(np.float32)
                out[vid] = ChangeCurve(distance=d, t_s=tb.boundaries(len(f)), n_steps=len(f), step_s=tb.step_s,
                                       duration_s=tb.frames_to_seconds(int(r.attrs(vid)["frame_count"])),
                                       attrs={"frames_per_step": tb.stride_frames})
        return out

    def boundaries(self, distance, params):
        return np.asarray(distance) > params.ratio


@pytest.fixture
def norm_detector():
    detectors.register(FeatureNormDetector)
    yield detectors.get("norm")
    detectors.unregister("norm")


def test_registry_lists_hog_and_cnn_and_refuses_unknown():
    assert {"hog", "cnn"} <= set(detectors.names())
    assert detectors.get("hog").input == "frames" and detectors.get("cnn").input == "features"
    with pytest.raises(ValueError, match="unknown change detector 'sift'"):
        detectors.get("sift")


def test_a_third_detector_runs_through_changes_labels_and_cli(tmp_path, norm_detector):
    from nemi.cli import build_parser, main
    from nemi.io.pseudo_labels import read_pseudo_labels

    feat = _shard(tmp_path / "f.h5")
    assert "norm" in build_parser().parse_args(["changes", "norm", "--features", "x", "--out", "y"]).detector
    assert main(["changes", "norm", "--features", str(feat), "--out", str(tmp_path / "c.h5")]) == 0
    assert main(["labels", "norm", "--dataset", "toy", "--curves", str(tmp_path / "c.h5"),
                 "--out", str(tmp_path / "norm.json"), "--ratio", "0.5", "--min-activity-frames", "1"]) == 0
    doc = read_pseudo_labels(tmp_path / "norm.json")
    assert doc["kind"] == "norm" and doc["params"]["ratio"] == 0.5
    assert set(doc["videos"]) == {"a", "b"}


def test_registering_a_second_detector_under_a_taken_name_is_refused(norm_detector):
    class Other(FeatureNormDetector):
        pass

    with pytest.raises(ValueError, match="already registered"):
        detectors.register(Other)
