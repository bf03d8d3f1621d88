"""`nemi inspect` summaries and `nemi plot timeline` pictures."""

from __future__ import annotations

import numpy as np
import pytest

from nemi.cli import main
from nemi.errors import NemiInputError
from nemi.inspect import summarize
from tests.test_labels import PARAMS, _curve_file


@pytest.fixture()
def artifacts(tmp_path):
    from nemi.labels.pseudo_labels import make_pseudo_labels

    curves = _curve_file(tmp_path / "c.h5")
    labels = tmp_path / "hog.json"
    make_pseudo_labels([curves], labels, dataset="toy", kind="hog", params=PARAMS)
    gt = tmp_path / "gt.csv"
    gt.write_text("video_id,t_start,t_end,label\nvid_a,3.2,6.5,Jump\nother,1,2,Jump\n")
    return curves, labels, gt


def test_inspect_h5_lists_groups_datasets_attrs(artifacts):
    text = summarize(artifacts[0])
    assert "HDF5" in text and "@kind = hog" in text
    assert "vid_a/" in text and "distance: (99,) float32" in text and "@n_steps = 100" in text


def test_inspect_pseudo_labels(artifacts, capsys):
    assert main(["inspect", str(artifacts[1])]) == 0
    out = capsys.readouterr().out
    assert "videos: 1, activities: 3" in out
    assert "activity length (s): min 3.00" in out


def test_inspect_unknown_and_missing(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(NemiInputError, match="x.bin"):
        summarize(tmp_path / "x.bin")
    assert main(["inspect", str(tmp_path / "nope.h5")]) == 2


def test_plot_timeline_writes_png(artifacts, tmp_path):
    curves, labels, gt = artifacts
    out = tmp_path / "plots"
    assert main(["plot", "timeline", "--curves", str(curves), "--labels", str(labels), "--gt", str(gt),
                 "--out-dir", str(out)]) == 0
    png = out / "vid_a.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.shape[1] > 1000 and np.std(img) > 0.05


def test_plot_unknown_video(artifacts, tmp_path):
    curves, labels, _ = artifacts
    with pytest.raises(NemiInputError, match="no curve for video nope"):
        from nemi.plot import plot_timeline

        plot_timeline(str(curves), str(labels), "nope", str(tmp_path / "x.png"))
