"""The namespaces in use on the system, like util-linux ``lsns``."""

from __future__ import annotations

import os
import pwd
from dataclasses import asdict, dataclass

from ._native import KINDS

__all__ = ["NamespaceUse", "list_namespaces"]


@dataclass(frozen=True)
class NamespaceUse:
    """One namespace and the processes in it, as a row of ``pyns ls``."""

    ns: int
    type: str
    nprocs: int
    pid: int
    user: str
    command: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _command(pid: int) -> str:
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


def list_namespaces(kind: str | None = None, pid: int | None = None) -> list[NamespaceUse]:
    """Every namespace some process is in, sorted by inode like ``lsns``.

    Args:
        kind: only this kind (``"net"``); None for all.
        pid: only the namespaces of this process.

    Returns:
        One ``NamespaceUse`` per namespace: its inode, kind, how many processes are in it,
        the lowest such pid, that process's user and command line.

    Raises:
        ValueError: an unknown kind.
        ProcessLookupError: ``pid`` does not exist.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown namespace kind {kind!r}; expected one of: {', '.join(KINDS)}")
    kinds = [kind] if kind else list(KINDS)
    found: dict[tuple[str, int], list[int]] = {}
    owners: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        p = int(entry.name)
        for k in kinds:
            try:
                st = os.stat(f"/proc/{p}/ns/{k}")
            except OSError:
                continue
            found.setdefault((k, st.st_ino), []).append(p)
            if p not in owners:
                owners[p] = entry.stat().st_uid
    if pid is not None:
        if not os.path.exists(f"/proc/{pid}"):
            raise ProcessLookupError(3, f"no process with pid {pid}")
        mine = {(k, os.stat(f"/proc/{pid}/ns/{k}").st_ino) for k in kinds}
        found = {key: pids for key, pids in found.items() if key in mine}
    rows = []
    for (k, ino), pids in found.items():
        first = min(pids)
        rows.append(
            NamespaceUse(ino, k, len(pids), first, _user(owners.get(first, 0)), _command(first))
        )
    rows.sort(key=lambda r: (r.ns, r.type))
    return rows
