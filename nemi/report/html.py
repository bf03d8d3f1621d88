"""One self-contained HTML report: header, verdict, tables (with the paper's numbers), figures.

Figures are embedded as PNG data URIs and the page loads nothing else, so the file can be mailed
or opened offline. A small inline script lists, once the page has loaded, every figure's natural
size in ``<pre id="figure-check">`` (what the headless-browser test reads).
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import pandas as pd

from nemi import __version__
from nemi.io.provenance import git_state

_PCT = re.compile(r"^(?P<base>.+)_pct_mean$")
_AR = re.compile(r"^[^:]+:AR@(\d+)_pct_mean$")

CSS = """body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border:1px solid #bbb;padding:3px 6px}
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.paper td{background:#fff7e0}
.verdict{background:#eef5ff;border-left:4px solid #36c;padding:.5em 1em}.missing{color:#a33}
.scroll{overflow-x:auto}figure{margin:1em 0}figcaption{font-size:13px;color:#444}img{max-width:100%}"""

SCRIPT = """window.addEventListener("load", function () {
  var out = [];
  document.querySelectorAll("img").forEach(function (im) {
    out.push(im.alt + ": " + im.naturalWidth + "x" + im.naturalHeight + (im.complete ? " complete" : " pending"));
  });
  document.getElementById("figure-check").textContent = out.join("\\n");
});"""


def paper_numbers() -> pd.DataFrame:
    """The paper's Table 1 and Table 2 as printed (percent): table, dataset, method, metric, value_pct."""
    text = resources.files("nemi.report").joinpath("paper_numbers.csv").read_text()
    from io import StringIO

    return pd.read_csv(StringIO(text), comment="#")


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _table(df: pd.DataFrame, table_id: str, paper_rows: int = 0) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    body = []
    for i, (_, row) in enumerate(df.iterrows()):
        cls = ' class="paper"' if i < paper_rows else ""
        cells = "".join(f'<td class="num">{_esc(v)}</td>' if isinstance(v, numbers.Number) or "±" in str(v)
                        else f"<td>{_esc(v)}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return (f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def mean_pm_std(df: pd.DataFrame, keep: Sequence[str]) -> pd.DataFrame:
    """``keep`` columns, then every ``X_pct_mean`` / ``X_pct_std`` pair as one "mean ± std" column ``X (%)``."""
    out = df[[c for c in keep if c in df.columns]].copy()
    for c in df.columns:
        if (m := _PCT.match(c)) and f"{m['base']}_pct_std" in df.columns:
            out[f"{m['base']} (%)"] = [f"{a:.2f} ± {s:.2f}" for a, s in zip(df[c], df[f"{m['base']}_pct_std"])]
        elif c.endswith(":n_videos"):
            out[c] = df[c]
    return out


def _trained(df: pd.DataFrame) -> pd.Series:
    """Rows of a trained method (tables written before the method column: every row)."""
    return df["method"] != "sliding_window" if "method" in df.columns else pd.Series(True, index=df.index)


def flat_notes(tal: pd.DataFrame) -> list[str]:
    """One sentence per row that emits fewer proposals per video, on average, than an AN it reports."""
    ans = sorted({int(m.group(1)) for c in tal.columns if (m := _AR.match(c))})
    if "proposals_per_video_mean" not in tal.columns:
        return []
    out = []
    for _, row in tal.iterrows():
        k = float(row["proposals_per_video_mean"])
        above = [n for n in ans if n > k]
        if above:
            out.append(f"AR@AN for AN > {k:g} is flat: {row['label']} ({row['experiment']}) emits {k:g} proposals "
                       f"per video on average, so AR@{', AR@'.join(map(str, above))} count no further proposal.")
    return out


TRANSFER_COLUMNS = ("pretrain_weights_not_loaded", "weights_not_pretrained")


def transfer_notes(tables: Sequence[pd.DataFrame]) -> list[str]:
    """One sentence per pretrained row (each experiment once, over ``tables``): which weights fine-tuning did
    not load from its pretraining (the tables' transfer columns), so that a transfer that moved only part of
    the model is read in the report, not only in run.json."""
    out, seen = [], set()
    for df in tables:
        if not (df["pretraining"] != "none").any():
            continue
        if not all(c in df.columns for c in TRANSFER_COLUMNS):
            return ["The tables do not say which weights fine-tuning loaded from the pretrainings (written before "
                    "their columns pretrain_weights_not_loaded and weights_not_pretrained): run `nemi report "
                    "tables` again."]
        for _, row in df[df["pretraining"] != "none"].iterrows():
            if row["experiment"] in seen:
                continue
            seen.add(row["experiment"])
            fresh, unused = (str(row[c]).replace(";", ", ") for c in ("weights_not_pretrained",
                                                                        "pretrain_weights_not_loaded"))
            head = (f"{row['label']} ({row['experiment']}) is fine-tuned from pretraining {row['pretraining']} "
                    f"(on {row['pretrain_dataset']}): ")
            loaded = ("every weight of its model was loaded from it" if fresh == "none" else
                      f"not every weight was loaded from it, these started at random: {fresh}")
            left = "" if unused == "none" else f"; the pretraining's weights left out: {unused}"
            out.append(head + loaded + left + ".")
    return out


def _find(df: pd.DataFrame, name: str, fallback) -> pd.Series | None:
    if (df["experiment"] == name).any():
        return df[df["experiment"] == name].iloc[0]
    rows = df[fallback(df)]
    return rows.iloc[0] if len(rows) else None


SIGNIFICANCE = 0.05  # two-sided Welch's t-test over seeds


def welch(ma: float, sa: float, na: int, mb: float, sb: float, nb: int,
          b_exact: bool = False) -> tuple[float, float] | None:
    """(t, two-sided p) of Welch's unequal-variance t-test from each side's mean, sample std and seed count;
    with ``b_exact`` (a method with no seed, the sliding-window floor) the one-sample t-test of a's seeds
    against b's value. None when a side that has seeds has fewer than two. Equal means with no spread
    give p = 1."""
    from scipy import stats

    if na < 2 or (nb < 2 and not b_exact):
        return None
    sb, nb = (0.0, math.inf) if b_exact else (sb, nb)
    se = math.sqrt(sa**2 / na + (sb**2 / nb if not b_exact else 0.0))
    if se == 0:
        return (0.0, 1.0) if ma == mb else (math.copysign(math.inf, ma - mb), 0.0)
    if b_exact:
        t = (ma - mb) / se
        return t, float(2 * stats.t.sf(abs(t), na - 1))
    res = stats.ttest_ind_from_stats(ma, sa, na, mb, sb, nb, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def _compare(a: pd.Series, b: pd.Series, col: str, what: str) -> tuple[bool, str]:
    ma, sa, mb, sb = (float(a[f"{col}_pct_mean"]), float(a[f"{col}_pct_std"]), float(b[f"{col}_pct_mean"]),
                      float(b[f"{col}_pct_std"]))
    na, nb = int(a["n_seeds"]), int(b["n_seeds"])
    exact = not _trained(b.to_frame().T).iloc[0]
    diff = ma - mb
    test = welch(ma, sa, na, mb, sb, nb, b_exact=exact)
    if test is None:
        spread = "one seed on a side, so neither the seed spread nor significance is measured"
    else:
        within = abs(diff) <= math.hypot(sa, sb)
        t, p = test
        how = (f"a one-sample t-test of {na} seeds against its one value" if exact
               else f"Welch's t-test over seeds ({na} and {nb} seeds)")
        spread = (f"{'within' if within else 'beyond'} the seed spread (combined std {math.hypot(sa, sb):.2f}); "
                  f"{'significant' if p < SIGNIFICANCE else 'not significant'} at {SIGNIFICANCE:g} by {how}, "
                  f"t {t:.2f}, p {p:.3g}")
    return diff > 0, (f"{what} {ma:.2f} ± {sa:.2f} against {mb:.2f} ± {sb:.2f} "
                      f"({diff:+.2f} points, {spread})")


def _ar100(tal: pd.DataFrame, tal_protocols: Sequence[str]) -> str | None:
    return next((f"{p}:AR@100" for p in tal_protocols if f"{p}:AR@100_pct_mean" in tal.columns), None)


def _judge(a_tal: pd.Series, a_tad: pd.Series, b_tal: pd.Series, b_tad: pd.Series,
           ar_col: str | None) -> tuple[list[bool], list[str]]:
    """Whether a beats b, and the sentence, on mean AR@100 (when the tables have it) and mean average mAP."""
    pairs = ([(a_tal, b_tal, ar_col, f"mean {ar_col}")] if ar_col else []) + [
        (a_tad, b_tad, "mAP_avg", "mean average mAP")]
    judged = [_compare(a, b, col, what) for a, b, col, what in pairs]
    return [w for w, _ in judged], [sentence for _, sentence in judged]


def floor_verdict(tal: pd.DataFrame, tad: pd.DataFrame, tal_protocols: Sequence[str], dataset: str) -> list[str]:
    """One sentence per trained row against the sliding-window floor (the first untrained row), by mean AR@100
    and mean average mAP; none without a floor."""
    floors = tal[~_trained(tal)]
    ar_col = _ar100(tal, tal_protocols)
    if floors.empty:
        return []
    f_tal = floors.iloc[0]
    f_tad = tad[tad["experiment"] == f_tal["experiment"]].iloc[0]
    out = []
    for _, a_tal in tal[_trained(tal)].iterrows():
        a_tad = tad[tad["experiment"] == a_tal["experiment"]].iloc[0]
        wins, parts = _judge(a_tal, a_tad, f_tal, f_tad, ar_col)
        judged = "beats" if all(wins) else "does not beat" if not any(wins) else "does not uniformly beat"
        out.append(f"On {dataset}, {a_tal['label']} ({a_tal['experiment']}) {judged} the floor, {f_tal['label']} "
                   f"({f_tal['experiment']}): " + "; ".join(parts) + ".")
    return out


def verdict(tal: pd.DataFrame, tad: pd.DataFrame, tal_protocols: Sequence[str], dataset: str) -> list[str]:
    """Sentences, computed from the tables: whether each trained row beats the sliding-window floor
    (``floor_verdict``), then whether each NEMI row beats RTD-Net (from scratch).

    RTD-Net is the experiment ``rtd`` (else the first trained row without pretraining); NEMI rows are those
    with a pretraining, ``nemi_self`` first. Compared: mean AR@100 (first protocol that has it) and
    mean average mAP, with each side's seed std; "better" needs a higher mean on both, a
    difference is "within the seed spread" when it is at most sqrt(std_a**2 + std_b**2), and
    "significant" when Welch's two-sided t-test over the seeds gives p < 0.05 (``welch``).
    """
    out = floor_verdict(tal, tad, tal_protocols, dataset)
    rtd_tal = _find(tal, "rtd", lambda d: (d["pretraining"] == "none") & _trained(d))
    if rtd_tal is None:
        return out + ["No row without pretraining (RTD-Net from scratch): nothing to compare NEMI with."]
    nemi = tal[tal["pretraining"] != "none"]["experiment"].tolist()
    nemi.sort(key=lambda n: n != "nemi_self")
    if not nemi:
        return out + ["No pretrained (NEMI) row: nothing to compare with RTD-Net."]
    ar_col = _ar100(tal, tal_protocols)
    rtd_tad = tad[tad["experiment"] == rtd_tal["experiment"]].iloc[0]
    for name in nemi:
        a_tal = tal[tal["experiment"] == name].iloc[0]
        a_tad = tad[tad["experiment"] == name].iloc[0]
        wins, parts = _judge(a_tal, a_tad, rtd_tal, rtd_tad, ar_col)
        judged = "better than" if all(wins) else "not better than" if not any(wins) else "not uniformly better than"
        shared = (" Its seeds fine-tune one shared pretraining run (pretrain.seeding: shared), so its spread "
                  "leaves the pretraining's out." if str(a_tal.get("pretrain_seeding", "")) == "shared" else "")
        out.append(f"On {dataset}, {a_tal['label']} ({name}) is {judged} {rtd_tal['label']} "
                   f"({rtd_tal['experiment']}): " + "; ".join(parts) + "." + shared)
    return out


def paper_comparison(tal: pd.DataFrame, tad: pd.DataFrame,
                     tal_protocols: Sequence[str]) -> tuple[pd.DataFrame, int] | None:
    """The paper's rows (as printed) above ours, in its columns; None for a dataset it has no table of."""
    paper = paper_numbers()
    if any(p.startswith("thumos14") for p in tal_protocols):
        printed = paper[paper["table"] == 1]
        metrics = ["AR@50", "AR@100", "AR@200", "AR@500", "mAP@0.7", "mAP@0.6", "mAP@0.5", "mAP@0.4", "mAP@0.3"]
        protocols = [p for p in tal_protocols if p.startswith("thumos14")]
    elif "activitynet" in tal_protocols:
        printed = paper[paper["table"] == 2]
        metrics, protocols = ["AR@1", "AR@100", "AUC"], ["activitynet"]
    else:
        return None
    rows = []
    for method, g in printed.groupby("method", sort=False):
        values = dict(zip(g["metric"], g["value_pct"]))
        rows.append({"source": "as printed in the paper", "row": method, "proposal protocol": "(paper's)"}
                    | {m: f"{values[m]:.2f}" if m in values else "" for m in metrics})
    for p in protocols:
        for _, r in tal.iterrows():
            d = tad[tad["experiment"] == r["experiment"]]
            cell = {}
            for m in metrics:
                src, col = ((d.iloc[0] if len(d) else None), m) if m.startswith("mAP@") else (r, f"{p}:{m}")
                ok = src is not None and f"{col}_pct_mean" in src.index
                cell[m] = (f"{float(src[f'{col}_pct_mean']):.2f} ± {float(src[f'{col}_pct_std']):.2f}"
                           if ok else "")
            rows.append({"source": f"ours (n={r['n_seeds']} seeds)", "row": r["label"], "proposal protocol": p}
                        | cell)
    return pd.DataFrame(rows), printed["method"].nunique()


def figure_block(fig_id: str, uri: str | None, caption: str, missing: str = "") -> str:
    if uri is None:
        return f'<p class="missing" id="{fig_id}-missing">{_esc(caption)}: not drawn ({_esc(missing)}).</p>'
    return (f'<figure id="{fig_id}"><img alt="{fig_id}" src="{uri}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def ablations_missing(index: Mapping[str, Any]) -> str:
    """Why a report has no Figure 2: no ablation experiment, or their table was not given."""
    names = [n for n, e in index["experiments"].items() if e["group"] == "ablations"]
    if not names:
        return "no experiment of group ablations in the config"
    ds = index["dataset"]
    return (f"the config has ablations ({', '.join(names)}) but their table results/{ds}_ablations.csv was not "
            f"given (--ablations): build it with `snakemake results/{ds}_ablations.csv results/{ds}_report.html`, "
            "or set report.ablations: true")


def render(index: Mapping[str, Any], tal: pd.DataFrame, tad: pd.DataFrame, ablations: pd.DataFrame | None,
           figures: Sequence[str], created: _dt.datetime | None = None) -> str:
    """The whole page; ``figures`` are HTML blocks from :func:`figure_block`, in order."""
    sha, dirty = git_state()
    created = created or _dt.datetime.now(_dt.timezone.utc)
    ds = index["dataset"]
    rehearsal = index.get("data_label")
    header = pd.DataFrame([
        ("dataset", f"{ds}: {rehearsal}" if rehearsal else ds),
        ("git commit", f"{sha}{' (uncommitted changes)' if dirty else ''}"),
        ("config hash", index["config_hash"]), ("date (UTC)", created.isoformat(timespec="seconds")),
        ("model", index["model_note"]), ("nemi version", __version__),
        ("proposal protocols", ", ".join(index["tal_protocols"])), ("detection protocol", index["tad_protocol"]),
        ("video-level class scores", index["class_scores"]),
    ], columns=["", "value"])
    keep = ["experiment", "label", "method", "pretraining", "n_seeds", "seeds", "checkpoint_rule",
            "proposals_per_video_mean"]
    title = f"{ds}, {rehearsal}" if rehearsal else ds
    parts = [f"<h1>NEMI results: {_esc(title)}</h1>", _table(header, "header"),
             "<p>Metrics are percent; ± is the sample standard deviation over seeds (0 with one seed).</p>",
             '<div class="verdict" id="verdict">' + "".join(
                 f"<p>{_esc(s)}</p>" for s in verdict(tal, tad, index["tal_protocols"], ds)) + "</div>",
             "<h2>Table 1: proposals (TAL)</h2>", _table(mean_pm_std(tal, keep), "tal-table"),
             *(f'<p class="flat" id="flat-{i}">{_esc(s)}</p>' for i, s in enumerate(flat_notes(tal))),
             "<h2>Table 1: detections (TAD)</h2>",
             _table(mean_pm_std(tad, keep + ["protocol", "class_scores", "n_videos"]), "tad-table")]
    notes = transfer_notes([tal] + ([ablations] if ablations is not None else []))
    if notes:
        parts += ["<h2>Transfer from the pretrainings</h2>",
                  "<p>Fine-tuning loads every weight of the pretraining's checkpoint whose name and shape match "
                  "its model; the rest start as initialised (the tables' columns pretrain_weights_not_loaded and "
                  "weights_not_pretrained, each run's run.json under initialised).</p>",
                  *(f'<p class="transfer" id="transfer-{i}">{_esc(s)}</p>' for i, s in enumerate(notes))]
    comparison = None if rehearsal else paper_comparison(tal, tad, index["tal_protocols"])
    if rehearsal:
        parts.append(f'<p id="no-paper">Measured on the {_esc(rehearsal)}: the paper\'s numbers are not set beside '
                     "these, which are not comparable to them.</p>")
    if comparison is not None:
        df, n_paper = comparison
        which = "Table 1, Thumos14 test set" if n_paper == 3 else "Table 2, ActivityNet-1.3 validation set"
        parts += ["<h2>Beside the paper's numbers</h2>",
                  f"<p>The first rows are the paper's {which}, as printed in the paper (single runs, its own "
                  f"data and features); ours are mean ± std over seeds on {_esc(ds)}.</p>",
                  _table(df, "paper-table", paper_rows=n_paper)]
    if ablations is None and any(e["group"] == "ablations" for e in index["experiments"].values()):
        parts += ["<h2>Ablations (TAD)</h2>",
                  f'<p class="missing" id="ablations-missing">Not shown: {_esc(ablations_missing(index))}.</p>']
    elif ablations is not None:
        parts += ["<h2>Ablations (TAD)</h2>",
                  "<p>Rows marked reference are the Table 1 rows pretrained on this dataset itself (the "
                  "default switches); Figure 2 draws them in every panel.</p>",
                  _table(mean_pm_std(ablations, ["ablation"] + keep + ["n_videos"]), "ablations-table")]
    parts += ["<h2>Figures</h2>", *figures, '<h3>Figure check</h3><pre id="figure-check">(script not run)</pre>']
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>NEMI results: {_esc(ds)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
