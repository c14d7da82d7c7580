"""`pytest -n 4` (pytest-xdist) on the examples and on tests using the plugin's `topology`
fixture and `Topology(persist=True)`: concurrent topologies never collide on names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pyns
from pyns.testing import Topology

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = [pytest.mark.requires_root, pytest.mark.private_mounts]

SESSION = textwrap.dedent(
    """
    import os, runpy, socket, subprocess

    import pytest

    import pyns
    from pyns.testing import Topology

    EXAMPLES = {examples!r}


    @pytest.mark.parametrize("path", EXAMPLES)
    def test_example(path):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as e:  # an example may end with sys.exit(main())
            assert e.code in (0, None), e.code


    @pytest.mark.parametrize("i", range(8))
    def test_persisted_names_are_unique(i):
        t = Topology(persist=True)
        try:
            a, b = t.host("a"), t.host("b")
            t.link(a, b)
            mine = [f"{{t.prefix}}-a", f"{{t.prefix}}-b"]
            assert set(mine) <= set(pyns.netns.names())
            out = subprocess.run(["ip", "netns", "exec", mine[1], "ip", "-o", "addr"],
                                 capture_output=True, text=True, check=True).stdout
            assert "10.0.0.2/24" in out
        finally:
            t.close()
            for name in (f"{{t.prefix}}-a", f"{{t.prefix}}-b"):
                if name in pyns.netns.names():
                    pyns.netns.remove(name)


    @pytest.mark.parametrize("i", range(8))
    def test_fixture(topology, i):
        a, b = topology.host("a"), topology.host("b")
        topology.link(a, b)
        with a.enter():
            assert socket.gethostbyname("b") == "10.0.0.2"
    """
)


def test_pytest_n_4_runs_examples_and_topologies_in_parallel(tmp_path: Path) -> None:
    examples = sorted(str(p) for p in Path(ROOT, "examples").glob("*.py"))
    (tmp_path / "test_parallel.py").write_text(SESSION.format(examples=examples))
    before = set(pyns.netns.names())
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "4", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_parallel.py")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{len(examples) + 16} passed" in r.stdout
    assert set(pyns.netns.names()) == before


def test_default_prefixes_differ_and_an_explicit_one_is_kept() -> None:
    with Topology() as t1, Topology() as t2:
        assert t1.prefix != t2.prefix
        assert t1.prefix.startswith(f"pyns-{os.getpid()}-")
    assert Topology(prefix="mine").prefix == "mine"
