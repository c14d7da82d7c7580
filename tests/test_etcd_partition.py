"""The proof of issue 12: a real 3-node etcd cluster (Debian's etcd-server) on hosts behind two
routers, its leader cut off with partition_groups: the majority elects a new leader and takes
writes, the old leader's write times out, and after heal() all converge. Runs
examples/etcd_partition.py's scenario; skips (naming the packages) only when etcd-server and
etcd-client cannot be installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from types import ModuleType

import pytest

from pyns.testing import Topology

pytestmark = pytest.mark.requires_root

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "etcd_partition", os.path.join(ROOT, "examples", "etcd_partition.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_or_skip(mod: ModuleType) -> None:
    """Installs the missing packages with apt-get (as tests/run.sh does); skips naming them
    only when that fails."""
    need = mod.missing()
    if need is None:
        return
    if shutil.which("apt-get") is not None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need.split()],
                    ["sh", "-c", f"apt-get update -qq && apt-get install -y -qq "
                     f"--no-install-recommends {need}"]):  # fmt: skip
            subprocess.run(cmd, env=env, capture_output=True, timeout=600)
            if mod.missing() is None:
                return
    pytest.skip(f"needs the Debian packages {need} (apt-get install {need} failed)")


def test_etcd_leader_cut_off_majority_moves_on_and_all_converge(topology: Topology) -> None:
    mod = example()
    install_or_skip(mod)
    said: list[str] = []
    got = mod.run(topology, say=said.append)
    assert got["new"] != got["old"], said
    assert got["majority_write"] and not got["old_leader_write"], said
    assert got["converged"], got
    # The majority's write is everywhere; the old leader's never committed.
    for values in got["values"].values():
        assert values == ["before", "1", "during", "majority"], got
    # Logs went under the topology's own directory.
    assert os.path.getsize(os.path.join(topology.directory, got["old"], "etcd.log")) > 0
