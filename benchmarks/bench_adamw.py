"""AdamW's step on the demo's RTD-Net, torch's per-tensor loop (its CPU default) against ``foreach=True``.

    python benchmarks/bench_adamw.py [--steps 150] [--threads 1]

The same gradients feed both; the table gives ms per step and whether the weights after the last step
are equal to the bit (the training loop's choice, nemi.fit.optimiser, rests on both).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from nemi.model import ModelParams, build_model
from nemi.params import defaults

# config.yaml's presets.small_cpu model, on the schema's defaults.
DEMO_MODEL = {"hidden_dim": 128, "encoder_hidden_dim": 128, "ffn_dim": 256, "decoder_layers": 3, "num_queries": 32,
              "window_steps": 16, "dropout": 0.0}


def run(steps: int, **kw) -> tuple[list[torch.Tensor], float]:
    torch.manual_seed(0)
    model = build_model(ModelParams.from_dict({**defaults("model"), **DEMO_MODEL}))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4, **kw)
    g = torch.Generator().manual_seed(1)
    grads = [[torch.randn(p.shape, generator=g) for p in model.parameters()] for _ in range(3)]
    t0 = time.perf_counter()
    for i in range(steps):
        for p, gr in zip(model.parameters(), grads[i % 3]):
            p.grad = gr
        opt.step()
    return [p.detach().clone() for p in model.parameters()], (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a demo training job has 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    loop, ms_loop = run(a.steps, foreach=False)
    each, ms_each = run(a.steps, foreach=True)
    same = all(torch.equal(x, y) for x, y in zip(loop, each))
    print(f"# {platform.node()} {platform.machine()}, torch {torch.__version__}, {a.threads} thread(s), "
          f"{len(loop)} tensors, {a.steps} steps")
    print("| AdamW | ms/step | weights equal to the per-tensor loop's |")
    print("|---|---:|---|")
    print(f"| per-tensor loop (foreach=False) | {ms_loop:.2f} | - |")
    print(f"| foreach=True | {ms_each:.2f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
