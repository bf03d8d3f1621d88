"""The seconds <-> feature index conventions of nemi.io.timebase."""

from __future__ import annotations

import numpy as np
import pytest

from nemi.io.timebase import Timebase, frame_to_time, snippet_count, time_to_frame


def test_actionformer_worked_example():
    # ActionFormer FAQ: fps=1, window=4, stride=2 -> t=0.0 is feature -1.0, feature 0 is at t=2.0.
    tb = Timebase(fps=1.0, stride_frames=2, window_frames=4)
    assert tb.time_to_index(0.0) == -1.0
    assert tb.index_to_time(0) == 2.0
    assert tb.index_to_time(1) == 4.0
    assert tb.window_frames_of(1) == (2, 6)


def test_native_thumos_snippets():
    tb = Timebase.native(fps=30.0, snippet_frames=8, window_frames=16)
    assert tb.offset_frames == -4
    np.testing.assert_allclose(tb.centers(3), np.array([4, 12, 20]) / 30.0)
    assert tb.window_frames_of(0) == (-4, 12) and tb.window_frames_of(2) == (12, 28)
    np.testing.assert_allclose(tb.boundaries(3), np.array([8, 16]) / 30.0)  # where snippet k+1 begins


def test_native_activitynet_snippets():
    tb = Timebase.native(fps=15.0, snippet_frames=16, window_frames=16)
    assert tb.offset_frames == 0 and tb.window_frames_of(3) == (48, 64)
    assert tb.index_to_time(3) == pytest.approx((48 + 8) / 15.0)


def test_imported_conventions():
    af = Timebase(fps=30.0, stride_frames=4, window_frames=16)
    assert af.index_to_time(10) == pytest.approx((10 * 4 + 8) / 30.0)
    rtd = Timebase(fps=30.0, stride_frames=8, window_frames=8)
    # RTD-Net's loader puts frame f in row f // 8: every frame of row i lies within half a stride of its centre.
    for f in range(0, 200, 3):
        assert abs(rtd.time_to_index((f + 0.5) / 30.0) - f // 8) <= 0.5


@pytest.mark.parametrize("tb", [Timebase(1.0, 2, 4), Timebase.native(29.97, 8, 16), Timebase(30.0, 4, 16, 2.5),
                                Timebase.native(15.0, 16, 16), Timebase(25.0, 8, 8)])
def test_round_trips(tb):
    idx = np.linspace(-3, 500, 97)
    np.testing.assert_allclose(tb.time_to_index(tb.index_to_time(idx)), idx, atol=1e-9)
    t = np.linspace(0, 600, 101)
    np.testing.assert_allclose(tb.index_to_time(tb.time_to_index(t)), t, atol=1e-9)
    assert isinstance(tb.index_to_time(3), float) and isinstance(tb.time_to_index(1.5), float)
    assert Timebase.from_attrs(tb.as_attrs()) == tb


def test_frames_and_snippet_count():
    assert frame_to_time(45, 15.0) == 3.0 and time_to_frame(3.0, 15.0) == 45.0
    np.testing.assert_allclose(time_to_frame(frame_to_time(np.arange(10), 29.97), 29.97), np.arange(10))
    assert [snippet_count(n, 8) for n in (1, 7, 8, 9, 16, 17)] == [1, 1, 1, 2, 2, 3]


def test_bad_timebase():
    with pytest.raises(ValueError, match="fps"):
        Timebase(0.0, 8, 16)
    with pytest.raises(ValueError, match="stride_frames"):
        Timebase(30.0, 0, 16)


def test_step_grid_and_cells():
    # RTD-Net's step grid: 5-frame steps; step k covers frames [5k, 5k+5), its cell [k, k+1).
    grid = Timebase.steps(30.0, 5)
    assert grid.time_to_cell(0.0) == 0.0 and grid.time_to_cell(5 / 30.0) == pytest.approx(1.0)
    assert grid.cell_to_time(3.0) == pytest.approx(15 / 30.0)
    assert grid.index_to_time(0) == pytest.approx(2.5 / 30.0)
    cells = np.linspace(-2, 300, 51)
    np.testing.assert_allclose(grid.time_to_cell(grid.cell_to_time(cells)), cells, atol=1e-9)
    assert isinstance(grid.cell_to_time(2.0), float) and isinstance(grid.nearest_index(0.1), int)


def test_nearest_index_is_the_snippet_holding_the_frame():
    # RTD-Net's loader takes row f // 8 for frame f; both 8-frame conventions agree at every frame centre.
    frames = np.arange(0, 400)
    centres = (frames + 0.5) / 30.0
    for tb in (Timebase(30.0, 8, 8), Timebase.native(30.0, 8, 16)):
        np.testing.assert_array_equal(tb.nearest_index(centres), frames // 8)
    assert Timebase(30.0, 4, 16).nearest_index(8 / 30.0) == 0  # exactly at feature 0's centre
    assert Timebase(30.0, 4, 16).nearest_index(10 / 30.0) == 1  # halfway between 0 and 1: the later one
