"""Windows on RTD-Net's step grid: hand-worked grids, the reference's starts and targets, padding, normalisation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from nemi.errors import NemiInputError
from nemi.io.timebase import Timebase
from nemi.segments import cw_to_se
from nemi.windows.dataset import build_windows, collate
from nemi.windows.grid import WindowParams, boxes_to_seconds, seconds_to_window, window_starts, window_to_seconds
from nemi.windows.prior import minmax_per_window

GOLDEN = Path(__file__).parent / "golden" / "windows"
RTD = WindowParams(window_steps=100, train_stride=25, test_stride=50, step_frames=5)
SMALL = WindowParams(window_steps=10, train_stride=5, test_stride=5, step_frames=5)


def _video(n_rows: int, fps: float, duration_s: float, tb: Timebase | None = None, dim: int = 3):
    feats = np.zeros((n_rows, dim), np.float32)
    feats[:, 0] = np.arange(n_rows)  # column 0 says which row a step took
    return feats, tb or Timebase(fps, 8, 8), duration_s


def test_five_frame_steps_over_eight_frame_snippets():
    # 40 frames at 10 fps: steps start at frames 0, 5, ..., 35 and take rows f // 8.
    for tb in (Timebase(10.0, 8, 8), Timebase.native(10.0, 8, 16)):
        ds = build_windows({"v": _video(5, 10.0, 4.0, tb)}, SMALL, "test")
        v = ds.videos["v"]
        assert v.n_steps == 8
        np.testing.assert_array_equal(v.rows, [0, 0, 1, 1, 2, 3, 3, 4])
        assert v.grid == Timebase.steps(10.0, 5)
    # a partial last step counts: 41 frames -> 9 steps; its frame 40 is past the last row, which it repeats
    ds = build_windows({"v": _video(5, 10.0, 4.1)}, SMALL, "test")
    np.testing.assert_array_equal(ds.videos["v"].rows, [0, 0, 1, 1, 2, 3, 3, 4, 4])


def test_one_step_per_snippet():
    ds = build_windows({"v": _video(23, 10.0, 18.4)}, WindowParams(10, 5, 5, None), "test")
    v = ds.videos["v"]
    np.testing.assert_array_equal(v.rows, np.arange(23))
    assert v.grid == Timebase(10.0, 8, 8)
    assert [r.start for r in ds.records] == [0, 5, 10, 13]


def test_window_starts_as_the_reference_plus_the_last():
    assert window_starts(250, 100, 25) == [0, 25, 50, 75, 100, 150]
    assert window_starts(250, 100, 50) == [0, 50, 100, 150]
    assert window_starts(101, 100, 25) == [0, 1]
    assert window_starts(100, 100, 25) == [0]
    assert window_starts(37, 100, 25) == [0]
    # n a multiple of W: the last window repeats the one before, as the reference's list does
    assert window_starts(300, 100, 50) == [0, 50, 100, 150, 200, 200]


def test_target_lies_entirely_inside():
    # 20 s at 10 fps, 5-frame steps: 40 steps of 0.5 s; windows of 10 steps every 5.
    feats = _video(25, 10.0, 20.0)
    ann = {"v": (np.array([[2.5, 7.0], [2.5, 7.1], [16.0, 19.5]]), np.array([0, 0, 0]))}
    ds = build_windows({"v": feats}, SMALL, "test", annotations=ann)
    assert [r.start for r in ds.records] == [0, 5, 10, 15, 20, 25, 30, 30]
    by_start = {r.start: r.targets for r in ds.records}
    # [2.5, 7.0] s is cells [5, 14]: window 5 holds it (end 14 <= 5 + 10 - 1); [2.5, 7.1] ends at 14.2: none does
    assert by_start[5] == (0,) and by_start[0] == () and by_start[10] == ()
    assert by_start[30] == (2,)  # cells [32, 39]
    item = ds[1]
    np.testing.assert_allclose(item["boxes"], [[0.45, 0.9]], atol=1e-6)  # (start 0, end 0.9) as (centre, length)
    assert item["labels"].tolist() == [0]
    # training keeps only windows with a target
    tr = build_windows({"v": feats}, SMALL, "train", annotations=ann)
    assert [(r.start, r.targets) for r in tr.records] == [(5, (0,)), (30, (2,)), (30, (2,))]


def test_short_video_padded_with_mask():
    # 3.5 s at 10 fps: 7 steps in a window of 10; padding repeats frame 0's row and scores 0, like the reference.
    start = np.array([0.2, 0.5, 0.8, 0.4, 0.3, 0.6, 0.7])
    end = np.full(7, 0.5)
    bound = {"v": (np.stack([start, end], 1), Timebase.steps(10.0, 5))}
    ann = {"v": (np.array([[0.5, 3.0]]), np.array([0]))}
    ds = build_windows({"v": _video(5, 10.0, 3.5)}, SMALL, "train", annotations=ann, boundary=bound)
    assert len(ds) == 1 and ds.records[0].n_valid == 7
    w = ds[0]
    assert w["mask"].tolist() == [True] * 7 + [False] * 3
    np.testing.assert_array_equal(w["features"][:, 0], [0, 0, 1, 1, 2, 3, 3, 0, 0, 0])
    # min over the window is the padding's 0: start / 0.8; end is 0.5 or 0 -> 1 or 0
    np.testing.assert_allclose(w["boundary"][:, 0], np.r_[start / 0.8, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(w["boundary"][:, 1], np.r_[np.ones(7), 0, 0, 0])
    np.testing.assert_allclose(w["boxes"], [[0.35, 0.5]], atol=1e-6)  # cells [1, 6] of 10: (0.1, 0.6)


def test_minmax_normalisation_and_constant_guard():
    x = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]])
    out = minmax_per_window(x)
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(out[:, 1], [1.0, 1.0, 1.0])  # constant: the reference divides by zero
    assert out.dtype == np.float32 and np.isfinite(out).all()
    ds = build_windows({"v": _video(25, 10.0, 20.0)}, SMALL, "test")  # no prior: ones
    assert (ds[0]["boundary"] == 1).all()


def test_boundary_on_another_grid_is_resampled_by_frame():
    # scores on the feature grid (8-frame rows): each step takes the row that holds its frame, like the features
    tb = Timebase(10.0, 8, 8)
    rows = np.arange(25, dtype=np.float64)
    bound = {"v": (np.stack([rows, 100 - rows], 1), tb)}
    ds = build_windows({"v": _video(25, 10.0, 20.0, tb)}, SMALL, "test", boundary=bound)
    v = ds.videos["v"]
    np.testing.assert_array_equal(v.boundary[:, 0], v.rows)


def test_seconds_window_round_trip():
    grid = Timebase.steps(29.97, 5)
    t = np.linspace(0, 80, 41)
    for start in (0, 25, 350):
        u = seconds_to_window(t, grid, start, 100)
        np.testing.assert_allclose(window_to_seconds(u, grid, start, 100), t, atol=1e-9)
    # window starting at step 5 (of 0.5 s steps), 10 steps: (0.45, 0.9) is cells 5..14, 2.5..7.0 s
    g = Timebase.steps(10.0, 5)
    np.testing.assert_allclose(boxes_to_seconds(np.array([[0.45, 0.9]]), g, 5, 10), [[2.5, 7.0]])
    np.testing.assert_allclose(boxes_to_seconds(torch.tensor([[0.95, 0.3]]), g, 5, 10), [[6.5, 7.5]])  # clipped to 1
    # a target's box goes back to its own seconds
    ann = {"v": (np.array([[3.1, 6.2]]), np.array([0]))}
    ds = build_windows({"v": _video(25, 10.0, 20.0)}, SMALL, "train", annotations=ann)
    i = [r.start for r in ds.records].index(5)
    np.testing.assert_allclose(ds.to_seconds(i, ds[i]["boxes"]), [[3.1, 6.2]], atol=1e-6)


def test_collate_and_no_copies():
    feats = _video(25, 10.0, 20.0, dim=7)
    ann = {"v": (np.array([[2.5, 7.0], [16.0, 19.5]]), np.array([0, 0]))}
    ds = build_windows({"v": feats}, SMALL, "train", annotations=ann)
    assert ds.videos["v"].features is feats[0]  # held by reference, sliced per item
    batch = collate([ds[0], ds[1]])
    assert batch["features"].shape == (2, 10, 7) and batch["features"].dtype == torch.float32
    assert batch["boundary"].shape == (2, 10, 2) and batch["mask"].dtype == torch.bool
    assert batch["targets"][0]["boxes"].shape == (1, 2) and batch["targets"][0]["labels"].dtype == torch.int64
    assert batch["video_id"] == ["v", "v"] and batch["start"].tolist() == [5, 30]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    assert sum(len(b["video_id"]) for b in loader) == len(ds)
    # NEMI's pretraining splices steps through the per-video arrays
    f, b = ds.steps("v", np.array([3, 30]))
    np.testing.assert_array_equal(f[:, 0], ds.videos["v"].rows[[3, 30]])


def test_bad_input():
    good = _video(25, 10.0, 20.0)
    bad = good[0].copy()
    bad[4, 1] = np.nan
    with pytest.raises(NemiInputError, match="video_x.*NaN"):
        build_windows({"video_x": (bad, good[1], good[2])}, SMALL, "test")
    with pytest.raises(NemiInputError, match="training video v has no annotation"):
        build_windows({"v": good}, SMALL, "train", annotations={})
    with pytest.raises(NemiInputError, match="v: segments must be"):
        build_windows({"v": good}, SMALL, "train", annotations={"v": (np.array([[5.0, 4.0]]), np.array([0]))})
    with pytest.raises(NemiInputError, match="v: no boundary"):
        build_windows({"v": good}, SMALL, "test", boundary={})
    with pytest.raises(ValueError, match="split"):
        build_windows({"v": good}, SMALL, "val")


def test_annotation_outside_the_video_is_dropped_with_a_warning(caplog):
    ann = {"v": (np.array([[2.5, 7.0], [21.0, 23.0]]), np.array([0, 1]))}
    with caplog.at_level(logging.WARNING, logger="nemi"):
        ds = build_windows({"v": _video(25, 10.0, 20.0)}, SMALL, "train", annotations=ann)
    assert "video v: 1 of 2 segments start after the video's end" in caplog.text
    assert len(ds.videos["v"].segments) == 1


def test_equals_the_reference_on_real_thumos14_videos(shared_dir):
    golden = json.loads((GOLDEN / "golden.json").read_text())
    anno = json.loads((shared_dir / "data" / "thumos14" / "thumos14_anno_action.json").read_text())
    features, annotations, boundary = {}, {}, {}
    for vid, g in golden["videos"].items():
        fps, frames = g["fps"], g["duration_frame"]
        features[vid] = _video(g["n_rows"], fps, frames / fps)
        segs = np.array([a["segment_frame"] for a in anno[vid]["annotations"]], dtype=np.float64) / fps
        annotations[vid] = (segs, np.zeros(len(segs), np.int64))
        k = np.arange(g["n_steps"], dtype=np.float64)  # the golden script's formula
        boundary[vid] = (np.stack([0.5 + 0.45 * np.sin(0.37 * k + 1.0), 0.5 + 0.45 * np.cos(0.23 * k)], 1),
                         Timebase.steps(fps, 5))
    compared = 0
    for split in ("train", "test"):
        want = [w for w in golden["windows"] if w["split"] == split]
        vids = sorted({w["video_id"] for w in want})
        ds = build_windows(features, RTD, split, annotations, boundary, video_ids=vids)
        got = [(r.video_id, r.start) for r in ds.records]
        assert sorted(got) == sorted((w["video_id"], w["start_step"]) for w in want)
        index = {key: i for i, key in enumerate(got)}
        for w in want:
            item = ds[index[(w["video_id"], w["start_step"])]]
            np.testing.assert_array_equal(item["features"][:, 0], w["rows"])
            np.testing.assert_allclose(cw_to_se(item["boxes"].astype(np.float64)),
                                       np.array(w["boxes_se"]).reshape(-1, 2), atol=1e-6)
            if w["boundary"] is not None:
                np.testing.assert_allclose(item["boundary"], w["boundary"], atol=1e-6)
                compared += 1
    assert len(golden["windows"]) == 35 and compared >= 8
