//! ThreadGuard: move the calling thread into namespaces and bring it back, in reverse order.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use std::ffi::CStr;

use super::error::{check, Error, Result};
use super::kind::Kind;
use super::ns;
use super::pidfd;
use super::task::{fork_generation, gettid};

/// How many threads the calling process has (field 20 of /proc/self/stat, proc(5)).
pub fn thread_count() -> Result<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| {
        Error::new(
            "read /proc/self/stat",
            e.raw_os_error().unwrap_or(libc::EIO),
        )
    })?;
    parse_thread_count(&stat).ok_or_else(|| Error::condition("cannot parse /proc/self/stat"))
}

fn parse_thread_count(stat: &str) -> Option<usize> {
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Refuses a time-namespace switch that could not be undone: setns(2) into a time namespace
/// fails with EUSERS while the process has more than one thread.
pub fn require_single_thread(what: &str) -> Result<()> {
    let n = thread_count()?;
    if n > 1 {
        return Err(Error::unsupported(format!(
            "{what} cannot switch the time namespace back in a multi-threaded process (this \
             one has {n} threads; the kernel refuses setns with EUSERS): use pyns.spawn or \
             pyns.run with time=True instead"
        )));
    }
    Ok(())
}

/// What a thread left, to go back to: its namespaces of each kind it changed, and its cwd.
#[derive(Debug)]
pub struct ThreadGuard {
    tid: libc::pid_t,
    /// The fork generation it was made in: a forked child (whose thread may have the same tid
    /// in a new pid namespace) never restores the parent's thread.
    forks: u64,
    saved: Vec<(Kind, OwnedFd)>,
    cwd: Option<OwnedFd>,
    active: bool,
}

impl ThreadGuard {
    /// Saves the calling thread's namespaces of `kinds` (and its cwd if `mnt` is among them).
    fn save(kinds: &[Kind]) -> Result<ThreadGuard> {
        let mut saved = Vec::with_capacity(kinds.len());
        for &k in kinds {
            saved.push((k, open_current(k)?));
        }
        let cwd = if kinds.contains(&Kind::Mnt) {
            Some(open_path(c".", libc::O_PATH | libc::O_DIRECTORY)?)
        } else {
            None
        };
        Ok(ThreadGuard {
            tid: gettid(),
            forks: fork_generation(),
            saved,
            cwd,
            active: true,
        })
    }

    /// unshare(2) the kinds on the calling thread; `restore` returns to where it was.
    pub fn unshare(kinds: &[Kind]) -> Result<ThreadGuard> {
        let mut guard = ThreadGuard::save(kinds)?;
        let r = ns::unshare(Kind::flags(kinds));
        if r.is_err() {
            guard.active = false;
        }
        r.map(|()| guard)
    }

    /// setns(2) into each namespace in turn; `restore` returns to where the thread was.
    pub fn join(targets: &[(Kind, BorrowedFd<'_>)]) -> Result<ThreadGuard> {
        let kinds: Vec<Kind> = targets.iter().map(|t| t.0).collect();
        let mut guard = ThreadGuard::save(&kinds)?;
        if kinds.contains(&Kind::Mnt) {
            // setns(CLONE_NEWNS) needs a thread whose filesystem info is not shared.
            if let Err(e) = ns::unshare(libc::CLONE_FS) {
                guard.active = false;
                return Err(e);
            }
        }
        for (i, (kind, fd)) in targets.iter().enumerate() {
            if let Err(e) = ns::setns(*fd, kind.flag()) {
                // Undo the ones already joined, then report.
                guard.saved.truncate(i);
                let _ = guard.restore();
                return Err(e);
            }
        }
        Ok(guard)
    }

    /// Whether the thread is still away from where it started.
    pub fn active(&self) -> bool {
        self.active
    }

    /// The thread that made the guard.
    pub fn tid(&self) -> libc::pid_t {
        self.tid
    }

    /// Returns the thread to the namespaces it had, in reverse order, and to its old cwd.
    /// Must run on the thread that made the guard; a second call does nothing.
    pub fn restore(&mut self) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        if fork_generation() != self.forks {
            return Err(Error::condition(
                "namespaces entered before a fork are restored by the parent, not in the child",
            ));
        }
        if gettid() != self.tid {
            return Err(Error::condition(format!(
                "namespaces entered on thread {} must be restored on that thread, not on {}",
                self.tid,
                gettid()
            )));
        }
        self.active = false;
        let mut first_err = None;
        for (kind, fd) in self.saved.drain(..).rev() {
            if let Err(e) = ns::setns(fd.as_fd(), kind.flag()) {
                first_err.get_or_insert(e);
            }
        }
        if let Some(cwd) = self.cwd.take() {
            // SAFETY: fchdir on a directory fd we own; it only changes this thread's cwd.
            if unsafe { libc::fchdir(cwd.as_raw_fd()) } < 0 {
                first_err.get_or_insert(Error::last("fchdir back to the saved directory"));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        // Best effort if the owner forgot; never from another thread or a forked child.
        if self.active && gettid() == self.tid && fork_generation() == self.forks {
            let _ = self.restore();
        }
    }
}

/// An fd for where the calling thread is for `kind` (for pid and time, where its children will
/// be): by its pidfd where the kernel can, else by `/proc/thread-self/ns`.
pub fn open_current(kind: Kind) -> Result<OwnedFd> {
    match pidfd::thread_namespace_fd(kind, kind.for_children()) {
        Some(r) => r,
        None => open_path(kind.thread_path(), libc::O_RDONLY),
    }
}

/// open(2) with O_CLOEXEC, for the fds a guard keeps.
fn open_path(path: &CStr, flags: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: `path` is a valid C string; the returned fd is owned below.
    let raw = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    check(raw, format!("open {}", path.to_string_lossy())).map(|raw| {
        // SAFETY: open just returned this fd and nothing else owns it.
        unsafe { OwnedFd::from_raw_fd(raw) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thread_count_after_odd_command_names() {
        let line = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 123 456";
        assert_eq!(parse_thread_count(line), Some(7));
        assert_eq!(parse_thread_count("garbage"), None);
    }

    #[test]
    fn this_process_has_threads() {
        assert!(thread_count().unwrap() >= 1);
    }
}
