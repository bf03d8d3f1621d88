"""Pseudo labels: the detectCuts boundary rule, activity splitting, the JSON file and its schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nemi.io.curves import ChangeCurve, read_curves, write_curves
from nemi.errors import NemiInputError
from nemi.detectors.hog import local_mean_std, threshold_boundaries
from nemi.io.pseudo_labels import read_pseudo_labels, validate
from nemi.labels.decompose import decompose
from nemi.labels.pseudo_labels import make_pseudo_labels


def detectcuts_reference(hogdiff: np.ndarray, thresh: float = 0.0715) -> np.ndarray:
    """MHLfuncs ML_VidShot.detectCuts' HOG test, transcribed loop by loop (1-based -> 0-based)."""
    n = len(hogdiff)  # nFrm - 1
    w = 5
    padded = np.zeros(2 * w + n)
    padded[w:w + n] = hogdiff
    padded[:w] = hogdiff[w:0:-1]                     # hogdiff(wSz+1:-1:2)
    padded[w + n:] = hogdiff[n - 2:n - 2 - w:-1]     # hogdiff(nFrm-2:-1:nFrm-1-wSz)
    mean = np.array([padded[i:i + 2 * w + 1].mean() for i in range(n)])
    mean_sq = np.array([(padded[i:i + 2 * w + 1] ** 2).mean() for i in range(n)])
    std = np.sqrt(mean_sq - mean ** 2)
    return (hogdiff > thresh) & (hogdiff > mean + 1.5 * std)


@pytest.mark.parametrize("seed", range(5))
def test_local_test_matches_detectcuts(seed):
    rng = np.random.default_rng(seed)
    d = rng.gamma(2.0, 0.02, size=200)
    d[rng.choice(200, 8, replace=False)] += 0.3  # cuts
    ours = threshold_boundaries(d, 0.0715, local_test=True, local_window=11, local_std_factor=1.5)
    np.testing.assert_array_equal(ours, detectcuts_reference(d))
    assert ours.sum() >= 6


def test_plain_threshold_is_strict_greater():
    d = np.array([0.0715, 0.0716, 0.01])
    np.testing.assert_array_equal(threshold_boundaries(d, 0.0715), [False, True, False])


def test_local_mean_std_short_curve_does_not_crash():
    mean, std = local_mean_std(np.array([0.1, 0.2]), 11)
    assert mean.shape == std.shape == (2,)


def test_activities_split_and_drop():
    mask = np.zeros(699, dtype=bool)
    mask[[9, 10, 649]] = True  # activities start at steps 10, 11, 650
    parts = decompose(mask, 700, max_steps=300, min_steps=2)
    acts = parts.activities
    # [0,10) kept, [10,11) too short, [11,650) split in 3 equal parts, [650,700) kept
    assert acts[0] == (0, 10)
    assert acts[1:4] == [(11, 224), (224, 437), (437, 650)]
    assert acts[-1] == (650, 700)
    assert all(e - s <= 300 for s, e in acts)
    # The cap made two boundaries (224, 437); 10, 11 and 650 are the detector's.
    assert parts.cap_splits == [224, 437]


def test_activities_no_boundary_is_one_activity():
    parts = decompose(np.zeros(9, bool), 10, max_steps=300, min_steps=2)
    assert parts.activities == [(0, 10)] and parts.cap_splits == []


def _curve_file(path, n=100, fps=10.0, cuts=(30, 70)):
    d = np.full(n - 1, 0.01, dtype=np.float32)
    for c in cuts:
        d[c - 1] = 0.2
    curve = ChangeCurve(distance=d, t_s=np.arange(1, n) / fps, n_steps=n, step_s=1 / fps, duration_s=n / fps,
                        attrs={"fps": fps, "frames_per_step": 1})
    write_curves(path, "hog", {"vid_a": curve}, {"params_json": "{}"})
    return path


PARAMS = {"rule": "hog-threshold", "tau": 0.0715, "local_test": False, "local_window_frames": 11,
          "local_std_factor": 1.5, "max_activity_frames": 300, "min_activity_frames": 2}


def test_pseudo_label_file_round_trip(tmp_path):
    curves = _curve_file(tmp_path / "c.h5")
    out = tmp_path / "hog.json"
    make_pseudo_labels([curves], out, dataset="toy", kind="hog", params=PARAMS)
    doc = read_pseudo_labels(out)
    assert doc["videos"]["vid_a"]["activities"] == [[0.0, 3.0], [3.0, 7.0], [7.0, 10.0]]
    assert doc["videos"]["vid_a"]["duration_s"] == 10.0
    assert doc["params"]["tau"] == 0.0715
    assert len(doc["source"]["inputs"][0]["sha256"]) == 64
    kind, _, back = read_curves(curves)
    assert kind == "hog" and back["vid_a"].n_steps == 100


def test_higher_tau_gives_fewer_activities(tmp_path):
    curves = _curve_file(tmp_path / "c.h5")
    make_pseudo_labels([curves], tmp_path / "a.json", dataset="toy", kind="hog", params={**PARAMS, "tau": 0.5})
    assert len(read_pseudo_labels(tmp_path / "a.json")["videos"]["vid_a"]["activities"]) == 1


def test_schema_rejects_bad_files(tmp_path):
    curves = _curve_file(tmp_path / "c.h5")
    doc = make_pseudo_labels([curves], tmp_path / "ok.json", dataset="toy", kind="hog", params=PARAMS)
    bad = json.loads(json.dumps(doc))
    bad["videos"]["vid_a"]["activities"][0] = [5.0, 1.0]
    with pytest.raises(NemiInputError, match="does not end after it starts"):
        validate(bad, "x.json")
    bad = json.loads(json.dumps(doc))
    bad["videos"]["vid_a"]["actvities"] = []
    with pytest.raises(NemiInputError, match="x.json.*videos/vid_a"):
        validate(bad, "x.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(NemiInputError, match="broken.json"):
        read_pseudo_labels(tmp_path / "broken.json")


def test_wrong_kind_is_refused(tmp_path):
    curves = _curve_file(tmp_path / "c.h5")
    with pytest.raises(NemiInputError, match="holds hog curves"):
        make_pseudo_labels([curves], tmp_path / "x.json", dataset="toy", kind="cnn", params=PARAMS)
    assert not (tmp_path / "x.json").exists()


def test_activity_edges_follow_the_curves_own_times(tmp_path):
    """Imported features have their own stride, window and offset: seconds come from the curve's t_s."""
    n, step_s = 20, 4 / 30                       # ActionFormer: stride 4 frames at 30 fps, window 16
    t_s = (np.arange(n - 1) * 4 + 8 + 2) / 30    # boundary k|k+1 midway between feature centres
    d = np.full(n - 1, 0.01, dtype=np.float32)
    d[9] = 0.5                                   # change between features 9 and 10
    curve = ChangeCurve(distance=d, t_s=t_s, n_steps=n, step_s=step_s, duration_s=92 / 30,
                        attrs={"fps": 30.0, "frames_per_step": 4})
    write_curves(tmp_path / "c.h5", "cnn", {"v": curve}, {"params_json": "{}"})
    params = {"rule": "cnn-relative", "cnn_rule": "relative", "ratio": 0.1, "max_activity_frames": 300,
              "min_activity_frames": 4}
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "cnn.json", dataset="toy", kind="cnn", params=params)
    acts = doc["videos"]["v"]["activities"]
    assert acts == [[0.0, round(t_s[9], 6)], [round(t_s[9], 6), round(92 / 30, 6)]]


def test_max_activity_length_is_never_exceeded_in_frames(tmp_path):
    n = 100  # snippets of 8 frames: 300 frames = 37.5 snippets, so at most 37
    curve = ChangeCurve(distance=np.zeros(n - 1, np.float32), t_s=np.arange(1, n) * 8 / 30, n_steps=n,
                        step_s=8 / 30, duration_s=n * 8 / 30, attrs={"fps": 30.0, "frames_per_step": 8})
    write_curves(tmp_path / "c.h5", "cnn", {"v": curve}, {"params_json": "{}"})
    params = {"rule": "cnn-relative", "cnn_rule": "relative", "ratio": 0.1, "max_activity_frames": 300,
              "min_activity_frames": 8}
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "cnn.json", dataset="toy", kind="cnn", params=params)
    lengths_frames = [(e - s) * 30 for s, e in doc["videos"]["v"]["activities"]]
    assert max(lengths_frames) <= 300 + 1e-6 and len(lengths_frames) == 3
    # No change at all: both boundaries are the cap's, at snippets 33 and 67, and recorded as such.
    assert doc["videos"]["v"]["n_boundaries"] == 0
    assert doc["videos"]["v"]["cap_splits_s"] == [round(33 * 8 / 30, 6), round(67 * 8 / 30, 6)]


def test_cap_splits_are_kept_apart_from_the_detectors_boundaries(tmp_path):
    d = np.zeros(99, np.float32)
    d[[19, 29]] = 0.5  # changes between snippets 19|20 and 29|30
    curve = ChangeCurve(distance=d, t_s=np.arange(1, 100) * 8 / 30, n_steps=100, step_s=8 / 30,
                        duration_s=100 * 8 / 30, attrs={"fps": 30.0, "frames_per_step": 8})
    write_curves(tmp_path / "c.h5", "cnn", {"v": curve}, {"params_json": "{}"})
    params = {"rule": "cnn-relative", "cnn_rule": "relative", "ratio": 0.1, "max_activity_frames": 80,
              "min_activity_frames": 8}
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "cnn.json", dataset="toy", kind="cnn", params=params)
    v = read_pseudo_labels(tmp_path / "cnn.json")["videos"]["v"]
    assert doc["schema_version"] == 2 and v["n_boundaries"] == 2
    # [0, 20) in two parts of 10 snippets (80 frames), [20, 30) whole, [30, 100) in seven.
    assert v["cap_splits_s"] == [round(k * 8 / 30, 6) for k in (10, 40, 50, 60, 70, 80, 90)]
    assert len(v["activities"]) == 10


def test_a_cap_split_is_an_edge_of_an_activity_and_version_1_files_still_read(tmp_path):
    curves = _curve_file(tmp_path / "c.h5")
    doc = make_pseudo_labels([curves], tmp_path / "ok.json", dataset="toy", kind="hog", params=PARAMS)
    bad = json.loads(json.dumps(doc))
    bad["videos"]["vid_a"]["cap_splits_s"] = [5.0]  # activities [0, 3), [3, 7), [7, 10): 5 s bounds none
    with pytest.raises(NemiInputError, match="x.json: video vid_a: cap split at 5.0 s is no edge of its activities"):
        validate(bad, "x.json")
    bad = json.loads(json.dumps(doc))
    del bad["videos"]["vid_a"]["cap_splits_s"]
    with pytest.raises(NemiInputError, match="x.json.*videos/vid_a.*cap_splits_s"):
        validate(bad, "x.json")  # version 2 records them
    old = {**bad, "schema_version": 1}
    validate(old, "old.json")  # a version 1 file, written before cap splits were recorded


def test_labels_cli_refuses_bad_values_with_a_message(tmp_path, capsys):
    from nemi.cli import main

    curves = _curve_file(tmp_path / "c.h5")
    base = ["--dataset", "toy", "--curves", str(curves), "--out", str(tmp_path / "o.json")]
    # Its schema default (null) is one step of a dataset's grid, which a command run by hand does not know.
    assert main(["labels", "hog", *base]) == 2
    assert "labels.hog.min_activity_frames is null" in capsys.readouterr().err
    base += ["--min-activity-frames", "2"]
    assert main(["labels", "cnn", *base, "--ratio", "2", "--rule", "top"]) == 2
    assert "ratio" in capsys.readouterr().err
    assert main(["labels", "hog", *base, "--local-window-frames", "10"]) == 0  # unused without --local-test
    assert main(["labels", "hog", *base, "--local-test", "--local-window-frames", "10"]) == 2
    assert "local_window_frames must be odd" in capsys.readouterr().err


def test_activities_end_with_the_video_not_its_timeline(tmp_path):
    """A 9.95 s video at 10 fps has 100 timeline frames (10.0 s): the last activity ends at 9.95 s."""
    d = np.full(99, 0.01, dtype=np.float32)
    d[[29, 69]] = 0.2
    curve = ChangeCurve(distance=d, t_s=np.arange(1, 100) / 10, n_steps=100, step_s=0.1, duration_s=10.0,
                        attrs={"fps": 10.0, "frames_per_step": 1, "video_duration_s": 9.95})
    write_curves(tmp_path / "c.h5", "hog", {"v": curve}, {"params_json": "{}"})
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "hog.json", dataset="toy", kind="hog", params=PARAMS)
    assert doc["videos"]["v"]["activities"] == [[0.0, 3.0], [3.0, 7.0], [7.0, 9.95]]
    assert doc["videos"]["v"]["duration_s"] == 9.95


def test_snippet_wholly_past_the_video_end_is_dropped(tmp_path):
    """Padded last snippets: the one starting after the video's end is no activity once clipped."""
    d = np.array([0.0, 0.5, 0.5], dtype=np.float32)  # relative rule: boundaries after steps 1 and 2
    curve = ChangeCurve(distance=d, t_s=np.array([8, 16, 24]) / 30, n_steps=4, step_s=8 / 30, duration_s=32 / 30,
                        attrs={"fps": 30.0, "frames_per_step": 8, "video_duration_s": 0.75})
    write_curves(tmp_path / "c.h5", "cnn", {"v": curve}, {"params_json": "{}"})
    params = {"rule": "cnn-relative", "cnn_rule": "relative", "ratio": 0.1, "max_activity_frames": 300,
              "min_activity_frames": 8}
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "cnn.json", dataset="toy", kind="cnn", params=params)
    assert doc["videos"]["v"]["activities"] == [[0.0, round(16 / 30, 6)], [round(16 / 30, 6), 0.75]]


def test_hog_curve_records_the_decoded_duration_and_labels_clip_to_it(tmp_path):
    from nemi.changes.run import curves_for_shard
    from nemi.detectors.hog import HogCurveParams
    from nemi.io.frames import FrameShardWriter

    rng = np.random.default_rng(0)
    with FrameShardWriter(tmp_path / "f.h5", codec="raw", jpeg_quality=90, root_attrs={"params_json": "{}"}) as w:
        frames = (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(12))
        w.add_video("v", frames, width=64, height=48, target_fps=10.0, attrs={
            "source_path": "v.mp4", "source_size_bytes": 1, "source_fps": 10.0, "source_frame_count": 12,
            "duration_s": 1.15})  # 12 timeline frames = 1.2 s
    curves_for_shard("hog", tmp_path / "f.h5", tmp_path / "c.h5", HogCurveParams(cell_px=8, height_px=48, width_px=64))
    _, _, curves = read_curves(tmp_path / "c.h5")
    assert curves["v"].duration_s == pytest.approx(1.2) and curves["v"].attrs["video_duration_s"] == 1.15
    doc = make_pseudo_labels([tmp_path / "c.h5"], tmp_path / "hog.json", dataset="toy", kind="hog",
                             params={**PARAMS, "tau": 10.0})  # no boundary: one activity, the whole video
    assert doc["videos"]["v"]["activities"] == [[0.0, 1.15]]
