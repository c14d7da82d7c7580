#!/usr/bin/env bash
# Runs the side-by-side benchmarks: pyns against raw C, ctypes, pyroute2, util-linux, iproute2.
# Usage: bash benches/run.sh [--quick] [--only SUBSTR]     (as root; leaves nothing behind)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PYNS_VENV:-/opt/pyns-venv}
if ! "$VENV/bin/python" -c 'import pyns' 2>/dev/null; then
    bash tests/run.sh --co -q >/dev/null   # builds and installs pyns into the venv
fi
"$VENV/bin/python" -c 'import pyroute2, pyspaces' 2>/dev/null ||
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r benches/requirements.txt
exec "$VENV/bin/python" benches/bench.py "$@"
