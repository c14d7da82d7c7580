//! The parent/child sync protocol: one SOCK_SEQPACKET socketpair per child, fixed 16-byte
//! messages. The child says READY (user namespace made: write its id maps), the parent
//! answers GO; a failed step comes back as FAIL {step, arg, errno}; DONE ends a set-up that
//! returns to Python (`run`); EOF after `execve` means the program runs.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::raw;
use crate::sys::error::{check, Error, Result};
use crate::sys::ns::Kind;

const READY: u32 = 1;
const GO: u32 = 2;
const DONE: u32 = 3;
const FAIL: u32 = 4;

/// A step of the child's set-up, as reported on failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Pdeathsig = 1,
    Setns,
    Unshare,
    WaitMaps,
    Setresgid,
    Setresuid,
    TimeOffsets,
    MountPrivate,
    MountProc,
    Hostname,
    Domainname,
    Fork,
    Signals,
    Stdio,
    PassFds,
    CloseFds,
    Chdir,
    Execve,
    Loopback,
    Setsid,
    Setpgid,
    Setgroups,
    Setgid,
    Setuid,
}

impl Step {
    const ALL: [Step; 24] = [
        Step::Pdeathsig,
        Step::Setns,
        Step::Unshare,
        Step::WaitMaps,
        Step::Setresgid,
        Step::Setresuid,
        Step::TimeOffsets,
        Step::MountPrivate,
        Step::MountProc,
        Step::Hostname,
        Step::Domainname,
        Step::Fork,
        Step::Signals,
        Step::Stdio,
        Step::PassFds,
        Step::CloseFds,
        Step::Chdir,
        Step::Execve,
        Step::Loopback,
        Step::Setsid,
        Step::Setpgid,
        Step::Setgroups,
        Step::Setgid,
        Step::Setuid,
    ];

    fn from_u32(n: u32) -> Option<Step> {
        Step::ALL.into_iter().find(|s| *s as u32 == n)
    }

    /// What the child was doing, for messages; `arg` is the kind flag, fd or signal involved.
    pub fn describe(self, arg: i32) -> String {
        match self {
            Step::Pdeathsig => format!("prctl(PR_SET_PDEATHSIG, {arg})"),
            Step::Setns => match Kind::from_flag(arg) {
                Some(k) => format!("join the {} namespace (setns)", k.name()),
                None => "setns".into(),
            },
            Step::Unshare => format!("unshare({})", crate::sys::ns::describe_flags(arg)),
            Step::WaitMaps => "wait for the parent to write the id maps".into(),
            Step::Setresgid => "become gid 0 in the new user namespace (setresgid)".into(),
            Step::Setresuid => "become uid 0 in the new user namespace (setresuid)".into(),
            Step::TimeOffsets => "write /proc/self/timens_offsets".into(),
            Step::MountPrivate => {
                "make / private in the new mount namespace (mount MS_REC|MS_PRIVATE)".into()
            }
            Step::MountProc => "mount a fresh proc on /proc".into(),
            Step::Hostname => "sethostname".into(),
            Step::Domainname => "setdomainname".into(),
            Step::Fork => "fork into the new pid/time namespace".into(),
            Step::Signals => "reset signal handlers".into(),
            Step::Stdio => format!("set up fd {arg} (dup3)"),
            Step::PassFds => format!("pass fd {arg} (fcntl F_SETFD)"),
            Step::CloseFds => "close inherited fds (close_range)".into(),
            Step::Chdir => "chdir".into(),
            Step::Execve => "execve".into(),
            Step::Loopback => {
                "bring lo up in the new network namespace (ioctl SIOCSIFFLAGS)".into()
            }
            Step::Setsid => "start a new session (setsid)".into(),
            Step::Setpgid => format!("join process group {arg} (setpgid)"),
            Step::Setgroups => format!("set {arg} supplementary groups (setgroups)"),
            Step::Setgid => format!("set the gid to {} (setresgid)", arg as u32),
            Step::Setuid => format!("set the uid to {} (setresuid)", arg as u32),
        }
    }

    /// The fix, for steps where it is not just a missing privilege (subprocess's options).
    pub fn hint(self) -> Option<&'static str> {
        match self {
            Step::Setsid | Step::Setpgid => Some(
                "setpgid(2) joins only a process group of the child's own session and pid \
                 namespace, and a session leader cannot change its group (subprocess raises \
                 PermissionError alike).",
            ),
            Step::Setgroups => Some(
                "setgroups(2) needs CAP_SETGID in the child's user namespace and, in a user \
                 namespace, setgroups=\"allow\" (an unprivileged caller's gid map needs \
                 \"deny\": leave extra_groups unset then). Run as root.",
            ),
            Step::Setgid | Step::Setuid => Some(
                "The id must be mapped in the child's user namespace, and changing it needs \
                 CAP_SETUID/CAP_SETGID there: run as root, or give the child a user namespace \
                 whose map holds the id (map_root=True with user=0, group=0; or uid_map=, \
                 gid_map=).",
            ),
            _ => None,
        }
    }

    /// The privilege an EPERM at this step means is missing.
    pub fn needs(self) -> &'static str {
        match self {
            Step::Setresgid | Step::Setgroups | Step::Setgid => "CAP_SETGID",
            Step::Setresuid | Step::Setuid => "CAP_SETUID",
            Step::TimeOffsets => "CAP_SYS_TIME",
            Step::Loopback => "CAP_NET_ADMIN",
            _ => "CAP_SYS_ADMIN",
        }
    }
}

/// A failed step of the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    pub arg: i32,
    pub errno: i32,
}

impl Failure {
    /// The failure as a core error (op = the step's description).
    pub fn error(&self) -> Error {
        let e = Error::new(self.step.describe(self.arg), self.errno).needs(self.step.needs());
        match self.step.hint() {
            Some(h) => e.hint(h),
            None => e,
        }
    }
}

/// What the parent heard from the child.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Ready,
    Done,
    Failed(Failure),
    Eof,
}

fn encode(tag: u32, step: u32, arg: i32, errno: i32) -> [u8; 16] {
    let mut b = [0u8; 16];
    let words = [
        tag.to_ne_bytes(),
        step.to_ne_bytes(),
        arg.to_ne_bytes(),
        errno.to_ne_bytes(),
    ];
    let mut i = 0;
    for w in words {
        for byte in w {
            if let Some(slot) = b.get_mut(i) {
                *slot = byte;
            }
            i += 1;
        }
    }
    b
}

fn word(b: &[u8; 16], i: usize) -> [u8; 4] {
    [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]
}

fn decode(b: &[u8; 16]) -> Option<Event> {
    let tag = u32::from_ne_bytes(word(b, 0));
    let step = u32::from_ne_bytes(word(b, 1));
    let arg = i32::from_ne_bytes(word(b, 2));
    let errno = i32::from_ne_bytes(word(b, 3));
    match tag {
        READY => Some(Event::Ready),
        DONE => Some(Event::Done),
        FAIL => Some(Event::Failed(Failure {
            step: Step::from_u32(step)?,
            arg,
            errno,
        })),
        _ => None,
    }
}

/// The parent's end of a child's channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// An fd numbered 3 or above, so that setting up stdio in the child cannot clobber it.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd that we own.
    let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    check(raw, "fcntl(F_DUPFD_CLOEXEC) for the child's channel")?;
    // SAFETY: fcntl just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

impl Channel {
    /// socketpair(2) AF_UNIX SOCK_SEQPACKET|SOCK_CLOEXEC: the parent's end and the child's.
    pub fn pair() -> Result<(Channel, OwnedFd)> {
        let mut fds = [-1; 2];
        let ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
        // SAFETY: `fds` has room for the two fds socketpair returns.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) };
        check(
            r,
            "socketpair(AF_UNIX, SOCK_SEQPACKET) for the child's channel",
        )?;
        // SAFETY: socketpair just returned these fds; nothing else owns them.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((
            Channel {
                fd: above_stdio(a)?,
            },
            above_stdio(b)?,
        ))
    }

    /// Waits up to `timeout_ms` for the child's next message: None on timeout.
    pub fn recv(&self, timeout_ms: i32) -> Result<Option<Event>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n < 0 {
            let e = Error::last("poll the child's channel");
            return if e.errno == libc::EINTR {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if n == 0 {
            return Ok(None);
        }
        let mut buf = [0u8; 16];
        // SAFETY: the buffer is writable for its length.
        let got = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 16, 0) };
        match got {
            0 => Ok(Some(Event::Eof)),
            16 => decode(&buf)
                .map(Some)
                .ok_or_else(|| Error::condition("the child sent a malformed set-up message")),
            n if n < 0 => {
                let e = Error::last("read the child's channel");
                if e.errno == libc::EINTR {
                    Ok(None)
                } else if e.errno == libc::ECONNRESET {
                    Ok(Some(Event::Eof))
                } else {
                    Err(e)
                }
            }
            _ => Err(Error::condition("the child sent a short set-up message")),
        }
    }

    /// Tells the child to go on (its id maps are written).
    pub fn send_go(&self) -> Result<()> {
        let msg = encode(GO, 0, 0, 0);
        // SAFETY: the buffer is valid for its length.
        let r = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                16,
                libc::MSG_NOSIGNAL,
            )
        };
        check(r as i32, "tell the child to go on").map(drop)
    }
}

// The child's side: raw system calls only.

/// Child: reports a failed step.
pub fn child_fail(fd: RawFd, f: Failure) {
    raw::send(fd, &encode(FAIL, f.step as u32, f.arg, f.errno));
}

/// Child: says the user namespace is made, then waits for GO. False if the parent is gone.
pub fn child_ready_wait(fd: RawFd) -> bool {
    if raw::send(fd, &encode(READY, 0, 0, 0)) != 16 {
        return false;
    }
    let mut buf = [0u8; 16];
    loop {
        let n = raw::read(fd, &mut buf);
        if n == -(libc::EINTR as isize) {
            continue;
        }
        return n == 16 && u32::from_ne_bytes(word(&buf, 0)) == GO;
    }
}

/// Child: says the set-up is done (the caller returns to Python).
pub fn child_done(fd: RawFd) {
    raw::send(fd, &encode(DONE, 0, 0, 0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let f = Failure {
            step: Step::MountProc,
            arg: 7,
            errno: libc::EPERM,
        };
        assert_eq!(
            decode(&encode(FAIL, f.step as u32, f.arg, f.errno)),
            Some(Event::Failed(f))
        );
        assert_eq!(decode(&encode(READY, 0, 0, 0)), Some(Event::Ready));
        assert_eq!(decode(&encode(99, 0, 0, 0)), None);
        assert_eq!(decode(&encode(FAIL, 999, 0, 0)), None);
    }

    #[test]
    fn steps_are_described() {
        for s in Step::ALL {
            assert_eq!(Step::from_u32(s as u32), Some(s));
            assert!(!s.describe(0).is_empty());
        }
        assert_eq!(
            Step::Setns.describe(libc::CLONE_NEWNET),
            "join the net namespace (setns)"
        );
    }

    #[test]
    fn pair_talks() {
        let (parent, child) = Channel::pair().unwrap();
        assert!(child.as_raw_fd() > 2);
        child_done(child.as_raw_fd());
        assert_eq!(parent.recv(1000).unwrap(), Some(Event::Done));
        assert_eq!(parent.recv(0).unwrap(), None);
        drop(child);
        assert_eq!(parent.recv(1000).unwrap(), Some(Event::Eof));
    }
}
