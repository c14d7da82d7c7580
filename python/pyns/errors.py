"""pyns' own exceptions. Failed syscalls raise the matching built-in ``OSError`` subclass.

Every ``OSError`` that pyns raises also carries two attributes:

- ``step`` (str): what pyns was doing, e.g. ``"setns(CLONE_NEWNET)"``;
- ``hint`` (str or None): the missing privilege and how to get it, when pyns knows it.

Both are also in the exception's note (``"pyns was doing: ..."``), for people reading a traceback.
"""

from __future__ import annotations

__all__ = ["NamespaceError", "UnsupportedError", "NotANamespaceError", "ChildError"]


class NamespaceError(Exception):
    """Base class of pyns' own conditions (not a kernel errno)."""


class UnsupportedError(NamespaceError):
    """What was asked cannot be done this way; the message says what to use instead."""


class NotANamespaceError(NamespaceError, ValueError):
    """A file given as a namespace is not a namespace file (``/etc/hostname``, a FIFO, a
    directory), or is a namespace of another kind than the one asked for."""


class ChildError(NamespaceError):
    """A child failed while setting itself up, before running its program.

    Attributes:
        step: what the child was doing, e.g. ``"write /proc/1234/uid_map"``.
        errno: the kernel's error number, or None.
    """

    def __init__(self, message: str, step: str | None = None, errno: int | None = None):
        super().__init__(message)
        self.step = step
        self.errno = errno
