#!/usr/bin/env bash
# Builds pyns and installs it into a venv of its own (Debian's python3 refuses `pip install`
# outside one: PEP 668, "externally-managed-environment"), then says how to run it.
# Usage: bash install.sh [VENV [pip install options...]]        VENV defaults to ~/.venv/pyns
# Needs python3 with its venv module, a C compiler and Rust's cargo (https://rustup.rs); as root
# it installs the Debian packages that are missing (python3-venv, gcc).
set -euo pipefail
cd "$(dirname "$0")"
VENV=${1:-$HOME/.venv/pyns}
shift || true
PYTHON=${PYTHON:-python3}
export PATH="$HOME/.cargo/bin:$PATH"

need_apt=()
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
command -v cc >/dev/null || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install.sh: missing Debian packages: ${need_apt[*]}; as root: apt-get install ${need_apt[*]}" >&2
        exit 1
    fi
    echo "install.sh: installing ${need_apt[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "install.sh: pyns has a Rust core and needs cargo, in your PATH or ~/.cargo/bin. Install" >&2
    echo "  it for your user with rustup: curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install.sh: making the venv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
log=$(mktemp /tmp/pyns-install.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "install.sh: building pyns: cargo compiles the Rust core in release mode, about 2 minutes"
echo "  on an idle machine (longer on a busy one);"
echo "  one line per crate below (the full log is shown if it fails)"
# pip -v streams maturin's and cargo's output; only cargo's progress lines are shown here.
if ! "$VENV/bin/python" -m pip install -v --disable-pip-version-check "$@" . 2>&1 |
    tee "$log" | { grep --line-buffered -E '^ +(Compiling|Finished) ' || true; } | sed -u 's/^ */  /'
then
    echo "install.sh: pip install failed; the end of its log:" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "install.sh: pyns installed in $VENV; run: $VENV/bin/pyns tour"
