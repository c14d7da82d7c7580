"""Host helpers of pyns.testing: host.exec, host.wait_port, host.wait_until, spawn(log=) and
host.logs(), privileged and rootless."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

import pyns
from pyns.testing import Host, Topology

pytestmark = pytest.mark.requires_root

# A TCP server that listens, says so, and on a line from stdin tells whether a connection
# was waiting to be accepted (so a test sees whether anyone connected to it).
LISTENER = """
import socket, sys
s = socket.create_server(("", int(sys.argv[1])), family=socket.AF_INET6, dualstack_ipv6=True)
print("listening", flush=True)
sys.stdin.readline()
s.setblocking(False)
try:
    s.accept()
    print("connected", flush=True)
except BlockingIOError:
    print("nobody connected", flush=True)
"""


def pair() -> tuple[Topology, Host, Host]:
    t = Topology()
    a, b = t.host("a"), t.host("b")
    t.link(a, b, subnet="10.9.0.0/24")
    return t, a, b


# ---------------------------------------------------------------------- exec


def test_exec_runs_inside_the_host_and_captures_text() -> None:
    t, a, _ = pair()
    with t:
        r = a.exec(["sh", "-c", "hostname; echo oops >&2; ip -brief addr show eth0"])
        assert isinstance(r, subprocess.CompletedProcess)
        assert r.returncode == 0 and r.args == ["sh", "-c", r.args[2]]
        lines = r.stdout.splitlines()
        assert lines[0] == "a" and "10.9.0.1/24" in lines[1]
        assert r.stderr == "oops\n"
        assert a.processes == []  # reaped


def test_exec_input_bytes_and_stdin() -> None:
    t, a, _ = pair()
    with t:
        assert a.exec(["cat"], input="héllo\n").stdout == "héllo\n"
        assert a.exec(["cat"], input=b"\xff\x00", text=False).stdout == b"\xff\x00"
        assert a.exec(["cat"]).stdout == ""  # stdin is /dev/null, not the test's
        r = a.exec(["sh", "-c", "echo $X"], env={"X": "42", "PATH": os.environ["PATH"]})
        assert r.stdout == "42\n"
        with pytest.raises(ValueError, match="stdin and input"):
            a.exec(["cat"], input="x", stdin=subprocess.DEVNULL)


def test_exec_check_raises_called_process_error_with_the_output() -> None:
    t, a, _ = pair()
    with t:
        with pytest.raises(subprocess.CalledProcessError) as e:
            a.exec(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (e.value.returncode, e.value.stdout, e.value.stderr) == (3, "out\n", "err\n")
        assert e.value.cmd[0] == "sh"
        r = a.exec(["sh", "-c", "exit 4"], check=False)
        assert r.returncode == 4


def test_exec_timeout_kills_and_reaps_the_program() -> None:
    t, a, _ = pair()
    with t:
        with pytest.raises(subprocess.TimeoutExpired) as e:
            a.exec(["sleep", "60"], timeout=0.1)
        assert e.value.timeout == 0.1 and e.value.cmd == ["sleep", "60"]
        assert a.processes == []  # killed and reaped, no zombie left


def test_exec_bad_arguments_before_anything_starts() -> None:
    t, a, _ = pair()
    with t:
        with pytest.raises(ValueError, match="timeout"):
            a.exec(["true"], timeout=-1)
        with pytest.raises(TypeError, match="timeout"):
            a.exec(["true"], timeout="1")
        with pytest.raises(TypeError, match="check"):
            a.exec(["true"], check=1)
        with pytest.raises(FileNotFoundError):
            a.exec(["/no/such/program"])
        assert a.processes == []


# ---------------------------------------------------------------------- wait_port


def test_wait_port_sees_a_listener_without_connecting_to_it() -> None:
    t, a, b = pair()
    with t:
        with pytest.raises(TimeoutError, match="tcp port 7001 in host 'b'"):
            b.wait_port(7001, timeout=0)
        srv = b.spawn(
            [sys.executable, "-c", LISTENER, "7001"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        b.wait_port(7001, timeout=30)
        with pytest.raises(TimeoutError, match="host 'a'"):  # in b's netns, not a's
            a.wait_port(7001, timeout=0)
        out, _ = srv.communicate("go\n", timeout=30)
        assert out == "listening\nnobody connected\n"


def test_wait_port_then_connect_works_at_once() -> None:
    t, a, b = pair()
    with t:
        b.spawn(
            [sys.executable, "-m", "http.server", "8000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        b.wait_port(8000, timeout=30)
        r = a.exec(
            [
                "python3",
                "-c",
                "import urllib.request as u; " f"print(u.urlopen('http://{b.ip()}:8000/').status)",
            ]
        )
        assert r.stdout == "200\n"


def test_wait_port_udp_ipv6() -> None:
    t, _, b = pair()
    code = (
        "import socket, sys; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
        "s.bind(('::1', 5353)); sys.stdin.read()"
    )
    with t:
        with pytest.raises(TimeoutError, match="udp port 5353"):
            b.wait_port(5353, proto="udp", timeout=0)
        p = b.spawn([sys.executable, "-c", code], stdin=subprocess.PIPE)
        b.wait_port(5353, proto="udp", timeout=30)
        with pytest.raises(TimeoutError):  # bound to UDP, not listening on TCP
            b.wait_port(5353, timeout=0)
        p.communicate(b"", timeout=30)


def test_wait_port_bad_arguments() -> None:
    t, a, _ = pair()
    with t:
        for port, err in (
            (0, ValueError),
            (65536, ValueError),
            ("80", TypeError),
            (True, TypeError),
        ):
            with pytest.raises(err, match="port"):
                a.wait_port(port, timeout=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="proto"):
            a.wait_port(80, timeout=1, proto="sctp")
        with pytest.raises(ValueError, match="timeout"):
            a.wait_port(80, timeout=float("nan"))
    with pytest.raises(ValueError, match="closed"):
        a.wait_port(80, timeout=1)


# ---------------------------------------------------------------------- wait_until


def test_wait_until_returns_the_true_value_and_raises_timeout_error() -> None:
    t, a, _ = pair()
    with t:
        calls = []

        def third() -> list[int]:
            calls.append(1)
            return calls if len(calls) >= 3 else []

        assert a.wait_until(third, timeout=30) == [1, 1, 1]
        with pytest.raises(TimeoutError, match="returned None after 0 s"):
            a.wait_until(lambda: None, timeout=0)

        def boom() -> bool:
            raise KeyError("inner")

        with pytest.raises(KeyError, match="inner"):
            a.wait_until(boom, timeout=30)
        with pytest.raises(TypeError, match="callable"):
            a.wait_until(3, timeout=1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- logs


def test_spawn_log_writes_pid_program_log_and_logs_reads_it() -> None:
    with Topology() as t:
        a = t.host("a")
        assert a.logs() == {}
        p = a.spawn(["sh", "-c", "echo to-out; echo to-err >&2"], log=True)
        p.wait()
        q = a.spawn(["echo", "second"], log=True)
        q.wait()
        name = f"{p.pid}-sh.log"
        assert os.path.isfile(os.path.join(t.directory, "a", name))
        logs = a.logs()
        assert list(logs) == [name, f"{q.pid}-echo.log"]
        assert sorted(logs[name].splitlines()) == ["to-err", "to-out"]
        assert logs[f"{q.pid}-echo.log"] == "second\n"
        # Not logged: without log=, and where the stream is redirected.
        a.spawn(["true"]).wait()
        r = a.spawn(["sh", "-c", "echo piped; echo logged >&2"], log=True, stdout=subprocess.PIPE)
        assert r.communicate()[0] == b"piped\n"
        assert a.logs()[f"{r.pid}-sh.log"] == "logged\n"
        assert len(a.logs()) == 3
        with pytest.raises(TypeError, match="log"):
            a.spawn(["true"], log="yes")
        directory = t.directory
    assert not os.path.exists(directory) and a.logs() == {}  # gone with the topology


def test_a_spawn_that_fails_leaves_no_log_file() -> None:
    with Topology(log=True) as t:
        a = t.host("a")
        with pytest.raises(FileNotFoundError):
            a.spawn(["/no/such/program"])
        assert os.listdir(os.path.join(t.directory, "a")) == []
        assert a.logs() == {}


def test_the_topology_fixture_logs_by_default(topology) -> None:
    assert topology.log is True
    a = topology.host("a")
    p = a.spawn(["echo", "from the fixture"])
    p.wait()
    assert a.logs() == {f"{p.pid}-echo.log": "from the fixture\n"}


# ---------------------------------------------------------------------- rootless


@pytest.mark.requires_userns
def test_rootless_exec_wait_port_and_logs(nobody) -> None:
    out = nobody(
        f"""
        import os, subprocess, sys, pyns
        from pyns.testing import Topology

        def build():
            with Topology(log=True) as t:
                a, b = t.host("a"), t.host("b")
                t.link(a, b)
                who = a.exec(["sh", "-c", "hostname; id -u"]).stdout.split()
                srv = b.spawn([sys.executable, "-c", {LISTENER!r}, "7002"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                b.wait_port(7002, timeout=30)
                out = srv.communicate(b"go\\n", timeout=30)[0].decode().split("\\n")[1]
                p = b.spawn(["echo", "logged"]); p.wait()
                return who, out, list(b.logs().values()), os.getuid()

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(['a', '0'], 'nobody connected', ['', 'logged\\n'], 0)"


def test_wait_port_reads_the_namespace_with_a_socket_born_there() -> None:
    """sock_diag answers from the namespace its socket was made in (the native under it)."""
    t, a, _ = pair()
    with t:
        with a.enter():
            srv = socket.create_server(("", 0))
        with srv:
            a.wait_port(srv.getsockname()[1], timeout=30)
            with pytest.raises(TimeoutError):
                t.host("c").wait_port(srv.getsockname()[1], timeout=0)
        fd = pyns._native.net_socket(socket.AF_INET, socket.SOCK_DGRAM, 0, netns=a.netns)
        os.close(fd)


def test_waiting_backs_off_instead_of_spinning() -> None:
    """A wait that fails costs a few looks, not a core: CPU time, not wall time, is checked."""
    t, a, _ = pair()
    with t:
        looks = []
        cpu = time.process_time()
        with pytest.raises(TimeoutError):
            a.wait_until(lambda: looks.append(1), timeout=0.5)
        with pytest.raises(TimeoutError):
            a.wait_port(9, timeout=0.5)
        assert len(looks) < 40  # 1, 2, 4, ... 50 ms: about 15 looks in 0.5 s
        assert time.process_time() - cpu < 0.25


def test_node_names_that_are_not_directory_names_are_refused() -> None:
    """A host's logs live in <t.directory>/<host>/: '..' would put them outside."""
    with Topology(log=True) as t:
        for name in (".", ".."):
            with pytest.raises(ValueError, match="not '.' or '..'"):
                t.host(name)
        assert t.hosts == []
