#!/usr/bin/env bash
# Debian's single-node SLURM for tests/test_slurm.py (about 20-30 s). Root only; the daemons are
# not started here (the test starts its own, with its own configuration, and stops them).
set -euo pipefail
pkgs="munge slurmctld slurmd slurm-client"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $pkgs >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null; }
