"""I3D's max pools: torch's ``F.max_pool3d`` against nemi's separable pool (one axis at a time).

    python benchmarks/bench_maxpool.py [--threads 1] [--rounds 5]

Times each of I3D's pool layers on the activations a clip gives it (the demo's 8x96x96 clips and the
Thumos14 setting's 16x224x224, batch 8), and the whole RGB network's forward with either pool, the
two taking turns; milliseconds are medians. Every row also checks that the two give equal outputs to
the bit (a max is exact, so they must).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from nemi.i3d import build_i3d
from nemi.i3d.network import MaxPool3dSame, _pad_same

SETTINGS = {"demo (8 x 96 x 96)": (8, 96), "Thumos14 (16 x 224 x 224)": (16, 224)}


def torch_pool(self: MaxPool3dSame, x: torch.Tensor) -> torch.Tensor:
    return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


def pool_inputs(model: torch.nn.Module, clip: torch.Tensor) -> list[tuple[str, MaxPool3dSame, torch.Tensor]]:
    """(name, pool, its input) for every pool layer, from one forward pass."""
    seen: list[tuple[str, MaxPool3dSame, torch.Tensor]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.append((name, mod, args[0])))
             for name, m in model.named_modules() if isinstance(m, MaxPool3dSame)]
    with torch.no_grad():
        model.extract_features(clip)
    for h in hooks:
        h.remove()
    return seen


def median_ms(fn, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"batch {args.batch}")
    model = build_i3d(3).eval()
    separable = MaxPool3dSame.forward
    for label, (frames, size) in SETTINGS.items():
        clip = torch.rand(args.batch, 3, frames, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        print(f"\n## {label}\n")
        print("| layer | input shape | max_pool3d ms | separable ms | speed-up | equal |")
        print("|---|---|---:|---:|---:|---|")
        totals = [0.0, 0.0]
        with torch.no_grad():
            for name, pool, x in pool_inputs(model, clip):
                equal = torch.equal(torch_pool(pool, x), separable(pool, x))
                a = median_ms(lambda p=pool, x=x: torch_pool(p, x), args.rounds)
                b = median_ms(lambda p=pool, x=x: separable(p, x), args.rounds)
                totals[0] += a
                totals[1] += b
                print(f"| {name} | {tuple(x.shape)} | {a:.1f} | {b:.1f} | {a / b:.1f}x | {equal} |")
            print(f"| all pools | | {totals[0]:.1f} | {totals[1]:.1f} | {totals[0] / totals[1]:.1f}x | |")
            whole = {}
            for mode, forward in (("max_pool3d", torch_pool), ("separable", separable)):
                MaxPool3dSame.forward = forward
                whole[mode] = (median_ms(lambda c=clip: model.extract_features(c), max(args.rounds // 2, 2)),
                               model.extract_features(clip))
            MaxPool3dSame.forward = separable
        equal = torch.equal(whole["max_pool3d"][1], whole["separable"][1])
        a, b = whole["max_pool3d"][0], whole["separable"][0]
        print(f"\nWhole RGB network, {args.batch} clips: {a:.0f} ms with max_pool3d, {b:.0f} ms separable "
              f"({a / b:.2f}x); features equal to the bit: {equal}")


if __name__ == "__main__":
    main()
