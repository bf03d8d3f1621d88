"""Decoding onto the fixed timeline: real clips, generated VFR / odd-size clips, every bad input."""

from __future__ import annotations

import math
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from nemi.params import build as build_params
from nemi.io.provenance import sha256_file
import pytest

from nemi.decode import DecodeParams, SourceStats, decode_shard, iter_timeline, timeline_frame_count
from nemi.decode.shard import read_skipped
from nemi.errors import NemiInputError
from nemi.io.frames import FrameShardReader

SMALL = {"fps": 15, "width_px": 160, "height_px": 120}  # the demo's size keeps decoding tests fast

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def _encode(path: Path, values: list[int], w: int, h: int, *, pts: list[int] | None = None,
            tb: Fraction | None = None, rate: int = 25, pix_fmt: str = "yuv420p", fmt: str = "mp4",
            options: dict | None = None) -> Path:
    """Uniform grey frames (value per frame), so the frame shown can be read back from its mean."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        s = out.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.options = {"preset": "ultrafast", "qp": "0" if pix_fmt == "yuv444p" else "10"}
        if tb is not None:
            s.codec_context.time_base = tb
            s.time_base = tb
        for k, v in enumerate(values):
            f = av.VideoFrame.from_ndarray(np.full((h, w, 3), v, np.uint8), format="rgb24")
            if pts is not None:
                f.pts, f.time_base = pts[k], tb
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def _decode(path, fps=15, w=160, h=120):
    st = SourceStats(path=str(path), size_bytes=0)
    frames = [f.copy() for f in iter_timeline(path, fps, w, h, st)]
    return frames, st


def _reference_index(times: list[Fraction], fps: Fraction, n: int) -> list[int]:
    return [max(k for k, s in enumerate(times) if s <= Fraction(i) / fps) for i in range(n)]


def test_frame_count_formula_is_exact():
    assert timeline_frame_count(Fraction(10), 15) == 150
    assert timeline_frame_count(Fraction(300 * 1001, 30000), 15) == 151   # 10.01 s
    assert timeline_frame_count(Fraction(1, 15), 15) == 1                 # i/fps < E, E on the grid
    assert timeline_frame_count(Fraction(1, 15) + Fraction(1, 10**6), 15) == 2
    assert timeline_frame_count(Fraction(1000, 2997), 29.97) == 10


def test_cfr_28fps_matches_naive_reference():
    path = VIDEOS / "mmaction2_demo.mp4"
    frames, st = _decode(path)
    assert (st.source_frame_count, st.source_fps, st.duration_s) == (280, 28.0, 10.0)
    assert len(frames) == st.frame_count == 150
    src = [f.to_ndarray(format="rgb24") for f in av.open(str(path)).decode(video=0)]
    for i in (0, 1, 7, 75, 149):
        k = (28 * i) // 15                       # max{k : k/28 <= i/15}
        ref = cv2.resize(src[k], (160, 120), interpolation=cv2.INTER_AREA)
        assert frames[i].shape == (120, 160, 3) and frames[i].dtype == np.uint8
        assert np.array_equal(frames[i], ref)
    assert st.resize == "cv2_area"


def test_hd_source_resized_by_swscale_area(tmp_path):
    h, w = 720, 1280
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], -1).astype(np.uint8)
    path = tmp_path / "hd.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast"}
        for k in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(np.roll(base, 40 * k, axis=1), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    frames, st = _decode(path, fps=25)
    assert st.resize == "swscale_area" and len(frames) == 3
    src = [f.to_ndarray(format="rgb24") for f in av.open(str(path)).decode(video=0)]
    for got, full in zip(frames, src):
        ref = cv2.resize(full, (160, 120), interpolation=cv2.INTER_AREA)
        assert np.abs(got.astype(int) - ref).mean() < 3.0


def test_low_fps_source_repeats_frames():
    frames, st = _decode(VIDEOS / "mmaction2_6fps.mp4")
    assert (st.source_frame_count, st.source_fps, st.duration_s) == (57, 6.0, 9.5)
    assert len(frames) == 143                    # ceil(9.5 * 15)
    for i in range(1, len(frames)):
        same = (6 * i) // 15 == (6 * (i - 1)) // 15
        assert np.array_equal(frames[i], frames[i - 1]) == same


def test_2997fps_source():
    frames, st = _decode(VIDEOS / "mmaction2_2997fps.mp4")
    assert st.source_frame_count == 300 and st.source_fps == pytest.approx(30000 / 1001)
    assert len(frames) == 151 and st.duration_s == pytest.approx(10.01)


def test_video_with_audio_stream():
    frames, st = _decode(VIDEOS / "mmaction2_test.avi", fps=25, w=64, h=48)
    assert st.codec == "mpeg4" and st.source_frame_count == 164
    assert len(frames) == timeline_frame_count(st.duration_s, 25) == 164
    assert frames[0].shape == (48, 64, 3)


def test_variable_frame_rate_follows_timestamps(tmp_path):
    pts = [0, 40, 80, 200, 210, 220, 500, 533, 566, 900, 1000]   # ms
    values = [10 + 20 * k for k in range(len(pts))]
    path = _encode(tmp_path / "vfr.mp4", values, 64, 48, pts=pts, tb=Fraction(1, 1000))
    frames, st = _decode(path, fps=25, w=32, h=24)
    rate = Fraction(av.open(str(path)).streams.video[0].average_rate)
    times = [Fraction(p, 1000) for p in pts]
    n = math.ceil((times[-1] + 1 / rate) * 25)
    assert len(frames) == n == st.frame_count
    expected = _reference_index(times, Fraction(25), n)
    shown = [int(np.argmin([abs(f.mean() - v) for v in values])) for f in frames]
    assert shown == expected
    assert st.source_frame_count == len(pts)


def test_odd_sizes(tmp_path):
    path = _encode(tmp_path / "odd.mp4", [50, 100, 150, 200], 171, 127, pix_fmt="yuv444p")
    frames, st = _decode(path, fps=10, w=81, h=61)
    assert (st.source_width, st.source_height) == (171, 127)
    assert frames[0].shape == (61, 81, 3) and len(frames) == 4 * 10 // 25 + 1
    assert abs(frames[0].mean() - 50) < 2


def test_shard_layout_and_attrs(tmp_path):
    out, skipped = tmp_path / "frames.h5", tmp_path / "skipped.csv"
    videos = [("demo", str(VIDEOS / "mmaction2_demo.mp4")), ("avi", str(VIDEOS / "mmaction2_test.avi"))]
    decode_shard(videos, out, skipped,
                 build_params(DecodeParams, dict(fps=15, width_px=160, height_px=120, jpeg_quality=90)))
    assert read_skipped(skipped) == []
    with FrameShardReader(out) as r:
        assert r.video_ids() == ["avi", "demo"] and r.params["fps"] == 15
        info = r.info("demo")
        assert info.source_size_bytes == (VIDEOS / "mmaction2_demo.mp4").stat().st_size
        assert (info.source_fps, info.source_frame_count, info.duration_s) == (28.0, 280, 10.0)
        assert (info.target_fps, info.frame_count, info.width, info.height) == (15.0, 150, 160, 120)
        assert info.source_path.endswith("mmaction2_demo.mp4")
        assert r.h5["demo"].attrs["source_sha256"] == sha256_file(VIDEOS / "mmaction2_demo.mp4")
        frames = list(r.iter_frames("demo"))
        assert len(frames) == 150 and frames[0].shape == (120, 160, 3)
        assert np.allclose(r.h5["demo"]["t_s"][:3], [0, 1 / 15, 2 / 15])
    raw_out = tmp_path / "raw.h5"
    decode_shard(videos[:1], raw_out, skipped, build_params(DecodeParams, SMALL | {"codec": "raw"}))
    ref, _ = _decode(VIDEOS / "mmaction2_demo.mp4")
    with FrameShardReader(raw_out) as r:
        assert np.array_equal(next(r.iter_frames("demo", 10, 11)), ref[10])


# --- bad input -------------------------------------------------------------------------------------------

def _bad(kind: str, d: Path) -> tuple[Path, str]:
    """A bad video of the given kind and a regex its error message must match."""
    if kind == "missing":
        return d / "nowhere.mp4", "not found"
    p = d / f"{kind}.bin"
    if kind == "zero_byte":
        p.write_bytes(b"")
        return p, "empty"
    if kind == "not_a_video":
        p.write_text("video_id,path\nthis is a CSV, not a video\n" * 50)
        return p, "cannot open as a video"
    if kind == "truncated_index_last":         # MP4 with its index (moov) after the data
        data = (VIDEOS / "mmaction2_demo.mp4").read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return p, "damaged or truncated"
    if kind == "truncated_index_first":        # MP4 with its index first (faststart)
        full = _encode(d / "fs.mp4", list(range(0, 250, 5)), 64, 48, options={"movflags": "faststart"})
        data = full.read_bytes()
        p.write_bytes(data[: len(data) * 6 // 10])
        return p, "truncated"
    if kind == "truncated_avi":
        data = (VIDEOS / "mmaction2_test.avi").read_bytes()
        p.write_bytes(data[: len(data) * 7 // 10])
        return p, "truncated"
    if kind == "huge_frame_size":              # a header declaring 60000x60000 (FFmpeg: EBUSY)
        p = p.with_suffix(".y4m")
        p.write_bytes(b"YUV4MPEG2 W60000 H60000 F25:1 Ip A0:0 C420jpeg\n" + b"FRAME\n" + bytes(4096))
        return p, "header declares a frame size of 60000x60000 pixels"
    if kind == "truncated_after_header":       # faststart MP4 cut where its frames begin
        full = _encode(d / "fs2.mp4", list(range(0, 250, 5)), 64, 48, options={"movflags": "faststart"})
        data = full.read_bytes()
        p.write_bytes(data[: data.find(b"mdat") + 4])
        return p, "truncated or damaged: its header declares 50 frames, none could be decoded"
    if kind == "one_frame":
        return _encode(p.with_suffix(".mp4"), [128], 64, 48), "1 decodable frame"
    if kind == "audio_only":
        p = p.with_suffix(".m4a")
        with av.open(str(p), "w", format="mp4") as out:
            s = out.add_stream("aac", rate=16000)
            for k in range(8):
                fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                fr.sample_rate, fr.pts = 16000, k * 1024
                for pk in s.encode(fr):
                    out.mux(pk)
            for pk in s.encode():
                out.mux(pk)
        return p, "no video stream \\(streams: audio\\)"
    raise AssertionError(kind)


BAD = ["missing", "zero_byte", "not_a_video", "truncated_index_last", "truncated_index_first", "truncated_avi",
       "one_frame", "audio_only", "huge_frame_size", "truncated_after_header"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_video_fails_with_clear_message(kind, tmp_path):
    path, why = _bad(kind, tmp_path)
    out_dir = tmp_path / "out"
    out = out_dir / "shard000.h5"
    videos = [("good", str(VIDEOS / "mmaction2_6fps.mp4")), ("bad", str(path))]
    with pytest.raises(NemiInputError, match=why) as err:
        decode_shard(videos, out, out_dir / "skipped.csv", build_params(DecodeParams, SMALL))
    assert str(path) in str(err.value)
    assert "Device or resource busy" not in str(err.value) and "0 decodable" not in str(err.value)
    assert not out.exists() and list(out_dir.iterdir()) == []   # no partial artifact, no temp file


def test_short_timeline_is_an_error(tmp_path):
    path = _encode(tmp_path / "two.mp4", [50, 200], 64, 48, rate=30)   # 2/30 s: one frame at 15 fps
    with pytest.raises(NemiInputError, match="less than two frames at 15 fps"):
        _decode(path)


def test_skip_mode_records_bad_videos_and_keeps_the_rest(tmp_path):
    bad = [(_bad(k, tmp_path)[0], k) for k in ("missing", "truncated_index_first", "audio_only")]
    videos = [("a_good", str(VIDEOS / "mmaction2_6fps.mp4"))] + [(f"b_{k}", str(p)) for p, k in bad] + \
             [("c_good", str(VIDEOS / "mmaction2_demo.mp4"))]
    out, skipped = tmp_path / "o" / "frames.h5", tmp_path / "o" / "skipped.csv"
    rows = decode_shard(videos, out, skipped, build_params(DecodeParams, SMALL), on_error="skip")
    assert [r["video_id"] for r in read_skipped(skipped)] == [r["video_id"] for r in rows] == \
           ["b_missing", "b_truncated_index_first", "b_audio_only"]
    for row, (p, _) in zip(read_skipped(skipped), bad):
        assert row["path"] == str(p) and str(p) in row["reason"]
    with FrameShardReader(out) as r:
        assert r.video_ids() == ["a_good", "c_good"]       # the partly decoded video was removed
        assert r.info("c_good").frame_count == 150
    assert sorted(x.name for x in out.parent.iterdir()) == ["frames.h5", "skipped.csv"]


def _cli(argv: list[str]) -> int:
    """Run ``nemi decode`` through its own subparser (nemi.cli wires the same register())."""
    import argparse

    from nemi.decode import cli

    parser = argparse.ArgumentParser(prog="nemi")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_decodes_one_shard_and_reports_bad_input(tmp_path):
    shutil.copy(VIDEOS / "mmaction2_6fps.mp4", tmp_path / "a.mp4")
    (tmp_path / "b.mp4").write_bytes(b"")
    manifest = tmp_path / "videos.csv"
    manifest.write_text("video_id,path,split\nv1,a.mp4,test\nv2,a.mp4,test\nv3,b.mp4,test\n")
    common = ["decode", "--manifest", str(manifest), "--shard-size", "2", "--fps", "10", "--width-px", "32",
              "--height-px", "24"]
    assert _cli(common + ["--shard", "shard000", "--out", str(tmp_path / "s0.h5"),
                          "--skipped", str(tmp_path / "s0.csv")]) == 0
    with FrameShardReader(tmp_path / "s0.h5") as r:
        assert r.video_ids() == ["v1", "v2"] and r.info("v1").frame_count == 95
    with pytest.raises(NemiInputError, match="b.mp4: video file is empty"):
        _cli(common + ["--shard", "shard001", "--out", str(tmp_path / "s1.h5"), "--skipped", str(tmp_path / "s1.csv")])
    assert not (tmp_path / "s1.h5").exists()
    assert _cli(common + ["--shard", "shard001", "--out", str(tmp_path / "s1.h5"), "--skipped",
                          str(tmp_path / "s1.csv"), "--on-error", "skip"]) == 0
    assert [r["video_id"] for r in read_skipped(tmp_path / "s1.csv")] == ["v3"]
    with pytest.raises(NemiInputError, match="no shard 'shard009'"):
        _cli(common + ["--shard", "shard009", "--out", str(tmp_path / "s9.h5"), "--skipped", str(tmp_path / "s9.csv")])
