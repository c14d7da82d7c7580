"""Command-line options parsed the way util-linux's ``getopt_long`` does, for ``pyns``.

Unlike argparse, an optional argument is only taken when attached (``--net=FILE``, ``-nFILE``),
short flags cluster (``-nU``), unique prefixes of long options work, and parsing stops at the
first non-option (util-linux's ``+``) unless the command permutes (lsns). Mistakes raise
:class:`UsageError`, which the command line prints with the subcommand's usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["NONE", "OPTIONAL", "REQUIRED", "Opt", "UsageError", "parse"]

NONE, REQUIRED, OPTIONAL = 0, 1, 2


@dataclass(frozen=True)
class Opt:
    """One option: ``dest`` in the result; ``short`` one letter; ``long`` without ``--``.

    ``arg`` is NONE, REQUIRED or OPTIONAL; ``many`` collects every use in a list; ``const`` is
    the value given without an argument.
    """

    dest: str
    short: str | None
    long: str | None
    arg: int = NONE
    many: bool = False
    const: Any = True


class UsageError(Exception):
    """A misused command line: the message, and the exit status (util-linux's 1 by default)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _store(out: dict[str, Any], opt: Opt, value: Any) -> None:
    if opt.many:
        out.setdefault(opt.dest, []).append(value)
    else:
        out[opt.dest] = value


def _long(opts: Sequence[Opt], text: str) -> Opt:
    name = text.split("=", 1)[0]
    exact = [o for o in opts if o.long == name]
    if exact:
        return exact[0]
    found = [o for o in opts if o.long and o.long.startswith(name)]
    if len({o.long for o in found}) > 1:
        raise UsageError(f"option '--{name}' is ambiguous")
    if not found or not name:
        raise UsageError(f"unrecognized option '--{name}'")
    return found[0]


def parse(
    opts: Sequence[Opt], argv: Sequence[str], permute: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Parses `argv` against `opts`.

    Args:
        opts: the options the command takes.
        argv: the arguments after the command's name.
        permute: keep parsing options after non-options (GNU getopt without ``+``).

    Returns:
        ``(values, rest)``: values by dest (only the options given), and the remaining
        arguments (after ``--``, or from the first non-option on).

    Raises:
        UsageError: an unknown option, a missing or unexpected argument.
    """
    out: dict[str, Any] = {}
    rest: list[str] = []
    shorts = {o.short: o for o in opts if o.short}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            rest.extend(argv[i:])
            break
        if a.startswith("--"):
            opt = _long(opts, a[2:])
            has_value = "=" in a
            if opt.arg == NONE:
                if has_value:
                    raise UsageError(f"option '--{opt.long}' doesn't allow an argument")
                _store(out, opt, opt.const)
            elif has_value:
                _store(out, opt, a.split("=", 1)[1])
            elif opt.arg == OPTIONAL:
                _store(out, opt, opt.const)
            elif i < len(argv):
                _store(out, opt, argv[i])
                i += 1
            else:
                raise UsageError(f"option '--{opt.long}' requires an argument")
        elif a.startswith("-") and a != "-":
            j = 1
            while j < len(a):
                c = a[j]
                j += 1
                if c not in shorts:
                    raise UsageError(f"invalid option -- '{c}'")
                opt = shorts[c]
                if opt.arg == NONE:
                    _store(out, opt, opt.const)
                    continue
                attached = a[j:]
                if attached:
                    _store(out, opt, attached)
                elif opt.arg == OPTIONAL:
                    _store(out, opt, opt.const)
                elif i < len(argv):
                    _store(out, opt, argv[i])
                    i += 1
                else:
                    raise UsageError(f"option requires an argument -- '{c}'")
                break
        elif permute:
            rest.append(a)
        else:
            rest.extend(argv[i - 1 :])
            break
    return out, rest
