"""The boundary prior: BSN's TEM network, labels and loss against BSN's own outputs; training; priors; HDF5."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from nemi.errors import NemiConfigError, NemiInputError
from nemi.io.boundary import BoundaryScores, read_boundary, write_boundary
from nemi.io.timebase import Timebase
from nemi.tem import TEM, TemParams, boundary_prior, fit, schema, score
from nemi.tem.loss import bi_loss, tem_loss
from nemi.tem.targets import ioa, tem_targets
from nemi.tem.train import batch_targets
from nemi.windows.dataset import build_windows
from nemi.windows.grid import WindowParams

GOLDEN = Path(__file__).parent / "golden" / "tem"


def _golden_script():
    spec = importlib.util.spec_from_file_location("tem_golden", GOLDEN / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def golden():
    return dict(np.load(GOLDEN / "golden.npz"))


def test_network_equals_bsn(golden):
    g = _golden_script()
    net = TEM(g.FEAT_DIM, g.HIDDEN)
    g.fill_weights(net)
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == [
        ("conv1.weight", (512, 16, 3)), ("conv1.bias", (512,)), ("conv2.weight", (512, 512, 3)),
        ("conv2.bias", (512,)), ("conv3.weight", (3, 512, 1)), ("conv3.bias", (3,))]
    with torch.no_grad():
        out = net(torch.from_numpy(golden["x"]))
    assert golden["out"].std() > 0.1  # the golden is not a flat 0.5
    np.testing.assert_allclose(out.numpy(), golden["out"], atol=1e-6)


def test_labels_equal_bsn(golden):
    # BSN's video of 100 s is the window here: segments / 100 in window units, 100 steps
    got = tem_targets(golden["segments_s"] / 100.0, 100, 0.1)
    np.testing.assert_allclose(got.T, golden["labels"], atol=1e-6)


def test_labels_by_hand():
    # 10 steps; [0.2, 0.6]: action on steps 2..5; region width max(1/10, 0.1 * 0.4) = 0.1
    lab = tem_targets(np.array([[0.2, 0.6]]), 10, 0.1)
    np.testing.assert_allclose(lab[:, 0], [0, 0, 1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(lab[:, 1], [0, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0])  # [0.15, 0.25]
    np.testing.assert_allclose(lab[:, 2], [0, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0])  # [0.55, 0.65]
    # the region is one step at least: 0.1 * 0.8 < 1/10, so [0.08, 0.18]
    lab = tem_targets(np.array([[0.13, 0.93]]), 10, 0.1)
    np.testing.assert_allclose(lab[:3, 1], [0.2, 0.8, 0], atol=1e-6)
    # a segment longer than the window: 0.1 * 1.5 = 0.15 wide, [0.055, 0.205]
    lab = tem_targets(np.array([[0.13, 1.63]]), 10, 0.1)
    np.testing.assert_allclose(lab[:3, 1], [0.45, 1.0, 0.05], atol=1e-6)
    # a segment running in from before the window: not clipped to 0 (BSN would clip and invent a start there);
    # its end region is max(1/10, 0.1 * 0.85) = 0.1 wide, [0.30, 0.40]: step 3
    lab = tem_targets(np.array([[-0.5, 0.35]]), 10, 0.1)
    np.testing.assert_allclose(lab[:, 0], [1, 1, 1, 0.5, 0, 0, 0, 0, 0, 0])
    assert lab[:, 1].max() == 0
    np.testing.assert_allclose(lab[:, 2], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(ioa(np.array([[0.0, 0.5]]), np.array([[0.25, 2.0], [-1.0, 0.1]])), [[0.5, 0.2]])
    assert (tem_targets(np.zeros((0, 2)), 5, 0.1) == 0).all()


def test_loss_equals_bsn(golden):
    labels = torch.from_numpy(golden["labels"])
    y = torch.stack([torch.stack([lab, lab.flip(0)]) for lab in labels], dim=1)  # (2, 3, T) as the script
    got = tem_loss(torch.from_numpy(golden["out"]), y, 0.5)
    np.testing.assert_allclose([got[k].item() for k in ("loss_action", "loss_start", "loss_end", "cost")],
                               golden["loss"], rtol=1e-6)


def test_loss_guards_and_mask():
    p = torch.tensor([0.2, 0.7, 0.9, 0.4])
    none_pos = bi_loss(p, torch.zeros(4), 0.5)  # BSN: NaN
    all_pos = bi_loss(p, torch.ones(4), 0.5)    # BSN: inf
    assert torch.isfinite(none_pos) and torch.isfinite(all_pos)
    assert none_pos.item() == pytest.approx(-0.5 * np.mean(np.log(1 - p.numpy() + 1e-5)), rel=1e-6)
    # padded steps do not count: the masked loss equals the loss of the valid part alone
    pred, lab = torch.rand(2, 3, 8), (torch.rand(2, 3, 8) > 0.5).float()
    mask = torch.tensor([[True] * 8, [True] * 5 + [False] * 3])
    masked = tem_loss(pred, lab, 0.5, mask)
    sel = mask.reshape(-1)
    for c, k in enumerate(("loss_action", "loss_start", "loss_end")):
        want = bi_loss(pred[:, c].reshape(-1)[sel], lab[:, c].reshape(-1)[sel], 0.5)
        assert masked[k].item() == pytest.approx(want.item(), rel=1e-6)


def _toy_windows(seed: int = 0):
    # one feature row per frame at 10 fps; features say "inside an action" through channel 0, plus noise
    rng = np.random.default_rng(seed)
    feats, ann = {}, {}
    for v in range(3):
        segs = np.array([[3.0 + v, 6.0 + v], [11.0, 13.5], [16.0, 19.0 - 0.5 * v]])
        t = Timebase(10.0, 1, 1).centers(220)
        x = rng.normal(0, 0.3, (220, 6)).astype(np.float32)
        x[:, 0] += ((t[:, None] >= segs[:, 0]) & (t[:, None] < segs[:, 1])).any(1)
        feats[f"v{v}"] = (x, Timebase(10.0, 1, 1), 22.0)
        ann[f"v{v}"] = (segs, np.zeros(3, np.int64))
    return build_windows(feats, WindowParams(40, 10, 20, None), "train", annotations=ann)


def _mean_cost(model, windows, params) -> float:
    costs = []
    with torch.no_grad():
        for i in range(len(windows)):
            w = windows[i]
            x = torch.from_numpy(w["features"]).T[None]
            y = batch_targets([torch.from_numpy(w["segments"])], x.shape[2], params.boundary_ratio)
            costs.append(tem_loss(model(x), y, params.match_threshold, torch.from_numpy(w["mask"])[None])["cost"])
    return float(torch.stack(costs).mean())


def test_training_lowers_the_loss_and_is_repeatable():
    windows = _toy_windows()
    assert len(windows) >= 10
    params = TemParams.from_dict({"hidden_dim": 32, "epochs": 6, "batch_size": 8, "lr": 0.1, "lr_step_epochs": 5})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        untrained = TEM(6, 32)
    before = _mean_cost(untrained, windows, params)
    model = fit(windows, params, "cpu")
    after = _mean_cost(model, windows, params)
    assert after < 0.5 * before, (before, after)
    again = fit(windows, params, "cpu")
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    # whole-video scores equal the window's away from its edges (the network sees 2 steps either side)
    w = windows[3]
    v = windows.videos[w["video_id"]]
    s = score(model, v.features)
    assert s.shape == (220, 3) and s.dtype == np.float32 and ((s > 0) & (s < 1)).all()
    with torch.no_grad():
        win = model(torch.from_numpy(w["features"]).T[None])[0].T.numpy()
    np.testing.assert_allclose(s[w["start"] + 2:w["start"] + 38], win[2:38], atol=1e-6)
    prior = boundary_prior("tem", 220, model=model, features=v.features)
    np.testing.assert_array_equal(prior, s[:, 1:3])


def test_params_from_the_schema_only():
    full = yaml.safe_load((Path(__file__).parents[1] / "nemi" / "schemas" / "config.schema.yaml").read_text())
    text = full["$defs"]["tem"]
    defaults = TemParams.from_dict({})
    assert defaults.as_dict() == {k: p["default"] for k, p in text["properties"].items()}
    assert schema() == text
    assert defaults.hidden_dim == 512 and defaults.boundary_ratio == 0.1 and defaults.match_threshold == 0.5
    assert TemParams.from_dict({"epochs": 3}).epochs == 3
    with pytest.raises(NemiConfigError, match="tem: unknown key.*epoch_count"):
        TemParams.from_dict({"epoch_count": 3})
    with pytest.raises(NemiConfigError, match="tem.kind"):
        TemParams.from_dict({"kind": "bsn"})
    with pytest.raises(NemiConfigError, match="prior.lr"):
        TemParams.from_dict({"lr": -1.0}, where="prior")
    with pytest.raises(AttributeError):
        defaults.lr = 0.1  # frozen


def test_change_and_none_priors():
    assert (boundary_prior("none", 4) == 1).all() and boundary_prior("none", 4).shape == (4, 2)
    # curve 0, 2, 4 at 1, 2, 3 s; features centred at 0.5 .. 3.5 s: 0 (held), 1, 3, 4 -> /4
    tb = Timebase(1.0, 1, 1)
    got = boundary_prior("change", 4, timebase=tb, curve=np.array([0.0, 2.0, 4.0]), curve_t_s=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got, np.repeat(np.array([[0, 0.25, 0.75, 1.0]]).T, 2, 1))
    flat = boundary_prior("change", 3, timebase=tb, curve=np.full(5, 0.3), curve_t_s=np.arange(5.0))
    assert (flat == 1).all()
    with pytest.raises(NemiInputError, match="v7: change curve holds NaN"):
        boundary_prior("change", 3, timebase=tb, curve=np.array([np.nan, 1]), curve_t_s=np.array([0, 1.0]), name="v7")
    with pytest.raises(ValueError, match="kind"):
        boundary_prior("bsn", 3)


def test_boundary_file_round_trip(tmp_path):
    tb = Timebase.steps(29.97, 5)
    scores = {"video_a": BoundaryScores(np.linspace(0, 1, 7, dtype=np.float32), np.full(7, 0.5, np.float32),
                                        np.arange(7, dtype=np.float32) / 7, tb),
              "video_b": BoundaryScores(np.ones(3, np.float32), np.zeros(3, np.float32), np.ones(3, np.float32),
                                        Timebase(30.0, 8, 8))}
    path = tmp_path / "boundary.h5"
    write_boundary(path, "tem", scores, {"epochs": 20}, stage="tem")
    root, back = read_boundary(path)
    assert root["kind"] == "tem" and root["stage"] == "tem" and "git_sha" in root
    assert '"epochs": 20' in root["params_json"]
    for vid, s in scores.items():
        assert back[vid].timebase == s.timebase
        for k in ("start", "end", "action"):
            np.testing.assert_array_equal(getattr(back[vid], k), getattr(s, k))
    np.testing.assert_array_equal(back["video_a"].start_end()[:, 1], 0.5)
    with h5py.File(path) as h5:  # what a user sees
        assert h5["video_a/start"].dtype == np.float32 and h5["video_a"].attrs["stride_frames"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["boundary.h5"]  # no temporary left behind


def test_bad_boundary_files(tmp_path):
    with pytest.raises(NemiInputError, match="missing.h5: boundary-score file not found"):
        read_boundary(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(NemiInputError, match="junk.h5: cannot open"):
        read_boundary(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5.attrs["kind"] = "hog"
    with pytest.raises(NemiInputError, match="other.h5: not a boundary-score file"):
        read_boundary(other)
    good = tmp_path / "good.h5"
    write_boundary(good, "none", {"v": BoundaryScores(np.ones(3), np.ones(3), np.ones(3), Timebase(30.0, 8, 8))}, {})
    with h5py.File(good, "a") as h5:
        del h5["v/end"]
    with pytest.raises(NemiInputError, match="good.h5: video v lacks end"):
        read_boundary(good)
    nan = tmp_path / "nan.h5"
    bad = BoundaryScores(np.array([np.nan]), np.ones(1), np.ones(1), Timebase(30.0, 8, 8))
    write_boundary(nan, "tem", {"v": bad}, {})
    with pytest.raises(NemiInputError, match="nan.h5: video v: scores hold NaN"):
        read_boundary(nan)
