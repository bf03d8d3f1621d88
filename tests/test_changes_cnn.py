"""CNN change curves from feature shards, and the ratio rules that turn them into boundaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nemi.changes.run import curves_for_shard
from nemi.detectors.cnn import CnnCurveParams, cnn_boundaries, cnn_distance
from nemi.io.curves import read_curves
from nemi.io.features import FeatureShardReader, FeatureShardWriter
from nemi.io.provenance import sha256_file
from nemi.io.timebase import Timebase


def test_distance_metrics():
    f = np.array([[1.0, 1.0], [1.0, 3.0], [1.0, 3.0], [0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(cnn_distance(f, "mean-abs"), [1.0, 0.0, 2.0, 0.0])
    # sum|diff| / mean of the two L1 norms: 2/3, 0, 4/2, and 0 for two zero vectors
    np.testing.assert_allclose(cnn_distance(f, "relative-l1"), [2 / 3, 0.0, 2.0, 0.0], rtol=1e-6)
    assert cnn_distance(f * 1000, "relative-l1") == pytest.approx(cnn_distance(f, "relative-l1"))  # scale-free
    assert cnn_distance(f[:1], "mean-abs").shape == (0,)
    with pytest.raises(ValueError, match="metric"):
        cnn_distance(f, "cosine")


def test_top_rule_takes_the_ratio_largest_earliest_on_ties():
    d = np.array([0.1, 0.9, 0.3, 0.9, 0.2, 0.5, 0.0, 0.4, 0.8, 0.7])
    assert cnn_boundaries(d, 0.2, "top").nonzero()[0].tolist() == [1, 3]
    assert cnn_boundaries(d, 0.3, "top").nonzero()[0].tolist() == [1, 3, 8]
    assert cnn_boundaries(d, 0.01, "top").nonzero()[0].tolist() == [1]  # ceil(0.01 * 10) = 1
    assert cnn_boundaries(np.arange(1000.0), 0.01, "top").sum() == 10
    assert not cnn_boundaries(d, 0.0, "top").any() and cnn_boundaries(d, 1.0, "top").all()
    assert cnn_boundaries(np.zeros(0), 0.01, "top").shape == (0,)


def test_relative_rule_is_a_threshold_on_the_relative_change():
    d = np.array([0.005, 0.02, 0.01, 0.5])
    assert cnn_boundaries(d, 0.01, "relative").tolist() == [False, True, False, True]


def test_bad_rule_and_ratio():
    with pytest.raises(ValueError, match="rule"):
        cnn_boundaries(np.ones(3), 0.01, "median")
    with pytest.raises(ValueError, match="ratio"):
        cnn_boundaries(np.ones(3), 1.5, "top")
    with pytest.raises(ValueError, match="ratio"):
        cnn_boundaries(np.ones(3), -0.1, "relative")


def _shard(feat):
    """A feature shard of two videos: "a" (6 snippets, a change between 2 and 3) and "b" (1 snippet)."""
    rng = np.random.default_rng(0)
    tb = Timebase.native(15.0, 8, 16)
    data = {"a": rng.random((6, 2048)).astype(np.float32), "b": rng.random((1, 2048)).astype(np.float32)}
    data["a"][3:] += 5.0
    with FeatureShardWriter(feat, {"source": "extracted"}) as w:
        for vid, f in data.items():
            w.add_video(vid, f[:, :1024], f[:, 1024:], tb, {"frame_count": len(f) * 8, "source": "extracted",
                                                          "duration_s": len(f) * 8 / 15.0 - 0.05})
    return feat


def test_curves_for_a_shard(tmp_path):
    feat = _shard(tmp_path / "features.h5")
    with FeatureShardReader(feat) as r:
        data = {v: r.features(v) for v in r.video_ids()}
    out = tmp_path / "cnn.h5"
    curves_for_shard("cnn", feat, out, CnnCurveParams(metric="relative-l1"))
    kind, root, curves = read_curves(out)
    assert kind == "cnn" and root["input_sha256"] == sha256_file(feat)
    assert json.loads(root["params_json"])["metric"] == "relative-l1"
    a = curves["a"]
    np.testing.assert_allclose(a.distance, cnn_distance(data["a"], "relative-l1"), rtol=1e-6)
    np.testing.assert_allclose(a.t_s, np.array([8, 16, 24, 32, 40]) / 15.0)  # where snippet k+1 begins
    assert int(np.argmax(a.distance)) == 2 and a.n_steps == 6 and a.step_s == pytest.approx(8 / 15)
    assert cnn_boundaries(a.distance, 0.2, "top").nonzero()[0].tolist() == [2]
    assert curves["b"].distance.shape == (0,) and curves["b"].n_steps == 1
    # the decoded video's duration travels on, so labels can end activities with the video
    assert a.duration_s == pytest.approx(48 / 15) and a.attrs["video_duration_s"] == pytest.approx(48 / 15 - 0.05)


def test_cli_registers_under_changes():
    from nemi import params
    from nemi.cli import build_parser

    args = build_parser().parse_args(["changes", "cnn", "--features", "f.h5", "--out", "o.h5"])
    assert args.metric is None and callable(args.func)
    assert params.from_args(CnnCurveParams, args).metric == "relative-l1"  # the schema's default
