"""One resolver of namespace targets: every form of target reaches the same namespace, for
every kind, through every entry point (pyns.target, enter, join=, netns=, Host, the CLI)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import pyns
from pyns import net
from pyns.target import resolve

HERE = [k for k in pyns.KINDS if os.path.exists(f"/proc/self/ns/{k}")]
# Where a thread is for a kind after setns: pid and time apply to its children.
ENTRY = {"pid": "pid_for_children", "time": "time_for_children"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="joins namespaces: needs root")


@pytest.fixture
def target():
    """A program in a new namespace of every kind, and its namespaces by kind."""
    flags = {k: True for k in HERE}
    # init=False: the program is the process of p.pid (not a pyns-init beside it).
    p = pyns.spawn(["sleep", "60"], init=False, **flags)
    expected: dict[str, pyns.Namespace] = {}
    try:
        expected.update({k: pyns.Namespace.of(p.pid, k) for k in HERE})
        net.bridge("pyns-tgt0", netns=expected["net"])
        yield p, expected
    finally:
        for ns in [*expected.values(), *p.namespaces.values()]:
            ns.close()
        p.kill()
        p.wait()


def _forms(p: pyns.Process, kind: str) -> dict[str, object]:
    path = f"/proc/{p.pid}/ns/{kind}"
    return {
        "pid": p.pid,
        "Process": p,
        "Namespace": pyns.Namespace.of(p.pid, kind),
        "str path": path,
        "bytes path": os.fsencode(path),
        "pathlib path": pathlib.Path(path),
    }


@pytest.mark.parametrize("kind", HERE)
def test_every_form_resolves_to_the_same_namespace(target, kind):
    p, expected = target
    for form, t in _forms(p, kind).items():
        ns, opened = resolve(t, kind)
        assert ns == expected[kind], form
        assert opened == (form in ("pid", "str path", "bytes path", "pathlib path")), form


@pytest.mark.parametrize("kind", [k for k in HERE if k != "user"])
def test_enter_reaches_it_from_every_form(target, kind):
    p, expected = target
    for form, t in _forms(p, kind).items():
        with pyns.enter(t, **{kind: True}):
            here = pyns.Namespace.open(f"/proc/thread-self/ns/{ENTRY.get(kind, kind)}")
        with here:
            same = here == expected[kind]
        assert same, form


@pytest.mark.parametrize("kind", HERE)
def test_join_reaches_it_from_every_form(target, kind):
    p, expected = target
    for form, t in _forms(p, kind).items():
        q = pyns.spawn(["sleep", "60"], join={kind: t}, init=False)
        try:
            # For pid and time: where the child's children go, which is what it joined.
            entry = ENTRY.get(kind, kind)
            with pyns.Namespace.open(f"/proc/{q.pid}/ns/{entry}") as got:
                same = got == expected[kind]
            assert same, form
        finally:
            q.kill()
            q.wait()


def test_netns_reaches_it_from_every_form_and_a_name(target):
    p, expected = target
    forms = _forms(p, "net")
    with pyns.isolate(mnt=True):  # the name lives in a mount namespace of this test's own
        pyns._native.netns_persist(expected["net"], "pyns-tgt")
        try:
            forms["name"] = "pyns-tgt"
            for form, t in forms.items():
                assert "pyns-tgt0" in [link.name for link in net.links(netns=t)], form
                assert resolve(t, "net")[0] == expected["net"], form
                with pyns.enter(t, net=True):
                    assert pyns.Namespace.current("net") == expected["net"], form
        finally:
            pyns.netns.remove("pyns-tgt")


def test_a_name_is_for_network_namespaces_only(target):
    p, _ = target
    with pytest.raises(ValueError, match="named network namespace"):
        pyns.spawn(["true"], join={"uts": "blue"})
    with pytest.raises(ValueError, match="must be a net namespace, not a uts namespace"):
        net.links(netns=pyns.Namespace.of(p.pid, "uts"))
    with pytest.raises(TypeError, match=r"join\['net'\] must be a pyns.Namespace"):
        pyns.spawn(["true"], join={"net": 1.5})


def test_a_topology_host_is_a_target():
    from pyns.testing import Topology

    with Topology("pyns-tg") as t:
        h = t.host("h1")
        assert resolve(h, "net")[0] == h.netns
        assert resolve(h, "uts")[0] == h.namespaces["uts"]
        with pytest.raises(ValueError, match="no ipc namespace of its own"):
            resolve(h, "ipc")
        assert [link.name for link in net.links(netns=h)] == [
            link.name for link in net.links(netns=h.netns)
        ]
        with pyns.enter(h, uts=True):
            assert pyns.Namespace.current("uts") == h.namespaces["uts"]


def test_cli_enter_uses_the_same_namespaces(target):
    p, expected = target
    # -U: as nsenter, keep our credentials (the target's user namespace maps no ids, so
    # nsenter's default, becoming uid/gid 0 there, would fail with EINVAL as nsenter does).
    for flags, kind in [
        (["-u"], "uts"), (["-n"], "net"), (["-p"], "pid"), (["-U", "--preserve-credentials"], "user")
    ]:
        out = subprocess.run(
            [sys.executable, "-m", "pyns", "enter", "-t", str(p.pid), *flags, "--",
             "readlink", f"/proc/self/ns/{kind}"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        assert out == f"{kind}:[{expected[kind].inode}]"


def test_an_exited_process_is_not_resolved_by_its_old_pid():
    p = pyns.spawn(["true"])
    p.wait()
    with pytest.raises(ProcessLookupError):
        resolve(p, "net")
    with pytest.raises(ProcessLookupError):
        pyns.spawn(["true"], join={"net": p})
