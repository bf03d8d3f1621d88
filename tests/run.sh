#!/usr/bin/env bash
# The test command (README, .ci/run): installs nemi with its test extras, the VLFeat
# oracle where this machine allows it, then runs the test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install -q -e ".[test]"

# VLFeat through cyvlfeat: the reference the HOG tests compare against. Needs Debian's
# libvlfeat-dev, a C compiler and root; elsewhere the tests use the committed golden
# values instead. On CI the oracle is required, so a broken install fails loudly.
if ! python -c "import cyvlfeat.hog" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get install -y -q libvlfeat-dev >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q libvlfeat-dev >/dev/null; }; } \
      && python -m pip install -q Cython wheel setuptools numpy scipy \
      && python -m pip install -q --no-build-isolation cyvlfeat \
      || echo "cyvlfeat could not be installed: HOG tests fall back to golden values" >&2
  fi
  if [ -n "${CI:-}" ]; then python -c "import cyvlfeat.hog"; fi
fi

# A single-node SLURM for tests/test_slurm.py: Debian's munge and SLURM daemons (root only, about 30 s)
# and the executor plugin (the [slurm] extra). Elsewhere that test is skipped, saying why; on CI it runs.
if ! command -v slurmctld >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash tests/slurm/install.sh || echo "SLURM packages could not be installed: tests/test_slurm.py is skipped" >&2
fi
python -c "import snakemake_executor_plugin_slurm" 2>/dev/null || python -m pip install -q -e ".[slurm]" \
  || echo "snakemake-executor-plugin-slurm could not be installed: tests/test_slurm.py is skipped" >&2

# Debian's chromium for tests/test_report.py, which opens the HTML report headless (root only, about a minute).
# Elsewhere that test is skipped, saying why; on CI chromium is required.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } \
    || echo "chromium could not be installed: the headless-browser test of the report is skipped" >&2
fi
if [ -n "${CI:-}" ]; then command -v chromium >/dev/null; fi

# Two workers, each test file on one: much of the suite waits on subprocesses (Snakemake, SLURM, a
# browser), so the two cores stay busy; module fixtures stay within their file.
exec python -m pytest -n 2 --dist loadfile "$@"
