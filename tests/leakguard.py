"""The leak guard: after every test (and every notebook), nothing it made may outlive it.

A pytest plugin (its hooks are re-exported by tests/conftest.py and notebooks/conftest.py). It
takes a cheap snapshot of this process before each item's set-up and after its teardown: open
fds, the mount table, named netns in /run/netns, links in the root netns, child processes,
threads and the main thread's namespaces. A difference is an error at the teardown of the item
that caused it, naming the item and what it left behind (or took away). Only plain files under
/proc and /sys are read: no program is run per test.

Fixtures wider than a function would be counted to the first test that uses them; this suite
has none (the session's own snapshot lives in `session_guard`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Generator

import pytest

blamed: list[str] = []  # items the guard failed, for the session check's message


def _children() -> list[int]:
    out = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                out += [int(pid) for pid in f.read().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return sorted(out)


def _fds() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(f"{fd}:{os.readlink(f'/proc/self/fd/{fd}')}")
        except FileNotFoundError:  # the directory fd of listdir itself
            pass
    return sorted(out)


def _links() -> list[str]:
    # This thread's netns (the root netns whenever the snapshot is taken, checked below).
    with open("/proc/thread-self/net/dev") as f:
        return sorted(line.split(":", 1)[0].strip() for line in f.readlines()[2:])


def snapshot() -> dict[str, list[object]]:
    """What a test may not leave behind, read from /proc and /run (about a millisecond)."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split(" ", 4)[4] for line in f)
    return {
        "fds": list(_fds()),
        "mounts": list(mounts),
        "named netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
        "links in the root netns": list(_links()),
        "child processes": list(_children()),
        "threads": sorted(int(tid) for tid in os.listdir("/proc/self/task")),
        "signals blocked, and SIGINT's handler": [
            *sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, ())),
            repr(signal.getsignal(signal.SIGINT)),
        ],
        "namespaces of this thread": sorted(
            f"{k}:{os.stat(f'/proc/thread-self/ns/{k}').st_ino}"
            for k in os.listdir("/proc/thread-self/ns")
        ),
    }


def diff(before: dict[str, list[object]], after: dict[str, list[object]]) -> str:
    """`kind: +new -gone` for each kind that changed, one per line; empty if none did."""
    lines = []
    for kind, was in before.items():
        now = after[kind]
        if was != now:
            new = [x for x in now if x not in was]
            gone = [x for x in was if x not in now]
            lines.append(f"  {kind}: +{new} -{gone}")
    return "\n".join(lines)


def settled_diff(before: dict[str, list[object]], settle: float = 2.0) -> str:
    """`diff(before, now)`, waiting up to `settle` seconds for it to become empty: a thread
    that was joined is still exiting for a moment (and closing what it kept per thread), a
    killed child is reaped by its waiter. Immediate when nothing differs."""
    deadline = time.monotonic() + settle
    while True:
        leaked = diff(before, snapshot())
        if not leaked or time.monotonic() > deadline:
            return leaked
        time.sleep(0.005)


_before: dict[str, dict[str, list[object]]] = {}


def warm_up() -> None:
    """Makes what pyns keeps for the life of a thread (a pidfd to read its namespaces)."""
    import pyns

    pyns.Namespace.current("uts").close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    warm_up()
    _before[item.nodeid] = snapshot()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    before = _before.pop(item.nodeid, None)
    if before is not None:
        leaked = settled_diff(before)
        if leaked:
            blamed.append(item.nodeid)
            pytest.fail(f"{item.nodeid} leaked (+ left behind, - taken away):\n{leaked}", False)
    return result
