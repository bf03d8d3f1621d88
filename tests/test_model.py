"""RTD-Net library: params, shapes and masks, matcher, criterion options, post-processing."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nemi.errors import NemiInputError
from nemi.model import ModelParams, build, build_criterion, weight_dict
from nemi.model.criterion import best_tiou, num_targets_across_processes
from nemi.model.matcher import HungarianMatcher
from nemi.model.params import defaults, schema
from nemi.segments import cw_to_se, se_to_cw, tiou

TINY = {"input_dim": 16, "proj_dim": 8, "hidden_dim": 32, "encoder_hidden_dim": 24, "heads": 4, "ffn_dim": 64,
        "decoder_layers": 3, "num_queries": 8, "window_steps": 20}


def tiny(**over) -> ModelParams:
    return ModelParams.from_dict(TINY | over)


def tgt(segments) -> dict:
    """A target as nemi.windows.dataset.collate gives it, from (start, end) segments."""
    return {"boxes": se_to_cw(torch.as_tensor(segments, dtype=torch.float32).reshape(-1, 2))}


def outputs_for(boxes: torch.Tensor, logits: torch.Tensor | None = None) -> dict:
    if logits is None:
        logits = torch.zeros(*boxes.shape[:2], 2)
    return {"pred_logits": logits, "pred_boxes": boxes, "pred_iou": torch.full((*boxes.shape[:2], 1), 0.5)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- params ---

def test_params_defaults_come_from_the_schema_only():
    fields = dataclasses.fields(ModelParams)
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)
    props = schema()["properties"]
    assert set(props) == {f.name for f in fields}
    assert all("default" in v and "description" in v for v in props.values())
    assert schema()["additionalProperties"] is False and schema()["type"] == "object"
    p = ModelParams.from_dict({})
    assert p.to_dict() == defaults()
    assert (p.input_dim, p.proj_dim, p.hidden_dim, p.num_queries, p.window_steps, p.boundary_scale) == \
        (2048, 256, 512, 32, 100, 2.0)
    assert ModelParams.from_dict(p.to_dict()) == p


def test_params_reject_unknown_and_bad_values():
    with pytest.raises(NemiInputError, match=r"unknown keys \['num_querys'\]"):
        ModelParams.from_dict({"num_querys": 100}, where="config.yaml: model")
    with pytest.raises(NemiInputError, match=r"model\.num_queries"):
        ModelParams.from_dict({"num_queries": 0})
    with pytest.raises(NemiInputError, match=r"model\.completeness_sampling"):
        ModelParams.from_dict({"completeness_sampling": "intended"})
    with pytest.raises(NemiInputError, match="must divide"):
        ModelParams.from_dict({"heads": 7})
    with pytest.raises(NemiInputError, match="all 0"):
        ModelParams.from_dict({"cost_class": 0, "cost_l1": 0, "cost_tiou": 0})
    assert ModelParams.from_dict({"version": 3}) == ModelParams.from_dict({})  # the rule's stage version


@pytest.mark.parametrize("queries, total", [(32, 32_066_821), (100, 32_101_637)])
def test_parameter_counts(queries, total):
    model, _, _ = build(ModelParams.from_dict({"num_queries": queries}))
    assert sum(p.numel() for p in model.parameters()) == total


def test_weight_dict_keys():
    w = weight_dict(ModelParams.from_dict({}))
    base = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
    assert w == base | {f"{k}_{i}": v for i in range(5) for k, v in base.items()}
    assert weight_dict(ModelParams.from_dict({"losses": ["completeness"]})) == {"loss_iou": 100.0}
    assert weight_dict(ModelParams.from_dict({"aux_loss": False})) == base


# --- network ---

def test_forward_shapes_and_aux():
    torch.manual_seed(0)
    model, _, _ = build(tiny())
    out = model(torch.rand(2, 20, 16), torch.rand(2, 20, 2))
    assert out["pred_logits"].shape == (2, 8, 2) and out["pred_boxes"].shape == (2, 8, 2)
    assert out["pred_iou"].shape == (2, 8, 1)
    assert len(out["aux_outputs"]) == 2 and all(a["pred_boxes"].shape == (2, 8, 2) for a in out["aux_outputs"])
    assert 0 < float(out["pred_boxes"].detach().min()) and float(out["pred_boxes"].detach().max()) < 1
    model_no_aux, _, _ = build(tiny(aux_loss=False))
    assert "aux_outputs" not in model_no_aux(torch.rand(1, 20, 16), torch.rand(1, 20, 2))
    short = model(torch.rand(1, 12, 16), torch.rand(1, 12, 2))  # shorter than the position table
    assert short["pred_boxes"].shape == (1, 8, 2)
    with pytest.raises(ValueError, match="longer than the position table"):
        model(torch.rand(1, 21, 16), torch.rand(1, 21, 2))
    with pytest.raises(ValueError, match="boundary"):
        model(torch.rand(1, 20, 16), torch.rand(1, 19, 2))


def test_boundary_scaling_enters_the_features():
    torch.manual_seed(0)
    model, _, _ = build(tiny())
    model.eval()
    feats, bnd = torch.rand(1, 20, 16), torch.rand(1, 20, 2)
    with torch.no_grad():
        a = model(feats, bnd)["pred_boxes"]
        model.boundary_scale = 1.0
        b = model(feats, 2 * bnd)["pred_boxes"]  # s * p is what counts
        c = model(feats, bnd)["pred_boxes"]
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-4


def test_mask_keeps_padded_steps_out():
    torch.manual_seed(0)
    model, _, _ = build(tiny())
    model.eval()
    feats, bnd = torch.rand(2, 20, 16), torch.rand(2, 20, 2)
    mask = torch.ones(2, 20, dtype=torch.bool)  # True: a real step
    mask[1, 14:] = False
    with torch.no_grad():
        plain = model(feats, bnd)
        unmasked = model(feats, bnd, torch.ones_like(mask))
        masked = model(feats, bnd, mask)
        feats2, bnd2 = feats.clone(), bnd.clone()
        feats2[1, 14:], bnd2[1, 14:] = 5.0, 1.0
        masked2 = model(feats2, bnd2, mask)
        unmasked2 = model(feats2, bnd2)
    for k in ("pred_logits", "pred_boxes", "pred_iou"):
        torch.testing.assert_close(plain[k], unmasked[k])
        torch.testing.assert_close(masked[k], masked2[k])  # padded content has no effect
        torch.testing.assert_close(masked[k][0], plain[k][0])  # clip 0 has no padding
    assert (unmasked2["pred_boxes"][1] - plain["pred_boxes"][1]).abs().max() > 1e-4  # without the mask it has
    with pytest.raises(ValueError, match="every step padded"):
        model(feats, bnd, torch.zeros_like(mask))


# --- matcher ---

def random_outputs(batch: int, queries: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    boxes = torch.stack([torch.rand(batch, queries, generator=g) * 0.8 + 0.1,
                         torch.rand(batch, queries, generator=g) * 0.4 + 0.02], dim=-1)
    return outputs_for(boxes, torch.randn(batch, queries, 2, generator=g))


def random_targets(counts, seed: int = 1) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in counts:
        s = torch.rand(n, generator=g) * 0.7
        out.append(tgt(torch.stack([s, s + 0.05 + 0.25 * torch.rand(n, generator=g)], dim=1)))
    return out


@pytest.mark.parametrize("relaxed", [False, True])
def test_matcher_batch_equals_single_clips(relaxed):
    matcher = HungarianMatcher(1, 5, 2, relaxed=relaxed)
    outputs, targets = random_outputs(4, 10), random_targets([3, 0, 12, 1])  # clip 2: more targets than queries
    batched = matcher(outputs, targets)
    for b in range(4):
        single = matcher({k: v[b:b + 1] for k, v in outputs.items()}, targets[b:b + 1])[0]
        assert torch.equal(batched[b][0], single[0]) and torch.equal(batched[b][1], single[1])
    assert [len(q) for q, _ in batched][:2] == ([3, 0] if not relaxed else [len(batched[0][0]), 0])
    if not relaxed:
        assert [len(q) for q, _ in batched] == [3, 0, 10, 1]  # min(Q, N)
    for q, _ in batched:
        assert q.dtype == torch.int64 and len(set(q.tolist())) == len(q)  # a query is never matched twice


def test_matcher_all_empty_and_zero_costs():
    empty = HungarianMatcher(1, 5, 2)(random_outputs(2, 5), random_targets([0, 0]))
    assert [(len(q), len(t)) for q, t in empty] == [(0, 0), (0, 0)]
    with pytest.raises(ValueError, match="all matching costs are 0"):
        HungarianMatcher(0, 0, 0)


def test_matcher_minimises_the_cost():
    # Two queries, two targets: query 0 sits on target 1 and query 1 on target 0.
    boxes = torch.tensor([[[0.75, 0.2], [0.25, 0.2]]])
    targets = [tgt([[0.15, 0.35], [0.65, 0.85]])]
    q, t = HungarianMatcher(1, 5, 2)(outputs_for(boxes), targets)[0]
    assert dict(zip(q.tolist(), t.tolist())) == {0: 1, 1: 0}


def test_relaxed_matching_adds_each_targets_best_query():
    # One target; query 2 overlaps it best, but the classification cost makes query 0 the Hungarian match.
    boxes = torch.tensor([[[0.5, 0.3], [0.9, 0.1], [0.5, 0.42], [0.1, 0.1]]])
    logits = torch.tensor([[[9.0, -9.0], [0.0, 0.0], [-9.0, 9.0], [0.0, 0.0]]])
    targets = [tgt([[0.3, 0.7]])]
    plain = HungarianMatcher(5, 1, 1)(outputs_for(boxes, logits), targets)[0]
    relaxed = HungarianMatcher(5, 1, 1, relaxed=True)(outputs_for(boxes, logits), targets)[0]
    assert plain[0].tolist() == [0] and plain[1].tolist() == [0]
    assert relaxed[0].tolist() == [0, 2] and relaxed[1].tolist() == [0, 0]
    # When the best query is matched already, nothing is added.
    again = HungarianMatcher(1, 5, 2, relaxed=True)(outputs_for(boxes), targets)[0]
    assert again[0].tolist() == [2]


# --- criterion ---

def test_criterion_gradients_and_empty_batch():
    crit = build_criterion(tiny())
    out = random_outputs(2, 8)
    out = {k: v.clone().requires_grad_(True) for k, v in out.items()}
    losses = crit(out, random_targets([2, 1]))
    total = sum(losses[k] * w for k, w in crit.weight_dict.items() if k in losses)
    total.backward()
    assert out["pred_logits"].grad.abs().sum() > 0 and out["pred_boxes"].grad.abs().sum() > 0
    # No targets anywhere: every query is no-action (the reference returns the integer 0 here).
    out2 = random_outputs(2, 8)
    losses2 = crit(out2, random_targets([0, 0]))
    expected = F.cross_entropy(out2["pred_logits"].transpose(1, 2), torch.ones(2, 8, dtype=torch.int64),
                               torch.tensor([1.0, 0.1]))
    torch.testing.assert_close(losses2["loss_ce"], expected)
    assert float(losses2["loss_bbox"]) == 0 and float(losses2["loss_giou"]) == 0
    assert float(losses2["class_error"]) == 100


def test_boxes_loss_divides_by_targets_not_matches():
    # Three targets, two queries: two pairs matched, the sums divided by 3.
    boxes = torch.tensor([[[0.25, 0.2], [0.75, 0.2]]])
    seg = torch.tensor([[0.1, 0.3], [0.7, 0.9], [0.4, 0.5]])
    crit = build_criterion(ModelParams.from_dict({"losses": ["boxes"], "aux_loss": False}))
    losses = crit(outputs_for(boxes), [tgt(seg)])
    q, t = crit.matcher(outputs_for(boxes), [tgt(seg)])[0]
    src, matched = boxes[0, q], seg[t]
    matched_cw = torch.stack([(matched[:, 0] + matched[:, 1]) / 2, matched[:, 1] - matched[:, 0]], dim=1)
    torch.testing.assert_close(losses["loss_bbox"], (src - matched_cw).abs().sum() / 3)
    torch.testing.assert_close(losses["loss_giou"], (1 - tiou(cw_to_se(src), matched).diagonal()).sum() / 3)


def test_bce_classification_labels_from_tiou():
    crit = build_criterion(tiny(classification="bce", bce_tiou_threshold=0.5, losses=["labels"], aux_loss=False))
    out, targets = random_outputs(3, 8), random_targets([2, 0, 3])
    for b, t in enumerate(targets):  # make some queries positives
        out["pred_boxes"][b, :len(t["boxes"])] = t["boxes"]
    labels = (best_tiou(out["pred_boxes"], targets) >= 0.5).float()
    assert 0 < labels.sum() < labels.numel()
    p = out["pred_logits"].softmax(-1)[..., 0]
    expected = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    torch.testing.assert_close(crit(out, targets)["loss_ce"], expected)


def completeness_case():
    """One window, 12 queries: 2 positives, 4 middle, 6 negatives by construction."""
    seg = torch.tensor([[0.2, 0.6]])
    c, w = 0.4, 0.4
    lengths = [w, w * 0.9] + [w * 0.6, w * 0.5, w * 0.45, w * 0.35] + [0.04] * 6  # tIoU 1, .9 | .6-.35 | .1
    boxes = torch.tensor([[[c, x] for x in lengths]])
    pred_iou = torch.linspace(0.05, 0.95, 12).reshape(1, 12, 1).requires_grad_(True)
    return {"pred_logits": torch.zeros(1, 12, 2), "pred_boxes": boxes, "pred_iou": pred_iou}, [tgt(seg)]


def test_completeness_released_averages_all_queries():
    out, targets = completeness_case()
    crit = build_criterion(ModelParams.from_dict({"losses": ["completeness"], "completeness_sampling": "released"}))
    target = best_tiou(out["pred_boxes"], targets).reshape(-1)
    assert [(target > 0.7).sum().item(), ((target > 0.3) & (target <= 0.7)).sum().item(),
            (target < 0.3).sum().item()] == [2, 4, 6]
    torch.testing.assert_close(crit(out, targets)["loss_iou"], F.smooth_l1_loss(out["pred_iou"].reshape(-1), target))


def test_completeness_balanced_samples_one_one_two():
    out, targets = completeness_case()
    target = best_tiou(out["pred_boxes"], targets).reshape(-1)
    crit = build_criterion(ModelParams.from_dict({"losses": ["completeness"]}))
    assert crit.completeness_sampling == "balanced"  # the default
    chosen = crit._sample_completeness(target)
    assert len(chosen) == len(set(chosen.tolist())) == 2 + 2 + 4
    picked = target[chosen]
    assert [(picked > 0.7).sum().item(), ((picked > 0.3) & (picked <= 0.7)).sum().item(),
            (picked < 0.3).sum().item()] == [2, 2, 4]
    torch.manual_seed(5)
    a = crit(out, targets)["loss_iou"]
    torch.manual_seed(5)
    chosen = crit._sample_completeness(target)
    torch.testing.assert_close(a, F.smooth_l1_loss(out["pred_iou"].reshape(-1)[chosen], target[chosen]))
    a.backward()
    assert (out["pred_iou"].grad != 0).sum() == 8  # only the sampled queries get a gradient
    # Pools smaller than asked for are taken whole: here 1 positive, 4 middle -> 1, 6 negatives -> 2.
    crit3 = build_criterion(ModelParams.from_dict({"losses": ["completeness"], "completeness_middle_per_positive": 5,
                                                   "completeness_negatives_per_positive": 5}))
    assert len(crit3._sample_completeness(target)) == 2 + 4 + 6


@pytest.mark.parametrize("mode", ["balanced", "released"])
def test_completeness_without_positives_is_zero(mode):
    out, targets = completeness_case()
    targets = [tgt([[0.9, 0.95]])]  # far from every query
    crit = build_criterion(ModelParams.from_dict({"losses": ["completeness"], "completeness_sampling": mode}))
    loss = crit(out, targets)["loss_iou"]
    assert float(loss.detach()) == 0 and loss.requires_grad


def test_completeness_stage_skips_aux_layers():
    crit = build_criterion(ModelParams.from_dict({"losses": ["completeness"]}))
    out = random_outputs(2, 8)
    out["aux_outputs"] = [{k: out[k] for k in ("pred_logits", "pred_boxes")}]
    assert set(crit(out, random_targets([1, 2]))) == {"loss_iou"}


def _count_in_process(rank: int, rendezvous: str, queue) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    targets = [{"boxes": torch.zeros(n, 2)} for n in ([3, 2] if rank == 0 else [0])]
    queue.put((rank, num_targets_across_processes(targets, torch.device("cpu"))))
    dist.destroy_process_group()


def test_num_targets_averaged_across_processes(tmp_path: Path):
    assert num_targets_across_processes(random_targets([0, 0]), torch.device("cpu")) == 1.0  # at least 1
    assert num_targets_across_processes(random_targets([2, 3]), torch.device("cpu")) == 5.0
    ctx = multiprocessing.get_context("fork")  # forked children need not import torch again
    queue = ctx.Queue()
    procs = [ctx.Process(target=_count_in_process, args=(r, str(tmp_path / "rendezvous"), queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == {0: 2.5, 1: 2.5}  # (5 + 0) targets / 2 processes


@pytest.mark.parametrize("losses, relaxed", [(["labels", "boxes", "cardinality"], True), (["completeness"], False)])
def test_bfloat16_autocast_outputs_give_float32_losses(losses, relaxed):
    torch.manual_seed(0)
    model, crit, post = build(tiny(losses=losses, relaxed_matching=relaxed))
    targets = [tgt([[0.1, 0.5]]), tgt(torch.zeros(0, 2))]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(2, 20, 16), torch.rand(2, 20, 2))
        losses = crit(out, targets)
    assert out["pred_boxes"].dtype == torch.bfloat16
    assert all(v.dtype == torch.float32 for v in losses.values())
    sum(losses[k] * w for k, w in crit.weight_dict.items() if k in losses).backward()
    assert post(out)["scores"].dtype == torch.float32


# --- post-processing and a short fit ---

def test_postprocess_scores_and_segments():
    out = {"pred_logits": torch.tensor([[[2.0, 0.0], [0.0, 1.0]]]),
           "pred_boxes": torch.tensor([[[0.5, 0.2], [0.05, 0.3]]]), "pred_iou": torch.tensor([[[0.8], [0.2]]])}
    p = torch.tensor([[2.0, 0.0], [0.0, 1.0]]).softmax(-1)[:, 0]
    _, _, post = build(ModelParams.from_dict({}))
    res = post(out)
    torch.testing.assert_close(res["scores"][0], p)
    torch.testing.assert_close(res["segments"][0], torch.tensor([[0.4, 0.6], [0.0, 0.2]]))  # clipped at 0
    _, _, post3 = build(ModelParams.from_dict({"proposal_score": "class_completeness"}))
    torch.testing.assert_close(post3(out)["scores"][0], 0.5 * (p + torch.tensor([0.8, 0.2])))


def test_a_tiny_model_fits_one_batch():
    torch.manual_seed(0)
    model, crit, post = build(tiny(dropout=0.0))
    feats, bnd = torch.rand(2, 20, 16), torch.rand(2, 20, 2)
    targets = [tgt([[0.1, 0.3], [0.5, 0.9]]), tgt([[0.2, 0.6]])]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def total():
        losses = crit(model(feats, bnd), targets)
        return sum(losses[k] * w for k, w in crit.weight_dict.items() if k in losses)

    first = float(total().detach())
    for _ in range(100):
        opt.zero_grad()
        loss = total()
        loss.backward()
        opt.step()
    assert float(total().detach()) < 0.2 * first
    model.eval()
    with torch.no_grad():
        res = post(model(feats, bnd))
    for b in range(2):  # every target has a proposal on it
        assert float(tiou(res["segments"][b], cw_to_se(targets[b]["boxes"])).max(dim=0).values.min()) > 0.8


def test_takes_batches_as_nemi_windows_collate_makes_them():
    import numpy as np

    from nemi.io.timebase import Timebase
    from nemi.windows.dataset import build_windows, collate
    from nemi.windows.grid import WindowParams

    rng = np.random.default_rng(0)
    feats = {"long": (rng.random((40, 16), dtype=np.float32), Timebase(10.0, 8, 8), 32.0),
             "short": (rng.random((9, 16), dtype=np.float32), Timebase(10.0, 8, 8), 7.2)}  # padded window
    ann = {"long": (np.array([[2.5, 7.0], [20.0, 24.0]]), np.array([0, 0])),
           "short": (np.array([[1.0, 3.0]]), np.array([0]))}
    ds = build_windows(feats, WindowParams(20, 5, 10, 5), "train", annotations=ann)
    batch = collate([ds[i] for i in range(len(ds))])
    assert not bool(batch["mask"].all()) and bool(batch["mask"].any(dim=1).all())
    torch.manual_seed(0)
    model, crit, post = build(tiny())
    out = model(batch["features"], batch["boundary"], batch["mask"])
    losses = crit(out, batch["targets"])
    assert sum(len(t["boxes"]) for t in batch["targets"]) > 0 and float(losses["loss_giou"].detach()) > 0
    assert post(out)["segments"].shape == (len(ds), 8, 2)
