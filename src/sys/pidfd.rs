//! pidfds (pidfd_open(2)) and the namespace ioctls of pidfs (`PIDFD_GET_*_NAMESPACE`, Linux
//! 6.11+): the cheap way to get an fd for the calling thread's namespace, about 8× faster than
//! opening `/proc/thread-self/ns/<kind>`.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::error::{Error, Result};
use super::kind::Kind;
use super::task::{fork_generation, gettid};

/// `PIDFD_THREAD` of pidfd_open(2): a pidfd for one thread rather than a thread group.
pub const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// pidfd_open(2).
pub fn pidfd_open(pid: libc::pid_t, flags: libc::c_uint) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if r < 0 {
        return Err(Error::last(format!("pidfd_open({pid})")));
    }
    // SAFETY: the syscall returned a new fd (it fits a c_int) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) })
}

/// The ioctl request `PIDFD_GET_<KIND>[_FOR_CHILDREN]_NAMESPACE` (include/uapi/linux/pidfd.h).
fn namespace_request(kind: Kind, for_children: bool) -> libc::c_ulong {
    let nr = match kind {
        Kind::Cgroup => 1,
        Kind::Ipc => 2,
        Kind::Mnt => 3,
        Kind::Net => 4,
        Kind::Pid if for_children => 6,
        Kind::Pid => 5,
        Kind::Time if for_children => 8,
        Kind::Time => 7,
        Kind::User => 9,
        Kind::Uts => 10,
    };
    (0xFF << 8) | nr
}

/// A new O_CLOEXEC fd for the namespace of `kind` of the task behind `pidfd` (ioctl on a
/// pidfd, pidfd_open(2)); `for_children` selects pid/time_for_children.
pub fn namespace_fd(pidfd: BorrowedFd<'_>, kind: Kind, for_children: bool) -> Result<OwnedFd> {
    let req = namespace_request(kind, for_children);
    // SAFETY: the PIDFD_GET_*_NAMESPACE ioctls take no argument and return a new fd or -1.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), req, 0) };
    if r < 0 {
        return Err(Error::last(format!(
            "ioctl(PIDFD_GET_{}_NAMESPACE)",
            kind.name().to_uppercase()
        )));
    }
    // SAFETY: the ioctl returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Set once the kernel has refused pidfd_open(PIDFD_THREAD) or the ioctls.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The calling thread's own pidfd, with the fork count it was opened at.
    static THREAD_PIDFD: RefCell<Option<(u64, OwnedFd)>> = const { RefCell::new(None) };
}

/// An fd for the calling thread's namespace of `kind` (for pid and time with `for_children`,
/// its children's), through the thread's cached pidfd. `None` where the kernel lacks pidfs
/// namespace ioctls; the caller then opens `/proc/thread-self/ns/<kind>`.
pub fn thread_namespace_fd(kind: Kind, for_children: bool) -> Option<Result<OwnedFd>> {
    if UNSUPPORTED.load(Ordering::Relaxed) || off_for_tests() {
        return None;
    }
    let forks = fork_generation();
    let r = THREAD_PIDFD.try_with(|cell| {
        let mut slot = cell.borrow_mut();
        let (_, pidfd) = match slot.take() {
            Some(cached) if cached.0 == forks => slot.insert(cached),
            _ => slot.insert((forks, pidfd_open(gettid(), PIDFD_THREAD)?)),
        };
        namespace_fd(std::os::fd::AsFd::as_fd(pidfd), kind, for_children)
    });
    match r {
        // No pidfd_open, no PIDFD_THREAD, or no pidfs namespace ioctls: not another error
        // (EMFILE, ...), which the /proc path would meet as well.
        Ok(Err(e)) if [libc::ENOSYS, libc::EINVAL, libc::ENOTTY].contains(&e.errno) => {
            UNSUPPORTED.store(true, Ordering::Relaxed);
            None
        }
        Ok(res) => Some(res),
        Err(_) => None, // the thread is exiting
    }
}

/// The test switch `PYNS_TEST_NO_PIDFD_NS=1`: pyns then acts as on a kernel before 6.11 (no
/// pidfs namespace ioctls) and reads namespaces through `/proc`, so the test suite runs that
/// fallback on any kernel. Meant for tests only; read once, at the first use.
fn off_for_tests() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("PYNS_TEST_NO_PIDFD_NS").is_some_and(|v| v == "1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ns::Namespace;

    #[test]
    fn requests_match_the_uapi_header() {
        assert_eq!(namespace_request(Kind::Cgroup, false), 0xff01);
        assert_eq!(namespace_request(Kind::Pid, true), 0xff06);
        assert_eq!(namespace_request(Kind::Uts, false), 0xff0a);
    }

    #[test]
    fn thread_fds_name_the_same_namespaces_as_proc() {
        for kind in Kind::ALL {
            let Some(fd) = thread_namespace_fd(kind, kind.for_children()) else {
                // Below 6.11 (no PIDFD_THREAD or pidfs namespace ioctls) callers use /proc.
                // Written to stderr directly: the test harness does not capture that.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "thread_fds_name_the_same_namespaces_as_proc: skipped: the kernel has no \
                     pidfs namespace ioctls (6.11+)"
                );
                return;
            };
            let fd = fd.unwrap();
            let ns = Namespace::from_fd(fd, Some(kind)).unwrap();
            let by_path = Namespace::open(
                std::path::Path::new(kind.thread_path().to_str().unwrap()),
                Some(kind),
            )
            .unwrap();
            assert!(ns.same_as(&by_path), "{kind:?}");
        }
    }
}
