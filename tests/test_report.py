"""The failure report (pyns.testing.report) and the pytest plugin's options that use it:
the `pyns topology` section of a failing test, --pyns-keep, --pyns-capture."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyns import net
from pyns.testing import Topology
from pyns.testing.report import format_route, report

pytestmark = pytest.mark.requires_root

PYNS = [sys.executable, "-m", "pyns"]


def _ip(t_pid: int, fd: int, *args: str) -> str:
    """`ip ARGS` inside the network namespace held by fd `fd` of process `t_pid`."""
    out = subprocess.run(
        ["nsenter", f"--net=/proc/{t_pid}/fd/{fd}", "ip", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def _routed() -> Topology:
    t = Topology()
    a, b, r = t.host("a"), t.host("b"), t.router("r")
    t.link(a, r)
    t.link(r, b)
    t.link(t.switch("s"), a)
    return t


# ---------------------------------------------------------------- the report itself


def test_routes_read_as_ip_route_prints_them():
    with _routed() as t:
        for h in t.hosts:
            mine = [format_route(r) for r in net.routes(netns=h.netns) if r.family == "inet"]
            ip = [x.strip() for x in _ip(os.getpid(), h.netns.fileno(), "route").splitlines()]
            assert mine == ip, h.name
            assert mine  # each has its connected networks at least


def test_route_src_is_the_preferred_source():
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b, subnet="10.9.0.0/24")
        (r,) = [r for r in net.routes(netns=a.netns) if r.family == "inet"]
        assert (r.dst, r.src, r.protocol, r.scope) == ("10.9.0.0/24", "10.9.0.1", "kernel", "link")
        assert format_route(r) == "10.9.0.0/24 dev eth0 proto kernel scope link src 10.9.0.1"


def test_qdiscs_read_what_tc_shows():
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        net.shape("eth0", rate_mbit=10, netns=a.netns)
        found = {q.link: q for q in net.qdiscs(netns=a.netns)}
        assert found["eth0"].kind == "tbf" and found["eth0"].parent == "root"
        tc = subprocess.run(
            ["nsenter", f"--net=/proc/{os.getpid()}/fd/{a.netns.fileno()}", "tc", "qdisc", "show", "dev", "eth0"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert f"qdisc tbf {found['eth0'].handle} root" in tc
        net.blackhole("eth0", netns=a.netns)
        assert {q.kind for q in net.qdiscs(netns=a.netns) if q.link == "eth0"} == {"blackhole"}


def test_report_shows_nodes_addresses_routes_qdiscs_partitions_processes():
    with _routed() as t:
        a, b = t["a"], t["b"]
        t.shape(a, "r", rate_mbit=10)
        t.partition(a, b)
        sleeper = b.spawn(["sleep", "1000"])
        failed = b.spawn(["sh", "-c", "exit 3"])
        failed.wait()
        text = report(t)
    lines = text.splitlines()
    assert lines[0].startswith("4 nodes, 3 links, owner pid ")
    assert "partitions: a -> b, b -> a" in lines
    assert "  a eth0 10.0.0.1/24 <-> r eth0 10.0.0.2/24  (up, shaped rate_mbit=10)" in lines
    for title in ("host a", "host b", "router r", "switch s  (bridge br0, subnet 10.0.2.0/24)"):
        assert title in lines
    block = text.split("\nhost b\n")[1].split("\n\n")[0]
    assert "  partitioned: to a, from a" in block
    assert "default via 10.0.1.1 dev eth0" in block
    assert "10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2" in block
    assert any(x.split()[:4] == ["eth0", "UP", "mtu", "1500"] and "10.0.1.2/24" in x and x.endswith("-> r eth1") for x in block.splitlines())  # fmt: skip
    assert f"pid {sleeper.pid}  running  sleep 1000" in block
    assert f"pid {failed.pid}  exited 3  sh -c exit 3" in block
    a_block = text.split("\nhost a\n")[1].split("\n\n")[0]
    assert any(x.strip().startswith("eth0: tbf 1: root  sent ") for x in a_block.splitlines())
    switch = text.split("\nswitch s")[1]
    assert "-> a eth1 (port of br0)" in switch and "routes:" not in switch
    assert all(x == x.rstrip() for x in lines)


def test_report_shows_paused_and_killed_programs():
    with Topology() as t:
        h = t.host("h")
        p = h.spawn(["sleep", "1000"])
        h.pause()
        os.waitid(os.P_PID, p.pid, os.WSTOPPED | os.WNOWAIT)  # until the stop has happened
        assert f"pid {p.pid}  stopped (paused)  sleep 1000" in report(t)
        h.resume()
        p.kill()
        p.wait()
        assert f"pid {p.pid}  killed by SIGKILL  sleep 1000" in report(t)


def test_report_shows_the_last_lines_of_each_log():
    with Topology() as t:
        h = t.host("h")
        text = "".join(f"line {i}\n" for i in range(50))
        h.logs = lambda: {"12-server.log": text, "13-client.log": ""}  # type: ignore[attr-defined]
        out = report(t, log_lines=5)
    assert "    log 12-server.log (last 5 lines):\n      | line 45\n" in out
    assert "      | line 49\n" in out and "line 44" not in out
    assert "    log 13-client.log (last 0 lines):" in out


def test_a_big_topology_shows_the_first_nodes_in_detail():
    with Topology() as t:
        for name in "abcd":
            t.host(name)
        t.link("a", "b")
        t.link("c", "d")
        t.link("a", "c")
        text = report(t, max_nodes=1)
    assert "\nhost a\n" in text and "\nhost b\n" not in text
    assert text.endswith("\n3 more nodes (not shown): b c d\n")
    assert "  ... and 1 more" in text.splitlines()  # 2 * max_nodes links, then a count
    with pytest.raises(ValueError, match="max_nodes"):
        report(t, max_nodes=-1)


def test_report_of_a_closed_topology_says_so():
    t = Topology()
    t.host("h")
    t.close()
    assert "torn down" in report(t)
    with pytest.raises(ValueError, match="log_lines"):
        report(t, log_lines=-1)


# ---------------------------------------------------------------- a real failing pytest run

FAILING = '''
import pytest
from pyns.testing import Topology

def test_fixture(topology):
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b, subnet="10.7.0.0/24")
    b.spawn(["sleep", "1000"])
    assert False, "the fixture's test fails"

def test_own():
    with Topology() as t:
        t.host("mine")
        assert False, "a test's own topology"

def test_passes(topology):
    topology.host("fine")
'''


def _pytest(tmp_path: Path, source: str, *args: str, name: str = "test_it.py",
            **kw) -> subprocess.CompletedProcess[str]:  # fmt: skip
    (tmp_path / name).write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", name, *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, **kw,
    )  # fmt: skip


def _sections(out: str) -> list[str]:
    """The texts of the `pyns topology` sections in pytest's output."""
    parts = out.split(" pyns topology -")[1:]
    return [p.split("\n", 1)[1].split("\n____")[0].split("\n====")[0] for p in parts]


def test_a_failing_test_gets_a_pyns_topology_section(tmp_path):
    r = _pytest(tmp_path, FAILING)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 failed, 1 passed" in r.stdout
    sections = _sections(r.stdout)
    assert len(sections) == 2, r.stdout
    fixture, own = sections
    assert fixture.startswith("the topology fixture: 2 nodes, 1 link,")
    assert "host a" in fixture and "10.7.0.0/24 dev eth0 proto kernel scope link src 10.7.0.1" in fixture
    assert "running  sleep 1000" in fixture
    assert own.startswith("a Topology of the test, left by an exception: 1 node, 0 links,")
    assert "host mine" in own
    assert "fine" not in r.stdout  # a passing test has no report
    print(r.stdout)  # what a person sees (README's example comes from here)


def test_keep_without_a_terminal_waits_only_for_the_timeout(tmp_path):
    source = FAILING.split("def test_own")[0]
    r = _pytest(tmp_path, source, "--pyns-keep", start_new_session=True, stdin=subprocess.DEVNULL)
    assert "pyns topology exec" in r.stdout and "no terminal and no --pyns-keep-timeout" in r.stdout
    r = _pytest(tmp_path, source, "--pyns-keep", "--pyns-keep-timeout", "0.2",
                start_new_session=True, stdin=subprocess.DEVNULL)  # fmt: skip
    assert "no terminal to tear it down, tearing down in 0.2 s at the latest" in r.stdout
    assert "1 failed" in r.stdout


def test_keep_holds_the_topology_until_enter(tmp_path):
    """In a terminal (script(1) gives one), the failing test's topology stays until Enter: the
    printed command enters its nodes, and --pyns-pause stops its programs meanwhile."""
    (tmp_path / "test_it.py").write_text(textwrap.dedent(FAILING.split("def test_own")[0]))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cmd = f"{sys.executable} -m pytest -p no:cacheprovider -q test_it.py --pyns-keep --pyns-pause"
    with subprocess.Popen(["script", "-qfec", cmd, "/dev/null"], cwd=tmp_path, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as p:  # fmt: skip
        assert p.stdout is not None and p.stdin is not None
        try:
            seen = []
            for line in p.stdout:
                seen.append(line)
                if "press Enter to tear it down" in line:
                    break
            enter = [x.split() for x in seen if "pyns topology exec" in x]
            assert [x[-3] for x in enter] == ["a", "b"], seen
            pid = enter[0][-4]
            script = "hostname; ip -br addr; pgrep --ns $$ --nslist net -x sleep"
            out = subprocess.run([*PYNS, "topology", "exec", pid, "b", "--", "sh", "-c", script],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
            host, *rest = out.splitlines()
            assert host == "b" and any("10.7.0.2/24" in x for x in rest)
            with open(f"/proc/{rest[-1].strip()}/stat") as f:
                assert f.read().rsplit(")", 1)[1].split()[0] == "T"  # paused
            p.stdin.write("\n")
            p.stdin.flush()
            rest_out = p.stdout.read()
        except BaseException:
            p.kill()
            raise
    assert "1 failed" in rest_out
    assert not subprocess.run([*PYNS, "topology", "ls", "--json"], capture_output=True,
                              text=True).stdout.count(f'"pid": {pid},')  # fmt: skip


CAPTURING = '''
import contextlib, os
import pytest
from pyns.testing import Topology

if not hasattr(Topology, "capture"):  # before the capture helper is merged: a stand-in
    class _Capture:
        def __init__(self, path):
            self.path = path
        def __enter__(self):
            open(self.path, "wb").close()
            return self
        def __exit__(self, *exc):
            return None
    Topology.capture = lambda self, what, path=None: _Capture(path)

def test_fails(topology):
    topology.link(topology.host("a"), topology.host("b"))
    assert False

def test_passes(topology):
    topology.link(topology.host("c"), topology.host("d"))
'''


def test_capture_lists_the_pcap_files_of_failing_tests(tmp_path):
    r = _pytest(tmp_path, CAPTURING, "--pyns-capture", f"--basetemp={tmp_path / 'tmp'}")
    assert "1 failed, 1 passed" in r.stdout, r.stdout
    (section,) = _sections(r.stdout)
    (line,) = [x for x in section.splitlines() if x.startswith("capture a eth0 <-> b eth0: ")]
    path = Path(line.split(": ", 1)[1])
    assert path.name == "a-eth0--b-eth0.pcap" and path.exists()
    assert not list((tmp_path / "tmp").rglob("c-eth0--d-eth0.pcap"))  # the passing test's: gone


def test_capture_without_topology_capture_says_so(tmp_path):
    if hasattr(Topology, "capture"):
        pytest.skip("this pyns has Topology.capture")
    r = _pytest(tmp_path, FAILING, "--pyns-capture")
    assert "pyns: --pyns-capture: this pyns has no Topology.capture" in r.stdout
    assert "2 failed, 1 passed" in r.stdout


def test_skips_and_interrupts_are_not_failures(tmp_path):
    source = '''
import pytest
from pyns.testing import Topology

def test_skips():
    with Topology() as t:
        t.host("a")
        pytest.skip("not here")

def test_fails_after_an_interrupt_inside():
    with pytest.raises(KeyboardInterrupt):
        with Topology() as t:
            t.host("b")
            raise KeyboardInterrupt
    assert False
'''
    r = _pytest(tmp_path, source, "--pyns-keep", start_new_session=True, stdin=subprocess.DEVNULL)
    assert "1 failed, 1 skipped" in r.stdout
    assert _sections(r.stdout) == [] and "pyns topology exec" not in r.stdout


def _normal(text: str) -> list[str]:
    """Lines without what changes from run to run: pids, link-local addresses, rule widths."""
    text = re.sub(r"pid \d+", "pid N", text)
    text = re.sub(r"pyns-topology-[\w-]+", "pyns-topology-X", text)
    text = re.sub(r"\b\d+-(\S+)\.log\b", r"N-\1.log", text)
    text = re.sub(r"fe80::[0-9a-f:]+/64", "fe80::X/64", text)
    text = re.sub(r"^[-=]+ (.*?) [-=]+$", r"-- \1 --", text, flags=re.M)
    return [x.rstrip() for x in text.splitlines()]


def test_the_readme_shows_what_the_plugin_prints(tmp_path):
    """README's pytest section: its failing test, run, prints the report shown under it (lines
    in this order; more lines, such as logs, may come between)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (code,) = re.findall(r"^```python\n(# test_web\.py.*?)^```$", readme, flags=re.M | re.S)
    (shown,) = re.findall(r"^```text\n(-+ pyns topology -+\n.*?)^```$", readme, flags=re.M | re.S)
    r = _pytest(tmp_path, code, "--tb=short", name="test_web.py")
    assert r.returncode == 1, r.stdout
    real = iter(_normal(r.stdout))
    missing = [line for line in _normal(shown) if not any(line == x for x in real)]
    assert missing == [], r.stdout
