"""Names and files per host: the topology's ``/etc/hosts`` and each host's own files.

Every host with a mount namespace (the default) sees, at ``/etc/hosts``, one file per
topology that lists every node by name with all its addresses, and its own ``/etc/hostname``
and ``/etc/resolv.conf``; ``private=`` directories are fresh tmpfs and ``files=`` are placed.
Nothing is created or changed on the machine outside the topology's directory
(``Topology.directory``): a file or directory whose parent does not exist on the machine
appears through an overlay of its nearest existing ancestor, made inside the host.

How ``/etc/hosts`` stays current in O(1) per update: a bind mount of a file pins its inode,
so replacing the file by rename(2) would not be seen through binds, and rewriting it in
place would show readers half-written files. Instead each host gets a *symlink* bound over
its ``/etc/hosts`` (open_tree(2) with AT_SYMLINK_NOFOLLOW, then move_mount(2)); the symlink
points to ``<directory>/etc/hosts``, which is resolved by path at every open, so the one
shared file is replaced atomically (write a temporary file, rename it over) and every host
sees the old or the new file, never a mix. The file is rewritten lazily: a change of nodes
or links marks it stale, and it is written before a host's program starts or is entered (and
at once while programs run), so building 10,000 hosts writes it once, not 10,000 times.
"""

from __future__ import annotations

import os
import stat
import threading
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

from .._native import Namespace


if TYPE_CHECKING:
    from .nodes import Host
    from .topology import Topology

__all__ = ["HostFiles", "check_files", "hosts_text"]

#: The lines every ``/etc/hosts`` starts with.
LOCALHOST = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

Op = tuple[Any, ...]


def _path(p: object, what: str) -> str:
    if not isinstance(p, str):
        raise TypeError(f"{what}: a path must be a str, not {type(p).__name__}")
    if not p.startswith("/") or "\0" in p:
        raise ValueError(f"{what}: {p!r} is not an absolute path")
    norm = os.path.normpath(p)
    if norm == "/" or norm.startswith("//"):
        raise ValueError(f"{what}: {p!r} cannot be replaced in a host (it is the root)")
    return norm


def check_files(
    private: Optional[Iterable[str]], files: Optional[Mapping[str, Union[str, bytes]]]
) -> tuple[list[str], dict[str, bytes]]:
    """Validates ``host()``'s `private` and `files` before anything is made.

    Returns:
        The private directories (normalised, in order) and the files with their contents.

    Raises:
        TypeError: not a list of paths / a mapping of path to str or bytes.
        ValueError: a relative path, ``/``, a file that is a private directory, a private
            directory that is a file on the machine, or a file that is a directory there.
    """
    if isinstance(private, (str, bytes)):
        raise TypeError("private must be a list of directories, not a single str")
    dirs = [_path(p, "private") for p in (private or ())]
    if files is not None and not isinstance(files, Mapping):
        raise TypeError(f"files must be a dict of path to contents, not {type(files).__name__}")
    placed: dict[str, bytes] = {}
    for p, data in (files or {}).items():
        path = _path(p, "files")
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes):
            raise TypeError(f"files[{p!r}] must be str or bytes, not {type(data).__name__}")
        if path in dirs:
            raise ValueError(f"files[{p!r}]: {path} is a private directory, not a file")
        placed[path] = data
    for d in dirs:
        if os.path.lexists(d) and not os.path.isdir(d):
            raise ValueError(f"private: {d} is not a directory on this machine")
        _existing_ancestor(d, "private")
    for f in placed:
        if os.path.isdir(f) and not _inside(f, dirs):
            raise ValueError(f"files: {f} is a directory on this machine")
    for p, what in [(d, "private") for d in dirs] + [(f, "files") for f in placed]:
        anc = _existing_ancestor(p, what)
        if not os.path.lexists(p) and not _inside(p, dirs) and any(c in anc for c in ",:\\"):
            raise ValueError(
                f"{what}: {p!r} needs an overlay of {anc}, whose path has ',', ':' or a backslash "
                "(overlayfs options cannot hold them)"
            )
    return dirs, placed


def _inside(path: str, dirs: Iterable[str]) -> Optional[str]:
    """The deepest of `dirs` that holds `path` (strictly below it), if any."""
    found = [d for d in dirs if path.startswith(d + "/")]
    return max(found, key=len) if found else None


def _existing_ancestor(path: str, what: str) -> str:
    """The nearest ancestor of `path` that exists on the machine (a directory)."""
    parent = os.path.dirname(path)
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{what}: {path!r} is below {parent}, which is not a directory")
    return parent


def hosts_text(hosts: Iterable[Host]) -> str:
    """``/etc/hosts`` of a topology: localhost, then every address of every host (creation
    order, addresses in link order) with the host's name."""
    lines = [LOCALHOST, "# the nodes of this pyns topology\n"]
    for h in hosts:
        for _, iface in h._addresses:
            lines.append(f"{iface.ip}\t{h.name}\n")
    return "".join(lines)


def _write_atomically(path: str, text: str) -> None:
    """Replaces `path` by rename(2): readers see the old or the new file, never a mix (the
    temporary name is the thread's own, so threads flushing at once never share one)."""
    tmp = f"{path}.{threading.get_ident()}.new"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class HostFiles:
    """The part of ``Topology`` that keeps ``/etc/hosts`` and places hosts' own files."""

    _etc: Optional[str] = None
    _etc_stale = False

    def _etc_dir(self: Topology) -> str:
        """``<directory>/etc``, with the shared hosts file and the symlink bound into hosts."""
        if self._etc is None:
            top = self.directory
            os.chmod(top, 0o711)  # the hosts' programs, whatever their uid, follow the link
            etc = os.path.join(top, "etc")
            os.mkdir(etc, 0o755)
            os.mkdir(os.path.join(etc, "host"), 0o755)  # each host's own tmpfs covers it
            _write_atomically(os.path.join(etc, "hosts"), hosts_text(self.hosts))
            os.symlink(os.path.join(etc, "hosts"), os.path.join(etc, "hosts.link"))
            self._etc = etc
        return self._etc

    def _mnt_comes_back(self: Topology) -> bool:
        """Whether a thread may join a host's mount namespace and come back: the calling
        thread's mount namespace belongs to its own user namespace (setns(2) back needs
        CAP_SYS_ADMIN there, which a child of ``pyns.run(user=True)`` lacks in the machine's)."""
        with Namespace.current("mnt") as mine, Namespace.current("user") as user:
            try:
                with mine.owner() as owner:
                    return owner == user
            except PermissionError:  # its owner is outside this thread's user namespace
                return False

    def _names_changed(self: Topology) -> None:
        """Nodes or links changed: rewrite ``/etc/hosts`` now if programs may read it, else
        before the next program starts."""
        if self._etc is None:
            return
        self._etc_stale = True
        if self._processes:
            self._names_flush()

    def _names_flush(self: Topology) -> None:
        """Writes the shared ``/etc/hosts`` if a change is not in it yet."""
        if self._etc_stale and self._etc is not None:
            self._etc_stale = False
            _write_atomically(os.path.join(self._etc, "hosts"), hosts_text(self.hosts))

    def _host_mounts(
        self: Topology, name: str, private: list[str], files: dict[str, bytes]
    ) -> list[Op]:
        """The mounts that give host `name` its ``/etc/hosts``, ``/etc/hostname``,
        ``/etc/resolv.conf``, private directories and files, made by ``net_node`` inside the
        host's new mount namespace (by the thread that creates it)."""
        etc = self._etc_dir()
        self._etc_stale = True
        own = {
            "/etc/hostname": f"{name}\n".encode(),
            "/etc/resolv.conf": (
                f"# /etc/resolv.conf of pyns host {name}: no name server runs in the "
                "topology;\n# its nodes' names are in /etc/hosts.\n"
            ).encode(),
        }
        own.update(files)
        links = {} if "/etc/hosts" in files else {"/etc/hosts": os.path.join(etc, "hosts.link")}
        return _plan(os.path.join(etc, "host"), private, own, links)


def _plan(
    store: str, private: list[str], files: dict[str, bytes], links: dict[str, str]
) -> list[Op]:
    """The mount ops for one host, in order: a tmpfs of its own on `store` (the host's
    files and overlay layers are made there, in memory, nothing on disk), overlays where a
    path's parent is missing on the machine, private tmpfs, files made inside private
    directories, then binds over the machine's files.

    Args:
        store: an empty directory of the topology, covered by the host's own tmpfs.
        private: directories to become fresh tmpfs.
        files: files to place, with their contents.
        links: paths to cover with a symlink bound over them (``/etc/hosts``).
    """
    made: list[Op] = [("tmpfs", store, 0o755)]
    overlays: dict[str, str] = {}  # ancestor on the machine -> its layer directory
    tmpfs: list[Op] = []
    inner: list[Op] = []
    binds: list[Op] = []

    def upper(path: str, what: str) -> str:
        """Where `path` goes in the upper layer of its nearest existing ancestor's overlay."""
        anc = _existing_ancestor(path, what)
        if anc not in overlays:
            layer = os.path.join(store, f"overlay{len(overlays)}")
            made.append(("mkdir", os.path.join(layer, "work"), 0o700))
            made.append(("mkdir", os.path.join(layer, "upper"), stat.S_IMODE(os.stat(anc).st_mode)))
            overlays[anc] = layer
        return os.path.join(overlays[anc], "upper", os.path.relpath(path, anc))

    for d in sorted(private, key=lambda p: p.count("/")):
        outer = _inside(d, private)
        if outer is not None:
            tmpfs.append(("mkdir", d, 0o755))
        elif not os.path.lexists(d):
            made.append(("mkdir", upper(d, "private"), 0o755))
        mode = stat.S_IMODE(os.stat(d).st_mode) if outer is None and os.path.isdir(d) else 0o755
        tmpfs.append(("tmpfs", d, mode))
    targets: list[tuple[str, bytes, Optional[str]]] = [
        (p, data, None) for p, data in files.items()
    ] + [(p, b"", src) for p, src in links.items()]
    for path, data, src in targets:
        if _inside(path, private):
            inner.append(("mkdir", os.path.dirname(path), 0o755))
            inner.append(("write", path, data, 0o644))
        elif not os.path.lexists(path):
            placed = upper(path, "files")
            made.append(("mkdir", os.path.dirname(placed), 0o755))
            made.append(("write", placed, data, 0o644))
        else:
            if src is None:
                src = os.path.join(store, f"{len(binds)}-{os.path.basename(path)}")
                made.append(("write", src, data, 0o644))
            binds.append(("bind", src, path))
            continue
        if src is not None:
            binds.append(("bind", src, path))
    mounts: list[Op] = [
        ("overlay", anc, os.path.join(layer, "upper"), os.path.join(layer, "work"))
        for anc, layer in sorted(overlays.items(), key=lambda kv: kv[0].count("/"))
    ]
    # An overlay or a private tmpfs over a directory that holds the topology's (private=
    # ["/tmp"]) would hide the shared /etc/hosts and the host's store: keep a copy of the
    # topology's etc directory (with the store mounted on it) and put it back on top.
    keep = os.path.dirname(store)
    if any(keep.startswith(op[1] + "/") for op in mounts + tmpfs if op[0] != "mkdir"):
        made.append(("hold", keep))
        tmpfs += [("mkdir", keep, 0o755), ("attach", 0, keep)]
    return made + mounts + tmpfs + inner + binds
