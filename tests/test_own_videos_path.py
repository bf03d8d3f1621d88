"""README's own-videos path, as a newcomer walks it (issue 18, item 6).

Each test is a reproduction that went wrong silently or loudly before: a table of a dataset no experiment
names (planned as an empty table), a README command whose target ``--configfile`` swallows, a new dataset
left on the Thumos14 setting (TV-L1, hours on a CPU) without a word, a user's experiment that merges into
the demo's of the same name, and a resume checkpoint read as a model file with the wrong windows.
(The run hash that identifies its data is tested in tests/test_train_cli.py.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nemi.datasets import effective_config
from nemi.errors import NemiConfigError
from tests.conftest import REPO
from tests.test_workflow import planned_jobs, snakemake

# A user's dataset of their own, given with --configfile on top of the shipped config.yaml (as in a clone).
MINE = {"targets": ["mydata"],
        "datasets": {"mydata": {"videos": {"source": "synth", "shard_size": 6},
                                "synth": {"n_videos": 6, "test_fraction": 0.34, "seed": 7},
                                "preset": "small_cpu", "labels": {"kinds": ["hog"]}}}}
EXPERIMENTS = {"mydata_rtd": {"dataset": "mydata", "seeds": [0]},
               "mydata_floor": {"dataset": "mydata", "method": "sliding_window",
                                "sliding_window": {"scales_s": [1, 2, 4]}}}


def _with_user_config(workdir: Path, mine: dict) -> None:
    shutil.copy(REPO / "config.yaml", workdir / "config.yaml")
    (workdir / "mine.yaml").write_text(yaml.safe_dump(mine, sort_keys=False))


def _shipped() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


# --- A table needs experiments -------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["results/mydata_tad.csv", "results/mydata_report.html",
                                    "results/mydata_ablations.csv"])
def test_a_table_of_a_dataset_no_experiment_names_is_refused_saying_how_to_add_one(tmp_path, target):
    _with_user_config(tmp_path, MINE)
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", target)
    out = res.stdout + res.stderr
    # Before: two report jobs, and an empty table.
    assert res.returncode != 0, out[-3000:]
    assert "no experiment" in out and "dataset mydata" in out and "experiments:" in out, out[-3000:]
    assert "method: sliding_window" in out  # the floor, as README writes it
    # With experiments the same command plans their runs.
    _with_user_config(tmp_path, {**MINE, "experiments": EXPERIMENTS})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/mydata_tad.csv")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    jobs = planned_jobs(res.stdout)
    assert jobs["train"] == 1 and jobs["proposals_sliding_window"] == 1


# --- README's commands ---------------------------------------------------------------------------------

def swallowed_targets(text: str) -> list[str]:
    """Commands of ``text`` in which ``--configfile`` would read a target (``results/...``) as a config file:
    one given after the config files with no ``--`` between."""
    bad = []
    for m in re.finditer(r"--configfile\b", text):
        # The command: up to the closing backtick, or the end of a line that does not continue with "\".
        rest = re.split(r"`|(?<!\\)\n", text[m.end():], maxsplit=1)[0]
        for token in rest.replace("\\\n", " ").split():
            if token == "--" or (token.startswith("-") and token != "--"):
                break
            if token.startswith("results/"):
                bad.append(f"--configfile{rest}".strip())
                break
    return bad


def test_every_readme_command_puts_its_target_where_configfile_cannot_swallow_it():
    # Before README gave `--configfile mydata.yaml results/mydata_tal.csv` (9a7e60e^), the run died with a raw
    # FileNotFoundError: Snakemake read the target as a second config file.
    assert swallowed_targets("snakemake --cores 2 --configfile mydata.yaml results/mydata_tad.csv")
    assert swallowed_targets("snakemake --configfile a.yaml \\\n  b.yaml results/x_tad.csv")
    assert not swallowed_targets("snakemake --configfile mydata.yaml -- results/mydata_tad.csv")
    assert not swallowed_targets("snakemake --configfile mydata.yaml --cores 2 results/mydata_tad.csv")
    files = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "workflow" / "configs").glob("*"))]
    for path in files:
        assert not swallowed_targets(path.read_text()), path
    readme = (REPO / "README.md").read_text()
    assert "without the `--` the target is read as a second config file" in " ".join(readme.split())


def test_every_readme_command_for_a_dataset_of_ones_own_names_its_config_file():
    """`snakemake results/mydata/pseudo_labels/hog.json`, as README gave it, stops with "no dataset 'mydata'":
    a dataset config.yaml does not define is built only with the config file that adds it."""
    shipped = set(_shipped()["datasets"])
    for path in (REPO / "README.md", REPO / "benchmarks" / "README.md"):
        for command in re.findall(r"`(snakemake [^`]*)`", path.read_text()):
            named = set(re.findall(r"\bresults/(\w+?)(?:_[a-z]+\.\w+|/)", command)) - shipped
            assert not named or "--configfile" in command, (path.name, command)


# --- A named small-CPU setting, and a word on TV-L1 -----------------------------------------------------

def test_the_demo_and_a_users_dataset_share_one_small_cpu_preset():
    cfg = _shipped()
    assert {cfg["datasets"][d].get("preset") for d in ("demo", "demo2")} == {"small_cpu"}
    cfg["datasets"]["mydata"] = MINE["datasets"]["mydata"]
    demo, mine = effective_config(cfg, "demo"), effective_config(cfg, "mydata")
    for sec in ("decode", "features", "model", "tem", "train", "pretrain"):
        assert mine[sec] == demo[sec], sec
    assert mine["features"]["flow_method"] == "dis" and mine["decode"]["fps"] == 15
    # Without a preset a dataset keeps the schema's Thumos14 setting.
    cfg["datasets"]["mydata"] = {k: v for k, v in MINE["datasets"]["mydata"].items() if k != "preset"}
    assert effective_config(cfg, "mydata")["features"]["flow_method"] == "tvl1"
    # README's example config points at it.
    example = (REPO / "README.md").read_text().split("# mydata.yaml", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(example)["datasets"]["mydata"]["preset"] == "small_cpu"


def test_an_unknown_preset_is_refused_naming_the_key_and_the_known_ones():
    cfg = _shipped()
    cfg["datasets"]["mydata"] = {**MINE["datasets"]["mydata"], "preset": "small_gpu"}
    with pytest.raises(NemiConfigError, match=r"datasets\.mydata\.preset: no preset 'small_gpu' under presets "
                                              r"\(known: small_cpu\)"):
        effective_config(cfg, "mydata")


def test_the_tvl1_feature_time_on_a_cpu_is_estimated_from_the_videos():
    from nemi.features.cost import TVL1_PAIRS_PER_S, flow_cpu_notice

    eff = effective_config({**_shipped(), "datasets": {"mydata": {"videos": {"source": "manifest"}}}}, "mydata")
    # Two videos of 10 min at 30 fps, 224-px crops: 36,000 frame pairs at the measured rate.
    note = flow_cpu_notice(eff, [600.0, 600.0], n_videos=2, jobs=2)
    hours = 36000 / TVL1_PAIRS_PER_S / 3600
    assert f"{hours:.1f} h of CPU" in note and "2 videos (20 min of video" in note, note
    assert f"about {hours / 2:.1f} h with 2 feature job(s) at once" in note, note
    assert "small_cpu" in note and "dis" in note
    # Unknown durations: the rate per minute of video.
    assert f"{1800 / TVL1_PAIRS_PER_S / 60:.0f} min of CPU per minute of video" in flow_cpu_notice(eff, [], 3, 1)
    # A quarter of the pixels: a quarter of the time; DIS, or TV-L1 in torch on a GPU, says nothing.
    small = {**eff, "features": {**eff["features"], "crop_px": 112}}
    assert f"{hours / 4:.1f} h of CPU" in flow_cpu_notice(small, [600.0, 600.0], 2, 1)
    assert flow_cpu_notice({**eff, "features": {**eff["features"], "flow_method": "dis"}}, [600.0], 1, 1) is None
    gpu = {**eff, "features": {**eff["features"], "flow_method": "tvl1-torch", "device": "cuda"}}
    assert flow_cpu_notice(gpu, [600.0], 1, 1) is None


def test_a_run_on_the_thumos14_setting_prints_its_tvl1_feature_time(tmp_path, shared_dir):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("mmaction2_demo.mp4", "mmaction2_test.mp4"):
        shutil.copy(shared_dir / "data" / "videos" / name, data / name)
    pd.DataFrame({"video_id": ["a", "b"], "path": ["mmaction2_demo.mp4", "mmaction2_test.mp4"],
                  "split": ["train", "test"]}).to_csv(data / "videos.csv", index=False)
    (tmp_path / "random_rgb.pt").write_bytes(b"")  # dry runs only ask that the weights file exists
    entry = {"videos": {"source": "manifest", "manifest": str(data / "videos.csv"), "shard_size": 1},
             "features": {"rgb_weights": "random_rgb.pt"}}
    _with_user_config(tmp_path, {"targets": ["mydata"], "datasets": {"mydata": entry}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/mydata/features/shard000.h5",
                    "results/mydata/features/shard001.h5")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    # The two clips last 10 s each: 600 frame pairs at 30 fps.
    assert out.count("TV-L1") >= 1 and "dataset mydata" in out and "2 videos (20 s of video" in out, out[-3000:]
    # The small-CPU preset (DIS flow) says nothing.
    _with_user_config(tmp_path, {"targets": ["mydata"], "datasets": {"mydata": {**entry, "preset": "small_cpu"}}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/mydata/features/shard000.h5")
    assert res.returncode == 0 and "TV-L1" not in res.stdout + res.stderr


# --- Shipped names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("section,name,entry", [
    ("experiments", "rtd", {"dataset": "mydata", "seeds": [0]}),
    ("pretrainings", "demo_hog", {"dataset": "mydata"}),
    ("presets", "small_cpu", {"decode": {"fps": 10}}),
])
def test_a_users_entry_named_as_a_shipped_one_is_refused_naming_both_files(tmp_path, section, name, entry):
    _with_user_config(tmp_path, {**MINE, "experiments": EXPERIMENTS, section: {name: entry}})
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/mydata_tad.csv")
    out = res.stdout + res.stderr
    # Before: the user's rtd merged into the demo's key by key (its label, seeds and all), silently.
    assert res.returncode != 0, out[-3000:]
    assert f"{section}.{name}" in out and str(tmp_path / "mine.yaml") in out and "config.yaml" in out, out[-3000:]


def test_the_shipped_dataset_configs_name_nothing_config_yaml_names():
    from nemi.experiments import check_shipped_names

    shipped = _shipped()
    for path in sorted((REPO / "workflow" / "configs").glob("*.yaml")):
        check_shipped_names(shipped, "config.yaml", [(str(path), yaml.safe_load(path.read_text()))])


def test_the_shipped_config_given_again_is_not_a_redefinition(tmp_path):
    _with_user_config(tmp_path, MINE)
    res = snakemake(tmp_path, "-n", "--configfile", "config.yaml", "mine.yaml", "--",
                    "results/mydata/pseudo_labels/hog.json")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]


def test_the_readme_example_plans(tmp_path):
    """README's mydata.yaml as written, on a manifest of two clips: it plans its tables."""
    readme = (REPO / "README.md").read_text()
    example = yaml.safe_load(readme.split("# mydata.yaml", 1)[1].split("```", 1)[0])
    data = tmp_path / "data"
    data.mkdir()
    for i, name in enumerate(("mmaction2_demo.mp4", "mmaction2_test.mp4")):
        shutil.copy(REPO.parent / "shared" / "data" / "videos" / name, data / f"v{i}.mp4")
    pd.DataFrame({"video_id": ["v0", "v1"], "path": ["v0.mp4", "v1.mp4"], "split": ["train", "test"]}).to_csv(
        data / "videos.csv", index=False)
    pd.DataFrame({"video_id": ["v0", "v1"], "t_start": [1.0, 2.0], "t_end": [4.0, 6.0],
                  "label": ["a", "a"]}).to_csv(data / "groundtruth.csv", index=False)
    videos = example["datasets"]["mydata"]["videos"]
    videos.update(manifest=str(data / "videos.csv"), annotations=str(data / "groundtruth.csv"))
    _with_user_config(tmp_path, example)
    res = snakemake(tmp_path, "-n", "--configfile", "mine.yaml", "--", "results/mydata_tal.csv")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    jobs = planned_jobs(res.stdout)
    assert jobs["train"] == len(example["experiments"]["mydata_rtd"]["seeds"])
    assert jobs["proposals_sliding_window"] == 1
