"""Feature extraction: windows, padding, streaming, provenance, atomic shards (stand-in and real I3D)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from nemi.params import build as build_params
from nemi.errors import NemiInputError
from nemi.features.clips import crop_frame, iter_windows
from nemi.features.extract import ExtractParams, StreamModels, extract_shard, load_stream_models
from nemi.io.features import FeatureShardReader
from nemi.io.frames import FrameShardWriter
from nemi.io.timebase import Timebase

FPS = 10.0


class StandIn(torch.nn.Module):
    """Same ``extract_features`` contract as I3D; feature = per-frame channel means of the window, zero-padded.

    feature[c * T + t] is the mean of channel c of window frame t, so a test can read back
    exactly which frames each window held.
    """

    def __init__(self, in_channels: int, fail_after: int | None = None, sleep_s: float = 0.0) -> None:
        super().__init__()
        self.in_channels, self.fail_after, self.sleep_s, self.calls = in_channels, fail_after, sleep_s, 0
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 5 and x.shape[1] == self.in_channels
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash mid-shard")
        time.sleep(self.sleep_s)
        m = x.float().mean(dim=(3, 4)).flatten(1)  # [B, C*T]
        return torch.nn.functional.pad(m, (0, 1024 - m.shape[1]))


def stand_in_models(**kw) -> StreamModels:
    return StreamModels(rgb=StandIn(3, **kw), flow=StandIn(2), weights={
        "rgb_weights": "stand-in", "rgb_weights_sha256": "0" * 64,
        "flow_weights": "cross-modality from " + "0" * 64, "flow_weights_sha256": ""})


def make_frame_shard(path: Path, lengths: dict[str, int], h: int = 24, w: int = 32, codec: str = "raw") -> None:
    """Frame i of every video is uniformly grey with value 4 * i (so window contents are readable)."""
    with FrameShardWriter(path, codec=codec, jpeg_quality=95, root_attrs={"params_json": "{}"}) as wr:
        for vid, n in lengths.items():
            frames = (np.full((h, w, 3), (4 * i) % 256, np.uint8) for i in range(n))
            wr.add_video(vid, frames, width=w, height=h, target_fps=FPS, attrs={
                "source_path": f"/videos/{vid}.mp4", "source_size_bytes": 1, "source_fps": FPS,
                "source_frame_count": n, "duration_s": n / FPS})


PARAMS = build_params(ExtractParams, dict(snippet_frames=8, window_frames=16, crop_px=32, flow_method="farneback",
                                          batch_size=3,
                       device="cpu"))


def frame_of(value: float) -> int:
    """Invert the stand-in's rgb encoding: mean in [-1, 1] -> frame index (value 4 * i)."""
    return int(round((value + 1) / 2 * 255 / 4))


def test_windows_are_centred_on_snippets_and_edges_repeat(tmp_path):
    make_frame_shard(tmp_path / "frames.h5", {"a": 40})
    extract_shard(tmp_path / "frames.h5", tmp_path / "feat.h5", PARAMS, stand_in_models())
    with FeatureShardReader(tmp_path / "feat.h5") as r:
        rgb = r.rgb("a")
        assert rgb.shape == (5, 1024) and r.flow("a").shape == (5, 1024) and r.features("a").shape == (5, 2048)
        for k in range(5):
            got = [frame_of(v) for v in rgb[k, 0:16]]  # channel 0, 16 window frames
            assert got == [min(max(i, 0), 39) for i in range(8 * k - 4, 8 * k + 12)]
        np.testing.assert_allclose(r.t_center_s("a"), (8 * np.arange(5) + 4) / FPS)
        a = r.attrs("a")
        assert a["padded_frames"] == 0 and a["frame_count"] == 40 and a["snippet_frames"] == 8
        assert a["window_frames"] == 16 and a["flow_method"] == "farneback" and a["crop_px"] == 32
        assert a["source"] == "extracted" and a["rgb_weights_sha256"] == "0" * 64
        assert a["flow_weights"].startswith("cross-modality from ")
        assert r.timebase("a") == Timebase.native(FPS, 8, 16)
        assert json.loads(r.root_attrs["params_json"])["flow_method"] == "farneback"
        assert r.root_attrs["source"] == "extracted" and "nemi_version" in r.root_attrs


def test_uniform_frames_have_zero_motion_flow(tmp_path):
    # Grey frames of changing brightness: no motion, flow ~0 -> q = 128 -> 128/255*2-1 on every window frame.
    make_frame_shard(tmp_path / "frames.h5", {"a": 12})
    extract_shard(tmp_path / "frames.h5", tmp_path / "feat.h5", PARAMS, stand_in_models())
    with FeatureShardReader(tmp_path / "feat.h5") as r:
        flow = r.flow("a")[:, :32]
    np.testing.assert_allclose(flow, 128 / 255 * 2 - 1, atol=0.02)


def test_video_shorter_than_one_snippet_is_padded_and_recorded(tmp_path):
    make_frame_shard(tmp_path / "frames.h5", {"short": 3, "one": 1})
    extract_shard(tmp_path / "frames.h5", tmp_path / "feat.h5", PARAMS, stand_in_models())
    with FeatureShardReader(tmp_path / "feat.h5") as r:
        assert r.n_features("short") == 1 and r.attrs("short")["padded_frames"] == 5
        assert [frame_of(v) for v in r.rgb("short")[0, :16]] == [0] * 4 + [0, 1, 2] + [2] * 9
        assert r.n_features("one") == 1 and r.attrs("one")["padded_frames"] == 7
        assert r.attrs("short")["duration_s"] == pytest.approx(3 / FPS)  # the frame shard's, for labels
        assert np.isfinite(r.features("one")).all()


def test_partial_last_snippet_is_padded(tmp_path):
    make_frame_shard(tmp_path / "frames.h5", {"a": 19})
    extract_shard(tmp_path / "frames.h5", tmp_path / "feat.h5", PARAMS, stand_in_models())
    with FeatureShardReader(tmp_path / "feat.h5") as r:
        assert r.n_features("a") == 3 and r.attrs("a")["padded_frames"] == 5


def test_iter_windows_keeps_a_bounded_buffer():
    held: set[int] = set()

    class Tracked(int):
        def __del__(self):  # noqa: D105 - counts frames released by the buffer
            held.discard(int(self))

    def frames():
        for i in range(2000):
            held.add(i)
            yield Tracked(i)

    tb = Timebase.native(30.0, 8, 16)
    peak = 0
    for w in iter_windows(frames(), 2000, tb):
        peak = max(peak, len(held))
        del w
    assert peak <= 16 + 8 + 1


def test_crop_resizes_up_small_frames_and_centre_crops():
    f = np.zeros((120, 160, 3), np.uint8)
    f[:, 80:] = 255
    c = crop_frame(f, 112)
    assert c.shape == (112, 112, 3) and c[0, 55, 0] == 0 and c[0, 57, 0] == 255
    assert crop_frame(np.zeros((20, 30, 3), np.uint8), 32).shape == (32, 32, 3)


def test_exception_mid_shard_leaves_no_file_and_keeps_old(tmp_path):
    make_frame_shard(tmp_path / "frames.h5", {"a": 40, "b": 40})
    out = tmp_path / "feat.h5"
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_shard(tmp_path / "frames.h5", out, PARAMS, stand_in_models(fail_after=2))
    assert not out.exists() and list(tmp_path.glob(".feat.h5.tmp-*")) == []
    extract_shard(tmp_path / "frames.h5", out, PARAMS, stand_in_models())
    before = out.read_bytes()
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_shard(tmp_path / "frames.h5", out, PARAMS, stand_in_models(fail_after=2))
    assert out.read_bytes() == before  # the complete older shard is untouched


def test_killed_writer_leaves_only_a_stale_tmp_that_is_ignored(tmp_path):
    make_frame_shard(tmp_path / "frames.h5", {f"v{i}": 40 for i in range(6)})
    out = tmp_path / "feat.h5"
    script = f"""
import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_features import PARAMS, stand_in_models
from nemi.features.extract import extract_shard
extract_shard({str(tmp_path / 'frames.h5')!r}, {str(out)!r}, PARAMS, stand_in_models(sleep_s=0.2))
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.glob(".feat.h5.tmp-*")):
            time.sleep(0.05)
        time.sleep(0.5)  # it is now writing rows
        assert proc.poll() is None, "the writer finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stale = list(tmp_path.glob(".feat.h5.tmp-*"))
    assert not out.exists() and len(stale) == 1
    extract_shard(tmp_path / "frames.h5", out, PARAMS, stand_in_models())  # the next run rebuilds it
    with FeatureShardReader(out) as r:
        assert r.video_ids() == [f"v{i}" for i in range(6)] and r.n_features("v5") == 5


def test_reader_rejects_files_that_are_not_feature_shards(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5.attrs["kind"] = "hog"
    with pytest.raises(NemiInputError, match="not a feature shard"):
        FeatureShardReader(tmp_path / "x.h5")
    (tmp_path / "junk.h5").write_bytes(b"half written")
    with pytest.raises(NemiInputError, match="junk.h5"):
        FeatureShardReader(tmp_path / "junk.h5")


def test_missing_weights_file_names_the_key(tmp_path):
    with pytest.raises(NemiInputError, match="features.rgb_weights.*nope.pt"):
        load_stream_models(tmp_path / "nope.pt", "cross-modality")


def test_bad_params_are_rejected():
    with pytest.raises(ValueError, match="flow_method"):
        build_params(ExtractParams, dict(flow_method="lucas-kanade"))
    with pytest.raises(ValueError, match="snippet_frames"):
        build_params(ExtractParams, dict(snippet_frames=0))


def test_real_i3d_cross_modality_through_the_pipeline(tmp_path):
    from nemi.i3d import build_i3d

    torch.manual_seed(0)
    weights = tmp_path / "rgb.pt"
    torch.save(build_i3d(3).state_dict(), weights)
    models = load_stream_models(weights, "cross-modality")
    assert models.weights["flow_weights"] == f"cross-modality from {models.weights['rgb_weights_sha256']}"
    make_frame_shard(tmp_path / "frames.h5", {"a": 12}, codec="jpeg")
    params = build_params(ExtractParams, dict(snippet_frames=8, window_frames=16, crop_px=32, flow_method="dis",
                                              batch_size=2,
                           device="cpu"))
    extract_shard(tmp_path / "frames.h5", tmp_path / "feat.h5", params, models)
    with FeatureShardReader(tmp_path / "feat.h5") as r:
        f = r.features("a")
        assert f.shape == (2, 2048) and np.isfinite(f).all() and np.abs(f).sum() > 0
        assert r.attrs("a")["rgb_weights_sha256"] == models.weights["rgb_weights_sha256"]
    # Batched through the shard equals the network run on the same window alone.
    from nemi.features.clips import iter_batches
    from nemi.features.flow import paired_flow_stream
    from nemi.io.frames import FrameShardReader

    with FrameShardReader(tmp_path / "frames.h5") as fr:
        crops = (crop_frame(x, 32) for x in fr.iter_frames("a"))
        rgb, _ = next(iter_batches(iter_windows(paired_flow_stream(crops, "dis"), 12, Timebase.native(FPS, 8, 16)), 1))
    with torch.inference_mode():
        one = models.rgb.extract_features(torch.from_numpy(rgb)).numpy()
    np.testing.assert_allclose(f[0, :1024], one[0], rtol=1e-4, atol=1e-5)


def test_window_and_snippet_must_differ_by_an_even_number():
    with pytest.raises(ValueError, match="must be even"):
        build_params(ExtractParams, dict(snippet_frames=8, window_frames=15))
