"""The ``pyns`` command line (also ``python -m pyns``).

    pyns run [-u] [--hostname H] [-i] [-n] [-m] [-p] [--mount-proc] [--init] [-U] [-r] [-C] [-T]
             -- CMD ...                           # like util-linux `unshare --fork`
    pyns enter -t PID [-n -u -i -m -p -U -C -T | -a] [--netns NAME] -- CMD ...   # like nsenter
    pyns ls [--json] [-t TYPE] [-p PID]           # like lsns
    pyns netns add|del|ls NAME, pyns netns exec NAME -- CMD ...                  # like ip netns
    pyns tour                                     # the classic experiments, end to end

Exit status as util-linux: the program's (128+N if killed by signal N), 125 when pyns itself
failed, 126 when the program could not be executed, 127 when it was not found. Errors are one
line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
from typing import Any, Sequence

from ._native import KINDS, Namespace
from .errors import NamespaceError
from .lsns import list_namespaces

__all__ = ["main"]

#: Exit status for a failure of pyns itself, as util-linux uses.
EXIT_SETUP = 125
#: The program exists but could not be executed.
EXIT_CANNOT_EXECUTE = 126
#: The program was not found.
EXIT_NOT_FOUND = 127

#: (short flag, long flag, kind) for the namespace kinds, as unshare(1) and nsenter(1) spell them.
_KIND_FLAGS = (
    ("-m", "--mount", "mnt"),
    ("-u", "--uts", "uts"),
    ("-i", "--ipc", "ipc"),
    ("-n", "--net", "net"),
    ("-p", "--pid", "pid"),
    ("-U", "--user", "user"),
    ("-C", "--cgroup", "cgroup"),
    ("-T", "--time", "time"),
)


class _ExecFailed(Exception):
    """The program could not be started (exit status 126 or 127)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _command(args: argparse.Namespace) -> list[str]:
    """The program to run: what follows ``--``, or ``$SHELL`` like unshare and nsenter."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    return cmd or [os.environ.get("SHELL") or "/bin/sh"]


def _spawn_and_wait(cmd: list[str], **kwargs: Any) -> int:
    """Runs `cmd` in a child (pyns.spawn), forwarding SIGTERM/SIGHUP; returns its status."""
    from .process import Process, spawn

    # The terminal sends SIGINT to the whole foreground group, the child included; signals sent
    # to pyns alone go on to the child (as `unshare --fork` does), also those that come while
    # it starts (they are delivered once it runs).
    child: list[Process] = []
    pending: list[int] = []

    def forward(sig: int, _frame: object) -> None:
        if child:
            child[0].send_signal(sig)
        else:
            pending.append(sig)

    forwarded = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    old = {s: signal.signal(s, forward) for s in forwarded}
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            child.append(spawn(cmd, **kwargs))
        except OSError as e:
            if e.filename is not None and os.fsdecode(e.filename) == cmd[0]:
                status = EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_CANNOT_EXECUTE
                raise _ExecFailed(status, f"failed to execute {cmd[0]}: {e.strerror}") from e
            raise
        for sig in pending:
            child[0].send_signal(sig)
        code = child[0].wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return code if code >= 0 else 128 - code


def _run(args: argparse.Namespace) -> int:
    kinds = {kind: getattr(args, kind) for _, _, kind in _KIND_FLAGS}
    if args.map_root_user:
        kinds["user"] = True
    if args.mount_proc:
        kinds["mnt"] = True
    return _spawn_and_wait(
        _command(args),
        **kinds,
        hostname=args.hostname,
        map_root=args.map_root_user,
        mount_proc=args.mount_proc,
        init=args.init,
        monotonic=args.monotonic,
        boottime=args.boottime,
        loopback=False,  # as util-linux unshare: lo stays down
    )


def _enter(args: argparse.Namespace) -> int:
    wanted = [kind for _, _, kind in _KIND_FLAGS if getattr(args, kind)]
    if args.target is None and (wanted or args.all or not args.netns):
        raise ValueError("which process? give -t PID (or only --netns NAME)")
    join: dict[str, Any] = {}
    if args.target is not None:
        if wanted and not args.all:
            join = {kind: Namespace.of(args.target, kind) for kind in wanted}
        else:  # -a, or no kinds: every namespace in which the target differs from us
            from .join import namespaces

            mine, theirs = namespaces(), namespaces(args.target)
            join = {k: ns for k, ns in theirs.items() if k not in mine or mine[k] != ns}
            for ns in mine.values():
                ns.close()
            for k in set(theirs) - set(join):
                theirs[k].close()
    if args.netns:
        join["net"] = args.netns
    try:
        return _spawn_and_wait(_command(args), join=join)
    finally:
        for ns in join.values():
            if isinstance(ns, Namespace):
                ns.close()


def _netns(args: argparse.Namespace) -> int:
    from . import netns

    if args.action in ("add",):
        netns.add(args.name).close()
    elif args.action in ("del", "delete"):
        netns.remove(args.name)
    elif args.action == "exec":
        return _spawn_and_wait(_command(args), join={"net": args.name})
    else:
        for name in netns.names():
            print(name)
    return 0


def _ls(args: argparse.Namespace) -> int:
    rows = list_namespaces(kind=args.type, pid=args.pid)
    if args.json:
        print(json.dumps({"namespaces": [r.as_dict() for r in rows]}, indent=2))
        return 0
    header = ("NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND")
    table = [header] + [
        (str(r.ns), r.type, str(r.nprocs), str(r.pid), r.user, r.command) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [
            row[0].rjust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4].ljust(widths[4]),
            row[5],
        ]
        print(" ".join(cells).rstrip())
    return 0


def _tour(args: argparse.Namespace) -> int:
    from .tour import tour

    return tour()


def _add_cmd(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...", help="the program (default $SHELL)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyns",
        description="Linux namespaces, from Python.",
        epilog="Exit status: the program's; 125 pyns failed, 126 cannot execute, 127 not found.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a program in new namespaces (like unshare --fork)")
    for short, long, kind in _KIND_FLAGS:
        run.add_argument(short, long, dest=kind, action="store_true", help=f"new {kind} namespace")
    run.add_argument("--hostname", help="the hostname in the new UTS namespace (implies -u)")
    run.add_argument("--mount-proc", action="store_true", help="mount a fresh /proc (implies -m)")
    run.add_argument(
        "--init",
        action="store_true",
        help="with -p: run the program as PID 2 under pyns' init (reaps, forwards signals)",
    )
    run.add_argument(
        "-r", "--map-root-user", action="store_true", help="map root to your uid/gid (implies -U)"
    )
    run.add_argument("--monotonic", type=float, help="CLOCK_MONOTONIC offset, seconds (implies -T)")
    run.add_argument("--boottime", type=float, help="CLOCK_BOOTTIME offset, seconds (implies -T)")
    run.add_argument("-f", "--fork", action="store_true", help="accepted; pyns always forks")
    _add_cmd(run)
    run.set_defaults(func=_run)

    enter = sub.add_parser("enter", help="run a program in another process's namespaces (nsenter)")
    enter.add_argument("-t", "--target", type=int, metavar="PID", help="the process")
    for short, long, kind in _KIND_FLAGS:
        enter.add_argument(short, long, dest=kind, action="store_true", help=f"its {kind} namespace")
    enter.add_argument(
        "-a", "--all", action="store_true", help="all of its namespaces that differ (the default)"
    )
    enter.add_argument("--netns", metavar="NAME", help="an `ip netns` name (or nsfs path)")
    _add_cmd(enter)
    enter.set_defaults(func=_enter)

    ls = sub.add_parser("ls", help="list namespaces in use (like lsns)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("-t", "--type", choices=KINDS, help="only namespaces of this kind")
    ls.add_argument("-p", "--task", dest="pid", type=int, help="only namespaces of this process")
    ls.set_defaults(func=_ls)

    netns = sub.add_parser("netns", help="named network namespaces (like ip netns)")
    nsub = netns.add_subparsers(dest="action", required=True, metavar="ACTION")
    nsub.add_parser("add", help="create /run/netns/NAME").add_argument("name")
    nsub.add_parser("del", aliases=["delete"], help="remove NAME").add_argument("name")
    nsub.add_parser("ls", aliases=["list"], help="list the names")
    exec_ = nsub.add_parser("exec", help="run a program in NAME")
    exec_.add_argument("name")
    _add_cmd(exec_)
    netns.set_defaults(func=_netns)

    tour = sub.add_parser("tour", help="run the classic namespace experiments and explain them")
    tour.set_defaults(func=_tour)
    return parser


def _one_line(e: BaseException) -> str:
    """An error as one line: what failed, the step pyns was doing, and for EPERM the fix."""
    text = str(e) or type(e).__name__
    notes = getattr(e, "__notes__", None) or []
    lines = [line for note in notes for line in str(note).splitlines()]
    step = next((ln.split(": ", 1)[1] for ln in lines if ln.startswith("pyns was doing: ")), None)
    if isinstance(e, OSError) and e.strerror:
        where = f" ({os.fsdecode(e.filename)})" if e.filename is not None else ""
        text = f"{step}{where}: {e.strerror}" if step else f"{e.strerror}{where}"
        if e.errno == errno.EPERM:
            text += " — run as root, or add -U/-r for a user namespace of your own"
    elif step:
        text = f"{text} ({step})"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: the program's, or 125 (pyns failed), 126, 127 (see the module).
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except _ExecFailed as e:
        if args.debug:
            raise
        print(f"pyns: {e}", file=sys.stderr)
        return e.status
    except (OSError, ValueError, TypeError, NamespaceError) as e:
        if args.debug:
            raise
        print(f"pyns: {_one_line(e)}", file=sys.stderr)
        return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
