#!/usr/bin/env bash
# The kernel lane: runs the tests whose result depends on the kernel (pytest marker `kernel`)
# on Debian's stock kernels booted under QEMU, and prints a table: kernel, passed, failed,
# skipped, seconds.
#
# Usage: bash tests/kernels/run.sh [pytest args]     (default: tests -m kernel)
#
#   PYNS_KERNELS        what to run on, space-separated (default "6.1"): a series ("6.1": the
#                       newest linux-image-6.1.0-N-amd64 apt knows, pinned in the cache), a
#                       package name, or "host" (this machine's kernel, no VM)
#   PYNS_VENV           the test venv (default /opt/pyns-venv); built by tests/run.sh if pyns
#                       is not in it
#   PYNS_KERNEL_CACHE   kernels, tools, results (default /var/cache/pyns-kernels)
#   PYNS_KERNEL_ACCEL   auto|kvm|tcg; PYNS_KERNEL_TIMEOUT (s, per kernel), PYNS_KERNEL_MEM,
#   PYNS_KERNEL_CPUS    see tests/kernels/vm.sh; PYNS_KERNEL_VERBOSE=1 streams the guest's output
#
# Everything it needs is installed on first use (qemu-system-x86; the kernel, busybox-static
# and kmod are downloaded with apt-get download and unpacked into the cache, never installed).
# Exits non-zero when a test fails or a VM does not finish.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
[ "$(id -u)" = 0 ] || { echo "kernels: run as root (9p passthrough, namespaces)" >&2; exit 2; }
VENV=${PYNS_VENV:-/opt/pyns-venv}
CACHE=${PYNS_KERNEL_CACHE:-/var/cache/pyns-kernels}
export PYNS_KERNEL_CACHE=$CACHE
KERNELS=${PYNS_KERNELS:-6.1}
[ $# -gt 0 ] || set -- tests -m kernel
mkdir -p "$CACHE/results"

if ! "$VENV/bin/python" -c 'import pyns' 2>/dev/null; then
    echo "kernels: building pyns into $VENV (tests/run.sh)" >&2
    bash tests/run.sh --version >/dev/null
fi

# The pytest command, as run in the guest or here; $1: the junit file.
pytest_cmd() {
    local xml=$1
    shift
    printf 'cd %q\n' "$REPO"
    printf 'export PYNS_VENV=%q PYTHONDONTWRITEBYTECODE=1\n' "$VENV"
    printf 'exec %q -m pytest -p no:cacheprovider -o timeout=600 -rs --junitxml=%q' \
        "$VENV/bin/python" "$xml"
    printf ' %q' "$@"
    echo
}

status=0
xmls=()
for k in $KERNELS; do
    t0=$(date +%s)
    if [ "$k" = host ]; then
        name="$(uname -r) (host)"
        xml=$CACHE/results/host.xml
        rm -f "$xml"
        echo "== kernel lane: $name" >&2
        rc=0
        bash -c "$(pytest_cmd "$xml" "$@" | sed 's/^exec /exec unshare -m --propagation private /')" \
            > "$CACHE/results/host.log" 2>&1 || rc=$?
        log=$CACHE/results/host.log
    else
        kdir=$(bash tests/kernels/fetch.sh "$k")
        name=$(cat "$kdir/.kver")
        echo "== kernel lane: $name" >&2
        run=$(mktemp -d "$CACHE/run.XXXXXX")
        pytest_cmd /run/lane/junit.xml "$@" > "$run/cmd.sh"
        rc=0
        bash tests/kernels/vm.sh "$kdir" "$run" || rc=$?
        xml=$CACHE/results/$name.xml
        log=$CACHE/results/$name.log
        rm -f "$xml"
        [ ! -e "$run/junit.xml" ] || mv "$run/junit.xml" "$xml"
        [ ! -e "$run/log" ] || mv "$run/log" "$log"
        [ ! -e "$run/console" ] || mv "$run/console" "$CACHE/results/$name.console"
        rm -rf "$run"
    fi
    secs=$(( $(date +%s) - t0 ))
    if [ $rc != 0 ]; then
        status=1
        echo "kernels: $name: exit status $rc; the last lines of $log:" >&2
        tail -n 40 "$log" >&2 || :
    fi
    xmls+=("$name=$secs=$rc=$xml")
done
/usr/bin/python3 tests/kernels/table.py "${xmls[@]}" || status=1
exit $status
