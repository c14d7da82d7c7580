//! Namespace kinds and handles: nsfs files held by fd, their identity and ioctl_ns(2) queries.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, Mode};

use super::error::{Context, Error, Result};
use super::pidfd;

/// The namespace kinds, named as in `/proc/<pid>/ns/` (namespaces(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Cgroup,
    Ipc,
    Mnt,
    Net,
    Pid,
    Time,
    User,
    Uts,
}

/// `CLONE_NEWTIME` (clone(2)); older libc crates lack it.
pub const CLONE_NEWTIME: libc::c_int = 0x80;

impl Kind {
    /// Every kind, in the order of `pyns.KINDS`.
    pub const ALL: [Kind; 8] = [
        Kind::Cgroup,
        Kind::Ipc,
        Kind::Mnt,
        Kind::Net,
        Kind::Pid,
        Kind::Time,
        Kind::User,
        Kind::Uts,
    ];

    /// The name used in `/proc/<pid>/ns/` and by `lsns`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cgroup => "cgroup",
            Kind::Ipc => "ipc",
            Kind::Mnt => "mnt",
            Kind::Net => "net",
            Kind::Pid => "pid",
            Kind::Time => "time",
            Kind::User => "user",
            Kind::Uts => "uts",
        }
    }

    /// The `CLONE_NEW*` flag of clone(2), unshare(2) and setns(2).
    pub fn flag(self) -> libc::c_int {
        match self {
            Kind::Cgroup => libc::CLONE_NEWCGROUP,
            Kind::Ipc => libc::CLONE_NEWIPC,
            Kind::Mnt => libc::CLONE_NEWNS,
            Kind::Net => libc::CLONE_NEWNET,
            Kind::Pid => libc::CLONE_NEWPID,
            Kind::Time => CLONE_NEWTIME,
            Kind::User => libc::CLONE_NEWUSER,
            Kind::Uts => libc::CLONE_NEWUTS,
        }
    }

    /// The constant's name, for messages: `CLONE_NEWUTS`.
    pub fn flag_name(self) -> &'static str {
        match self {
            Kind::Cgroup => "CLONE_NEWCGROUP",
            Kind::Ipc => "CLONE_NEWIPC",
            Kind::Mnt => "CLONE_NEWNS",
            Kind::Net => "CLONE_NEWNET",
            Kind::Pid => "CLONE_NEWPID",
            Kind::Time => "CLONE_NEWTIME",
            Kind::User => "CLONE_NEWUSER",
            Kind::Uts => "CLONE_NEWUTS",
        }
    }

    /// The kind named `name` (`"net"`), if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind whose `CLONE_NEW*` flag is exactly `flag`, if any.
    pub fn from_flag(flag: libc::c_int) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.flag() == flag)
    }

    /// The kinds whose flags are set in `flags`, or the first unknown bit as an error.
    pub fn from_flags(flags: libc::c_int) -> std::result::Result<Vec<Kind>, libc::c_int> {
        let known = Kind::ALL.iter().fold(0, |acc, k| acc | k.flag());
        if flags & !known != 0 {
            return Err(flags & !known);
        }
        Ok(Kind::ALL
            .into_iter()
            .filter(|k| flags & k.flag() != 0)
            .collect())
    }

    /// The OR of the kinds' flags.
    pub fn flags(kinds: &[Kind]) -> libc::c_int {
        kinds.iter().fold(0, |acc, k| acc | k.flag())
    }

    /// Whether the kind changes the namespace of the caller's children only (pid, time).
    pub fn for_children(self) -> bool {
        matches!(self, Kind::Pid | Kind::Time)
    }

    /// The `/proc/thread-self/ns/` entry that names where the calling thread is for this kind;
    /// for pid and time, where its next children will be (`pid_for_children`).
    pub fn thread_path(self) -> &'static CStr {
        match self {
            Kind::Cgroup => c"/proc/thread-self/ns/cgroup",
            Kind::Ipc => c"/proc/thread-self/ns/ipc",
            Kind::Mnt => c"/proc/thread-self/ns/mnt",
            Kind::Net => c"/proc/thread-self/ns/net",
            Kind::Pid => c"/proc/thread-self/ns/pid_for_children",
            Kind::Time => c"/proc/thread-self/ns/time_for_children",
            Kind::User => c"/proc/thread-self/ns/user",
            Kind::Uts => c"/proc/thread-self/ns/uts",
        }
    }
}

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
    /// Opens the nsfs file at `path` (open(2) + ioctl_ns(2) NS_GET_NSTYPE), checking its kind.
    pub fn open(path: &Path, expect: Option<Kind>) -> Result<Namespace> {
        let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
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
                return Err(Error::condition(
                    "not a namespace file (ioctl NS_GET_NSTYPE refused it): \
                     expected a file like /proc/<pid>/ns/<kind> or /run/netns/<name>",
                ));
            }
            Err(e) => return Err(Error::new("ioctl(NS_GET_NSTYPE)", e as i32)),
        };
        if let Some(want) = expect {
            if want != kind {
                return Err(Error::condition(format!(
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
        Namespace::open(
            Path::new(&format!("/proc/{pid}/ns/{}", kind.name())),
            Some(kind),
        )
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

/// `CLONE_NEWUTS|CLONE_NEWNET` for messages; "0" for none.
pub fn describe_flags(flags: libc::c_int) -> String {
    let names: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| flags & k.flag() != 0)
        .map(|k| k.flag_name())
        .collect();
    if names.is_empty() {
        format!("{flags:#x}")
    } else {
        names.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_flags_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
            assert_eq!(Kind::from_flag(k.flag()), Some(k));
        }
        assert_eq!(Kind::from_name("network"), None);
    }

    #[test]
    fn from_flags_rejects_unknown_bits() {
        assert_eq!(
            Kind::from_flags(libc::CLONE_NEWUTS | libc::CLONE_NEWNET),
            Ok(vec![Kind::Net, Kind::Uts])
        );
        assert_eq!(Kind::from_flags(libc::CLONE_VM), Err(libc::CLONE_VM));
    }

    #[test]
    fn describes_flags() {
        assert_eq!(
            describe_flags(libc::CLONE_NEWNS | libc::CLONE_NEWPID),
            "CLONE_NEWNS|CLONE_NEWPID"
        );
        assert_eq!(describe_flags(0), "0x0");
    }

    #[test]
    fn thread_paths() {
        assert_eq!(
            Kind::Pid.thread_path(),
            c"/proc/thread-self/ns/pid_for_children"
        );
        for k in Kind::ALL {
            assert!(k.thread_path().to_str().unwrap().contains(k.name()));
        }
    }

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
        assert_eq!(e.errno, 0);
        assert!(e.op.contains("not a namespace file"));
    }

    #[test]
    fn kind_mismatch_is_reported() {
        let e = Namespace::open(Path::new("/proc/self/ns/net"), Some(Kind::Uts)).unwrap_err();
        assert_eq!(e.op, "this is a net namespace, not a uts namespace");
    }
}
