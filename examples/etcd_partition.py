"""Jepsen's classic on one machine: a 3-node etcd cluster on hosts behind two routers; the
leader is cut off from the others (``partition_groups``), the majority elects a new leader and
takes writes, a write to the old leader fails (times out), and after ``heal()`` all three
converge on one leader and one history (the old leader's write was never committed).

Needs Debian's etcd-server and etcd-client (``apt-get install etcd-server etcd-client``).
Every step waits on a condition (``etcdctl endpoint status`` polled until a deadline), never
on a sleep. Run as root: python3 examples/etcd_partition.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Optional

from pyns.testing import Host, Topology

NAMES = ("n1", "n2", "n3")
#: How long a step may take before the example gives up (a busy machine is slow).
DEADLINE_S = 60.0


def missing() -> Optional[str]:
    """The Debian packages that are missing, or None when etcd and etcdctl are there."""
    need = [pkg for prog, pkg in (("etcd", "etcd-server"), ("etcdctl", "etcd-client"))
            if shutil.which(prog) is None]  # fmt: skip
    return " ".join(need) or None


def until(what: str, check: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    """Polls `check` until it returns something true; its value. Raises TimeoutError naming
    `what` when the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise TimeoutError(f"etcd: no {what} within {deadline_s:.0f} s")


def url(host: Host, port: int) -> str:
    return f"http://{host.ip()}:{port}"


def etcdctl(host: Host, target: Host, *args: str, timeout_s: float = 2.0) -> tuple[int, str]:
    """Runs etcdctl in `host` against `target`'s client URL; (exit status, stdout)."""
    p = host.spawn(
        ["etcdctl", f"--endpoints={url(target, 2379)}", f"--command-timeout={timeout_s}s",
         f"--dial-timeout={timeout_s}s", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={"ETCDCTL_API": "3", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )  # fmt: skip
    out, _ = p.communicate(timeout=timeout_s + 10)
    return p.returncode, out.decode()


def status(host: Host) -> Optional[dict[str, int]]:
    """`etcdctl endpoint status` of the member on `host`: its id, the leader it knows, the
    raft term and index; None when it does not answer."""
    rc, out = etcdctl(host, host, "endpoint", "status", "-w", "json")
    if rc != 0:
        return None
    s = json.loads(out)[0]["Status"]  # fields that are 0 are left out (no leader: no "leader")
    return {"id": s["header"]["member_id"], "leader": s.get("leader", 0),
            "term": s.get("raftTerm", 0), "index": s.get("raftIndex", 0)}  # fmt: skip


def start(t: Topology, hosts: list[Host]) -> None:
    """Starts one etcd member per host, data and log under ``t.directory``."""
    cluster = ",".join(f"{h.name}={url(h, 2380)}" for h in hosts)
    for h in hosts:
        home = os.path.join(t.directory, h.name)
        os.makedirs(home, exist_ok=True)
        log = open(os.path.join(home, "etcd.log"), "wb")
        with log:
            h.spawn(
                ["etcd", "--name", h.name, "--data-dir", os.path.join(home, "data"),
                 "--listen-peer-urls", url(h, 2380), "--initial-advertise-peer-urls", url(h, 2380),
                 "--listen-client-urls", url(h, 2379), "--advertise-client-urls", url(h, 2379),
                 "--initial-cluster", cluster, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "pyns", "--heartbeat-interval", "100",
                 "--election-timeout", "1000"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip


def leader_of(hosts: list[Host], ids: dict[int, Host]) -> Optional[Host]:
    """The leader that every member of `hosts` agrees on, or None."""
    seen = [status(h) for h in hosts]
    leaders = {s["leader"] for s in seen if s}
    if None in seen or len(leaders) != 1 or 0 in leaders:
        return None
    return ids.get(leaders.pop())


def build(t: Topology) -> list[Host]:
    """n1 behind router r1; n2 and n3 behind router r2; r1 - r2."""
    r1, r2 = t.router("r1"), t.router("r2")
    hosts = [t.host(n) for n in NAMES]
    t.link(r1, r2)
    t.link(hosts[0], r1)
    t.link(hosts[1], r2)
    t.link(hosts[2], r2)
    return hosts


def run(t: Topology, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole scenario on `t` (empty); returns what was observed."""
    hosts = build(t)
    start(t, hosts)
    ids: dict[int, Host] = {}
    for h in hosts:
        ids[until(f"answer from {h.name}", lambda h=h: status(h))["id"]] = h
    old = until("leader agreed by all three", lambda: leader_of(hosts, ids))
    say(f"leader: {old.name}")
    others = [h for h in hosts if h is not old]
    assert etcdctl(others[0], others[0], "put", "before", "1")[0] == 0

    t.partition_groups([old], others)
    say(f"partitioned: {old.name} | {' '.join(h.name for h in others)}")
    def new_leader() -> Optional[Host]:
        n = leader_of(others, ids)
        return n if n is not old else None

    new = until("new leader in the majority", new_leader)
    say(f"new leader: {new.name}")
    majority_write = etcdctl(others[0], new, "put", "during", "majority")[0] == 0
    say(f"majority write: {'ok' if majority_write else 'failed'}")
    old_write = etcdctl(old, old, "put", "lost", "minority", timeout_s=3)[0] == 0
    say(f"write to the old leader: {'ok' if old_write else 'failed (timed out)'}")

    t.heal()
    say("healed")
    until("one leader agreed by all three again", lambda: leader_of(hosts, ids))
    def read(h: Host) -> Optional[list[str]]:
        rc, out = etcdctl(h, h, "get", "--prefix", "")
        return out.split() if rc == 0 else None

    values = {h.name: until(f"linearizable read on {h.name}", lambda h=h: read(h)) for h in hosts}
    converged = len({tuple(v) for v in values.values()}) == 1
    say(f"converged: {converged} {values[old.name]}")
    return {
        "old": old.name, "new": new.name, "majority_write": majority_write,
        "old_leader_write": old_write, "values": values, "converged": converged,
    }  # fmt: skip


def main() -> int:
    need = missing()
    if need:
        print(f"needs the Debian packages {need}: apt-get install {need}", file=sys.stderr)
        return 2
    with Topology() as t:
        run(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
