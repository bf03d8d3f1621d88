"""nemi.engine: the weighted total from the criterion's weights, clipping, the non-finite stop, evaluation."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from nemi.engine import autocast, evaluate, train_one_epoch, weighted_total
from nemi.model import ModelParams, build
from nemi.windows.dataset import Indexed, build_windows, collate, collate_indexed
from nemi.windows.grid import WindowParams
from tests.train_data import TINY_MODEL, synthetic


@pytest.fixture()
def parts():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    feats, bnd, ann, _ = synthetic(n_videos=4)
    ds = build_windows(feats, WindowParams(10, 5, 5, None), "train", annotations=ann, boundary=bnd)
    return (*build(ModelParams.from_dict({**TINY_MODEL, "dropout": 0.0})), ds)


def test_total_is_the_criterion_weighted_sum(parts):
    model, criterion, _, ds = parts
    batch = collate([ds[i] for i in range(min(4, len(ds)))])
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    logged = train_one_epoch(model, criterion, [batch], opt, torch.device("cpu"))
    with torch.no_grad():
        terms = criterion(model(batch["features"], batch["boundary"], batch["mask"]), batch["targets"])
    expect = sum(terms[k].item() * w for k, w in criterion.weight_dict.items() if k in terms)
    assert logged["loss"] == pytest.approx(expect, rel=1e-5)
    assert set(criterion.weight_dict) <= set(logged) and "loss_ce_0" in criterion.weight_dict


def test_gradients_are_clipped(parts):
    model, criterion, _, ds = parts
    batch = collate([ds[i] for i in range(min(4, len(ds)))])
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    train_one_epoch(model, criterion, [batch], opt, torch.device("cpu"), max_norm=0.1)
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - before
    assert 0 < step.norm().item() <= 0.1 + 1e-5  # plain SGD: the step is the clipped gradient


def test_non_finite_loss_stops_printing_every_term(parts):
    model, criterion, _, ds = parts

    class Diverged(torch.nn.Module):  # the real criterion, with one term gone non-finite
        weight_dict = criterion.weight_dict

        def forward(self, outputs, targets):
            return criterion(outputs, targets) | {"loss_bbox": torch.tensor(float("inf"))}

    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match=r"loss is inf.*'loss_ce': [0-9.]+.*'loss_bbox': inf"):
        train_one_epoch(model, Diverged(), [collate([ds[0]])], opt, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "no step on a non-finite loss"


def test_evaluate_gives_proposals_in_seconds(parts):
    model, criterion, postprocess, ds = parts
    loader = torch.utils.data.DataLoader(Indexed(ds), batch_size=3, collate_fn=collate_indexed)
    losses, table = evaluate(model, criterion, postprocess, loader, torch.device("cpu"), ds)
    assert len(table) == len(ds) * TINY_MODEL["num_queries"] and "loss" in losses
    assert set(table["video_id"]) == {r.video_id for r in ds.records}
    dur = {v: ds.videos[v].duration_s for v in ds.videos}
    assert (table["t_start"] <= table["t_end"]).all() and (table["t_start"] >= -1e-9).all()
    assert (table["t_end"] <= table["video_id"].map(dur) + 0.8).all()
    # The first window's proposals are its boxes mapped through the window's time base.
    with torch.no_grad():
        b = collate([ds[0]])
        out = model(b["features"], b["boundary"], b["mask"])
    se = ds.to_seconds(0, out["pred_boxes"][0])
    np.testing.assert_allclose(table[["t_start", "t_end"]].to_numpy()[:TINY_MODEL["num_queries"]], se, atol=1e-6)
    assert weighted_total({"a": torch.tensor(2.0), "b": torch.tensor(5.0)}, {"a": 3.0}).item() == 6.0


def test_cpu_runs_in_float32():
    assert isinstance(autocast(torch.device("cpu")), contextlib.nullcontext)
