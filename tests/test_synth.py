"""The demo dataset: a pure plan, deterministic files, Thumos14-style annotations, HOG-visible changes."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from nemi.errors import NemiInputError
from nemi.io.provenance import sha256_file
from nemi.synth import CLASSES, plan
from nemi.synth.generate import generate, write_video

TAU = 0.0715          # labels.hog.tau in config.yaml
DECODE_FPS = 15       # decode.fps in config.yaml


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, n_videos=8, seed=0, test_fraction=0.5, workers=2)
    return out


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_plan_is_pure_and_seeded():
    assert plan(24, 0, 0.5) == plan(24, 0, 0.5)
    assert plan(24, 1, 0.5) != plan(24, 0, 0.5)
    assert [p.video_id for p in plan(3)] == ["demo000", "demo001", "demo002"]


def test_default_plan_is_varied_and_consistent():
    plans = plan(24, 0, 0.5)
    assert sum(p.split == "test" for p in plans) == 12
    assert len({p.fps for p in plans}) >= 3 and len({(p.width, p.height) for p in plans}) >= 3
    assert all(12.0 <= p.duration_s <= 40.0 for p in plans)
    assert all(p.width % 2 == 0 and p.height % 2 == 0 for p in plans)       # H.264 yuv420p
    for split in ("train", "test"):
        labels = {a.label for p in plans if p.split == split for a in p.actions}
        assert labels == set(CLASSES)
    assert sum(len(p.cuts) for p in plans) >= 24
    for p in plans:
        assert p.actions and p.scenes[0].t_start == 0 and p.scenes[-1].t_end == pytest.approx(p.duration_s)
        for a, b in zip(p.scenes, p.scenes[1:]):
            assert a.t_end == b.t_start and b.t_start - a.t_start >= 5.0 - 1e-9
        for a in p.actions:
            s = p.scenes[a.scene]
            # background before and after every action, within its shot
            assert s.t_start + 1.0 < a.t_start < a.t_end < s.t_end - 1.0
            assert 2.0 - 0.1 <= a.t_end - a.t_start <= 6.0 + 0.1
            assert round(a.t_start * p.fps, 6) == round(a.t_start * p.fps)   # on the source frame grid
        ends = sorted((a.t_start, a.t_end) for a in p.actions)
        assert all(e0 + 1.0 < s1 for (_, e0), (s1, _) in zip(ends, ends[1:]))


def test_plan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_videos"):
        plan(0)
    with pytest.raises(ValueError, match="test_fraction"):
        plan(4, 0, 1.5)
    with pytest.raises(ValueError, match="cut_inside_share"):
        plan(4, 0, 0.5, -0.1)


def _digest(plans) -> str:
    return hashlib.sha256(repr(plans).encode()).hexdigest()[:16]


def test_plan_without_cuts_inside_actions_is_the_one_before_the_option():
    """synth.cut_inside_share 0 (the schema's default) leaves the demo's and demo2's plans as they were
    (digests taken on main before the option existed), so their videos stay byte-identical."""
    assert _digest(plan(24, 0, 0.5)) == _digest(plan(24, 0, 0.5, 0.0)) == "05b5c862a2c062ee"
    assert _digest(plan(12, 1, 0.2)) == "6c4c523c3861b76d"
    assert _digest(plan(24, 7, 0.5)) == "a6e905471e5741c4"


def _inside(p) -> list[tuple[float, object]]:
    """(cut, action) for every cut strictly inside an action of ``p``."""
    return [(c, a) for c in p.cuts for a in p.actions if a.t_start < c < a.t_end]


def test_cuts_inside_actions():
    """With cut_inside_share > 0 some actions are cut inside (on the frame grid, strictly inside), with
    everything else as at share 0: the same actions (the ground truth), the same cuts between them."""
    plain, cut = plan(24, 7, 0.5), plan(24, 7, 0.5, 0.5)
    assert not any(_inside(p) for p in plain) and not any(_inside(p) for p in plan(24, 0, 0.5))
    assert cut == plan(24, 7, 0.5, 0.5)                                     # still pure
    n_actions = sum(len(p.actions) for p in cut)
    n_inside = sum(len(_inside(p)) for p in cut)
    assert 0.25 * n_actions <= n_inside <= 0.75 * n_actions, (n_inside, n_actions)
    for p0, p in zip(plain, cut):
        assert [(a.label, a.t_start, a.t_end) for a in p.actions] == [(a.label, a.t_start, a.t_end) for a in p0.actions]
        assert set(p0.cuts) <= set(p.cuts)
        assert (p.split, p.fps, p.n_frames, p.width, p.height) == (p0.split, p0.fps, p0.n_frames, p0.width, p0.height)
        assert p.scenes[0].t_start == 0 and p.scenes[-1].t_end == p0.scenes[-1].t_end
        for s0, s1 in zip(p.scenes, p.scenes[1:]):
            assert s0.t_end == s1.t_start and s0.texture_seed != s1.texture_seed
        for c, a in _inside(p):
            assert round(c * p.fps, 6) == round(c * p.fps)                    # on the source frame grid
            assert p.scenes[a.scene].t_start <= a.t_start < p.scenes[a.scene].t_end == c
        assert [t for t, kind in p.changes() if kind == "cut"] == list(p.cuts)  # scene_changes.csv lists them
    assert sum(len(_inside(p)) for p in plan(24, 7, 0.5, 1.0)) >= n_inside


def test_a_cut_inside_an_action_changes_the_background_not_the_object():
    from nemi.synth.render import CLASS_STYLE, render_frames

    p = min((q for q in plan(24, 7, 0.5, 1.0) if _inside(q)), key=lambda q: _inside(q)[0][0])
    c, a = _inside(p)[0]
    k = round(c * p.fps)                                  # the first frame of the new shot
    frames = []
    for i, f in enumerate(render_frames(p)):
        if i >= k - 1:
            frames.append(f.astype(float))
        if i == k:
            break
    before, after = frames
    colour = np.array(CLASS_STYLE[a.label][0], float)
    share = [(np.abs(f - colour).sum(axis=2) < 60).mean() for f in (before, after)]
    assert np.abs(after - before).mean() > 20, "the background changes at the cut"
    assert min(share) > 0.002 and max(share) < 3 * min(share), f"the object goes on across the cut: {share}"


def test_outputs_layout_and_formats(demo):
    from nemi.io.annotations.thumos14 import read_thumos14_txt
    from nemi.io.manifest import read_manifest

    plans = plan(8, 0, 0.5)
    manifest = read_manifest(demo / "videos.csv")
    assert list(manifest["video_id"]) == [p.video_id for p in plans]
    for p, row in zip(plans, manifest.itertuples()):
        assert row.split == p.split and (row.width, row.height) == (p.width, p.height)
        assert row.fps == pytest.approx(p.fps, abs=1e-5) and row.duration_s == pytest.approx(p.duration_s, abs=1e-5)
        with av.open(row.path) as c:
            s = c.streams.video[0]
            assert (s.codec_context.name, s.width, s.height, s.frames) == ("h264", p.width, p.height, p.n_frames)
            assert float(s.average_rate) == pytest.approx(p.fps)
    gt = _csv(demo / "annotations" / "groundtruth.csv")
    assert len(gt) == sum(len(p.actions) for p in plans)
    assert set(gt[0]) == {"video_id", "t_start", "t_end", "label", "split"}
    for split in ("train", "test"):
        official = read_thumos14_txt(demo / "annotations" / split, split)
        ours = [r for r in gt if r["split"] == split]
        assert len(official) == len(ours)
        assert sorted(zip(official["video_id"], official["label"])) == sorted((r["video_id"], r["label"]) for r in ours)
        assert sorted(official["t_start"]) == pytest.approx(sorted(float(r["t_start"]) for r in ours), abs=1e-3)
    changes = _csv(demo / "annotations" / "scene_changes.csv")
    assert {c["kind"] for c in changes} == {"cut", "action_start", "action_end"}
    assert len(changes) == sum(len(p.changes()) for p in plans)
    meta = json.loads((demo / "synth.json").read_text())
    assert meta["params"] == {"n_videos": 8, "seed": 0, "test_fraction": 0.5, "cut_inside_share": 0.0}
    assert meta["stage"] == "synth" and meta["n_cuts_inside_actions"] == 0
    assert not [f for f in demo.rglob("*") if ".tmp-" in f.name]


def test_video_files_are_deterministic(demo, tmp_path):
    p = min(plan(8, 0, 0.5), key=lambda q: q.n_frames)
    again = tmp_path / "again.mp4"
    write_video(p, again)
    assert sha256_file(again) == sha256_file(demo / "videos" / f"{p.video_id}.mp4")


def test_actions_look_different_per_class(tmp_path):
    """Each class draws its own colour: the colour of what changed when the action began identifies it."""
    from nemi.synth.render import CLASS_STYLE, render_frames

    base = plan(1, 3)[0]
    s = base.scenes[0]
    for label in CLASSES:
        a = replace(base.actions[0], label=label, scene=0, t_start=s.t_start + 1.5, t_end=s.t_start + 3.0,
                    close_up=1.0)
        p = replace(base, actions=(a,), n_frames=int(base.fps * 4))
        frames = list(render_frames(p))
        k_in = int(2.0 * base.fps)
        before, during = frames[int(1.0 * base.fps)].astype(float), frames[k_in].astype(float)
        changed = np.abs(during - before).sum(axis=2) > 60
        colour = np.median(during[changed], axis=0)
        nearest = min(CLASSES, key=lambda c: np.abs(colour - CLASS_STYLE[c][0]).sum())
        assert nearest == label, (label, colour)


def test_cli_rejects_bad_arguments(tmp_path):
    import argparse

    from nemi.synth import cli

    parser = argparse.ArgumentParser(prog="nemi")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["synth", "--out", str(tmp_path / "x"), "--n-videos", "0"])
    with pytest.raises(NemiInputError, match="synth.n_videos must be >= 1"):
        args.func(args)
    assert not (tmp_path / "x").exists()


def test_hog_finds_most_cuts(demo):
    """HOG change detection (d_t > tau on the 15 fps timeline) against the demo's true changes.

    Per kind of change: the share found within +-1 timeline frame; and the false-positive
    rate: frames with d_t > tau farther than one frame from every true change.
    """
    from nemi.detectors.hog import hog_distance_curve
    from nemi.decode import iter_timeline
    from nemi.io.frames import decode_jpeg, encode_jpeg

    found = {"cut": [0, 0], "action_start": [0, 0], "action_end": [0, 0]}
    false_pos = frames_far = 0
    for p in plan(8, 0, 0.5):
        # as the pipeline sees them: decoded at 160x120, stored as JPEG q90, HOG at 96x128
        frames = (decode_jpeg(encode_jpeg(f, 90))
                  for f in iter_timeline(demo / "videos" / f"{p.video_id}.mp4", DECODE_FPS, 160, 120))
        d = hog_distance_curve(frames)            # d[m] compares timeline frames m and m+1
        near = np.zeros(len(d), bool)
        for t, kind in p.changes():
            j = math.ceil(t * DECODE_FPS - 1e-9)  # first timeline frame that shows the change
            window = [m for m in (j - 2, j - 1, j) if 0 <= m < len(d)]
            near[window] = True
            found[kind][1] += 1
            found[kind][0] += bool(window) and bool((d[window] > TAU).any())
        false_pos += int((d[~near] > TAU).sum())
        frames_far += int((~near).sum())
    rate = {k: hit / n for k, (hit, n) in found.items()}
    print(f"HOG change detection on the demo (tau={TAU}): found {found}, "
          f"false positives {false_pos}/{frames_far} frames")
    assert found["cut"][1] >= 8
    assert rate["cut"] >= 0.8                       # camera cuts: clear HOG changes
    assert rate["action_start"] >= 0.5 and rate["action_end"] >= 0.5   # close-up actions (75 % planned)
    assert false_pos <= 0.02 * frames_far           # within-shot motion stays mostly below tau
