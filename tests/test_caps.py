"""pyns.capabilities: the five sets by name, for this process, another one, and inside."""

from __future__ import annotations

import os

import pytest

import pyns

with open("/proc/sys/kernel/cap_last_cap") as _f:
    LAST = int(_f.read())


def test_root_has_every_capability_the_kernel_knows():
    caps = pyns.capabilities()
    assert "cap_sys_admin" in caps.effective
    assert 30 < len(caps.bounding) <= LAST + 1
    assert caps.effective <= caps.permitted
    assert isinstance(caps.ambient, frozenset)
    assert repr(caps).startswith("Capabilities(effective=frozenset({'cap_")


def test_of_another_process_and_missing_ones():
    with pyns.spawn(["sleep", "30"], user=True, map_root=True) as p:
        # capget sees the child's sets; after exec as root inside they are full.
        assert len(pyns.capabilities(p.pid).effective) == LAST + 1
        p.kill()
    with pytest.raises(ProcessLookupError):
        pyns.capabilities(2**22 + 1)
    with pytest.raises(ValueError):
        pyns.capabilities(-1)


def test_full_inside_a_user_namespace_and_empty_outside_as_nobody(nobody):
    r = nobody(
        """
        import pyns
        print(len(pyns.capabilities().effective), len(pyns.capabilities().permitted))
        print(pyns.run(lambda: len(pyns.capabilities().effective), user=True))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0", str(LAST + 1)]


def test_names_match_capsh():
    caps = pyns.capabilities(os.getpid())
    assert {"cap_chown", "cap_net_admin", "cap_sys_time"} <= caps.bounding
