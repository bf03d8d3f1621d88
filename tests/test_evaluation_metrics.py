"""AR@AN and mAP: hand-computed cases, reference goldens, tie-breaking and properties."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from nemi.evaluation.proposals import snap_to_frames
from nemi.evaluation import evaluate_detections, evaluate_proposals, get_protocol
from nemi.evaluation.detections import interpolated_ap
from nemi.evaluation.protocols import threshold_key
from nemi.evaluation.proposals import interp_extrapolate
from nemi.segments import descending_order, tiou_frames
from nemi.segments import tiou as tiou_matrix

# A small input with score ties, uneven counts, a ground-truth video without
# predictions (v0), a video without ground truth (unk0), a zero-length ground-truth
# segment and fewer proposals than any AN.  The expected numbers were computed by
# running the reference code on these two tables (from /tmp, never imported here):
# ActivityNet Evaluation/eval_proposal.py::average_recall_vs_avg_nr_proposals and
# eval_detection.py::compute_average_precision_detection, RTD-Action
# datasets/thumos14_eval.py::average_recall_vs_nr_proposals + interp1d(extrapolate),
# each with argsort(kind="stable") (numpy's default quicksort leaves ties unordered).
GOLDEN_GT = """video_id,t_start,t_end,label,fps
v0,35.70,44.90,D,24.00
v0,130.30,154.20,A,24.00
v0,48.10,56.60,D,24.00
v0,80.00,96.70,B,24.00
v0,125.70,144.50,B,24.00
v0,25.40,43.90,A,24.00
v0,5.70,21.20,D,24.00
v0,99.80,115.30,D,24.00
v0,39.30,39.80,D,24.00
v0,31.80,31.80,C,24.00
v1,45.10,71.50,A,25.00
v1,142.70,161.90,B,25.00
v1,91.10,106.50,A,25.00
v1,60.80,78.90,C,25.00
v1,54.40,59.10,B,25.00
v1,63.90,93.30,B,25.00
v1,107.40,127.80,C,25.00
v1,74.20,81.50,D,25.00
v2,41.50,61.80,B,25.00
v2,127.90,132.10,D,25.00
"""
GOLDEN_PRED = """video_id,t_start,t_end,score,label
v1,142.30,161.60,0.90,D
v1,56.40,72.90,0.20,C
v1,74.90,81.20,0.80,D
v1,64.20,91.60,0.70,B
v2,130.90,144.70,0.60,B
v2,53.30,74.10,0.80,D
v2,126.90,132.00,0.80,C
v2,122.30,122.90,0.60,A
v2,77.00,106.00,0.20,A
v2,26.90,40.80,0.90,A
v2,51.00,61.90,1.00,A
v2,77.30,98.20,0.90,B
v2,87.10,104.20,0.90,B
unk0,138.40,141.20,0.40,A
unk0,142.60,152.70,0.80,C
unk0,101.50,130.20,0.60,D
unk0,49.90,65.80,0.20,D
unk0,7.60,16.10,0.90,D
"""
GOLDEN_AR = {
    "thumos14": ({"50": 0.1636363636363636, "100": 0.1636363636363636, "200": 0.1636363636363636,
                  "500": 0.1636363636363636, "1000": 0.1636363636363636}, 0.162),
    "activitynet": ({"1": 0.005, "5": 0.18, "10": 0.18, "100": 0.18}, 0.17542499999999997),
    # Extrapolated far past the last point (1.8 proposals per video), as the reference does.
    "thumos14-daps": ({"50": 26.9939393939391, "100": 57.29696969696908, "200": 117.90303030302901,
                       "500": 299.72121212120885, "1000": 602.7515151515084}, 0.15786363636363634),
}
GOLDEN_MAP = {
    "thumos14": [0.050595238095238096, 0.050595238095238096, 0.050595238095238096,
                 0.022817460317460316, 0.022817460317460316],
    "activitynet": [0.050595238095238096] + [0.022817460317460316] * 7 + [0.013888888888888888, 0.0],
}


def _golden() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(io.StringIO(GOLDEN_GT)), pd.read_csv(io.StringIO(GOLDEN_PRED))


@pytest.mark.parametrize("protocol", ["thumos14", "activitynet", "thumos14-daps"])
def test_proposal_golden_numbers_from_reference(protocol):
    gt, pred = _golden()
    res = evaluate_proposals(gt, pred, protocol)
    ar, auc = GOLDEN_AR[protocol]
    assert res["AR@AN"].keys() == ar.keys()
    for k in ar:
        assert res["AR@AN"][k] == pytest.approx(ar[k], abs=1e-9)
    assert res["AUC"] == pytest.approx(auc, abs=1e-9)


@pytest.mark.parametrize("protocol", ["thumos14", "activitynet"])
def test_detection_golden_numbers_from_reference(protocol):
    gt, pred = _golden()
    res = evaluate_detections(gt, pred, protocol)
    assert list(res["mAP"].values()) == pytest.approx(GOLDEN_MAP[protocol], abs=1e-9)
    assert res["average_mAP"] == pytest.approx(np.mean(GOLDEN_MAP[protocol]), abs=1e-9)
    assert set(res["AP_per_class"]) == {"A", "B", "C", "D"}


def test_tiou_hand_values():
    gt = np.array([[0.0, 10.0]])
    pred = np.array([[5.0, 15.0], [0.0, 10.0], [20.0, 30.0], [2.0, 4.0]])
    np.testing.assert_allclose(tiou_matrix(gt, pred), [[5 / 15, 1.0, 0.0, 0.2]])
    # inclusive frames: [0,10] and [5,15] share 6 frames of 16
    np.testing.assert_allclose(tiou_frames(gt, pred[:1]), [[6 / 16]])
    # zero length on both sides: 0, not NaN
    assert tiou_matrix(np.array([[3.0, 3.0]]), np.array([[3.0, 3.0]]))[0, 0] == 0.0


def test_descending_order_puts_later_tie_first():
    assert descending_order(np.array([0.5, 0.9, 0.5, 0.1])).tolist() == [1, 2, 0, 3]


def _gt(rows):
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label"])


def _pred(rows):
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "score", "label"])


def test_activitynet_ar_hand_computed():
    # 1 video, 2 segments; 2 proposals, the better one covers segment 1 exactly.
    # ratio = 100 * 1 / 2 = 50 keeps both; curve point k reads min(k, 2) proposals,
    # covering 1 of 2 segments at every threshold: AR = 0.5 everywhere; AN_k = k.
    gt = _gt([("a", 0, 10, "x"), ("a", 20, 30, "x")])
    pred = _pred([("a", 0, 10, 0.9, "x"), ("a", 50, 60, 0.8, "x")])
    res = evaluate_proposals(gt, pred, "activitynet")
    assert res["AR@AN"] == {"1": 0.5, "5": 0.5, "10": 0.5, "100": 0.5}
    assert res["AUC"] == pytest.approx(0.5 * 99 / 100)


def test_proposal_tie_break_later_row_first():
    gt = _gt([("a", 0, 10, "x")])
    hit_first = _pred([("a", 0, 10, 0.5, "x"), ("a", 50, 60, 0.5, "x")])
    # AR@1 reads one proposal: the later of the two tied rows
    assert evaluate_proposals(gt, hit_first, "activitynet")["AR@AN"]["1"] == 0.0
    assert evaluate_proposals(gt, hit_first.iloc[::-1], "activitynet")["AR@AN"]["1"] == 1.0


def test_detection_ap_hand_computed():
    gt = _gt([("a", 0, 10, "x"), ("a", 20, 30, "x")])
    # TP, duplicate (FP), TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 1/2 + 1/2 * 2/3
    pred = _pred([("a", 0, 10, 0.9, "x"), ("a", 0, 10, 0.8, "x"), ("a", 20, 30, 0.7, "x")])
    res = evaluate_detections(gt, pred, "thumos14")
    assert all(v == pytest.approx(0.5 + 0.5 * 2 / 3) for v in res["mAP"].values())


def test_detection_tie_break_and_unknown_video_is_false_positive():
    gt = _gt([("a", 0, 10, "x")])
    tied = _pred([("a", 40, 50, 0.5, "x"), ("a", 0, 10, 0.5, "x")])  # later row (the hit) ranks first
    assert evaluate_detections(gt, tied, "thumos14")["average_mAP"] == 1.0
    assert evaluate_detections(gt, tied.iloc[::-1], "thumos14")["average_mAP"] == 0.5
    extra = _pred([("zz", 0, 10, 0.9, "x"), ("a", 0, 10, 0.5, "x")])
    assert evaluate_detections(gt, extra, "thumos14")["average_mAP"] == 0.5


def test_class_without_predictions_scores_zero():
    gt = _gt([("a", 0, 10, "x"), ("a", 20, 30, "y")])
    res = evaluate_detections(gt, _pred([("a", 0, 10, 0.9, "x")]), "activitynet")
    assert res["AP_per_class"]["y"]["0.5"] == 0.0 and res["average_mAP"] == 0.5


def test_interpolated_ap_envelope():
    prec = np.array([[1.0, 0.5, 2 / 3]])
    rec = np.array([[0.5, 0.5, 1.0]])
    assert interpolated_ap(prec, rec)[0] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_interp_extrapolate_matches_linear():
    x, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.0, 2.0])
    assert interp_extrapolate(x, y, 3.0) == 1.5
    assert interp_extrapolate(x, y, 6.0) == 3.0
    assert interp_extrapolate(x, y, 0.0) == -1.0


def test_threshold_keys():
    assert [threshold_key(t) for t in get_protocol("activitynet").detection_tious][:3] == ["0.5", "0.55", "0.6"]
    assert threshold_key(1.0) == "1.0"


def _random_case(seed: int, n_videos: int = 6, distinct: bool = True):
    rng = np.random.default_rng(seed)
    gt_rows, pred_rows = [], []
    for v in range(n_videos):
        for _ in range(rng.integers(1, 6)):
            s = rng.uniform(0, 100)
            gt_rows.append((f"v{v}", s, s + rng.uniform(1, 20), rng.choice(["x", "y", "z"])))
        for _ in range(rng.integers(1, 40)):
            s = rng.uniform(0, 100)
            pred_rows.append((f"v{v}", s, s + rng.uniform(0.5, 25), rng.random(), rng.choice(["x", "y", "z"])))
    pred = _pred(pred_rows)
    if not distinct:
        pred["score"] = pred["score"].round(1)
    return _gt(gt_rows), pred


@pytest.mark.parametrize("seed", range(5))
def test_properties_order_scale_and_monotonicity(seed):
    gt, pred = _random_case(seed)
    shuffled = pred.sample(frac=1.0, random_state=seed)
    scaled = pred.assign(score=pred["score"] * 3.0)
    for protocol in ("thumos14", "thumos14-daps", "activitynet"):
        base = evaluate_proposals(gt, pred, protocol)
        assert evaluate_proposals(gt, shuffled, protocol)["AR@AN"] == pytest.approx(base["AR@AN"], abs=1e-12)
        assert evaluate_proposals(gt, scaled, protocol)["AR@AN"] == pytest.approx(base["AR@AN"], abs=1e-12)
        curve = np.array(base["curve"]["AR"])
        assert np.all(np.diff(curve) >= -1e-12)
        # The curve's last point is the recall at each threshold with every proposal read, averaged.
        assert curve[-1] == pytest.approx(np.mean(list(base["recall_at_tiou"].values())), abs=1e-12)
    for protocol in ("thumos14", "activitynet"):
        det = evaluate_detections(gt, pred, protocol)
        assert evaluate_detections(gt, shuffled, protocol)["mAP"] == pytest.approx(det["mAP"], abs=1e-12)
        values = np.array(list(det["mAP"].values()))
        # mAP is the mean over the ground truth's classes (a class without predictions scores 0).
        assert set(det["AP_per_class"]) == set(gt["label"])
        per_class = np.array([list(ap.values()) for ap in det["AP_per_class"].values()])
        np.testing.assert_allclose(values, per_class.mean(axis=0), rtol=0, atol=1e-12)
        assert np.all(np.diff(values) <= 1e-12)  # a stricter tIoU never raises mAP


@pytest.mark.parametrize("protocol", ["thumos14", "thumos14-daps", "activitynet"])
def test_perfect_predictions_score_one(protocol):
    gt, _ = _random_case(11)
    pred = gt.assign(score=np.linspace(1, 0.1, len(gt)))
    if protocol == "thumos14-daps":  # DAPs compares whole ground-truth frames: perfect = on frames
        pred = snap_to_frames(pred)
    res = evaluate_proposals(gt, pred, protocol)
    # all proposals read: every segment found at every threshold (smaller AN read fewer,
    # and DAPs extrapolates beyond its last point)
    assert res["curve"]["AR"][-1] == 1.0
    if protocol != "thumos14-daps":
        assert res["AR@AN"][str(get_protocol(protocol).max_average_number)] == 1.0
    assert evaluate_detections(gt, pred, protocol)["average_mAP"] == 1.0


def test_anet_counts_rows_of_unknown_videos_in_the_budget():
    # ActivityNet's ratio divides by every prediction row, also those of videos outside
    # the ground truth: 100 extra rows halve the budget of the known video at AN=1.
    gt = _gt([("a", 0, 10, "x")])
    own = _pred([("a", 50, 60, 0.9, "x"), ("a", 0, 10, 0.8, "x")])
    assert evaluate_proposals(gt, own, "activitynet")["AR@AN"]["5"] == 1.0
    stranger = _pred([("zz", 0, 1, 0.5, "x")] * 2)
    assert evaluate_proposals(gt, pd.concat([own, stranger]), "activitynet")["AR@AN"]["1"] == 0.0

