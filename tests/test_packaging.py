"""The conda environment that rules name and pyproject.toml must list the same dependencies."""

import tomllib

import yaml

from tests.conftest import REPO


def test_conda_env_matches_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "nemi.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [p for p in pip if not p.startswith("-e")]
    assert sorted(listed) == sorted(deps)
    assert "-e .." in pip, "the rules' environment must install nemi itself"


def test_every_rule_names_the_conda_env():
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        n_rules = text.count("\nrule ") + text.startswith("rule ")
        assert text.count('conda:\n        "../../envs/nemi.yaml"') == n_rules, smk.name


def test_shipped_configs_match_the_schema():
    import jsonschema

    schema = yaml.safe_load((REPO / "nemi" / "schemas" / "config.schema.yaml").read_text())
    for path in [REPO / "config.yaml", *sorted((REPO / "workflow" / "configs").glob("*.yaml"))]:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
