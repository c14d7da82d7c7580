//! The stacks of the inits that share the caller's memory (a clone with CLONE_VM, so that
//! starting one copies nothing of the caller): such an init runs on a stack in the caller's
//! address space for as long as it lives, so the stack is kept here, with the init's pid,
//! until the init has exited (a zombie: the kernel has let go of its memory by then) or is
//! no longer our child (reaped: the pid is gone or another process's). Whoever reaps the init
//! (a `Process` in Python, or nobody), the stack is unmapped by a later `sweep`, never while
//! the init runs on it. No fd is held: a reused pid can only delay the unmapping.

use std::sync::Mutex;

use super::trampoline::Stack;

/// The stacks of inits that may still run, with their pids.
static KEPT: Mutex<Vec<(libc::pid_t, Stack)>> = Mutex::new(Vec::new());

/// Keeps `stack`, on which the init `pid` (our child) runs, until that init has exited.
pub fn keep(pid: libc::pid_t, stack: Stack) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.push((pid, stack));
}

/// Unmaps the stacks of the inits that have exited.
pub fn sweep() {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.retain(|(pid, _)| !exited(*pid));
}

/// Whether our child `pid` has exited (a zombie, or reaped: no child of ours has that pid).
/// waitid(2) with WNOWAIT, which leaves a zombie to whoever reaps it.
fn exited(pid: libc::pid_t) -> bool {
    // SAFETY: a zeroed siginfo is valid; waitid writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL;
    // SAFETY: `info` is writable.
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    if r < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD);
    }
    // SAFETY: waitid filled `info` (si_pid stays 0 while the child runs).
    unsafe { info.si_pid() != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exited_tells_a_running_process_from_an_exited_one() {
        let mut p = [0; 2];
        // SAFETY: a new pipe into a valid array.
        assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
        // SAFETY: the child only waits for the pipe and exits (async-signal-safe calls).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut b = [0u8; 1];
            // SAFETY: as above.
            unsafe {
                libc::close(p[1]);
                libc::read(p[0], b.as_mut_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        assert!(!exited(pid));
        // SAFETY: closing our pipe ends lets the child exit.
        unsafe {
            libc::close(p[1]);
            libc::close(p[0]);
        }
        while !exited(pid) {
            std::thread::yield_now();
        }
        super::super::reap(pid);
        assert!(exited(pid));
    }
}
