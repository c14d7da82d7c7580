//! Sockets born in another network namespace: socket(2) while the calling thread is there
//! (setns(2) there and back). A socket stays in the namespace it was made in, so that
//! `pyns.testing` can probe a host from the caller's thread (raw ICMP sockets for `ping`, a
//! NETLINK_SOCK_DIAG socket for the ports something listens on).

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use crate::sys::error::{Error, Result};
use crate::sys::ns::Kind;
use crate::sys::thread::ThreadGuard;

/// socket(2) of `domain`, `ty` and `protocol`, close-on-exec, made inside the network
/// namespace `netns` (None: the calling thread's) without moving the caller.
pub fn socket_in(
    netns: Option<BorrowedFd<'_>>,
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> Result<OwnedFd> {
    let Some(fd) = netns else {
        return socket(domain, ty, protocol);
    };
    let mut guard = ThreadGuard::join(&[(Kind::Net, fd)])?;
    let sock = socket(domain, ty, protocol);
    guard.restore()?;
    sock
}

/// socket(2), close-on-exec; EPERM for a raw socket names CAP_NET_RAW.
fn socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: socket(2) has no memory preconditions; the fd is owned below.
    let raw = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
    if raw < 0 {
        let e = Error::last(format!("socket({domain}, {ty}, {protocol})"));
        return Err(if ty & 0xf == libc::SOCK_RAW {
            e.needs("CAP_NET_RAW")
        } else {
            e
        });
    }
    // SAFETY: socket just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn makes_a_socket_here() {
        let s = socket_in(None, libc::AF_INET, libc::SOCK_DGRAM, 0).expect("socket");
        assert!(s.as_raw_fd() >= 0);
    }

    #[test]
    fn a_bad_family_is_an_error() {
        let e = socket_in(None, -1, libc::SOCK_DGRAM, 0).expect_err("no such family");
        assert_eq!(e.errno, libc::EAFNOSUPPORT);
    }
}
