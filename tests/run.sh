#!/usr/bin/env bash
# Set up and run the test suite on a fresh machine (Python 3.11, Debian):
# system packages the tests use (chromium for the HTML report test, spin for the
# Promela cross-check; gcc for both SPIN and the compiled engine), a venv
# with the project and its test extras, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v spin >/dev/null 2>&1 || need+=(spin)   # the SPIN cross-check of the Promela export
command -v gcc >/dev/null 2>&1 || need+=(gcc)     # pan and the compiled engine
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing ${need[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "tests/run.sh: please install ${need[*]} (Debian packages); the browser test and the SPIN cross-check need them" >&2
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# two workers: the suite is CPU-bound (z3, explorations, C builds) and CI has 2 cores;
# loadgroup keeps the tests of one xdist_group (the Ray cluster of test_distributed) on one worker
exec .venv/bin/python -m pytest -q -n 2 --dist loadgroup "$@"
