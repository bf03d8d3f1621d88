"""Run one change detector over one shard and write its change-curve file."""

from __future__ import annotations

import json
import os

from nemi import detectors
from nemi.io.curves import write_curves
from nemi.io.provenance import provenance, sha256_file


def curves_for_shard(name: str, shard: str | os.PathLike, out: str | os.PathLike, params) -> None:
    """The ``name`` detector's curve of every video in ``shard`` (a frame or feature shard) -> ``out``."""
    det = detectors.get(name)
    curves = det.curves(shard, params)
    root = {**provenance(f"changes_{name}"), "params_json": json.dumps(det.curve_record(params), sort_keys=True),
            "input_path": str(shard), "input_sha256": sha256_file(shard)}
    write_curves(out, name, curves, root)
