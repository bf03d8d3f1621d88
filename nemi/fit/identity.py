"""A run's identity: the merged config it is trained with and that config's hash.

The hash names the run's folder (``runs/<hash>/``) and keys its resume, so everything that changes
the weights a run makes belongs in the config: the model and train sections, a pretraining's own
section, the weights it starts from (by digest) and the data it learns from (by digest).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nemi.errors import NemiInputError
from nemi.fit.params import FitParams
from nemi.params import as_dict


def merged_config(fitting: FitParams) -> dict[str, Any]:
    return {"model": fitting.model.to_dict(), "train": json.loads(json.dumps(as_dict(fitting.train)))}


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def data_identity(files: Mapping[str, str | os.PathLike]) -> dict[str, str]:
    """``{<name>_sha256: digest}`` of the files a run learns from (its manifest, its annotations or pseudo
    labels): part of the run's config, so that its hash, which names its runs/<hash>/ folder and keys its
    resume, tells two datasets' runs of the same settings apart, and a run on edited data from the old one."""
    from nemi.io.provenance import sha256_file

    return {f"{name}_sha256": sha256_file(path) for name, path in files.items()}


def _sha256(path: str | os.PathLike) -> str:
    from nemi.io.provenance import sha256_file

    if not Path(path).is_file():
        raise NemiInputError(f"{path}: checkpoint to start from not found")
    return sha256_file(path)


def run_config(fitting: FitParams, extra: Mapping[str, Any] | None, init: str | os.PathLike | None,
               data: Mapping[str, str] | None) -> dict[str, Any]:
    """The config a run is trained with and hashed by: the merged sections, ``extra`` (a pretraining's
    section), the start ``init`` (path and digest), ``train.pretrained``'s digest and the data's digests."""
    config = {**merged_config(fitting), **json.loads(json.dumps(dict(extra or {})))}
    if init is not None:
        config["init"] = str(init)
    # The weights a run starts from belong to its identity: a retrained pretraining at the same path must
    # not let the fine-tuning resume (or call finished) a run that started from the old weights.
    for key, path in (("init", init), ("pretrained", fitting.train.pretrained)):
        if path is not None:
            config[f"{key}_sha256"] = _sha256(path)
    if data:
        config["data"] = dict(data)
    return config
