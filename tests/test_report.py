"""``nemi report``: tables equal hand-computed means and stds, and the HTML report opens in headless Chromium.

The INDEX is synthetic but every file in it is real: evaluation JSONs made by nemi.evaluation's own
functions on made-up proposals, a tiny RTD-Net saved as the train stage saves it, feature shards,
a boundary-score file and a pseudo-label file written by nemi.io.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nemi.cli import main
from nemi.errors import NemiInputError
from nemi.evaluation import evaluate_detections, evaluate_proposals
from nemi.io.boundary import BoundaryScores, write_boundary
from nemi.io.features import FeatureShardWriter
from nemi.io.provenance import git_state
from nemi.io.pseudo_labels import write_pseudo_labels
from nemi.io.tables import write_json
from nemi.model import ModelParams, build_model, save_model
from nemi.report import figures
from nemi.report.attention import attention_map, last_layer_cross_attention
from nemi.report.html import render, verdict
from nemi.report.tables import load_index, read_table, tad_table, tal_table
from tests.train_data import TB, TINY_MODEL

VIDEOS = {"v0": "train", "v1": "train", "v2": "test", "v3": "test", "v4": "test"}
N_FEATURES = 40  # 32 s at 0.8 s per feature
WINDOWS = {"window_steps": 10, "train_stride": 5, "test_stride": 5, "step_frames": None}
# name: (group, ablation, pretraining dataset or None, labels, contrastive, seeds, select, proposal noise in s)
EXPERIMENTS = {
    "rtd": ("table1", None, None, None, None, (0, 1, 2), "best", 0.3),
    "nemi_self": ("table1", None, "demo", "hog", True, (0, 1), "best", 1.2),
    "nemi_cross": ("table1", None, "demo2", "hog", True, (0,), "last", 0.8),
    "abl_cnn": ("ablations", "decomposition", "demo", "cnn", True, (0, 1), "best", 1.5),
    "abl_nocon": ("ablations", "contrastive", "demo", "hog", False, (0,), "best", 2.0),
}
TAL = ("thumos14", "thumos14-daps")
# What fine-tuning did not load from the pretraining (run.json's initialised): nemi_cross's pretraining had
# activity queries and other queries; the others carried every weight.
NOTHING_LEFT_OUT = {"not_loaded_from_checkpoint": [], "not_in_checkpoint": []}
LEFT_OUT = {"nemi_cross": {"not_loaded_from_checkpoint": ["activity_query_proj.bias", "activity_query_proj.weight"],
                           "not_in_checkpoint": ["query_embed.weight"]}}


def _ground_truth() -> pd.DataFrame:
    rows = []
    for i, vid in enumerate(VIDEOS):
        for j, label in enumerate(("A", "B")):
            s = 2.0 + 12.0 * j + i  # 3 s segments, each inside an 8 s window
            rows.append((vid, s, s + 3.0, label, 10.0, 32.0))
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label", "fps", "duration"])


def _predictions(gt: pd.DataFrame, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    test = gt[gt["video_id"].map(VIDEOS) == "test"]
    rows = []
    for _, g in test.iterrows():
        for k in range(8):
            shift, stretch = rng.normal(0, noise, 2)
            rows.append((g["video_id"], max(0.0, g["t_start"] + shift), g["t_end"] + shift + abs(stretch) + 0.1,
                         float(rng.uniform(0.2, 1.0)) / (1 + k), g["label"]))
    for vid in sorted(set(test["video_id"])):
        # Background proposals with low scores: enough per video that AR@AN is read off the curve up to AN 100.
        s = rng.uniform(0, 28, 120)
        rows += [(vid, a, a + b, float(c), lab) for a, b, c, lab in
                 zip(s, rng.uniform(0.5, 4, 120), rng.uniform(0, 0.1, 120), rng.choice(["A", "B"], 120))]
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "score", "label"])


def _epochs(rng: np.random.Generator, n: int = 4) -> pd.DataFrame:
    ar50 = np.sort(rng.uniform(0.1, 0.6, n))
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "stage": "main", "train_loss": rng.uniform(1, 2, n),
                         "val_loss": rng.uniform(1, 2, n), "val_AR@50": ar50, "val_AR@100": ar50 + 0.1,
                         "val_sum_ar": 2 * ar50 + 0.1, "seconds": 1.0})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    gt = _ground_truth()
    gt.to_csv(d / "gt.csv", index=False)
    pd.DataFrame({"video_id": list(VIDEOS), "path": [f"{v}.mp4" for v in VIDEOS],
                  "split": list(VIDEOS.values())}).to_csv(d / "videos.csv", index=False)
    scores = {}
    with FeatureShardWriter(d / "f.h5", {"source": "extracted"}) as w:
        for vid in VIDEOS:
            rgb = rng.normal(size=(N_FEATURES, 1024)).astype(np.float32)
            w.add_video(vid, rgb, rgb[:, ::-1].copy(), TB, {"frame_count": 320})
            u = rng.uniform(size=N_FEATURES).astype(np.float32)
            scores[vid] = BoundaryScores(u, u[::-1].copy(), u, TB)
    write_boundary(d / "b.h5", "tem", scores, {})
    write_pseudo_labels(d / "hog.json", {
        "schema_version": 1, "dataset": "demo", "kind": "hog",
        "params": {"rule": "tau", "max_activity_frames": 300, "min_activity_frames": 1},
        "source": {"stage": "labels", "nemi_version": "0", "git_sha": "x", "created_utc": "now", "inputs": []},
        "videos": {v: {"duration_s": 32.0, "n_steps": 320, "step_s": 0.1, "activities": [[1.0, 5.0], [9.0, 20.0]]}
                   for v in ("v2", "v3")}})
    torch.manual_seed(0)
    mp = ModelParams.from_dict({**TINY_MODEL, "input_dim": 2048})
    save_model(d / "model.pt", build_model(mp), mp, windows=WINDOWS, train_record=json.dumps({"config_hash": "c"}))
    experiments = {}
    for name, (group, ablation, pre_ds, labels, contrastive, seeds, select, noise) in EXPERIMENTS.items():
        runs = []
        for seed in seeds:
            r = d / name / f"seed{seed}"
            r.mkdir(parents=True)
            pred = _predictions(gt, noise, np.random.default_rng(100 * seed + len(name)))
            pred.drop(columns="label").to_csv(r / "proposals.csv", index=False)
            tal = {}
            for p in TAL:
                write_json(r / f"{p}.json", evaluate_proposals(gt, pred.drop(columns="label"), p,
                                                               videos=["v2", "v3", "v4"]))
                tal[p] = str(r / f"{p}.json")
            write_json(r / "tad.json", evaluate_detections(gt, pred, "thumos14", videos=["v2", "v3", "v4"]))
            _epochs(np.random.default_rng(seed + 10 * len(name))).to_csv(r / "epochs.csv", index=False)
            chosen = "best" if select == "best" else "last"
            record = {"select": select, "config_hash": f"{name}{seed}".ljust(16, "0"),
                      "selection": {"main": {"checkpoint": chosen, "epoch": 3}}}
            if pre_ds is not None:  # as nemi.model.checkpoint.load_matching lists them
                record["initialised"] = {"init": "pretrain/model.pt", **LEFT_OUT.get(name, NOTHING_LEFT_OUT)}
            write_json(r / "run.json", record)
            runs.append({"seed": seed, "run": str(r / "run.json"), "epochs": str(r / "epochs.csv"),
                         "model": str(d / "model.pt"), "proposals_csv": str(r / "proposals.csv"), "tal": tal,
                         "tad": str(r / "tad.json")})
        pretraining = None if pre_ds is None else {
            "name": f"{pre_ds}_{labels}{'' if contrastive else '_nocon'}", "dataset": pre_ds, "labels": labels,
            "query_strategy": "localisation", "contrastive": contrastive, "reassemble": "insert",
            "transductive": False, "seeding": "per_run",
            "runs": [] if name == "nemi_cross" else [{"seed": s, "epochs": str(d / name / f"pretrain{s}.csv")}
                                                     for s in (0, 1)]}
        for k, run in enumerate(pretraining["runs"] if pretraining else []):
            _epochs(np.random.default_rng(7 + k), 6).to_csv(run["epochs"], index=False)
        experiments[name] = {"group": group, "label": name.replace("_", " "), "ablation": ablation,
                             "pretraining": pretraining, "runs": runs}
    index = {"dataset": "demo", "config_hash": "0123456789abcdef", "tal_protocols": list(TAL),
             "tad_protocol": "thumos14", "class_scores": "built-in classifier", "model_note": "tiny (test)",
             "experiments": experiments}
    write_json(d / "index.json", index)
    return d


def _tables(d) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    assert main(["report", "tables", "--index", str(d / "index.json"), "--tal", str(d / "demo_tal.csv"),
                 "--tad", str(d / "demo_tad.csv"), "--ablations", str(d / "demo_ablations.csv")]) == 0
    return tuple(read_table(d / f"demo_{k}.csv", k) for k in ("tal", "tad", "ablations"))


def _hand(values: list[float]) -> tuple[float, float]:
    pct = [100 * v for v in values]
    return round(statistics.mean(pct), 2), round(statistics.stdev(pct), 2) if len(pct) > 1 else 0.0


def test_tables_equal_hand_computed_means_and_stds(world):
    tal, tad, _ = _tables(world)
    index = json.loads((world / "index.json").read_text())
    assert list(tal["experiment"]) == ["rtd", "nemi_self", "nemi_cross"] == list(tad["experiment"])
    checked = 0
    for _, row in tal.iterrows():
        runs = index["experiments"][row["experiment"]]["runs"]
        assert row["n_seeds"] == len(runs) and row["seeds"] == ";".join(str(r["seed"]) for r in runs)
        for p in TAL:
            docs = [json.loads(open(r["tal"][p]).read()) for r in runs]
            assert row[f"{p}:n_videos"] == 3
            for an in ("50", "100", "200", "500", "1000"):
                mean, std = _hand([doc["AR@AN"][an] for doc in docs])
                assert (row[f"{p}:AR@{an}_pct_mean"], row[f"{p}:AR@{an}_pct_std"]) == pytest.approx((mean, std))
                checked += 1
            assert (row[f"{p}:AUC_pct_mean"], row[f"{p}:AUC_pct_std"]) == pytest.approx(_hand([x["AUC"] for x in docs]))
        # Proposals per evaluated video, mean over seeds, from the first protocol's evaluations.
        docs = [json.loads(open(r["tal"][TAL[0]]).read()) for r in runs]
        per_video = statistics.mean(d["n_predictions"] / d["n_videos"] for d in docs)
        assert row["proposals_per_video_mean"] == pytest.approx(per_video) and row["method"] == "rtd"
    assert checked == 3 * 2 * 5
    assert (tad.set_index("experiment")["proposals_per_video_mean"] == tal.set_index("experiment")[
        "proposals_per_video_mean"]).all()
    for _, row in tad.iterrows():
        docs = [json.loads(open(r["tad"]).read()) for r in index["experiments"][row["experiment"]]["runs"]]
        for t in ("0.7", "0.6", "0.5", "0.4", "0.3"):
            want = _hand([x["mAP"][t] for x in docs])
            assert (row[f"mAP@{t}_pct_mean"], row[f"mAP@{t}_pct_std"]) == pytest.approx(want)
        assert row["mAP_avg_pct_mean"] == pytest.approx(_hand([x["average_mAP"] for x in docs])[0])
        assert row["protocol"] == "thumos14" and row["class_scores"] == "built-in classifier" and row["n_videos"] == 3
    assert [c for c in tad.columns if c.startswith("mAP@") and c.endswith("_mean")] == \
        [f"mAP@{t}_pct_mean" for t in ("0.7", "0.6", "0.5", "0.4", "0.3")]
    # One seed: std 0, never NaN; the rows say how many seeds and which checkpoint rule.
    one = tal.set_index("experiment").loc["nemi_cross"]
    assert one["n_seeds"] == 1 and all(one[c] == 0 for c in tal.columns if c.endswith("_std"))
    numeric = tal.select_dtypes("number")
    assert numeric.shape[1] > 20 and not numeric.isna().any().any()
    rules = dict(zip(tal["experiment"], tal["checkpoint_rule"]))
    assert rules == {"rtd": "best on held-out", "nemi_self": "best on held-out", "nemi_cross": "last"}
    assert set(tal["config_hash"]) == {"0123456789abcdef"}
    assert tal.set_index("experiment").loc["rtd", "run_config_hashes"].count(";") == 2
    # A real difference between seeds shows as a non-zero std.
    assert tal.set_index("experiment").loc["nemi_self", "thumos14:AR@50_pct_std"] > 0


def test_ablations_table_holds_the_variants_and_their_reference(world):
    _, tad, abl = _tables(world)
    assert list(zip(abl["ablation"], abl["experiment"])) == [
        ("reference", "nemi_self"), ("decomposition", "abl_cnn"), ("contrastive", "abl_nocon")]
    ref = abl.set_index("experiment").loc["nemi_self"]
    assert ref["mAP_avg_pct_mean"] == tad.set_index("experiment").loc["nemi_self", "mAP_avg_pct_mean"]
    assert list(abl["decomposition"]) == ["hog", "cnn", "hog"] and list(abl["contrastive"]) == ["true"] * 2 + ["false"]


def test_bad_inputs_name_the_file(world, tmp_path):
    index = json.loads((world / "index.json").read_text())
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    run = index["experiments"]["nemi_self"]["runs"][1]
    for key, value, needle in (("tad", str(tmp_path / "gone.json"), "gone.json: detections evaluation not found"),
                               ("tad", str(broken), "broken.json: detections evaluation is not JSON"),
                               ("run", str(broken), "broken.json: training run record is not JSON")):
        bad = json.loads(json.dumps(index))
        bad["experiments"]["nemi_self"]["runs"][1] = {**run, key: value}
        write_json(tmp_path / "index.json", bad)
        out = tmp_path / "tad.csv"
        with pytest.raises(NemiInputError, match=re.escape(needle)):
            _strict_tables(tmp_path)
        assert not out.exists()
    wrong = json.loads(json.dumps(index))
    wrong["experiments"]["rtd"]["runs"][0]["tal"]["thumos14"] = run["tal"]["thumos14-daps"]
    write_json(tmp_path / "index.json", wrong)
    with pytest.raises(NemiInputError, match="thumos14-daps.json: protocol: is 'thumos14-daps', the index says"):
        _strict_tables(tmp_path)
    for mutate, needle in ((lambda d: d.pop("tad_protocol"), "index.json: tad_protocol: missing"),
                           (lambda d: d["experiments"]["abl_cnn"].update(ablation=None), "abl_cnn.ablation"),
                           (lambda d: d["experiments"]["rtd"]["runs"][0]["tal"].pop("thumos14-daps"),
                            "no evaluation for protocol(s) ['thumos14-daps']")):
        bad = json.loads(json.dumps(index))
        mutate(bad)
        write_json(tmp_path / "index.json", bad)
        with pytest.raises(NemiInputError, match=re.escape(needle)):
            load_index(tmp_path / "index.json")
    # Through the CLI: exit 2 and one message, no traceback.
    assert main(["report", "tables", "--index", str(tmp_path / "nothing.json"), "--tal", "a", "--tad", "b"]) == 2


def _strict_tables(d) -> None:
    from nemi.report.cli import _tables as run_tables
    import argparse

    run_tables(argparse.Namespace(index=str(d / "index.json"), tal=str(d / "tal.csv"), tad=str(d / "tad.csv"),
                                  ablations=None))


def test_verdict_is_computed_from_the_tables(world):
    tal, tad, _ = _tables(world)
    said = verdict(tal, tad, TAL, "demo")
    assert len(said) == 2 and said[0].startswith("On demo, nemi self (nemi_self) is not better than rtd (rtd)")
    assert f"{tal.set_index('experiment').loc['nemi_self', 'thumos14:AR@100_pct_mean']:.2f} ± " in said[0]
    # Swap the numbers of rtd and nemi_self: the same code now says better.
    swapped_tal, swapped_tad = tal.copy(), tad.copy()
    for df in (swapped_tal, swapped_tad):
        metric = [c for c in df.columns if "_pct_" in c]
        a, b = df.index[df["experiment"] == "rtd"][0], df.index[df["experiment"] == "nemi_self"][0]
        df.loc[[a, b], metric] = df.loc[[b, a], metric].to_numpy()
    assert " is better than rtd " in verdict(swapped_tal, swapped_tad, TAL, "demo")[0]
    assert "one seed on a side" in said[1]  # nemi_cross has one seed
    assert "by Welch's t-test over seeds" in said[0]
    assert tal.set_index("experiment").loc["nemi_self", "pretrain_seeding"] == "per_run"
    assert not any("shared pretraining run" in x for x in said)
    shared = tal.copy()
    shared.loc[shared["experiment"] == "nemi_self", "pretrain_seeding"] = "shared"
    assert "one shared pretraining run (pretrain.seeding: shared)" in verdict(shared, tad, TAL, "demo")[0]


def test_learning_curves_are_means_over_seeds(world):
    index = load_index(world / "index.json")
    runs = index["experiments"]["rtd"]["runs"]
    c = figures.curves(runs)
    assert sorted(c) == [50, 100]
    by_seed = [pd.read_csv(r["epochs"]) for r in runs]
    for epoch in (1, 4):
        vals = [float(t.loc[t["epoch"] == epoch, "val_AR@50"].iloc[0]) for t in by_seed]
        got = c[50].set_index("epoch").loc[epoch]
        assert got["mean"] == pytest.approx(statistics.mean(vals))
        assert got["std"] == pytest.approx(statistics.stdev(vals))
    assert figures.learning_figure({"rtd": runs}) is not None


def test_attention_map_is_the_last_layers_cross_attention(world):
    att = attention_map(world / "model.pt", [world / "f.h5"], world / "b.h5", world / "videos.csv", world / "gt.csv")
    # v2 is the first test video; its first segment (4..7 s = steps 5..8.75) lies in the window from step 0.
    assert att.video_id == "v2" and att.start_step == 0 and att.weights.shape == (4, 10)
    np.testing.assert_allclose(att.raw.sum(axis=1), 1.0, atol=1e-5)  # a softmax over the window's steps
    np.testing.assert_allclose(att.weights.max(axis=1), 1.0)
    np.testing.assert_allclose(att.gt_steps[0], [4.0 / 0.8, 7.0 / 0.8], atol=1e-6)

    # The same weights from the layer's own projections, computed by hand.
    from nemi.model import load_checkpoint

    model, _ = load_checkpoint(world / "model.pt")
    layer = model.transformer.decoder.layers[-1].multihead_attn
    seen = {}
    hook = layer.register_forward_hook(lambda m, a, kw, out: seen.update(kw), with_kwargs=True)
    g = torch.Generator().manual_seed(1)
    feats, bound = torch.randn(2, 10, 2048, generator=g), torch.rand(2, 10, 2, generator=g)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    try:
        got = last_layer_cross_attention(model, feats, bound, mask)
    finally:
        hook.remove()
    d, h = layer.embed_dim, layer.num_heads
    wq, wk, _ = layer.in_proj_weight.split(d)
    bq, bk, _ = layer.in_proj_bias.split(d)
    q = (seen["query"] @ wq.T + bq).reshape(-1, 2, h, d // h)  # (Q, B, heads, d/h)
    k = (seen["key"] @ wk.T + bk).reshape(-1, 2, h, d // h)    # (T, B, heads, d/h)
    logits = torch.einsum("qbhc,tbhc->bhqt", q, k) / math.sqrt(d // h)
    logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
    want = logits.softmax(-1).mean(dim=1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert float(got[1, :, 7:].abs().max()) == 0.0  # padded steps get no attention


def _html(d, *extra: str) -> str:
    _tables(d)
    out = d / "demo_report.html"
    assert main(["report", "html", "--index", str(d / "index.json"), "--tal", str(d / "demo_tal.csv"),
                 "--tad", str(d / "demo_tad.csv"), "--out", str(out), *extra]) == 0
    return out.read_text()


FULL = ("--ablations", "demo_ablations.csv", "--features", "f.h5", "--boundary", "b.h5", "--manifest", "videos.csv",
        "--ground-truth", "gt.csv", "--pseudo-labels", "hog.json")


def _full(d) -> tuple[str, ...]:
    return tuple(str(d / a) if not a.startswith("--") else a for a in FULL)


def test_html_report_is_self_contained_and_says_what_it_is(world):
    page = _html(world, *_full(world))
    assert "http://" not in page and "https://" not in page and "<link" not in page and "url(" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert ["figure2", "figure3", "pretraining", "figure3c", "timelines"] == re.findall(r'<img alt="([^"]+)"', page)
    assert git_state()[0] in page and "0123456789abcdef" in page and "tiny (test)" in page
    assert "is not better than rtd (rtd)" in page
    assert "as printed in the paper" in page and "40.10" in page and "59.60" in page  # Table 1 rows


def test_html_without_the_data_half_says_what_is_missing(world):
    page = _html(world)
    assert len(re.findall(r"<img ", page)) == 2  # the learning curves need only the runs
    assert 'id="figure3c-missing"' in page and "needs --features, --boundary, --manifest and --ground-truth" in page


def test_html_without_the_ablations_says_they_are_missing_and_how_to_build_them(world):
    page = _html(world)  # the index has abl_cnn and abl_nocon, but no --ablations
    assert 'id="ablations-missing"' in page and 'id="figure2-missing"' in page and "ablations-table" not in page
    said = re.search(r'<p class="missing" id="ablations-missing">(.*?)</p>', page).group(1)
    assert "abl_cnn, abl_nocon" in said and "snakemake results/demo_ablations.csv results/demo_report.html" in said
    assert "report.ablations: true" in said


def test_what_fine_tuning_did_not_load_is_in_the_tables_and_the_report(world, tmp_path):
    """The weights a transfer left behind (run.json's initialised) are columns of every table and a sentence
    of the report, per pretrained experiment; a pretrained run whose run.json does not list them is refused."""
    tal, tad, abl = _tables(world)
    for df in (tal, tad, abl):
        cols = df.set_index("experiment")[["pretrain_weights_not_loaded", "weights_not_pretrained"]]
        assert cols.loc["nemi_self"].tolist() == ["none", "none"]
        if "nemi_cross" in cols.index:
            assert cols.loc["nemi_cross"].tolist() == ["activity_query_proj", "query_embed"]
        if "rtd" in cols.index:  # from scratch: no pretraining, nothing to list
            assert cols.loc["rtd"].tolist() == ["", ""]
    page = _html(world, "--ablations", str(world / "demo_ablations.csv"))
    notes = re.findall(r'<p class="transfer" id="transfer-\d+">(.*?)</p>', page)
    assert len(notes) == 4  # nemi_self, nemi_cross, abl_cnn, abl_nocon: each once
    assert ("nemi cross (nemi_cross) is fine-tuned from pretraining demo2_hog (on demo2): not every weight was "
            "loaded from it, these started at random: query_embed; the pretraining&#x27;s weights left out: "
            "activity_query_proj.") in notes
    assert "nemi self (nemi_self) is fine-tuned from pretraining demo_hog (on demo): every weight of its model was " \
           "loaded from it." in notes
    index = json.loads((world / "index.json").read_text())
    run = Path(index["experiments"]["nemi_self"]["runs"][0]["run"])
    bare = json.loads(run.read_text())
    del bare["initialised"]
    write_json(tmp_path / "run.json", bare)
    index["experiments"]["nemi_self"]["runs"][0]["run"] = str(tmp_path / "run.json")
    write_json(tmp_path / "index.json", index)
    with pytest.raises(NemiInputError, match=r"run\.json: initialised: a run fine-tuned from a pretraining lists "
                                             r"the weights it did not load"):
        _strict_tables(tmp_path)


def test_html_refuses_an_ablations_table_of_other_ablations(world, tmp_path, capsys):
    """A table written before the config gained or lost an ablation is stale: refused, not drawn."""
    _tables(world)
    abl = read_table(world / "demo_ablations.csv", "ablation table")
    stale = tmp_path / "demo_ablations.csv"
    abl[abl["experiment"] != "abl_nocon"].to_csv(stale, index=False)
    assert main(["report", "html", "--index", str(world / "index.json"), "--tal", str(world / "demo_tal.csv"),
                 "--tad", str(world / "demo_tad.csv"), "--ablations", str(stale),
                 "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "ablations ['abl_cnn'] but the index has ['abl_cnn', 'abl_nocon']" in err
    assert "run `nemi report tables --ablations` again" in err and not (tmp_path / "r.html").exists()


def test_report_help_says_it_runs_alone(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["report", "--help"])
    assert ex.value.code == 0 and "run alone on finished runs" in " ".join(capsys.readouterr().out.split())


def test_report_opens_in_headless_chromium(world):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (tests/run.sh installs it as root: apt-get install chromium)")
    _html(world, *_full(world))
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", (world / "demo_report.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    dom = out.stdout
    check = re.search(r'<pre id="figure-check">(.*?)</pre>', dom, re.S)
    assert check, out.stderr[-2000:]
    lines = check.group(1).strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["figure2", "figure3", "pretraining", "figure3c", "timelines"]
    for ln in lines:
        w, h = map(int, re.search(r"(\d+)x(\d+) complete$", ln).groups())
        assert w > 100 and h > 100, ln

    def rows(table_id: str) -> int:
        body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', dom, re.S)
        return body.group(1).count("<tr")

    assert (rows("tal-table"), rows("tad-table"), rows("ablations-table")) == (3, 3, 3)
    assert rows("paper-table") == 3 + 3 * len(TAL)  # the paper's three rows, ours per proposal protocol


def test_activitynet_tables_and_the_papers_table_2(world, tmp_path):
    """ActivityNet: AR@1..100 and AUC, mAP at 0.5:0.05:0.95, and Table 2 printed beside ours."""
    gt = pd.read_csv(world / "gt.csv")
    experiments = {}
    for name, seeds in (("rtd", (0, 1)), ("nemi_self", (0,))):
        runs = []
        for seed in seeds:
            pred = _predictions(gt, 0.5 + seed, np.random.default_rng(seed))
            tal, tad = tmp_path / f"{name}{seed}_tal.json", tmp_path / f"{name}{seed}_tad.json"
            write_json(tal, evaluate_proposals(gt, pred.drop(columns="label"), "activitynet", videos=["v2", "v3"]))
            write_json(tad, evaluate_detections(gt, pred, "activitynet", videos=["v2", "v3"]))
            runs.append({"seed": seed, "run": str(world / name / "seed0" / "run.json"), "epochs": "",
                         "proposals_csv": "", "tal": {"activitynet": str(tal)}, "tad": str(tad)})
        experiments[name] = {"group": "table1", "label": name, "ablation": None, "runs": runs,
                             "pretraining": None if name == "rtd" else {
                                 "name": "anet_hog", "dataset": "anet", "labels": "hog", "query_strategy": "query",
                                 "contrastive": True, "reassemble": "insert", "transductive": True}}
    write_json(tmp_path / "index.json", {
        "dataset": "anet", "config_hash": "f" * 16, "tal_protocols": ["activitynet"], "tad_protocol": "activitynet",
        "class_scores": "built-in classifier", "model_note": "tiny", "experiments": experiments})
    index = load_index(tmp_path / "index.json")
    tal, tad = tal_table(index), tad_table(index)
    assert [c for c in tal.columns if c.endswith("_pct_mean")] == [
        f"activitynet:{m}_pct_mean" for m in ("AR@1", "AR@5", "AR@10", "AR@100", "AUC")]
    assert [c for c in tad.columns if c.startswith("mAP@") and c.endswith("_mean")] == [
        f"mAP@{t}_pct_mean" for t in ("0.95", "0.9", "0.85", "0.8", "0.75", "0.7", "0.65", "0.6", "0.55", "0.5")]
    docs = [json.loads(open(r["tal"]["activitynet"]).read()) for r in experiments["rtd"]["runs"]]
    assert tal.loc[0, "activitynet:AR@1_pct_std"] == pytest.approx(_hand([d["AR@AN"]["1"] for d in docs])[1])
    page = render(index, tal, tad, None, [])
    assert "as printed in the paper" in page and "33.05" in page and "65.20" in page and "40.10" not in page
    assert "On anet, nemi_self (nemi_self) is " in page


def test_index_command_checks_and_writes_what_the_workflow_passes(world, tmp_path, capsys):
    index = json.loads((world / "index.json").read_text())
    out = tmp_path / "index.json"
    assert main(["report", "index", "--content", json.dumps(index), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == index
    del index["experiments"]["rtd"]["runs"][0]["tad"]
    assert main(["report", "index", "--content", json.dumps(index), "--out", str(tmp_path / "bad.json")]) == 2
    assert "--content: experiments.rtd.runs[0]: lacks ['tad']" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_welch_test_from_table_statistics_matches_scipy_on_the_seed_values():
    from scipy import stats

    from nemi.report.html import welch

    a, b = [61.0, 64.5, 59.2], [55.1, 57.0, 50.3, 52.2]
    t, p = welch(statistics.mean(a), statistics.stdev(a), 3, statistics.mean(b), statistics.stdev(b), 4)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert welch(1.0, 0.5, 1, 2.0, 0.5, 3) is None
    assert welch(3.0, 0.0, 3, 3.0, 0.0, 3) == (0.0, 1.0)


def test_verdict_puts_every_trained_row_against_the_floor_with_a_stated_test():
    from scipy import stats

    from nemi.report.html import floor_verdict

    rtd_ar, nemi_ar, floor_ar = [70.0, 72.0, 68.5], [50.0, 58.0, 61.0], 60.0
    rows = [("rtd", "rtd", "none", rtd_ar, 3), ("nemi_self", "rtd", "demo_hog", nemi_ar, 3),
            ("sw", "sliding_window", "none", [floor_ar], 1)]

    def table(col):
        return pd.DataFrame([{"experiment": e, "label": e, "method": m, "pretraining": p, "n_seeds": n,
                              f"{col}_pct_mean": statistics.mean(v),
                              f"{col}_pct_std": statistics.stdev(v) if len(v) > 1 else 0.0}
                             for e, m, p, v, n in rows])

    tal, tad = table("thumos14:AR@100"), table("mAP_avg")
    said = floor_verdict(tal, tad, TAL, "demo")
    assert len(said) == 2
    assert said[0].startswith("On demo, rtd (rtd) beats the floor, sw (sw)") and "significant at 0.05" in said[0]
    ref = stats.ttest_1samp(rtd_ar, floor_ar)
    assert f"t {ref.statistic:.2f}, p {ref.pvalue:.3g}" in said[0]
    assert said[1].startswith("On demo, nemi_self (nemi_self) does not beat the floor")
    assert "not significant at 0.05 by a one-sample t-test of 3 seeds against its one value" in said[1]
    assert floor_verdict(tal[tal["method"] != "sliding_window"], tad, TAL, "demo") == []
