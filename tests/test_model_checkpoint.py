"""Loading RTD-Net weights: RTD-Action's checkpoint format, nemi checkpoints, and refusals."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch

from nemi.errors import NemiInputError
from nemi.model import ModelParams, build_model, load, load_checkpoint, save_model
from nemi.model.checkpoint import infer_params


@pytest.fixture(scope="module")
def thumos_model():
    torch.manual_seed(0)
    return build_model(ModelParams.from_dict({}))


def rtd_action_checkpoint(path, state):
    """What RTD-Action's main.py saves: model, optimizer, lr_scheduler, epoch and its argparse args."""
    args = argparse.Namespace(lr=1e-4, batch_size=32, num_queries=32, window_size=100, stage=1, hidden_dim=512,
                              device="cuda", output_dir="outputs/", aux_loss=True)
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "lr_scheduler": {"step_size": 30},
                "epoch": 41, "args": args}, path)


def test_loads_rtd_action_checkpoint_unchanged(tmp_path, thumos_model):
    path = tmp_path / "checkpoint_best_sum_ar.pth"
    rtd_action_checkpoint(path, thumos_model.state_dict())
    model, params = load_checkpoint(path)
    assert not model.training
    assert params == ModelParams.from_dict({})
    for k, v in thumos_model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    feats, bnd = torch.rand(1, 100, 2048), torch.rand(1, 100, 2)
    thumos_model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(feats, bnd)["pred_boxes"], thumos_model(feats, bnd)["pred_boxes"])


def test_sizes_are_read_off_the_weights(tmp_path):
    anet = ModelParams.from_dict({"num_queries": 100, "encoder_hidden_dim": 1024, "decoder_layers": 4})
    state = build_model(anet).state_dict()
    assert infer_params(state, ModelParams.from_dict({})) == anet
    path = tmp_path / "anet.pth"
    rtd_action_checkpoint(path, state)
    model, params = load_checkpoint(path, dataclasses.replace(anet, boundary_scale=1.0))  # s is not in the weights
    assert model.boundary_scale == 1.0 and params.num_queries == 100


def test_refuses_another_architecture(tmp_path, thumos_model):
    path = tmp_path / "detr.pth"
    torch.save({"model": {"backbone.0.body.conv1.weight": torch.zeros(64, 3, 7, 7),
                          **{k: v for k, v in list(thumos_model.state_dict().items())[:3]}}}, path)
    with pytest.raises(NemiInputError) as err:
        load(path)
    msg = str(err.value)
    assert str(path) in msg and "missing keys" in msg and "unexpected keys (1)" in msg
    assert "backbone.0.body.conv1.weight" in msg and "missing keys (133)" in msg and "and 125 more" in msg

    state = dict(thumos_model.state_dict())
    state["iou_embed.layers.0.weight"] = torch.zeros(10, 512)
    bad = tmp_path / "bad_shape.pth"
    torch.save({"model": state}, bad)
    with pytest.raises(NemiInputError, match=r"shape mismatches \(1\).*iou_embed\.layers\.0\.weight: checkpoint "
                                             r"\(10, 512\) vs model \(1024, 512\)"):
        load(bad)


def test_refuses_unreadable_and_missing(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(NemiInputError, match="junk.pth: not a readable torch checkpoint"):
        load(junk)
    with pytest.raises(NemiInputError, match="nothing.pth: checkpoint not found"):
        load(tmp_path / "nothing.pth")
    other = tmp_path / "other.pth"
    torch.save({"weights": 1}, other)
    with pytest.raises(NemiInputError, match="other.pth: no 'model' state dict"):
        load(other)


def test_nemi_checkpoint_round_trip_and_config_mismatch(tmp_path):
    params = ModelParams.from_dict({"num_queries": 16, "decoder_layers": 2, "boundary_scale": 1.0})
    torch.manual_seed(1)
    model = build_model(params)
    path = tmp_path / "run" / "model.pt"
    save_model(path, model, params, epoch=3)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left behind
    loaded, got = load_checkpoint(path)
    assert got == params and not loaded.training and loaded.boundary_scale == 1.0
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    # Settings that do not change the network may differ; ones that do are refused, naming both.
    load_checkpoint(path, dataclasses.replace(params, weight_bbox=1.0))
    with pytest.raises(NemiInputError, match="num_queries = 16 in the checkpoint, 32 in the config"):
        load_checkpoint(path, dataclasses.replace(params, num_queries=32))
