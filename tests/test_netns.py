"""pyns.netns: iproute2-compatible named network namespaces, checked against `ip netns` both ways.

Each test runs in a private mount namespace of its own (the `private_mounts` mark), and `ip` runs
as its child, so it sees the same mounts: whatever happens to /run/netns's mounts, nothing can
outlive the test. The files in /run/netns are shared with the host and removed by each test.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

import pyns
from pyns import net


pytestmark = pytest.mark.private_mounts


@pytest.fixture
def name() -> Iterator[str]:
    """A fresh name; the namespace of that name, if the test left one, is removed."""
    n = f"pyns-t{os.getpid()}-{time.monotonic_ns() % 10**9}"
    yield n
    if os.path.exists(f"/run/netns/{n}"):
        subprocess.run(["ip", "netns", "delete", n], check=False)


def ip_netns(*args: str) -> str:
    return subprocess.run(["ip", "netns", *args], capture_output=True, text=True, check=True).stdout


def listed_by_ip() -> set[str]:
    return {line.split()[0] for line in ip_netns("list").splitlines() if line.strip()}


def test_pyns_made_namespace_works_with_ip_netns(name: str) -> None:
    with pyns.netns.add(name) as ns:
        assert name in pyns.netns.names()
        assert name in listed_by_ip()
        inode = ip_netns("exec", name, "readlink", "/proc/self/ns/net").strip()
        assert inode == f"net:[{ns.inode}]"
        links = ip_netns("exec", name, "ip", "-o", "link").splitlines()
        assert [line.split(":")[1].strip() for line in links] == ["lo"]
        net.bridge("brx", netns=name)
        assert "brx" in ip_netns("exec", name, "ip", "-o", "link")
        assert pyns.netns.open(name) == ns
        pyns.netns.remove(name)
        assert name not in pyns.netns.names()
        assert name not in listed_by_ip()
        assert not os.path.exists(f"/run/netns/{name}")
        # The handle still holds the namespace: it lives on, unnamed.
        assert [link.name for link in net.links(netns=ns)] == ["lo", "brx"]


def test_ip_made_namespace_opens_in_pyns(name: str) -> None:
    ip_netns("add", name)
    try:
        with pyns.netns.open(name) as ns:
            assert ns.kind == "net"
            assert ns.inode == os.stat(f"/run/netns/{name}").st_ino
            assert name in pyns.netns.names()
            net.loopback_up(netns=ns)
            assert net.link("lo", netns=name).up
        with pyns.enter(name):
            assert os.readlink("/proc/thread-self/ns/net") == f"net:[{ns.inode}]"
    finally:
        ip_netns("delete", name)
    with pytest.raises(FileNotFoundError):
        pyns.netns.open(name)


def test_ip_removes_what_pyns_added(name: str) -> None:
    pyns.netns.add(name).close()
    ip_netns("delete", name)
    assert name not in pyns.netns.names()


def test_run_netns_is_a_shared_mount_that_reaches_other_mount_namespaces(name: str) -> None:
    pyns.netns.add(name).close()
    try:
        with open("/proc/thread-self/mountinfo") as f:
            mounts = {line.split()[4]: line.split(" - ")[0].split()[6:] for line in f}
        assert any(tag.startswith("shared:") for tag in mounts["/run/netns"])
        # A mount namespace copied now gets later names too, as with ip netns.
        with subprocess.Popen(
            ["unshare", "--mount", "--propagation", "unchanged", "sleep", "30"]
        ) as other:
            try:
                deadline = time.monotonic() + 10
                while os.readlink(f"/proc/{other.pid}/ns/mnt") == os.readlink(
                    "/proc/thread-self/ns/mnt"
                ):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                later = name + "-b"
                pyns.netns.add(later).close()
                try:
                    with open(f"/proc/{other.pid}/mountinfo") as f:
                        assert f"/run/netns/{later} " in f.read()
                finally:
                    pyns.netns.remove(later)
            finally:
                other.kill()
    finally:
        pyns.netns.remove(name)


def test_errors(name: str) -> None:
    pyns.netns.add(name).close()
    try:
        with pytest.raises(FileExistsError):
            pyns.netns.add(name)
    finally:
        pyns.netns.remove(name)
    with pytest.raises(FileNotFoundError):
        pyns.netns.remove(name)
    with pytest.raises(FileNotFoundError):
        pyns.netns.open(name)
    assert not os.path.exists(f"/run/netns/{name}")  # opening never creates


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "/run/netns/x", "x" * 256])
def test_bad_names(bad: str) -> None:
    before = pyns.netns.names()
    for f in (pyns.netns.add, pyns.netns.remove, pyns.netns.open):
        with pytest.raises(ValueError, match="network namespace name"):
            f(bad)
    with pytest.raises(ValueError):
        net.links(netns=bad if "/" not in bad else "")
    assert pyns.netns.names() == before


def test_names_when_there_are_none(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pyns.netns, "RUN_DIR", str(tmp_path / "missing"))
    assert pyns.netns.names() == []


def test_unprivileged_add_is_refused(nobody) -> None:  # type: ignore[no-untyped-def]
    r = nobody(
        """
        import pyns
        try:
            pyns.netns.add("pyns-nobody")
        except PermissionError as e:
            print("refused", e.errno)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["refused", "13"] or r.stdout.split() == ["refused", "1"]
    assert "pyns-nobody" not in pyns.netns.names()
