//! PID 1 (and the relays that stand between a caller and a forked namespace member): an
//! allocation-free loop that forwards signals to the worker, reaps every child, and exits
//! with the worker's status.

use super::raw;

/// The name of pyns' init (PID 1 of a new pid namespace) in /proc/<pid>/comm and ps, for
/// the API and the command line alike (PR_SET_NAME: at most 15 bytes and a NUL).
pub const NAME: &std::ffi::CStr = c"pyns-init";

/// The signals forwarded to the worker.
pub const FORWARDED: [i32; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The mask the loop waits on: the forwarded signals and SIGCHLD.
pub fn waited() -> u64 {
    FORWARDED
        .iter()
        .fold(raw::sigbit(libc::SIGCHLD), |m, s| m | raw::sigbit(*s))
}

/// The exit code that reports a wait status: its exit code, or 128 + the signal.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// Whether `sig` is a keyboard signal from the terminal (SIGINT or SIGQUIT sent by the
/// kernel, si_code SI_KERNEL): it went to the whole foreground process group, the worker
/// included, so forwarding it would deliver it twice. As with util-linux `unshare --fork`,
/// Ctrl-C reaches the program once, straight from the terminal.
fn from_the_tty(sig: i32, si_code: i32) -> bool {
    (sig == libc::SIGINT || sig == libc::SIGQUIT) && si_code == libc::SI_KERNEL
}

/// Waits on signals (all blocked) until `worker` exits: forwards TERM, INT, HUP, QUIT, USR1
/// and USR2 to it (not INT or QUIT from the terminal, which the worker got itself: see
/// `from_the_tty`), reaps every child (orphans in a pid namespace come to PID 1), and exits
/// with the worker's status (128 + signal if it was killed).
pub fn supervise(worker: i32) -> ! {
    let set = waited();
    raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
    // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        let mut status = 0;
        loop {
            let r = raw::wait4(-1, &mut status, libc::WNOHANG | libc::__WALL);
            if r <= 0 {
                break;
            }
            if r == worker as isize {
                raw::exit(exit_code(status));
            }
        }
        let sig = raw::sigwait(set, &mut info) as i32;
        if sig > 0 && sig != libc::SIGCHLD && !from_the_tty(sig, info.si_code) {
            raw::kill(worker, sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_name_fits_comm() {
        assert!(NAME.to_bytes().len() <= 15);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGTERM), 128 + libc::SIGTERM);
    }

    #[test]
    fn terminal_keyboard_signals_are_not_forwarded_twice() {
        assert!(from_the_tty(libc::SIGINT, libc::SI_KERNEL));
        assert!(from_the_tty(libc::SIGQUIT, libc::SI_KERNEL));
        assert!(!from_the_tty(libc::SIGINT, libc::SI_USER));
        assert!(!from_the_tty(libc::SIGTERM, libc::SI_KERNEL));
    }

    #[test]
    fn waited_has_chld_and_forwarded() {
        let m = waited();
        assert!(m & raw::sigbit(libc::SIGCHLD) != 0);
        assert!(m & raw::sigbit(libc::SIGUSR2) != 0);
        assert!(m & raw::sigbit(libc::SIGKILL) == 0);
    }
}
