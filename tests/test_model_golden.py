"""RTD-Net against RTD-Action's own model, matcher, criterion and post-processing.

The goldens (tests/golden/rtd/rtd_golden.npz) were made by make_rtd_golden.py running the
reference on CPU; weights, inputs and criterion outputs/targets come from recipe.py on both sides.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from nemi.model import ModelParams, build, build_criterion
from nemi.segments import se_to_cw

GOLDEN = Path(__file__).parent / "golden" / "rtd"


def _recipe():
    spec = importlib.util.spec_from_file_location("rtd_recipe", GOLDEN / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipe = _recipe()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "rtd_golden.npz") as z:
        return dict(z)


@pytest.fixture(scope="module")
def model_outputs():
    torch.manual_seed(0)
    model, _, _ = build(ModelParams.from_dict({"num_queries": recipe.QUERIES, "window_steps": recipe.STEPS}))
    state = model.state_dict()
    weights = recipe.state_dict({k: tuple(v.shape) for k, v in state.items()})
    assert set(state) - set(weights) == {"position_embedding.position_table"}  # ours, computed by the model
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    model.eval()
    feats, boundary = (torch.from_numpy(a) for a in recipe.inputs())
    with torch.no_grad():
        return model(feats, boundary)


def test_model_outputs_equal_reference(model_outputs, golden):
    out = model_outputs
    for ours, key in ((out["pred_logits"], "model_logits"), (out["pred_boxes"], "model_boxes"),
                      (out["pred_iou"], "model_iou")):
        np.testing.assert_allclose(ours.numpy(), golden[key], rtol=0, atol=1e-5, err_msg=key)
    assert len(out["aux_outputs"]) == 5
    np.testing.assert_allclose(np.stack([a["pred_logits"].numpy() for a in out["aux_outputs"]]),
                               golden["model_aux_logits"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.stack([a["pred_boxes"].numpy() for a in out["aux_outputs"]]),
                               golden["model_aux_boxes"], rtol=0, atol=1e-5)
    # The goldens are not degenerate: queries and clips differ.
    assert golden["model_boxes"].std(axis=1).min() > 1e-3 and golden["model_iou"].std() > 1e-4


@pytest.mark.parametrize("stage, score", [(1, "class"), (3, "class_completeness")])
def test_postprocess_equals_reference(model_outputs, golden, stage, score):
    _, _, post = build(ModelParams.from_dict({"proposal_score": score}))
    res = post(model_outputs)
    np.testing.assert_allclose(res["scores"].numpy(), golden[f"post{stage}_scores"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(res["segments"].numpy(), golden[f"post{stage}_segments"], rtol=0, atol=1e-6)


def _criterion_inputs():
    o = {k: torch.from_numpy(v) for k, v in recipe.outputs().items()}
    outputs = {"pred_logits": o["logits"][-1], "pred_boxes": o["boxes"][-1], "pred_iou": o["iou"],
               "aux_outputs": [{"pred_logits": a, "pred_boxes": b} for a, b in zip(o["logits"][:-1], o["boxes"][:-1])]}
    # As nemi.windows.dataset.collate gives them: (centre, length); the reference takes (start, end).
    return outputs, [{"boxes": se_to_cw(torch.from_numpy(s))} for s in recipe.targets()]


STAGES = {
    1: {"losses": ["labels", "boxes", "cardinality"]},
    2: {"losses": ["labels", "boxes", "cardinality"], "relaxed_matching": True},
    3: {"losses": ["completeness"], "completeness_sampling": "released"},
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_criterion_terms_equal_reference(golden, stage):
    criterion = build_criterion(ModelParams.from_dict(STAGES[stage]))
    outputs, targets = _criterion_inputs()
    ours = {k: float(v) for k, v in criterion(outputs, targets).items()}
    theirs = {k[len(f"stage{stage}_"):]: float(v) for k, v in golden.items()
              if k.startswith(f"stage{stage}_") and "match" not in k}
    assert set(ours) == set(theirs)
    for k in sorted(theirs):
        assert ours[k] == pytest.approx(theirs[k], abs=1e-6, rel=0), k
    if stage < 3:
        assert len(theirs) == 5 + 4 * 5  # ce, class_error, bbox, giou, cardinality; 4 of them on 5 aux layers


@pytest.mark.parametrize("stage", [1, 2])
def test_matcher_equals_reference(golden, stage):
    matcher = build_criterion(ModelParams.from_dict(STAGES[stage])).matcher
    outputs, targets = _criterion_inputs()
    got = matcher(outputs, targets)
    clip = np.concatenate([np.full(len(q), b) for b, (q, _) in enumerate(got)])
    np.testing.assert_array_equal(clip, golden[f"stage{stage}_match_clip"])
    np.testing.assert_array_equal(np.concatenate([q.numpy() for q, _ in got]), golden[f"stage{stage}_match_query"])
    np.testing.assert_array_equal(np.concatenate([t.numpy() for _, t in got]), golden[f"stage{stage}_match_target"])
    if stage == 2:  # relaxation added positives beyond the one-to-one assignment
        assert len(golden["stage2_match_query"]) > len(golden["stage1_match_query"])


def test_recipe_weights_reach_every_parameter():
    params = dataclasses.replace(ModelParams.from_dict({}), decoder_layers=1)
    model, _, _ = build(params)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weights = recipe.state_dict(shapes)
    assert all(weights[k].shape == shapes[k] for k in weights)
    assert len({float(w.ravel()[0]) for w in weights.values()}) == len(weights)  # one stream per tensor


def test_initialisation_as_released(golden):
    """Built in the reference's order, equal seeds give the reference's very weights (xavier in the transformer)."""
    torch.manual_seed(0)
    model, _, _ = build(ModelParams.from_dict({}))
    state = model.state_dict()
    names = [str(n) for n in golden["init_names"]]
    assert sorted(state) == names
    np.testing.assert_allclose([state[k].double().sum().item() for k in names], golden["init_sums"],
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose([state[k].double().abs().sum().item() for k in names], golden["init_abs_sums"],
                               rtol=1e-9, atol=1e-9)
