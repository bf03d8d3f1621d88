"""Shared artifact I/O: atomic writes, frame shards, manifests and shards."""

from __future__ import annotations

import numpy as np
import pytest

from nemi.errors import NemiInputError
from nemi.io.atomic import atomic_output
from nemi.io.frames import FrameShardReader, FrameShardWriter
from nemi.io.manifest import plan_shards, read_manifest


def test_atomic_output_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("complete")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("died mid-write")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_output_renames_on_success(tmp_path):
    with atomic_output(tmp_path / "sub" / "b.txt") as tmp:
        tmp.write_text("done")
        assert not (tmp_path / "sub" / "b.txt").exists()
    assert (tmp_path / "sub" / "b.txt").read_text() == "done"


_WRITER = """
import os, signal, sys, time
import h5py
from nemi.io.atomic import atomic_output
with atomic_output(sys.argv[1]) as tmp, h5py.File(tmp, "w") as h5:
    h5["x"] = list(range(1000))
    h5.flush()
    print(tmp.name, flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write: no cleanup runs
    sys.stdin.readline()  # alive until told to finish
"""


def _writer(target, mode):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def test_rerun_removes_only_stale_temporaries_of_its_own_output(tmp_path):
    target = tmp_path / "shard000.h5"
    dead, stale = _writer(target, "die")
    assert dead.wait(timeout=60) != 0 and (tmp_path / stale).is_file()
    live, held = _writer(target, "live")  # another writer of the same output, still running
    others = [".shard000.h5.tmp-x.tmp-abcdefgh", ".shard000.h5x.tmp-abcdefgh", ".shard001.h5.tmp-abcdefgh",
              ".shard000.h5.tmp-abcdefgh.part"]
    for name in others:  # temporaries of other outputs (stale or not) are never touched
        (tmp_path / name).write_text("someone else's")
    try:
        with atomic_output(target) as tmp:
            tmp.write_text("done")
        assert target.read_text() == "done"
        assert not (tmp_path / stale).exists(), "the killed job's temporary is removed"
        assert (tmp_path / held).is_file(), "a running writer's temporary is kept"
        assert all((tmp_path / name).is_file() for name in others)
    finally:
        live.communicate("\n", timeout=60)
    assert live.returncode == 0 and not (tmp_path / held).exists()
    import h5py

    with h5py.File(target) as h5:  # the live writer renamed its complete file onto the target
        assert len(h5["x"]) == 1000


@pytest.mark.parametrize("codec", ["jpeg", "raw"])
def test_frame_shard_round_trip(tmp_path, codec):
    yy, xx = np.mgrid[0:24, 0:32]
    base = np.stack([xx * 6, yy * 8, (xx + yy) * 3], axis=-1).astype(np.uint8)  # smooth: JPEG-friendly
    frames = [np.clip(base.astype(int) + 10 * i, 0, 255).astype(np.uint8) for i in range(5)]
    with FrameShardWriter(tmp_path / "f.h5", codec=codec, jpeg_quality=95, root_attrs={"params_json": "{}"}) as w:
        n = w.add_video("v1", iter(frames), width=32, height=24, target_fps=10.0,
                        attrs={"source_path": "x.mp4", "source_size_bytes": 1, "source_fps": 25.0,
                               "source_frame_count": 12, "duration_s": 0.5})
    assert n == 5
    with FrameShardReader(tmp_path / "f.h5") as r:
        assert r.video_ids() == ["v1"]
        info = r.info("v1")
        assert (info.frame_count, info.width, info.height, info.target_fps) == (5, 32, 24, 10.0)
        back = list(r.iter_frames("v1", batch=2))
        np.testing.assert_allclose(r.h5["v1"]["t_s"][()], np.arange(5) / 10.0)
    assert len(back) == 5 and back[0].shape == (24, 32, 3) and back[0].dtype == np.uint8
    err = max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, back))
    assert err == 0 if codec == "raw" else err < 3


def test_reader_names_unreadable_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(NemiInputError, match="bad.h5"):
        FrameShardReader(bad)


def test_manifest_checks(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("video_id,path,split\nb,videos/b.mp4,test\na,/abs/a.mp4,train\n")
    df = read_manifest(m)
    assert list(df["video_id"]) == ["a", "b"]
    assert df["path"][1] == str(tmp_path / "videos" / "b.mp4")
    m.write_text("video_id,path\na,a.mp4\n")
    with pytest.raises(NemiInputError, match="lacks column.*split"):
        read_manifest(m)
    m.write_text("video_id,path,split\na b,a.mp4,test\n")
    with pytest.raises(NemiInputError, match="row 2"):
        read_manifest(m)
    m.write_text("video_id,path,split\na,a.mp4,test\na,b.mp4,test\n")
    with pytest.raises(NemiInputError, match="more than once"):
        read_manifest(m)


@pytest.mark.parametrize("rows, message", [
    ("a,a.mp4,test\nb,,test\n", r"m.csv: row 3: path is empty \(video_id b\)"),
    ("a,  ,test\n", r"m.csv: row 2: path is empty \(video_id a\)"),
    ("a,a.mp4,\n", r"m.csv: row 2: split is empty \(video_id a\)"),
])
def test_manifest_empty_cell_names_file_and_row(tmp_path, rows, message):
    m = tmp_path / "m.csv"
    m.write_text("video_id,path,split\n" + rows)
    with pytest.raises(NemiInputError, match=message):
        read_manifest(m)


def test_manifest_empty_path_in_decode_and_snakemake(tmp_path):
    """One message naming the file and row, no TypeError traceback: from `nemi decode` and from Snakemake."""
    import subprocess
    import sys

    import yaml

    from tests.conftest import REPO

    (tmp_path / "videos.csv").write_text("video_id,path,split\nv1,a.mp4,test\nv2,,test\n")
    res = subprocess.run([sys.executable, "-m", "nemi", "decode", "--manifest", "videos.csv", "--shard", "shard000",
                          "--shard-size", "2", "--out", "s.h5", "--skipped", "s.csv"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "videos.csv: row 3: path is empty (video_id v2)" in res.stderr
    assert "Traceback" not in res.stderr and "TypeError" not in res.stderr
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["datasets"]["demo"]["videos"].update(source="manifest", manifest="videos.csv")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "videos.csv: row 3: path is empty (video_id v2)" in out
    assert "TypeError" not in out


def test_plan_shards():
    shards = plan_shards(["c", "a", "b", "d", "e"], 2)
    assert shards == {"shard000": ["a", "b"], "shard001": ["c", "d"], "shard002": ["e"]}


def test_a_missing_input_is_named_when_its_digest_is_recorded(tmp_path):
    """A command run by hand on an intermediate Snakemake has removed (a temp() frame shard) stops with one
    line naming the file, as every bad input does, not a FileNotFoundError traceback."""
    from nemi.io.provenance import sha256_file

    with pytest.raises(NemiInputError, match=r"shard000\.h5: input file not found"):
        sha256_file(tmp_path / "frames" / "shard000.h5")
    (tmp_path / "a.bin").write_bytes(b"abc")
    assert sha256_file(tmp_path / "a.bin") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
