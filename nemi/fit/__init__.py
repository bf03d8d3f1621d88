"""The training loop the model-fitting stages share (``nemi train``, ``nemi pretrain``).

``nemi.fit.params`` (FitParams: the model, TrainParams and the schedule's stages, the window grid)
imports no torch, so the workflow can check a config while it plans the DAG; ``nemi.fit.loop.fit``
trains; ``nemi.fit.state`` holds what a killed run needs to resume. The loop's other helpers: ``identity``
(the run's config and hash), ``distributed`` (processes and devices), ``optimiser`` (a stage's),
``holdout`` (the videos that choose checkpoints, and their scores), ``progress`` (epoch rows, best epochs)
and ``outputs`` (what is written, when).
"""


def relaunch_under_torchrun(gpus: int) -> int | None:
    """With ``gpus`` > 1 and not yet under torchrun: run this same command as one process per GPU and
    return its exit status (so a rule stays one line); otherwise None, and the caller goes on."""
    import os
    import subprocess
    import sys

    if gpus <= 1 or "WORLD_SIZE" in os.environ:
        return None
    return subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            f"--nproc-per-node={gpus}", "-m", "nemi", *sys.argv[1:]])


def add_run_arguments(parser, boundary_help: str) -> None:
    """The arguments every fitting command takes: its inputs on disk and where it writes (its parameters:
    ``nemi.params.add_arguments``)."""
    import argparse

    parser.add_argument("--features", nargs="+", required=True, help="feature shards (.h5)")
    parser.add_argument("--boundary", required=True, help=boundary_help)
    parser.add_argument("--manifest", required=True, help="manifest CSV with a split column")
    parser.add_argument("--out-dir", required=True, help="writes model.pt, epochs.csv, learning_curve.png, run.json")
    parser.add_argument("--run-dir", default=None,
                        help="checkpoints; default OUT_DIR/runs/<config hash>, so the same command resumes")
    parser.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)  # a kill, for tests
