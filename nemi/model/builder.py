"""``build(params) -> (model, criterion, postprocess)``: the one place that reads ModelParams."""

from __future__ import annotations

from nemi.model.criterion import SetCriterion, aux_layer_losses
from nemi.model.matcher import HungarianMatcher
from nemi.model.params import ModelParams
from nemi.model.postprocess import PostProcess
from nemi.model.rtd import RTDNet

# Loss keys of each term that carry a weight; class_error, cardinality_error and con_skipped are only logged.
WEIGHTED_KEYS = {"labels": ("loss_ce",), "boxes": ("loss_bbox", "loss_giou"), "completeness": ("loss_iou",),
                 "contrastive": ("loss_con",)}


def build_model(p: ModelParams) -> RTDNet:
    return RTDNet(input_dim=p.input_dim, proj_dim=p.proj_dim, boundary_scale=p.boundary_scale,
                  hidden_dim=p.hidden_dim, encoder_layers=p.encoder_layers, encoder_hidden_dim=p.encoder_hidden_dim,
                  decoder_layers=p.decoder_layers, heads=p.heads, ffn_dim=p.ffn_dim, dropout=p.dropout,
                  num_queries=p.num_queries, window_steps=p.window_steps, aux_loss=p.aux_loss,
                  query_strategy=p.query_strategy)


def objective(p: ModelParams) -> dict[str, float]:
    """The last decoder layer's weighted loss keys, ``{key: weight}``: what a stage trains (run.json records it)."""
    base = {"loss_ce": p.weight_ce, "loss_bbox": p.weight_bbox, "loss_giou": p.weight_giou, "loss_iou": p.weight_iou,
            "loss_con": p.weight_con}
    return {k: base[k] for name in p.losses for k in WEIGHTED_KEYS.get(name, ())}


def weight_dict(p: ModelParams) -> dict[str, float]:
    """Weights of the last layer's losses and, with aux_loss, ``<key>_<i>`` for earlier layer i."""
    weights = objective(p)
    if p.aux_loss:
        per_layer = {k: weights[k] for name in aux_layer_losses(p.losses, p.contrastive_aux)
                     for k in WEIGHTED_KEYS.get(name, ())}
        weights |= {f"{k}_{i}": w for i in range(p.decoder_layers - 1) for k, w in per_layer.items()}
    return weights


def build_criterion(p: ModelParams) -> SetCriterion:
    matcher = HungarianMatcher(p.cost_class, p.cost_l1, p.cost_tiou, relaxed=p.relaxed_matching)
    return SetCriterion(
        matcher, p.losses, weight_dict(p), no_action_weight=p.no_action_weight, classification=p.classification,
        bce_tiou_threshold=p.bce_tiou_threshold, completeness_sampling=p.completeness_sampling,
        completeness_positive_tiou=p.completeness_positive_tiou,
        completeness_negative_tiou=p.completeness_negative_tiou,
        completeness_middle_per_positive=p.completeness_middle_per_positive,
        completeness_negatives_per_positive=p.completeness_negatives_per_positive,
        contrastive_temperature=p.contrastive_temperature, contrastive_aux=p.contrastive_aux)


def build(params: ModelParams) -> tuple[RTDNet, SetCriterion, PostProcess]:
    return build_model(params), build_criterion(params), PostProcess(params.proposal_score)
