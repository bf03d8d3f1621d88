"""The sliding-window floor: exact windows on a hand-worked video, clipping counted, bad settings refused
naming the key, no training in its DAG, and its row in the tables and the report."""

from __future__ import annotations

import copy
import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

from nemi.cli import main
from nemi.errors import NemiConfigError
from nemi.evaluation import evaluate_detections, evaluate_proposals
from nemi.experiments import check, experiment, index, sliding_window_params
from nemi.io.features import FeatureShardWriter
from nemi.io.tables import write_json
from nemi.params import build
from nemi.proposals import SlidingWindowParams
from nemi.proposals.sliding import sliding_windows, video_windows
from nemi.report.tables import read_table
from tests.test_experiments import TARGET, _cfg, _write
from tests.test_report import world  # noqa: F401 (the report's fixture: real evaluations of made-up runs)
from tests.test_workflow import planned_jobs, snakemake
from tests.train_data import TB

SW = {"dataset": "tiny", "method": "sliding_window", "label": "Sliding windows (floor)",
      "sliding_window": {"scales_s": [4, 16]}}


def _p(**kw) -> SlidingWindowParams:
    return build(SlidingWindowParams, {"scales_s": [4, 16], **kw})


def test_windows_of_a_hand_worked_video():
    # 10 s, scales 4 and 16 s, stride half the scale: 4 s windows from 0 every 2 s, the last ending at 10 s;
    # 16 s clipped to the video. Longer first; equal scores in start order.
    seg, score, clipped = video_windows(10.0, _p())
    assert seg.tolist() == [[0, 10], [0, 4], [2, 6], [4, 8], [6, 10]]
    assert score.tolist() == [10 / 16] + [4 / 16] * 4 and clipped == [16.0]
    # 11 s: the last 4 s window is shifted back to end at the video's end.
    seg, _, _ = video_windows(11.0, _p(scales_s=[4]))
    assert seg.tolist() == [[0, 4], [2, 6], [4, 8], [6, 10], [7, 11]]
    # Uniform scores: the scales in their listed order, then start; a stride of a quarter.
    seg, score, _ = video_windows(8.0, _p(scales_s=[8, 4], stride_fraction=0.25, score="uniform"))
    assert seg.tolist() == [[0, 8], [0, 4], [1, 5], [2, 6], [3, 7], [4, 8]] and set(score) == {1.0}
    # A stride in seconds, the same at every scale (stride_s overrides stride_fraction).
    seg, _, _ = video_windows(7.0, _p(scales_s=[4, 2], stride_s=1.5, score="uniform"))
    assert seg.tolist() == [[0, 4], [1.5, 5.5], [3, 7], [0, 2], [1.5, 3.5], [3, 5], [4.5, 6.5], [5, 7]]
    table, info = sliding_windows({"b": 11.0, "a": 10.0}, _p(), top_n=3)
    assert table["video_id"].tolist() == ["a"] * 3 + ["b"] * 3 and info["n_cut_by_top_n"] == 5
    assert table[table.video_id == "b"][["t_start", "t_end"]].values.tolist() == [[0, 11], [0, 4], [2, 6]]


def test_a_scale_longer_than_the_video_is_clipped_and_counted(tmp_path, caplog):
    # a (10 s): 16 and 20 s both clip to [0, 10], kept once; b (30 s) holds every scale.
    table, info = sliding_windows({"a": 10.0, "b": 30.0}, _p(scales_s=[4, 16, 20]), top_n=100)
    a = table[table.video_id == "a"]
    assert ((a.t_start == 0) & (a.t_end == 10)).sum() == 1 and len(a) == 5
    assert info["clipped_videos_per_scale"] == {"4": 0, "16": 1, "20": 1} and info["n_clipped"] == 2
    assert not (table.t_end > table.video_id.map({"a": 10.0, "b": 30.0})).any()
    # Through the command: durations from the feature shards, the same record beside the CSV.
    with FeatureShardWriter(tmp_path / "f.h5", {"source": "extracted"}) as w:
        for vid, n in (("a", 100), ("b", 300), ("c", 50)):  # 10 fps: 10, 30 and 5 s
            x = np.zeros((n // 8, 1024), np.float32)
            w.add_video(vid, x, x, TB, {"frame_count": n})
    pd.DataFrame({"video_id": ["a", "b", "c"], "path": ["a.mp4", "b.mp4", "c.mp4"],
                  "split": ["test", "test", "train"]}).to_csv(tmp_path / "videos.csv", index=False)
    out = tmp_path / "sw" / "seed0.csv"
    with caplog.at_level(logging.WARNING, logger="nemi"):
        assert main(["proposals", "sliding-window", "--features", str(tmp_path / "f.h5"), "--manifest",
                     str(tmp_path / "videos.csv"), "--out", str(out), "--top-n", "100",
                     "--params", json.dumps({"scales_s": [4, 16, 20], "version": 1})]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), table.reset_index(drop=True), check_dtype=False)
    record = json.loads((tmp_path / "sw" / "seed0.json").read_text())
    assert record["clipped_videos_per_scale"] == {"4": 0, "16": 1, "20": 1} and record["split"] == "test"
    assert (tmp_path / "sw" / "seed0.videos.txt").read_text().split() == ["a", "b"]
    assert "scale 16 s is longer than 1 of 2 videos: clipped" in caplog.text


@pytest.mark.parametrize("windows,message", [
    ({"scales_s": [2, 0]}, r"experiments\.sw\.sliding_window\.scales_s: .* > 0, not \[0\.0\]"),
    ({"scales_s": [-4]}, r"experiments\.sw\.sliding_window\.scales_s: .* > 0, not \[-4\.0\]"),
    ({"scales_s": [2, 2]}, r"experiments\.sw\.sliding_window\.scales_s: \[2\.0\] listed more than once"),
    ({"scales_s": [2], "stride_fraction": -0.5}, r"experiments\.sw\.sliding_window\.stride_fraction: .*not -0\.5"),
    ({"scales_s": [2], "stride_fraction": 0}, r"experiments\.sw\.sliding_window\.stride_fraction: .*not 0"),
    ({"scales_s": [2], "stride_s": -1.0}, r"experiments\.sw\.sliding_window\.stride_s: .*> 0 .*not -1\.0"),
    ({"scales_s": [2], "stride_s": 0}, r"experiments\.sw\.sliding_window\.stride_s: .*not 0"),
])
def test_bad_windows_are_refused_naming_the_key(windows, message):
    cfg = _cfg(experiments={"sw": {**SW, "sliding_window": windows}})
    with pytest.raises(NemiConfigError, match=message):
        sliding_window_params(cfg, "sw")


@pytest.mark.parametrize("entry,message", [
    ({**SW, "sliding_window": {"scales_s": [0]}}, "experiments.sw.sliding_window.scales_s: every window length"),
    ({**SW, "sliding_window": {"scales_s": [4], "stride_fraction": -1}},
     "experiments.sw.sliding_window.stride_fraction"),
])
def test_bad_windows_stop_the_plan_before_any_job(tmp_path, entry, message):
    _write(tmp_path, _cfg(experiments={"rtd": {"dataset": "tiny", "seeds": [0]}, "sw": entry}))
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode != 0 and message in res.stdout + res.stderr, (res.stdout + res.stderr)[-2000:]


def test_a_floor_has_no_pretraining_and_only_it_has_windows():
    from nemi.datasets import effective_config

    for entries, message in (({"sw": {**SW, "pretraining": "tiny_cnn"}}, "experiments.sw.pretraining: a sliding"),
                             ({"sw": {**SW, "method": "rtd"}}, "experiments.sw.sliding_window: only an experiment"),
                             ({"sw": {k: v for k, v in SW.items() if k != "sliding_window"}},
                              "experiments.sw.sliding_window: a sliding_window experiment names its windows")):
        cfg = _cfg(experiments=entries)
        with pytest.raises(NemiConfigError, match=re.escape(message)):
            check(cfg, lambda n, cfg=cfg: effective_config(cfg, n))


def test_the_floor_is_one_untrained_run_in_the_index():
    from nemi.datasets import effective_config

    cfg = _cfg()
    cfg["experiments"]["sw"] = {**SW, "seeds": [0, 1, 2]}  # as the schema fills it in: not read
    assert experiment(cfg, "sw")["seeds"] == [0]
    e = index(cfg, "tiny", lambda n: effective_config(cfg, n))["experiments"]["sw"]
    assert e["method"] == "sliding_window" and e["pretraining"] is None
    assert e["sliding_window"] == {"scales_s": (4.0, 16.0), "stride_fraction": 0.5, "stride_s": None,
                                   "score": "longer_first"}
    assert [(r["seed"], r["run"], r["epochs"], r["model"]) for r in e["runs"]] == [(0, None, None, None)]
    assert e["runs"][0]["proposals_csv"] == "results/tiny/proposals/sw/seed0.csv"


def test_the_floor_plans_no_training(tmp_path):
    cfg = _cfg()
    cfg["experiments"]["sw"] = SW
    _write(tmp_path, cfg)
    res = snakemake(tmp_path, TARGET, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = planned_jobs(res.stdout)
    # As test_experiments' five trained runs, plus the floor's one run: proposed, detected and evaluated.
    assert (jobs["train"], jobs["proposals"], jobs["proposals_sliding_window"]) == (5, 5, 1)
    assert (jobs["detect_experiment"], jobs["evaluate_run_detections"]) == (6, 6)
    assert "results/tiny/train/sw/" not in res.stdout
    assert "results/tiny/proposals/sw/seed0.csv" in res.stdout
    # Its model is no target: asked for, it is refused.
    res = snakemake(tmp_path, "results/tiny/train/sw/seed0/model.pt", "-n")
    assert res.returncode != 0 and "experiment sw is of method sliding_window" in res.stdout + res.stderr


def test_tables_and_report_give_the_floor_row(world, tmp_path):  # noqa: F811
    """The floor's proposals made, evaluated and tabulated as a trained run's; its row tells its method,
    its untrained checkpoint rule and proposals per video, and the report says where AR@AN is flat."""
    gt = pd.read_csv(world / "gt.csv")
    test = ["v2", "v3", "v4"]
    durations = gt.drop_duplicates("video_id").set_index("video_id")["duration"].loc[test].to_dict()
    props, _ = sliding_windows(durations, _p(scales_s=[2, 4, 8, 16, 64]), top_n=1000)
    # 32 s: 31 + 15 + 7 + 3 windows of 2, 4, 8 and 16 s, and 64 s clipped to the video: 57 a video.
    assert props.groupby("video_id").size().tolist() == [57] * 3
    props.to_csv(tmp_path / "sw.csv", index=False)
    tal = {}
    for p in ("thumos14", "thumos14-daps"):
        write_json(tmp_path / f"sw.{p}.json", evaluate_proposals(gt, props, p, videos=test))
        tal[p] = str(tmp_path / f"sw.{p}.json")
    labelled = pd.concat([props.assign(label=c, score=props.score * w) for c, w in (("A", 0.6), ("B", 0.4))])
    write_json(tmp_path / "sw.tad.json", evaluate_detections(gt, labelled, "thumos14", videos=test))
    idx = json.loads((world / "index.json").read_text())
    idx["experiments"]["sw"] = {"group": "table1", "label": "Sliding windows (floor)", "ablation": None,
                                "method": "sliding_window", "pretraining": None,
                                "runs": [{"seed": 0, "run": None, "epochs": None, "model": None,
                                          "proposals_csv": str(tmp_path / "sw.csv"), "tal": tal,
                                          "tad": str(tmp_path / "sw.tad.json")}]}
    write_json(tmp_path / "index.json", idx)
    files = {k: str(tmp_path / f"demo_{k}.csv") for k in ("tal", "tad")}
    assert main(["report", "tables", "--index", str(tmp_path / "index.json"), "--tal", files["tal"],
                 "--tad", files["tad"]]) == 0
    tal_t, tad_t = (read_table(files[k], k).set_index("experiment") for k in ("tal", "tad"))
    for t in (tal_t, tad_t):
        row = t.loc["sw"]
        assert (row["method"], row["checkpoint_rule"], row["n_seeds"], row["seeds"]) == (
            "sliding_window", "none (no training)", 1, "0")
        assert row["proposals_per_video_mean"] == 57.0 and row["run_config_hashes"] == ""
        assert t.loc["rtd", "method"] == "rtd" and t.loc["rtd", "proposals_per_video_mean"] == 136.0
    assert tal_t.loc["sw", "thumos14:n_videos"] == 3 and tal_t.loc["sw", "thumos14:AR@50_pct_mean"] > 0
    assert tad_t.loc["sw", "mAP_avg_pct_mean"] >= 0
    out = tmp_path / "report.html"
    args = ["--features", str(world / "f.h5"), "--boundary", str(world / "b.h5"), "--manifest",
            str(world / "videos.csv"), "--ground-truth", str(world / "gt.csv")]
    assert main(["report", "html", "--index", str(tmp_path / "index.json"), "--tal", files["tal"],
                 "--tad", files["tad"], "--out", str(out), *args]) == 0
    page = out.read_text()
    assert ("AR@AN for AN &gt; 57 is flat: Sliding windows (floor) (sw) emits 57 proposals per video on "
            "average, so AR@100, AR@200, AR@500, AR@1000 count no further proposal.") in page
    # The learning curves, the attention map and the timelines are the trained runs' (nemi_self by default).
    assert re.findall(r'<img alt="([^"]+)"', page) == ["figure3", "pretraining", "figure3c", "timelines"]
    assert "nemi self (nemi_self), seed 0" in page and "is not better than rtd (rtd)" in page
    # Asked for the floor's run: timelines of its windows, and no attention map (no model).
    assert main(["report", "html", "--index", str(tmp_path / "index.json"), "--tal", files["tal"],
                 "--tad", files["tad"], "--out", str(out), "--experiment", "sw", *args]) == 0
    page = out.read_text()
    assert "sw is of method sliding_window: no model, no attention" in page
    assert "top-10 proposals of Sliding windows (floor) (sw), seed 0" in page


def test_shipped_configs_include_the_floor():
    import yaml

    from tests.conftest import REPO

    for path in ("config.yaml", "workflow/configs/thumos14.yaml", "workflow/configs/activitynet13.yaml"):
        cfg = yaml.safe_load((REPO / path).read_text())
        floors = {n: e for n, e in cfg["experiments"].items() if e.get("method") == "sliding_window"}
        assert len(floors) == 1, path
        (name, entry), = floors.items()
        build(SlidingWindowParams, entry["sliding_window"])
        assert entry["dataset"] in cfg["targets"], path
    cfg = copy.deepcopy(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert sliding_window_params(cfg, "sw").scales_s == (1.0, 2.0, 4.0, 8.0, 16.0)
