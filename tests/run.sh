#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, builds pyns, and runs the test suite.
# Usage (as root): bash tests/run.sh [pytest args...]; exits with pytest's exit code.
#
# The tests run in a venv made from Debian's /usr/bin/python3 in a world-readable place
# (PYNS_VENV, default /opt/pyns-venv), because some tests exec Python as uid 65534 and the
# default python3 of a machine may live under root's mode-700 home.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "tests/run.sh: the tests need root: they make namespaces, links and mounts of every" >&2
    echo "  kind and run code as uid 65534. Run: sudo bash tests/run.sh" >&2
    exit 1
fi
VENV=${PYNS_VENV:-/opt/pyns-venv}
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"
need_apt=()
command -v newuidmap >/dev/null || need_apt+=(uidmap)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v ping >/dev/null || need_apt+=(iputils-ping)
# Packet capture files are checked with the real readers (tests/test_capture.py).
command -v tcpdump >/dev/null || need_apt+=(tcpdump)
command -v tshark >/dev/null || need_apt+=(tshark)
# A switch's nf_tables table is checked with nft (tests/test_topology_scale.py).
command -v nft >/dev/null || need_apt+=(nftables)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${need_apt[*]} (apt-get)"
    # tshark's wireshark-common asks whether non-root users may capture: no (pyns captures).
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    # For tests/test_etcd_partition.py (it skips, naming the packages, only if this fails).
    echo "tests/run.sh: installing etcd-server etcd-client (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends etcd-server etcd-client >/dev/null) \
        || echo "tests/run.sh: could not install etcd-server etcd-client" >&2
fi

PYTHON=/usr/bin/python3 bash install.sh "$VENV" --force-reinstall --no-deps
echo "tests/run.sh: installing the test requirements (tests/requirements.txt)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
chmod -R a+rX "$VENV"

exec "$VENV/bin/python" -m pytest "$@"
