"""The demo's schedule lengths, chosen on the held-out videos: the sweep behind config.yaml's epochs.

    python benchmarks/schedule_sweep.py finetune 'b8_e14:8,1e-4,14,11' 'b8_e20:8,1e-4,20,16'
    python benchmarks/schedule_sweep.py pretrain 'e12:12,9' 'e20:20,16' --finetune 8,1e-4,14,11

Each run is the workflow's own command for that job (asked of Snakemake with ``-n -p``, so the
features, prior, windows and every other setting are the demo's), with only the schedule edited:
``finetune`` runs ``nemi train`` of experiment ``rtd`` (RTD-Net from scratch) with ``batch,lr,epochs,
lr_step``; ``pretrain`` runs ``nemi pretrain`` of pretraining ``demo_hog`` with ``epochs,lr_step`` and
then fine-tunes from each (``--finetune``'s schedule), as experiment ``nemi_self`` does. Three seeds a
setting, two runs at a time (one thread each). The table gives each run's held-out AR@100 at its best
epoch and at its last, and its wall time. Nothing here reads the test split.

It needs a finished demo (``snakemake --cores 2``) in the working directory; runs go to ``--out``
(default ``/tmp/nemi_schedule_sweep``) and a finished one is read back, not rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

TARGETS = {"finetune": "results/demo/train/rtd/seed0/model.pt",
           "pretrain": "results/demo/pretrain/demo_hog/seed0/model.pt",
           "nemi": "results/demo/train/nemi_self/seed0/model.pt"}


def shell_command(target: str) -> list[str]:
    """The job's shell command as Snakemake would run it (log redirections dropped)."""
    out = subprocess.run(["snakemake", "-n", "-p", "--cores", "1", "--forcerun", target, "--", target],
                         capture_output=True, text=True, check=True).stdout
    out_dir = str(Path(target).parent)
    line = next(line for line in out.splitlines()
                if line.startswith("Shell command: nemi ") and f"--out-dir {out_dir} " in line)
    line = line.removeprefix("Shell command: ")
    return shlex.split(line.split(" > ")[0].split(" 2> ")[0])


def with_arg(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    return args


def run(args: list[str], out: Path) -> float:
    """Runs one job into ``out`` unless it finished before; its wall seconds."""
    done = out / "wall.txt"
    if not done.exists():
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t0 = time.time()
        subprocess.run(with_arg(args, "--out-dir", str(out)), check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done.write_text(str(time.time() - t0))
    return float(done.read_text())


def held_out(out: Path) -> dict:
    epochs = pd.read_csv(out / "epochs.csv")
    epochs = epochs[epochs.epoch > 0]
    best = epochs.loc[epochs["val_AR@100"].idxmax()]
    return {"best": best["val_AR@100"], "best_epoch": int(best.epoch), "last": epochs["val_AR@100"].iloc[-1]}


def finetune_args(base: list[str], seed: int, batch: int, lr: float, epochs: int, step: int) -> list[str]:
    i = base.index("--params") + 1
    params = json.loads(base[i])
    params["train"].update(seed=seed, batch_size=batch)
    params["train"]["schedules"]["one_stage"]["main"].update(lr=lr, epochs=epochs, lr_step_epochs=step)
    return base[:i] + [json.dumps(params)] + base[i + 1:]


def pretrain_args(base: list[str], seed: int, epochs: int, step: int) -> list[str]:
    i = base.index("--params") + 1
    params = json.loads(base[i])
    params["pretrain"]["seed"] = seed
    params["pretrain"]["train"]["seed"] = seed
    params["pretrain"]["train"]["schedules"]["nemi_pretrain"]["main"].update(epochs=epochs, lr_step_epochs=step)
    return base[:i] + [json.dumps(params)] + base[i + 1:]


def numbers(text: str, kinds: tuple) -> tuple:
    return tuple(kind(v) for kind, v in zip(kinds, text.split(","), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("finetune", "pretrain"))
    ap.add_argument("settings", nargs="+",
                    help="name:values (finetune: batch,lr,epochs,lr_step; pretrain: epochs,lr_step)")
    ap.add_argument("--finetune", default="8,1e-4,14,11", help="pretrain: the fine-tuning after it")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/nemi_schedule_sweep"))
    args = ap.parse_args()
    ft_kinds = (int, float, int, int)

    def one(job: tuple[str, tuple, int]) -> dict:
        name, values, seed = job
        if args.what == "finetune":
            out = args.out / f"finetune_{name}_seed{seed}"
            out.mkdir(parents=True, exist_ok=True)
            wall = run(finetune_args(shell_command(TARGETS["finetune"]), seed, *values), out)
            return {"setting": name, "seed": seed, **held_out(out), "wall_s": wall}
        pre = args.out / f"pretrain_{name}_seed{seed}"
        pre.mkdir(parents=True, exist_ok=True)
        pre_wall = run(pretrain_args(shell_command(TARGETS["pretrain"]), seed, *values), pre)
        ft = args.out / f"nemi_{name}_seed{seed}"
        ft.mkdir(parents=True, exist_ok=True)
        nemi = with_arg(shell_command(TARGETS["nemi"]), "--init", str(pre / "model.pt"))
        ft_wall = run(finetune_args(nemi, seed, *numbers(args.finetune, ft_kinds)), ft)
        pre_scores = held_out(pre)
        return {"setting": name, "seed": seed, "pretrain_best": pre_scores["best"], "pretrain_last": pre_scores["last"],
                "pretrain_wall_s": pre_wall, **held_out(ft), "wall_s": ft_wall}

    kinds = ft_kinds if args.what == "finetune" else (int, int)
    jobs = [(name, numbers(values, kinds), seed) for name, values in (s.split(":") for s in args.settings)
            for seed in args.seeds]
    with ThreadPoolExecutor(2) as pool:
        rows = pd.DataFrame(list(pool.map(one, jobs)))
    print(rows.round(3).to_string(index=False))
    print()
    print(rows.drop(columns="seed").groupby("setting").agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
