"""``nemi model summary``."""

from __future__ import annotations

import pytest

from nemi.cli import main


def test_summary_defaults_are_the_thumos14_model(capsys):
    assert main(["model", "summary"]) == 0
    out = capsys.readouterr().out
    rows = dict(line.rsplit(None, 1) for line in out.splitlines()[1:])
    assert rows["total"] == "32,066,821"
    heads = {"class_embed", "bbox_embed", "iou_conv", "iou_embed"}
    assert {"transformer", "input_proj", "query_embed"} | heads <= set(rows)
    assert sum(int(v.replace(",", "")) for k, v in rows.items() if k != "total") == 32_066_821
    assert rows["query_embed"] == "16,384"


def test_summary_reads_the_model_section_of_a_config(tmp_path, capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("dataset: demo\nmodel:\n  num_queries: 100  # ActivityNet\n")
    assert main(["model", "summary", "--configfile", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RTD-Net, 100 queries")
    assert out.splitlines()[-1].split() == ["total", "32,101,637"]


def test_summary_rejects_unknown_keys(tmp_path, capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model:\n  num_querys: 100\n")
    assert main(["model", "summary", "--configfile", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "config.yaml: model: unknown keys ['num_querys']" in err


def test_help_exits_zero():
    with pytest.raises(SystemExit) as code:
        main(["model", "summary", "--help"])
    assert code.value.code == 0
