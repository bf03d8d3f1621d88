"""Train the TEM on a dataset's windows and score whole videos with it.

BSN's schedule: Adam (lr, weight decay), the learning rate times ``lr_gamma`` every
``lr_step_epochs`` epochs, batches of windows in random order. BSN drops the last
incomplete batch; here it is kept, so that a handful of windows still trains.
"""

from __future__ import annotations

import numpy as np
import torch

from nemi.log import logger
from nemi.tem.loss import tem_loss
from nemi.tem.network import TEM
from nemi.tem.params import TemParams
from nemi.tem.targets import tem_targets
from nemi.windows.dataset import WindowDataset, collate


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def batch_targets(segments: list[torch.Tensor], n_steps: int, boundary_ratio: float) -> torch.Tensor:
    """(B, 3, T) labels from each window's segments (window units)."""
    return torch.from_numpy(np.stack([tem_targets(s.numpy(), n_steps, boundary_ratio).T for s in segments]))


def fit(windows: WindowDataset, params: TemParams, device: str | torch.device = "auto") -> TEM:
    """A TEM trained on ``windows`` (their segments are the labels); returned in eval mode on ``device``."""
    if len(windows) == 0:
        raise ValueError("no windows to train the TEM on")
    dev = resolve_device(device)
    feat_dim = windows[0]["features"].shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        model = TEM(feat_dim, params.hidden_dim)
    model.to(dev)
    loader = torch.utils.data.DataLoader(windows, batch_size=params.batch_size, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(params.seed))
    optimiser = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimiser, step_size=params.lr_step_epochs, gamma=params.lr_gamma)
    model.train()
    for epoch in range(params.epochs):
        total, n = 0.0, 0
        for batch in loader:
            x = batch["features"].to(dev).transpose(1, 2)
            labels = batch_targets(batch["segments"], x.shape[2], params.boundary_ratio).to(dev)
            loss = tem_loss(model(x), labels, params.match_threshold, batch["mask"].to(dev))
            optimiser.zero_grad()
            loss["cost"].backward()
            optimiser.step()
            total, n = total + loss["cost"].item(), n + 1
        scheduler.step()
        logger.info("TEM epoch %d/%d: loss %.4f (lr %.2g)", epoch + 1, params.epochs, total / n,
                    optimiser.param_groups[0]["lr"])
    return model.eval()


@torch.no_grad()
def score(model: TEM, features: np.ndarray | torch.Tensor) -> np.ndarray:
    """(T, F) features of a whole video (on any grid) -> (T, 3) float32: action, start, end.

    The network is convolutional, so a whole video runs at once: the same as its windows
    except within two steps of a window's edge, where a window sees zero padding.
    """
    dev = next(model.parameters()).device
    x = features if isinstance(features, torch.Tensor) else torch.from_numpy(np.asarray(features, dtype=np.float32))
    was_training = model.training
    model.eval()
    out = model(x.to(dev, torch.float32).T.unsqueeze(0))[0].T
    model.train(was_training)
    return out.cpu().numpy().astype(np.float32)
