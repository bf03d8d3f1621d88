"""``nemi inspect PATH``: a readable summary of any nemi artifact (HDF5, pseudo labels, CSV, JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nemi.errors import NemiInputError

_MAX_ATTR_CHARS = 100


def _fmt_attr(value) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = str(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= _MAX_ATTR_CHARS else text[: _MAX_ATTR_CHARS - 3] + "..."


def summarize_h5(path: str | Path, max_groups: int = 50) -> str:
    import h5py

    lines = [f"{path}: HDF5"]
    from nemi.io.h5 import open_h5

    with open_h5(path) as h5:
        for k, v in h5.attrs.items():
            lines.append(f"  @{k} = {_fmt_attr(v)}")
        groups = sorted(h5.keys())
        lines.append(f"  {len(groups)} top-level entries")
        for name in groups[:max_groups]:
            obj = h5[name]
            if isinstance(obj, h5py.Dataset):
                lines.append(f"  {name}: dataset {obj.shape} {obj.dtype}")
                continue
            lines.append(f"  {name}/")
            for k, v in obj.attrs.items():
                lines.append(f"    @{k} = {_fmt_attr(v)}")
            for dname, ds in obj.items():
                kind = "vlen " + str(ds.dtype.metadata.get("vlen")) if ds.dtype.metadata else str(ds.dtype)
                lines.append(f"    {dname}: {ds.shape} {kind}")
        if len(groups) > max_groups:
            lines.append(f"  ... {len(groups) - max_groups} more")
    return "\n".join(lines)


def summarize_pseudo_labels(path: str | Path, doc: dict) -> str:
    lengths = np.array([e - s for v in doc["videos"].values() for s, e in v["activities"]], dtype=float)
    counts = np.array([len(v["activities"]) for v in doc["videos"].values()], dtype=int)
    lines = [
        f"{path}: pseudo labels (schema {doc['schema_version']}), dataset {doc['dataset']}, kind {doc['kind']}",
        f"  params: {json.dumps(doc['params'], sort_keys=True)}",
        f"  made by nemi {doc['source']['nemi_version']} ({doc['source']['git_sha'][:12]}) "
        f"at {doc['source']['created_utc']} from {len(doc['source']['inputs'])} input file(s)",
        f"  videos: {len(counts)}, activities: {int(counts.sum())}",
    ]
    if len(counts):
        lines.append(f"  activities per video: min {counts.min()}, median {np.median(counts):g}, "
                     f"max {counts.max()}")
    if len(lengths):
        q = np.percentile(lengths, [0, 10, 50, 90, 100])
        lines.append("  activity length (s): min {:.2f}, p10 {:.2f}, median {:.2f}, p90 {:.2f}, max {:.2f}, "
                     "mean {:.2f}".format(*q, lengths.mean()))
        edges = [0, 1, 2, 5, 10, 20, 60, np.inf]
        hist, _ = np.histogram(lengths, bins=edges)
        for lo, hi, n in zip(edges[:-1], edges[1:], hist):
            label = f"{lo:g}-{hi:g} s" if np.isfinite(hi) else f">= {lo:g} s"
            lines.append(f"    {label:>10}: {n:6d} {'#' * int(round(40 * n / max(hist.max(), 1)))}")
    return "\n".join(lines)


def summarize(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise NemiInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return summarize_h5(path)
    if suffix == ".json":
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise NemiInputError(f"{path}: not JSON ({err})") from err
        if isinstance(doc, dict) and "videos" in doc and "kind" in doc and "schema_version" in doc:
            from nemi.io.pseudo_labels import validate

            validate(doc, path)
            return summarize_pseudo_labels(path, doc)
        keys = list(doc)[:20] if isinstance(doc, dict) else f"list of {len(doc)}"
        return f"{path}: JSON, top-level keys {keys}"
    if suffix in (".csv", ".tsv"):
        import pandas as pd

        df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        return f"{path}: {len(df)} rows, columns {list(df.columns)}\n{df.head(10).to_string()}"
    raise NemiInputError(f"{path}: don't know how to inspect '{suffix}' files (h5, json, csv, tsv)")


def _run(args: argparse.Namespace) -> int:
    for p in args.paths:
        print(summarize(p))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print a readable summary of any artifact")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_run)
