"""The compute environment in every artifact: versions, CPU, kernels, threads; the ISA switch; resume warning."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import torch

from nemi import runtime
from nemi.inspect import summarize
from nemi.io.provenance import provenance
from nemi.train.run import train
from tests.test_train import VIDEOS, _params
from tests.train_data import synthetic


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in (*runtime.ISA_ENV, *runtime.THREAD_ENV, "NEMI_CPU_ISA")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_provenance_records_versions_cpu_kernels_and_threads():
    rec = provenance("x")
    for key in ("version_torch", "version_numpy", "version_opencv", "version_av", "version_h5py",
                "version_snakemake", "cpu_model", "cpu_isa", "cpu_kernels", "isa_pin", "threads_torch",
                "threads_opencv", "threads_omp"):
        assert key in rec, key
    assert rec["version_torch"] == torch.__version__ and rec["threads_torch"] == torch.get_num_threads()
    assert rec["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()


@pytest.mark.skipif(not runtime.is_x86() or runtime.cpu_isa() not in ("avx2", "avx512"), reason="needs x86 AVX2")
def test_cpu_isa_switch_picks_avx2_kernels_and_never_overrides_the_user():
    code = "import nemi, torch; print(torch.backends.cpu.get_cpu_capability())"
    assert _python(code, NEMI_CPU_ISA="avx2") == "AVX2"
    native = _python(code)
    assert native == ("AVX512" if runtime.cpu_isa() == "avx512" else "AVX2")
    # The user's own choice of kernels stands.
    assert _python(code, NEMI_CPU_ISA="avx2", ATEN_CPU_CAPABILITY="default") == "DEFAULT"
    rec = json.loads(_python("import nemi, torch, json; from nemi.io.provenance import provenance; "
                             "print(json.dumps(provenance('x')))", NEMI_CPU_ISA="avx2"))
    assert rec["cpu_kernels"] == "AVX2" and "MKL_CBWR=AVX2" in rec["isa_pin"]


def test_the_rules_threads_reach_torch_and_opencv_whichever_loads_first():
    for order in ("import torch, cv2", "import cv2, torch"):
        out = _python(f"import nemi; from nemi import runtime; {order}; runtime.set_threads(); "
                      "print(torch.get_num_threads(), cv2.getNumThreads())", OMP_NUM_THREADS="1")
        assert out == "1 1", order
    out = _python("import nemi; from nemi import runtime; runtime.set_threads(); import cv2, torch; "
                  "print(torch.get_num_threads(), cv2.getNumThreads())", OMP_NUM_THREADS="1")
    assert out == "1 1"


def test_inspect_shows_the_machine(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"provenance": provenance("x")}))
    text = summarize(path)
    assert f"torch {torch.__version__}" in text and "kernels " in text and "threads: torch" in text


def test_resume_under_other_threads_warns_naming_both(tmp_path, caplog):
    feats, bnd, ann, gt = synthetic()
    p = _params(select="last")
    assert train(feats, bnd, ann, VIDEOS, gt, p, tmp_path, stop_after_epochs=1) is None
    ckpt_path = next((tmp_path / "runs").iterdir()) / "checkpoint.pt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["provenance"]["threads_torch"] = torch.get_num_threads() + 3
    torch.save(ckpt, ckpt_path)
    with caplog.at_level(logging.WARNING, logger="nemi"):
        train(feats, bnd, ann, VIDEOS, gt, p, tmp_path)
    warned = [r.getMessage() for r in caplog.records if "another CPU setting" in r.getMessage()]
    assert len(warned) == 1
    assert f"threads_torch {torch.get_num_threads() + 3} then, {torch.get_num_threads()} now" in warned[0]
