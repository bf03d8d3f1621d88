"""The compute environment a job runs in: the CPU kernels' instruction set and the thread counts.

Both change results in their last bits, and training turns last bits into other tables (measured on
the demo: NEMI's AR@100 moved 4.48 points between AVX-512 and AVX2 kernels, beyond its seed spread;
benchmarks/README.md, "Does it learn?" part 6). ``NEMI_CPU_ISA=avx2`` asks torch, oneDNN and MKL for
their AVX2 code paths, which every x86-64 CPU since 2013 has, so that an AVX-512 machine and an AVX2
machine run the same kernels; the default (``native``) lets each library choose, as the shipped
numbers were made. A variable the user has set is never overridden. This must happen before torch is
first imported, hence ``nemi/__init__.py`` calls :func:`pin_cpu_isa`. Every artifact records which
kernels ran (:func:`record`).

Thread counts: a Snakemake job exports its rule's ``threads:`` as ``OMP_NUM_THREADS``;
:func:`set_threads` writes that count for OpenMP, MKL and OpenCV (and torch when it is loaded), so
every library a job loads uses its rule's share of the node, whichever of them is imported first.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from importlib import metadata

# The libraries' own switches, each read when the library first loads.
ISA_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
           "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")
# The distributions whose versions every artifact records (the package, then its import name).
PACKAGES = {"torch": "torch", "numpy": "numpy", "opencv": "cv2", "av": "av", "h5py": "h5py",
            "snakemake": "snakemake"}
_OPENCV_DISTS = ("opencv-contrib-python-headless", "opencv-contrib-python", "opencv-python-headless",
                 "opencv-python")


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def pin_cpu_isa() -> bool:
    """Ask for the AVX2 kernels when ``NEMI_CPU_ISA=avx2``; False when not asked or not possible."""
    if os.environ.get("NEMI_CPU_ISA", "native").lower() != "avx2" or not is_x86():
        return False
    if "torch" in sys.modules:  # too late for this process: torch has chosen; provenance says which
        return False
    for key, value in ISA_ENV.items():
        os.environ.setdefault(key, value)
    return True


def set_threads(n: int | None = None) -> int | None:
    """Use ``n`` threads (default: ``OMP_NUM_THREADS``, Snakemake's export of the rule's ``threads:``)
    in OpenMP, MKL, OpenCV and torch; None when neither says: each library keeps its default."""
    if n is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        n = int(env) if env.isdigit() and int(env) > 0 else None
    if n is None:
        return None
    for key in THREAD_ENV:
        os.environ[key] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(n)
    return n


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def cpu_isa() -> str:
    """The widest x86 vector extension the CPU has (avx512, avx2, avx, sse4_2), or the machine's name."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        flags = set()
    for isa, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx"), ("sse4_2", "sse4_2")):
        if flag in flags:
            return isa
    return platform.machine()


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    out = {}
    for name, module in PACKAGES.items():
        if module in sys.modules and getattr(sys.modules[module], "__version__", None):
            out[name] = str(sys.modules[module].__version__)
            continue
        for dist in (_OPENCV_DISTS if name == "opencv" else (name,)):
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            out[name] = "not installed"
    return out


def record() -> dict[str, str | int]:
    """Flat (HDF5-attribute friendly) versions, CPU and threads of this process, as it runs now.

    ``cpu_kernels`` is torch's own report of the kernels it runs (``not loaded``: the job never
    imported torch); ``isa_pin`` what was asked of the libraries.
    """
    torch = sys.modules.get("torch")
    cv2 = sys.modules.get("cv2")
    rec: dict[str, str | int] = {f"version_{k}": v for k, v in versions().items()}
    rec |= {"cpu_model": cpu_model(), "cpu_isa": cpu_isa(),
            "cpu_kernels": torch.backends.cpu.get_cpu_capability() if torch else "not loaded",
            "isa_pin": ",".join(f"{k}={os.environ[k]}" for k in ISA_ENV if k in os.environ) or "none",
            "threads_torch": torch.get_num_threads() if torch else 0,
            "threads_opencv": cv2.getNumThreads() if cv2 else 0,
            "threads_omp": os.environ.get("OMP_NUM_THREADS", "unset")}
    return rec


# What must be equal for two runs to give the same bits (a resume compares them).
REPRODUCIBILITY_KEYS = ("cpu_kernels", "isa_pin", "threads_torch", "version_torch")


def differences(stored: dict, now: dict) -> list[str]:
    """The reproducibility entries of two records that differ, as 'key A (stored) against B (now)'."""
    return [f"{k} {stored.get(k)!r} then, {now.get(k)!r} now" for k in REPRODUCIBILITY_KEYS
            if k in stored and stored.get(k) != now.get(k)]
