"""The namespaces in use on the system, like util-linux ``lsns`` (2.38): rows, columns and the
four output forms (tree, list, raw, JSON), so that ``pyns ls`` prints what ``lsns`` prints."""

from __future__ import annotations

import json
import os
import pwd
import socket
import struct
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from ._native import KINDS, Namespace

__all__ = ["COLUMNS", "NamespaceUse", "columns_for", "format_rows", "list_namespaces", "netnsid"]

#: The columns of lsns, with their description (as ``lsns --help`` lists them).
COLUMNS = {
    "NS": "namespace identifier (inode number)",
    "TYPE": "kind of namespace",
    "PATH": "path to the namespace",
    "NPROCS": "number of processes in the namespace",
    "PID": "lowest PID in the namespace",
    "PPID": "PPID of the PID",
    "COMMAND": "command line of the PID",
    "UID": "UID of the PID",
    "USER": "username of the PID",
    "NETNSID": "namespace ID as used by network subsystem",
    "NSFS": "nsfs mountpoint (usually used network subsystem)",
    "PNS": "parent namespace identifier (inode number)",
    "ONS": "owner namespace identifier (inode number)",
}
_NUMERIC = {"NS", "NPROCS", "PID", "PPID", "UID", "PNS", "ONS", "NETNSID"}  # right-aligned
#: lsns' width hints (its column table, given to libsmartcols): see `_width`.
_WIDTH_HINT = {"NS": 10, "TYPE": 5, "NPROCS": 5, "PID": 5, "PPID": 5, "PNS": 10, "ONS": 10}
DEFAULT_COLUMNS = ("NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND")
PROCESS_COLUMNS = ("PID", "PPID", "USER", "COMMAND")
NET_COLUMNS = ("NS", "TYPE", "NPROCS", "PID", "USER", "NETNSID", "NSFS", "COMMAND")


@dataclass(frozen=True)
class NamespaceUse:
    """One namespace and the processes in it, as a row of ``pyns ls``.

    Attributes:
        ns: its inode number. type: its kind. nprocs: how many processes are in it.
        pid: the lowest of them; ppid, uid, user, command: that process's.
        netnsid: the id the current network namespace gave it (net only; None: unassigned).
        nsfs: where it is bind-mounted (net only: the ``/run/netns`` names).
        pns, ons: the inode of its parent namespace (pid, user) and of its owning user
            namespace; 0 when there is none or it cannot be seen.
        parent_row: the index of the row of the process's parent (lsns' tree), or None.
    """

    ns: int
    type: str
    nprocs: int
    pid: int
    user: str
    command: str
    ppid: int = 0
    uid: int = 0
    netnsid: int | None = None
    nsfs: tuple[str, ...] = ()
    pns: int = 0
    ons: int = 0
    parent_row: int | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, object]:
        """The default columns by lower-case name (the JSON of ``pyns ls``)."""
        d = asdict(self)
        return {c.lower(): d[c.lower()] for c in DEFAULT_COLUMNS}

    def cell(self, column: str) -> Any:
        """The value of a column for JSON: int, str or None."""
        if column == "PATH":
            return f"/proc/{self.pid}/ns/{self.type}"
        if column == "NETNSID":
            if self.type != "net":
                return None
            return "unassigned" if self.netnsid is None else str(self.netnsid)
        if column == "NSFS":
            return "\n".join(self.nsfs) or None
        return getattr(self, column.lower())

    def text(self, column: str) -> str:
        """The value of a column as lsns prints it in a table."""
        value = self.cell(column)
        return "" if value is None else str(value)


def command(pid: int) -> str:
    """The command line of process `pid` (a kernel thread, which has none: its comm); "" if
    the process is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return ""
    if argv == [b""]:
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                return f.read().strip().decode(errors="replace")
        except OSError:
            return ""
    return " ".join(a.decode(errors="replace") for a in argv)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, uid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        return ppid, os.stat(f"/proc/{pid}").st_uid
    except (OSError, ValueError, IndexError):
        return None


def _nsfs_mounts() -> dict[int, list[str]]:
    """nsfs bind mounts of this mount namespace by namespace inode (``net:[4026532...]``)."""
    out: dict[int, list[str]] = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                if fields[sep + 1] == "nsfs" and fields[3].startswith("net:["):
                    point = fields[4].replace("\\040", " ")
                    out.setdefault(int(fields[3][5:-1]), []).append(point)
    except (OSError, ValueError):
        pass
    return out


def netnsid(fd: int) -> int | None:
    """The nsid the current network namespace gave another one (netlink RTM_GETNSID).

    Args:
        fd: an fd of the other network namespace.

    Returns:
        The nsid, or None when none is assigned (``ip netns`` prints no id, lsns "unassigned").
    """
    rtm_getnsid, netnsa_nsid, netnsa_fd = 90, 1, 3
    attr = struct.pack("=HHI", 8, netnsa_fd, fd)
    body = struct.pack("=B3x", socket.AF_UNSPEC) + attr
    msg = struct.pack("=IHHII", 16 + len(body), rtm_getnsid, 1, 1, 0) + body
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
            s.send(msg)
            reply = s.recv(4096)
    except OSError:
        return None
    off = 16 + 4
    while off + 4 <= len(reply):
        length, kind = struct.unpack_from("=HH", reply, off)
        if length < 4:
            break
        if kind == netnsa_nsid:
            nsid = struct.unpack_from("=i", reply, off + 4)[0]
            return None if nsid < 0 else nsid
        off += (length + 3) & ~3
    return None


def _relatives(path: str, kind: str) -> tuple[int, int, int | None]:
    """(parent ns inode, owner ns inode, netnsid) of the namespace at `path`."""
    pns = ons = 0
    nsid = None
    try:
        ns = Namespace.open(path, kind)
    except OSError:
        return 0, 0, None
    with ns:
        if kind in ("pid", "user"):
            try:
                with ns.parent() as p:
                    pns = p.inode
            except OSError:
                pass
        try:
            with ns.owner() as o:
                ons = o.inode
        except OSError:
            pass
        if kind == "net":
            nsid = netnsid(ns.fileno())
    return pns, ons, nsid


def list_namespaces(
    kind: str | Iterable[str] | None = None, pid: int | None = None, nsid: int | None = None
) -> list[NamespaceUse]:
    """Every namespace some process is in, sorted by inode, as ``lsns`` finds them.

    Args:
        kind: only this kind (``"net"``) or these kinds; None for all.
        pid: only the namespaces of this process.
        nsid: only the namespace with this inode number, one row per process in it (as
            ``lsns NSID`` lists them).

    Returns:
        One ``NamespaceUse`` per namespace: its inode, kind, how many processes are in it,
        the lowest such pid and that process's parent, user and command line; for network
        namespaces their nsid and nsfs mount points. ``parent_row`` links lsns' tree.

    Raises:
        ValueError: an unknown kind.
        ProcessLookupError: ``pid`` does not exist.
    """
    kinds = list(KINDS) if kind is None else [kind] if isinstance(kind, str) else list(kind)
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown namespace type: {k}; expected one of: {', '.join(KINDS)}")
    kinds = [k for k in KINDS if k in kinds]
    if pid is not None and not os.path.exists(f"/proc/{pid}"):
        raise ProcessLookupError(3, f"no process with pid {pid}")
    found: dict[tuple[str, int], list[int]] = {}
    pids = sorted(int(e.name) for e in os.scandir("/proc") if e.name.isdigit())
    for p in pids:
        for k in kinds:
            try:
                st = os.stat(f"/proc/{p}/ns/{k}")
            except OSError:
                continue
            found.setdefault((k, st.st_ino), []).append(p)
    if pid is not None:
        found = {key: ps for key, ps in found.items() if pid in ps}
    if nsid is not None:
        found = {key: ps for key, ps in found.items() if key[1] == nsid}
    mounts = _nsfs_mounts() if "net" in kinds else {}
    rows: list[NamespaceUse] = []
    last_row_of: dict[int, int] = {}
    for (k, ino), ps in sorted(found.items(), key=lambda item: item[0][1]):
        pns, ons, net_id = _relatives(f"/proc/{min(ps)}/ns/{k}", k)
        # lsns NSID lists the namespace's processes, one row each, in a tree of parents
        for p in sorted(ps) if nsid is not None else [min(ps)]:
            ppid, uid = _stat(p) or (0, 0)
            row = NamespaceUse(
                ns=ino,
                type=k,
                nprocs=len(ps),
                pid=p,
                user=_user(uid),
                command=command(p),
                ppid=ppid,
                uid=uid,
                netnsid=net_id,
                nsfs=tuple(mounts.get(ino, ())) if k == "net" else (),
                pns=pns,
                ons=ons,
                parent_row=last_row_of.get(ppid),
            )
            last_row_of[p] = len(rows)
            rows.append(row)
    return rows


def columns_for(
    spec: str | None, kinds: Sequence[str] | None, processes: bool = False
) -> list[str]:
    """The columns of ``-o LIST`` / ``-o +LIST`` (default: lsns' for these kinds, or for
    the processes of one namespace).

    Raises:
        ValueError: an unknown column.
    """
    base = list(NET_COLUMNS if kinds and "net" in kinds else DEFAULT_COLUMNS)
    if processes:
        base = list(PROCESS_COLUMNS)
    if spec is None:
        return base
    extra = spec.startswith("+")
    names = [c.strip().upper() for c in spec.lstrip("+").split(",") if c.strip()]
    for c in names:
        if c not in COLUMNS:
            raise ValueError(f"unknown column: {c}")
    return base + names if extra else names


def _width(column: str, values: list[str]) -> int:
    """A column's width as libsmartcols makes it (``count_column_width``): its widest value,
    at least its heading; widened to its hint only when the values, not the heading, set it."""
    heading, widest = len(column), max(map(len, values), default=0)
    if widest < heading:
        return heading
    return max(widest, _WIDTH_HINT.get(column, 0))


def _raw(text: str) -> str:
    """libsmartcols' raw form: spaces, backslashes and non-printables as \\xHH."""
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if byte < 0x21 or byte >= 0x7F or ch == "\\":
            out.append(f"\\x{byte:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _tree_order(rows: list[NamespaceUse]) -> list[tuple[NamespaceUse, str]]:
    """The rows in tree order with the prefix of their COMMAND cell (lsns' process tree)."""
    children: dict[int | None, list[int]] = {}
    for i, r in enumerate(rows):
        children.setdefault(r.parent_row, []).append(i)
    out: list[tuple[NamespaceUse, str]] = []

    def walk(i: int, lead: str, mark: str) -> None:
        out.append((rows[i], lead + mark))
        kids = children.get(i, [])
        below = lead + ("" if not mark else ("│ " if mark == "├─" else "  "))
        for n, kid in enumerate(kids):
            walk(kid, below, "└─" if n == len(kids) - 1 else "├─")

    for i in children.get(None, []):
        walk(i, "", "")
    return out


def _tree_json(rows: list[NamespaceUse], columns: list[str]) -> list[dict[str, Any]]:
    nodes = [{c.lower(): r.cell(c) for c in columns} for r in rows]
    roots = []
    for r, node in zip(rows, nodes):
        if r.parent_row is None:
            roots.append(node)
        else:
            parent = nodes[r.parent_row]
            kids = parent.setdefault("children", [])
            assert isinstance(kids, list)
            kids.append(node)
    return roots


def _dump_json(value: Any, indent: int = 0) -> str:
    """JSON as libsmartcols writes it: 3 spaces, objects in an array joined by ``},{``."""
    pad = " " * indent
    if isinstance(value, dict):
        items = [f'{pad}   "{k}": {_dump_json(v, indent + 3).lstrip()}' for k, v in value.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        inner = ",".join(_dump_json(v, indent + 3).lstrip() for v in value)
        return pad + "[\n" + " " * (indent + 3) + inner + "\n" + pad + "]"
    return pad + json.dumps(value, ensure_ascii=False)


def format_rows(
    rows: list[NamespaceUse],
    columns: list[str],
    *,
    json_out: bool = False,
    raw: bool = False,
    flat: bool = False,
    headings: bool = True,
) -> str:
    """The text lsns prints for these rows and options (without the final newline).

    Args:
        rows: from :func:`list_namespaces`.
        columns: column names (``COLUMNS``).
        json_out: JSON (``-J``). raw: raw (``-r``). flat: no process tree (``-l``).
        headings: print the header line (``-n`` turns it off).

    Returns:
        The output.
    """
    tree = not flat and "COMMAND" in columns
    if json_out:
        if tree:
            body = _tree_json(rows, columns)
        else:
            body = [{c.lower(): r.cell(c) for c in columns} for r in rows]
        return _dump_json({"namespaces": body})
    ordered = _tree_order(rows) if tree else [(r, "") for r in rows]
    table = []
    for r, prefix in ordered:
        cells = []
        for c in columns:
            value = r.text(c)
            if c == "COMMAND":
                value = prefix + value
            if c == "NSFS":
                value = value.split("\n")[0]
            cells.append(value)
        table.append(cells)
    lines = []
    if raw:
        if headings:
            lines.append(" ".join(columns))
        lines += [" ".join(_raw(v) for v in cells) for cells in table]
        return "\n".join(lines)
    widths = [_width(c, [cells[i] for cells in table]) for i, c in enumerate(columns)]
    all_rows = ([list(columns)] if headings else []) + table
    for cells in all_rows:
        out = []
        for i, (c, v) in enumerate(zip(columns, cells)):
            last = i == len(columns) - 1
            if c in _NUMERIC:
                out.append(v.rjust(widths[i]))
            else:
                out.append(v if last else v.ljust(widths[i]))
        lines.append(" ".join(out))
    return "\n".join(lines)
