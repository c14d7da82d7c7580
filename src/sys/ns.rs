//! Namespace kinds and handles: nsfs files held by fd, their identity and ioctl_ns(2) queries.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, Mode};

use super::error::{Context, Error, Result};
pub use super::kind::{describe_flags, Kind, CLONE_NEWTIME};
use super::pidfd;

/// What a file that nsfs does not back is told.
const NOT_A_NAMESPACE: &str = "not a namespace file: expected a file like \
    /proc/<pid>/ns/<kind> or a bind mount of one (e.g. a named network namespace)";

/// `f_type` of nsfs (statfs(2), linux/magic.h).
const NSFS_MAGIC: libc::c_long = 0x6e73_6673;

// ioctl_ns(2): _IO(0xb7, n).
nix::ioctl_none!(ns_get_userns, 0xb7, 1);
nix::ioctl_none!(ns_get_parent, 0xb7, 2);
nix::ioctl_none!(ns_get_nstype, 0xb7, 3);

/// An open nsfs file: holding it keeps the namespace alive.
#[derive(Debug)]
pub struct Namespace {
    fd: OwnedFd,
    kind: Kind,
    dev: u64,
    ino: u64,
}

impl Namespace {
    /// Opens the nsfs file at `path`, checking its kind: first with O_PATH, which never blocks
    /// nor has effects (a FIFO, a device, a socket), then, once fstatfs(2) has shown it is on
    /// nsfs, again for reading through `/proc/self/fd` (the same inode, whatever happens to
    /// `path` meanwhile), then ioctl_ns(2) NS_GET_NSTYPE.
    pub fn open(path: &Path, expect: Option<Kind>) -> Result<Namespace> {
        let pinned = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .op("open namespace file")
            .map_err(|e| e.at(path))?;
        let mut fs = std::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: fstatfs fills the buffer on success; it is read only then.
        let r = unsafe { libc::fstatfs(pinned.as_raw_fd(), fs.as_mut_ptr()) };
        super::error::check(r, "fstatfs namespace file").map_err(|e| e.at(path))?;
        // SAFETY: fstatfs succeeded, so it initialised the buffer.
        if unsafe { fs.assume_init() }.f_type != NSFS_MAGIC {
            return Err(Error::not_a_namespace(NOT_A_NAMESPACE).at(path));
        }
        let reopen = format!("/proc/self/fd/{}", pinned.as_raw_fd());
        let fd = open(
            Path::new(&reopen),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .op("open namespace file")
        .map_err(|e| e.at(path))?;
        Namespace::from_fd(fd, expect).map_err(|e| e.at(path))
    }

    /// Wraps an fd that should refer to a namespace, checking it does (and its kind).
    pub fn from_fd(fd: OwnedFd, expect: Option<Kind>) -> Result<Namespace> {
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd's inode.
        let kind = match unsafe { ns_get_nstype(fd.as_raw_fd()) } {
            Ok(flag) => Kind::from_flag(flag)
                .ok_or_else(|| Error::condition(format!("unknown namespace type {flag:#x}")))?,
            Err(nix::errno::Errno::ENOTTY) | Err(nix::errno::Errno::EINVAL) => {
                return Err(Error::not_a_namespace(NOT_A_NAMESPACE));
            }
            Err(e) => return Err(Error::new("ioctl(NS_GET_NSTYPE)", e as i32)),
        };
        if let Some(want) = expect {
            if want != kind {
                return Err(Error::not_a_namespace(format!(
                    "this is a {} namespace, not a {} namespace",
                    kind.name(),
                    want.name()
                )));
            }
        }
        let st = fstat(&fd).op("fstat namespace file")?;
        Ok(Namespace {
            fd,
            kind,
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The calling thread's namespace of `kind` (`/proc/thread-self/ns/<kind>`).
    pub fn current(kind: Kind) -> Result<Namespace> {
        match pidfd::thread_namespace_fd(kind, false) {
            Some(fd) => Namespace::from_fd(fd?, Some(kind)),
            None => {
                let path = format!("/proc/thread-self/ns/{}", kind.name());
                Namespace::open(Path::new(&path), Some(kind))
            }
        }
    }

    /// Process `pid`'s namespace of `kind` (`/proc/<pid>/ns/<kind>`).
    pub fn of(pid: libc::pid_t, kind: Kind) -> Result<Namespace> {
        let path = format!("/proc/{pid}/ns/{}", kind.name());
        Namespace::open(Path::new(&path), Some(kind)).map_err(|e| {
            if e.errno == libc::EACCES || e.errno == libc::EPERM {
                e.hint(format!(
                    "Opening another process's namespaces needs ptrace access to it \
                     (ptrace(2), PTRACE_MODE_READ): be the same user as process {pid} (and it \
                     not set non-dumpable), or have CAP_SYS_PTRACE, e.g. run as root."
                ))
            } else {
                e
            }
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn dev(&self) -> u64 {
        self.dev
    }

    pub fn inode(&self) -> u64 {
        self.ino
    }

    /// A second handle on the same namespace, with its own fd (fcntl(2) F_DUPFD_CLOEXEC).
    pub fn try_clone(&self) -> Result<Namespace> {
        let fd = self.fd.try_clone().map_err(|e| {
            Error::new(
                "dup the namespace fd",
                e.raw_os_error().unwrap_or(libc::EIO),
            )
        })?;
        Ok(Namespace {
            fd,
            kind: self.kind,
            dev: self.dev,
            ino: self.ino,
        })
    }

    /// The same namespace as `other` (same nsfs device and inode).
    pub fn same_as(&self, other: &Namespace) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }

    /// The user namespace that owns this one (ioctl_ns(2) NS_GET_USERNS).
    pub fn owner(&self) -> Result<Namespace> {
        // SAFETY: NS_GET_USERNS takes no argument; it returns a new fd or fails.
        let r = unsafe { ns_get_userns(self.fd.as_raw_fd()) };
        self.related(r, "ioctl(NS_GET_USERNS): the owning user namespace")
    }

    /// The parent of this pid or user namespace (ioctl_ns(2) NS_GET_PARENT).
    pub fn parent(&self) -> Result<Namespace> {
        if !matches!(self.kind, Kind::Pid | Kind::User) {
            return Err(Error::condition(format!(
                "a {} namespace has no parent: only pid and user namespaces are nested",
                self.kind.name()
            )));
        }
        // SAFETY: NS_GET_PARENT takes no argument; it returns a new fd or fails.
        let r = unsafe { ns_get_parent(self.fd.as_raw_fd()) };
        self.related(r, "ioctl(NS_GET_PARENT): the parent namespace")
    }

    fn related(&self, r: nix::Result<libc::c_int>, op: &'static str) -> Result<Namespace> {
        match r {
            // SAFETY: the ioctl returned a new fd that nothing else owns.
            Ok(raw) => Namespace::from_fd(unsafe { OwnedFd::from_raw_fd(raw) }, None),
            Err(nix::errno::Errno::EPERM) => Err(Error::new(
                format!(
                    "{op}: it is outside the caller's user namespace, or this is the initial \
                     {} namespace, which has none",
                    self.kind.name()
                ),
                libc::EPERM,
            )),
            Err(e) => Err(Error::new(op, e as i32)),
        }
    }

    /// Bind-mounts the namespace on `path` (created if missing), so that it outlives its
    /// processes, as `ip netns add` does (mount(2) MS_BIND).
    pub fn persist(&self, path: &Path) -> Result<()> {
        let created = !path.exists();
        open(
            path,
            OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .op("create the mount point for the namespace")
        .map_err(|e| e.at(path))?;
        let src = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        let r = mount(
            Some(&src),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .op("bind-mount the namespace (mount MS_BIND)")
        .map_err(|e| e.at(path));
        if r.is_err() && created {
            let _ = std::fs::remove_file(path);
        }
        r
    }
}

impl From<Namespace> for OwnedFd {
    fn from(ns: Namespace) -> OwnedFd {
        ns.fd
    }
}

impl AsFd for Namespace {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// unshare(2): moves the calling thread into new namespaces of the kinds in `flags`.
pub fn unshare(flags: libc::c_int) -> Result<()> {
    // SAFETY: unshare only changes the calling thread's kernel state.
    let r = unsafe { libc::unshare(flags) };
    super::error::check_with(r, || format!("unshare({})", describe_flags(flags))).map(drop)
}

/// setns(2): moves the calling thread into the namespace `fd` refers to.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> Result<()> {
    // SAFETY: the fd is valid for the call; setns only changes the thread's kernel state.
    let r = unsafe { libc::setns(fd.as_raw_fd(), nstype) };
    super::error::check_with(r, || format!("setns({})", describe_flags(nstype))).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_namespaces_open_with_their_kind() {
        for k in Kind::ALL {
            let ns = Namespace::current(k).unwrap();
            assert_eq!(ns.kind(), k);
            assert!(ns.same_as(&Namespace::current(k).unwrap()));
        }
    }

    #[test]
    fn a_regular_file_is_not_a_namespace() {
        let e = Namespace::open(Path::new("/proc/self/status"), None).unwrap_err();
        assert_eq!(e.kind, super::super::error::ErrorKind::NotANamespace);
        assert!(e.op.contains("not a namespace file"));
    }

    #[test]
    fn kind_mismatch_is_reported() {
        let e = Namespace::open(Path::new("/proc/self/ns/net"), Some(Kind::Uts)).unwrap_err();
        assert_eq!(e.op, "this is a net namespace, not a uts namespace");
    }
}
