"""Names and files per host: /etc/hosts of the topology, each host's own /etc/hostname and
/etc/resolv.conf, private= tmpfs directories and files=, checked with real getent, ping,
curl and python's http.server; privileged, rootless and as uid 65534."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pyns
from pyns.testing import Host, Topology
from pyns.testing.etc import LOCALHOST

ROOT_ONLY = pytest.mark.requires_root


def sh(host: Host, script: str) -> str:
    """Runs a shell script in `host`; returns its stdout (stderr goes with it)."""
    p = host.spawn(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out.decode()
    return out.decode()


def listening(host: Host, port: int) -> bool:
    """Whether a TCP socket listens on `port` in the host's network namespace."""

    def look() -> bool:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
        return False

    return host.run(look)


def wait_listening(host: Host, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not listening(host, port):
        assert time.monotonic() < deadline, f"nothing listens on {host.name}:{port}"
        time.sleep(0.05)


@ROOT_ONLY
def test_hosts_reach_each_other_by_name_with_getent_ping_and_curl() -> None:
    with Topology() as t:
        a, server = t.host("a"), t.host("server")
        t.link(a, server)
        t.link(a, server, addresses=("fd00:1::1/64", "fd00:1::2/64"))
        assert "fd00:1::2" in sh(a, "getent ahostsv6 server").split()  # every address is listed
        assert sh(a, "getent ahostsv4 server | head -1").split()[0] == "10.0.0.2"
        assert "1 received" in sh(a, "ping -4 -c 1 -W 5 server")
        assert sh(server, "hostname; cat /etc/hostname") == "server\nserver\n"
        srv = server.spawn(
            [sys.executable, "-m", "http.server", "8000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_listening(server, 8000)
        assert sh(a, "curl -4 -s -o /dev/null -w '%{http_code}' http://server:8000/") == "200"
        srv.terminate()
        srv.wait()
        # the same names for host.run and host.enter (glibc reads /etc/hosts at each call)
        assert a.run(socket.gethostbyname, "server") == "10.0.0.2"
        with a.enter():
            assert socket.gethostbyname("server") == "10.0.0.2"
            assert Path("/etc/hostname").read_text() == "a\n"
        assert Path("/etc/hostname").read_text() != "a\n" or os.uname().nodename == "a"


@ROOT_ONLY
def test_etc_hosts_lists_every_node_and_follows_links_and_removals() -> None:
    with Topology() as t:
        a, b, r = t.host("a"), t.host("b"), t.router("r")
        t.link(a, r)
        t.link(r, b)
        hosts = sh(a, "cat /etc/hosts")
        assert hosts.startswith(LOCALHOST)
        assert [ln.split() for ln in hosts.splitlines()[3:]] == [
            ["10.0.0.1", "a"],
            ["fd00::1", "a"],
            ["10.0.1.2", "b"],
            ["fd00:0:0:1::2", "b"],
            ["10.0.0.2", "r"],
            ["fd00::2", "r"],
            ["10.0.1.1", "r"],
            ["fd00:0:0:1::1", "r"],
        ]  # fmt: skip: in creation order, each node's addresses in link order
        reader = b.spawn(["sleep", "60"])  # a running program: changes are written at once
        c = t.host("c")
        t.link(b, c)
        with a.enter():
            assert socket.gethostbyname("c") == "10.0.2.2"
        t.remove(c)
        with pytest.raises(socket.gaierror):
            with a.enter():
                socket.gethostbyname("c")
        reader.kill()
        reader.wait()
        t.unlink(r, b)
        assert "b" not in sh(a, "cut -f2 /etc/hosts").split()


@ROOT_ONLY
def test_each_host_has_its_own_hostname_and_resolv_conf_and_the_machine_keeps_its() -> None:
    machine = {p: Path(p).read_bytes() for p in ("/etc/hostname", "/etc/resolv.conf", "/etc/hosts")}
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        sh(a, "echo 'nameserver 192.0.2.1' > /etc/resolv.conf; echo other > /etc/hostname")
        assert sh(a, "cat /etc/resolv.conf") == "nameserver 192.0.2.1\n"
        assert "192.0.2.1" not in sh(b, "cat /etc/resolv.conf")
        assert sh(b, "cat /etc/hostname") == "b\n"
        plain = t.host("plain", mnt=False)
        assert "mnt" not in plain.namespaces
        assert Path("/proc/self/ns/mnt").stat().st_ino == plain.run(
            lambda: Path("/proc/self/ns/mnt").stat().st_ino
        )
    assert {p: Path(p).read_bytes() for p in machine} == machine


@ROOT_ONLY
def test_readers_never_see_a_half_written_etc_hosts() -> None:
    """A reader in a host re-reads /etc/hosts while hosts are added (each change rewrites
    the whole file, as a program runs): every read is a complete file."""
    reader = r"""
import json, sys
seen = set()
while True:
    text = open("/etc/hosts").read()
    seen.add(text)
    if "\tlast\n" in text:
        break
print(json.dumps(sorted(seen)))
"""
    with Topology() as t:
        sw = t.switch("sw", subnet="10.9.0.0/16")
        hub = t.host("hub")
        t.link(hub, sw)
        p = hub.spawn([sys.executable, "-c", reader], stdout=subprocess.PIPE)
        names = ["hub"] + [f"h{i}" for i in range(60)] + ["last"]
        for name in names[1:]:
            t.link(t.host(name), sw)
        out, _ = p.communicate(timeout=120)
    seen = json.loads(out)
    assert len(seen) > 1  # it did read while the file changed
    for text in seen:
        assert text.startswith(LOCALHOST) and text.endswith("\n")
        body = [ln.split("\t") for ln in text.splitlines()[3:]]
        listed = list(dict.fromkeys(n for _, n in body))  # an IPv4 and an IPv6 line each
        assert listed == names[: len(listed)]


@ROOT_ONLY
def test_private_dirs_and_files_stay_in_the_host_and_touch_nothing_on_the_machine() -> None:
    missing = f"/opt/pyns-test-{os.getpid()}"
    assert not os.path.lexists(missing) and not os.path.lexists("/etc/pyns-test.conf")
    run_before = sorted(os.listdir("/run"))
    with Topology() as t:
        a = t.host(
            "a",
            private=["/run", f"{missing}/state"],
            files={
                "/etc/pyns-test.conf": "port = 8000\n",
                f"{missing}/conf/app.toml": b"x = 1\n",
                "/etc/hostname": "custom\n",
                "/run/app/pid": "42\n",
            },
        )
        b = t.host("b")
        assert sh(a, "cat /etc/pyns-test.conf") == "port = 8000\n"
        assert sh(a, f"cat {missing}/conf/app.toml") == "x = 1\n"
        assert sh(a, "cat /etc/hostname /run/app/pid") == "custom\n42\n"
        assert sh(a, f"ls -A /run; ls -A {missing}/state") == "app\n"
        sh(a, f"touch /run/written {missing}/state/db")
        assert sh(a, f"ls /run/written; ls {missing}/state/db").split() == [
            "/run/written",
            f"{missing}/state/db",
        ]
        assert "written" not in sh(b, "ls /run")
        assert sh(b, "test -e /etc/pyns-test.conf || echo absent") == "absent\n"
        assert not os.path.lexists(missing) and not os.path.lexists("/etc/pyns-test.conf")
        assert sorted(os.listdir("/run")) == run_before
        assert sh(a, "getent hosts b || echo none") == "none\n"  # b has no address yet
    assert not os.path.lexists(missing)


@ROOT_ONLY
def test_a_private_tmp_keeps_the_names_and_files() -> None:
    """private=["/tmp"] and files under /tmp cover the topology's own directory (which is
    in /tmp): the host still sees /etc/hosts, its files, and an empty /tmp of its own."""
    with Topology() as t:
        a = t.host("a", private=["/tmp"], files={"/etc/pyns-tmp.conf": "t\n"})
        b = t.host("b", files={f"/tmp/pyns-test-{os.getpid()}/x": "y\n"})
        t.link(a, b)
        assert sh(a, "getent hosts b; cat /etc/hostname /etc/pyns-tmp.conf") == (
            "fd00::2         b\na\nt\n"  # getent hosts: IPv6 first
        )
        assert sh(a, "ls -A /tmp") == os.path.basename(t.directory) + "\n"
        assert sh(b, f"getent hosts a; cat /tmp/pyns-test-{os.getpid()}/x") == (
            "fd00::1         a\ny\n"
        )
    assert not os.path.lexists(f"/tmp/pyns-test-{os.getpid()}")


@pytest.mark.parametrize(
    "kw, error, words",
    [
        ({"private": "/run"}, TypeError, "list"),
        ({"private": ["run"]}, ValueError, "absolute"),
        ({"private": ["/"]}, ValueError, "root"),
        ({"private": ["/etc/hostname"]}, ValueError, "not a directory"),
        ({"files": {"/etc": "x"}}, ValueError, "directory"),
        ({"files": {"/etc/x.conf": 3}}, TypeError, "str or bytes"),
        ({"files": ["/etc/x"]}, TypeError, "dict"),
        ({"files": {"/etc/hostname/x": "x"}}, ValueError, "not a directory"),
        ({"files": {"/etc/x": "x"}, "mnt": False}, ValueError, "mnt=True"),
    ],
)
def test_bad_private_and_files_are_refused_before_anything_is_made(kw, error, words) -> None:
    t = Topology()
    with pytest.raises(error, match=words):
        t.host("a", **kw)
    assert t.hosts == [] and t._directory is None
    t.close()


def _rootless() -> list[str]:
    """In a user namespace (root mapped to the caller): names, files and private dirs."""
    with Topology() as t:
        a = t.host("a", private=["/run"], files={"/etc/pyns-rootless.conf": "ok\n"})
        b = t.host("b")
        t.link(a, b)
        out = []
        for args in (
            ["getent", "hosts", "b"],
            ["ping", "-c", "1", "-W", "5", "b"],
            ["cat", "/etc/pyns-rootless.conf", "/etc/hostname"],
            ["sh", "-c", "touch /run/x && ls /run"],
        ):
            p = a.spawn(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out.append(p.communicate(timeout=60)[0].decode())
        return out


def _check_rootless(out: list[str]) -> None:
    assert out[0].split() == ["fd00::2", "b"]  # getent hosts: IPv6 first
    assert "1 received" in out[1]
    assert out[2] == "ok\na\n"
    assert out[3] == "x\n"


def _rootless_enter() -> tuple[str, str]:
    """host.enter() in a user namespace: the host's names where the thread's own mount
    namespace is the child's (mnt=True), the machine's /etc where it is not."""
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        with a.enter():
            return socket.gethostbyname("b"), Path("/etc/hostname").read_text()


@pytest.mark.requires_userns
def test_names_and_files_work_rootless() -> None:
    _check_rootless(pyns.run(_rootless, user=True, map_root=True, net=True, uts=True))
    assert not os.path.lexists("/etc/pyns-rootless.conf")
    kw = dict(user=True, map_root=True, net=True, uts=True)
    assert pyns.run(_rootless_enter, mnt=True, **kw) == ("10.0.0.2", "a\n")
    with pytest.raises(socket.gaierror):  # enter() could not come back from a's mount ns
        pyns.run(_rootless_enter, **kw)


@pytest.mark.requires_userns
def test_names_and_files_work_as_nobody(nobody) -> None:
    # The function's source, not an import: uid 65534 may not read the checkout.
    r = nobody(
        "import json, subprocess\nimport pyns\nfrom pyns.testing import Topology\n"
        + inspect.getsource(_rootless)
        + "print(json.dumps(pyns.run(_rootless, user=True, map_root=True, net=True, uts=True)))\n"
    )
    assert r.returncode == 0, r.stderr
    _check_rootless(json.loads(r.stdout))
