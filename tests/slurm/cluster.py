"""A throwaway single-node SLURM for tests: Debian's munge, slurmctld and slurmd, run as root with every
file under one directory and every address on the loopback. Started daemons are stopped by their pid
files, never by name, so a cluster someone else runs on this machine is left alone."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")
BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scancel")


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]


def install_packages() -> str | None:
    """Installs the Debian packages where this process may (root with apt-get); the reason if not."""
    if not missing_binaries():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"SLURM binaries {missing_binaries()} missing and apt-get needs root"
    res = subprocess.run(["bash", str(HERE / "install.sh")], capture_output=True, text=True, timeout=600)
    if res.returncode != 0 or missing_binaries():
        return f"apt-get install {' '.join(PACKAGES)} failed: {(res.stdout + res.stderr)[-500:]}"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass
class SlurmCluster:
    """One node ``node`` in partition ``debug`` with ``cpus`` CPUs, ``mem_mb`` memory and, if ``gpus``,
    that many fake GPUs (gres backed by /dev/null: jobs get CUDA_VISIBLE_DEVICES, nothing more)."""

    root: Path
    cpus: int = 2
    mem_mb: int = 12000
    gpus: int = 0
    node: str = "nemi1"

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment for clients (sbatch, squeue, Snakemake) that talk to this cluster."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def pid_files(self) -> list[Path]:
        """In stopping order: the node daemon, the controller, then munge, which both use."""
        return [self.root / "run" / f for f in ("slurmd.pid", "slurmctld.pid", "munged.pid")]

    def write_config(self) -> None:
        for d in ("etc", "munge", "state", "spool", "run", "log", "bin"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o700)
        host = socket.gethostname().split(".")[0]
        gres = f"Gres=gpu:fake:{self.gpus}" if self.gpus else ""
        text = Template((HERE / "slurm.conf.in").read_text()).substitute(
            cluster="nemi" + hashlib.sha1(str(self.root).encode()).hexdigest()[:8], host=host, root=self.root,
            ctld_port=_free_port(), slurmd_port=_free_port(), node=self.node, cpus=self.cpus, mem_mb=self.mem_mb,
            gres=gres, gres_types="gpu")
        self.conf.write_text(text)
        gres_conf = f"NodeName={self.node} Name=gpu Type=fake File=/dev/null Count={self.gpus}\n" if self.gpus else ""
        (self.root / "etc" / "gres.conf").write_text(gres_conf)
        # snakemake-executor-plugin-slurm-jobstep 0.6 drops every SLURM_* variable but a few before its
        # inner `srun`, SLURM_CONF included: a cluster whose configuration is not /etc/slurm/slurm.conf
        # (this one) needs srun told again. Real clusters keep theirs in /etc or run configless.
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)

    def start(self, timeout_s: float = 60) -> None:
        self.write_config()
        key = self.root / "munge" / "munge.key"
        subprocess.run([_sbin("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        key.chmod(0o400)
        m, run, log = self.root / "munge", self.root / "run", self.root / "log"
        self._daemon([_sbin("munged"), f"--key-file={key}", f"--socket={m / 'munge.socket'}",
                      f"--pid-file={run / 'munged.pid'}", f"--log-file={log / 'munged.log'}",
                      f"--seed-file={m / 'munged.seed'}", "--force"])
        self._daemon([_sbin("slurmctld"), "-f", str(self.conf), "-c"])
        self._daemon([_sbin("slurmd"), "-f", str(self.conf), "-N", self.node])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            res = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=self.env, capture_output=True, text=True)
            if res.returncode == 0 and res.stdout.strip() in ("idle", "mix", "alloc"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the test SLURM did not come up in {timeout_s} s:\n{self.logs()}")

    def _daemon(self, cmd: list[str]) -> None:
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed to start: {res.stderr}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for f in sorted((self.root / "log").glob("*.log")):
            parts.append(f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)

    def run(self, *cmd: str) -> str:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=True, timeout=60).stdout

    def stop(self, timeout_s: float = 30) -> None:
        """Cancels this cluster's jobs, then stops its daemons by their pid files."""
        if (self.root / "run" / "slurmctld.pid").exists():
            subprocess.run(["scancel", "--full", "--user", str(os.geteuid())], env=self.env, capture_output=True,
                           timeout=30)
        for pid_file in self.pid_files():
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (the daemons are not our children, so none should linger).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
