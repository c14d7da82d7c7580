"""pyns.enter and Namespace.enter: join existing namespaces for a block (like nsenter)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

import pyns


@pytest.fixture
def sleeper(wait_for_comm):
    """A process in its own net and uts namespaces, with hostname "inner"."""
    p = subprocess.Popen(
        ["unshare", "--net", "--uts", "sh", "-c", "hostname inner && exec sleep 30"]
    )
    try:
        wait_for_comm(p.pid, "sleep")
        yield p
    finally:
        p.kill()
        p.wait()


def test_join_every_differing_kind_of_a_process(sleeper):
    host = socket.gethostname()
    with pyns.enter(sleeper.pid) as sw:
        assert socket.gethostname() == "inner"
        for kind in ("net", "uts"):
            assert os.readlink(f"/proc/thread-self/ns/{kind}") == os.readlink(
                f"/proc/{sleeper.pid}/ns/{kind}"
            )
        assert sorted(ns.kind for ns in sw.targets) == ["net", "uts"]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert links.count("\n") == 1
    assert socket.gethostname() == host


def test_join_selected_kinds_only(sleeper):
    mine_net = os.readlink("/proc/thread-self/ns/net")
    with pyns.enter(sleeper.pid, uts=True):
        assert socket.gethostname() == "inner"
        assert os.readlink("/proc/thread-self/ns/net") == mine_net


def test_join_a_namespace_handle_and_a_path(sleeper):
    ns = pyns.Namespace.of(sleeper.pid, "uts")
    with ns.enter():
        assert socket.gethostname() == "inner"
    with pyns.enter(ns):
        assert socket.gethostname() == "inner"
    with pyns.enter(f"/proc/{sleeper.pid}/ns/uts"):
        assert socket.gethostname() == "inner"
    ns.close()


def test_join_an_object_with_a_pid(sleeper):
    with pyns.enter(sleeper, uts=True):  # anything with an int .pid, e.g. a Popen
        assert socket.gethostname() == "inner"


@pytest.mark.private_mounts  # `ip netns add` makes /run/netns a mount point for good
def test_join_a_named_netns_made_by_ip():
    name = f"pyns-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with pyns.enter(name):
            assert os.readlink("/proc/thread-self/ns/net") == (
                f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"
            )
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_a_user_namespace_is_never_entered_for_a_block(wait_for_comm):
    p = subprocess.Popen(["unshare", "--user", "sleep", "30"])
    try:
        wait_for_comm(p.pid, "sleep")
        before = os.readlink("/proc/thread-self/ns/user")
        user = pyns.Namespace.of(p.pid, "user")
        with pytest.raises(pyns.UnsupportedError, match="cannot leave a user namespace"):
            user.enter()
        with pytest.raises(pyns.UnsupportedError, match="cannot leave a user namespace"):
            pyns.enter(f"/proc/{p.pid}/ns/user")
        assert os.readlink("/proc/thread-self/ns/user") == before
        assert os.getuid() == 0
        user.close()
    finally:
        p.kill()
        p.wait()


def test_mount_namespace_join_restores_cwd(tmp_path, wait_for_comm):
    p = subprocess.Popen(["unshare", "--mount", "sleep", "30"])
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        wait_for_comm(p.pid, "sleep")  # unshare has made the namespace and exec'd sleep
        with pyns.enter(p.pid, mnt=True):
            assert os.readlink("/proc/thread-self/ns/mnt") == os.readlink(f"/proc/{p.pid}/ns/mnt")
        assert os.getcwd() == str(tmp_path)
    finally:
        os.chdir(old)
        p.kill()
        p.wait()


def test_user_is_refused_and_bad_arguments(sleeper):
    with pytest.raises(pyns.UnsupportedError, match="user namespace"):
        pyns.enter(sleeper.pid, user=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'network'"):
        pyns.enter(sleeper.pid, network=True)
    with pytest.raises(TypeError, match="must be a bool"):
        pyns.enter(sleeper.pid, net="yes")
    with pytest.raises(TypeError, match="target must be"):
        pyns.enter(3.5)
    with pytest.raises(FileNotFoundError):
        pyns.enter("no-such-netns-name")
    with pytest.raises(ValueError, match="bad network namespace name"):
        pyns.enter("..")
    ns = pyns.Namespace.current("net")
    with pytest.raises(ValueError, match="two net namespaces"):
        pyns.Switch([ns, ns])
    ns.close()


def test_exit_on_another_thread_is_refused_then_works_on_the_right_one(sleeper):
    sw = pyns.enter(sleeper.pid, uts=True)
    sw.__enter__()
    errs = []
    t = threading.Thread(target=lambda: _try_exit(sw, errs))
    t.start()
    t.join()
    assert socket.gethostname() == "inner"
    sw.__exit__(None, None, None)
    assert socket.gethostname() != "inner"
    assert errs and "restored on that thread" in errs[0]


def _try_exit(sw, errs):
    try:
        sw.__exit__(None, None, None)
    except pyns.NamespaceError as e:
        errs.append(str(e))


def _join_own_uts_then_host_net(host_net: str) -> tuple[str, str, int, str]:
    before = os.readlink("/proc/thread-self/ns/uts")
    uts = pyns.Namespace.current("uts")  # owned by this child's user namespace: joinable
    net = pyns.Namespace.open(host_net)  # owned by the initial user namespace: EPERM
    try:
        with pyns.Switch([uts, net]):
            pass
    except PermissionError as e:
        return before, os.readlink("/proc/thread-self/ns/uts"), e.errno, "".join(e.__notes__)
    raise AssertionError("joining the host's netns should have failed")


def test_failed_join_leaves_the_thread_where_it_was():
    with pyns.Namespace.current("net") as host_net:  # inherited by the forked child
        before, after, errno, note = pyns.run(
            _join_own_uts_then_host_net,
            f"/proc/self/fd/{host_net.fileno()}",
            user=True,
            map_root=True,
            uts=True,
        )
    assert errno == 1
    assert "setns(CLONE_NEWNET)" in note and "CAP_SYS_ADMIN" in note
    assert after == before
