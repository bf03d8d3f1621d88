"""Make golden.npz: BSN's TEM network, label builder and loss, run on small fixed inputs.

Run with a checkout of wzmsltw/BSN-boundary-sensitive-network.pytorch @ e50d129 (not committed here):

    BSN_DIR=/tmp/ref/bsn python tests/golden/tem/make_golden.py

Both this script and tests/test_tem.py fill the network's weights with ``fill_weights``
(a formula, so no weights are stored). Two shims let BSN's code run here and change no
arithmetic: ``.cuda()`` is the identity (no GPU), and ``dataset.py``'s Python 2 print
statements become print calls before it is executed.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
FEAT_DIM, HIDDEN, T, BATCH = 16, 512, 100, 2
# Hand-made video of 100 s rescaled to [0, 1] by BSN: a long action, a tiny one (its boundary
# region is 1/T wide), one overlapping the first, one at the video's end, one at its start.
SEGMENTS_S = [[10.0, 30.5], [29.0, 29.4], [33.3, 41.7], [70.25, 99.9], [0.0, 3.0]]


def fill_weights(model: torch.nn.Module) -> None:
    """Deterministic weights from a formula, in parameter order; scaled so the sigmoid sees a spread of values."""
    scale = {"conv1.weight": 0.2, "conv1.bias": 0.1, "conv2.weight": 0.05, "conv2.bias": 0.1,
             "conv3.weight": 150.0, "conv3.bias": 20.0}
    with torch.no_grad():
        for j, (name, p) in enumerate(model.named_parameters()):
            n = p.numel()
            v = np.sin(0.7310 * np.arange(n) + 1.3 * j) * np.cos(0.0173 * np.arange(n))
            p.copy_(torch.from_numpy(scale[name] * v).reshape(p.shape).to(p.dtype))


def inputs() -> np.ndarray:
    b, f, t = np.meshgrid(np.arange(BATCH), np.arange(FEAT_DIM), np.arange(T), indexing="ij")
    return np.sin(0.21 * t + 0.9 * f + 2.1 * b).astype(np.float32) + 0.3 * np.cos(0.05 * t * (f + 1)).astype(np.float32)


def main() -> None:
    bsn = Path(os.environ["BSN_DIR"])
    sys.path.insert(0, str(bsn))
    torch.Tensor.cuda = lambda self, *a, **k: self  # shim: no GPU here
    from loss_function import TEM_loss_function
    from models import TEM

    opt = {"tem_feat_dim": FEAT_DIM, "temporal_scale": T, "tem_batch_size": BATCH, "tem_hidden_dim": HIDDEN,
           "tem_match_thres": 0.5, "boundary_ratio": 0.1}
    net = TEM(opt)
    fill_weights(net)
    x = inputs()
    with torch.no_grad():
        out = net(torch.from_numpy(x))

    # BSN's label builder, from its dataset.py with the print statements made Python 3.
    src = re.sub(r"^(\s*)print (.*)$", r"\1print(\2)", (bsn / "dataset.py").read_text(), flags=re.M)
    mod = types.ModuleType("bsn_dataset")
    exec(compile(src, str(bsn / "dataset.py"), "exec"), mod.__dict__)
    ds = mod.VideoDataSet.__new__(mod.VideoDataSet)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"csv_mean_{T}").mkdir()
        np.savetxt(Path(tmp) / f"csv_mean_{T}" / "v.csv", x[0].T, delimiter=",",
                   header=",".join(f"f{i}" for i in range(FEAT_DIM)), comments="")
        ds.temporal_scale, ds.temporal_gap, ds.boundary_ratio = T, 1.0 / T, opt["boundary_ratio"]
        ds.feature_path, ds.video_list = tmp + "/", ["v"]
        ds.video_dict = {"v": {"duration_frame": 3000, "duration_second": 100.0, "feature_frame": 3000,
                               "annotations": [{"segment": s} for s in SEGMENTS_S]}}
        _, xmin, xmax = ds._get_base_data(0)
        labels = ds._get_train_label(0, xmin, xmax)
    y = [torch.stack([lab, lab.flip(0)]) for lab in labels]  # batch of 2: the video and its mirror image
    loss = TEM_loss_function(y[0], y[1], y[2], out, opt)
    np.savez_compressed(
        HERE / "golden.npz", x=x, out=out.numpy(), segments_s=np.array(SEGMENTS_S),
        labels=np.stack([lab.numpy() for lab in labels]),
        loss=np.array([loss[k].item() for k in ("loss_action", "loss_start", "loss_end", "cost")]))
    print("output range", float(out.min()), float(out.max()), "loss", [round(loss[k].item(), 6) for k in
                                                                        ("loss_action", "loss_start", "loss_end")])


if __name__ == "__main__":
    main()
