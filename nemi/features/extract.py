"""``nemi features extract``: frame shard -> feature shard of two-stream I3D snippet features.

Per video: frames are streamed from the frame shard, centre-cropped, paired with
their optical flow, assembled into 16-frame windows centred on each snippet
(:mod:`nemi.features.clips`, :mod:`nemi.io.timebase`) and run through the RGB and
flow I3D in batches. A background thread prepares the next batch while the
networks run (on a GPU also under float16 autocast); the code is the same on the
CPU. Memory is bounded by the batch, not by the video's length.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nemi.errors import NemiInputError
from nemi.features.clips import CROP_METHOD, crop_frame, iter_batches, iter_windows, prefetch
from nemi.features.flow import FLOW_METHODS, flow_params, paired_flow_stream
from nemi.io.features import FeatureShardWriter
from nemi.io.atomic import atomic_output
from nemi.io.frames import FrameShardReader
from nemi.io.provenance import provenance, sha256_file
from nemi.io.timebase import Timebase, snippet_count
from nemi.log import Progress

log = logging.getLogger("nemi.features.extract")

VERSION = 1  # bump when the numbers a feature shard holds change meaning
CROSS_MODALITY = "cross-modality"


@dataclass(frozen=True)
class ExtractParams:
    """How snippet features are made (config section ``features``; the schema's defaults are the Thumos14 setting)."""

    SECTION: ClassVar[str] = "features"
    snippet_frames: int      # frames per snippet = feature stride (8 Thumos14, 16 ActivityNet)
    window_frames: int       # I3D input window centred on each snippet, frames
    crop_px: int             # side of the square centre crop fed to both streams, pixels
    flow_method: str         # tvl1 | dis | farneback
    batch_size: int          # windows per forward pass
    device: str              # auto (CUDA when available) | cpu | cuda | cuda:N
    amp: bool                # float16 autocast on CUDA (ignored on the CPU)

    def __post_init__(self) -> None:
        for name in ("snippet_frames", "window_frames", "crop_px", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.crop_px < 32:
            raise ValueError(f"crop_px must be >= 32 (I3D downsamples space by 32), not {self.crop_px}")
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(f"flow_method must be one of {FLOW_METHODS}, not {self.flow_method!r}")
        if (self.window_frames - self.snippet_frames) % 2:
            # Otherwise no whole-frame window is centred on the snippet: t_center_s would be off by half a frame.
            raise ValueError(f"window_frames - snippet_frames must be even, not {self.window_frames} - "
                             f"{self.snippet_frames}")


@dataclass
class StreamModels:
    """The two I3D streams and what is known about their weights (recorded in every shard)."""

    rgb: Any
    flow: Any
    weights: dict[str, str] = field(default_factory=dict)


def load_stream_models(rgb_weights: str | os.PathLike, flow_weights: str | os.PathLike) -> StreamModels:
    """Build and load the RGB and flow I3D from weights files.

    ``flow_weights`` is a file, or ``"cross-modality"``: the flow network is then
    initialised from the RGB weights (first convolution averaged over colour,
    repeated for x and y), which the shard records as ``cross-modality from <sha256>``.
    """
    from nemi.i3d import build_i3d
    from nemi.i3d.weights import cross_modality_flow_init, load_i3d

    for key, path in (("features.rgb_weights", rgb_weights), ("features.flow_weights", flow_weights)):
        if str(path) != CROSS_MODALITY and not Path(path).is_file():
            raise NemiInputError(f"{key}: weights file {path} not found")
    rgb, rgb_info = load_i3d(rgb_weights, in_channels=3)
    if str(flow_weights) == CROSS_MODALITY:
        flow = build_i3d(2, rgb.num_classes)
        flow.load_state_dict(cross_modality_flow_init(rgb.state_dict()))
        flow_desc, flow_sha = f"cross-modality from {rgb_info['sha256']}", ""
    else:
        flow, flow_info = load_i3d(flow_weights, in_channels=2)
        flow_desc, flow_sha = str(Path(flow_weights).resolve()), flow_info["sha256"]
    return StreamModels(rgb=rgb.eval(), flow=flow.eval(), weights={
        "rgb_weights": str(Path(rgb_weights).resolve()), "rgb_weights_sha256": rgb_info["sha256"],
        "flow_weights": flow_desc, "flow_weights_sha256": flow_sha,
    })


def resolve_device(name: str):
    import torch

    from nemi.i3d import select_device

    if name == "auto":
        return select_device()
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NemiInputError(f"features.device: {name!r} asked for, but no CUDA device is available")
    return device


def extract_shard(frames_path: str | os.PathLike, out_path: str | os.PathLike, params: ExtractParams,
                  models: StreamModels) -> None:
    """Extract features for every video of a frame shard into ``out_path`` (written atomically)."""
    device = resolve_device(params.device)
    models.rgb.eval().to(device)
    models.flow.eval().to(device)
    recorded = {**asdict(params), "version": VERSION, "crop_method": CROP_METHOD,
                "flow_params": flow_params(params.flow_method), **models.weights}
    recorded.pop("device")  # where it ran is provenance, not a parameter of the numbers
    root = {**provenance("features"), "source": "extracted", "params_json": json.dumps(recorded, sort_keys=True),
            "device": str(device), "input_path": str(frames_path), "input_sha256": sha256_file(frames_path)}
    log.info("features: %s -> %s on %s (flow %s, crop %d px, batch %d)", frames_path, out_path, device,
             params.flow_method, params.crop_px, params.batch_size)
    with FrameShardReader(frames_path) as reader, atomic_output(out_path) as tmp, \
            FeatureShardWriter(tmp, root) as writer:
        ids = reader.video_ids()
        progress = Progress("features", len(ids))
        for vid in ids:
            _extract_video(reader, vid, params, models, device, writer, progress)
            progress.video_done(vid)
        progress.close()


def _extract_video(reader: FrameShardReader, vid: str, params: ExtractParams, models: StreamModels, device,
                   writer: FeatureShardWriter, progress: Progress) -> None:
    import torch

    from nemi.i3d import features_for_clips

    info = reader.info(vid)
    n = info.frame_count
    if n < 1:
        raise NemiInputError(f"{reader.path}: video {vid!r} has no frames")
    timebase = Timebase.native(info.target_fps, params.snippet_frames, params.window_frames)
    n_snippets = snippet_count(n, params.snippet_frames)
    padded = n_snippets * params.snippet_frames - n
    if n < params.snippet_frames:
        log.warning("%s: %d frames, shorter than one snippet (%d): padded by repeating the last frame",
                    vid, n, params.snippet_frames)
    attrs = {"source": "extracted", "snippet_frames": params.snippet_frames, "frame_count": n,
             "duration_s": float(info.duration_s),  # the decoded video's, shorter than n / fps by < 1 frame
             "padded_frames": padded, "crop_method": CROP_METHOD, "crop_px": params.crop_px,
             "frame_width": info.width, "frame_height": info.height, "flow_method": params.flow_method,
             **models.weights, "nemi_version": writer.h5.attrs["nemi_version"],
             "params_json": writer.h5.attrs["params_json"]}
    group = writer.create_video(vid, n_snippets, timebase, attrs)

    crops = (crop_frame(f, params.crop_px) for f in reader.iter_frames(vid))
    windows = iter_windows(paired_flow_stream(crops, params.flow_method, device=str(device)), n, timebase)
    row = 0
    for rgb, flow in prefetch(iter_batches(windows, params.batch_size)):
        b = len(rgb)
        f_rgb = features_for_clips(models.rgb, [torch.from_numpy(rgb)], params.batch_size, device, params.amp)
        f_flow = features_for_clips(models.flow, [torch.from_numpy(flow)], params.batch_size, device, params.amp)
        group["rgb"][row:row + b] = np.asarray(f_rgb, dtype=np.float32)
        group["flow"][row:row + b] = np.asarray(f_flow, dtype=np.float32)
        row += b
        progress.frames(min(b * params.snippet_frames, max(n - (row - b) * params.snippet_frames, 0)))
    if row != n_snippets:
        raise RuntimeError(f"{vid}: wrote {row} of {n_snippets} snippet features")
