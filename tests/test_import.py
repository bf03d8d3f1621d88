"""Importing published per-video features (ActionFormer .npy, RTD-Net torch tensors) into feature shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nemi.errors import NemiInputError
from nemi.features.imported import import_features
from nemi.io.features import FeatureShardReader
from nemi.io.provenance import sha256_file

def main(argv: list[str]) -> int:
    """``nemi <argv>`` through this stage's own parser (the full CLI needs every stage installed)."""
    import argparse

    from nemi.features.cli import register

    parser = argparse.ArgumentParser(prog="nemi")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.func(args)


LENGTHS = {"video_test_0000004": 7, "video_test_0000006": 3, "video_validation_0000051": 12}


def published(tmp_path, fmt: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feats = {vid: rng.standard_normal((n, 2048)).astype(np.float32) for vid, n in LENGTHS.items()}
    for vid, f in feats.items():
        if fmt == "actionformer":
            np.save(tmp_path / f"{vid}.npy", f)
        else:  # RTD-Net: file named by the video id, (T, 1, 2048) rows as its loader squeezes them
            torch.save(torch.from_numpy(f).unsqueeze(1) if vid.endswith("6") else torch.from_numpy(f),
                       tmp_path / vid)
    return feats


@pytest.mark.parametrize("fmt,stride,window", [("actionformer", 4, 16), ("rtd", 8, 8)])
def test_round_trip(tmp_path, fmt, stride, window):
    src = tmp_path / "published"
    src.mkdir()
    feats = published(src, fmt)
    out = tmp_path / "feat.h5"
    fps = {"video_test_0000004": 30.0, "video_test_0000006": 30.0, "video_validation_0000051": 29.97}
    import_features(src, fmt, sorted(LENGTHS), out, fps=fps, stride_frames=stride, window_frames=window,
                    frame_counts={"video_test_0000004": 40})
    with FeatureShardReader(out) as r:
        assert r.video_ids() == sorted(LENGTHS) and r.root_attrs["source"] == "imported"
        for vid, f in feats.items():
            np.testing.assert_array_equal(r.features(vid), f)
            np.testing.assert_array_equal(r.rgb(vid), f[:, :1024])
            np.testing.assert_allclose(r.t_center_s(vid), (np.arange(len(f)) * stride + window / 2) / fps[vid])
            a = r.attrs(vid)
            name = f"{vid}.npy" if fmt == "actionformer" else vid
            assert a["source_sha256"] == sha256_file(src / name) and a["source_file"].endswith(name)
            assert a["source"] == "imported" and a["import_format"] == fmt
            assert a["stride_frames"] == stride and a["window_frames"] == window
        assert r.attrs("video_test_0000004")["frame_count"] == 40
        assert r.attrs("video_test_0000006")["frame_count"] == 2 * stride + window  # estimated


def test_cli_import_with_manifest_shard(tmp_path):
    src = tmp_path / "published"
    src.mkdir()
    feats = published(src, "actionformer")
    manifest = tmp_path / "videos.csv"
    manifest.write_text("video_id,path,split,fps\n" + "".join(f"{v},{v}.mp4,test,30\n" for v in sorted(LENGTHS)))
    out = tmp_path / "shard001.h5"
    rc = main(["features", "import", "--source-dir", str(src), "--format", "actionformer", "--stride-frames", "4",
               "--window-frames", "16", "--manifest", str(manifest), "--shard", "shard001", "--shard-size", "2",
               "--out", str(out)])
    assert rc == 0
    with FeatureShardReader(out) as r:
        assert r.video_ids() == ["video_validation_0000051"]
        np.testing.assert_array_equal(r.features("video_validation_0000051"), feats["video_validation_0000051"])


def test_missing_file_is_named_and_nothing_is_written(tmp_path):
    src = tmp_path / "published"
    src.mkdir()
    published(src, "actionformer")
    (src / "video_test_0000006.npy").unlink()
    out = tmp_path / "feat.h5"
    with pytest.raises(NemiInputError, match="video_test_0000006.npy"):
        import_features(src, "actionformer", sorted(LENGTHS), out, fps=30.0, stride_frames=4, window_frames=16)
    assert not out.exists() and list(tmp_path.glob(".feat.h5.tmp-*")) == []


@pytest.mark.parametrize("bad", [np.zeros((5, 1024), np.float32), np.zeros((0, 2048), np.float32),
                                 np.zeros((2, 3, 2048), np.float32), np.full((2, 2048), np.nan, np.float32)])
def test_misshapen_file_is_named(tmp_path, bad):
    src = tmp_path / "published"
    src.mkdir()
    published(src, "actionformer")
    np.save(src / "video_test_0000006.npy", bad)
    out = tmp_path / "feat.h5"
    with pytest.raises(NemiInputError, match="video_test_0000006.npy"):
        import_features(src, "actionformer", sorted(LENGTHS), out, fps=30.0, stride_frames=4, window_frames=16)
    assert not out.exists()


def test_rtd_file_that_is_not_a_tensor_is_named(tmp_path):
    src = tmp_path / "published"
    src.mkdir()
    published(src, "rtd")
    (src / "video_test_0000004").write_bytes(b"not a torch file")
    with pytest.raises(NemiInputError, match="video_test_0000004"):
        import_features(src, "rtd", sorted(LENGTHS), tmp_path / "f.h5", fps=30.0, stride_frames=8, window_frames=8)


def test_missing_directory(tmp_path):
    with pytest.raises(NemiInputError, match="not found"):
        import_features(tmp_path / "nope", "rtd", ["a"], tmp_path / "f.h5", fps=30.0, stride_frames=8,
                        window_frames=8)
