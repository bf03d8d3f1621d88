"""The rehearsal dataset: synthetic features on a benchmark's real annotations (``nemi features rehearsal``).

No Thumos14 or ActivityNet-1.3 video or published feature file can reach most machines, so this writes a
stand-in that every stage after feature extraction reads as it would read the published features: one
``<video>.npy`` per video, ``(T, 2048)`` float32, the ActionFormer layout ``nemi features import`` reads
(``LAYOUTS``), at each video's true fps and frame count, for every annotated video of the benchmark
(``benchmark``):

- ``thumos14``: the 200 validation and 213 test videos, 8-frame snippets every 8 frames (RTD-Net's
  features), fps and frame counts from ``TH14_video_info.json`` (RTD-Net's test CSV for
  video_test_0001292, which the former lacks, as the adapter does);
- ``activitynet13``: BSN's ``anet_anno_action.json`` with its ``video_info_new.csv``: the 9,649 training
  and 4,728 validation videos of its 19,228 (the 4,851 testing videos have no public labels; the adapter
  leaves them out), 16-frame snippets every 16 frames (ActivityNet's), which training rescales to
  ``train.rescale_steps`` steps per video as it does BSN's features.

``max_videos`` takes a subset (``subset_of``): each split's share, the test videos whose id hashes lowest,
then training videos of their classes only (a classifier trained on a class the evaluated videos lack
names a label the evaluation refuses), the same for every seed. Beside the features: the
manifest and the ground truth the adapter makes from the same files (the official annotations,
unchanged, of the subset's videos), and ``rehearsal.json`` (parameters, input hashes, the subset, counts,
code version).

What a snippet holds (``RehearsalParams``; everything a pure function of ``seed`` and the video id):

- background: one random vector per scene; scenes are cut at random inside background stretches (mean
  scene length ``scene_mean_s``) and inside a share ``cut_inside_share`` of the actions, so a change
  detector finds boundaries that are not actions' (as the CNN decomposition must);
- an action: its class's prototype plus a per-instance offset (``instance_sd``, relative to the
  prototype's norm), blended over the background with a linear ramp of ``transition_snippets``
  snippets centred on each boundary (soft boundaries, as real features have);
- an Ambiguous span (Thumos14's): an equal mixture of two class prototypes, at half strength over the background;
- Gaussian noise at ``snr_db``: the clean features' mean power over the noise's, in decibels.

What a model can learn from it: where actions are and how long, from a change of feature content that
a class-agnostic proposal model can read (and a sliding window, which reads no feature, cannot), that
scene cuts inside an action are not boundaries (its prototype persists across them), and the class
of each action from its prototype. What it cannot: anything about how the benchmark looks or moves (I3D's
statistics, appearance, motion, context), so no transfer to real features, and no number here is
comparable to a paper's: the tables and the report label it ``LABELS[benchmark]``, "rehearsal (synthetic
features on Thumos14's annotations)" or "... on ActivityNet-1.3's annotations)".
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from nemi.errors import NemiInputError
from nemi.io.annotations.adapters import DatasetTables, activitynet_tables, thumos14_tables
from nemi.io.annotations.thumos14 import THUMOS14_CLASSES
from nemi.io.atomic import write_text_atomic
from nemi.io.features import FEATURE_DIM
from nemi.io.provenance import provenance, sha256_file

log = logging.getLogger("nemi.features.rehearsal")

VERSION = 1
BENCHMARKS = ("thumos14", "activitynet13")
# How every table and the report name this data, so that no reader takes its numbers for real ones.
LABELS = {"thumos14": "rehearsal (synthetic features on Thumos14's annotations)",
          "activitynet13": "rehearsal (synthetic features on ActivityNet-1.3's annotations)"}
# The published layout the files are written in, as features.import keys (nemi features import reads it):
# RTD-Net's Thumos14 snippets (8 frames), ActivityNet's (16 frames, as BSN's and TSP's features).
LAYOUTS = {"thumos14": {"format": "actionformer", "stride_frames": 8, "window_frames": 8, "offset_frames": 0},
           "activitynet13": {"format": "actionformer", "stride_frames": 16, "window_frames": 16, "offset_frames": 0}}
AMBIGUOUS = "Ambiguous"


@dataclass(frozen=True)
class RehearsalParams:
    """Config section ``features.rehearsal`` (ranges in the schema; checked here too for direct callers)."""

    SECTION: ClassVar[str] = "features.rehearsal"
    benchmark: str          # whose annotation files: thumos14 or activitynet13
    annotations: str        # thumos14: the official per-class files (a folder) or RTD-Net's thumos14_anno_action.json;
                            # activitynet13: BSN's anet_anno_action.json or the official activity_net.v1-3.min.json
    video_info: list        # thumos14: TH14_video_info.json, then thumos14_test_groundtruth.csv (video_test_0001292);
                            # activitynet13: BSN's video_info_new.csv
    max_videos: int | None  # a subset of this many videos (subset_of); None: every annotated video
    seed: int
    snr_db: float           # clean-feature power over noise power, dB
    instance_sd: float      # per-instance offset from the class prototype, relative to its norm
    scene_mean_s: float     # mean scene length in background stretches, seconds
    cut_inside_share: float  # share of actions with a scene cut inside
    transition_snippets: float  # width of the ramp at an action's boundaries, snippets

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"{self.SECTION}.benchmark: {self.benchmark!r} is not one of {list(BENCHMARKS)}")
        if self.max_videos is not None and (isinstance(self.max_videos, bool) or not isinstance(self.max_videos, int)
                                            or self.max_videos < 2):
            raise ValueError(f"{self.SECTION}.max_videos: {self.max_videos!r} must be an integer >= 2 (one training "
                             "and one test video at least) or null (every video)")
        checks = {"seed": 0 <= self.seed < 2**32, "snr_db": -30 <= self.snr_db <= 60,
                  "instance_sd": 0 <= self.instance_sd <= 2, "scene_mean_s": self.scene_mean_s > 0,
                  "cut_inside_share": 0 <= self.cut_inside_share <= 1,
                  "transition_snippets": 0 <= self.transition_snippets <= 16}
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"{self.SECTION}.{key}: {getattr(self, key)!r} is out of range "
                                 "(see nemi/schemas/config.schema.yaml)")


def _rng(seed: int, *key: str | int) -> np.random.Generator:
    # A video's draws depend on the seed and its id only: any subset, in any order, gives the same files.
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) if isinstance(k, str) else k for k in key)])


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, FEATURE_DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True) * np.sqrt(FEATURE_DIM)).astype(np.float32)


def prototypes(seed: int, classes: list[str] | tuple[str, ...] = THUMOS14_CLASSES) -> dict[str, np.ndarray]:
    """Class -> (2048,) prototype, RMS 1 per dimension; ``classes`` in the benchmark's order (``tables``)."""
    return dict(zip(classes, _unit(_rng(seed, "prototypes"), len(classes))))


def _ramp(t: np.ndarray, start: float, end: float, width_s: float) -> np.ndarray:
    """Weight of [start, end] at times t: 1 inside, 0 outside, linear over width_s centred on each boundary."""
    if width_s <= 0:
        return ((t >= start) & (t < end)).astype(np.float32)
    w = np.minimum(t - start, end - t) / width_s + 0.5
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def video_features(video_id: str, n_snippets: int, fps: float, segments: np.ndarray, labels: list[str],
                   p: RehearsalParams, protos: dict[str, np.ndarray]) -> np.ndarray:
    """(n_snippets, 2048) float32 of one video. segments: (N, 2) seconds, already clipped to the video."""
    rng = _rng(p.seed, video_id)
    snippet_s = LAYOUTS[p.benchmark]["stride_frames"] / fps
    t = (np.arange(n_snippets) + 0.5) * snippet_s  # snippet centres
    duration_s = n_snippets * snippet_s
    # Scene cuts: a Poisson process over the whole video, then those inside actions kept only for a
    # share of the actions (one cut each, somewhere in its middle half), so cuts mark background changes.
    n_cuts = rng.poisson(duration_s / p.scene_mean_s)
    cuts = np.sort(rng.uniform(0, duration_s, n_cuts))
    actions = [i for i, lab in enumerate(labels) if lab != AMBIGUOUS]
    inside = np.zeros(len(cuts), bool)
    for i in actions:
        inside |= (cuts > segments[i, 0]) & (cuts < segments[i, 1])
    cuts = list(cuts[~inside])
    for i in actions:
        if rng.random() < p.cut_inside_share:
            s, e = segments[i]
            cuts.append(s + (e - s) * rng.uniform(0.25, 0.75))
    scene = np.searchsorted(np.sort(np.asarray(cuts, dtype=np.float64)), t)
    x = _unit(rng, int(scene.max()) + 1)[scene]
    width_s = p.transition_snippets * snippet_s
    for (s, e), lab in zip(segments, labels):
        lo, hi = np.searchsorted(t, [s - width_s, e + width_s])
        if hi <= lo:
            continue
        if lab == AMBIGUOUS:
            classes = list(protos)
            a, b = rng.choice(len(classes), 2, replace=False)
            target = 0.5 * (protos[classes[a]] + protos[classes[b]])
            strength = 0.5
        else:
            target = protos[lab] + p.instance_sd * _unit(rng, 1)[0]
            strength = 1.0
        w = strength * _ramp(t[lo:hi], s, e, width_s)[:, None]
        x[lo:hi] = (1 - w) * x[lo:hi] + w * target
    noise_sd = np.sqrt(np.mean(np.square(x)) / 10 ** (p.snr_db / 10))
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(noise_sd)
    return x


def _video_info(p: RehearsalParams) -> list[Path]:
    info_files = [Path(f) for f in p.video_info]
    if not info_files:
        need = {"thumos14": "TH14_video_info.json and thumos14_test_groundtruth.csv",
                "activitynet13": "BSN's video_info_new.csv"}[p.benchmark]
        raise NemiInputError(f"{p.SECTION}.video_info: no video-info file ({need} give each video's fps and "
                             "frame count)")
    for f in info_files:
        if not f.is_file():
            raise NemiInputError(f"{f}: video-info file not found ({p.SECTION}.video_info)")
    if p.benchmark == "activitynet13" and len(info_files) != 1:
        raise NemiInputError(f"{p.SECTION}.video_info: ActivityNet-1.3 takes one video-info file (BSN's "
                             f"video_info_new.csv), not {len(info_files)}: {[str(f) for f in info_files]}")
    return info_files


def tables(p: RehearsalParams) -> tuple[DatasetTables, list[str], dict]:
    """The rehearsal's manifest and ground truth (its subset where ``max_videos`` is set), the benchmark's
    classes (prototype order: of every annotated video, so that a subset draws the same prototypes) and
    the subset's record. What the DAG is planned from and what ``generate`` writes: one function, one list."""
    info_files = _video_info(p)
    if p.benchmark == "thumos14":
        t = thumos14_tables(p.annotations, info_files)
        classes = list(THUMOS14_CLASSES)
    else:
        t = activitynet_tables(p.annotations, info_files[0])
        classes = sorted(set(t.ground_truth["label"]))
    m = t.manifest
    bad = m[~(pd.to_numeric(m["fps"], errors="coerce") > 0)
            | ~(pd.to_numeric(m["frame_count"], errors="coerce").fillna(0) >= 1)]
    if len(bad):
        raise NemiInputError(f"{[str(f) for f in info_files]}: {len(bad)} video(s) of {p.annotations} have no "
                             f"positive fps and frame count, e.g. {', '.join(bad['video_id'][:10])} (the rehearsal "
                             "renders each video at its own length)")
    manifest, record = subset_of(m, t.ground_truth, p.max_videos)
    gt = t.ground_truth[t.ground_truth["video_id"].isin(set(manifest["video_id"]))].reset_index(drop=True)
    return DatasetTables(manifest, gt), classes, record


SUBSET_RULE = ("each split's share of the videos (largest remainder, at least one each); the test videos whose "
               "id's crc32 is lowest (ties by id), then as many training videos, lowest crc32 first, among those "
               "whose every class is one of the chosen test videos' (so the classifier names only classes the "
               "evaluation knows); the same for every seed")


def subset_of(manifest: pd.DataFrame, ground_truth: pd.DataFrame,
              max_videos: int | None) -> tuple[pd.DataFrame, dict]:
    """``max_videos`` of the manifest's videos by ``SUBSET_RULE`` (all of them where None or as many), and
    its record for rehearsal.json."""
    counts = {s: int(n) for s, n in manifest["split"].value_counts().sort_index().items()}
    record = {"max_videos": max_videos, "rule": SUBSET_RULE, "n_videos_annotated": len(manifest),
              "by_split_annotated": counts}
    if max_videos is None or max_videos >= len(manifest):
        return manifest, {**record, "by_split": counts}
    # Largest remainder, then every present split keeps one video: a subset still trains and is evaluated.
    quota = {s: max_videos * n / len(manifest) for s, n in counts.items()}
    want = {s: int(q) for s, q in quota.items()}
    for s in sorted(quota, key=lambda s: (want[s] - quota[s], s))[:max_videos - sum(want.values())]:
        want[s] += 1
    for s in want:
        if want[s] == 0:
            want[s] = 1
            want[max(want, key=lambda k: (want[k], k))] -= 1
    rank = manifest["video_id"].map(lambda v: zlib.crc32(v.encode()))
    ordered = manifest.assign(_rank=rank).sort_values(["_rank", "video_id"], kind="stable")
    classes_of = {v: set(g) - {AMBIGUOUS} for v, g in ground_truth.groupby("video_id")["label"]}
    test = ordered[ordered["split"] == "test"].head(want.get("test", 0))
    known = set().union(*(classes_of.get(v, set()) for v in test["video_id"])) if len(test) else None
    kept = [test]
    for s, n in want.items():
        if s == "test":
            continue
        rows = ordered[ordered["split"] == s]
        if known is not None:
            rows = rows[[classes_of.get(v, set()) <= known for v in rows["video_id"]]]
        kept.append(rows.head(n))
    keep = pd.concat(kept)
    out = manifest.loc[sorted(keep.index)].reset_index(drop=True)
    return out, {**record, "by_split": {s: int(n) for s, n in out["split"].value_counts().sort_index().items()}}


def generate(out_dir: str | os.PathLike, p: RehearsalParams, *, video_ids: list[str] | None = None) -> dict:
    """Write the rehearsal dataset into ``out_dir`` (replaced whole, atomically); returns its record."""
    started = time.monotonic()
    info_files = _video_info(p)
    t, classes, subset = tables(p)
    manifest, gt = t.manifest, t.ground_truth
    if video_ids is not None:
        unknown = sorted(set(video_ids) - set(manifest["video_id"]))
        if unknown:
            where = f" (the subset of {p.max_videos}, {p.SECTION}.max_videos)" if p.max_videos else ""
            raise NemiInputError(f"{p.annotations}: no video {unknown[:5]} in the annotations{where}")
        manifest = manifest[manifest["video_id"].isin(video_ids)].reset_index(drop=True)
        gt = gt[gt["video_id"].isin(video_ids)].reset_index(drop=True)
    layout = LAYOUTS[p.benchmark]
    protos = prototypes(p.seed, classes)
    by_video = {v: g for v, g in gt.groupby("video_id", sort=False)}
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the folder is a shared artifact
    clipped = outside = n_snippets_total = 0
    try:
        for row in manifest.itertuples():
            n = -(-int(row.frame_count) // layout["stride_frames"])  # a partial last snippet counts, as RTD-Net's
            g = by_video.get(row.video_id)
            segs = np.zeros((0, 2)) if g is None else g[["t_start", "t_end"]].to_numpy(np.float64)
            labels = [] if g is None else list(g["label"])
            duration_s = float(row.frame_count) / float(row.fps)
            # Both benchmarks' files hold segments past a video's end: rendered clipped to it, counted; those
            # starting after the end cannot be rendered and are counted apart (the windows leave them out).
            past = segs[:, 1] > duration_s
            after = segs[:, 0] >= duration_s
            clipped += int((past & ~after).sum())
            outside += int(after.sum())
            keep = ~after
            segs = np.minimum(segs[keep], duration_s)
            labels = [lab for lab, k in zip(labels, keep) if k]
            x = video_features(row.video_id, n, float(row.fps), segs, labels, p, protos)
            np.save(tmp / f"{row.video_id}.npy", x)
            n_snippets_total += n
        manifest.to_csv(tmp / "videos.csv", index=False)
        gt.to_csv(tmp / "groundtruth.csv", index=False)
        record = {**provenance("features_rehearsal"), "label": LABELS[p.benchmark], "version": VERSION,
                  "params": asdict(p), "layout": layout, "feature_dim": FEATURE_DIM, "dtype": "float32",
                  "subset": subset, "n_classes": len(classes),
                  "inputs_sha256": {str(f): sha256_file(f) for f in _input_files(p.annotations, info_files)},
                  "n_videos": len(manifest), "n_snippets": n_snippets_total,
                  "n_segments_clipped_to_duration": clipped, "n_segments_after_duration": outside,
                  "seconds": round(time.monotonic() - started, 1)}
        write_text_atomic(tmp / "rehearsal.json", json.dumps(record, indent=1, sort_keys=True))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if clipped or outside:
        log.warning("%d segment(s) run past their video's end and were rendered clipped to it; %d start after "
                    "it and were not rendered (the ground truth keeps them as given)", clipped, outside)
    log.info("rehearsal: %d videos, %d snippets in %.1f s -> %s", len(manifest), n_snippets_total,
             record["seconds"], out_dir)
    return record


def _input_files(annotations: str, info_files: list[Path]) -> list[Path]:
    a = Path(annotations)
    return sorted(a.rglob("*.txt")) + info_files if a.is_dir() else [a, *info_files]

