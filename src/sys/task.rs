//! Facts about the calling task that callers cache: its thread id and how many fork(2)s lie
//! between it and the process that first asked. A leaf module.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Bumped in every child of fork(2), so per-thread caches are not trusted in a child.
static FORKS: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn count_fork() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// How many fork(2)s (pthread_atfork(3) child handler) lie between this process and the
/// first call: it differs in a forked child, even where a pid namespace gives the child the
/// same pid or tid as its parent. Values only grow along a line of descent.
pub fn fork_generation() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic; it is async-signal-safe.
        unsafe { libc::pthread_atfork(None, None, Some(count_fork)) };
    });
    FORKS.load(Ordering::Relaxed)
}

thread_local! {
    /// The calling thread's id, with the fork generation it was read at.
    static TID: Cell<(u64, libc::pid_t)> = const { Cell::new((u64::MAX, 0)) };
}

/// The calling thread's kernel id (gettid(2)), cached per thread and fork generation.
pub fn gettid() -> libc::pid_t {
    let generation = fork_generation();
    TID.try_with(|cell| {
        let (at, tid) = cell.get();
        if at == generation {
            return tid;
        }
        // SAFETY: gettid has no preconditions and cannot fail.
        let tid = unsafe { libc::gettid() };
        cell.set((generation, tid));
        tid
    })
    // SAFETY: as above; the thread is exiting and its cache is gone.
    .unwrap_or_else(|_| unsafe { libc::gettid() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gettid_is_the_kernels() {
        // SAFETY: gettid has no preconditions.
        assert_eq!(gettid(), unsafe { libc::gettid() });
        assert_eq!(fork_generation(), fork_generation());
    }
}
