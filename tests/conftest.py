"""Shared fixtures: the leak check, and running code as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import pyns

NOBODY = 65534


def _children() -> set[int]:
    me = str(os.getpid())
    out = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                out.add(int(entry.name))
    return out


def _links() -> str:
    return subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout


def _fd_targets() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(f"{fd}:{os.readlink(f'/proc/self/fd/{fd}')}")
        except FileNotFoundError:  # the directory fd of listdir itself
            pass
    return out


def _snapshot() -> dict[str, object]:
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split(" ", 4)[4] for line in f)
    netns = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    links = sorted(line.split(":", 2)[1].split("@")[0].strip() for line in _links().splitlines())
    return {
        "fds": sorted(_fd_targets()),
        "mounts": mounts,
        "named netns": netns,
        "links in the root netns": links,
        "child processes": sorted(_children()),
        "namespaces of this thread": sorted(
            (k, os.stat(f"/proc/thread-self/ns/{k}").st_ino)
            for k in os.listdir("/proc/thread-self/ns")
        ),
    }


@pytest.fixture(scope="session", autouse=True)
def no_leaks():
    """Fails the run if the tests left fds, mounts, named netns, links or processes behind."""
    # pyns keeps one pidfd per thread that uses it (to read the thread's namespaces cheaply).
    pyns.Namespace.current("uts").close()
    before = _snapshot()
    yield
    after = _snapshot()
    leaked = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not leaked, f"the test session leaked: {leaked}"


def wait_for_comm(pid: int, comm: str, timeout: float = 10) -> None:
    """Waits until process `pid` runs the program named `comm` (i.e. has exec'd it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == comm:
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    raise AssertionError(f"process {pid} never ran {comm}")


@pytest.fixture(name="wait_for_comm")
def wait_for_comm_fixture():
    """`wait_for_comm(pid, comm)` waits until the process has exec'd `comm`."""
    return wait_for_comm


def run_as_nobody(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs Python `code` as uid/gid 65534 with no groups (setpriv), from `/`."""
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            sys.executable,
            "-c",
            textwrap.dedent(code),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )


@pytest.fixture
def make_netns():
    """`make_netns()` returns a handle on a new, anonymous network namespace (lo up); all are
    closed at the end of the test, which drops the namespaces and every link in them."""
    import pyns

    made = []

    def make():
        with pyns.isolate(net=True) as iso:
            ns = iso.namespaces["net"]
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.close()


@pytest.fixture
def nobody():
    """`nobody(code)` runs Python code as uid 65534 and returns the CompletedProcess."""
    return run_as_nobody
