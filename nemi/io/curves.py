"""Change-curve files: one HDF5 file per shard and detector (``kind``), written by the changes stage.

Layout (``results/<dataset>/changes/<kind>/<shard>.h5``)::

    /                      attrs: kind ("hog" | "cnn"), params_json, input_sha256,
                                  provenance (stage, nemi_version, git_sha, ...)
    /<video_id>/distance   float32 (N-1,): d_k, the change between step k and step k+1
    /<video_id>/t_s        float64 (N-1,): time of the boundary between step k and k+1, seconds
    /<video_id>  attrs:    n_steps (N), step_s (seconds per step), duration_s (the timeline's),
                           video_duration_s (the decoded video's, <= duration_s; 0 when unknown),
                           plus per-kind extras

A step is a frame of the fixed timeline (HOG) or a snippet (CNN). Thresholds are *not*
applied here: the labels stage reads these cached curves, so changing tau never
recomputes a curve.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from nemi.errors import NemiInputError
from nemi.io.atomic import atomic_output
from nemi.io.h5 import open_h5

@dataclass
class ChangeCurve:
    distance: np.ndarray          # (N-1,) float32
    t_s: np.ndarray               # (N-1,) float64, boundary times
    n_steps: int                  # N
    step_s: float                 # seconds per step
    duration_s: float
    attrs: dict = field(default_factory=dict)


def write_curves(path: str | os.PathLike, kind: str, curves: dict[str, ChangeCurve], root_attrs: dict) -> None:
    """Write all curves of a shard at once, atomically; ``kind`` names the change detector."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        for k, v in root_attrs.items():
            h5.attrs[k] = json.dumps(v) if isinstance(v, (dict, list)) else v
        h5.attrs["kind"] = kind
        for vid, c in curves.items():
            if len(c.distance) != len(c.t_s):
                raise ValueError(f"{vid}: distance and t_s differ in length")
            g = h5.create_group(vid)
            g.create_dataset("distance", data=np.asarray(c.distance, dtype=np.float32))
            g.create_dataset("t_s", data=np.asarray(c.t_s, dtype=np.float64))
            g.attrs.update(n_steps=int(c.n_steps), step_s=float(c.step_s), duration_s=float(c.duration_s))
            for k, v in c.attrs.items():
                g.attrs[k] = v


def read_curves(path: str | os.PathLike) -> tuple[str, dict, dict[str, ChangeCurve]]:
    """(kind, root attrs, {video_id: curve}) of a change-curve file."""
    with open_h5(path, "change-curve file") as h5:
        if "kind" not in h5.attrs:
            raise NemiInputError(f"{path}: not a change-curve file (no 'kind' attribute)")
        root = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
        curves = {}
        for vid, g in h5.items():
            a = dict(g.attrs)
            curves[vid] = ChangeCurve(
                distance=g["distance"][()], t_s=g["t_s"][()], n_steps=int(a.pop("n_steps")),
                step_s=float(a.pop("step_s")), duration_s=float(a.pop("duration_s")), attrs=a,
            )
        return str(root["kind"]), root, curves
