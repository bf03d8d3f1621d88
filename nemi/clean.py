"""``nemi clean --runs``: list (and with ``--yes`` remove) superseded training-run folders.

Every training and pretraining job keeps its checkpoints in ``<out>/runs/<config hash>/`` so that a
killed job resumes where it stopped. A config change starts a new folder and leaves the old one
(25 MB for the demo's model, far more for Thumos14's) behind. A folder is superseded when the run
recorded in ``<out>/run.json`` has another hash and finished after the folder was last written:
a folder written later may be a newer config's killed run, which the next job resumes, so it stays.
"""

from __future__ import annotations

import argparse
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nemi.errors import NemiInputError
from nemi.io.artifacts import read_json

# nemi.fit.identity.config_hash: the first 16 hex digits of a sha256.
_RUN_NAME = re.compile(r"[0-9a-f]{16}")
# What nemi.fit writes into a run folder; a folder holding anything else is left alone.
_OWN_FILE = re.compile(r"checkpoint\.pt|best_[A-Za-z0-9_]+\.pt|epochs\.csv|learning_curve\.png"
                       r"|\..+\.tmp-[a-z0-9_]{8}")  # the last: an interrupted atomic write's temporary


@dataclass(frozen=True)
class RunFolder:
    path: Path
    current: str  # the hash run.json records
    size: int  # bytes
    foreign: tuple[str, ...]  # files nemi does not write there


def _files(folder: Path) -> list[Path]:
    return [f for f in folder.rglob("*") if f.is_file()]


def superseded_runs(roots: list[Path]) -> list[RunFolder]:
    """The superseded run folders below ``roots``, sorted by path."""
    found: dict[Path, RunFolder] = {}
    for root in roots:
        for record in sorted(root.rglob("run.json")):
            runs = record.parent / "runs"
            if not runs.is_dir():
                continue
            current = str(read_json(record, "training run record").get("config_hash", ""))
            finished = record.stat().st_mtime
            for folder in sorted(runs.iterdir()):
                if not folder.is_dir() or not _RUN_NAME.fullmatch(folder.name) or folder.name == current:
                    continue
                files = _files(folder)
                if max((f.stat().st_mtime for f in files), default=folder.stat().st_mtime) > finished:
                    continue
                foreign = tuple(sorted(str(f.relative_to(folder)) for f in files
                                       if f.parent != folder or not _OWN_FILE.fullmatch(f.name)))
                found[folder] = RunFolder(folder, current, sum(f.stat().st_size for f in files), foreign)
    return [found[k] for k in sorted(found)]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _run(args: argparse.Namespace) -> int:
    roots = [Path(p) for p in args.paths]
    for root in roots:
        if not root.is_dir():
            raise NemiInputError(f"{root}: no such folder (nemi clean --runs looks below results folders)")
    folders = superseded_runs(roots)
    removable = [f for f in folders if not f.foreign]
    if not folders:
        print(f"no superseded run folder below {', '.join(map(str, roots))}")
        return 0
    print("superseded run folders (a run of another config finished after each was last written):")
    for f in folders:
        note = (f"; kept: holds files nemi does not write ({', '.join(f.foreign[:3])})" if f.foreign else "")
        print(f"  {f.path}  {_mb(f.size)}  (run.json's run: {f.current}){note}")
    total = _mb(sum(f.size for f in removable))
    if not args.yes:
        print(f"{len(removable)} folder(s), {total}; dry run, nothing removed: `nemi clean --runs --yes` removes them")
        return 0
    for f in removable:
        shutil.rmtree(f.path)
    print(f"removed {len(removable)} folder(s), {total}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clean", help="list or remove superseded training-run folders (runs/<config hash>/)")
    p.add_argument("--runs", action="store_true", required=True,
                   help="superseded train/<experiment>/seed<n>/runs/<hash>/ and pretrain/<name>/seed<k>/runs/<hash>/ "
                        "folders: another config's run finished after they were last written")
    p.add_argument("paths", nargs="*", default=["results"], metavar="PATH",
                   help="folders to look below (default: results)")
    p.add_argument("--yes", "--delete", dest="yes", action="store_true",
                   help="remove them (default: a dry run that only lists them)")
    p.set_defaults(func=_run)
