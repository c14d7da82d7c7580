"""The ``pyns`` command line (also ``python -m pyns``).

    pyns run [unshare(1) options] [--] CMD ...     # like util-linux `unshare --fork`
    pyns run -r --all -- pytest                    # a rootless session: fake root in every kind
    pyns enter [nsenter(1) options] [--] CMD ...   # like nsenter
    pyns ls [lsns(8) options] [NSID]               # like lsns
    pyns netns add|delete|list|exec|identify|pids|attach ...   # like ip netns
    pyns doctor [--json]                           # what this machine lets pyns do
    pyns tour                                      # the classic experiments, end to end

Exit status as util-linux: the program's (128+N if killed by signal N), 125 when pyns itself
failed, 126 when the program could not be executed, 127 when it was not found, 1 for a misused
command line (with the subcommand's usage). Errors are one line on stderr naming the step, the
missing privilege and the fix; ``--debug`` adds the traceback and changes nothing else.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any, Callable, Sequence

from .cli_opts import REQUIRED, Opt, UsageError, parse
from .errors import NamespaceError

__all__ = ["main"]

#: Exit status for a failure of pyns itself, as util-linux uses.
EXIT_SETUP = 125
#: The program exists but could not be executed.
EXIT_CANNOT_EXECUTE = 126
#: The program was not found.
EXIT_NOT_FOUND = 127

USAGE = """\
Usage:
 pyns [--debug] <command> [options] [arguments]

Linux namespaces, from Python.

Commands:
 run       run a program in new namespaces (like unshare --fork)
 enter     run a program in other namespaces (like nsenter)
 ls        list namespaces (like lsns)
 netns     named network namespaces (like ip netns)
 topology  live pyns topologies of running processes: ls, exec
 doctor    check what this machine lets pyns do
 tour      run the classic namespace experiments and explain them

Options:
     --debug    show the traceback of an error (the exit status stays)
 -h, --help     display this help
 -V, --version  display version

Exit status: the program's; 125 pyns failed, 126 cannot execute, 127 not found, 1 usage.
"""

LS_USAGE = """\
Usage:
 pyns ls [options] [<namespace>]

List system namespaces (like lsns).

Options:
 -J, --json             use JSON output format
 -l, --list             use list format output
 -n, --noheadings       don't print headings
 -o, --output <list>    define which output columns to use (+<list> adds to the default)
     --output-all       output all columns
 -p, --task <pid>       print process namespaces
 -r, --raw              use the raw output format
 -u, --notruncate       don't truncate text in columns
 -W, --nowrap           don't use multi-line representation
 -t, --type <name>      namespace type (mnt, net, ipc, user, pid, uts, cgroup, time)

 -h, --help             display this help
 -V, --version          display version
"""

NETNS_USAGE = """\
Usage: pyns netns list
       pyns netns add NAME
       pyns netns attach NAME PID
       pyns netns delete NAME
       pyns netns identify [PID]
       pyns netns pids NAME
       pyns netns exec NAME [--] cmd ...
"""

DOCTOR_USAGE = """\
Usage:
 pyns doctor [--json]

Check what this machine lets pyns do: one line per finding, each problem with its fix.
Exit status 0 when nothing blocks pyns, 1 when a finding does.
"""

_COMMON = [Opt("help", "h", "help"), Opt("version", "V", "version")]


class _ExecFailed(Exception):
    """The program could not be started (exit status 126 or 127)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Failed(Exception):
    """pyns failed and has said why (exit status 125)."""


def version() -> str:
    """pyns' version, as ``pyns --version`` prints it after the name."""
    from . import __version__

    return __version__


def _command(rest: list[str]) -> list[str]:
    """The program to run: the arguments, or ``$SHELL`` like unshare and nsenter."""
    return rest or [os.environ.get("SHELL") or "/bin/sh"]


def _spawn_and_wait(cmd: list[str], call: Any = None, **kwargs: Any) -> int:
    """Runs `cmd` in a child (pyns.spawn), forwarding SIGTERM/SIGHUP/SIGQUIT; its status."""
    from .cli_run import persist_handshake
    from .process import spawn

    kwargs = dict(kwargs, **(call.kwargs if call is not None else {}))
    sync = None
    pass_fds = list(call.fds) if call is not None else []
    if call is not None and call.persist:
        sync = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pass_fds.append(sync[1].fileno())
    argv = call.argv(cmd, sync[1].fileno() if sync else None) if call is not None else cmd
    # Signals sent to pyns alone go on to the child (as `unshare --fork` does); SIGINT, which
    # the terminal sends to the whole foreground group, the child included, is dropped. They
    # are blocked and taken with sigwaitinfo (as the init takes them), not handled: a Python
    # handler's signal that comes just before a blocking wait runs only after that wait
    # returns, here never. Those that come while the child starts wait for it. The program
    # starts with none blocked (pyns' exec clears the mask) and SIGINT not ignored (a SIG_IGN
    # here would last through exec). SIGCHLD ends the wait: by default, also if this process
    # inherited it ignored (the kernel then sends none and reaps by itself).
    forwarded = {signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
    waited = forwarded | {signal.SIGINT, signal.SIGCHLD}
    old_chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        try:
            child = spawn(argv, pass_fds=pass_fds, **kwargs)
        except OSError as e:
            if e.filename is not None and os.fsdecode(e.filename) == argv[0]:
                status = EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_CANNOT_EXECUTE
                raise _ExecFailed(status, f"failed to execute {argv[0]}: {e.strerror}") from e
            raise
        finally:
            for fd in call.fds if call is not None else []:
                os.close(fd)
            if sync:
                sync[1].close()
        if sync:
            with sync[0]:
                try:
                    persist_handshake(sync[0], call.persist)
                except OSError:
                    sync[0].close()
                    child.wait()
                    raise
        # A SIGCHLD that comes between poll and sigwaitinfo stays pending: nothing is missed.
        while (code := child.poll()) is None:
            sig = signal.sigwaitinfo(waited).si_signo
            if sig in forwarded:
                child.send_signal(sig)
    finally:
        while signal.sigtimedwait(waited, 0) is not None:
            pass  # came for a child that has gone: not to be raised here once unblocked
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGCHLD, old_chld)
    return code if code >= 0 else 128 - code


def _run(o: dict[str, Any], rest: list[str]) -> int:
    from .cli_run import run_call

    return _spawn_and_wait(_command(rest), run_call(o))


def _enter(o: dict[str, Any], rest: list[str]) -> int:
    from .cli_run import enter_call

    return _spawn_and_wait(_command(rest), enter_call(o))


def _ls(o: dict[str, Any], rest: list[str]) -> int:
    from . import lsns

    if len(rest) > 1:
        raise UsageError("too many arguments")
    nsid = None
    if rest:
        if not rest[0].isdigit():
            raise UsageError(f"invalid namespace argument: '{rest[0]}'")
        nsid = int(rest[0])
    pid = None
    if o.get("pid") is not None:
        if not str(o["pid"]).isdigit():
            raise UsageError(f"invalid PID argument: '{o['pid']}'")
        pid = int(o["pid"])
    kinds = o.get("type")
    for k in kinds or []:
        if k not in lsns.KINDS:
            raise UsageError(f"unknown namespace type: {k}", status=1)
    columns = list(lsns.COLUMNS) if o.get("output_all") else None
    try:
        columns = columns or lsns.columns_for(o.get("output"), kinds, nsid is not None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        rows = lsns.list_namespaces(kind=kinds, pid=pid, nsid=nsid)
    except ProcessLookupError:
        rows = []  # as lsns: no such process, no rows
    if not rows and nsid is not None:
        print(f"pyns ls: not found namespace: {nsid}", file=sys.stderr)
        return 1
    text = lsns.format_rows(
        rows,
        columns,
        json_out=bool(o.get("json")),
        raw=bool(o.get("raw")),
        flat=bool(o.get("list")),
        headings=not o.get("noheadings"),
    )
    if rows:
        print(text)
    return 0


LS_OPTS = [
    Opt("json", "J", "json"),
    Opt("list", "l", "list"),
    Opt("noheadings", "n", "noheadings"),
    Opt("output", "o", "output", REQUIRED),
    Opt("output_all", None, "output-all"),
    Opt("pid", "p", "task", REQUIRED),
    Opt("raw", "r", "raw"),
    Opt("notruncate", "u", "notruncate"),
    Opt("nowrap", "W", "nowrap"),
    Opt("type", "t", "type", REQUIRED, many=True),
] + _COMMON


def _netns(o: dict[str, Any], rest: list[str]) -> int:
    from . import _native, netns
    from ._native import Namespace
    from .lsns import netnsid

    action = rest[0] if rest else "list"
    args = rest[1:]
    known = ("list", "ls", "show", "add", "delete", "del", "exec", "identify", "pids", "attach")
    matches = [a for a in known if a.startswith(action)] if action else []
    if action not in known and len(matches) == 1:
        action = matches[0]  # ip's prefix matching: `pyns netns a` would be ambiguous
    if action in ("list", "ls", "show"):
        try:
            names = os.listdir(netns.RUN_DIR)  # in directory order, as ip prints them
        except FileNotFoundError:
            names = []
        for name in names:
            try:
                with netns.open(name) as ns:
                    nsid = netnsid(ns.fileno())
            except (OSError, NamespaceError):  # e.g. a name whose mount is gone: listed, as ip
                nsid = None
            print(name if nsid is None else f"{name} (id: {nsid})")
        return 0
    if action in ("add", "delete", "del", "pids", "exec", "attach") and not args:
        print("No netns name specified", file=sys.stderr)
        return 1
    if action == "add":
        netns.add(args[0]).close()
    elif action in ("delete", "del"):
        netns.remove(args[0])
    elif action == "attach":
        if len(args) < 2:
            print("No pid specified", file=sys.stderr)
            return 1
        with Namespace.of(int(args[1]), "net") as ns:
            _native.netns_persist(ns, args[0])
    elif action == "identify":
        pid = int(args[0]) if args else os.getpid()
        matches = []
        with Namespace.of(pid, "net") as target:
            for name in netns.names():
                try:
                    with netns.open(name) as ns:
                        if ns == target:
                            matches.append(name)
                except (OSError, NamespaceError):
                    continue
        print(" ".join(matches))  # as ip: an empty line when there is none
    elif action == "pids":
        with netns.open(args[0]) as ns:
            for entry in sorted((e.name for e in os.scandir("/proc") if e.name.isdigit()), key=int):
                try:
                    st = os.stat(f"/proc/{entry}/ns/net")
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == (ns.dev, ns.inode):
                    print(entry)
    elif action == "exec":
        cmd = args[1:]
        if cmd and cmd[0] == "--":
            cmd = cmd[1:]
        if not cmd:
            print("No command specified", file=sys.stderr)
            return 1
        return _spawn_and_wait(cmd, join={"net": args[0]}, pdeathsig=None)
    else:
        print(f'Command "{action}" is unknown, try "pyns netns help".', file=sys.stderr)
        return 255
    return 0


def _doctor(o: dict[str, Any], rest: list[str]) -> int:
    from .machine import doctor

    if rest:
        raise UsageError("too many arguments")
    findings = doctor()
    if o.get("json"):
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        for f in findings:
            print(f.line())
    return 1 if any(f.blocks for f in findings) else 0


def _topology(o: dict[str, Any], rest: list[str]) -> int:
    from .cli_topology import main as topology

    return topology(o, rest)


def _tour(o: dict[str, Any], rest: list[str]) -> int:
    from .tour import tour

    return tour()


def _commands() -> dict[str, tuple[Callable[..., int], list[Opt], str, bool]]:
    """name -> (function, options, usage, permute)."""
    from .cli_run import ENTER_OPTS, ENTER_USAGE, RUN_OPTS, RUN_USAGE
    from .cli_topology import OPTS as TOPOLOGY_OPTS, USAGE as TOPOLOGY_USAGE

    return {
        "run": (_run, list(RUN_OPTS), RUN_USAGE, False),
        "enter": (_enter, list(ENTER_OPTS), ENTER_USAGE, False),
        "ls": (_ls, LS_OPTS, LS_USAGE, True),
        "netns": (_netns, list(_COMMON), NETNS_USAGE, False),
        "doctor": (_doctor, [Opt("json", None, "json")] + _COMMON, DOCTOR_USAGE, False),
        "tour": (_tour, list(_COMMON), "Usage:\n pyns tour\n", False),
        "topology": (_topology, TOPOLOGY_OPTS, TOPOLOGY_USAGE, False),
    }


def _fix(command: str, o: dict[str, Any], e: BaseException) -> str | None:
    """The missing privilege and the flag or command that gives it, for this command line."""
    hint = getattr(e, "hint", None)
    err = getattr(e, "errno", None)
    if err not in (errno.EPERM, errno.EACCES) or os.geteuid() == 0:
        return hint
    if command == "run":
        if not any(o.get(k) for k in ("user", "map_user", "map_current", "map_auto", "all")):
            return (
                "needs CAP_SYS_ADMIN: add -r (fake root in a user namespace of your own) "
                "or -U, or run as root"
            )
        return hint or "the kernel refused a user namespace here: see `pyns doctor`"
    if command == "enter":
        if err == errno.EACCES:
            return "the target belongs to another user: run as root"
        if not o.get("user") and not o.get("all"):
            return (
                "needs CAP_SYS_ADMIN over the target's namespaces: add -U to join its user "
                "namespace first (it must be yours), or run as root"
            )
        return "needs CAP_SYS_ADMIN in the target's user namespace: run as root"
    if command == "netns":
        return (
            "needs root (CAP_SYS_ADMIN to create and mount namespaces): sudo pyns netns ..., "
            "or inside a rootless session: pyns run -r --all -- pyns netns ..."
        )
    return hint


def _one_line(command: str, o: dict[str, Any], e: BaseException) -> str:
    """An error as one line: the step pyns was doing, what failed, and for EPERM the fix."""
    text = str(e) or type(e).__name__
    step = getattr(e, "step", None)  # every error pyns raises has it (and `.hint`)
    if isinstance(e, OSError) and e.strerror:
        where = f" ({os.fsdecode(e.filename)})" if e.filename is not None else ""
        text = f"{step}{where}: {e.strerror}" if step else f"{e.strerror}{where}"
        fix = _fix(command, o, e)
        if fix:
            text += f"; {fix}"
    elif isinstance(getattr(e, "errno", None), int):  # a ChildError: the child's step failed
        text = f"{step or text}: {os.strerror(getattr(e, 'errno'))}"
        fix = _fix(command, o, e)
        if fix:
            text += f"; {fix}"
    elif step and step not in text:
        text = f"{text} ({step})"
    return " ".join(text.split("\n"))


def _usage_error(name: str, usage: str, e: UsageError) -> int:
    print(f"{name}: {e}", file=sys.stderr)
    print(usage.rstrip("\n"), file=sys.stderr)
    print(f"Try '{name} --help' for more information.", file=sys.stderr)
    return e.status


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: the program's, or 125 (pyns failed), 126, 127, 1 (see the module).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    top = [Opt("debug", None, "debug")] + _COMMON
    try:
        g, rest = parse(top, args)
    except UsageError as e:
        return _usage_error("pyns", USAGE, e)
    if g.get("help"):
        print(USAGE, end="")
        return 0
    if g.get("version"):
        print(f"pyns {version()}")
        return 0
    commands = _commands()
    if not rest or rest[0] not in commands:
        what = f"unknown command '{rest[0]}'" if rest else "no command given"
        return _usage_error("pyns", USAGE, UsageError(what))
    command = rest[0]
    func, opts, usage, permute = commands[command]
    name = f"pyns {command}"
    o: dict[str, Any] = {}
    if command == "netns":
        sub = rest[1:]
        if sub and sub[0] in ("-h", "--help", "help"):
            print(usage, end="")
            return 0
    else:
        try:
            o, sub = parse(opts + [Opt("debug", None, "debug")], rest[1:], permute=permute)
        except UsageError as e:
            return _usage_error(name, usage, e)
    debug = bool(g.get("debug") or o.get("debug"))
    if o.get("help"):
        print(usage, end="")
        return 0
    if o.get("version"):
        print(f"{name} from pyns {version()}")
        return 0
    try:
        return int(func(o, sub))
    except UsageError as e:
        return _usage_error(name, usage, e)
    except BrokenPipeError:  # `pyns ls | head`: quiet, as a tool killed by SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    except _ExecFailed as e:
        if debug:
            traceback.print_exc()
        print(f"pyns: {e}", file=sys.stderr)
        return e.status
    except (OSError, ValueError, TypeError, NamespaceError) as e:
        if debug:
            traceback.print_exc()
        print(f"pyns: {_one_line(command, o, e)}", file=sys.stderr)
        return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
