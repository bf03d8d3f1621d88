"""``nemi report tables|html``: result tables and the HTML report from finished runs.

Both read only what finished runs left on disk (evaluation JSONs, run.json, epochs.csv, model
files, the data half's features), so they run alone, outside Snakemake, on runs made earlier.
"""

from __future__ import annotations

import argparse

ALONE = ("Reads only finished artifacts listed in the INDEX file, so it can be run alone on finished runs, "
         "outside the workflow.")


def register(subparsers: argparse._SubParsersAction) -> None:
    from nemi.report import FigureParams

    fp = FigureParams()
    p = subparsers.add_parser("report", help="result tables and the HTML report of a dataset's experiments",
                              description="Result tables (mean and std over seeds) and one self-contained HTML "
                                          "report. " + ALONE)
    sub = p.add_subparsers(dest="report_command", metavar="KIND", required=True)

    i = sub.add_parser("index", help="write a report INDEX JSON (what the workflow passes), checked",
                       description="Checks an INDEX (format: nemi/report/tables.py) and writes it; the files it "
                                   "lists need not exist yet.")
    i.add_argument("--content", required=True, metavar="JSON", help="the INDEX as one JSON object")
    i.add_argument("--out", required=True, help="output INDEX JSON")
    i.set_defaults(func=_index)

    t = sub.add_parser("tables", help="{dataset}_tal.csv, _tad.csv and _ablations.csv from an INDEX",
                       description="One row per experiment, metrics in percent (mean and sample std over seeds). "
                                   "The INDEX format is documented in nemi/report/tables.py. " + ALONE)
    t.add_argument("--index", required=True, help="report INDEX JSON of the dataset")
    t.add_argument("--tal", required=True, help="output: proposal table (one row per Table 1 experiment)")
    t.add_argument("--tad", required=True, help="output: detection table (one row per Table 1 experiment)")
    t.add_argument("--ablations", help="output: ablation table (TAD columns; ablation rows and their reference)")
    t.set_defaults(func=_tables)

    h = sub.add_parser("html", help="{dataset}_report.html: tables, the paper's numbers, figures",
                       description="One self-contained HTML file (figures embedded). Figure 3c's attention map "
                                   "needs --features, --boundary, --manifest and --ground-truth; the timelines "
                                   "need --manifest and --ground-truth. " + ALONE)
    h.add_argument("--index", required=True, help="report INDEX JSON of the dataset")
    h.add_argument("--tal", required=True, help="proposal table written by `nemi report tables`")
    h.add_argument("--tad", required=True, help="detection table written by `nemi report tables`")
    h.add_argument("--ablations", help="ablation table written by `nemi report tables` (Figure 2)")
    h.add_argument("--out", required=True, help="output HTML file")
    h.add_argument("--features", nargs="+", default=None, help="feature shards holding the test videos")
    h.add_argument("--boundary", help="boundary-score file of the dataset (nemi tem)")
    h.add_argument("--manifest", help="manifest CSV with a split column (the test split is drawn)")
    h.add_argument("--ground-truth", help="ground-truth CSV video_id,t_start,t_end[,label]")
    h.add_argument("--pseudo-labels", nargs="*", default=(), help="pseudo-label JSON files drawn in the timelines")
    h.add_argument("--experiment", help="experiment whose run the attention map and timelines show "
                                        "(default: the first trained Table 1 experiment with a pretraining, "
                                        "else the first trained one, else the first)")
    h.add_argument("--seed", type=int, help="its run's seed (default: its first run)")
    h.add_argument("--timeline-videos", type=int, default=None,
                   help=f"test videos drawn as timelines (default {fp.timeline_videos})")
    h.add_argument("--top-proposals", type=int, default=None,
                   help=f"proposals per timeline (default {fp.top_proposals})")
    h.set_defaults(func=_html)


def _index(args: argparse.Namespace) -> int:
    from nemi.io.tables import write_json
    from nemi.params import json_object
    from nemi.report.tables import check_index

    write_json(args.out, check_index(json_object(args.content, "--content"), "--content"))
    return 0


def _tables(args: argparse.Namespace) -> int:
    from nemi.io.tables import write_csv
    from nemi.log import logger
    from nemi.report.tables import ablations_table, load_index, tad_table, tal_table

    index = load_index(args.index)
    tal, tad = tal_table(index), tad_table(index)
    abl = ablations_table(index) if args.ablations else None  # before any write: all or nothing
    write_csv(args.tal, tal)
    write_csv(args.tad, tad)
    if abl is not None:
        write_csv(args.ablations, abl)
    logger.info("%s: %d Table 1 rows%s", index["dataset"], len(tal),
                f", {len(abl)} ablation rows" if abl is not None else "")
    return 0


def _run_of(index: dict, name: str | None, seed: int | None) -> tuple[str, dict, dict]:
    from nemi.errors import NemiInputError
    from nemi.report.tables import is_trained

    table1 = [n for n, e in index["experiments"].items() if e["group"] == "table1"]
    if name is None:
        trained = [n for n in table1 if is_trained(index["experiments"][n])]
        pretrained = [n for n in trained if index["experiments"][n].get("pretraining")]
        name = (pretrained or trained or table1 or list(index["experiments"]))[0]
    if name not in index["experiments"]:
        raise NemiInputError(f"--experiment {name}: not in the index (has {sorted(index['experiments'])})")
    exp = index["experiments"][name]
    runs = [r for r in exp["runs"] if seed is None or r["seed"] == seed]
    if not runs:
        raise NemiInputError(f"--seed {seed}: experiment {name} has seeds {[r['seed'] for r in exp['runs']]}")
    return name, exp, runs[0]


def _html(args: argparse.Namespace) -> int:
    from nemi.errors import NemiInputError
    from nemi.io.atomic import write_text_atomic
    from nemi.report import figures as F
    from nemi.report import FigureParams
    from nemi.report.attention import attention_map, timeline_videos
    from nemi.report.html import ablations_missing, figure_block, render
    from nemi.report.tables import is_trained, load_index, read_table

    index = load_index(args.index)
    tal, tad = read_table(args.tal, "proposal table"), read_table(args.tad, "detection table")
    table1 = {n: e for n, e in index["experiments"].items() if e["group"] == "table1"}
    for path, df in ((args.tal, tal), (args.tad, tad)):
        if set(df["experiment"]) != set(table1):
            raise NemiInputError(f"{path}: experiments {sorted(df['experiment'])} but the index has "
                                 f"{sorted(table1)}: run `nemi report tables` again")
    abl = read_table(args.ablations, "ablation table") if args.ablations else None
    ablations = sorted(n for n, e in index["experiments"].items() if e["group"] == "ablations")
    if abl is not None:
        # A table of other ablations than the index's is stale (the config changed since it was written).
        rows = sorted(set(abl.loc[abl["ablation"] != "reference", "experiment"]))
        if rows != ablations:
            raise NemiInputError(f"{args.ablations}: ablations {rows} but the index has {ablations}: "
                                 "run `nemi report tables --ablations` again")
    try:
        fp = FigureParams(**{k: v for k, v in (("timeline_videos", args.timeline_videos),
                                               ("top_proposals", args.top_proposals)) if v is not None})
    except ValueError as err:
        raise NemiInputError(str(err)) from None
    blocks = []
    uri = F.png_data_uri(F.ablation_figure(abl)) if abl is not None else None
    blocks.append(figure_block("figure2", uri, "Figure 2: ablations, mAP (%) against tIoU, one panel per kind; "
                               "error bars: std over seeds", ablations_missing(index)))
    trained = {n: e for n, e in table1.items() if is_trained(e)}  # sliding windows have no learning curve
    labels = [e["label"] for e in trained.values()]
    fig = F.learning_figure({(e["label"] if labels.count(e["label"]) == 1 else f"{e['label']} ({n})"): e["runs"]
                             for n, e in trained.items()})
    blocks.append(figure_block("figure3", None if fig is None else F.png_data_uri(fig),
                               "Figure 3: fine-tuning, held-out AR@AN per epoch (training videos held out for model "
                               "selection, never the test split), mean over seeds, band: std",
                               "no run's epochs.csv has held-out AR columns (trained without held-out videos)"))
    pre = {e["pretraining"]["name"]: e["pretraining"]["runs"] for e in table1.values()
           if e["pretraining"] and e["pretraining"].get("runs")}
    fig = F.learning_figure(pre, "pretraining, held-out") if pre else None
    blocks.append(figure_block("pretraining", None if fig is None else F.png_data_uri(fig),
                               "Pretraining: AR@AN per epoch on held-out videos against their pseudo activities "
                               "(not ground truth), mean over a pretraining's runs (one per seed when seeded per run), "
                               "band: std",
                               "no Table 1 pretraining lists an epochs.csv with held-out AR columns"))
    name, exp, run = _run_of(index, args.experiment, args.seed)
    which = f"{exp['label']} ({name}), seed {run['seed']}"
    missing = "needs --features, --boundary, --manifest and --ground-truth"
    if not is_trained(exp):
        uri, missing = None, f"{name} is of method {exp['method']}: no model, no attention"
    elif args.features and args.boundary and args.manifest and args.ground_truth:
        if not run.get("model"):
            raise NemiInputError(f"{args.index}: experiment {name} seed {run['seed']} lists no model file")
        att = attention_map(run["model"], args.features, args.boundary, args.manifest, args.ground_truth)
        title = (f"{which}: {att.video_id}, window from step {att.start_step} "
                 f"({att.step_s:.2f} s/step), last decoder layer, heads averaged")
        uri = F.png_data_uri(F.attention_figure(att.weights, att.gt_steps, title))
    else:
        uri = None
    blocks.append(figure_block("figure3c", uri, "Figure 3c: cross-attention of the last decoder layer (queries x "
                               "window steps), each query's row scaled to its maximum; dashed: ground truth",
                               missing))
    if args.manifest and args.ground_truth:
        videos = timeline_videos(args.manifest, args.ground_truth, run["proposals_csv"], args.pseudo_labels, fp)
        uri = F.png_data_uri(F.timeline_figure(videos, fp.top_proposals))
    else:
        uri = None
    blocks.append(figure_block("timelines", uri, f"Test videos: ground truth, the top-{fp.top_proposals} "
                               f"proposals of {which} and the pseudo activities",
                               "needs --manifest and --ground-truth"))
    write_text_atomic(args.out, render(index, tal, tad, abl, blocks))
    return 0
