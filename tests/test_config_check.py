"""A user's config is checked as a whole, and only what it builds (issue 18, item 2).

Each test is a reproduction that passed silently, or failed late or loudly, before: a user's valid top-level
override refused because of the shipped demo, keys that disagree refused only once a job runs (or never), and
a misspelt key answered with thousands of lines of schema."""

from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from nemi.datasets import check_config, check_rules, deep_merge, effective_config
from nemi.errors import NemiConfigError
from nemi.experiments import check_pretraining
from tests.conftest import REPO
from tests.test_workflow import planned_jobs, snakemake

# A user's own config, given with --configfile on top of the shipped config.yaml (which defines the demo):
# 7-frame snippets in 15-frame windows are valid, but the demo's 8-frame windows are not (8 - 7 is odd).
MINE = {
    "targets": ["mydata"],
    "datasets": {"mydata": {"videos": {"source": "synth", "shard_size": 4},
                            "synth": {"n_videos": 6, "test_fraction": 0.34, "seed": 7},
                            "labels": {"kinds": ["hog"]}}},
    "features": {"snippet_frames": 7, "window_frames": 15},
}


def _shipped(**changes) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    return deep_merge(cfg, changes)


def _with_user_config(workdir, mine: dict) -> None:
    """The shipped config.yaml in the working directory (as in a clone) and the user's mine.yaml beside it."""
    shutil.copy(REPO / "config.yaml", workdir / "config.yaml")
    (workdir / "mine.yaml").write_text(yaml.safe_dump(mine, sort_keys=False))


def test_a_users_top_level_override_is_not_judged_on_the_demo_it_does_not_build(tmp_path):
    _with_user_config(tmp_path, MINE)
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "datasets.demo" not in out and planned_jobs(out)["synth"] == 1
    # Named as a target, the same user's own file plans without a targets: key of theirs too.
    _with_user_config(tmp_path, {k: v for k, v in MINE.items() if k != "targets"})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/mydata/pseudo_labels/hog.json")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    # The demo is still checked when a target reaches it, under the user's overrides it then inherits.
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/demo/pseudo_labels/hog.json")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "datasets.demo: window_frames - snippet_frames must be even" in out, out[-3000:]


def test_a_misspelt_top_level_key_is_one_line_naming_the_nearest_known_key(tmp_path):
    _with_user_config(tmp_path, {"featurs": {"snippet_frames": 7}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "config: unknown key 'featurs'; did you mean 'features'?" in out, out[-3000:]
    assert len(out.splitlines()) < 20, f"{len(out.splitlines())} lines"  # not the whole schema (2,000+ lines)


@pytest.mark.parametrize("changes,message", [
    ({"featurs": {}}, "config: unknown key 'featurs'; did you mean 'features'?"),
    ({"labels": {"hog": {"tua": 0.1}}}, "config: unknown key 'labels.hog.tua'; did you mean 'tau'?"),
    ({"datasets": {"demo": {"decod": {}}}}, "config: unknown key 'datasets.demo.decod'; did you mean 'decode'?"),
    ({"zzz": 1}, "config: unknown key 'zzz' (known: changes, datasets, "),
    ({"decode": {"fps": "fast"}}, "config: decode.fps: 'fast' is not of type 'number'"),
])
def test_a_config_error_is_one_line(changes, message):
    with pytest.raises(NemiConfigError) as err:
        check_config(_shipped(**changes))
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_the_shipped_config_passes_the_whole_config_check():
    check_config(_shipped())


def _demo(**changes) -> dict:
    """The demo dataset's merged config, with ``changes`` applied to the demo's entry."""
    cfg = _shipped(datasets={"demo": changes})
    return cfg, effective_config(cfg, "demo")


@pytest.mark.parametrize("where, old, home", [
    ({"train": {"window_steps": 16}}, "train.window_steps", "model.window_steps"),
    ({"datasets": {"demo": {"train": {"window_steps": 16}}}}, "datasets.demo.train.window_steps",
     "datasets.demo.model.window_steps"),
    ({"presets": {"small_cpu": {"pretrain": {"train": {"window_steps": 16}}}}},
     "presets.small_cpu.pretrain.train.window_steps", "presets.small_cpu.model.window_steps"),
    ({"pretrain": {"query_strategy": "activity_query"}}, "pretrain.query_strategy", "pretrain.model.query_strategy"),
    ({"datasets": {"demo": {"pretrain": {"classification": "bce"}}}}, "datasets.demo.pretrain.classification",
     "datasets.demo.pretrain.model.classification"),
    ({"pretrainings": {"demo_query": {"query_strategy": "activity_query"}}}, "pretrainings.demo_query.query_strategy",
     "pretrainings.demo_query.model.query_strategy"),
])
def test_a_key_that_had_two_homes_is_refused_naming_its_one_home(where, old, home):
    import re

    with pytest.raises(NemiConfigError, match=rf"config: {re.escape(old)} is no longer a key: it is written once, "
                                              rf"as {re.escape(home)}"):
        check_config(_shipped(**where))


def test_a_stride_longer_than_the_models_window_is_refused_naming_both_keys():
    from nemi.fit.params import FitParams

    _, eff = _demo(model={"window_steps": 4})
    with pytest.raises(NemiConfigError, match=r"train\.test_stride \(8\) is longer than a window, "
                                              r"model\.window_steps \(4\)"):
        FitParams.from_dict({"model": eff["model"], "train": eff["train"]})


def test_a_moved_key_stops_the_plan_naming_its_home(tmp_path):
    _with_user_config(tmp_path, {"datasets": {"demo": {"train": {"window_steps": 20}}}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert ("config: datasets.demo.train.window_steps is no longer a key: it is written once, as "
            "datasets.demo.model.window_steps") in out, out[-3000:]


@pytest.mark.parametrize("kind", ["hog", "cnn"])
def test_a_minimum_activity_above_the_maximum_is_refused_naming_both(kind):
    from nemi import detectors
    from nemi.params import build

    with pytest.raises(NemiConfigError, match=rf"labels\.{kind}\.min_activity_frames \(100\) is above "
                                              rf"labels\.{kind}\.max_activity_frames \(90\)"):
        build(detectors.get(kind).boundary_params, {"min_activity_frames": 100, "max_activity_frames": 90})
    build(detectors.get(kind).boundary_params, {"min_activity_frames": 90, "max_activity_frames": 90})


def test_a_minimum_activity_above_the_maximum_stops_the_plan(tmp_path):
    _with_user_config(tmp_path, {"datasets": {"demo": {"labels": {"hog": {"min_activity_frames": 100,
                                                                           "max_activity_frames": 90}}}}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml")
    out = res.stdout + res.stderr
    assert res.returncode != 0, "planned: the labels job would succeed with no activity"
    assert ("datasets.demo: labels.hog.min_activity_frames (100) is above labels.hog.max_activity_frames "
            "(90)") in out, out[-3000:]


def test_a_pseudo_activity_shorter_than_one_model_step_is_refused_naming_both():
    # The demo's steps are one 8-frame snippet (train.step_frames null): a 2-frame activity is below it.
    cfg, eff = _demo(labels={"hog": {"min_activity_frames": 2}})
    with pytest.raises(NemiConfigError, match=r"pretrainings\.demo_hog \(dataset demo\): labels\.hog\."
                                              r"min_activity_frames \(2\) is below one step of the pretraining's "
                                              r"grid, train\.step_frames \(null: one snippet, features\."
                                              r"snippet_frames\) \(8 frames\)"):
        check_pretraining(cfg, "demo_hog", eff)
    check_pretraining(cfg, "demo_cnn", eff)  # the CNN activities (8 frames at least) are a step long
    # With steps of their own (RTD-Net's 5 frames), 5-frame activities are a step; 4-frame ones are not.
    cfg, eff = _demo(labels={"hog": {"min_activity_frames": 5}}, train={"step_frames": 5})
    check_pretraining(cfg, "demo_hog", eff)
    cfg, eff = _demo(labels={"hog": {"min_activity_frames": 4}}, pretrain={"train": {"step_frames": 5}})
    with pytest.raises(NemiConfigError, match=r"labels\.hog\.min_activity_frames \(4\) .* pretrain\.train\."
                                              r"step_frames \(5 frames\)"):
        check_pretraining(cfg, "demo_hog", eff)
    # A step that is a share of each video (rescale_steps) has no length in frames to compare.
    cfg, eff = _demo(labels={"hog": {"min_activity_frames": 1}}, train={"rescale_steps": 16})
    check_pretraining(cfg, "demo_hog", eff)


@pytest.mark.parametrize("kind", ["hog", "cnn"])
def test_a_dataset_whose_pseudo_activities_are_shorter_than_one_step_is_refused_naming_both(kind):
    # Refused with the dataset, whichever pretraining (if any) reads its labels.
    _, eff = _demo(labels={kind: {"min_activity_frames": 4}})
    with pytest.raises(NemiConfigError, match=rf"datasets\.demo: labels\.{kind}\.min_activity_frames \(4\) is "
                                              r"below one step of the dataset's grid, train\.step_frames \(null: "
                                              r"one snippet, features\.snippet_frames\) \(8 frames\)"):
        check_rules(eff)
    _, eff = _demo(labels={kind: {"min_activity_frames": 4}}, pretrain={"train": {"step_frames": 4}})
    check_rules(eff)  # the pretraining's own steps of 4 frames are the grid
    _, eff = _demo(labels={kind: {"min_activity_frames": 4}}, pretrain={"train": {"step_frames": 5}})
    with pytest.raises(NemiConfigError, match=rf"labels\.{kind}\.min_activity_frames \(4\) .* pretrain\.train\."
                                              r"step_frames \(5 frames\)"):
        check_rules(eff)


def test_the_shortest_pseudo_activity_follows_the_grid_by_default():
    cfg = _shipped()
    # The demo's preset writes no minimum: what it gets is the default's.
    assert all("min_activity_frames" not in v for v in cfg["presets"]["small_cpu"]["labels"].values())

    def shortest(**changes):
        eff = effective_config(deep_merge(cfg, {"datasets": {"demo": changes}}), "demo")
        check_rules(eff)
        return eff["labels"]["hog"]["min_activity_frames"], eff["labels"]["cnn"]["min_activity_frames"]

    assert shortest() == (8, 8)  # the demo's steps are one 8-frame snippet
    assert shortest(train={"step_frames": 5}) == (5, 5)  # RTD-Net's steps
    assert shortest(pretrain={"train": {"step_frames": 10}}) == (10, 10)  # the pretraining's own
    assert shortest(features={"snippet_frames": 4, "window_frames": 8}) == (4, 4)
    # Steps that are a share of each video have no length in frames: one feature snippet, the finest.
    assert shortest(train={"rescale_steps": 16}) == (8, 8)
    assert shortest(labels={"hog": {"min_activity_frames": 12}}) == (12, 8)  # a value given is kept
    # Thumos14's are one RTD-Net step, 5 frames; the demo's effective minimum is its 8 frames as before.
    thumos = deep_merge(_shipped(), yaml.safe_load((REPO / "workflow" / "configs" / "thumos14.yaml").read_text()))
    assert effective_config(thumos, "thumos")["labels"]["hog"]["min_activity_frames"] == 5
    demo = effective_config(_shipped(), "demo")["labels"]
    assert [(demo[k]["min_activity_frames"], demo[k]["max_activity_frames"]) for k in ("hog", "cnn")] == [(8, 90)] * 2


def test_a_pseudo_activity_shorter_than_one_step_stops_the_plan(tmp_path):
    _with_user_config(tmp_path, {"datasets": {"demo": {"labels": {"cnn": {"min_activity_frames": 4}}}}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml")
    out = res.stdout + res.stderr
    assert res.returncode != 0, "planned a pretraining on activities shorter than a step"
    assert "datasets.demo: labels.cnn.min_activity_frames (4) is below one step of the dataset's grid" in out, \
        out[-3000:]


def test_activity_queries_outside_a_pretraining_are_refused_naming_both_keys(tmp_path):
    _, eff = _demo(model={"query_strategy": "activity_query"})
    with pytest.raises(NemiConfigError, match=r"datasets\.demo: model\.query_strategy is activity_query, which "
                                              r"only a pretraining uses: set pretrain\.model\.query_strategy"):
        check_rules(eff)
    cfg, eff = _demo()
    check_rules(eff)
    check_pretraining(cfg, "demo_query", eff)  # the demo's own activity-query pretraining
    _with_user_config(tmp_path, {"datasets": {"demo": {"model": {"query_strategy": "activity_query"}}}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml")
    assert res.returncode != 0 and "model.query_strategy is activity_query" in res.stdout + res.stderr


def test_the_shipped_thumos14_config_passes_every_rule():
    """thumos14.yaml's datasets and pretrainings, merged as Snakemake merges them (its manifest is the user's)."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in ("thumos14.yaml", "thumos14_rehearsal.yaml"):
        cfg = deep_merge(cfg, yaml.safe_load((REPO / "workflow" / "configs" / name).read_text()))
        check_config(cfg)
        eff = effective_config(copy.deepcopy(cfg), "thumos")
        check_rules(eff)
        for pre in ("thumos_hog", "thumos_cnn", "thumos_query", "thumos_nocon", "thumos_noreas"):
            check_pretraining(cfg, pre, eff)
