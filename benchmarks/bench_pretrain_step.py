"""NEMI pretraining's extra cost: a plain RTD-Net training step against the same step with
inter-activity re-assembling of every window and the contrastive query loss.

Thumos14 setting (the schema's model defaults: d 512, 6 decoder layers, 32 queries, windows of 100
steps, 2048-d features), batch 32, random features and boundary scores; each video is cut into
contiguous pseudo activities of 8-30 steps, and the windows are those ``nemi.windows`` builds.
One step = window slicing + (re-assembling each window, NumPy, before collation, as a DataLoader
worker would) + ``collate`` + forward + criterion (every auxiliary layer's matching) + backward +
clipping + AdamW. The two kinds of step alternate (plain, NEMI, plain, ...) on one model after one
untimed step of each, so that drift on a shared machine falls on both. The parts are also timed
alone: re-assembling a batch of windows, and the contrastive term (forward and backward on the
step's outputs).

    python benchmarks/bench_pretrain_step.py --steps 3          # ~3 minutes on a 2-core CPU
"""

from __future__ import annotations

import argparse
import platform
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3, help="timed steps of each kind")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--mode", choices=["insert", "overwrite"], default="insert")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import numpy as np
    import torch

    from nemi.engine import weighted_total
    from nemi.io.timebase import Timebase
    from nemi.model import ModelParams, build, build_criterion
    from nemi.reassemble import ReassembleParams, reassemble
    from nemi.windows.dataset import build_windows, collate
    from nemi.windows.grid import WindowParams

    dev = torch.device(args.device)
    rng = np.random.default_rng(0)
    tb = Timebase.native(30.0, 8, 16)
    n_steps, feats, bnd, ann = 600, {}, {}, {}
    for i in range(12):
        cuts = np.concatenate([[0], np.cumsum(rng.integers(8, 31, size=60))])
        cuts = cuts[cuts <= n_steps - 1]
        seconds = np.stack([cuts[:-1], cuts[1:]], axis=1) * 8 / 30.0
        feats[f"v{i}"] = (rng.normal(size=(n_steps, 2048)).astype(np.float32), tb, n_steps * 8 / 30.0)
        bnd[f"v{i}"] = (rng.uniform(size=(n_steps, 2)).astype(np.float32), tb)
        ann[f"v{i}"] = (seconds, np.zeros(len(seconds), np.int64))
    ds = build_windows(feats, WindowParams(100, 25, 25, None), "train", annotations=ann, boundary=bnd)
    plain_p = ModelParams.from_dict({})
    nemi_p = ModelParams.from_dict({"losses": [*plain_p.losses, "contrastive"]})
    torch.manual_seed(0)
    model, plain_crit, _ = build(plain_p)
    nemi_crit = build_criterion(nemi_p)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    rp = ReassembleParams(args.mode, 0.25, 0.75, 2, "copy_ends")
    order = rng.permutation(len(ds))
    cursor = 0

    def next_items() -> list[dict]:
        nonlocal cursor
        idx = order[np.arange(cursor, cursor + args.batch) % len(order)]
        cursor += args.batch
        return [ds.window(int(i)) for i in idx]

    def step(nemi: bool) -> tuple[list[float], float, int]:
        """([data, forward, criterion, backward + AdamW, step] s, contrastive fwd+bwd s alone, windows without a pair).

        data = window slicing, re-assembling (NEMI) and collate.
        """
        t0 = time.perf_counter()
        items = next_items()
        if nemi:
            done = [reassemble(it, rng, rp) for it in items]
            items, pairs = [d for d, _ in done], [p for _, p in done]
        batch = collate(items)
        targets = [{k: v.to(dev) for k, v in t.items()} for t in batch["targets"]]
        if nemi:
            for t, p in zip(targets, pairs):
                t["pair"] = torch.tensor(p if p is not None else (-1, -1), device=dev)
        t_data = time.perf_counter()
        out = model(batch["features"].to(dev), batch["boundary"].to(dev), batch["mask"].to(dev))
        t_fwd = time.perf_counter()
        crit = nemi_crit if nemi else plain_crit
        loss = weighted_total(crit(out, targets), crit.weight_dict)
        t_crit = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()
        t_end = time.perf_counter()
        phases = [t_data - t0, t_fwd - t_data, t_crit - t_fwd, t_end - t_crit, t_end - t0]
        t_con = 0.0
        if nemi:  # the term alone, on detached copies of this step's outputs (matching included)
            last = {k: v.detach().requires_grad_(True) for k, v in out.items() if k != "aux_outputs"}
            t1 = time.perf_counter()
            terms = nemi_crit.loss_contrastive(last, targets, nemi_crit.matcher(last, targets), 1.0)
            terms["loss_con"].backward()
            t_con = time.perf_counter() - t1
            # the matcher runs for the other terms anyway: only the rest is the term's own cost
            t2 = time.perf_counter()
            nemi_crit.matcher(last, targets)
            t_con -= time.perf_counter() - t2
        return phases, max(t_con, 0.0), sum(p is None for p in pairs) if nemi else 0

    step(False)
    step(True)
    plain, nemi, con_s, no_pair = [], [], [], 0
    for _ in range(args.steps):
        plain.append(step(False)[0])
        phases, c, n = step(True)
        nemi.append(phases)
        con_s.append(c)
        no_pair += n
    # re-assembling alone, over more batches (it is cheap)
    items = next_items()
    t0 = time.perf_counter()
    for _ in range(20):
        for it in items:
            reassemble(it, rng, rp)
    re_alone = (time.perf_counter() - t0) / 20

    plain_ms, nemi_ms = 1000 * np.array(plain), 1000 * np.array(nemi)  # (steps, 5 phases)
    p_ms, n_ms = np.median(plain_ms[:, -1]), np.median(nemi_ms[:, -1])
    parts = 1000 * (re_alone + np.median(con_s))
    paired = np.median((nemi_ms[:, -1] - plain_ms[:, -1]) / plain_ms[:, -1])
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, device {dev}; batch {args.batch}, mode {args.mode}, "
          f"{args.steps} timed steps of each kind; {len(ds)} windows; windows without a pair: "
          f"{no_pair}/{args.steps * args.batch}")
    print("| step | ms/step (median) | data | forward | criterion | backward + AdamW | every timed step, ms "
          "| overhead vs plain |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for name, ms, extra in (("plain RTD-Net", plain_ms, ""),
                            ("re-assembling + contrastive", nemi_ms,
                             f"{100 * (n_ms - p_ms) / p_ms:+.1f}% (medians), {100 * paired:+.1f}% (paired)")):
        med = np.median(ms, axis=0)
        print(f"| {name} | {med[-1]:.0f} | {med[0]:.0f} | {med[1]:.0f} | {med[2]:.0f} | {med[3]:.0f} | "
              f"{', '.join(f'{x:.0f}' for x in ms[:, -1])} | {extra} |")
    print(f"| parts alone: re-assembling {args.batch} windows {1000 * re_alone:.1f} ms, contrastive term "
          f"fwd+bwd {1000 * np.median(con_s):.1f} ms | {parts:.1f} | | | | | | {100 * parts / p_ms:+.2f}% |")


if __name__ == "__main__":
    main()
