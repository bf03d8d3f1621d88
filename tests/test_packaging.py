"""The conda environment that rules name and pyproject.toml must list the same dependencies."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


def test_conda_env_matches_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "nemi.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [p for p in pip if not p.startswith("-e")]
    assert sorted(listed) == sorted(deps)
    assert "-e .." in pip, "the rules' environment must install nemi itself"


# Loads a Snakefile with Snakemake's own parser in a child process (the API changes the working
# directory and sets up global logging) and prints {rule: [defining file, conda env, runs something]}.
_LOAD_RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings(quiet=None)) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(),
                      snakefile=Path(sys.argv[1]), workdir=Path(sys.argv[2]))._workflow
    print(json.dumps({r.name: [str(r.snakefile), r.conda_env, not r.norun] for r in wf.rules}))
"""


def workflow_rules(snakefile: Path, workdir: Path) -> dict[str, tuple[str, str | None, bool]]:
    res = subprocess.run([sys.executable, "-c", _LOAD_RULES, str(snakefile), str(workdir)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return {k: tuple(v) for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


def rules_without_env(rules: dict[str, tuple[str, str | None, bool]], env: Path) -> list[str]:
    """Rules that run a command but do not name ``env`` (target rules such as ``all`` run nothing)."""
    env = env.resolve()
    return sorted(name for name, (smk, conda, runs) in rules.items()
                  if runs and (conda is None or (Path(smk).parent / conda).resolve() != env))


def test_every_rule_names_the_conda_env(tmp_path):
    """Every rule is defined whatever the config (no rule sits under an if), so one load sees them all."""
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    rules = workflow_rules(REPO / "Snakefile", tmp_path)
    assert {"synth", "decode", "features", "features_import", "changes", "pseudo_labels", "plot_timeline",
            "i3d_weights", "evaluate_predictions", "detect", "classify"} <= set(rules), sorted(rules)
    assert rules_without_env(rules, REPO / "envs" / "nemi.yaml") == []


def test_the_env_check_finds_a_rule_without_conda(tmp_path):
    envs = tmp_path / "envs"
    envs.mkdir()
    (tmp_path / "Snakefile").write_text(
        'rule a:\n    output: "a.txt"\n    conda: "envs/nemi.yaml"\n    shell: "touch {output}"\n\n'
        'if True:\n\n    rule b:\n        output: "b.txt"\n        shell: "touch {output}"\n\n'
        'rule c:\n    output: "c.txt"\n    conda: "envs/other.yaml"\n    shell: "touch {output}"\n\n'
        'rule everything:\n    input: "a.txt", "b.txt", "c.txt"\n'
    )
    rules = workflow_rules(tmp_path / "Snakefile", tmp_path)
    assert set(rules) == {"a", "b", "c", "everything"}
    assert rules_without_env(rules, envs / "nemi.yaml") == ["b", "c"]


def test_shipped_configs_match_the_schema():
    """Each shipped config file, and each dataset's merged configuration as a run would see it."""
    import jsonschema

    from nemi.datasets import deep_merge, effective_config

    schema = yaml.safe_load((REPO / "nemi" / "schemas" / "config.schema.yaml").read_text())
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    configs = REPO / "workflow" / "configs"
    # A rehearsal refines its benchmark's entries, on top of whose config it is given (its header says so).
    under_of = {f"{b}_rehearsal.yaml": deep_merge(base, yaml.safe_load((configs / f"{b}.yaml").read_text()))
                for b in ("thumos14", "activitynet13")}
    for path in [REPO / "config.yaml", *sorted(configs.glob("*.yaml"))]:
        cfg = yaml.safe_load(path.read_text())
        under = under_of.get(path.name, base)
        jsonschema.validate(deep_merge(under, cfg), schema)
        for name in cfg.get("datasets", {}):  # thumos14_cross.yaml adds a pretraining and an experiment only
            effective_config(deep_merge(under, cfg), name)  # raises, naming the key, if an override is bad


def test_the_cross_dataset_row_needs_both_datasets_and_checks_with_them():
    """thumos14_cross.yaml after thumos14.yaml and activitynet13.yaml: NEMI pretrained on ActivityNet-1.3,
    fine-tuned on Thumos14; alone with thumos14.yaml it names the missing dataset."""
    from nemi.datasets import deep_merge, effective_config
    from nemi.errors import NemiConfigError
    from nemi.experiments import check, init_model

    configs = REPO / "workflow" / "configs"
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    th, an, cross = (yaml.safe_load((configs / f).read_text())
                     for f in ("thumos14.yaml", "activitynet13.yaml", "thumos14_cross.yaml"))
    cfg = deep_merge(deep_merge(deep_merge(base, th), an), cross)
    check(cfg, lambda n: effective_config(cfg, n))
    eff = lambda n: effective_config(cfg, n)  # noqa: E731
    # A pretraining of its own, of Thumos14's architecture: ActivityNet's anet_hog has ActivityNet's.
    assert init_model(cfg, "thumos_nemi_cross", 1, eff) == "results/anet/pretrain/anet_hog_thumos/seed1/model.pt"
    alone = deep_merge(deep_merge(base, th), cross)
    with pytest.raises(NemiConfigError, match="pretrainings.anet_hog_thumos.dataset: no dataset 'anet'"):
        check(alone, lambda n: effective_config(alone, n))
