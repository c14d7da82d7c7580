"""Jupyter display: `_repr_html_` of Namespace, the namespaces() snapshot, Process and
Capabilities; plain reprs stay Python literals, and IPython is never imported."""

from __future__ import annotations

import os
import subprocess
import sys

import pyns
from pyns.display import host_inode


def test_namespace_html_says_whether_it_is_the_hosts():
    with pyns.Namespace.current("net") as ns:
        assert repr(ns) == f"Namespace(kind='net', inode={ns.inode})"
        html = ns._repr_html_()
        assert f"<td>net</td><td>{ns.inode}</td><td>{ns.dev}</td><td>yes</td>" in html
    with pyns.isolate(uts=True) as iso:
        assert "<td>no (new)</td>" in iso.namespaces["uts"]._repr_html_()
    assert "(closed)" in ns._repr_html_()


def test_namespaces_snapshot_is_a_dict_with_a_table():
    snap = pyns.namespaces()
    try:
        assert isinstance(snap, dict) and set(snap) == set(pyns.KINDS)
        assert repr(snap) == repr(dict(snap))  # Python literals, as a dict's
        html = snap._repr_html_()
        assert html.count("<tr>") == len(snap) + 1
        assert f"<td>uts</td><td>{snap['uts'].inode}</td><td>yes</td>" in html
    finally:
        for ns in snap.values():
            ns.close()


def test_process_html_shows_state_and_new_namespaces():
    p = pyns.spawn(["sleep", "30"], uts=True, net=True)
    try:
        html = p._repr_html_()
        assert f"<td>{p.pid}</td><td>sleep 30</td><td>running</td>" in html
        # uts and net are new; so is any other kind in which this test runs apart from PID 1
        # (e.g. mnt, when the suite itself runs under `unshare -m`).
        apart = [
            k for k in pyns.KINDS
            if k not in ("uts", "net") and os.path.exists(f"/proc/self/ns/{k}")
            and host_inode(k) not in (None, os.stat(f"/proc/self/ns/{k}").st_ino)
        ]  # fmt: skip
        assert "<td>net</td>" in html and html.count("no (new)") == 2 + len(apart)
    finally:
        p.kill()
        p.wait()
    assert "killed by signal 9" in p._repr_html_()
    assert repr(p).startswith("<pyns.Process pid=")


def test_capabilities_html_lists_the_sets_escaped():
    html = pyns.capabilities()._repr_html_()
    assert "<td>effective</td>" in html and "sys_admin" in html
    assert "<td>ambient</td><td>0</td><td>—</td>" in html
    assert repr(pyns.capabilities()).startswith("Capabilities(effective=frozenset({")


def test_rootless_html_and_no_ipython_import(nobody):
    r = nobody(
        """
        import sys, pyns
        snap = pyns.namespaces()
        # PID 1's namespaces are not visible to 65534: the kernel's initial ones are the host's
        print(f"<td>uts</td><td>{snap['uts'].inode}</td><td>yes</td>" in snap._repr_html_())
        print(pyns.capabilities()._repr_html_().count("<td>0</td>"))  # all but bounding
        print("IPython" in sys.modules)
        """
    )
    assert r.stdout.split() == ["True", "4", "False"], r.stderr


def test_cells_are_escaped():
    from pyns.display import _table

    assert "<td>&lt;b&gt;</td>" in _table("t", ("h",), [("<b>",)])


def test_display_module_does_not_import_ipython():
    code = "import sys, pyns, pyns.display, pyns.cli, pyns.tour; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"


def test_topology_html_lists_nodes_links_and_addresses():
    from pyns.testing import Topology

    with Topology() as t:
        a, b = t.host("a"), t.host("b<i>")
        r = t.router("r")
        t.link(a, r, subnet="10.9.1.0/24")
        t.link(r, b, subnet="10.9.2.0/24")
        t.partition(r, b)
        page = t._repr_html_()
        assert "<td>a</td><td>host</td><td>eth0</td><td>10.9.1.1/24, fd00:0:0:901::1/64</td>" in page
        assert "<td>r</td><td>router</td><td>eth0, eth1</td>" in page
        assert "b&lt;i&gt;" in page and "<i>" not in page
        assert "<td>10.9.2.0/24</td><td>10.9.2.1/24, 10.9.2.2/24</td><td>partitioned</td>" in page
        assert repr(t).startswith("<pyns.testing.Topology")
    assert "Topology (closed)" in t._repr_html_()
