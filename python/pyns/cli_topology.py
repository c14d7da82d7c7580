"""``pyns topology ls|exec``: the live topologies of running processes, from another shell.

Every open ``pyns.testing.Topology`` holds a memfd named ``pyns-topology`` that lists its nodes
and the fd numbers of their namespaces (``pyns.testing.registry``). ``ls`` finds them by
scanning ``/proc/*/fd``; ``exec`` joins a node's namespaces through ``/proc/PID/fd/N`` (the
owner's own descriptors), so nothing is named under /run/netns and nothing is left behind
when the owner dies, even by SIGKILL.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .cli_opts import Opt, UsageError, parse

__all__ = ["OPTS", "USAGE", "main"]

USAGE = """\
Usage:
 pyns topology ls [--json]
 pyns topology exec PID NODE [--] [CMD...]

The live pyns topologies (pyns.testing.Topology) of running processes.

Commands:
 ls     list them: owner pid, its command, the nodes
 exec   run CMD (default: $SHELL) inside NODE of the topology of process PID, joined to
        the node's namespaces through /proc/PID/fd/N (the owner's descriptors)

Options:
     --json     ls: print JSON
 -h, --help     display this help

Seeing another user's topologies needs root.
"""

OPTS = [Opt("help", "h", "help"), Opt("json", None, "json")]


def _command_line(pid: int) -> str:
    from .lsns import command

    return " ".join(command(pid).split()) or "?"  # one line


def _ls(o: dict[str, Any], rest: list[str]) -> int:
    from .testing import registry

    if rest:
        raise UsageError(f"ls takes no arguments, not '{rest[0]}'")
    found = registry.scan()
    if o.get("json"):
        rows = [
            {"pid": t.pid, "fd": t.fd, "command": _command_line(t.pid), "nodes": t.nodes}
            for t in found
        ]
        print(json.dumps({"topologies": rows}, indent=2))
        return 0
    print(f"{'PID':>7} {'FD':>4} {'COMMAND':<40} NODES")
    for t in found:
        command = _command_line(t.pid)
        if len(command) > 40:
            command = command[:39] + "…"
        nodes = " ".join(
            name + ("" if n["kind"] == "host" else f"({n['kind']})") for name, n in t.nodes.items()
        )
        print(f"{t.pid:>7} {t.fd:>4} {command:<40} {nodes}")
    return 0


def _join(pid_text: str, node: str) -> dict[str, Any]:
    """The namespaces of `node` in the topology of process `pid_text`, opened (``join=``), as
    keywords of ``spawn``. A host that has run nothing yet has no UTS namespace (it is made on
    first use): the command gets a new one with the host's name, as its programs would."""
    from . import _native
    from .testing import registry

    try:
        pid = int(pid_text)
        if pid <= 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"invalid PID argument: '{pid_text}'") from None
    found = registry.scan(pid)
    if not found:
        raise ValueError(f"process {pid} has no live pyns topology (see: pyns topology ls)")
    having = [t for t in found if node in t.nodes]
    if not having:
        names = ", ".join(n for t in found for n in t.nodes) or "none"
        raise ValueError(f"the topology of process {pid} has no node {node!r} (its nodes: {names})")
    if len(having) > 1:
        fds = ", ".join(str(t.fd) for t in having)
        raise ValueError(
            f"process {pid} has {len(having)} topologies with a node {node!r} (memfds {fds}): "
            "the command cannot tell which"
        )
    live = having[0]
    join: dict[str, Any] = {}
    for kind in live.nodes[node]["fds"]:
        try:
            join[kind] = _native.Namespace.open(live.path(node, kind))
        except FileNotFoundError:
            raise ValueError(f"node {node!r} of process {pid} went away meanwhile") from None
    try:  # a topology in a user namespace of its own (rootless): join that first
        owner = join["net"].owner()
        if owner != _native.Namespace.current("user"):
            join["user"] = owner
    except OSError:
        pass  # the owner is an ancestor of ours: nothing to join
    if "uts" not in join and live.nodes[node]["kind"] != "switch":
        return {"join": join, "hostname": node}
    return {"join": join}


def _exec(o: dict[str, Any], rest: list[str]) -> int:
    from .cli import _command, _spawn_and_wait

    if len(rest) < 2:
        raise UsageError("exec needs PID and NODE")
    cmd = rest[2:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    kwargs = _join(rest[0], rest[1])
    try:
        return _spawn_and_wait(_command(cmd), **kwargs)
    finally:
        for ns in kwargs["join"].values():
            ns.close()


def main(o: dict[str, Any], rest: list[str]) -> int:
    """Runs ``pyns topology SUBCOMMAND ...``.

    Args:
        o: the options parsed before the subcommand.
        rest: the subcommand and its arguments.

    Returns:
        The exit status: 0, or the program's for ``exec``.

    Raises:
        UsageError: no or an unknown subcommand, bad arguments.
        ValueError: no such topology or node.
        OSError: the process is gone or belongs to another user.
    """
    if not rest:
        raise UsageError("no subcommand given (ls or exec)")
    sub, args = rest[0], rest[1:]
    if sub == "help":
        print(USAGE, end="")
        return 0
    if sub not in ("ls", "exec"):
        raise UsageError(f"unknown subcommand '{sub}' (ls or exec)")
    more, args = parse(OPTS, args)
    o = {**o, **more}
    if o.get("help"):
        print(USAGE, end="")
        return 0
    return _ls(o, args) if sub == "ls" else _exec(o, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main({}, sys.argv[1:]))
