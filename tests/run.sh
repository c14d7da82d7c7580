#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, builds pyns, and runs the test suite.
# Usage: bash tests/run.sh [pytest args...]
#
# The tests run in a venv made from Debian's /usr/bin/python3 in a world-readable place
# (PYNS_VENV, default /opt/pyns-venv), because some tests exec Python as uid 65534 and the
# default python3 of this machine lives under root's mode-700 home.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PYNS_VENV:-/opt/pyns-venv}
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"
need_apt=()
command -v newuidmap >/dev/null || need_apt+=(uidmap)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v cc >/dev/null || need_apt+=(gcc)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV"
fi
chmod -R a+rX "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
    --force-reinstall .
chmod -R a+rX "$VENV"

exec "$VENV/bin/python" -m pytest "$@"
