"""HTML for Jupyter: the ``_repr_html_`` of ``Namespace``, the ``pyns.namespaces()`` snapshot,
``Process`` and ``Capabilities``. Plain text, no IPython: Jupyter calls ``_repr_html_`` itself.

"The host" is PID 1's namespace of each kind, as it looks from here (``/proc/1/ns``); when it
can't be seen (another user's PID 1), the kernel's initial namespace, whose inode is fixed.
"""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ._native import KINDS

if TYPE_CHECKING:
    from ._native import Capabilities, Namespace
    from .process import Process
    from .testing.topology import Topology

__all__ = [
    "capabilities_html",
    "host_inode",
    "namespace_html",
    "namespaces_html",
    "process_html",
    "topology_html",
]


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A small HTML table; every cell is escaped."""

    def cells(tag: str, row: Sequence[object]) -> str:
        return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<table class="pyns"><caption style="text-align:left">{html.escape(caption)}</caption>'
        f"<thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"
    )


#: The inodes of the kernel's initial namespaces (include/linux/proc_ns.h PROC_*_INIT_INO);
#: net and mnt got fixed numbers only in recent kernels (checked on 6.18).
_INITIAL = {
    "ipc": 0xEFFFFFFF,
    "uts": 0xEFFFFFFE,
    "user": 0xEFFFFFFD,
    "pid": 0xEFFFFFFC,
    "cgroup": 0xEFFFFFFB,
    "time": 0xEFFFFFFA,
}
_INITIAL_618 = {"net": 0xEFFFFFF9, "mnt": 0xEFFFFFF8}


def _kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split(".")
    try:
        return (int(release[0]), int(release[1].split("-")[0])) >= (major, minor)
    except (IndexError, ValueError):
        return False


def host_inode(kind: str) -> int | None:
    """The inode of the host's namespace of `kind`: PID 1's as seen from here, else the
    kernel's initial one (fixed numbers); None when neither can be known.

    Args:
        kind: a namespace kind (``"net"``).

    Returns:
        The inode, or None.
    """
    try:
        return os.stat(f"/proc/1/ns/{kind}").st_ino
    except OSError:
        pass  # another user's (or a more privileged) PID 1
    if kind in _INITIAL:
        return _INITIAL[kind]
    return _INITIAL_618.get(kind) if _kernel_at_least(6, 18) else None


def _same_as_host(kind: str, inode: int) -> str:
    host = host_inode(kind)
    if host is None:
        return "unknown"
    return "yes" if host == inode else "no (new)"


def namespace_html(ns: Namespace) -> str:
    """The HTML of one ``Namespace``: kind, inode, device, and whether it is the host's.

    Args:
        ns: an open or closed handle.

    Returns:
        An HTML table.
    """
    same = _same_as_host(ns.kind, ns.inode)
    state = " (closed)" if ns.closed else ""
    return _table(
        f"Namespace{state}",
        ("kind", "inode", "dev", "same as the host's"),
        [(ns.kind, ns.inode, ns.dev, same)],
    )


def namespaces_html(snapshot: Mapping[str, Namespace], caption: str = "namespaces") -> str:
    """The HTML of a ``pyns.namespaces()`` snapshot: one row per kind.

    Args:
        snapshot: kind -> Namespace.
        caption: the table's caption.

    Returns:
        An HTML table with kind, inode and whether each is the host's.
    """
    rows = [(k, ns.inode, _same_as_host(k, ns.inode)) for k, ns in snapshot.items()]
    return _table(caption, ("kind", "inode", "same as the host's"), rows)


def process_html(p: Process) -> str:
    """The HTML of a ``pyns.Process``: pid, args, state and (while it runs) its namespaces.

    Args:
        p: a process started by ``pyns.spawn``.

    Returns:
        HTML: a table of the process, then one of its namespaces while it runs.
    """
    code = p.poll()
    if code is None:
        state = "running"
    elif code < 0:
        state = f"killed by signal {-code}"
    else:
        state = f"exited with status {code}"
    out = _table("Process", ("pid", "args", "state"), [(p.pid, " ".join(map(str, p.args)), state)])
    if code is None:
        rows = []
        for kind in KINDS:
            try:
                st = os.stat(f"/proc/{p.pid}/ns/{kind}")
            except OSError:
                continue
            rows.append((kind, st.st_ino, _same_as_host(kind, st.st_ino)))
        out += _table("its namespaces", ("kind", "inode", "same as the host's"), rows)
    return out


def capabilities_html(caps: Capabilities) -> str:
    """The HTML of ``pyns.capabilities()``: each set with its size and names.

    Args:
        caps: the capability sets of a process.

    Returns:
        An HTML table.
    """
    rows = []
    for name in ("effective", "permitted", "inheritable", "bounding", "ambient"):
        names = sorted(getattr(caps, name))
        rows.append((name, len(names), ", ".join(n.removeprefix("cap_") for n in names) or "—"))
    return _table("Capabilities", ("set", "count", "capabilities (cap_…)"), rows)


def topology_html(t: Topology) -> str:
    """The HTML of a ``pyns.testing.Topology``: its nodes, then its links.

    Args:
        t: a topology (open or closed).

    Returns:
        HTML: a table of hosts and switches (role, interfaces, addresses), then one of links
        (ends, addresses, state).
    """
    nodes = [
        (h.name, "router" if h.forwarding else "host", ", ".join(h.interfaces),
         ", ".join(h.addresses))
        for h in t.hosts
    ]
    nodes += [(s.name, "switch", "", "") for s in t.switches]
    links = []
    cuts = t.partitions
    for v in t.links:
        cut = v.partitioned or {(v.a.name, v.b.name), (v.b.name, v.a.name)} <= cuts
        state = "partitioned" if cut else ("shaped" if v.shaped else "up")
        ends = " — ".join(f"{n.name}:{i}" for n, i in zip((v.a, v.b), v.names))
        addrs = ", ".join(a for a in v.addresses if a)
        links.append((ends, str(v.subnet), addrs, state))
    caption = "Topology (closed)" if t.closed else "Topology"
    return _table(caption, ("node", "role", "interfaces", "addresses"), nodes) + _table(
        "links", ("ends", "subnet", "addresses", "state"), links
    )
