"""pyns.isolate: the calling thread in new namespaces for a block, restored exactly after."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading

import pytest

import pyns


def thread_ns(tid: str = "thread-self") -> dict[str, str]:
    """Every /proc/<task>/ns entry (also pid_for_children, time_for_children) -> its link."""
    base = "/proc/thread-self/ns" if tid == "thread-self" else f"/proc/self/task/{tid}/ns"
    out = {}
    for e in sorted(os.listdir(base)):
        try:
            out[e] = os.readlink(f"{base}/{e}")
        except FileNotFoundError:  # pid_for_children of a pid namespace with no PID 1 yet
            out[e] = "none"
    return out


ISOLATABLE = ["cgroup", "ipc", "mnt", "net", "pid", "time", "uts"]


@pytest.mark.parametrize("kind", ISOLATABLE)
def test_restores_every_kind_after_exit_and_after_an_exception(kind):
    before = thread_ns()
    with pyns.isolate(**{kind: True}) as iso:
        if kind == "pid":  # /proc shows pid_for_children once the namespace has its PID 1
            subprocess.run(["true"], check=True)
        inside = thread_ns()
        new = iso.namespaces[kind]
        assert new.kind == kind
    entry = f"{kind}_for_children" if kind in ("pid", "time") else kind
    assert inside[entry] != before[entry]
    assert inside[entry] == f"{kind}:[{new.inode}]"
    assert {k: v for k, v in inside.items() if k != entry and k != kind} == {
        k: v for k, v in before.items() if k != entry and k != kind
    }
    assert thread_ns() == before
    with pytest.raises(RuntimeError, match="boom"):
        with pyns.isolate(**{kind: True}):
            raise RuntimeError("boom")
    assert thread_ns() == before
    new.close()


def test_other_threads_are_never_affected():
    started, release = threading.Event(), threading.Event()
    box: dict[str, object] = {}

    def other():
        box["tid"] = str(threading.get_native_id())
        started.set()
        release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    started.wait(10)
    tid = str(box["tid"])
    before = thread_ns(tid)
    try:
        with pyns.isolate(uts=True, net=True, ipc=True, mnt=True, cgroup=True, hostname="iso"):
            assert thread_ns(tid) == before
            assert socket.gethostname() == "iso"
            assert thread_ns() != before
    finally:
        release.set()
        t.join()


def test_nesting_restores_each_level():
    outer_before = thread_ns()
    with pyns.isolate(uts=True, hostname="outer"):
        middle = thread_ns()
        with pyns.isolate(uts=True, net=True, hostname="inner"):
            assert socket.gethostname() == "inner"
        assert thread_ns() == middle
        assert socket.gethostname() == "outer"
    assert thread_ns() == outer_before


def test_hostname_and_domainname_seen_by_a_subprocess_started_inside():
    host = socket.gethostname()
    with pyns.isolate(hostname="box", domainname="example.test") as iso:
        out = subprocess.run(["uname", "-n"], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "box"
        assert os.uname().nodename == "box"
        assert subprocess.run(["domainname"], capture_output=True, text=True).stdout.strip() == (
            "example.test"
        )
        assert set(iso.namespaces) == {"uts"}
    assert socket.gethostname() == host


def test_ipc_queue_of_the_host_is_invisible_inside():
    out = subprocess.run(["ipcmk", "-Q"], capture_output=True, text=True, check=True).stdout
    qid = out.split(":")[-1].strip()
    try:
        assert qid in subprocess.run(["ipcs", "-q"], capture_output=True, text=True).stdout
        with pyns.isolate(ipc=True):
            inside = subprocess.run(["ipcs", "-q"], capture_output=True, text=True).stdout
            assert qid not in inside.split()
    finally:
        subprocess.run(["ipcrm", "-q", qid], check=True)


def _links_inside() -> list[dict]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("loopback", [True, False])
def test_new_netns_has_only_lo_up_or_down(loopback):
    with pyns.isolate(net=True, loopback=loopback):
        links = _links_inside()
        assert [link["ifname"] for link in links] == ["lo"]
        assert ("UP" in links[0]["flags"]) is loopback
        if loopback:
            with socket.create_server(("127.0.0.1", 0)) as srv:
                c = socket.create_connection(srv.getsockname(), timeout=5)
                c.close()
    assert len(_links_inside()) >= 1  # the host's, untouched


def _mount_points(path: str = "/proc/thread-self/mountinfo") -> list[str]:
    with open(path) as f:
        return [line.split()[4] for line in f]


def test_a_mount_inside_stays_inside(tmp_path):
    target = str(tmp_path)
    other_sees: list[bool] = []
    mounted, checked = threading.Event(), threading.Event()

    def watcher():
        mounted.wait(10)
        other_sees.append(target in _mount_points())
        checked.set()

    t = threading.Thread(target=watcher)
    t.start()
    try:
        with pyns.isolate(mnt=True):
            with open("/proc/thread-self/mountinfo") as f:
                root = [line for line in f if line.split()[4] == "/"]
            assert "shared:" not in root[0], "/ must be private inside"
            subprocess.run(["mount", "-t", "tmpfs", "none", target], check=True)
            assert target in _mount_points()
            mounted.set()
            checked.wait(10)
    finally:
        mounted.set()
        t.join()
    assert other_sees == [False]
    assert target not in _mount_points()
    assert os.getcwd() == os.getcwd()  # cwd still usable


def test_cwd_survives_a_mount_namespace_round_trip(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pyns.isolate(mnt=True):
            pass
        assert os.getcwd() == str(tmp_path)
    finally:
        os.chdir(old)


def test_pid_applies_to_children_started_inside():
    with pyns.isolate(pid=True):
        out = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
        assert os.getpid() == os.getpid()  # this process keeps its pid
    assert out.stdout.strip() == "1"
    again = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    assert again.stdout.strip() != "1"


def test_cgroup_namespace_root_inside():
    with pyns.isolate(cgroup=True):
        out = subprocess.run(["cat", "/proc/self/cgroup"], capture_output=True, text=True)
    # Every hierarchy (v1 and v2) is rooted at the namespace's cgroup.
    lines = out.stdout.split()
    assert lines and all(line.endswith(":/") for line in lines), lines


@pytest.mark.kernel
def test_time_children_get_the_new_time_namespace():
    mine = os.readlink("/proc/self/ns/time")
    with pyns.isolate(time=True) as iso:
        p = subprocess.Popen(["sleep", "5"])
        theirs = os.readlink(f"/proc/{p.pid}/ns/time")
        p.kill()
        p.wait()
        assert theirs == f"time:[{iso.namespaces['time'].inode}]"
    assert theirs != mine


def test_time_is_refused_up_front_when_multi_threaded():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(10,))
    t.start()
    before = thread_ns()
    try:
        with pytest.raises(pyns.UnsupportedError, match="multi-threaded"):
            with pyns.isolate(time=True, uts=True):
                pass
    finally:
        stop.set()
        t.join()
    assert thread_ns() == before


def test_user_is_refused_with_a_pointer_to_run_and_spawn():
    with pytest.raises(pyns.UnsupportedError, match=r"pyns\.run.*pyns\.spawn"):
        pyns.isolate(user=True)


def test_exit_from_another_thread_is_an_error():
    iso = pyns.isolate(uts=True)
    iso.__enter__()
    errors = []

    def wrong():
        try:
            iso.__exit__(None, None, None)
        except pyns.NamespaceError as e:
            errors.append(str(e))

    t = threading.Thread(target=wrong)
    t.start()
    t.join()
    iso.__exit__(None, None, None)
    assert errors and "must be restored on that thread" in errors[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="at most 64"):
        pyns.isolate(hostname="x" * 65)
    with pytest.raises(ValueError, match="propagation must be one of"):
        pyns.isolate(mnt=True, propagation="rprivate")
    with pytest.raises(TypeError):
        pyns.isolate(uts=1)
    with pytest.raises(TypeError):
        pyns.isolate(network=True)
    with pytest.raises(TypeError):
        pyns.isolate(True)
    iso = pyns.isolate(uts=True)
    with pytest.raises(pyns.NamespaceError, match="only inside the block"):
        iso.namespaces
    with iso:
        with pytest.raises(pyns.NamespaceError, match="already entered"):
            iso.__enter__()
    assert repr(pyns.isolate(uts=True, hostname="b'x")) == "isolate(uts=True, hostname='b\\'x')"


def test_ten_thousand_cycles_leak_no_fd():
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10_000):
        with pyns.isolate(uts=True):
            pass
    assert len(os.listdir("/proc/self/fd")) == before
