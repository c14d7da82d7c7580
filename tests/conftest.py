"""Shared fixtures: the leak guard (leakguard.py), private mounts, a watchdog for hangs, and
running code as an unprivileged user."""

from __future__ import annotations

import faulthandler
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Callable

import pytest
from leakguard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401 (hooks)

import leakguard
import pyns

# Ctrl-C must work as in a terminal: tests deliver SIGINT and expect KeyboardInterrupt in
# Python and death in the programs they start. A runner started in the background (`cmd &`,
# as some CI harnesses do) ignores SIGINT, and Python and every child would inherit that.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

NOBODY = 65534


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "private_mounts: the test (with its fixtures) runs in a private mount namespace of its "
        "own, so that what it mounts, e.g. /run/netns for named netns, cannot outlive it",
    )


@pytest.fixture(autouse=True)
def private_mounts(request: pytest.FixtureRequest) -> Iterator[None]:
    """For tests marked `private_mounts`: the test's thread moves into a new mount namespace
    (everything recursively private) for the test and its fixtures; programs the test starts
    (`ip netns`, `pyns netns`) inherit it, so they see the same mounts."""
    if request.node.get_closest_marker("private_mounts") is None:
        yield
        return
    with pyns.isolate(mnt=True):
        yield


@pytest.fixture(scope="session", autouse=True)
def no_leaks():
    """Fails the run if the session left fds, mounts, named netns, links or processes behind
    that no single test did (those are errors at that test's teardown, see leakguard.py)."""
    leakguard.warm_up()
    before = leakguard.snapshot()
    yield
    leaked = leakguard.settled_diff(before)
    blamed = f"; tests that leaked: {leakguard.blamed}" if leakguard.blamed else ""
    assert not leaked, f"the test session leaked{blamed}:\n{leaked}"


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


@pytest.fixture
def watchdog(request: pytest.FixtureRequest) -> Callable[[float], AbstractContextManager[None]]:
    """`with watchdog(seconds): ...`: if the block still runs after `seconds`, faulthandler
    prints every thread's traceback to the terminal's stderr and ends the run with exit code 1.
    A hang may hold the GIL (or wait for it), so neither pytest-timeout nor a join with a
    timeout could report it; this turns it into a failure with tracebacks."""
    from _pytest.faulthandler import fault_handler_stderr_fd_key  # pytest's dup of stderr

    fd = request.config.stash.get(fault_handler_stderr_fd_key, 2)

    @contextmanager
    def guard(seconds: float) -> Iterator[None]:
        faulthandler.dump_traceback_later(seconds, exit=True, file=fd)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()

    return guard


def _pyns_without_user_namespaces(*args: str) -> tuple[int, str]:
    """Runs `python -m pyns ARGS` as uid 65534 in a user namespace of its own where nested user
    namespaces are limited to 0 (as on a machine that disables them); (exit status, output)."""
    script = (
        "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --reuid=65534 "
        f"--regid=65534 --clear-groups {sys.executable} -m pyns {' '.join(args)}"
    )
    ids = "0 0 1\n65534 65534 1"
    with pyns.spawn(
        ["sh", "-c", script], user=True, uid_map=ids, gid_map=ids, setgroups="allow", cwd="/",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as p:  # fmt: skip
        out = p.communicate(timeout=60)[0].decode()
    return p.returncode, out


@pytest.fixture
def pyns_without_user_namespaces():
    """`pyns_without_user_namespaces("doctor")` -> (exit status, output) of `python -m pyns
    doctor` as uid 65534 where user namespaces are disabled."""
    return _pyns_without_user_namespaces


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
