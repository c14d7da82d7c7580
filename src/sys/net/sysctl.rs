//! The calling thread's network namespace's sysctls (`/proc/sys/net/...`), written at a cost
//! that does not grow with the number of network namespaces.
//!
//! The kernel keeps, under `/proc/sys`, one dentry named `net` per network namespace that was
//! ever looked up, all in one hash chain, and a path walk compares them one by one: with n
//! namespaces alive, the first open in a new one cost O(n) (on this kernel 40 µs with a few
//! namespaces, 580 µs with 1,000, 6.4 ms with 3,000), so a topology's nodes got slower and
//! slower to make. The walk goes instead through a procfs instance of pyns' own, detached
//! (fsopen/fsmount: attached to no mount namespace, seen by no one), replaced after every
//! `ROTATE` namespaces so that its chain stays short; replacing it costs ~0.2 ms. Where the
//! kernel refuses an instance (no CAP_SYS_ADMIN over the pid namespace's owner, e.g.
//! rootless), or another thread is using it, the walk goes through `/proc` as before. The
//! instance is kept only while a `Lease` is held: an open topology holds one.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sys::error::{check, Error, Result};

/// Namespaces looked up through one procfs instance before it is replaced.
const ROTATE: u32 = 64;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// pyns' procfs instance and how many namespaces were looked up through it.
static INSTANCE: Mutex<Option<(OwnedFd, u32)>> = Mutex::new(None);
/// Set once the kernel refused an instance: this process walks `/proc` from then on.
static REFUSED: AtomicBool = AtomicBool::new(false);
/// Leases taken and not given back: the instance is kept while there is one.
static LEASES: AtomicUsize = AtomicUsize::new(0);

/// `/proc/sys/net` of the calling thread's network namespace, open for writing its knobs.
pub struct NetSysctl {
    dir: OwnedFd,
}

impl NetSysctl {
    /// Opens `sys/net` for the calling thread's network namespace, through pyns' procfs
    /// instance where it can (see the module's documentation), else through `/proc`.
    pub fn open() -> Result<NetSysctl> {
        if let Some(dir) = through_instance() {
            return Ok(NetSysctl { dir });
        }
        open_dir(libc::AT_FDCWD, c"/proc/sys/net").map(|dir| NetSysctl { dir })
    }

    /// Writes `value` to the knob at `path` below `/proc/sys/net` (e.g.
    /// `ipv4/ip_forward`).
    pub fn write(&self, path: &str, value: &[u8]) -> std::io::Result<()> {
        let c = CString::new(path).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        // SAFETY: `dir` is an open directory fd and `c` a valid C string; the fd returned is
        // owned below.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: openat just returned this fd and nothing else owns it.
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        std::io::Write::write_all(&mut &file, value)
    }
}

/// A lease on pyns' procfs instance: it is kept while a lease is held (a topology holds one
/// while open), so that nothing stays open once the last is given back or dropped.
pub struct Lease {
    held: AtomicBool,
}

impl Lease {
    pub fn take() -> Lease {
        LEASES.fetch_add(1, Ordering::Relaxed);
        Lease {
            held: AtomicBool::new(true),
        }
    }

    /// Gives the lease back (once); the last one closes the instance unless another thread
    /// is using it (that thread closes it then).
    pub fn give_back(&self) {
        if self.held.swap(false, Ordering::Relaxed) && LEASES.fetch_sub(1, Ordering::Relaxed) == 1 {
            if let Ok(mut slot) = INSTANCE.try_lock() {
                *slot = None;
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// `sys/net` through pyns' procfs instance, made or replaced as needed; None where the kernel
/// refuses one or another thread holds it.
fn through_instance() -> Option<OwnedFd> {
    if REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    // try_lock: never wait for another thread, nor for a lock a fork left taken.
    let mut slot = INSTANCE.try_lock().ok()?;
    if slot.as_ref().is_none_or(|(_, uses)| *uses >= ROTATE) {
        *slot = None; // the old instance goes with its dentries
        match new_instance() {
            Ok(fd) => *slot = Some((fd, 0)),
            Err(e) => {
                // Refused for good (no privilege, no fsopen); not for want of descriptors.
                if [libc::EPERM, libc::ENOSYS, libc::EINVAL].contains(&e.errno) {
                    REFUSED.store(true, Ordering::Relaxed);
                }
                return None;
            }
        }
    }
    let (fd, uses) = slot.as_mut()?;
    *uses += 1;
    let dir = open_dir(fd.as_raw_fd(), c"sys/net").ok();
    if LEASES.load(Ordering::Relaxed) == 0 {
        *slot = None; // no topology keeps it: not kept either
    }
    dir
}

/// A new procfs instance, detached: fsopen(2), FSCONFIG_CMD_CREATE, fsmount(2).
fn new_instance() -> Result<OwnedFd> {
    // SAFETY: fsopen takes a valid C string and flags; the fd returned is owned below.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) };
    let fs = check(fs as i32, "fsopen proc")?;
    // SAFETY: fsopen just returned this fd and nothing else owns it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs) };
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            null,
            null,
            0,
        )
    };
    check(r as i32, "fsconfig proc (create)")?;
    // SAFETY: fsmount of a created context; the fd returned is owned below.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    let m = check(m as i32, "fsmount proc")?;
    // SAFETY: fsmount just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(m) })
}

/// openat(2) of the directory `path` below `dir`, O_PATH.
fn open_dir(dir: libc::c_int, path: &std::ffi::CStr) -> Result<OwnedFd> {
    // SAFETY: `path` is a valid C string; the fd returned is owned below.
    let fd = unsafe {
        libc::openat(
            dir,
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::last(format!("open {}", path.to_string_lossy())));
    }
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ns::Kind;
    use crate::sys::thread::ThreadGuard;

    #[test]
    fn writes_the_knobs_of_the_threads_network_namespace() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let read = || std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        let before = read();
        let lease = Lease::take();
        for _ in 0..(ROTATE + 2) {
            let mut guard = ThreadGuard::unshare(&[Kind::Net]).unwrap();
            assert_eq!(read().trim(), "0");
            NetSysctl::open()
                .unwrap()
                .write("ipv4/ip_forward", b"1")
                .unwrap();
            assert_eq!(read().trim(), "1");
            guard.restore().unwrap();
        }
        assert_eq!(read(), before);
        lease.give_back();
        assert!(INSTANCE.lock().unwrap().is_none());
    }
}
