# What a run does when it starts (record each dataset's merged config; check a cluster's GPUs) and when it
# succeeds (count the skipped videos).

import json
import os
from pathlib import Path

import yaml


# Every run records each dataset's merged config (defaults filled in) beside its artifacts: each one the
# planned targets reached (those DS merged), the default targets' or a named file's.
onstart:
    for name in sorted(_EFFECTIVE):
        os.makedirs(f"results/{name}", exist_ok=True)
        tmp = f"results/{name}/.config.merged.yaml.tmp"
        with open(tmp, "w") as f:
            yaml.safe_dump(json.loads(json.dumps(DS(name))), f, sort_keys=False)
        os.replace(tmp, f"results/{name}/config.merged.yaml")
    # A cluster run whose jobs ask for GPUs where the partition has none stops here, before any sbatch.
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        import runpy

        _gpu_check = runpy.run_path(os.path.join(workflow.basedir, "workflow/profiles/slurm/gpu_check.py"))
        _gpu_check["check"](workflow.dag.needrun_jobs())


# Skipped videos are easy to miss in per-shard CSVs: say how many, and where the list is.
onsuccess:
    import csv

    for name in config["targets"]:
        csvs = sorted(Path(f"results/{name}/frames").glob("*.skipped.csv"))
        n = sum(max(0, len(list(csv.reader(p.open()))) - 1) for p in csvs)
        if n:
            print(f"nemi: {n} video(s) of dataset {name} were skipped; see results/{name}/frames/*.skipped.csv")
