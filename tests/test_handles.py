"""Namespace handles: identity, kinds, owner/parent, persist, low-level unshare/setns."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

import pyns


def test_kinds_and_constants():
    assert pyns.KINDS == ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
    assert pyns.CLONE_NEWUTS == 0x04000000
    if hasattr(os, "CLONE_NEWUTS"):  # from Python 3.12
        assert os.CLONE_NEWUTS == pyns.CLONE_NEWUTS
    assert pyns.CLONE_NEWNET == 0x40000000
    assert pyns.CLONE_NEWTIME == 0x80


@pytest.mark.parametrize("kind", pyns.KINDS)
def test_current_matches_readlink(kind):
    with pyns.Namespace.current(kind) as ns:
        link = os.readlink(f"/proc/thread-self/ns/{kind}")
        assert link == f"{kind}:[{ns.inode}]"
        assert ns.kind == kind
        assert ns.dev == os.stat(f"/proc/thread-self/ns/{kind}").st_dev
    assert ns.closed


def test_of_other_process_and_equality():
    with subprocess.Popen(["unshare", "--uts", "sleep", "30"]) as p:
        try:
            _wait_ns_differs(p.pid, "uts")
            theirs = pyns.Namespace.of(p.pid, "uts")
            mine = pyns.Namespace.current("uts")
            assert theirs != mine
            assert theirs == pyns.Namespace.of(p.pid, "uts")
            assert len({theirs, pyns.Namespace.of(p.pid, "uts"), mine}) == 2
            assert os.readlink(f"/proc/{p.pid}/ns/uts") == f"uts:[{theirs.inode}]"
            assert pyns.Namespace.of(p.pid, "net") == pyns.Namespace.current("net")
            theirs.close()
            mine.close()
        finally:
            p.kill()


def _wait_ns_differs(pid: int, kind: str) -> None:
    mine = os.readlink(f"/proc/self/ns/{kind}")
    for _ in range(1000):
        if os.readlink(f"/proc/{pid}/ns/{kind}") != mine:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"{pid} never left the {kind} namespace")


def test_repr_is_a_python_literal():
    ns = pyns.Namespace.current("net")
    assert repr(ns) == f"Namespace(kind='net', inode={ns.inode})"
    ns.close()


def test_open_checks_nsfs_and_kind():
    ns = pyns.Namespace.open("/proc/self/ns/uts")
    assert ns.kind == "uts"
    ns.close()
    with pytest.raises(pyns.NamespaceError, match="not a namespace file"):
        pyns.Namespace.open("/etc/hostname")
    with pytest.raises(pyns.NamespaceError, match="net namespace, not a uts namespace"):
        pyns.Namespace.open("/proc/self/ns/net", kind="uts")
    with pytest.raises(FileNotFoundError) as e:
        pyns.Namespace.open("/nonexistent/ns")
    assert e.value.errno == 2
    assert e.value.filename == "/nonexistent/ns"


def test_bad_arguments_are_rejected_before_any_syscall():
    with pytest.raises(ValueError, match="unknown namespace kind 'network'"):
        pyns.Namespace.current("network")
    with pytest.raises(ValueError, match="positive process id"):
        pyns.Namespace.of(0, "net")
    with pytest.raises(TypeError):
        pyns.Namespace.of("1", "net")
    with pytest.raises(ValueError, match="not CLONE_NEW"):
        pyns.unshare(0x100)  # CLONE_VM
    with pytest.raises(TypeError, match="Namespace or a file descriptor"):
        pyns.setns("net")
    with pytest.raises(ValueError, match="unknown namespace kind"):
        pyns.setns(0, "nett")


def test_missing_process_is_process_lookup_or_not_found():
    with pytest.raises(FileNotFoundError):
        pyns.Namespace.of(2**22 + 12345, "net")
    with pytest.raises(ProcessLookupError):
        pyns.namespaces(2**22 + 12345)


def test_closed_handle():
    ns = pyns.Namespace.current("uts")
    ns.close()
    with pytest.raises(ValueError, match="is closed"):
        ns.fileno()
    assert repr(ns).startswith("Namespace(kind='uts'")


def test_namespaces_snapshot_matches_proc():
    snap = pyns.namespaces()
    assert set(snap) == set(pyns.KINDS)
    for kind, ns in snap.items():
        assert os.readlink(f"/proc/thread-self/ns/{kind}") == f"{kind}:[{ns.inode}]"
        ns.close()
    with subprocess.Popen(["sleep", "30"]) as p:
        other = pyns.namespaces(p.pid)
        p.kill()
    assert other["user"].inode == os.stat(f"/proc/{os.getpid()}/ns/user").st_ino
    for ns in other.values():
        ns.close()


def test_owner_and_parent_of_nested_user_namespaces(wait_for_comm):
    # sleep runs in a user namespace nested two deep: init -> outer -> inner.
    with subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "unshare", "--user", "sleep", "30"]
    ) as p:
        try:
            wait_for_comm(p.pid, "sleep")
            inner = pyns.Namespace.of(p.pid, "user")
            outer = inner.parent()
            init = pyns.Namespace.current("user")
            assert outer != inner and outer != init
            assert outer.parent() == init
            assert pyns.Namespace.of(p.pid, "uts").owner() == init
            with pytest.raises(PermissionError) as e:
                init.parent()
            assert "initial user namespace" in str(e.value.__notes__)
            with pytest.raises(pyns.NamespaceError, match="has no parent"):
                pyns.Namespace.current("net").parent()
            for ns in (inner, outer, init):
                ns.close()
        finally:
            p.kill()


@pytest.mark.private_mounts
def test_persist_keeps_a_namespace_alive(tmp_path):
    target = tmp_path / "keep"
    with subprocess.Popen(["unshare", "--net", "sleep", "30"]) as p:
        _wait_ns_differs(p.pid, "net")
        ns = pyns.Namespace.of(p.pid, "net")
        ns.persist(target)
        ino = ns.inode
        ns.close()
        p.kill()
    try:
        assert os.path.ismount(target)
        again = pyns.Namespace.open(target)
        assert (again.kind, again.inode) == ("net", ino)
        again.close()
        out = subprocess.run(
            ["nsenter", f"--net={target}", "ip", "-o", "link"], capture_output=True, text=True
        )
        assert out.stdout.count("\n") == 1 and "lo" in out.stdout
    finally:
        subprocess.run(["umount", target], check=True)


def test_low_level_unshare_and_setns_in_a_thread():
    result = {}

    def body():
        home = pyns.Namespace.current("uts")
        pyns.unshare(pyns.CLONE_NEWUTS)
        result["inside"] = pyns.Namespace.current("uts")
        pyns.setns(home, "uts")
        result["back"] = pyns.Namespace.current("uts")
        pyns.setns(result["inside"].fileno(), pyns.CLONE_NEWUTS)
        result["again"] = pyns.Namespace.current("uts")
        pyns.setns(home)
        home.close()

    t = threading.Thread(target=body)
    t.start()
    t.join()
    mine = pyns.Namespace.current("uts")
    assert result["inside"] != mine
    assert result["back"] == mine
    assert result["again"] == result["inside"]
    with pytest.raises(OSError) as e:
        pyns.setns(mine, "net")
    assert e.value.errno == 22
    for ns in (*result.values(), mine):
        ns.close()


def test_unprivileged_unshare_is_a_permission_error_with_a_hint(nobody):
    r = nobody(
        """
        import pyns
        try:
            with pyns.isolate(uts=True):
                pass
        except PermissionError as e:
            print("errno", e.errno)
            print("\\n".join(e.__notes__))
        """
    )
    assert r.returncode == 0, r.stderr
    assert "errno 1" in r.stdout
    assert "CLONE_NEWUTS" in r.stdout
    assert "CAP_SYS_ADMIN" in r.stdout and "user=True" in r.stdout


def test_unprivileged_handles_of_own_and_foreign_processes(nobody):
    r = nobody(
        f"""
        import os, pyns
        snap = pyns.namespaces()
        print(sorted(snap) == sorted(pyns.KINDS))
        print(snap["net"] == pyns.Namespace.of(os.getpid(), "net"))
        try:
            pyns.Namespace.of({os.getpid()}, "net")
        except PermissionError as e:
            print("denied", e.errno, e.filename)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["True", "True", f"denied 13 /proc/{os.getpid()}/ns/net"]
