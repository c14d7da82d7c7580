//! PID 1 (and the relays that stand between a caller and a forked namespace member): an
//! allocation-free loop that forwards signals to the worker, reaps every child, and exits
//! with the worker's status.

use super::raw;

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

/// Waits on signals (all blocked) until `worker` exits, and `other` too if it is > 0:
/// forwards TERM, INT, HUP, QUIT, USR1 and USR2 to the worker, reaps every child (orphans in a
/// pid namespace come to PID 1), and exits with the worker's status (128 + signal if it was
/// killed).
pub fn supervise(worker: i32, other: i32) -> ! {
    let set = waited();
    raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
    // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let mut code = None;
    let mut other_left = other > 0;
    loop {
        let mut status = 0;
        loop {
            let r = raw::wait4(-1, &mut status, libc::WNOHANG | libc::__WALL);
            if r <= 0 {
                break;
            }
            if r == worker as isize {
                code = Some(exit_code(status));
            } else if r == other as isize {
                other_left = false;
            }
        }
        if let (Some(c), false) = (code, other_left) {
            raw::exit(c);
        }
        let sig = raw::sigwait(set, &mut info) as i32;
        if sig > 0 && sig != libc::SIGCHLD && code.is_none() {
            raw::kill(worker, sig);
        }
    }
}

/// The light init of a pid namespace whose worker (PID 2) is not its child: waits until
/// `ctl` says the worker exists, then reaps orphans (signalfd for SIGCHLD) until the worker
/// exits (its pidfd polls readable), and exits, which ends the namespace.
pub fn watch(ctl: i32) -> ! {
    raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
    raw::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as usize);
    // Its copies of the set-up channel and of pipes must not hold them open.
    raw::close_range(0, (ctl - 1) as u32);
    raw::close_range((ctl + 1) as u32, u32::MAX);
    let mut byte = [0u8; 1];
    let r = loop {
        let r = raw::read(ctl, &mut byte);
        if r != -(libc::EINTR as isize) {
            break r;
        }
    };
    raw::close(ctl);
    if r != 1 {
        raw::exit(1);
    }
    let worker = raw::pidfd_open(2);
    let chld = raw::signalfd(raw::sigbit(libc::SIGCHLD));
    if worker < 0 || chld < 0 {
        raw::exit(1);
    }
    let mut fds = [
        libc::pollfd {
            fd: worker as i32,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: chld as i32,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut buf = [0u8; 128];
    loop {
        let mut status = 0;
        while raw::wait4(-1, &mut status, libc::WNOHANG | libc::__WALL) > 0 {}
        raw::poll(&mut fds);
        if fds[0].revents != 0 {
            raw::exit(0);
        }
        while raw::read(chld as i32, &mut buf) > 0 {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGTERM), 128 + libc::SIGTERM);
    }

    #[test]
    fn waited_has_chld_and_forwarded() {
        let m = waited();
        assert!(m & raw::sigbit(libc::SIGCHLD) != 0);
        assert!(m & raw::sigbit(libc::SIGUSR2) != 0);
        assert!(m & raw::sigbit(libc::SIGKILL) == 0);
    }
}
