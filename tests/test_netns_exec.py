"""`pyns netns exec`, `pyns.enter(NAME)` and `join={"net": NAME}` do what `ip netns exec`
does: /etc/netns/NAME/* bound over /etc, and a /sys of that network namespace.

Each test runs in a private mount namespace with an overlay over /etc (upper layer on a
tmpfs), so that /etc/netns/NAME exists there only: nothing on the machine changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import pyns

pytestmark = [pytest.mark.requires_root, pytest.mark.private_mounts]

PYNS = [sys.executable, "-m", "pyns"]
SHOW = "cat /etc/resolv.conf; ls /sys/class/net; cat /etc/hostname"


@pytest.fixture
def named() -> Iterator[str]:
    """A named netns with a dummy link, and /etc/netns/NAME/{resolv.conf,hostname} seen only
    in this test's mount namespace."""
    name = f"pyns-exec-{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="pyns-etc-")
    pyns.mount.tmpfs(tmp)
    os.mkdir(f"{tmp}/upper")
    os.mkdir(f"{tmp}/work")
    opts = f"lowerdir=/etc,upperdir={tmp}/upper,workdir={tmp}/work"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, "/etc"], check=True)
    os.makedirs(f"/etc/netns/{name}")
    with open(f"/etc/netns/{name}/resolv.conf", "w") as f:
        f.write("nameserver 192.0.2.53\n")
    with open(f"/etc/netns/{name}/hostname", "w") as f:
        f.write("inside\n")
    pyns.netns.add(name).close()
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "add", "d0", "type", "veth", "peer", "d1"], check=True
        )
        yield name
    finally:
        pyns.netns.remove(name)
        pyns.mount.umount("/etc", lazy=True)
        pyns.mount.umount(tmp, lazy=True)
        os.rmdir(tmp)


def _out(args: list[str]) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def test_pyns_netns_exec_shows_what_ip_netns_exec_shows(named: str) -> None:
    ip = _out(["ip", "netns", "exec", named, "sh", "-c", SHOW])
    mine = _out([*PYNS, "netns", "exec", named, "--", "sh", "-c", SHOW])
    assert mine == ip
    assert ip.split() == ["nameserver", "192.0.2.53", "d0", "d1", "lo", "inside"]
    # and outside, nothing changed
    assert Path("/etc/resolv.conf").read_text() != "nameserver 192.0.2.53\n"
    assert "d0" not in os.listdir("/sys/class/net")


def test_spawn_and_run_joined_to_a_name_see_its_etc_and_sys(named: str) -> None:
    p = pyns.spawn(["sh", "-c", SHOW], join={"net": named}, stdout=subprocess.PIPE)
    out, _ = p.communicate()
    assert out.decode().split() == ["nameserver", "192.0.2.53", "d0", "d1", "lo", "inside"]
    assert sorted(pyns.run(os.listdir, "/sys/class/net", join={"net": named})) == ["d0", "d1", "lo"]
    # with a handle instead of the name, it is only the network namespace (as nsenter)
    with pyns.netns.open(named) as ns:
        p = pyns.spawn(["cat", "/etc/resolv.conf"], join={"net": ns}, stdout=subprocess.PIPE)
        assert p.communicate()[0] == Path("/etc/resolv.conf").read_bytes()


def test_enter_a_name_on_a_thread_leaks_no_mounts(named: str) -> None:
    before = [(m.mount_id, m.mount_point) for m in pyns.mount.mounts()]
    mnt = pyns.Namespace.current("mnt")
    with pyns.enter(named):
        assert Path("/etc/resolv.conf").read_text() == "nameserver 192.0.2.53\n"
        assert sorted(os.listdir("/sys/class/net")) == ["d0", "d1", "lo"]
        assert pyns.Namespace.current("mnt") != mnt
    assert pyns.Namespace.current("mnt") == mnt
    assert [(m.mount_id, m.mount_point) for m in pyns.mount.mounts()] == before
    assert Path("/etc/resolv.conf").read_text() != "nameserver 192.0.2.53\n"
    assert "d0" not in os.listdir("/sys/class/net")
    # net=True alone is the same; other kinds join only what they name
    with pyns.enter(named, net=True):
        assert sorted(os.listdir("/sys/class/net")) == ["d0", "d1", "lo"]
    mnt.close()
