"""NEMI's model parts: decoder queries in the outputs, the activity-query strategy, the contrastive criterion term."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nemi.model import ModelParams, build, weight_dict
from nemi.pretrain.data import collate_pretrain
from nemi.reassemble import ReassembleParams, pool_activities, reassemble, steps_to_boxes

TINY = {"input_dim": 16, "proj_dim": 8, "hidden_dim": 32, "encoder_hidden_dim": 24, "heads": 4, "ffn_dim": 64,
        "decoder_layers": 3, "num_queries": 8, "window_steps": 20}
PROJ = {"activity_query_proj.weight", "activity_query_proj.bias"}


def tiny(**over) -> ModelParams:
    return ModelParams.from_dict(TINY | over)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_params_new_keys_and_defaults():
    p = ModelParams.from_dict({})
    assert (p.query_strategy, p.weight_con, p.contrastive_temperature, p.contrastive_aux) == \
        ("localisation", 1.0, 1.0, False)
    assert "query_strategy" in p.architecture()
    q = ModelParams.from_dict({"losses": ["labels", "boxes", "contrastive"], "query_strategy": "activity_query"})
    assert ModelParams.from_dict(q.to_dict()) == q
    with pytest.raises(ValueError, match="query_strategy"):
        ModelParams.from_dict({"query_strategy": "patch"})
    with pytest.raises(ValueError, match="contrastive_temperature"):
        ModelParams.from_dict({"contrastive_temperature": 0})


def test_weight_dict_has_loss_con_on_aux_layers_only_when_asked():
    base = {"losses": ["labels", "boxes", "contrastive"], "decoder_layers": 3}
    w = weight_dict(ModelParams.from_dict(base | {"weight_con": 0.5}))
    assert w["loss_con"] == 0.5 and "loss_con_0" not in w and w["loss_ce_1"] == 1.0
    w_aux = weight_dict(ModelParams.from_dict(base | {"contrastive_aux": True}))
    assert w_aux["loss_con_0"] == w_aux["loss_con_1"] == 1.0 and "loss_con_2" not in w_aux
    assert "con_skipped" not in w_aux


def test_localisation_state_dict_is_rtd_nets():
    torch.manual_seed(0)
    loc, _, _ = build(ModelParams.from_dict({}))
    torch.manual_seed(0)
    act, _, _ = build(ModelParams.from_dict({"query_strategy": "activity_query"}))
    s_loc, s_act = loc.state_dict(), act.state_dict()
    assert sum(p.numel() for p in loc.parameters()) == 32_066_821  # RTD-Action's Thumos14 model
    assert not any(k.startswith("activity_query") for k in s_loc)
    assert set(s_act) - set(s_loc) == PROJ and set(s_loc) <= set(s_act)
    assert tuple(s_act["activity_query_proj.weight"].shape) == (512, 2048)
    # built last: the RTD-Net part of both draws the same initial weights from one seed
    assert all(torch.equal(s_loc[k], s_act[k]) for k in s_loc)


def test_outputs_carry_the_decoder_queries():
    torch.manual_seed(0)
    model, _, _ = build(tiny())
    out = model(torch.rand(2, 20, 16), torch.rand(2, 20, 2))
    assert out["queries"].shape == (2, 8, 32)
    assert [a["queries"].shape for a in out["aux_outputs"]] == [(2, 8, 32)] * 2
    # the heads read these states: the box head on them gives the predicted boxes
    torch.testing.assert_close(model.bbox_embed(out["queries"]).sigmoid(), out["pred_boxes"])
    torch.testing.assert_close(model.class_embed(out["aux_outputs"][0]["queries"]),
                               out["aux_outputs"][0]["pred_logits"])


def test_activity_query_changes_outputs_only_with_activity_features():
    torch.manual_seed(0)
    loc, _, _ = build(tiny())
    act, _, _ = build(tiny(query_strategy="activity_query"))
    missing, unexpected = act.load_state_dict(loc.state_dict(), strict=False)
    assert set(missing) == PROJ and not unexpected
    loc.eval()
    act.eval()
    feats, bnd = torch.rand(2, 20, 16), torch.rand(2, 20, 2)
    acts = torch.rand(2, 3, 16)
    with torch.no_grad():
        plain, same = loc(feats, bnd), act(feats, bnd)
        masked_off = act(feats, bnd, activity_features=acts, activity_mask=torch.zeros(2, 3, dtype=torch.bool))
        with_acts = act(feats, bnd, activity_features=acts)
        one_valid = act(feats, bnd, activity_features=acts,
                        activity_mask=torch.tensor([[True, False, False], [False, False, False]]))
    for key in ("pred_logits", "pred_boxes", "pred_iou", "queries"):
        assert torch.equal(plain[key], same[key]), key
        torch.testing.assert_close(masked_off[key], plain[key])
    assert (with_acts["pred_boxes"] - plain["pred_boxes"]).abs().max() > 1e-4
    # an all-invalid window is RTD-Net; a window with an activity is not
    torch.testing.assert_close(one_valid["pred_boxes"][1], plain["pred_boxes"][1])
    assert (one_valid["pred_boxes"][0] - plain["pred_boxes"][0]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="activity_query"):
        loc(feats, bnd, activity_features=acts)
    with pytest.raises(ValueError, match="K <= 8"):
        act(feats, bnd, activity_features=torch.rand(2, 9, 16))
    with pytest.raises(ValueError, match="activity_mask"):
        act(feats, bnd, activity_features=acts, activity_mask=torch.ones(2, 4, dtype=torch.bool))


def test_collate_pads_each_windows_pooled_activities():
    """One slot per activity (the data source keeps a window's first num_queries), padded and masked per batch."""
    def item(k: int) -> dict:
        return {"video_id": "v", "start": 0, "features": np.zeros((5, 4), np.float32),
                "boundary": np.ones((5, 2), np.float32), "mask": np.ones(5, bool),
                "boxes": np.zeros((k, 2), np.float32),
                "labels": np.zeros(k, np.int64), "segments": np.zeros((0, 2), np.float32),
                "pair": np.array([-1, -1]), "activity_features": np.arange(k * 4, dtype=np.float32).reshape(k, 4) + 1}
    batch = collate_pretrain([item(3), item(1), item(0)])
    acts, valid = batch["model_inputs"]["activity_features"], batch["model_inputs"]["activity_mask"]
    assert acts.shape == (3, 3, 4) and valid.tolist() == [[True] * 3, [True, False, False], [False] * 3]
    assert torch.equal(acts[0], torch.arange(12.0).reshape(3, 4) + 1) and float(acts[1:, 1:].abs().sum()) == 0
    assert [t["pair"].tolist() for t in batch["targets"]] == [[-1, -1]] * 3


def test_tiny_pretraining_steps_with_reassembling_activity_queries_and_contrastive_loss():
    """Windows re-assembled as a Dataset would, pooled activities as queries, backward and AdamW steps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    w, f = 20, 16
    p = tiny(losses=["labels", "boxes", "contrastive"], query_strategy="activity_query", dropout=0.0)
    model, crit, _ = build(p)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rp = ReassembleParams("insert", 0.3, 0.7, 1, "carry")
    protos = rng.normal(size=(6, f)).astype(np.float32)
    items = []
    for i in range(4):
        cuts = [0, 4 + i % 2, 9, 13, 17]
        steps = np.stack([cuts[:-1], cuts[1:]], axis=1)
        feats = np.concatenate([np.repeat(protos[(i + k) % 6][None], e - s, 0) for k, (s, e) in enumerate(steps)]
                               + [np.zeros((w - cuts[-1], f), np.float32)])
        items.append({"video_id": f"v{i}", "start": 0, "features": feats, "boundary": np.ones((w, 2), np.float32),
                      "mask": np.arange(w) < cuts[-1], "boxes": steps_to_boxes(steps, w),
                      "labels": np.zeros(4, np.int64), "segments": np.zeros((0, 2), np.float32)})
    history = []
    grads = {}
    for step in range(8):
        batch = [reassemble(it, rng, rp) for it in items]
        assert all(pair is not None for _, pair in batch)
        # as nemi.pretrain.data.PretrainWindows gives them: the pair and the pooled activities
        collated = collate_pretrain([
            {**b, "pair": np.asarray(pair, np.int64),
             "activity_features": pool_activities(b["features"], b["boxes"][:p.num_queries], w)} for b, pair in batch])
        out = model(collated["features"], collated["boundary"], collated["mask"], **collated["model_inputs"])
        losses = crit(out, collated["targets"])
        total = sum(losses[k] * v for k, v in crit.weight_dict.items() if k in losses)
        opt.zero_grad()
        total.backward()
        if step == 0:
            grads = {n: float(q.grad.abs().sum()) for n, q in model.named_parameters() if q.grad is not None}
        opt.step()
        history.append(float(losses["loss_con"].detach()))
        assert float(losses["con_skipped"]) == 0
    assert grads["activity_query_proj.weight"] > 0 and grads["query_embed.weight"] > 0
    assert all(np.isfinite(history)) and history[0] > 0
