"""What every shipped schedule trains, term by term, and the schedules a run refuses.

The table below is the objective of each stage of every pretraining and fine-tuning that the shipped
configs define, computed the way a run computes it (the dataset's merged config, the pretraining's
switches, each stage's model overrides, the builder's weights). A change to any schedule's losses or
weights fails the row that names it: change the table only with the README's statement of the objective.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from nemi import experiments
from nemi.datasets import deep_merge, effective_config
from nemi.errors import NemiConfigError
from nemi.fit.params import FitParams, TrainParams
from nemi.model import ModelParams, build_criterion, weight_dict
from nemi.pretrain.params import PretrainFitParams, label_free
from tests.conftest import REPO

# The paper's pretraining objective, L = 1 L_cls + 5 L_loc + 2 L_overlap + 1 L_con, as loss keys.
PAPER = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0, "loss_con": 1.0}
NO_CON = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}   # the no-contrastive ablation; RTD-Net stages 1, 2
COMPLETENESS = {"loss_iou": 100.0}                                # RTD-Net stage 3: the completeness head alone
ONE_STAGE = {**NO_CON, **COMPLETENESS}                            # fine-tuning in one stage, every head at once

# (config file, entry, stage) -> (the last decoder layer's {key: weight}, each earlier layer's); earlier layers
# get neither the completeness term (its head reads the last layer) nor, without contrastive_aux, L_con.
EXPECTED = {
    ("config.yaml", "datasets.demo.train", "main"): (ONE_STAGE, NO_CON),
    ("config.yaml", "datasets.demo2.train", "main"): (ONE_STAGE, NO_CON),
    ("config.yaml", "pretrainings.demo_hog", "main"): (PAPER, NO_CON),
    ("config.yaml", "pretrainings.demo2_hog", "main"): (PAPER, NO_CON),
    ("config.yaml", "pretrainings.demo_cnn", "main"): (PAPER, NO_CON),
    ("config.yaml", "pretrainings.demo_query", "main"): (PAPER, NO_CON),
    ("config.yaml", "pretrainings.demo_nocon", "main"): (NO_CON, NO_CON),
    ("config.yaml", "pretrainings.demo_noreas", "main"): (PAPER, NO_CON),
    ("thumos14.yaml", "datasets.thumos.train", "stage1"): (NO_CON, NO_CON),
    ("thumos14.yaml", "datasets.thumos.train", "stage2"): (NO_CON, NO_CON),
    ("thumos14.yaml", "datasets.thumos.train", "stage3"): (COMPLETENESS, {}),
    ("thumos14.yaml", "pretrainings.thumos_hog", "main"): (PAPER, NO_CON),
    ("thumos14.yaml", "pretrainings.thumos_cnn", "main"): (PAPER, NO_CON),
    ("thumos14.yaml", "pretrainings.thumos_query", "main"): (PAPER, NO_CON),
    ("thumos14.yaml", "pretrainings.thumos_nocon", "main"): (NO_CON, NO_CON),
    ("thumos14.yaml", "pretrainings.thumos_noreas", "main"): (PAPER, NO_CON),
    ("activitynet13.yaml", "datasets.anet.train", "stage1"): (NO_CON, NO_CON),
    ("activitynet13.yaml", "datasets.anet.train", "stage2"): (NO_CON, NO_CON),
    ("activitynet13.yaml", "datasets.anet.train", "stage3"): (COMPLETENESS, {}),
    ("activitynet13.yaml", "pretrainings.anet_hog", "main"): (PAPER, NO_CON),
    ("thumos14_cross.yaml", "pretrainings.anet_hog_thumos", "main"): (PAPER, NO_CON),
}
FILES = ["config.yaml", "thumos14.yaml", "activitynet13.yaml", "thumos14_cross.yaml"]


def _read(name: str) -> dict:
    return yaml.safe_load(((REPO if name == "config.yaml" else REPO / "workflow" / "configs") / name).read_text())


def _stage_weights(fitting: FitParams) -> dict[str, dict[str, float]]:
    """Each stage's weights, built as nemi.fit.loop.fit builds them."""
    base = fitting.model.to_dict()
    return {st.name: weight_dict(st.model_params(base)) for st in fitting.train.stages()}


def _pretraining(model: dict | None = None, **pretrain) -> PretrainFitParams:
    return PretrainFitParams.from_dict({"model": model or {}, "pretrain": pretrain})


def _shipped() -> dict[tuple[str, str, str], dict[str, float]]:
    cfg = {}
    out = {}
    for name in FILES:
        own = _read(name)
        # Layered in order, as README gives them (thumos14_cross.yaml needs both datasets before it).
        cfg = deep_merge(cfg, own)
        for ds in own.get("datasets") or {}:
            eff = effective_config(cfg, ds)
            fitting = FitParams.from_dict({"model": eff["model"], "train": experiments.train_section(eff, 0)})
            for stage, w in _stage_weights(fitting).items():
                out[(name, f"datasets.{ds}.train", stage)] = w
        for pre in own.get("pretrainings") or {}:
            eff = effective_config(cfg, experiments.pretraining(cfg, pre)["dataset"])
            model = experiments.pretrain_model(cfg, pre, lambda n, cfg=cfg: effective_config(cfg, n))
            p = PretrainFitParams.from_dict({"model": model, "train": label_free(eff["train"]),
                                             "pretrain": experiments.pretrain_section(cfg, pre, eff)})
            for stage, w in _stage_weights(p).items():
                out[(name, f"pretrainings.{pre}", stage)] = w
    return out


SHIPPED = _shipped()


def test_the_table_names_every_shipped_stage():
    assert sorted(SHIPPED) == sorted(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: "/".join(k))
def test_each_shipped_stage_trains_what_the_table_says(key):
    last, earlier = EXPECTED[key]
    weights = SHIPPED[key]
    assert {k: w for k, w in weights.items() if not k[-1].isdigit()} == last
    layers = sorted({int(k.rsplit("_", 1)[1]) for k in weights if k[-1].isdigit()})
    assert layers == (list(range(len(layers))) if earlier else []) and (layers or not earlier)
    for i in layers:
        assert {k.removesuffix(f"_{i}"): w for k, w in weights.items() if k.endswith(f"_{i}")} == earlier


def test_cardinality_is_logged_never_trained():
    """DETR's cardinality error: in the pretraining's losses for epochs.csv, with no weight and no gradient."""
    p = ModelParams.from_dict({"losses": ["labels", "boxes", "cardinality"], "num_queries": 4, "decoder_layers": 2})
    crit = build_criterion(p)
    out = {"pred_logits": torch.randn(1, 4, 2, requires_grad=True), "pred_boxes": torch.rand(1, 4, 2) * 0.4 + 0.1,
           "pred_iou": torch.rand(1, 4, 1)}
    losses = crit(out, [{"boxes": torch.tensor([[0.3, 0.2], [0.7, 0.2]])}])
    assert "cardinality_error" in losses and not losses["cardinality_error"].requires_grad
    assert not any(k.startswith("cardinality") for k in weight_dict(p))


# --- refused: a schedule naming a loss that does not exist; a pretraining term the paper does not have ---

def test_a_schedule_naming_a_loss_that_does_not_exist_is_refused_naming_it():
    with pytest.raises(NemiConfigError, match=r"train\.schedules\.one_stage\.main\.model\.losses: no loss 'boxs'; "
                                              r"known: labels, boxes, cardinality, completeness, contrastive"):
        TrainParams.from_dict({"schedule": "one_stage",
                               "schedules": {"one_stage": {"main": {"model": {"losses": ["labels", "boxs"]}}}}})
    # a schedule that is not the one run now is checked too, and a pretraining's schedule while the DAG is planned
    with pytest.raises(NemiConfigError, match=r"train\.schedules\.nemi_pretrain\.main\.model\.losses: no loss 'l1'"):
        TrainParams.from_dict({"schedules": {"nemi_pretrain": {"main": {"model": {"losses": ["l1"]}}}}})
    cfg = deep_merge(_read("config.yaml"), {"datasets": {"demo": {"pretrain": {"train": {
        "schedules": {"nemi_pretrain": {"main": {"model": {"losses": ["labels", "contrastiv"]}}}}}}}}})
    with pytest.raises(NemiConfigError, match=r"pretrainings\.demo_hog: .*nemi_pretrain\.main\.model\.losses: "
                                              r"no loss 'contrastiv'"):
        experiments.check(cfg, lambda n: effective_config(cfg, n))
    with pytest.raises(NemiConfigError, match="must be a list of loss names, not 'labels'"):
        TrainParams.from_dict({"schedules": {"one_stage": {"main": {"model": {"losses": "labels"}}}}})


def test_a_pretraining_trains_a_term_beyond_the_papers_only_when_named():
    with pytest.raises(NemiConfigError, match=r"train\.schedules\.one_stage\.main\.model\.losses trains completeness, "
                                              r"not a term of the paper's .*pretrain\.extra_losses"):
        _pretraining(train={"schedule": "one_stage"})
    with pytest.raises(NemiConfigError, match=r"model\.losses .* trains completeness"):
        _pretraining({"losses": ["labels", "boxes", "completeness"]})
    with pytest.raises(NemiConfigError, match="trains contrastive, but pretrain.contrastive is false"):
        _pretraining(contrastive=False, train={"schedule": "nemi_pretrain", "schedules": {"nemi_pretrain": {"main": {
            "model": {"losses": ["labels", "boxes", "contrastive"]}}}}})
    # named: trained, at model.weight_iou, in the default schedule and in one_stage alike
    for train in ({"schedule": "nemi_pretrain"}, {"schedule": "one_stage"}):
        weights = _stage_weights(_pretraining(extra_losses=["completeness"], train=train))["main"]
        assert {k: w for k, w in weights.items() if not k[-1].isdigit()} == {**PAPER, **COMPLETENESS}
    with pytest.raises(NemiConfigError, match=r"nemi_pretrain\.main\.trainable is all_but_completeness"):
        frozen = {"nemi_pretrain": {"main": {"trainable": "all_but_completeness"}}}
        _pretraining(extra_losses=["completeness"], train={"schedule": "nemi_pretrain", "schedules": frozen})
    cfg = deep_merge(_read("config.yaml"), {"pretrainings": {"demo_hog": {"dataset": "demo",
                                                                           "train": {"schedule": "one_stage"}}}})
    with pytest.raises(NemiConfigError, match=r"pretrainings\.demo_hog: pretrain: .*trains completeness"):
        experiments.check(cfg, lambda n: effective_config(cfg, n))
