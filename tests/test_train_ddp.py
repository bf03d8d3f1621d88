"""Data-parallel training: 2 CPU processes (gloo) end with the weights of one process on the same global batch."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from nemi.train.data import TrainingVideos
from tests.train_data import TINY_MODEL, fit_params, synthetic

# One window per video (10 steps = a window), one segment each: every process sees as many targets, so the
# criterion's per-process means average to the global one and the comparison can be exact.
PARAMS = {"schedule": "one_stage", "schedules": {"one_stage": {"main": {"epochs": 2}}},
          "holdout_share": 0, "select": "last", "batch_size": 4}
MODEL = {**TINY_MODEL, "dropout": 0.0}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from nemi.train.run import train

    feats, bnd, ann, gt = synthetic(n_videos=8, steps=10)
    videos = TrainingVideos(sorted(feats), [], [])
    model = train(feats, bnd, ann, videos, gt, fit_params(MODEL, **PARAMS), out)
    torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    from nemi.train.run import train

    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)
    assert all(torch.equal(r0[k], r1[k]) for k in r0), "ranks diverged"
    assert (tmp_path / "ddp" / "model.pt").is_file() and (tmp_path / "ddp" / "run.json").is_file()
    assert "processes\": 2" in (tmp_path / "ddp" / "run.json").read_text()

    torch.set_num_threads(1)
    feats, bnd, ann, gt = synthetic(n_videos=8, steps=10)
    single = train(feats, bnd, ann, TrainingVideos(sorted(feats), [], []), gt, fit_params(MODEL, **PARAMS),
                   tmp_path / "one").state_dict()
    init = torch.load(next((tmp_path / "one" / "runs").iterdir()) / "checkpoint.pt", weights_only=True)
    assert init["epoch"] == 2
    worst = max((single[k] - r0[k]).abs().max().item() for k in single)
    assert worst <= 1e-5, worst
