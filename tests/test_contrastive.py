"""The contrastive query loss (Eq. 4) as training computes it: ``SetCriterion`` on a batch of re-assembled
windows (``PretrainWindows`` and ``collate_pretrain``), each target's query found by the matcher, against
a hand computation, Eq. 4 written out, its gradient and its skip counting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nemi.model import build, build_criterion
from nemi.pretrain.data import PretrainWindows, collate_pretrain
from nemi.pretrain.params import PretrainFitParams
from nemi.segments import se_to_cw
from nemi.windows.dataset import build_windows
from nemi.windows.grid import WindowParams
from tests.train_data import TINY_MODEL, synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Four queries in 2-D, chosen so that every cosine is a round number:
#   q0 = (1, 0)   q1 = (3, 4) (|q1| = 5)   q2 = (0, 2)   q3 = (-1, 0)
# cos(q0, q1) = 3/5, cos(q0, q2) = 0, cos(q0, q3) = -1, cos(q1, q2) = 4/5, cos(q1, q3) = -3/5.
Q = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]])
QUERIES = 8


def hand(t: float, negatives: int) -> float:
    """b = q0, b' = q1 and the first ``negatives`` of q2, q3; both directions, by hand."""
    from_b, from_bp = [0.0, -1.0][:negatives], [0.8, -0.6][:negatives]  # cosines of q0 and of q1 with them
    b_to_bp = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + sum(math.exp(c / t) for c in from_b)))
    bp_to_b = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + sum(math.exp(c / t) for c in from_bp)))
    return (b_to_bp + bp_to_b) / 2


def eq4(q: torch.Tensor, b: int, bp: int, t: float) -> torch.Tensor:
    """Eq. 4 as printed, a term at a time, averaged over both directions (q: the matched queries)."""
    def one(i: int, j: int) -> torch.Tensor:
        sims = [torch.cosine_similarity(q[i], q[k], dim=0) / t for k in range(len(q))]
        return -torch.log(torch.exp(sims[j]) / sum(torch.exp(s) for k, s in enumerate(sims) if k != i))
    return (one(b, bp) + one(bp, b)) / 2


def _pretraining(model: dict | None = None) -> PretrainFitParams:
    """A default pretraining (its losses, BCE) of the tiny model on whole-video windows of 30 steps."""
    return PretrainFitParams.from_dict({"model": {**TINY_MODEL, "num_queries": QUERIES, "window_steps": 30,
                                                  **(model or {})}, "train": {"test_stride": 10}})


def criterion(t: float = 1.0, **over):
    """The criterion a default pretraining builds (its losses, BCE), with Eq. 4's temperature t."""
    mp = _pretraining({"contrastive_temperature": t, **over}).model
    assert "contrastive" in mp.losses
    return build_criterion(mp), mp


@pytest.fixture(scope="module")
def windows():
    """Three whole-video windows of 30 steps, re-assembled by insert: 3 activities (4 targets with b'),
    2 activities (3 targets) and 1 activity (nowhere to inject: no pair)."""
    feats, bnd, _, _ = synthetic(n_videos=3)
    acts = {"v0": [[0.8, 4.0], [4.0, 8.0], [8.0, 12.0]], "v1": [[1.6, 5.6], [5.6, 9.6]], "v2": [[2.4, 8.0]]}
    acts = {v: (np.array(a), np.zeros(len(a), np.int64)) for v, a in acts.items()}
    base = build_windows(feats, WindowParams(30, 10, 10, None), "train", annotations=acts, boundary=bnd)
    p = _pretraining()
    items = [PretrainWindows(base, p.pretrain, p.model)[i] for i in range(len(base))]
    batch = collate_pretrain(items)
    assert [len(t["boxes"]) for t in batch["targets"]] == [4, 3, 1]
    assert [t["pair"].tolist()[0] >= 0 for t in batch["targets"]] == [True, True, False]
    return batch


def placed(targets, vectors: list[torch.Tensor | None], seed: int = 0):
    """Outputs whose query perm[j] predicts target j's box exactly (so the matcher assigns it) and carries the
    state given for target j's role: b, b', then the negatives in target order. The other queries predict
    nothing near a target and carry states of their own, which no sum may read."""
    g = torch.Generator().manual_seed(seed)
    batch = len(targets)
    boxes = torch.tensor([0.97, 0.02]).repeat(batch, QUERIES, 1)
    states = torch.randn(batch, QUERIES, 2, generator=g) + 2.0
    perms = []
    for w, (t, vec) in enumerate(zip(targets, vectors)):
        perm = torch.randperm(QUERIES, generator=g)[:len(t["boxes"])]
        assert not torch.equal(perm, torch.arange(len(perm)))  # a target's query is not its index
        boxes[w, perm] = t["boxes"]
        if vec is not None:
            b, bp = t["pair"].tolist()
            roles = [b, bp] + [j for j in range(len(t["boxes"])) if j not in (b, bp)]
            states[w, perm[roles]] = vec
        perms.append(perm)
    return {"pred_logits": torch.zeros(batch, QUERIES, 2), "pred_boxes": boxes, "queries": states}, perms


@pytest.mark.parametrize("t", [1.0, 0.1])
def test_value_on_reassembled_windows_equals_the_hand_computation(windows, t):
    crit, _ = criterion(t)
    targets = windows["targets"]
    out, perms = placed(targets, [Q, Q[:3], None])
    last = {k: v for k, v in out.items() if k != "aux_outputs"}
    assert [q.tolist() for q, _ in crit.matcher(last, targets)] == [sorted(p.tolist()) for p in perms]
    losses = crit(out, targets)
    # the batch mean over the windows with a pair and a negative; the single-activity window is counted
    assert float(losses["loss_con"]) == pytest.approx((hand(t, 2) + hand(t, 1)) / 2, rel=1e-6)
    assert float(losses["con_skipped"]) == 1
    # t = 1 in numbers: ln(e^.6 + 1 + e^-1) - .6 = 0.56002, ln(e^.6 + e^.8 + e^-.6) - .6 = 0.92529
    assert hand(1.0, 2) == pytest.approx((0.56002 + 0.92529) / 2, abs=1e-5)
    # blind to the length of each query, and to the states of the queries no target is matched to
    scaled, _ = placed(targets, [Q * torch.tensor([[2.0], [0.5], [7.0], [3.0]]), Q[:3] * 4, None], seed=0)
    unmatched = torch.ones(len(targets), QUERIES, dtype=torch.bool)
    for w, perm in enumerate(perms):
        unmatched[w, perm] = False
    scaled["queries"][unmatched] *= -5
    assert float(crit(scaled, targets)["loss_con"]) == pytest.approx(float(losses["loss_con"]), rel=1e-6)


def test_gradient_pulls_the_pair_together(windows):
    crit, _ = criterion()
    targets = windows["targets"][:1]
    out, (perm,) = placed(targets, [Q])
    out["queries"].requires_grad_(True)
    crit(out, targets)["loss_con"].backward()
    grad = out["queries"].grad
    assert grad[0, perm].abs().sum() > 0 and torch.isfinite(grad).all()
    unmatched = [q for q in range(QUERIES) if q not in perm.tolist()]
    assert float(grad[0, unmatched].abs().sum()) == 0  # no other query takes part
    b, bp = (perm[j] for j in targets[0]["pair"].tolist())
    with torch.no_grad():
        stepped = out["queries"] - 0.5 * grad
    before = torch.cosine_similarity(out["queries"][0, b], out["queries"][0, bp], dim=0)
    assert torch.cosine_similarity(stepped[0, b], stepped[0, bp], dim=0) > before
    assert float(crit({**out, "queries": stepped}, targets)["loss_con"]) < hand(1.0, 2)


def test_nothing_to_learn_from_is_zero_and_keeps_the_graph(windows):
    """No pair (a single activity), or a pair with no negative: skipped, the loss a zero still in the graph."""
    crit, _ = criterion()
    alone = windows["targets"][2]
    pair_only = {"boxes": se_to_cw(torch.tensor([[0.1, 0.3], [0.5, 0.7]])), "labels": torch.zeros(2, dtype=torch.int64),
                 "pair": torch.tensor([0, 1])}
    out, _ = placed([alone, pair_only], [None, Q[:2]])
    out["queries"].requires_grad_(True)
    losses = crit(out, [alone, pair_only])
    assert float(losses["loss_con"].detach()) == 0 and float(losses["con_skipped"]) == 2
    assert losses["loss_con"].requires_grad
    losses["loss_con"].backward()
    assert float(out["queries"].grad.abs().sum()) == 0


def _by_hand(out: dict, targets: list[dict], indices, t: float) -> tuple[torch.Tensor, int]:
    """Eq. 4 on the queries the matching gives each target (its first, Hungarian, pair)."""
    terms, skipped = [], 0
    for w, (tg, (q_idx, t_idx)) in enumerate(zip(targets, indices)):
        b, bp = tg["pair"].tolist()
        query: dict[int, int] = {}
        for q, j in zip(q_idx.tolist(), t_idx.tolist()):
            query.setdefault(j, q)
        if b < 0 or len(query) < 3 or b not in query or bp not in query:
            skipped += 1
            continue
        rows = sorted(query)
        terms.append(eq4(out["queries"][w, [query[j] for j in rows]], rows.index(b), rows.index(bp), t))
    return torch.stack(terms).mean(), skipped


def test_a_pretraining_models_outputs_on_reassembled_windows(windows):
    """A real forward pass: every decoder layer, each with its own matching, equals Eq. 4 on its matched queries."""
    crit, mp = criterion(0.5, contrastive_aux=True, decoder_layers=3)
    torch.manual_seed(0)
    model, _, _ = build(mp)
    with torch.no_grad():
        out = model(windows["features"], windows["boundary"], windows["mask"])
    targets = windows["targets"]
    losses = crit(out, targets)
    last = {k: v for k, v in out.items() if k != "aux_outputs"}
    expected, skipped = _by_hand(out, targets, crit.matcher(last, targets), 0.5)
    torch.testing.assert_close(losses["loss_con"], expected)
    assert float(losses["con_skipped"]) == skipped == 1
    assert len(out["aux_outputs"]) == 2
    for i, aux in enumerate(out["aux_outputs"]):
        expected_i, _ = _by_hand(aux, targets, crit.matcher(aux, targets), 0.5)
        torch.testing.assert_close(losses[f"loss_con_{i}"], expected_i)
        assert f"con_skipped_{i}" in losses
    assert not torch.allclose(losses["loss_con"], losses["loss_con_0"])
    # without contrastive_aux, the last layer only
    no_aux = criterion(0.5, decoder_layers=3)[0](out, targets)
    torch.testing.assert_close(no_aux["loss_con"], expected)
    assert "loss_con_0" not in no_aux and "loss_bbox_0" in no_aux
    # targets without "pair" (fine-tuning's): every window skipped, loss zero
    plain = crit(out, [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
    assert float(plain["loss_con"]) == 0 and float(plain["con_skipped"]) == 3


def test_relaxed_matching_uses_each_targets_hungarian_query(windows):
    g = torch.Generator().manual_seed(2)  # a draw where both windows' best-tIoU queries differ from the Hungarian
    targets = windows["targets"][:2]
    out = {"pred_logits": torch.randn(2, QUERIES, 2, generator=g),
           "pred_boxes": torch.rand(2, QUERIES, 2, generator=g) * 0.5 + 0.1,
           "queries": torch.randn(2, QUERIES, 32, generator=g)}
    relaxed, _ = criterion(0.5, relaxed_matching=True)
    plain, _ = criterion(0.5)
    extra = [len(q) - len(set(t.tolist())) for q, t in relaxed.matcher(out, targets)]
    assert all(n > 0 for n in extra)  # the relaxed matching did add best-tIoU queries here
    expected, _ = _by_hand(out, targets, plain.matcher(out, targets), 0.5)
    torch.testing.assert_close(relaxed(out, targets)["loss_con"], expected)


def test_bad_input(windows):
    crit, _ = criterion()
    targets = windows["targets"][:1]
    out, _ = placed(targets, [Q])
    with pytest.raises(ValueError, match=r"window 0: pair \(0, 5\) must name two of its 4 targets"):
        crit(out, [{**targets[0], "pair": torch.tensor([0, 5])}])
    with pytest.raises(ValueError, match="'queries' output"):
        crit({k: v for k, v in out.items() if k != "queries"}, targets)
    with pytest.raises(ValueError, match="contrastive_temperature"):
        criterion(0.0)
