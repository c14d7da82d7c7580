"""pyns' own exceptions. Failed syscalls raise the matching built-in ``OSError`` subclass."""

from __future__ import annotations

__all__ = ["NamespaceError", "UnsupportedError", "ChildError"]


class NamespaceError(Exception):
    """Base class of pyns' own conditions (not a kernel errno)."""


class UnsupportedError(NamespaceError):
    """What was asked cannot be done this way; the message says what to use instead."""


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
