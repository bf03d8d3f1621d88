"""Make tests/golden/rtd/rtd_golden.npz by running RTD-Action's own model and criterion on CPU.

    git clone https://github.com/MCG-NJU/RTD-Action /tmp/rtd && git -C /tmp/rtd checkout a1b357e
    RTD_ACTION_DIR=/tmp/rtd python tests/golden/rtd/make_rtd_golden.py

The weights, inputs, outputs and targets come from recipe.py (the tests regenerate them), so the
file holds only what the reference computed. torchvision is not needed: RTD-Action's
util/misc.py imports it only for a version check, so a stand-in module answers that.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import recipe  # noqa: E402

REF = Path(os.environ["RTD_ACTION_DIR"]).resolve()
sys.path.insert(0, str(REF))
sys.modules.setdefault("torchvision", types.SimpleNamespace(__version__="0.9.0"))
from models import rtd as ref_rtd  # noqa: E402


def ref_args(**over) -> argparse.Namespace:
    base = dict(hidden_dim=512, dropout=0.1, nheads=8, dim_feedforward=2048, enc_layers=3, dec_layers=6,
                pre_norm=False, position_embedding="sine", window_size=recipe.STEPS, num_queries=recipe.QUERIES,
                stage=1, aux_loss=True, set_cost_class=1.0, set_cost_bbox=5.0, set_cost_giou=2.0,
                relax_rule="topk", relax_thresh=0.7, bbox_loss_coef=5.0, giou_loss_coef=2.0, iou_loss_coef=100.0,
                eos_coef=0.1, device="cpu", interval=5, absolute_position=True)
    return argparse.Namespace(**(base | over))


def run_model(out: dict) -> None:
    model, _, post = ref_rtd.build(ref_args())
    state = {k: torch.from_numpy(v) for k, v in recipe.state_dict(
        {k: tuple(v.shape) for k, v in model.state_dict().items()}).items()}
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["position_embedding.position_table"] and not result.unexpected_keys, result
    model.eval()
    feats, boundary = (torch.from_numpy(a) for a in recipe.inputs())
    locations = torch.arange(recipe.STEPS, dtype=torch.float64).repeat(recipe.BATCH, 1)[..., None]
    with torch.no_grad():
        res = model(locations, feats, boundary)
    out["model_logits"] = res["pred_logits"].numpy()
    out["model_boxes"] = res["pred_boxes"].numpy()
    out["model_iou"] = res["pred_iou"].numpy()
    out["model_aux_logits"] = np.stack([a["pred_logits"].numpy() for a in res["aux_outputs"]])
    out["model_aux_boxes"] = np.stack([a["pred_boxes"].numpy() for a in res["aux_outputs"]])
    frames = torch.ones(recipe.BATCH)  # absolute_position with 1 frame per window: window units
    for stage in (1, 3):
        post["bbox"].stage = stage
        dets = post["bbox"](res, frames, None)
        out[f"post{stage}_scores"] = np.stack([d["scores"].numpy() for d in dets])
        out[f"post{stage}_segments"] = np.stack([d["boxes"].numpy() for d in dets])


def init_fingerprint(out: dict) -> None:
    """Per-tensor sums of a freshly built reference under torch.manual_seed(0): its initialisation."""
    torch.manual_seed(0)
    model, _, _ = ref_rtd.build(ref_args())
    state = model.state_dict()
    names = sorted(state)
    out["init_names"] = np.array(names)
    out["init_sums"] = np.array([state[k].double().sum().item() for k in names])
    out["init_abs_sums"] = np.array([state[k].double().abs().sum().item() for k in names])


def criterion_inputs() -> tuple[dict, list[dict]]:
    o = {k: torch.from_numpy(v) for k, v in recipe.outputs().items()}
    outputs = {"pred_logits": o["logits"][-1], "pred_boxes": o["boxes"][-1], "pred_iou": o["iou"],
               "aux_outputs": [{"pred_logits": a, "pred_boxes": b, "pred_iou": o["iou"]}
                               for a, b in zip(o["logits"][:-1], o["boxes"][:-1])]}
    targets = [{"labels": torch.zeros(len(s), dtype=torch.int64), "boxes": torch.from_numpy(s)}
               for s in recipe.targets()]
    return outputs, targets


def run_criterion(out: dict) -> None:
    outputs, targets = criterion_inputs()
    for stage in (1, 2, 3):
        _, criterion, _ = ref_rtd.build(ref_args(stage=stage))
        np.random.seed(0)  # the released loss_iou samples (to no effect on its value)
        losses = criterion(outputs, targets)
        for k, v in losses.items():
            out[f"stage{stage}_{k}"] = np.float64(float(v))
        if stage < 3:
            matched = criterion.matcher({k: v for k, v in outputs.items() if k != "aux_outputs"}, targets)
            out[f"stage{stage}_match_clip"] = np.concatenate([np.full(len(i), b) for b, (i, _) in enumerate(matched)])
            out[f"stage{stage}_match_query"] = np.concatenate([i.numpy() for i, _ in matched])
            out[f"stage{stage}_match_target"] = np.concatenate([j.numpy() for _, j in matched])


def main() -> None:
    out: dict = {}
    run_model(out)
    init_fingerprint(out)
    run_criterion(out)
    sha = subprocess.run(["git", "-C", str(REF), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out["reference_commit"] = np.array(sha)
    out["torch_version"] = np.array(torch.__version__)
    np.savez_compressed(HERE / "rtd_golden.npz", **out)
    for k in sorted(out):
        if k.startswith("stage") and np.ndim(out[k]) == 0:
            print(f"{k:32s} {float(out[k]):.8f}")


if __name__ == "__main__":
    main()
