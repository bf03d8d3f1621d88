"""``nemi inspect PATH``: a readable summary of any nemi artifact (HDF5, pseudo labels, CSV, JSON, torch files).

Every artifact's summary says how it was made: the package version and git commit that wrote it,
a config hash and the sha256 of its inputs. The config hash is the one the artifact records
where it records one (a training's, and the proposals made from it); otherwise it is computed
here from the parameters it records, ``sha256`` of their sorted JSON, first 16 hex digits (the
same rule as the training's), so that two files made with the same settings show the same hash.
What the writer did not record is shown as ``not recorded``, never guessed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nemi.errors import NemiInputError
from nemi.io.artifacts import load_json, load_torch

_MAX_ATTR_CHARS = 100
_MAX_INPUTS = 10  # input hashes listed; the rest are counted
NOT_RECORDED = "not recorded"


def params_hash(params) -> str:
    """The config hash of recorded parameters (a dict, or its JSON text): sha256 of the sorted JSON, 16 hex."""
    if isinstance(params, bytes):
        params = params.decode()
    if isinstance(params, str):
        params = json.loads(params)
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def provenance_lines(prov: Mapping | None, config_hash: tuple[str, str] | None,
                     inputs: list[tuple[str, str]] | None) -> list[str]:
    """The provenance block: ``prov`` as nemi.io.provenance writes it, (hash, how it was found), (name, sha256)s."""
    lines = []
    if prov and prov.get("nemi_version") is not None:
        dirty = " (uncommitted changes)" if _truthy(prov.get("git_dirty")) else ""
        made = ", ".join(f"{k} {_fmt_attr(prov[k])}" for k in ("stage", "created_utc", "host") if k in prov)
        lines += [f"  nemi version: {_fmt_attr(prov['nemi_version'])}",
                  f"  git commit: {_fmt_attr(prov.get('git_sha', NOT_RECORDED))}{dirty}"]
        if made:
            lines.append(f"  made: {made}")
        lines += _machine_lines(prov)
    else:
        lines += [f"  nemi version: {NOT_RECORDED}", f"  git commit: {NOT_RECORDED}"]
    lines.append(f"  config hash: {config_hash[0]} ({config_hash[1]})" if config_hash
                 else f"  config hash: {NOT_RECORDED}")
    return lines + _input_lines(inputs)


def _machine_lines(prov: Mapping) -> list[str]:
    """Library versions, CPU, kernels and threads (nemi.runtime.record); older artifacts lack them."""
    libs = [f"{k.removeprefix('version_')} {_fmt_attr(v)}" for k, v in prov.items() if str(k).startswith("version_")]
    if not libs and "cpu_model" not in prov:
        return [f"  libraries, CPU and threads: {NOT_RECORDED}"]
    get = lambda k: _fmt_attr(prov.get(k, NOT_RECORDED))  # noqa: E731
    return [f"  libraries: {', '.join(libs) or NOT_RECORDED}",
            f"  cpu: {get('cpu_model')} ({get('cpu_isa')}), kernels {get('cpu_kernels')}, pin {get('isa_pin')}",
            f"  threads: torch {get('threads_torch')}, opencv {get('threads_opencv')}, OMP_NUM_THREADS "
            f"{get('threads_omp')}"]


def _input_lines(inputs: list[tuple[str, str]] | None) -> list[str]:
    if not inputs:
        return [f"  input hashes: {NOT_RECORDED}"]
    lines = [f"  input hashes ({len(inputs)}):"] + [f"    {sha} {name}" for name, sha in inputs[:_MAX_INPUTS]]
    if len(inputs) > _MAX_INPUTS:
        lines.append(f"    ... {len(inputs) - _MAX_INPUTS} more")
    return lines


def _truthy(value) -> bool:
    return bool(value.item() if isinstance(value, np.generic) else value)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _recorded_inputs(doc: Mapping) -> list[tuple[str, str]]:
    """Input hashes as the JSON records write them: ``inputs`` a list of {path, sha256}, or a mapping of
    ``name`` / ``name_sha256`` pairs (evaluation results); a ``checkpoint_sha256`` (proposals)."""
    out = []
    if doc.get("checkpoint_sha256"):
        out.append((str(doc.get("checkpoint", "checkpoint")), str(doc["checkpoint_sha256"])))
    inputs = doc.get("inputs")
    if isinstance(inputs, list):
        out += [(str(i.get("path")), str(i["sha256"])) for i in inputs if isinstance(i, Mapping) and "sha256" in i]
    elif isinstance(inputs, Mapping):
        out += [(str(inputs.get(k.removesuffix("_sha256"), k.removesuffix("_sha256"))), str(v))
                for k, v in inputs.items() if k.endswith("_sha256")]
    return out


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
        lines += _h5_provenance(h5)
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


def _h5_provenance(h5) -> list[str]:
    """Root attributes as nemi.io.provenance writes them; inputs: the root's ``input_sha256`` (features,
    change curves) or each video's ``source_sha256`` (frame shards, imported features)."""
    root = {k: (_text(v) if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
    chash = (params_hash(root["params_json"]), "sha256 of the recorded params_json") if "params_json" in root else None
    inputs = [(str(root.get("input_path", "input")), _text(root["input_sha256"]))] if "input_sha256" in root else []
    for name in sorted(h5.keys()):
        attrs = h5[name].attrs
        if "source_sha256" in attrs:
            source = attrs.get("source_path", attrs.get("source_file", name))
            inputs.append((f"{name}: {_text(source)}", _text(attrs["source_sha256"])))
    return provenance_lines(root, chash, inputs)


def summarize_pseudo_labels(path: str | Path, doc: dict) -> str:
    lengths = np.array([e - s for v in doc["videos"].values() for s, e in v["activities"]], dtype=float)
    counts = np.array([len(v["activities"]) for v in doc["videos"].values()], dtype=int)
    lines = [
        f"{path}: pseudo labels (schema {doc['schema_version']}), dataset {doc['dataset']}, kind {doc['kind']}",
        f"  params: {json.dumps(doc['params'], sort_keys=True)}",
        f"  made by nemi {doc['source']['nemi_version']} ({doc['source']['git_sha'][:12]}) "
        f"at {doc['source']['created_utc']} from {len(doc['source']['inputs'])} input file(s)",
        f"  git commit: {doc['source']['git_sha']}"
        + (" (uncommitted changes)" if doc["source"].get("git_dirty") else ""),
        f"  config hash: {params_hash(doc['params'])} (sha256 of the recorded params)",
        *_machine_lines(doc["source"]),
        *_input_lines(_recorded_inputs(doc["source"])),
        f"  videos: {len(counts)}, activities: {int(counts.sum())}",
    ]
    if len(counts):
        lines.append(f"  activities per video: min {counts.min()}, median {np.median(counts):g}, "
                     f"max {counts.max()}")
    lines.append(_boundary_line(doc))
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


def _boundary_line(doc: Mapping) -> str:
    """How many of the decomposition's boundaries the detector found and how many the length cap made: a
    decomposition whose boundaries are mostly cap splits is mostly equal parts, whatever the video shows."""
    videos = doc["videos"].values()
    if not all("cap_splits_s" in v and "n_boundaries" in v for v in videos):
        return (f"  boundaries from feature changes and from the length cap: {NOT_RECORDED} "
                f"(schema {doc['schema_version']})")
    changes = sum(v["n_boundaries"] for v in videos)
    splits = sum(len(v["cap_splits_s"]) for v in videos)
    share = f"{100 * splits / (changes + splits):.1f}% from the cap" if changes + splits else "no boundary"
    return (f"  boundaries: {changes} feature changes, {splits} splits at the {doc['params']['max_activity_frames']}"
            f"-frame cap (max_activity_frames): {share}")


def _recorded_hash(doc: Mapping, how: str) -> tuple[str, str] | None:
    if doc.get("config_hash"):
        return str(doc["config_hash"]), how
    if isinstance(doc.get("params"), Mapping):
        return params_hash(doc["params"]), "sha256 of the recorded params"
    return None


def summarize_record(path: str | Path, doc: Mapping) -> str:
    """A JSON record with a ``provenance`` block: proposals' sidecar, a training's run.json, evaluation results."""
    if "checkpoint_sha256" in doc and "n_proposals" in doc:
        head = (f"{path}: proposals record, {doc['n_proposals']} proposals for {doc.get('n_videos')} videos from "
                f"{doc.get('n_windows')} windows, score {doc.get('proposal_score')}")
        how = "recorded: the training config's, from the checkpoint"
        extra = [f"  windows: {json.dumps(doc['windows'], sort_keys=True)}"] if doc.get("windows") else []
    elif "selection" in doc and "config" in doc:
        head = f"{path}: training record, select {doc.get('select')}, {doc.get('n_train_windows')} training windows"
        how, extra = "recorded: the training config's", []
    else:
        head, how, extra = f"{path}: JSON record, top-level keys {list(doc)[:20]}", "recorded", []
    return "\n".join([head, *extra, *provenance_lines(doc["provenance"], _recorded_hash(doc, how),
                                                     _recorded_inputs(doc))])


def summarize_torch(path: str | Path) -> str:
    """A nemi model file (``model.pt``, its ``train_record``), a training checkpoint (``checkpoint.pt``),
    a best-epoch model, RTD-Action's released checkpoint or a bare state dict."""
    import torch

    obj = load_torch(Path(path), "torch file")
    if not isinstance(obj, Mapping):
        return "\n".join([f"{path}: torch file holding a {type(obj).__name__}", *provenance_lines(None, None, None)])
    state = obj.get("model", obj)
    tensors = [v for v in state.values() if isinstance(v, torch.Tensor)] if isinstance(state, Mapping) else []
    size = f"{len(tensors)} tensors, {sum(t.numel() for t in tensors)} values"
    if "optimizer" in obj and isinstance(obj.get("config"), Mapping):
        lines = [f"{path}: nemi training checkpoint, {size}; stage {obj.get('stage')}, epoch {obj.get('epoch')}, "
                 f"{sum(1 for h in obj.get('history') or [] if h.get('epoch', 1) > 0)} epoch(s) in its history"]
        if obj.get("best"):
            lines.append(f"  best: {json.dumps(obj['best'], sort_keys=True)}")
        # nemi.fit.loop names the run folder by this hash of the same config (nemi.fit.identity.config_hash).
        chash = (params_hash(obj["config"]), "sha256 of the recorded config: the run folder's name")
        return "\n".join(lines + provenance_lines(obj.get("provenance"), chash, _recorded_inputs(obj)))
    record = json.loads(obj["train_record"]) if isinstance(obj.get("train_record"), str) else None
    kind = "nemi model" if "model_params" in obj else "RTD-Action checkpoint" if "args" in obj else "state dict"
    lines = [f"{path}: {kind}, {size}"]
    if isinstance(obj.get("model_params"), Mapping):
        mp = obj["model_params"]
        lines.append("  model: " + ", ".join(f"{k} {mp[k]}" for k in ("input_dim", "hidden_dim", "num_queries",
                                                                        "window_steps", "proposal_score") if k in mp))
    if obj.get("windows"):
        lines.append(f"  windows: {json.dumps(obj['windows'], sort_keys=True)}")
    if record is None:
        lines.append("  no training record (a best-epoch model, or not made by nemi's training)")
        return "\n".join(lines + provenance_lines(None, None, None))
    init = (record.get("config") or {}).get("init") or ((record.get("config") or {}).get("train") or {}).get(
        "pretrained")
    lines.append(f"  trained by stage {record.get('provenance', {}).get('stage')}, {record.get('n_train_windows')} "
                 f"training windows" + (f", started from {init}" if init else ""))
    return "\n".join(lines + provenance_lines(record.get("provenance"), _recorded_hash(record, "recorded: the "
                                                                                          "training config's"),
                                               _recorded_inputs(record)))


def summarize(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise NemiInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return summarize_h5(path)
    if suffix == ".json":
        doc = load_json(path, "file")
        if isinstance(doc, dict) and "videos" in doc and "kind" in doc and "schema_version" in doc:
            from nemi.io.pseudo_labels import validate

            validate(doc, path)
            return summarize_pseudo_labels(path, doc)
        if isinstance(doc, dict) and isinstance(doc.get("provenance"), Mapping):
            return summarize_record(path, doc)
        keys = list(doc)[:20] if isinstance(doc, dict) else f"list of {len(doc)}"
        return f"{path}: JSON, top-level keys {keys}"
    if suffix in (".csv", ".tsv"):
        import pandas as pd

        df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        text = f"{path}: {len(df)} rows, columns {list(df.columns)}\n{df.head(10).to_string()}"
        return text + _sidecar(path)
    if suffix in (".pt", ".pth"):
        return summarize_torch(path)
    raise NemiInputError(f"{path}: don't know how to inspect '{suffix}' files (h5, json, csv, tsv, pt, pth)")


def _sidecar(path: Path) -> str:
    """A table's provenance lives in the ``.json`` beside it (proposals): its summary, if there is one."""
    side = path.with_suffix(".json")
    try:
        doc = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    if not (isinstance(doc, dict) and isinstance(doc.get("provenance"), Mapping)):
        return ""
    return "\n" + summarize_record(side, doc)


def _run(args: argparse.Namespace) -> int:
    for p in args.paths:
        print(summarize(p))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print a readable summary of any artifact")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_run)
