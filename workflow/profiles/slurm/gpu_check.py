"""Before a SLURM run submits anything: jobs that ask for GPUs need a partition that has GPUs.

sbatch would refuse such a job only when it is submitted ("Requested node configuration is not
available"), after the jobs before it have run; this check stops the run at its start with one message
naming the rules, their GPU requests and the partitions. handlers.smk's onstart calls ``check`` when the
executor is slurm. Run as a script, it prints the GPUs of each partition (`sinfo`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable

from snakemake.exceptions import WorkflowError

# `sinfo -o` fields: partition (default marked with *), generic resources per node, node count.
SINFO_FORMAT = "%P|%G|%D"
DEFAULT = None  # a job with no slurm_partition goes to the cluster's default partition


def _gres_gpus(gres: str) -> int:
    """GPUs in a gres string: ``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:fake:1,mps:100``, ``(null)``."""
    total = 0
    for part in re.sub(r"\([^)]*\)", "", gres or "").split(","):
        fields = part.strip().split(":")
        if fields[0] != "gpu":
            continue
        total += int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1
    return total


def partition_gpus(sinfo_out: str) -> tuple[dict[str, int], str | None]:
    """{partition: GPUs on its nodes} and the default partition, from ``sinfo -h -o SINFO_FORMAT``."""
    gpus: dict[str, int] = defaultdict(int)
    default = None
    for line in sinfo_out.splitlines():
        if not line.strip():
            continue
        name, gres, nodes = line.strip().split("|")
        if name.endswith("*"):
            name = name[:-1]
            default = name
        gpus[name] += _gres_gpus(gres) * int(nodes)
    return dict(gpus), default


def job_gpus(resources) -> int:
    """GPUs a job asks for, the ways the slurm plugin reads them: ``gpu``/``gpus`` or ``gres="gpu:..."``."""
    for key in ("gpu", "gpus"):
        value = resources.get(key)
        if value:
            return int(value)
    gres = resources.get("gres")
    return _gres_gpus(gres) if isinstance(gres, str) else 0


def run_sinfo() -> str:
    return subprocess.run(["sinfo", "-h", "-o", SINFO_FORMAT], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def check(jobs: Iterable, sinfo: Callable[[], str] = run_sinfo) -> None:
    """Raises WorkflowError if a job asks for GPUs in a partition without any. ``jobs``: Snakemake jobs
    (``.rule.name``, ``.resources``), e.g. ``workflow.dag.needrun_jobs()``."""
    wanted: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for job in jobs:
        n = job_gpus(job.resources)
        if n:
            wanted[job.resources.get("slurm_partition") or DEFAULT][f"{job.rule.name} (gpu={n})"] += 1
    if not wanted:
        return
    gpus, default = partition_gpus(sinfo())
    problems = []
    for partition, rules in wanted.items():
        name = partition if partition is not DEFAULT else default
        if gpus.get(name, 0) == 0:
            where = f"partition {name}" if partition is not DEFAULT else f"the default partition ({name})"
            listed = ", ".join(f"{n} job(s) of rule {r}" for r, n in sorted(rules.items()))
            problems.append(f"{listed} ask for GPUs, but {where} has none")
    if problems:
        have = ", ".join(f"{p}: {n}" for p, n in sorted(gpus.items())) or "no partitions"
        raise WorkflowError(
            "nemi: " + "; ".join(problems) + f" (GPUs per partition, from sinfo: {have}). Nothing was submitted. "
            "Name a partition with GPUs for those rules (set-resources: {RULE: {slurm_partition: NAME}} in the "
            "profile), or run them on CPUs (feature extraction: features.device: cpu in the dataset's config)."
        )


if __name__ == "__main__":
    found, default_partition = partition_gpus(run_sinfo())
    for part, n in sorted(found.items()):
        print(f"{part}{' (default)' if part == default_partition else ''}: {n} GPU(s)")
    sys.exit(0)
