"""Stress, bounded to a few seconds: threads mixing every entry point on shared objects, and
Ctrl-C (SIGINT) at random points of isolate, enter and a Topology's build and teardown.

Each thread checks after every call that it got the right answer and is back in its own
namespaces. A hang is a failure with every thread's traceback: faulthandler's watchdog dumps
them and ends the run (exit code 1). The random choices are seeded; the seed is in the failure
message.
"""

from __future__ import annotations

import gc
import os
import random
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Callable, Optional

import pytest
from leakguard import diff, snapshot

import pyns
from pyns import net
from pyns.testing import Topology

THREADS = 8
SECONDS = 2.0  # each stress test's threads run this long
WATCHDOG = 60.0  # a test still running this long after that is hung


def _my_namespaces() -> dict[str, str]:
    return {k: os.readlink(f"/proc/thread-self/ns/{k}") for k in os.listdir("/proc/thread-self/ns")}


@pytest.fixture
def sleeper(wait_for_comm: Callable[[int, str], None]) -> Iterator[subprocess.Popen[bytes]]:
    """A process in namespaces of its own (uts with hostname "inner", net)."""
    p = subprocess.Popen(
        ["unshare", "--net", "--uts", "sh", "-c", "hostname inner && exec sleep 600"]
    )
    try:
        wait_for_comm(p.pid, "sleep")
        yield p
    finally:
        p.kill()
        p.wait()


class _Shared:
    """The objects every thread may use, kill, wait for or close."""

    def __init__(self, sleeper_pid: int, share_process: bool, share_namespace: bool) -> None:
        self.sleeper_pid = sleeper_pid
        self.process = pyns.spawn(["sleep", "600"], uts=True) if share_process else None
        self.netns: Optional[pyns.Namespace] = None
        if share_namespace:
            with pyns.isolate(net=True) as iso:
                self.netns = iso.namespaces["net"]
            net.bridge("shared0", netns=self.netns)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        if self.netns is not None:
            self.netns.close()


def _op_isolate(i: int, rng: random.Random, shared: _Shared) -> None:
    name = f"iso{i}"
    with pyns.isolate(uts=True, net=True, hostname=name):
        assert socket.gethostname() == name
        assert [link.name for link in net.links()] == ["lo"]


def _op_enter(i: int, rng: random.Random, shared: _Shared) -> None:
    with pyns.enter(shared.sleeper_pid, uts=True, net=True):
        assert socket.gethostname() == "inner"
        assert [link.name for link in net.links()] == ["lo"]


def _op_spawn(i: int, rng: random.Random, shared: _Shared) -> None:
    name = f"sp{i}"
    p = pyns.spawn(["hostname"], uts=True, hostname=name, stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=30)
    assert (out, p.returncode) == (f"{name}\n".encode(), 0)


def _op_run(i: int, rng: random.Random, shared: _Shared) -> None:
    name = f"run{i}"
    assert pyns.run(socket.gethostname, uts=True, hostname=name) == name


def _op_net(i: int, rng: random.Random, shared: _Shared) -> None:
    with pyns.isolate(net=True) as iso:
        ns = iso.namespaces["net"]
    try:
        net.veth(f"a{i}", f"b{i}", netns=ns)
        net.set_link(f"a{i}", up=True, netns=ns)
        net.add_addr(f"a{i}", f"10.9.{i}.1/24", netns=ns)
        assert [a.address for a in net.addrs(f"a{i}", netns=ns) if a.family == "inet"] == [
            f"10.9.{i}.1"
        ]
        assert sorted(link.name for link in net.links(netns=ns)) == sorted(["lo", f"a{i}", f"b{i}"])
    finally:
        ns.close()


def _op_topology(i: int, rng: random.Random, shared: _Shared) -> None:
    with Topology(prefix=f"st{i}") as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        assert b.run(socket.gethostname) == b.name
        assert any(x.startswith(a.ip()) for x in b.run(_addresses_of_peer, a.ip()))


def _addresses_of_peer(ip: str) -> list[str]:
    # The peer's address is on the same /24 as ours: the link is wired.
    mine = [a.address for a in net.addrs() if a.family == "inet" and a.address != "127.0.0.1"]
    assert [m.rsplit(".", 1)[0] for m in mine] == [ip.rsplit(".", 1)[0]]
    return [ip]


def _op_shared_process(i: int, rng: random.Random, shared: _Shared) -> None:
    p = shared.process
    assert p is not None
    what = rng.choice(["poll", "wait", "kill", "signal"])
    if what == "poll":
        assert p.poll() in (None, -signal.SIGKILL)
    elif what == "wait":
        try:
            assert p.wait(timeout=rng.uniform(0, 0.01)) == -signal.SIGKILL
        except subprocess.TimeoutExpired:
            assert p.returncode is None
    elif what == "kill":
        if rng.random() < 0.1:  # now and then: all waits must then see -9
            p.kill()
    else:
        p.send_signal(0)  # no signal: checks that it is still the same process (or reaped)
    assert p.returncode in (None, -signal.SIGKILL)


def _op_shared_namespace(i: int, rng: random.Random, shared: _Shared) -> None:
    ns = shared.netns
    assert ns is not None
    if rng.random() < 0.02:
        ns.close()  # while the others use it: they get a ValueError (closed), never another
        return
    try:
        names = [link.name for link in net.links(netns=ns)]
    except ValueError:
        assert ns.closed
        return
    assert names == ["lo", "shared0"]


_OWN_OPS = [_op_isolate, _op_enter, _op_spawn, _op_run, _op_net, _op_topology]


Watchdog = Callable[[float], AbstractContextManager[None]]


def _stress(
    watchdog: Watchdog, sleeper_pid: int, share_process: bool = False, share_namespace: bool = False
) -> None:
    seed = random.randrange(2**32)
    shared = _Shared(sleeper_pid, share_process, share_namespace)
    ops = list(_OWN_OPS)
    if share_process:
        ops += [_op_shared_process] * 3
    if share_namespace:
        ops += [_op_shared_namespace] * 3
    host = socket.gethostname()
    errors: list[str] = []
    counts = [0] * THREADS
    stop = time.monotonic() + SECONDS

    def worker(i: int) -> None:
        rng = random.Random(seed + i)
        mine = _my_namespaces()
        while time.monotonic() < stop and not errors:
            op = rng.choice(ops)
            try:
                op(i, rng, shared)
                assert _my_namespaces() == mine, "not back in its own namespaces"
                assert socket.gethostname() == host
            except BaseException as e:
                errors.append(f"thread {i}, {op.__name__} (seed {seed}): {type(e).__name__}: {e}")
                return
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    with watchdog(SECONDS + WATCHDOG):
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            shared.close()
    assert not errors, "\n".join(errors)
    assert all(counts), f"a thread never finished a call: {counts}"


def test_threads_mixing_every_entry_point(
    sleeper: subprocess.Popen[bytes], watchdog: Watchdog
) -> None:
    _stress(watchdog, sleeper.pid)


def test_threads_killing_and_waiting_for_a_shared_process(
    sleeper: subprocess.Popen[bytes], watchdog: Watchdog
) -> None:
    _stress(watchdog, sleeper.pid, share_process=True)


def test_threads_closing_a_shared_namespace_while_others_use_it(
    sleeper: subprocess.Popen[bytes], watchdog: Watchdog
) -> None:
    _stress(watchdog, sleeper.pid, share_namespace=True)


# --- Ctrl-C at random points -------------------------------------------------------------


@contextmanager
def _sigint_after(seconds: float) -> Iterator[None]:
    """SIGINT to this (the main) thread after `seconds` (setitimer: precise to microseconds);
    Python's handler turns it into KeyboardInterrupt wherever the thread then is."""
    old = signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _interrupt_repeatedly(
    watchdog: Watchdog, op: Callable[[], None], rounds: int, budget: float
) -> tuple[int, int]:
    """Runs `op` up to `rounds` times (at most `budget` seconds), each with a SIGINT at a random
    point of it; after each, nothing may be left behind. Returns (runs, runs interrupted inside
    op rather than after it)."""
    assert threading.current_thread() is threading.main_thread()
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    durations = []
    for _ in range(7):  # how long op takes uninterrupted: where to aim
        t0 = time.perf_counter()
        op()
        durations.append(time.perf_counter() - t0)
    span = statistics.median(durations) * 1.2
    mine = _my_namespaces()
    cwd = os.getcwd()
    runs = interrupted = 0
    deadline = time.monotonic() + budget
    with watchdog(budget + WATCHDOG):
        before = snapshot()  # with the watchdog's thread
        while runs < rounds and time.monotonic() < deadline:
            interrupted += _interrupt_once(op, rng, span, seed, runs, before, mine, cwd)
            runs += 1
    return runs, interrupted


def _interrupt_once(
    op: Callable[[], None],
    rng: random.Random,
    span: float,
    seed: int,
    runs: int,
    before: dict[str, list[object]],
    mine: dict[str, str],
    cwd: str,
) -> bool:
    """One run of op with a SIGINT at a random point; True if it came before op returned."""
    at = rng.uniform(0, span)
    done = False
    try:
        with _sigint_after(at):
            op()
            done = True
            time.sleep(span)  # the SIGINT comes before the timer is stopped, here at latest
    except KeyboardInterrupt:
        pass
    where = f"after a SIGINT {at * 1e6:.0f} us into {op.__name__} (seed {seed}, run {runs})"
    assert _my_namespaces() == mine, f"not back in its namespaces {where}"
    assert os.getcwd() == cwd, where
    _wait_for_children_reaped(before["child processes"])
    leaked = diff(before, snapshot())
    if leaked:  # what only cycles hold is the collector's to free: not a leak
        gc.collect()
        leaked = diff(before, snapshot())
    assert not leaked, f"leaked {where}:\n{leaked}"
    return not done


def _wait_for_children_reaped(expected: list[object]) -> None:
    # A child being torn down is gone once its waiter reaps it; nothing else may remain.
    deadline = time.monotonic() + 10
    while snapshot()["child processes"] != expected and time.monotonic() < deadline:
        time.sleep(0.001)


def _isolate_op() -> None:
    with pyns.isolate(uts=True, net=True, mnt=True, ipc=True, hostname="sigint"):
        assert socket.gethostname() == "sigint"


# A SIGINT that lands in a callback CPython runs for itself (a gc callback, an at-fork hook)
# is reported as unraisable and dropped: that run then merely counts as not interrupted.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sigint_anywhere_in_isolate_leaves_nothing(watchdog: Watchdog) -> None:
    runs, interrupted = _interrupt_repeatedly(watchdog, _isolate_op, rounds=300, budget=3)
    print(f"{runs} runs, {interrupted} interrupted inside isolate")
    assert runs >= 20 and interrupted > runs // 3, (runs, interrupted)  # not vacuous


# A SIGINT that lands in a callback CPython runs for itself (a gc callback, an at-fork hook)
# is reported as unraisable and dropped: that run then merely counts as not interrupted.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sigint_anywhere_in_enter_leaves_nothing(
    sleeper: subprocess.Popen[bytes], watchdog: Watchdog
) -> None:
    def enter_op() -> None:
        with pyns.enter(sleeper.pid, uts=True, net=True):
            assert socket.gethostname() == "inner"

    runs, interrupted = _interrupt_repeatedly(watchdog, enter_op, rounds=300, budget=3)
    print(f"{runs} runs, {interrupted} interrupted inside enter")
    assert runs >= 20 and interrupted > runs // 3, (runs, interrupted)  # not vacuous


def _topology_op() -> None:
    with Topology(prefix="sigint") as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        s = t.switch("s")
        t.link(a, s)


# A SIGINT that lands in a callback CPython runs for itself (a gc callback, an at-fork hook)
# is reported as unraisable and dropped: that run then merely counts as not interrupted.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_sigint_anywhere_in_a_topology_build_or_teardown_leaves_nothing(
    watchdog: Watchdog,
) -> None:
    runs, interrupted = _interrupt_repeatedly(watchdog, _topology_op, rounds=100, budget=5)
    print(f"{runs} runs, {interrupted} interrupted inside the Topology")
    assert runs >= 20 and interrupted > runs // 3, (runs, interrupted)  # not vacuous
