"""The ``pyns`` command line (also ``python -m pyns``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from ._native import KINDS
from .lsns import list_namespaces

__all__ = ["main"]

#: Exit status for a failure of pyns itself, as util-linux uses.
EXIT_SETUP = 125


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyns", description="Linux namespaces, from Python.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("ls", help="list namespaces in use (like lsns)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("-t", "--type", choices=KINDS, help="only namespaces of this kind")
    ls.add_argument("-p", "--task", dest="pid", type=int, help="only namespaces of this process")
    ls.set_defaults(func=_ls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (OSError, ValueError) as e:
        if args.debug:
            raise
        print(f"pyns: {e}", file=sys.stderr)
        return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
