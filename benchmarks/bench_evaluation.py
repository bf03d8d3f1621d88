"""Wall time of nemi.evaluation against straightforward per-proposal loops of the same definitions.

Input: the Thumos14 test ground truth (official files in shared/data: 212 videos with actions
once Ambiguous is dropped; fps 30 for every video),
1,000 random proposals per video (30% jittered copies of ground truth) and 400
labelled detections per video.  Each protocol runs once with nemi's vectorised
code and once with a plain Python loop over proposals (written here from the
definitions in docs/evaluation.md); the two results must agree.  One core:
run with OMP_NUM_THREADS=1 (set below before numpy loads).

    python benchmarks/bench_evaluation.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nemi.io.annotations import read_thumos14_txt  # noqa: E402
from nemi.evaluation import evaluate_detections, evaluate_proposals, get_protocol  # noqa: E402
import logging  # noqa: E402

logging.getLogger("nemi").setLevel(logging.ERROR)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "thumos14"


def make_predictions(gt: pd.DataFrame, per_video: int, labelled: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    classes = sorted(gt["label"].unique())
    parts = []
    for vid, g in gt.groupby("video_id"):
        dur = float(g["t_end"].max()) + 30.0
        n_near = int(0.3 * per_video)
        pick = g.iloc[rng.integers(0, len(g), n_near)]
        s = np.concatenate([pick["t_start"].to_numpy() + rng.normal(0, 1.0, n_near),
                            rng.uniform(0, dur, per_video - n_near)])
        e = np.concatenate([pick["t_end"].to_numpy() + rng.normal(0, 1.0, n_near),
                            s[n_near:] + rng.uniform(0.5, 30.0, per_video - n_near)])
        s = np.clip(s, 0, None)
        e = np.maximum(e, s)
        lab = np.concatenate([pick["label"].to_numpy(), rng.choice(classes, per_video - n_near)])
        parts.append(pd.DataFrame({"video_id": vid, "t_start": s, "t_end": e, "score": rng.random(per_video),
                                   **({"label": lab} if labelled else {})}))
    return pd.concat(parts, ignore_index=True)


# ---- straightforward loop implementations (the same definitions, one proposal at a time) ----

def _tiou(a0, a1, b0, b1, plus_one=False):
    one = 1.0 if plus_one else 0.0
    inter = max(0.0, min(a1, b1) - max(a0, b0) + one)
    union = (b1 - b0 + one) + (a1 - a0 + one) - inter
    return inter / union if union > 0 else 0.0


def _ranked(rows):
    # descending score, later row first among ties
    return [r for _, r in sorted(enumerate(rows), key=lambda ir: (ir[1][2], ir[0]), reverse=True)]


def loop_anet_ar(gt, pred, tious, max_an, ans):
    gt_by = {v: list(zip(g.t_start, g.t_end)) for v, g in gt.groupby("video_id", sort=False)}
    pred_by = {v: list(zip(g.t_start, g.t_end, g.score)) for v, g in pred.groupby("video_id", sort=False)}
    ratio = max_an * float(len(gt_by)) / len(pred)
    kept, total = {}, 0
    for v in gt_by:
        rows = _ranked(pred_by.get(v, []))
        n = min(int(len(rows) * ratio), len(rows))
        kept[v] = rows[:n]
        total += n
    pcn = np.arange(1, 101) / 100.0 * (max_an * float(len(gt_by)) / total)
    n_gt = sum(len(x) for x in gt_by.values())
    avg = np.zeros(100)
    for t in tious:
        first = {}
        for v, segs in gt_by.items():
            for gi, (g0, g1) in enumerate(segs):
                first[(v, gi)] = next((k for k, p in enumerate(kept[v]) if _tiou(p[0], p[1], g0, g1) >= t), None)
        for j in range(100):
            hits = 0
            for (v, _gi), k in first.items():
                ncol = len(kept[v]) if v in pred_by else 1
                budget = min(int(ncol * pcn[j]), ncol)
                hits += k is not None and k < budget
            avg[j] += hits / n_gt
    avg /= len(tious)
    return {str(a): float(avg[int(round(a * 100 / max_an)) - 1]) for a in ans}


def loop_daps_ar(gt, pred, tious, ans, fps=30.0):
    gt_by = {v: list(zip(g.t_start * g.fps, g.t_end * g.fps)) for v, g in gt.groupby("video_id", sort=False)}
    pred_by = {v: g for v, g in pred.groupby("video_id", sort=False)}
    pcn = np.arange(1, 201) / 200.0
    avg = np.zeros(200)
    n_pos = sum(len(gt_by.get(v, [])) for v in pred_by)
    for t in tious:
        matched = np.zeros(200)
        for v, g in pred_by.items():
            f = fps if v not in gt_by else gt.loc[gt.video_id == v, "fps"].iloc[0]
            rows = _ranked(list(zip(g.t_start * f, g.t_end * f, g.score)))
            for g0, g1 in gt_by.get(v, []):
                k = next((k for k, p in enumerate(rows) if _tiou(p[0], p[1], g0, g1, True) >= t), None)
                if k is not None:
                    matched += k < (len(rows) * pcn).astype(int)
        avg += matched / n_pos
    avg /= len(tious)
    an = pcn * (len(pred) / len(pred_by))
    out = {}
    for a in ans:
        hi = int(np.clip(np.searchsorted(an, a), 1, len(an) - 1))
        out[str(a)] = float((avg[hi] - avg[hi - 1]) / (an[hi] - an[hi - 1]) * (a - an[hi - 1]) + avg[hi - 1])
    return out


def loop_map(gt, pred, tious):
    aps = []
    for c in pd.unique(gt["label"]):
        g = gt[gt.label == c]
        gt_by = {v: list(zip(x.t_start, x.t_end)) for v, x in g.groupby("video_id", sort=False)}
        rows = _ranked(list(zip(pred[pred.label == c].t_start, pred[pred.label == c].t_end,
                                pred[pred.label == c].score, pred[pred.label == c].video_id)))
        ap_c = []
        for t in tious:
            locked, tp = set(), []
            for s, e, _, v in rows:
                best, best_iou = None, -1.0
                for gi, (g0, g1) in enumerate(gt_by.get(v, [])):
                    iou = _tiou(s, e, g0, g1)
                    if iou >= t and (v, gi) not in locked and iou >= best_iou:
                        best, best_iou = gi, iou
                if best is not None:
                    locked.add((v, best))
                tp.append(best is not None)
            tp = np.array(tp, float)
            tpc, fpc = np.cumsum(tp), np.cumsum(1 - tp)
            prec, rec = tpc / (tpc + fpc), tpc / len(g)
            ap = 0.0
            # all-point interpolation: walk recall levels from the top
            mp = np.concatenate([[0], prec, [0]])
            mr = np.concatenate([[0], rec, [1]])
            for i in range(len(mp) - 2, -1, -1):
                mp[i] = max(mp[i], mp[i + 1])
            for i in range(1, len(mr)):
                if mr[i] != mr[i - 1]:
                    ap += (mr[i] - mr[i - 1]) * mp[i]
            ap_c.append(ap)
        aps.append(ap_c)
    return np.mean(aps, axis=0)


def timed(fn, *a, repeat: int = 3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*a)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    gt = read_thumos14_txt(DATA / "annotations_test", "test")
    gt = gt[gt["label"] != "Ambiguous"].assign(fps=30.0).reset_index(drop=True)
    props = make_predictions(gt, 1000, labelled=False, seed=0)
    dets = make_predictions(gt, 400, labelled=True, seed=1)
    evaluate_detections(gt, dets.head(500), "thumos14")  # compile the numba kernel outside the timing
    print(f"Thumos14 test ground truth: {gt['video_id'].nunique()} videos, {len(gt)} segments; "
          f"{len(props)} proposals, {len(dets)} detections; best of 3 (loop: 1 run)")
    print(f"{'task':<34}{'nemi (s)':>10}{'loop (s)':>10}{'speed-up':>10}{'max |diff|':>12}")
    rows = []
    for name in ("thumos14", "thumos14-daps", "activitynet"):
        p = get_protocol(name)
        t_ours, ours = timed(evaluate_proposals, gt, props, name)
        if p.proposal_algorithm == "anet":
            t_loop, ref = timed(loop_anet_ar, gt, props, p.proposal_tious, p.max_average_number,
                                p.average_numbers, repeat=1)
        else:
            t_loop, ref = timed(loop_daps_ar, gt, props, p.proposal_tious, p.average_numbers, repeat=1)
        diff = max(abs(ours["AR@AN"][k] - ref[k]) for k in ref)
        rows.append((f"proposals AR@AN, {name}", t_ours, t_loop, diff))
    for name in ("thumos14", "activitynet"):
        p = get_protocol(name)
        t_ours, ours = timed(evaluate_detections, gt, dets, name)
        t_loop, ref = timed(loop_map, gt, dets, p.detection_tious, repeat=1)
        diff = float(np.abs(np.array(list(ours["mAP"].values())) - ref).max())
        rows.append((f"detections mAP, {name}", t_ours, t_loop, diff))
    for task, t_ours, t_loop, diff in rows:
        print(f"{task:<34}{t_ours:>10.3f}{t_loop:>10.2f}{t_loop / t_ours:>9.0f}x{diff:>12.1e}")


if __name__ == "__main__":
    main()
