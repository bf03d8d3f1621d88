"""Typed stage parameters: defaults are written once (the schema), every dataclass builds from the shipped
config, every CLI flag's default is the schema's, unknown keys are refused, and the import contracts hold."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nemi import datasets, detectors, params
from nemi.cli import build_parser
from nemi.decode.shard import DecodeParams
from nemi.detect.classifier import ClassifierParams
from nemi.detect.fusion import DetectParams
from nemi.errors import NemiConfigError
from nemi.features.extract import ExtractParams
from nemi.model.params import ModelParams
from nemi.proposals.params import ProposalParams
from nemi.synth.plan import SynthParams
from nemi.fit.params import FitParams, TrainParams
from nemi.pretrain.params import PretrainFitParams, PretrainParams
from tests.conftest import REPO

STAGE_CLASSES = [SynthParams, DecodeParams, ExtractParams, DetectParams, ClassifierParams, TrainParams, PretrainParams,
                 ProposalParams,
                 *[detectors.get(n).curve_params for n in detectors.names()],
                 *[detectors.get(n).boundary_params for n in detectors.names()]]


def _section(cfg, section):
    for part in section.split("."):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("cls", STAGE_CLASSES, ids=lambda c: c.SECTION)
def test_each_dataclass_builds_from_config_yaml_and_has_no_default_of_its_own(cls):
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(cls)), \
        f"{cls.__name__}: a default in Python would be a second home for it; the schema holds them"
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    eff = datasets.effective_config(cfg, "demo")
    built = params.from_config(cls, _section(eff, cls.SECTION))
    assert isinstance(built, cls)


def test_config_yaml_top_level_values_are_the_schemas_defaults():
    """config.yaml writes the top-level sections out for reference; they must be the schema's defaults."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for cls in STAGE_CLASSES:
        if cls is SynthParams:  # a generated dataset's settings live in its entry only
            continue
        listed = _section(cfg, cls.SECTION)
        for k, v in params.defaults(cls.SECTION).items():
            if not isinstance(v, dict):
                assert listed.get(k) == v, f"config.yaml {cls.SECTION}.{k} = {listed.get(k)!r}, schema {v!r}"


def _subparsers(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subparsers(sub, (*prefix, name))


def test_every_cli_default_is_the_schemas():
    """A flag left out takes the schema's default: parse each stage command with its required arguments only."""
    required = {"--manifest": "m.csv", "--shard": "shard000", "--shard-size": "1", "--out": "o", "--skipped": "s",
                "--frames": "f.h5", "--features": "f.h5", "--rgb-weights": "r.pt", "--flow-weights": "x",
                "--dataset": "d", "--curves": "c.h5", "--proposals": "p.csv", "--class-scores": "c.csv",
                "--train-features": "t.h5", "--train-gt": "g.csv", "--boundary": "b.h5", "--ground-truth": "g.csv",
                "--out-dir": "o", "--checkpoint": "m.pt", "--pseudo-labels": "p.json"}
    by_section = {cls.SECTION: cls for cls in STAGE_CLASSES}
    checked = 0
    for path, sub in _subparsers(build_parser()):
        groups = [g.title.split(" ")[0] for g in sub._action_groups if g.title and g.title.endswith(")")]
        for section in groups:
            if section not in by_section:
                continue
            cls = by_section[section]
            argv = list(path) + (["--class-scores", "c.csv"] if path == ("detect",) else [])  # a required group
            for a in sub._actions:
                if a.required and a.option_strings:
                    argv += [a.option_strings[0], required[a.option_strings[0]]]
            try:
                args = build_parser().parse_args(argv)
            except SystemExit:
                raise AssertionError(f"cannot parse {argv}") from None
            try:
                want = params.build(cls, {})
            except NemiConfigError as err:
                # A default only the workflow resolves (labels.*.min_activity_frames: one step of the grid):
                # left out on the command line, it is refused the same way.
                with pytest.raises(NemiConfigError, match=re.escape(str(err))):
                    params.from_args(cls, args)
                checked += 1
                continue
            got = params.from_args(cls, args)
            assert got == want, f"nemi {' '.join(path)}"
            for f in dataclasses.fields(cls):
                value, default = getattr(got, f.name), params.defaults(section).get(f.name, getattr(want, f.name))
                assert value == (tuple(default) if isinstance(value, tuple) else default)  # lists held as tuples
            checked += 1
    assert checked >= len(STAGE_CLASSES) - 1  # classify and detect share a command each; all are reached


def test_flags_override_params_json_which_overrides_the_schema():
    args = build_parser().parse_args(["labels", "hog", "--dataset", "d", "--curves", "c", "--out", "o",
                                      "--params", '{"tau": 0.2, "max_activity_frames": 50, "min_activity_frames": 4}',
                                      "--tau", "0.3"])
    p = params.from_args(detectors.get("hog").boundary_params, args)
    assert (p.tau, p.max_activity_frames, p.min_activity_frames, p.local_window_frames) == (0.3, 50, 4, 11)


def test_a_fitting_stage_is_built_once_from_one_params_of_its_sections():
    """nemi train and nemi pretrain: one --params of the stage's sections, the flags setting the stage's own."""
    import json

    from nemi.windows.grid import WindowParams

    files = ["--features", "f.h5", "--boundary", "b.h5", "--manifest", "m.csv", "--out-dir", "o"]
    sections = {"model": {"window_steps": 16}, "train": {"train_stride": 4, "test_stride": 8, "batch_size": 2}}
    args = build_parser().parse_args(["train", *files, "--ground-truth", "g.csv", "--batch-size", "3",
                                      "--params", json.dumps({**sections, "version": 1})])
    p = params.from_args(FitParams, args)
    assert p.train.batch_size == 3 and p.windows() == WindowParams(16, 4, 8, 5) and p.model.window_steps == 16
    pre = {**sections, "pretrain": {"model": {"query_strategy": "activity_query"}}}
    args = build_parser().parse_args(["pretrain", *files, "--pseudo-labels", "p.json", "--dataset", "d",
                                      "--labels", "cnn", "--params", json.dumps(pre)])
    p = params.from_args(PretrainFitParams, args)
    assert p.pretrain.labels == "cnn" and p.train.batch_size == 2 and p.train.schedule == "nemi_pretrain"
    assert (p.model.query_strategy, p.model.classification) == ("activity_query", "bce")
    assert "contrastive" in p.model.losses and p.windows().window_steps == 16
    with pytest.raises(NemiConfigError, match=r"unknown section\(s\) \['modle'\]; a stage has \['model', 'train'\]"):
        FitParams.from_dict({"modle": {}})
    with pytest.raises(NemiConfigError, match=r"pretrain\.model: num_queries is the architecture the experiments"):
        PretrainFitParams.from_dict({"pretrain": {"model": {"num_queries": 8}}})
    with pytest.raises(NemiConfigError, match=r"pretrain: unknown key\(s\) \['query_strategy'\]"):
        PretrainFitParams.from_dict({"pretrain": {"query_strategy": "activity_query"}})


def test_unknown_keys_and_bad_values_are_refused_naming_them():
    with pytest.raises(NemiConfigError, match=r"decode: unknown key\(s\) \['fsp'\]"):
        params.build(DecodeParams, {"fsp": 10})
    with pytest.raises(NemiConfigError, match="decode.fps must be > 0"):
        params.build(DecodeParams, {"fps": 0})
    with pytest.raises(NemiConfigError, match="not a JSON object"):
        params.from_args(DecodeParams, argparse.Namespace(params="{fps"))


def test_dataset_overrides_are_merged_and_validated():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    eff = datasets.effective_config(cfg, "demo")
    assert eff["decode"]["fps"] == 15 and eff["decode"]["codec"] == "jpeg"  # override + top-level
    assert eff["features"]["crop_px"] == 96 and eff["features"]["snippet_frames"] == 8
    cfg["datasets"]["demo"]["decode"] = {"fsp": 3}
    with pytest.raises(NemiConfigError, match="datasets.demo.*decode.*fsp"):
        datasets.effective_config(cfg, "demo")
    # A misspelt key of the preset it takes: named with the preset.
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["presets"]["small_cpu"]["decode"]["fsp"] = 3
    with pytest.raises(NemiConfigError, match=r"datasets\.demo \(merged with its preset small_cpu .*decode.*fsp"):
        datasets.effective_config(cfg, "demo")
    # A user's dataset that leaves decode out gets the schema's defaults, not the demo's values.
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["datasets"]["mine"] = {"videos": {"source": "manifest", "manifest": "x.csv"}}
    mine = datasets.effective_config(cfg, "mine")
    assert (mine["decode"]["fps"], mine["decode"]["width_px"], mine["videos"]["shard_size"]) == (30, 340, 100)


def test_model_params_defaults_are_the_reference_setting():
    p = ModelParams.from_dict({})
    assert p.num_queries == 32


def test_no_stage_imports_another():
    exe = shutil.which("lint-imports", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert exe, "import-linter is a test dependency (pyproject.toml [test])"
    res = subprocess.run([exe, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout
