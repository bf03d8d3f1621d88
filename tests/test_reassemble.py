"""Inter-activity re-assembling: hand-worked splices, per-step arrays moved together, the draw's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nemi.errors import NemiInputError
from nemi.reassemble import (ReassembleParams, Splice, boxes_to_steps, draw, pool_activities, reassemble, splice,
                             steps_to_boxes)

W = 20


def window(steps, n_valid=W, w=W, f=3) -> dict:
    """A window item whose feature row k is (k, k, ...) and boundary row k is (k/100, -k/100), so rows can be traced."""
    k = np.arange(w, dtype=np.float32)
    feats = np.repeat(k[:, None], f, axis=1)
    feats[n_valid:] = 0.0  # padding repeats frame 0, as nemi.windows does
    mask = np.arange(w) < n_valid
    steps = np.asarray(steps, dtype=np.int64).reshape(-1, 2)
    return {"video_id": "v", "start": 0, "features": feats, "boundary": np.stack([k / 100, -k / 100], axis=1),
            "mask": mask, "boxes": steps_to_boxes(steps, w), "labels": np.arange(len(steps), dtype=np.int64) + 10,
            "segments": (steps / w).astype(np.float32)}


def params(mode, min_target_steps=1, lo=0.25, hi=0.75, prior="carry") -> ReassembleParams:
    return ReassembleParams(mode=mode, min_fraction=lo, max_fraction=hi, min_target_steps=min_target_steps,
                            prior=prior)


# The module docstring's example: A [0,4) B [4,10) C [10,14) D [14,18), real 0-17, b = B, b' = steps 5-7, p = 14.
EXAMPLE = [[0, 4], [4, 10], [10, 14], [14, 18]]
EXAMPLE_SPLICE = Splice(b=1, crop_start=5, length=3, point=14)


def test_insert_by_hand():
    item = window(EXAMPLE, n_valid=18)
    out, pair = splice(item, EXAMPLE_SPLICE, params("insert"))
    np.testing.assert_array_equal(boxes_to_steps(out["boxes"], W), [[0, 4], [4, 10], [10, 14], [14, 17]])
    assert pair == (1, 3)
    np.testing.assert_array_equal(out["labels"], [10, 11, 12, 11])  # b' carries b's label
    rows = [*range(14), 5, 6, 7, 14, 15, 16]
    np.testing.assert_array_equal(out["features"][:, 0], rows)
    np.testing.assert_array_equal(out["boundary"], item["boundary"][rows])
    assert out["mask"].all()  # step 17 and the padding fell off, 3 real steps came in
    np.testing.assert_allclose(out["segments"], [[0, .2], [.2, .5], [.5, .7], [.7, .85]], atol=1e-7)
    # the input is untouched
    np.testing.assert_array_equal(item["features"][:, 0], [*range(18), 0, 0])


@pytest.mark.parametrize("min_steps, expected, pair", [
    (2, [[0, 4], [4, 10], [10, 14], [14, 17]], (1, 3)),           # D trimmed to [17, 18): 1 step, dropped
    (1, [[0, 4], [4, 10], [10, 14], [17, 18], [14, 17]], (1, 4)),  # ... kept
])
def test_overwrite_by_hand(min_steps, expected, pair):
    item = window(EXAMPLE, n_valid=18)
    out, got = splice(item, EXAMPLE_SPLICE, params("overwrite", min_target_steps=min_steps))
    np.testing.assert_array_equal(boxes_to_steps(out["boxes"], W), expected)
    assert got == pair
    rows = [*range(14), 5, 6, 7, 17, 0, 0]
    np.testing.assert_array_equal(out["features"][:, 0], rows)
    np.testing.assert_array_equal(out["boundary"], item["boundary"][[*range(14), 5, 6, 7, 17, 18, 19]])
    np.testing.assert_array_equal(out["mask"], np.arange(W) < 18)  # padding stays padding


@pytest.mark.parametrize("mode", ["insert", "overwrite"])
def test_copy_ends_gives_the_crop_b_s_own_start_and_end_scores(mode):
    """The docstring's example with prior copy_ends: b' = steps 5-7 of B [4, 10) lands on 14-16; its first step
    gets B's start score (row 4, channel 0), its last B's end score (row 9, channel 1); nothing else moves."""
    item = window(EXAMPLE, n_valid=18)
    carried, _ = splice(item, EXAMPLE_SPLICE, params(mode))
    out, pair = splice(item, EXAMPLE_SPLICE, params(mode, prior="copy_ends"))
    assert pair == (1, 3 if mode == "insert" else 4)  # overwrite keeps D's 1-step remainder (min_target_steps 1)
    expected = carried["boundary"].copy()
    expected[14, 0], expected[16, 1] = item["boundary"][4, 0], item["boundary"][9, 1]
    np.testing.assert_array_equal(out["boundary"], expected)
    assert out["boundary"][14, 0] == pytest.approx(0.04) and out["boundary"][16, 1] == pytest.approx(-0.09)
    np.testing.assert_array_equal(out["features"], carried["features"])
    np.testing.assert_allclose(item["boundary"][:, 0], np.arange(W) / 100, atol=1e-7)  # the input is untouched


def test_copy_ends_of_a_one_step_crop_puts_both_scores_on_that_step():
    item = window(EXAMPLE, n_valid=18)
    out, _ = splice(item, Splice(b=1, crop_start=6, length=1, point=14), params("insert", prior="copy_ends"))
    np.testing.assert_allclose(out["boundary"][14], [0.04, -0.09])


def test_insert_shifts_padding_and_b_after_the_point():
    # b = C after the point: b moves right with everything after p; padding moves with it.
    item = window([[0, 3], [3, 6], [6, 10]], n_valid=12)
    out, pair = splice(item, Splice(b=2, crop_start=7, length=2, point=3), params("insert"))
    np.testing.assert_array_equal(boxes_to_steps(out["boxes"], W), [[0, 3], [5, 8], [8, 12], [3, 5]])
    assert pair == (2, 3)
    np.testing.assert_array_equal(out["features"][:14, 0], [0, 1, 2, 7, 8, *range(3, 12)])
    np.testing.assert_array_equal(out["mask"], np.arange(W) < 14)


def test_overwrite_keeps_b_trimmed_and_drops_a_covered_target():
    # p = 3 overwrites [3, 8): B [3, 5) is covered (dropped), C = b [5, 12) is trimmed to [8, 12).
    item = window([[0, 3], [3, 5], [5, 12]])
    out, pair = splice(item, Splice(b=2, crop_start=6, length=5, point=3), params("overwrite", 2))
    np.testing.assert_array_equal(boxes_to_steps(out["boxes"], W), [[0, 3], [8, 12], [3, 8]])
    assert pair == (1, 2)
    np.testing.assert_array_equal(out["features"][:12, 0], [0, 1, 2, 6, 7, 8, 9, 10, 8, 9, 10, 11])


def test_candidate_points():
    p = params("insert")
    # Contiguous A B C D with b = B: only C|D (14) is between two others.
    rng = np.random.default_rng(0)
    boxes = steps_to_boxes(np.array(EXAMPLE), W)
    points = {b: set() for b in range(4)}
    for _ in range(200):
        s = draw(boxes, W, rng, p)
        if s is None:  # only b = D with b' of 3 steps: D, after A|B or B|C, would be pushed past 20
            continue
        points[s.b].add(s.point)
    assert points == {0: {10, 14}, 1: {14}, 2: {4}, 3: {4, 10}}
    # b between the only two others: the others' outer bounds (3 and 10 touch b and are excluded).
    three = steps_to_boxes(np.array([[0, 3], [3, 10], [10, 16]]), W)
    points = {s.point for s in (draw(three, W, np.random.default_rng(i), p) for i in range(200)) if s and s.b == 1}
    assert points == {0, 16}
    # One other activity after b: its end only (its start is b's end).
    two = steps_to_boxes(np.array([[2, 8], [8, 12]]), W)
    points = {s.point for s in (draw(two, W, np.random.default_rng(i), p) for i in range(200)) if s and s.b == 0}
    assert points == {12}
    # With a gap the point is the earlier activity's end.
    gap = steps_to_boxes(np.array([[0, 4], [6, 9], [12, 18]]), W)
    points = {s.point for s in (draw(gap, W, np.random.default_rng(i), p) for i in range(200)) if s and s.b == 2}
    assert points == {4}


def test_single_activity_and_no_room_give_no_pair():
    p = params("insert")
    item = window([[2, 12]])
    out, pair = reassemble(item, np.random.default_rng(0), p)
    assert pair is None and out is item
    empty = window(np.zeros((0, 2)))
    out, pair = reassemble(empty, np.random.default_rng(0), p)
    assert pair is None and out is empty
    # Two activities filling the window: insert has nowhere to fit b' before the end, overwrite at 0 or 20 neither.
    full = window([[0, 10], [10, 20]])
    assert all(reassemble(full, np.random.default_rng(i), params("insert"))[1] is None for i in range(20))


def test_reproducible_with_a_seed_and_varies_without():
    item = window([[0, 3], [3, 8], [8, 11], [11, 15], [15, 19]])
    p = params("insert")
    a = [reassemble(item, np.random.default_rng(7), p) for _ in range(2)]
    np.testing.assert_array_equal(a[0][0]["features"], a[1][0]["features"])
    np.testing.assert_array_equal(a[0][0]["boxes"], a[1][0]["boxes"])
    assert a[0][1] == a[1][1]
    rng = np.random.default_rng(7)
    seen = {reassemble(item, rng, p)[0]["features"][:, 0].tobytes() for _ in range(30)}
    assert len(seen) > 5


@pytest.mark.parametrize("mode", ["insert", "overwrite"])
def test_random_windows_keep_the_invariants(mode):
    rng = np.random.default_rng(1)
    p = params(mode, min_target_steps=2, lo=0.2, hi=0.8)
    used = 0
    for _ in range(300):
        n_valid = int(rng.integers(10, W + 1))
        cuts = np.unique(np.concatenate([[0, n_valid], rng.integers(1, n_valid, size=rng.integers(1, 6))]))
        steps = np.stack([cuts[:-1], cuts[1:]], axis=1)
        steps = steps[steps[:, 1] - steps[:, 0] >= 2]
        item = window(steps, n_valid=n_valid)
        out, pair = reassemble(item, rng, p)
        if pair is None:
            continue
        used += 1
        new = boxes_to_steps(out["boxes"], W)
        se = out["boxes"][:, 0:1] + np.array([-0.5, 0.5]) * out["boxes"][:, 1:2]
        assert (se >= -1e-6).all() and (se <= 1 + 1e-6).all()
        assert (new[:, 1] - new[:, 0] >= 2).all()
        bi, bpi = pair
        # b' rows are a contiguous run of b's original rows; b keeps original rows of b only.
        b_orig = set(range(*steps[np.flatnonzero(item["labels"] == out["labels"][bi])[0]]))
        rows_bp = out["features"][new[bpi, 0]:new[bpi, 1], 0].astype(int)
        assert set(rows_bp) <= b_orig and (np.diff(rows_bp) == 1).all()
        rows_b = out["features"][new[bi, 0]:new[bi, 1], 0].astype(int)
        assert set(rows_b) <= b_orig and out["labels"][bi] == out["labels"][bpi]
        # every per-step array went through the same index: boundary row = feature row / 100, where real
        real = out["mask"]
        np.testing.assert_allclose(out["boundary"][real, 0], out["features"][real, 0] / 100, atol=1e-6)
        assert out["mask"][:new[:, 1].max()].all()  # every target lies on real steps
        assert out["features"].shape == item["features"].shape and out["features"].dtype == np.float32
    assert used > 200


def test_params_are_checked():
    with pytest.raises(NemiInputError, match="insert or overwrite"):
        ReassembleParams("swap", 0.2, 0.5, 1, "carry")
    with pytest.raises(NemiInputError, match="fractions"):
        ReassembleParams("insert", 0.6, 0.5, 1, "carry")
    with pytest.raises(NemiInputError, match="min_target_steps"):
        ReassembleParams("insert", 0.2, 0.5, 0, "carry")
    with pytest.raises(NemiInputError, match="prior must be one of carry, copy_ends, not 'peaks'"):
        ReassembleParams("insert", 0.2, 0.5, 1, "peaks")


def test_fraction_bounds_on_b_prime_length():
    item = window([[0, 10], [10, 20]], w=40)
    lengths = set()
    for i in range(200):
        s = draw(item["boxes"], 40, np.random.default_rng(i), params("overwrite", lo=0.3, hi=0.5))
        assert s is not None
        lengths.add(s.length)
    assert lengths == {3, 4, 5}
    # b of one step: b' is that step, whatever the fractions say
    tiny = draw(steps_to_boxes(np.array([[0, 1], [1, 5], [5, 9]]), W), W, np.random.default_rng(3),
                params("insert", lo=0.5, hi=0.5))
    assert tiny is not None and (tiny.b != 0 or tiny.length == 1)


def test_boxes_to_steps_rounds_half_up_and_round_trips():
    steps = np.array([[0, 4], [4, 10], [17, 20]])
    np.testing.assert_array_equal(boxes_to_steps(steps_to_boxes(steps, W), W), steps)
    se = np.array([[0.124, 0.376], [0.5, 0.501]])  # 2.48 -> 2, 7.52 -> 8; 10 -> 10, 10.02 -> 10 -> at least one step
    cw = np.stack([se.mean(1), se[:, 1] - se[:, 0]], axis=1)
    np.testing.assert_array_equal(boxes_to_steps(cw, W), [[2, 8], [10, 11]])


def test_pool_activities_numpy_and_torch():
    rng = np.random.default_rng(0)
    feats = rng.random((W, 5), dtype=np.float32)
    boxes = steps_to_boxes(np.array([[0, 4], [4, 5], [12, 20]]), W)
    pooled = pool_activities(feats, boxes, W)
    expected = np.stack([feats[0:4].mean(0), feats[4], feats[12:20].mean(0)])
    np.testing.assert_allclose(pooled, expected, rtol=1e-6)
    assert pooled.dtype == np.float32
    t = torch.from_numpy(feats).requires_grad_(True)
    pt = pool_activities(t, torch.from_numpy(boxes), W)
    torch.testing.assert_close(pt, torch.from_numpy(expected))
    pt.sum().backward()
    assert float(t.grad[4, 0]) == 1.0 and float(t.grad[5, 0]) == 0.0
