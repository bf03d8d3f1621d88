"""The processes a run is trained by: one, or one per GPU under torchrun (``WORLD_SIZE`` > 1).

With several processes the gradients are averaged across them (DistributedDataParallel), the sampler
is sharded and only rank 0 writes; everything else in the loop is the same in every process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from nemi.errors import NemiConfigError
from nemi.fit.params import TrainParams


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def writer(self) -> bool:
        return self.rank == 0


def check_devices(params: TrainParams) -> None:
    """Before any work: a config asking for more GPUs than this machine has is refused."""
    have = torch.cuda.device_count()
    if params.gpus > have:
        raise NemiConfigError(f"train.gpus is {params.gpus} but this machine has {have} CUDA GPU(s)")


def setup_distributed(params: TrainParams) -> Dist:
    """This process's rank and device, the process group joined when torchrun started several: what the
    rest of the loop asks before it shards, wraps or writes."""
    check_devices(params)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() and (params.gpus > 0 or world == 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if use_cuda else "cpu")
    if world > 1 and not torch.distributed.is_initialized():
        if params.batch_size % world:
            raise NemiConfigError(f"train.batch_size ({params.batch_size}) must be a multiple of the "
                                  f"{world} processes")
        if use_cuda:
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(rank, world, device)


def data_parallel(model: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    """``model`` as the optimiser steps it: wrapped to average gradients across processes, or itself in one.
    Wrapped anew each stage, since DDP fixes the trainable parameters when it is built; unused-parameter
    detection lets a stage whose losses leave a trainable head out still run."""
    if dist.world <= 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[dist.device] if dist.device.type == "cuda" else None, find_unused_parameters=True)
