//! The process-wide lock around the start of a child: from making the fds that only the parent
//! and that child may hold (the child's end of its set-up channel, `run`'s result pipe) until
//! the parent has closed its copies. Every clone or fork of pyns takes it, so no child of
//! another thread inherits such an fd and holds it open for its lifetime (which would stall
//! the EOF that says "exec'd", or "the function returned").

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::sys::task::fork_generation;

/// 0: free; else 1 + the fork generation of the process whose thread holds it. A forked child
/// (a later generation) sees a lock its parent held as free: the holding thread is not in it.
static HOLDER: AtomicU64 = AtomicU64::new(0);

/// Held until dropped (see the module doc).
#[must_use]
pub struct StartLock {
    tag: u64,
}

impl StartLock {
    /// Waits until no other thread of this process is starting a child. The windows are short
    /// (no wait on a child inside), so it naps rather than parks.
    pub fn acquire() -> StartLock {
        let tag = fork_generation() + 1;
        loop {
            let cur = HOLDER.load(Ordering::Acquire);
            if cur != tag
                && HOLDER
                    .compare_exchange(cur, tag, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return StartLock { tag };
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

impl Drop for StartLock {
    fn drop(&mut self) {
        // In a forked child the tag is stale and the lock already counts as free there.
        let _ = HOLDER.compare_exchange(self.tag, 0, Ordering::Release, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_other_threads() {
        let first = StartLock::acquire();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _second = StartLock::acquire();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        drop(first);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }
}
