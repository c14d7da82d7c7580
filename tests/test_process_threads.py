"""Processes shared by threads, Ctrl-C at any moment in spawn and run, and run and spawn that
agree (pid 2 under pyns-init, lo up, errors), from the hardening issue's reproducers."""

import collections
import errno
import faulthandler
import gc
import inspect
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

import pyns
from pyns import call as call_module
from pyns import process as process_module


def children():
    """This process's children (zombies included), as {pid: state}."""
    me = str(os.getpid())
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            out[int(d)] = fields[0]
    return out


def open_fds():
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


# -- threads sharing one Process ----------------------------------------------------------


def test_two_threads_waiting_get_the_same_returncode():
    errors = collections.Counter()
    for _ in range(40):
        p = pyns.spawn(["sh", "-c", "exit 7"])
        got = []

        def waiter():
            try:
                got.append(p.wait())
            except Exception as e:  # noqa: BLE001 - counted and asserted below
                errors[f"{type(e).__name__}: {e}"] += 1

        ts = [threading.Thread(target=waiter) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert p.returncode == 7 and got == [7, 7, 7]
        assert p.pidfd is None
    assert not errors


def test_kill_racing_wait_never_signals_another_process():
    victim = subprocess.Popen(["sleep", "1000"])
    try:
        for _ in range(60):
            p = pyns.spawn(["true"])
            stop = threading.Event()
            errs = []

            def killer():
                while not stop.is_set():
                    try:
                        p.kill()
                    except Exception as e:  # noqa: BLE001
                        errs.append(e)

            def opener():  # unrelated code that reuses fd numbers at once
                while not stop.is_set():
                    os.close(os.pidfd_open(victim.pid))

            ts = [threading.Thread(target=killer), threading.Thread(target=opener)]
            for t in ts:
                t.start()
            p.wait()
            for _ in range(200):
                p.kill()  # after the reap: a no-op, never a signal through a reused number
            stop.set()
            for t in ts:
                t.join()
            assert errs == []
            assert victim.poll() is None, "an unrelated process was killed"
    finally:
        victim.kill()
        victim.wait()


def test_threads_dropping_processes_do_not_poison_the_reaper():
    errors = collections.Counter()

    def spawner():
        for _ in range(150):
            try:
                pyns.spawn(["true"])  # dropped unreaped: the reaper list takes it
            except BaseException as e:  # noqa: BLE001
                errors[f"{type(e).__name__}: {e}"] += 1

    ts = [threading.Thread(target=spawner) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    gc.collect()
    for p in list(process_module._unreaped):
        p.wait()
    process_module.reap_dropped()
    assert process_module._unreaped == []
    assert pyns.spawn(["true"]).wait() == 0


def test_wait_with_nan_or_inf_timeout_is_a_value_error():
    with pyns.spawn(["true"]) as p:
        for bad in (float("nan"), float("inf")):
            with pytest.raises(ValueError, match="timeout"):
                p.wait(bad)
        with pytest.raises(TypeError, match="timeout"):
            p.wait("1")  # type: ignore[arg-type]


# -- Ctrl-C at any moment -----------------------------------------------------------------


def interrupt_at_random(call, cleanup, rounds, max_delay):
    """Calls `call()` `rounds` times with one SIGINT to this process at a random moment of
    each, then `cleanup(result)` (result None if interrupted)."""
    fired = threading.Event()

    def on_sigint(_sig, _frame):
        fired.set()
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        for _ in range(rounds):
            fired.clear()
            # To the main thread: a process-directed signal may go to another thread, which
            # would not wake the main thread from a blocking wait.
            main = threading.main_thread().ident
            timer = threading.Timer(random.uniform(0, max_delay), signal.pthread_kill, (main, signal.SIGINT))
            result, started, called = None, False, False
            while True:
                try:
                    if not started:
                        started = True
                        timer.start()  # it may fire before start() returns
                    if not called:
                        called = True
                        result = call()
                    # The signal may come after the call returned. Python drops a Ctrl-C that
                    # lands in its own after-fork callbacks (and its handler may then not run
                    # at all): once the timer has fired, a few more chances, then go on.
                    timer.join()
                    for _ in range(20):
                        if fired.wait(0.005):
                            break
                    break
                except KeyboardInterrupt:
                    continue
            cleanup(result)
    finally:
        signal.signal(signal.SIGINT, old)


def _kill_wait(p):
    if p is not None:
        p.kill()
        p.wait()


def _end_started(started):
    if started is not None:
        proc, _pidfd, fd = started
        _kill_wait(proc)
        os.close(fd)


ROUTES = {
    "spawn": (lambda: pyns.spawn(["sleep", "100"]), _kill_wait, 0.004),
    "spawn pid net": (lambda: pyns.spawn(["sleep", "100"], pid=True, net=True), _kill_wait, 0.006),
    "spawn user pid": (
        lambda: pyns.spawn(["sleep", "100"], user=True, map_root=True, pid=True, mount_proc=True),
        _kill_wait,
        0.008,
    ),
    "run": (lambda: pyns.run(time.sleep, 0.001), lambda _: None, 0.006),
    "run pid net": (lambda: pyns.run(time.sleep, 0.001, pid=True, net=True), lambda _: None, 0.008),
    "run user pid mnt": (
        lambda: pyns.run(time.sleep, 0.001, user=True, map_root=True, pid=True, mnt=True),
        lambda _: None,
        0.010,
    ),
    "run time": (lambda: pyns.run(time.sleep, 0.001, time=True), lambda _: None, 0.008),
    # pyns.aio.run's start: the child forked, its Process made
    "aio start": (lambda: call_module._start(time.sleep, (0.001,), {}), _end_started, 0.004),
}


# A Ctrl-C that lands in Python's own after-fork callbacks (os.register_at_fork: logging's) is
# reported as unraisable and dropped, by os.fork as by run: no leak, so not counted here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_ctrl_c_at_any_moment_leaves_nothing_behind(route):
    call, cleanup, max_delay = ROUTES[route]
    cleanup(call())  # warm up: per-thread caches (a pidfd of the thread) are kept by design
    fds = open_fds()
    assert children() == {}
    interrupt_at_random(call, cleanup, 60, max_delay)
    gc.collect()
    process_module.reap_dropped()
    assert children() == {}, "children or zombies left behind"
    assert open_fds() == fds, "fds left behind"
    assert process_module._unreaped == []


def test_a_signal_handler_may_signal_the_process_while_this_thread_reaps_it(monkeypatch):
    # A handler that forwards a signal to the child (as pyns run does for SIGTERM) runs
    # between two bytecodes, also while this very thread holds the Process's lock to reap it:
    # it must not deadlock (a Lock did, in the handler's send_signal).
    real_waitid = os.waitid

    def waitid_after_a_signal(*args):
        signal.raise_signal(signal.SIGUSR1)  # its handler runs at the next bytecode
        return real_waitid(*args)

    with pyns.spawn(["sleep", "30"]) as p:
        forwarded = []

        def forward(sig, _frame):
            p.terminate()
            forwarded.append(sig)

        old = signal.signal(signal.SIGUSR1, forward)
        try:
            monkeypatch.setattr(os, "waitid", waitid_after_a_signal)
            assert p.wait(timeout=10) == -signal.SIGTERM
        finally:
            monkeypatch.undo()
            signal.signal(signal.SIGUSR1, old)
    assert forwarded


def test_second_ctrl_c_while_a_failed_start_reaps_leaves_nothing_behind(monkeypatch):
    # pyns.aio.run's start fails after the fork (here: while its Process is made); a second
    # Ctrl-C comes while the child is killed and reaped: the pidfd and the result pipe are
    # closed all the same.
    real = process_module.kill_and_reap

    def kill_and_reap_then_ctrl_c(started):
        real(started)
        raise KeyboardInterrupt

    def process_then_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(process_module, "kill_and_reap", kill_and_reap_then_ctrl_c)
    monkeypatch.setattr(call_module, "Process", process_then_ctrl_c)
    fds = open_fds()
    with pytest.raises(KeyboardInterrupt):
        call_module._start(time.sleep, (10,), {})
    assert children() == {}
    assert open_fds() == fds


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_while_run_with_pid_and_net_never_freezes():
    # d1: PID 1 was killed and waited for while the worker it waits on was unreaped. A hang
    # ends the session with every thread's traceback.
    faulthandler.dump_traceback_later(110, exit=True)
    try:
        interrupt_at_random(lambda: pyns.run(time.sleep, 0.01, pid=True, net=True), lambda _: None, 100, 0.006)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert children() == {}


# -- run and spawn agree --------------------------------------------------------------------


def _ids():
    with open("/proc/1/comm") as f:
        return os.getpid(), os.getppid(), f.read().strip()


RUN_ROUTES = {
    "root": dict(pid=True, mount_proc=True),
    "user": dict(pid=True, user=True, map_root=True, mount_proc=True),
    "mnt": dict(pid=True, mnt=True, mount_proc=True),
    "time": dict(pid=True, time=True, mnt=True, mount_proc=True),
}


@pytest.mark.parametrize("route", sorted(RUN_ROUTES))
def test_run_function_is_pid_2_under_pyns_init(route):
    assert pyns.run(_ids, **RUN_ROUTES[route]) == (2, 1, "pyns-init")
    assert pyns.run(_ids, init=False, **RUN_ROUTES[route])[:2] == (1, 0)


@pytest.mark.parametrize("route", sorted(RUN_ROUTES))
def test_spawned_program_is_pid_2_under_pyns_init(route):
    code = "echo $$ $PPID $(cat /proc/1/comm)"
    out = pyns.spawn(["sh", "-c", code], stdout=subprocess.PIPE, **RUN_ROUTES[route]).communicate()[0]
    assert out.split() == [b"2", b"1", b"pyns-init"]


def test_run_with_a_joined_pid_namespace_is_under_its_init():
    with pyns.spawn(["sleep", "100"], pid=True, mnt=True, mount_proc=True) as p:
        pid, ppid, comm = pyns.run(_ids, join={"pid": p, "mnt": p})
        assert ppid == 0 and comm == "pyns-init" and pid > 2
        p.kill()


def test_cli_init_is_named_pyns_init():
    code = "echo $$ $PPID $(cat /proc/1/comm)"
    r = subprocess.run(
        [sys.executable, "-m", "pyns", "run", "-p", "--mount-proc", "--init", "--", "sh", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "1", "pyns-init"]


def _lo_up():
    """Whether lo of the calling process's network namespace is up (SIOCGIFFLAGS; /sys shows
    the namespace it was mounted in)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, 0x8913, struct.pack("16sH14x", b"lo", 0))
    return bool(struct.unpack("16sH14x", ifr)[1] & 1)


def test_loopback_is_up_in_new_network_namespaces_unless_asked_not_to():
    assert pyns.run(_lo_up, net=True)
    assert pyns.run(_lo_up, net=True, pid=True)
    assert pyns.run(_lo_up, net=True, user=True, map_root=True)
    assert not pyns.run(_lo_up, net=True, loopback=False)
    up = [sys.executable, "-c", "import test_process_threads as t; print(t._lo_up())"]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))
    for kw in (dict(net=True), dict(net=True, user=True), dict(net=True, pid=True)):
        out = pyns.spawn(up, stdout=subprocess.PIPE, env=env, **kw).communicate()[0]
        assert out == b"True\n", kw
    out = pyns.spawn(up, stdout=subprocess.PIPE, env=env, net=True, loopback=False).communicate()[0]
    assert out == b"False\n"


def test_loopback_is_not_passed_on_to_the_function():
    def f(**kw):
        return kw

    assert pyns.run(f, net=True, loopback=False, other=1) == {"other": 1}


def test_run_checks_the_function_arguments_before_forking():
    before = children()

    def f(a, *, b=0):
        return a + b

    with pytest.raises(TypeError, match="timeout") as e:
        pyns.run(f, 1, c=2, net=True)
    assert "loopback" in str(e.value) and "'c'" in str(e.value)
    with pytest.raises(TypeError):
        pyns.run(f)
    assert pyns.run(f, 1, b=2) == 3
    assert pyns.run(len, "abc") == 3  # builtins too
    assert children() == before


def test_signatures_list_the_child_options():
    for fn in (pyns.spawn, pyns.run):
        params = inspect.signature(fn).parameters
        for name in ("net", "pid", "join", "pdeathsig", "loopback", "init", "monotonic"):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert "timeout" in inspect.signature(pyns.run).parameters
    assert "stdout" in inspect.signature(pyns.spawn).parameters
    with pytest.raises(TypeError, match="unexpected keyword argument 'nett'"):
        pyns.spawn(["true"], nett=True)


def test_joining_ones_own_user_namespace_is_skipped():
    with pyns.spawn(["sleep", "100"], net=True) as p:
        q = pyns.spawn(["true"], join={"user": p, "net": p})
        assert q.wait() == 0
        net = os.stat(f"/proc/{p.pid}/ns/net").st_ino
        got = pyns.run(lambda: os.stat("/proc/self/ns/net").st_ino, join={"user": p, "net": p})
        assert got == net
        p.kill()


def test_same_missing_privilege_same_exception_from_spawn_and_run(nobody):
    r = nobody(
        """
        import pyns
        for call in (lambda: pyns.spawn(["true"], uts=True).wait(),
                     lambda: pyns.run(len, "", uts=True)):
            try:
                call()
            except Exception as e:
                print(type(e).__name__, e.errno, "user=True" in "".join(e.__notes__))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["PermissionError 1 True"] * 2


def test_refused_id_map_is_a_permission_error_with_the_fix(nobody):
    r = nobody(
        """
        import pyns
        for call in (lambda: pyns.spawn(["true"], uid_map=[(0, 0, 1)]).wait(),
                     lambda: pyns.run(len, "", uid_map=[(0, 0, 1)])):
            try:
                call()
            except PermissionError as e:
                print(e.errno, "newuidmap" in e.__notes__[0])
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [f"{errno.EPERM} True"] * 2


# -- bad input off the contract -------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, exc, name",
    [
        (dict(pdeathsig=2**70), ValueError, "pdeathsig"),
        (dict(pdeathsig=-1), ValueError, "pdeathsig"),
        (dict(monotonic=1e300), ValueError, "monotonic"),
        (dict(boottime=2**80), ValueError, "boottime"),
        (dict(monotonic=float("nan")), ValueError, "monotonic"),
        (dict(boottime=float("inf")), ValueError, "boottime"),
        (dict(pass_fds=[2**40]), ValueError, "pass_fds"),
        (dict(pass_fds=[-1]), ValueError, "pass_fds"),
        (dict(stdout=2**40), ValueError, "stdout"),
        (dict(env=[]), TypeError, "env"),
        (dict(loopback=1), TypeError, "loopback"),
    ],
)
def test_spawn_bad_input_names_the_argument(kw, exc, name):
    before = children()
    with pytest.raises(exc, match=name):
        pyns.spawn(["true"], **kw)
    assert children() == before


@pytest.mark.parametrize(
    "kw, exc",
    [
        (dict(timeout=float("nan")), ValueError),
        (dict(timeout=float("inf")), ValueError),
        (dict(timeout="1"), TypeError),
        (dict(pdeathsig=2**70), ValueError),
        (dict(monotonic=2**80), ValueError),
    ],
)
def test_run_bad_input_names_the_argument(kw, exc):
    name = next(iter(kw))
    with pytest.raises(exc, match=name):
        pyns.run(len, "", **kw)
