"""subprocess.Popen's ``umask``, ``start_new_session``, ``process_group``, ``user``,
``group`` and ``extra_groups`` as child options: checked, names resolved (pwd/grp, in the
caller), turned into the native ``ChildSpec``'s keywords.

The child sets them last, after its namespaces (ids as seen in its user namespace, the maps
written) and, for ``spawn``, after its chdir, in Popen's order: umask, setsid,
setpgid(0, pgid), setgroups, setresgid, setresuid.
"""

from __future__ import annotations

import grp
import pwd
from typing import Any, Callable

__all__ = ["creds_keywords"]

#: (uid_t)-1 means "unchanged" to the kernel: the largest id is one below.
_MAX_ID = 2**32 - 2
#: The most supplementary groups Linux takes (NGROUPS_MAX).
_MAX_GROUPS = 65536


def _id(name: str, value: Any, lookup: Callable[[str], int], what: str) -> int:
    """A user or group given as a name (looked up) or an id (checked)."""
    if isinstance(value, str):
        try:
            return lookup(value)
        except KeyError:
            raise ValueError(
                f"{name}: unknown {what} {value!r} (not in this system's {what} database)"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be a {what} name (str) or id (int), not {type(value).__name__}"
        )
    if not 0 <= value <= _MAX_ID:
        raise ValueError(f"{name} must be a {what} id from 0 to {_MAX_ID}, not {value}")
    return value


def _uid(name: str, value: Any) -> int:
    return _id(name, value, lambda n: pwd.getpwnam(n).pw_uid, "user")


def _gid(name: str, value: Any) -> int:
    return _id(name, value, lambda n: grp.getgrnam(n).gr_gid, "group")


def creds_keywords(
    *,
    user: Any,
    group: Any,
    extra_groups: Any,
    umask: Any,
    start_new_session: Any,
    process_group: Any,
    new_user_namespace: bool,
    setgroups: str,
) -> dict[str, Any]:
    """Checks subprocess's options of a child; returns the ``ChildSpec`` keywords.

    Args:
        user: a user name or uid; None (or a bool, the ``user=`` namespace flag): unchanged.
        group: a group name or gid, or None.
        extra_groups: an iterable of group names or gids (empty: none), or None: unchanged.
        umask: 0 to 0o777, or None or -1 (subprocess's default): unchanged.
        start_new_session: setsid in the child.
        process_group: setpgid(0, process_group) in the child (0: a new group), or None.
        new_user_namespace, setgroups: the child's new user namespace and its setgroups.

    Returns:
        umask, new_session, process_group, groups, gid, uid for ``_native.ChildSpec``.

    Raises:
        TypeError, ValueError: a bad value or an unknown name, naming the argument.
    """
    if not isinstance(start_new_session, bool):
        raise TypeError(f"start_new_session must be a bool, not {type(start_new_session).__name__}")
    if umask is not None:
        if isinstance(umask, bool) or not isinstance(umask, int):
            raise TypeError(f"umask must be an int like 0o022, not {type(umask).__name__}")
        if not -1 <= umask <= 0o777:
            raise ValueError(f"umask must be from 0 to 0o777 (or -1: unchanged), not {umask:#o}")
        if umask == -1:
            umask = None
    if process_group is not None:
        if isinstance(process_group, bool) or not isinstance(process_group, int):
            raise TypeError(
                f"process_group must be a process group id (int), not {type(process_group).__name__}"
            )
        if process_group < 0:
            raise ValueError(
                f"process_group must be a process group id >= 0 (0: a new group), not {process_group}"
            )
        if start_new_session:
            raise ValueError(
                "start_new_session=True and process_group exclude each other: the new session's "
                "leader cannot change its process group (setpgid fails with EPERM)"
            )
    groups = None
    if extra_groups is not None:
        if isinstance(extra_groups, (str, bytes)) or not hasattr(extra_groups, "__iter__"):
            raise TypeError(
                f"extra_groups must be a list of group names or ids, not {type(extra_groups).__name__}"
            )
        groups = [_gid("extra_groups", g) for g in extra_groups]
        if len(groups) > _MAX_GROUPS:
            raise ValueError(
                f"extra_groups has {len(groups)} groups; Linux takes at most {_MAX_GROUPS}"
            )
        if new_user_namespace and setgroups != "allow":
            raise ValueError(
                "extra_groups in a new user namespace needs setgroups='allow' (the kernel refuses "
                "setgroups(2) where it is denied; an unprivileged caller's gid map needs 'deny')"
            )
    return {
        "umask": umask,
        "new_session": start_new_session,
        "process_group": process_group,
        "groups": groups,
        "gid": None if group is None else _gid("group", group),
        "uid": None if user is None or isinstance(user, bool) else _uid("user", user),
    }
