"""The failure report of a ``Topology``: what the pytest plugin shows under ``pyns topology``.

A pure function of a live topology: every node with its interfaces, addresses, routes (as
``ip route`` prints them), qdiscs, its processes (command, pid, exit status) and the last
lines of their logs; the links and the partitions. Everything is read from the kernel through
``pyns.net`` at the time of the call (no ``ip`` or ``tc`` process), so the report shows what
the namespaces really hold, not what the topology meant to set up.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from .. import net
from .nodes import Host, Switch, _Node

if TYPE_CHECKING:
    from .topology import Topology

__all__ = ["format_route", "report"]

#: Lines of each log shown by default.
LOG_LINES = 20
#: Nodes shown in detail by default (the others by name only).
MAX_NODES = 100


def format_route(r: net.Route) -> str:
    """A route as ``ip route`` (``ip -6 route`` for IPv6) prints it.

    Args:
        r: a route from ``pyns.net.routes``.

    Returns:
        ``"10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1"``,
        ``"default via 10.0.0.2 dev eth0"``. IPv6 routes lack ip's ``pref medium`` (the kernel's
        RTA_PREF is not read).
    """
    words = [] if r.type == "unicast" else [r.type]
    words.append(r.dst)
    if r.via:
        words += ["via", r.via]
    if r.dev:
        words += ["dev", r.dev]
    if r.protocol != "boot":  # ip hides RTPROT_BOOT, the protocol of `ip route add`
        words += ["proto", r.protocol]
    if r.scope != "global":
        words += ["scope", r.scope]
    if r.src:
        words += ["src", r.src]
    if r.metric is not None:
        words += ["metric", str(r.metric)]
    return " ".join(words)


def _status(p: Any) -> str:
    code = p.poll()
    if code is None:
        try:
            with open(f"/proc/{p.pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = b"R"
        return "stopped (paused)" if state in (b"T", b"t") else "running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited {code}"


def _command(p: Any) -> str:
    args = p.args if isinstance(p.args, (list, tuple)) else [p.args]
    return " ".join(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args)


def _tail(text: str, n: int) -> list[str]:
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    return lines[-n:]


def _guarded(lines: list[str], indent: str, fn: Callable[[], Iterable[str]]) -> None:
    """Appends what `fn` yields; an error reading the kernel becomes a line, not a failure."""
    try:
        lines.extend(indent + x for x in fn())
    except Exception as e:  # the report must never hide the test's own failure
        lines.append(f"{indent}(could not read: {type(e).__name__}: {e})")


def _peers(node: _Node) -> dict[str, str]:
    """Interface name -> ``"<other node> <its interface>"``."""
    return {v.ifname(node): f"{v.other(node).name} {v.ifname(v.other(node))}" for v in node.links}


def _interfaces(node: _Node) -> Iterable[str]:
    ns = node.netns
    addrs: dict[str, list[str]] = {}
    for a in net.addrs(netns=ns):
        addrs.setdefault(a.link, []).append(a.cidr)
    peers = _peers(node)
    rows = []
    for link in net.links(netns=ns):
        where = f"-> {peers[link.name]}" if link.name in peers else (link.kind or "")
        if link.master:
            where += f" (port of {link.master})"
        rows.append(
            [
                link.name,
                "UP" if link.up else "DOWN",
                f"mtu {link.mtu}",
                " ".join(addrs.get(link.name, [])) or "-",
                where,
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        yield "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4]


def _routes(node: _Node) -> Iterable[str]:
    found = [format_route(r) for r in net.routes(netns=node.netns)]
    yield from found or ["(none)"]


def _qdiscs(node: _Node) -> Iterable[str]:
    shown = False
    for q in net.qdiscs(netns=node.netns):
        if q.kind == "noqueue" and q.parent == "root":
            continue  # the default of veths, bridges and lo
        shown = True
        yield f"{q.link}: {q.kind} {q.handle} {q.parent}  sent {q.packets} pkts, dropped {q.drops}"
    if not shown:
        yield "(defaults only: noqueue)"


def _processes(host: Host, log_lines: int) -> Iterable[str]:
    procs = list(getattr(host, "_spawned", []))
    for p in procs:
        yield f"pid {p.pid}  {_status(p)}  {_command(p)}"
    if not procs:
        yield "(none)"
    logs = getattr(host, "logs", None)
    if callable(logs):
        for name, text in sorted(logs().items()):
            tail = _tail(text, log_lines)
            yield f"log {name} (last {len(tail)} lines):"
            yield from (f"  | {x}" for x in tail)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _link(v: Any) -> str:
    ends = [
        f"{n.name} {i}" + (f" {a}" if a else "")
        for n, i, a in zip((v.a, v.b), v.names, v.addresses)
    ]
    state = ["up" if v.up else "down"]
    if v.partitioned:
        state.append("partitioned")
    if v._shape:
        knobs = " ".join(f"{k}={x:g}" for k, x in v._shape.items() if x is not None)
        state.append(f"shaped {knobs}")
    return f"{ends[0]} <-> {ends[1]}  ({', '.join(state)})"


def report(
    t: Topology,
    *,
    log_lines: int = LOG_LINES,
    max_nodes: int = MAX_NODES,
    files: Optional[dict[str, str]] = None,
) -> str:
    """The topology as a report a person reads after a failure.

    Args:
        t: the topology, still open (a closed one has nothing left to read).
        log_lines: how many last lines of each log to show.
        max_nodes: how many nodes to show in detail (in creation order); the others are
            named at the end, so that a 10,000-host topology gives a report one can read.
        files: more files to list at the end, ``{what: path}`` (the plugin's captures).

    Returns:
        The text, lines without trailing spaces.

    Raises:
        ValueError: a negative `log_lines` or `max_nodes`.
    """
    if log_lines < 0:
        raise ValueError(f"log_lines must be >= 0, not {log_lines}")
    if max_nodes < 0:
        raise ValueError(f"max_nodes must be >= 0, not {max_nodes}")
    if t.closed:
        return f"{t!r}: torn down before the report (nothing left to read)\n"
    nodes = list(t._nodes.values())
    head = f"{_count(len(nodes), 'node')}, {_count(len(t.links), 'link')}, owner pid {os.getpid()}"
    if t._directory:
        head += f", directory {t._directory}"
    lines = [head]
    cuts = sorted(t.partitions)
    lines.append("partitions: " + (", ".join(f"{a} -> {b}" for a, b in cuts) or "none"))
    if t.links:
        lines.append("links:")
        lines.extend(f"  {_link(v)}" for v in t.links[: 2 * max_nodes])
        if len(t.links) > 2 * max_nodes:
            lines.append(f"  ... and {len(t.links) - 2 * max_nodes} more")
    for node in nodes[:max_nodes]:
        lines.append("")
        if isinstance(node, Switch):
            lines.append(f"switch {node.name}  (bridge br0, subnet {node.subnet})")
        else:
            kind = "router" if getattr(node, "forwarding", False) else "host"
            lines.append(f"{kind} {node.name}")
        cut = [f"to {b}" for a, b in cuts if a == node.name]
        cut += [f"from {a}" for a, b in cuts if b == node.name]
        if cut:
            lines.append(f"  partitioned: {', '.join(cut)}")
        lines.append("  interfaces:")
        _guarded(lines, "    ", lambda: _interfaces(node))
        if isinstance(node, Host):
            lines.append("  routes:")
            _guarded(lines, "    ", lambda: _routes(node))
        lines.append("  qdiscs:")
        _guarded(lines, "    ", lambda: _qdiscs(node))
        if isinstance(node, Host):
            lines.append("  processes:")
            _guarded(lines, "    ", lambda: _processes(node, log_lines))
    if len(nodes) > max_nodes:
        lines.append("")
        rest = [n.name for n in nodes[max_nodes:]]
        lines.append(f"{len(rest)} more nodes (not shown): {' '.join(rest)}")
    if files:
        lines.append("")
        lines.extend(f"{what}: {path}" for what, path in files.items())
    return "\n".join(x.rstrip() for x in lines) + "\n"
