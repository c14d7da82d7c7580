"""pyns.spawn: programs in new or joined namespaces, PID 1 init, stdio, fds, errors, pdeathsig."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Callable

import pytest

import pyns

PIPE = subprocess.PIPE


def out(args, **kw) -> bytes:
    with pyns.spawn(args, stdout=PIPE, **kw) as p:
        data, _ = p.communicate(timeout=30)
    assert p.returncode == 0, (args, kw, p.returncode)
    return data


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of the processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append((int(entry), fields[0]))
    return found


@pytest.mark.kernel
def test_pid1_and_hostname_like_the_api_example():
    assert out(["sh", "-c", "echo $$; hostname"], pid=True, init=False, hostname="box") == (
        b"1\nbox\n"
    )
    assert socket.gethostname() != "box"


@pytest.mark.kernel
def test_with_init_the_program_is_pid_2():
    assert out(["sh", "-c", "echo $$"], pid=True) == b"2\n"


@pytest.mark.kernel
def test_namespaces_of_the_child_and_enter():
    with pyns.spawn(["sleep", "30"], uts=True, net=True, hostname="inner") as p:
        ns = p.namespaces
        assert set(ns) == set(pyns.KINDS)
        mine = pyns.namespaces()
        for kind in pyns.KINDS:
            assert (ns[kind] == mine[kind]) == (kind not in ("uts", "net")), kind
        assert ns["uts"].inode == os.stat(f"/proc/{p.pid}/ns/uts").st_ino
        with pyns.enter(p, uts=True):
            assert socket.gethostname() == "inner"
        assert socket.gethostname() != "inner"
        p.kill()
    assert p.returncode == -signal.SIGKILL
    assert p.namespaces is ns  # kept from while it ran
    for n in list(ns.values()) + list(mine.values()):
        n.close()
    with pyns.spawn(["true"]) as q:
        pass
    with pytest.raises(ProcessLookupError):
        q.namespaces  # noqa: B018


def test_missing_program_is_file_not_found():
    with pytest.raises(FileNotFoundError) as e:
        pyns.spawn(["pyns-no-such-program"], uts=True)
    assert e.value.errno == errno.ENOENT
    assert e.value.filename == "pyns-no-such-program"
    with pytest.raises(FileNotFoundError):
        pyns.spawn(["/nonexistent/prog"], pid=True)


def test_not_executable_is_permission_error(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o644)
    with pytest.raises(PermissionError) as e:
        pyns.spawn([str(script)])
    assert e.value.filename == str(script)


def test_bad_cwd_is_file_not_found():
    with pytest.raises(FileNotFoundError) as e:
        pyns.spawn(["true"], cwd="/nonexistent-dir")
    assert e.value.filename == "/nonexistent-dir"


def test_cwd_and_env():
    assert out(["pwd"], cwd="/usr") == b"/usr\n"
    assert out(["sh", "-c", "echo $FOO"], env={"FOO": "bar", "PATH": "/usr/bin:/bin"}) == b"bar\n"


def test_bad_arguments_before_any_syscall():
    with pytest.raises(TypeError, match="sequence"):
        pyns.spawn("ls -l")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        pyns.spawn([])
    with pytest.raises(ValueError, match="64"):
        pyns.spawn(["true"], hostname="x" * 65)
    with pytest.raises(ValueError, match="both new and joined"):
        pyns.spawn(["true"], net=True, join={"net": os.getpid()})
    with pytest.raises(TypeError):
        pyns.spawn(["true"], uts=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="setgroups"):
        pyns.spawn(["true"], user=True, setgroups="maybe")
    with pytest.raises(ValueError, match="map_root"):
        pyns.spawn(["true"], map_root=True, uid_map="0 0 1")
    with pytest.raises(ValueError, match="unknown namespace kind"):
        pyns.spawn(["true"], join={"network": 1})


def test_stdio_pipes_devnull_and_stdout_merge(tmp_path):
    with pyns.spawn(["cat"], stdin=PIPE, stdout=PIPE) as p:
        assert p.communicate(b"hello" * 20000) == (b"hello" * 20000, None)
    with pyns.spawn(["sh", "-c", "echo out; echo err >&2"], stdout=PIPE, stderr=PIPE) as p:
        assert p.communicate() == (b"out\n", b"err\n")
    with pyns.spawn(
        ["sh", "-c", "echo out; echo err >&2"], stdout=PIPE, stderr=subprocess.STDOUT
    ) as p:
        assert p.communicate()[0] == b"out\nerr\n"
    assert out(["cat"], stdin=subprocess.DEVNULL) == b""
    with open(tmp_path / "f", "wb") as f:
        pyns.spawn(["echo", "file"], stdout=f).wait()
    assert (tmp_path / "f").read_bytes() == b"file\n"


def test_wait_timeout_and_communicate_timeout():
    with pyns.spawn(["sleep", "5"], stdout=PIPE) as p:
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.05)
        with pytest.raises(subprocess.TimeoutExpired):
            p.communicate(timeout=0.05)
        assert p.poll() is None
        p.terminate()
        assert p.wait(timeout=10) == -signal.SIGTERM


def _settled_fds(pid: int, expected: list[str]) -> list[str]:
    """The program's fds once the ones its start-up opens for a moment (the dynamic loader's
    libraries) are closed: an inherited fd stays, so waiting for `expected` hides no leak."""
    deadline = time.monotonic() + 10
    while True:
        fds = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
        if fds == expected or time.monotonic() > deadline:
            return fds
        time.sleep(0.01)


def test_only_stdio_and_pass_fds_are_inherited():
    r, w = os.pipe()
    os.set_inheritable(r, True)
    try:
        with pyns.spawn(["sleep", "30"], uts=True) as p:
            assert _settled_fds(p.pid, ["0", "1", "2"]) == ["0", "1", "2"]
            p.kill()
        with pyns.spawn(["sleep", "30"], pass_fds=[w]) as p:
            expected = ["0", "1", "2", str(w)]
            assert _settled_fds(p.pid, expected) == expected
            p.kill()
        with pyns.spawn(["sleep", "30"], close_fds=False) as p:
            assert str(r) in os.listdir(f"/proc/{p.pid}/fd")
            assert str(w) not in os.listdir(f"/proc/{p.pid}/fd")  # O_CLOEXEC
            p.kill()
    finally:
        os.close(r)
        os.close(w)


def _program_of(p: pyns.Process, wait_for_comm: Callable[[int, str], None]) -> int:
    """The pid of the program behind an init or relay (its only child), once it has exec'd."""
    deadline = time.monotonic() + 10
    while True:
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            kids = f.read().split()
        if kids:
            wait_for_comm(int(kids[0]), "sleep")
            return int(kids[0])
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize(
    "kwargs", [{"pid": True}, {"join": {"pid": os.getpid()}}], ids=["init", "relay"]
)
def test_nothing_else_is_inherited_behind_an_init_or_relay(kwargs, wait_for_comm):
    r, w = os.pipe()
    os.set_inheritable(r, True)
    try:
        with pyns.spawn(["sleep", "30"], pass_fds=[w], **kwargs) as p:
            program = _program_of(p, wait_for_comm)
            # comm changes a moment before execve closes the O_CLOEXEC fds: a leaked fd
            # stays, so poll briefly for the final set.
            expected = ["0", "1", "2", str(w)]
            deadline = time.monotonic() + 2
            while True:
                fds = sorted(os.listdir(f"/proc/{program}/fd"), key=int)
                if fds == expected or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert fds == expected
            assert all(int(fd) < 3 for fd in os.listdir(f"/proc/{p.pid}/fd"))
            p.kill()
    finally:
        os.close(r)
        os.close(w)


def test_mount_proc_shows_only_the_namespace():
    before = read("/proc/self/mountinfo")
    pids = out(["ps", "-e", "-o", "pid="], pid=True, mount_proc=True).split()
    assert sorted(int(x) for x in pids) == [1, 2]  # the init and ps
    assert read("/proc/self/mountinfo") == before
    assert len([e for e in os.listdir("/proc") if e.isdigit()]) > 3


_ORPHAN = """
import os, sys
r = int(sys.argv[1])
if os.fork() == 0:
    if os.fork() == 0:  # the orphan: exits when the test closes the pipe's write end
        os.read(r, 1)
        os._exit(0)
    os._exit(0)
os.wait()
print("orphaned", flush=True)
os.execvp("sleep", ["sleep", "30"])
"""


def _wait_until(what: str, cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.002)


def test_init_reaps_orphans_and_without_init_they_stay_zombies():
    for init in (True, False):
        r, w = os.pipe()
        try:
            argv = [sys.executable, "-c", _ORPHAN, str(r)]
            with pyns.spawn(argv, pid=True, init=init, pass_fds=[r], stdout=PIPE) as p:
                assert p.stdout is not None and p.stdout.readline() == b"orphaned\n"
                # PID 1's children: with an init, the program and the orphan; without, the
                # program is PID 1 and the orphan its only child.
                assert len(children_of(p.pid)) == (2 if init else 1)
                os.close(w)  # the orphan exits
                w = -1
                if init:  # only the program is left: the init reaped the orphan
                    _wait_until("reaped", lambda: len(children_of(p.pid)) == 1)
                    assert [s for _, s in children_of(p.pid)] == ["S"]
                else:  # control: nobody reaps it
                    _wait_until("a zombie", lambda: [s for _, s in children_of(p.pid)] == ["Z"])
                p.kill()
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)


def test_terminate_reaches_the_worker_and_its_status_comes_back():
    script = 'trap "exit 7" TERM; echo ready; while :; do sleep 0.02; done'
    with pyns.spawn(["sh", "-c", script], pid=True, stdout=PIPE) as p:
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n"
        p.terminate()
        assert p.wait(timeout=10) == 7


def test_worker_killed_by_a_signal_gives_128_plus_signal():
    with pyns.spawn(["sh", "-c", "kill -9 $$"], pid=True) as p:
        assert p.wait(timeout=10) == 128 + 9
    with pyns.spawn(["sh", "-c", "kill -9 $$"]) as p:
        assert p.wait(timeout=10) == -9


def test_sigkill_to_pid1_kills_the_whole_namespace():
    with pyns.spawn(
        ["sh", "-c", "sleep 60 & sleep 60 & echo ok; wait"], pid=True, stdout=PIPE
    ) as p:
        assert p.stdout is not None and p.stdout.readline() == b"ok\n"
        worker = children_of(p.pid)[0][0]
        members = [worker] + [pid for pid, _ in children_of(worker)]
        assert len(members) == 3
        p.kill()
        assert p.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{m}") for m in members) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(os.path.exists(f"/proc/{m}") for m in members)


@pytest.mark.kernel
def test_time_offsets():
    host = time.clock_gettime(time.CLOCK_BOOTTIME)
    uptime = float(out(["cat", "/proc/uptime"], boottime=100000).split()[0])
    assert host + 100000 - 5 < uptime < host + 100000 + 60
    code = "import time; print(time.monotonic())"
    mono = float(out([sys.executable, "-c", code], monotonic=-1.5, pid=True))
    assert mono < time.monotonic() - 1.4


def test_setup_failure_is_a_child_error():
    # A monotonic offset that would make the clock negative: the child's write is refused.
    with pytest.raises(pyns.ChildError) as e:
        pyns.spawn(["true"], monotonic=-1e9)
    assert e.value.step == "write /proc/self/timens_offsets"
    assert e.value.errno in (errno.ERANGE, errno.EINVAL)
    assert "timens_offsets" in str(e.value)


def test_join_by_process_pid_namespace_and_path():
    with pyns.spawn(["sleep", "30"], uts=True, hostname="joined", net=True) as target:
        assert out(["hostname"], join={"uts": target}) == b"joined\n"
        assert out(["hostname"], join={"uts": target.pid}) == b"joined\n"
        assert out(["hostname"], join={"uts": f"/proc/{target.pid}/ns/uts"}) == b"joined\n"
        ns = pyns.Namespace.of(target.pid, "net")
        link = out(["readlink", "/proc/self/ns/net"], join={"net": ns})
        assert link == f"net:[{ns.inode}]\n".encode()
        ns.close()
        target.kill()


def test_join_pid_namespace_runs_the_program_inside():
    with pyns.spawn(["sleep", "30"], pid=True, init=False) as target:
        # The joiner forks into the namespace (like nsenter --pid): not PID 1, PID > 1 inside.
        pid_inside = int(out(["sh", "-c", "echo $$"], join={"pid": target}))
        assert pid_inside > 1
        target.kill()


def test_join_user_last_for_root():
    # The new user namespace's root has no power over a netns owned by the initial user
    # namespace: joining it first would make the net join fail. nsenter's order works.
    with (
        pyns.spawn(["sleep", "30"], user=True, map_root=True) as u,
        pyns.spawn(["sleep", "30"], net=True) as n,
    ):
        text = out(["sh", "-c", "readlink /proc/self/ns/user /proc/self/ns/net"],
                   join={"user": u, "net": n})  # fmt: skip
        assert text.split() == [
            os.readlink(f"/proc/{u.pid}/ns/user").encode(),
            os.readlink(f"/proc/{n.pid}/ns/net").encode(),
        ]
        u.kill()
        n.kill()


def test_no_map_means_overflow_ids():
    assert out(["sh", "-c", "id -u; id -g"], user=True) == b"65534\n65534\n"


def test_map_root_with_everything():
    text = out(
        ["sh", "-c", "id -u; hostname; ps -e -o pid= | wc -l"],
        user=True, map_root=True, uts=True, hostname="all", ipc=True, net=True, pid=True,
        cgroup=True, time=True, mount_proc=True,
    )  # fmt: skip
    assert text.split() == [b"0", b"all", b"4"]  # init, sh, ps, wc


@pytest.mark.kernel
def test_rootless(nobody):
    r = nobody(
        """
        import subprocess, pyns
        p = pyns.spawn(["sh", "-c", "id -u; echo $$; hostname; ps -e -o pid= | wc -l"],
                       user=True, map_root=True, uts=True, hostname="rootless", ipc=True,
                       net=True, pid=True, cgroup=True, time=True, boottime=10,
                       mount_proc=True, stdout=subprocess.PIPE)
        print(p.communicate()[0].decode().split(), p.returncode)
        print(pyns.spawn(["id", "-u"], user=True, stdout=subprocess.PIPE).communicate()[0])
        try:
            pyns.spawn(["true"], uts=True)
        except PermissionError as e:
            print("EPERM", "user=True" in "".join(e.__notes__))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "['0', '2', 'rootless', '4'] 0",
        "b'65534\\n'",
        "EPERM True",
    ]


def test_rootless_join_user_first(nobody):
    r = nobody(
        """
        import subprocess, pyns
        t = pyns.spawn(["sleep", "30"], user=True, map_root=True, uts=True, hostname="mine")
        p = pyns.spawn(["hostname"], join={"user": t, "uts": t}, stdout=subprocess.PIPE)
        print(p.communicate()[0].decode().strip())
        t.kill(); t.wait()
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "mine"


def test_rootless_gid_map_with_setgroups_allow_is_a_permission_error(nobody):
    r = nobody(
        """
        import pyns
        try:
            pyns.spawn(["true"], map_root=True, setgroups="allow")
        except PermissionError as e:
            print(e.errno, *e.__notes__, sep="|")
        """
    )
    assert r.returncode == 0, r.stderr
    err, note = r.stdout.strip().split("|", 1)
    assert int(err) == errno.EPERM
    assert note.startswith("pyns was doing: write /proc/") and "/gid_map" in note
    assert "newuidmap/newgidmap" in note


def _parent_script(pdeathsig: str) -> str:
    return textwrap.dedent(
        f"""
        import sys, time, pyns
        p = pyns.spawn(["sleep", "60"], pid=True, pdeathsig={pdeathsig})
        print(p.pid, flush=True)
        time.sleep(60)
        """
    )


@pytest.mark.parametrize("pdeathsig", ["9", "None"])
def test_pdeathsig_when_the_parent_is_killed(pdeathsig):
    parent = subprocess.Popen([sys.executable, "-c", _parent_script(pdeathsig)], stdout=PIPE)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert os.path.exists(f"/proc/{child}")
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            time.sleep(0.02)
        alive = os.path.exists(f"/proc/{child}")
        if pdeathsig == "None":
            assert alive
            os.kill(child, signal.SIGKILL)
        else:
            assert not alive
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        if parent.stdout:
            parent.stdout.close()


def test_many_spawns_leak_nothing():
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(100):
        kw = [{"uts": True}, {"pid": True}, {"user": True, "map_root": True}, {}][i % 4]
        with pyns.spawn(["true"], stdout=subprocess.DEVNULL, **kw) as p:
            pass
        assert p.returncode == 0
        assert p.pidfd is None
    assert len(os.listdir("/proc/self/fd")) == fds
    assert children_of(os.getpid()) == []


def test_join_with_a_new_pid_namespace_and_init():
    with pyns.spawn(["sleep", "30"], uts=True, hostname="j") as target:
        text = out(["sh", "-c", "echo $$; hostname"], join={"uts": target}, pid=True)
        assert text == b"2\nj\n"
        text = out(["sh", "-c", "echo $$"], join={"uts": target}, pid=True, init=False)
        assert text == b"1\n"
        script = "(sleep 0.1 &); sleep 0.8; ps -e -o stat= -o comm="
        states = out(["sh", "-c", script], join={"uts": target}, pid=True, mount_proc=True)
        assert b"Z" not in states and b"ps" in states
        t = time.monotonic()
        with pyns.spawn(["sleep", "30"], join={"uts": target}, pid=True, stdout=PIPE) as p:
            assert time.monotonic() - t < 10  # the spawn returns once the program runs
            p.kill()
            assert p.communicate(timeout=10) == (b"", None)  # no copy holds stdout open
        target.kill()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"args": ["echo", "a\0b"]},
        {"args": ["ec\0ho"]},
        {"args": ["echo"], "env": {"A": "x\0y"}},
        {"args": ["echo"], "env": {"A\0": "x"}},
        {"args": ["echo"], "cwd": "/tm\0p"},
    ],
)
def test_nul_bytes_are_a_value_error_before_anything_starts(kwargs):
    with pytest.raises(ValueError, match="null byte"):
        pyns.spawn(**kwargs, uts=True)
