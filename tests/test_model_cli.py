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


def _model_file(path, record: dict | None = None):
    import json

    import torch

    from nemi.model import ModelParams, build_model, save_model
    from tests.train_data import TINY_MODEL

    torch.manual_seed(0)
    params = ModelParams.from_dict(TINY_MODEL)
    model = build_model(params)
    extra = {"windows": {"window_steps": 10, "stride": 5}}
    if record is not None:
        extra["train_record"] = json.dumps(record)
    save_model(path, model, params, **extra)
    return model


def test_summary_of_a_model_file_as_readme_shows_it(tmp_path, capsys):
    """README: `nemi model summary` opens train/<experiment>/seed<n>/model.pt; it said "unrecognized arguments"."""
    out_dir = tmp_path / "results" / "demo" / "train" / "rtd" / "seed0"
    out_dir.mkdir(parents=True)
    record = {"config_hash": "0123456789abcdef", "n_train_windows": 215, "provenance": {"stage": "train"},
              "selection": {"stage1": {"checkpoint": "best", "epoch": 12}}}
    model = _model_file(out_dir / "model.pt", record)
    assert main(["model", "summary", str(out_dir / "model.pt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RTD-Net, 4 queries, window 10 steps\n")
    rows = dict(line.rsplit(None, 1) for line in out.splitlines()[1:] if line.split()[0] in dict(model.named_children())
                or line.startswith("total"))
    assert rows["total"] == f"{sum(p.numel() for p in model.parameters()):,}"
    assert f"{out_dir / 'model.pt'}: nemi model" in out
    assert ("trained by train, 215 training windows, config hash 0123456789abcdef; "
            "checkpoint stage1: best (epoch 12)") in out


def test_summary_of_a_damaged_model_file_says_how_to_rebuild_it(tmp_path, capsys):
    import os

    path = tmp_path / "results" / "demo" / "train" / "rtd" / "seed0" / "model.pt"
    path.parent.mkdir(parents=True)
    _model_file(path)
    os.truncate(path, path.stat().st_size // 2)
    assert main(["model", "summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: not a readable torch checkpoint" in err
    assert f"rm {path}" in err and f"--forcerun train -- {path}" in err and "Traceback" not in err
