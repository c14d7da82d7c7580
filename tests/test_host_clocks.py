"""Per-host clocks: `Topology.host(name, monotonic=, boottime=)` shifts CLOCK_MONOTONIC and
CLOCK_BOOTTIME for the programs the host spawns (time namespaces), read by real programs
(`cat /proc/uptime`, Python's time.monotonic); CLOCK_REALTIME is the same everywhere.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pyns.testing import Topology

pytestmark = pytest.mark.requires_root

DAY = 86400.0
CLOCKS = (
    "import time; print(time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME), time.time())"
)


def clocks(host) -> tuple[float, float, float]:
    p = host.spawn([sys.executable, "-c", CLOCKS], stdout=subprocess.PIPE)
    out = p.communicate()[0].decode().split()
    assert p.returncode == 0
    return float(out[0]), float(out[1]), float(out[2])


def uptime(host) -> float:
    p = host.spawn(["cat", "/proc/uptime"], stdout=subprocess.PIPE)
    return float(p.communicate()[0].split()[0])


def test_a_host_s_programs_see_its_clock_offsets(topology: Topology) -> None:
    old = topology.host("old", monotonic=10 * DAY, boottime=365 * DAY)
    plain = topology.host("plain")
    before = (time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME))
    mono, boot, wall = clocks(old)
    after = (time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME))
    assert before[0] + 10 * DAY <= mono <= after[0] + 10 * DAY
    assert before[1] + 365 * DAY <= boot <= after[1] + 365 * DAY
    assert abs(wall - time.time()) < DAY  # the wall clock is not shifted
    assert uptime(old) >= before[1] + 365 * DAY
    assert old.run(time.monotonic) >= before[0] + 10 * DAY  # host.run too
    assert uptime(plain) < 365 * DAY <= uptime(old)
    assert clocks(plain)[0] < mono
    assert old.clocks == {"monotonic": 10 * DAY, "boottime": 365 * DAY} and plain.clocks == {}


def test_negative_offsets_and_bad_ones(topology: Topology) -> None:
    up = time.clock_gettime(time.CLOCK_BOOTTIME)
    young = topology.host("young", boottime=-up / 2)
    assert uptime(young) < up
    with pytest.raises(TypeError, match="monotonic"):
        topology.host("x", monotonic="1")
    with pytest.raises(ValueError, match="boottime"):
        topology.host("x", boottime=float("inf"))
    assert "x" not in [h.name for h in topology.hosts]  # nothing made


def test_rootless_host_clocks_inside_a_user_namespace(nobody) -> None:
    out = nobody(
        """
        import subprocess, pyns
        from pyns.testing import Topology

        def build():
            with Topology() as t:
                h = t.host("h", boottime=1000 * 86400)
                p = h.spawn(["cat", "/proc/uptime"], stdout=subprocess.PIPE)
                return float(p.communicate()[0].split()[0]) >= 1000 * 86400

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
