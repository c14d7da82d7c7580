"""pyns.run: Python callables in new namespaces, results and exceptions, fork safety."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import pyns


def children() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_returns_the_value_and_passes_arguments():
    assert pyns.run(divmod, 7, 2) == (3, 1)
    assert pyns.run(dict, a=1, uts=True) == {"a": 1}
    assert pyns.run(socket.gethostname, hostname="fn") == "fn"
    assert socket.gethostname() != "fn"


def test_pid_namespace_with_and_without_init():
    assert pyns.run(os.getpid, pid=True) == 2
    assert pyns.run(os.getpid, pid=True, init=False) == 1
    assert pyns.run(os.getpid, uts=True, pid=True) == 2


def _proc_pids() -> list[int]:
    return sorted(int(e) for e in os.listdir("/proc") if e.isdigit())


def test_mount_proc():
    assert pyns.run(_proc_pids, pid=True, mount_proc=True) == [1, 2]


def test_user_namespace_root_and_full_capabilities():
    def inside():
        caps = pyns.capabilities()
        return os.getuid(), os.getgid(), len(caps.effective)

    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    assert pyns.run(inside, user=True, map_root=True) == (0, 0, last + 1)
    assert pyns.run(os.getuid, user=True) == 65534


@pytest.mark.kernel
def test_time_namespace_offsets():
    def clocks():
        return time.clock_gettime(time.CLOCK_BOOTTIME), time.monotonic()

    boot, mono = pyns.run(clocks, boottime=1000, monotonic=500)
    assert boot > time.clock_gettime(time.CLOCK_BOOTTIME) + 990
    assert mono > time.monotonic() + 490


class Custom(Exception):
    pass


def _raise_custom():
    raise Custom("boom")


def test_exception_comes_back_with_the_child_traceback():
    with pytest.raises(Custom, match="boom") as e:
        pyns.run(_raise_custom, pid=True)
    notes = "".join(getattr(e.value, "__notes__", []))
    assert "Traceback in the child" in notes and "_raise_custom" in notes


def test_unpicklable_exception_and_result():
    class Local(Exception):
        pass

    def raise_local():
        raise Local("x")

    with pytest.raises(pyns.ChildError, match="cannot be pickled"):
        pyns.run(raise_local)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pyns.run(lambda: (lambda: 1))


def test_child_death_without_result_is_a_child_error():
    with pytest.raises(pyns.ChildError, match="without a result"):
        pyns.run(os._exit, 3)
    with pytest.raises(pyns.ChildError, match="without a result"):
        pyns.run(lambda: os.kill(os.getpid(), signal.SIGKILL), pid=True)
    assert children() == []


def test_timeout_kills_and_reaps():
    with pytest.raises(TimeoutError):  # without the timeout: pytest-timeout's failure
        pyns.run(time.sleep, 3600, pid=True, timeout=0.3)
    assert children() == []


def test_ctrl_c_kills_and_reaps():
    main = threading.get_ident()
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pyns.run(time.sleep, 30, uts=True)
    finally:
        timer.join()
    assert children() == []


def test_set_up_failure_is_a_child_error():
    with pytest.raises(pyns.ChildError) as e:
        pyns.run(int, monotonic=-1e9)
    assert e.value.step == "write /proc/self/timens_offsets"


def test_enter_a_run_namespace_from_a_spawned_process():
    with pyns.spawn(["sleep", "30"], net=True) as p:
        inode = pyns.run(lambda: os.stat("/proc/self/ns/net").st_ino, join={"net": p})
        assert inode == os.stat(f"/proc/{p.pid}/ns/net").st_ino
        p.kill()


@pytest.mark.kernel
def test_rootless(nobody):
    r = nobody(
        """
        import os, pyns
        def inside():
            return (os.getuid(), os.getpid(), sorted(int(e) for e in os.listdir("/proc")
                    if e.isdigit()), len(pyns.capabilities().effective) > 30)
        print(pyns.run(inside, user=True, map_root=True, pid=True, mount_proc=True,
                       net=True, uts=True, ipc=True, cgroup=True, time=True))
        print(len(pyns.capabilities().effective))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["(0, 2, [1, 2], True)", "0"]


def _noop():
    return 1


def test_stress_with_busy_threads():
    """200 run() and 200 spawn() while 4 threads allocate and print: no hang, no leak."""
    stop = threading.Event()

    def busy():
        junk = []
        while not stop.is_set():
            junk.append(bytearray(4096))
            if len(junk) > 256:
                junk.clear()
            print("busy", len(junk), file=sys.stderr)

    pyns.run(_noop, pid=True)  # warm-up: this thread's cached pidfd stays (by design)
    fds = len(os.listdir("/proc/self/fd"))
    threads = [threading.Thread(target=busy) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(200):
            assert pyns.run(_noop, uts=True, pid=(i % 2 == 0)) == 1
            with pyns.spawn(["true"], uts=True, pid=(i % 2 == 1)) as p:
                pass
            assert p.returncode == 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(os.listdir("/proc/self/fd")) == fds
    assert children() == []


def test_many_runs_leak_nothing():
    pyns.run(_noop, pid=True)  # warm-up: this thread's cached pidfd stays (by design)
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(60):
        kw = [{"uts": True}, {"pid": True}, {"user": True, "map_root": True, "pid": True}][i % 3]
        assert pyns.run(_noop, **kw) == 1
    assert len(os.listdir("/proc/self/fd")) == fds
    assert children() == []
    assert subprocess.run(["true"]).returncode == 0


def _orphan() -> str:
    """Makes an orphan that exits at once; gives its state once that is final: "reaped", or "Z"
    if its new parent is this process, which never reaps. /proc may be the namespace's own
    (mount_proc) or the host's: pids are read from it, so they agree."""
    me = os.readlink("/proc/self")
    r, w = os.pipe()
    if os.fork() == 0:
        if os.fork() == 0:
            os.write(w, os.readlink("/proc/self").encode())
            os._exit(0)  # orphaned when its parent exits: PID 1 must reap it
        os._exit(0)
    os.wait()
    os.close(w)
    orphan = os.read(r, 32).decode()
    os.close(r)
    deadline = time.monotonic() + 10  # only reached if nobody reaps it
    while True:
        try:
            with open(f"/proc/{orphan}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except (FileNotFoundError, ProcessLookupError):  # reaped before or while reading
            return "reaped"
        if (state == "Z" and ppid == me) or time.monotonic() > deadline:
            return state
        time.sleep(0.002)


def test_pid_1_reaps_orphans_and_without_init_they_stay_zombies():
    assert pyns.run(_orphan, pid=True, mount_proc=True) == "reaped"
    assert pyns.run(_orphan, pid=True, mount_proc=True, init=False) == "Z"  # control


def _pid_ns_then_sleep(path: str) -> None:
    with open(path, "w") as f:
        f.write(os.readlink("/proc/self/ns/pid"))
    time.sleep(30)


def test_killing_the_child_ends_the_whole_pid_namespace(tmp_path):
    path = str(tmp_path / "ns")
    with pytest.raises(TimeoutError):
        pyns.run(_pid_ns_then_sleep, path, pid=True, timeout=1)
    with open(path) as f:
        ns = f.read()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        members = []
        for e in os.listdir("/proc"):
            try:
                if e.isdigit() and os.readlink(f"/proc/{e}/ns/pid") == ns:
                    members.append(e)
            except OSError:
                pass
        if not members:
            break
        time.sleep(0.05)
    assert members == []


def test_join_a_pid_namespace():
    with pyns.spawn(["sleep", "30"], pid=True, init=False) as target:
        assert pyns.run(os.getpid, join={"pid": target}) > 1
        target.kill()


def test_root_path_pid_1_reaps_orphans_and_the_thread_comes_back():
    ns_before = {k: os.readlink(f"/proc/thread-self/ns/{k}") for k in ("uts", "pid_for_children")}
    # Without a fresh /proc, _orphan finds its orphan by the host's pids.
    assert pyns.run(_orphan, pid=True, uts=True, hostname="inplace") == "reaped"
    assert pyns.run(_orphan, pid=True, init=False) == "Z"  # control
    assert pyns.run(socket.gethostname, pid=True, hostname="inplace") == "inplace"
    assert socket.gethostname() != "inplace"
    ns_after = {k: os.readlink(f"/proc/thread-self/ns/{k}") for k in ("uts", "pid_for_children")}
    assert ns_after == ns_before
    assert children() == []


def _until_exists(path: str) -> str:
    while not os.path.exists(path):
        time.sleep(0.005)
    return "released"


def test_concurrent_children_do_not_stall_each_other(tmp_path, watchdog):
    # A child forked by one thread must not hold the fds of another thread's child in
    # flight (its set-up channel, its result pipe): the other's run/spawn would wait for
    # the EOF until the first one exits. Here the first ones live until the end of the test
    # (they are started while the main thread's children are in flight), so a stall is a
    # hang, which the watchdog turns into a failure. How long each call takes is a bench row
    # (benches/rows_children.py, "under 4 threads of children").
    release = str(tmp_path / "release")
    started = [threading.Event() for _ in range(4)]
    results: list[object] = []
    errors: list[BaseException] = []

    def long_lived(i: int) -> None:
        try:
            started[i].wait()
            if i % 2:
                results.append(pyns.run(_until_exists, release, uts=True))
            else:
                script = f"while [ ! -e {release} ]; do sleep 0.005; done"
                results.append(pyns.spawn(["sh", "-c", script], uts=True).wait())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def churn() -> None:
        try:
            while not os.path.exists(release):
                assert pyns.run(str, "B", uts=True) == "B"
                assert pyns.spawn(["true"], uts=True).wait() == 0
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def fast() -> None:
        try:
            for n in range(100):
                if n % 20 == 5 and n // 20 < len(started):
                    started[n // 20].set()  # a long-lived child forks while ours are in flight
                assert pyns.run(str, "A", uts=True) == "A"
                assert pyns.spawn(["true"], uts=True).wait() == 0
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=long_lived, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=churn) for _ in range(2)]
    for t in threads:
        t.start()
    main = threading.Thread(target=fast)
    with watchdog(120):  # a stall is a wait for a child that never ends
        try:
            main.start()
            main.join()
            assert results == [] and not errors  # the long-lived children lived throughout
        finally:
            for e in started:
                e.set()
            open(release, "w").close()
            main.join()
            for t in threads:
                t.join()
    assert not errors
    assert sorted(map(str, results)) == ["0", "0", "released", "released"]


def _fork_a_child_that_outlives_me(release: str) -> int:
    child = os.fork()
    if child == 0:  # holds the result pipe's write end until the test releases it
        _until_exists(release)
        os._exit(0)
    return child


def test_result_does_not_wait_for_the_functions_children(tmp_path):
    release = str(tmp_path / "release")
    try:  # if run waited for the child it would hang: pytest-timeout's failure
        orphan = pyns.run(_fork_a_child_that_outlives_me, release, uts=True)
        with open(f"/proc/{orphan}/stat") as f:  # the child's pid is the host's: no pid=True
            assert f.read().rsplit(")", 1)[1].split()[0] != "Z"
    finally:
        open(release, "w").close()


def _ns_inodes() -> tuple[int, int]:
    return os.stat("/proc/self/ns/net").st_ino, os.stat("/proc/self/ns/uts").st_ino


def _nested() -> tuple[tuple[int, int], tuple[int, int]]:
    return _ns_inodes(), pyns.run(_ns_inodes, pid=True, net=True, uts=True)


def test_nested_run_with_a_new_pid_namespace_gets_its_own_namespaces():
    # The inner worker is PID 2 like the outer one (same tid): it must not take the outer
    # thread's restore for its own and go back to the outer namespaces.
    outer, inner = pyns.run(_nested, pid=True, net=True, uts=True)
    assert outer != _ns_inodes()
    assert inner[0] != outer[0] and inner[1] != outer[1]


_AFTER_FORK_SEEN: list[int] = []
_WATCH_AFTER_FORK = threading.Event()


def _after_fork_in_parent() -> None:
    if _WATCH_AFTER_FORK.is_set():
        _AFTER_FORK_SEEN.append(os.stat("/proc/thread-self/ns/uts").st_ino)


os.register_at_fork(after_in_parent=_after_fork_in_parent)


def test_after_fork_callbacks_run_back_in_the_callers_namespaces():
    # As root, run(pid=True) makes the namespaces on the calling thread and forks there.
    mine = os.stat("/proc/thread-self/ns/uts").st_ino
    _WATCH_AFTER_FORK.set()
    try:
        assert pyns.run(os.getpid, pid=True, uts=True) == 2
    finally:
        _WATCH_AFTER_FORK.clear()
    assert _AFTER_FORK_SEEN == [mine]


def test_a_program_given_to_run_points_to_spawn():
    with pytest.raises(TypeError, match=r"callable, not list: to start a program, use pyns\.spawn"):
        pyns.run(["true"])
    with pytest.raises(TypeError, match=r"callable, not int$"):
        pyns.run(3)
