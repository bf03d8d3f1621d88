"""NEMI's model parts: decoder queries in the outputs, the activity-query strategy, the contrastive criterion term."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nemi.model import ModelParams, build, build_criterion, weight_dict
from nemi.model.contrastive import window_contrastive_loss
from nemi.model.rtd import stack_activities
from nemi.reassemble import ReassembleParams, pool_activities, reassemble, steps_to_boxes
from nemi.segments import se_to_cw

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


def test_stack_activities_pads_and_truncates():
    a, b = torch.rand(3, 4), torch.rand(1, 4)
    out, valid = stack_activities([a, b, torch.zeros(0, 4)], num_queries=2)
    assert out.shape == (3, 2, 4) and valid.tolist() == [[True, True], [True, False], [False, False]]
    assert torch.equal(out[0], a[:2]) and torch.equal(out[1, 0], b[0]) and float(out[1:, 1:].abs().sum()) == 0


def _outputs(batch: int, queries: int, dim: int, layers: int) -> dict:
    g = torch.Generator().manual_seed(3)
    one = lambda: {"pred_logits": torch.randn(batch, queries, 2, generator=g),  # noqa: E731
                   "pred_boxes": torch.rand(batch, queries, 2, generator=g) * 0.5 + 0.1,
                   "queries": torch.randn(batch, queries, dim, generator=g)}
    out = one() | {"pred_iou": torch.rand(batch, queries, 1, generator=g)}
    out["aux_outputs"] = [one() for _ in range(layers - 1)]
    return out


def _target(segments, pair) -> dict:
    return {"boxes": se_to_cw(torch.tensor(segments, dtype=torch.float32)), "labels": torch.zeros(len(segments)),
            "pair": torch.tensor(pair, dtype=torch.int64)}


def _by_hand(out: dict, targets: list[dict], indices) -> tuple[torch.Tensor, int]:
    terms, skipped = [], 0
    for w, (t, (q_idx, t_idx)) in enumerate(zip(targets, indices)):
        b, bp = t["pair"].tolist()
        query = dict(zip(t_idx.tolist(), q_idx.tolist()))  # plain Hungarian: one query per target
        if b < 0 or len(query) < 3 or b not in query or bp not in query:
            skipped += 1
            continue
        rows = sorted(query)
        q = out["queries"][w, [query[j] for j in rows]]
        terms.append(window_contrastive_loss(q, rows.index(b), rows.index(bp), temperature=0.5))
    return torch.stack(terms).mean(), skipped


def test_criterion_contrastive_equals_the_loss_on_matched_queries():
    p = tiny(losses=["labels", "boxes", "contrastive"], contrastive_temperature=0.5, contrastive_aux=True)
    crit = build_criterion(p)
    out = _outputs(4, 8, 32, 3)
    targets = [
        _target([[0.1, 0.3], [0.3, 0.5], [0.5, 0.6], [0.7, 0.9]], (1, 3)),
        _target([[0.0, 0.2], [0.4, 0.5], [0.6, 0.8]], (2, 0)),
        _target([[0.2, 0.4], [0.5, 0.7]], (0, 1)),   # no negative: skipped
        _target([[0.1, 0.4], [0.5, 0.9]], (-1, -1)),  # no pair: skipped
    ]
    losses = crit(out, targets)
    last = {k: v for k, v in out.items() if k != "aux_outputs"}
    expected, skipped = _by_hand(out, targets, crit.matcher(last, targets))
    torch.testing.assert_close(losses["loss_con"], expected)
    assert float(losses["con_skipped"]) == skipped == 2
    for i, aux in enumerate(out["aux_outputs"]):  # each layer with its own matching
        expected_i, _ = _by_hand(aux, targets, crit.matcher(aux, targets))
        torch.testing.assert_close(losses[f"loss_con_{i}"], expected_i)
        assert f"con_skipped_{i}" in losses
    assert not torch.allclose(losses["loss_con"], losses["loss_con_0"])
    # without contrastive_aux only the last layer
    no_aux = build_criterion(tiny(losses=["labels", "boxes", "contrastive"], contrastive_temperature=0.5))(
        out, targets)
    torch.testing.assert_close(no_aux["loss_con"], expected)
    assert "loss_con_0" not in no_aux and "loss_bbox_0" in no_aux
    # targets without "pair": every window skipped, loss zero
    plain = build_criterion(p)(out, [{"boxes": t["boxes"]} for t in targets])
    assert float(plain["loss_con"]) == 0 and float(plain["con_skipped"]) == 4


def test_relaxed_matching_uses_each_targets_hungarian_query():
    out = _outputs(2, 8, 32, 1)
    targets = [_target([[0.1, 0.3], [0.3, 0.5], [0.5, 0.6], [0.7, 0.9]], (1, 3)),
               _target([[0.0, 0.2], [0.4, 0.5], [0.6, 0.8]], (2, 0))]
    relaxed = build_criterion(tiny(losses=["contrastive"], relaxed_matching=True, contrastive_temperature=0.5))
    plain = build_criterion(tiny(losses=["contrastive"], contrastive_temperature=0.5))
    last = {k: v for k, v in out.items() if k != "aux_outputs"}
    extra = [len(q) - len(set(t.tolist())) for q, t in relaxed.matcher(last, targets)]
    assert sum(extra) > 0  # the relaxed matching did add best-tIoU queries here
    expected, _ = _by_hand(out, targets, plain.matcher(last, targets))
    torch.testing.assert_close(relaxed(out, targets)["loss_con"], expected)


def test_criterion_contrastive_bad_input():
    crit = build_criterion(tiny(losses=["contrastive"]))
    out = _outputs(1, 8, 32, 1)
    with pytest.raises(ValueError, match="pair"):
        crit(out, [_target([[0.1, 0.3], [0.3, 0.5], [0.5, 0.7]], (0, 5))])
    with pytest.raises(ValueError, match="queries"):
        crit({k: v for k, v in out.items() if k != "queries"}, [_target([[0.1, 0.3], [0.3, 0.5]], (0, 1))])


def test_tiny_pretraining_steps_with_reassembling_activity_queries_and_contrastive_loss():
    """Windows re-assembled as a Dataset would, pooled activities as queries, backward and AdamW steps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    w, f = 20, 16
    p = tiny(losses=["labels", "boxes", "contrastive"], query_strategy="activity_query", dropout=0.0)
    model, crit, _ = build(p)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rp = ReassembleParams("insert", 0.3, 0.7, 1)
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
        feats = torch.from_numpy(np.stack([b["features"] for b, _ in batch]))
        acts, valid = stack_activities([torch.from_numpy(pool_activities(b["features"], b["boxes"], w))
                                        for b, _ in batch], p.num_queries)
        targets = [{"boxes": torch.from_numpy(b["boxes"]), "pair": torch.tensor(pair)} for b, pair in batch]
        out = model(feats, torch.from_numpy(np.stack([b["boundary"] for b, _ in batch])),
                    torch.from_numpy(np.stack([b["mask"] for b, _ in batch])), activity_features=acts,
                    activity_mask=valid)
        losses = crit(out, targets)
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
