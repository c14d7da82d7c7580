//! Networking: rtnetlink (links, addresses, routes) in any network namespace, named network
//! namespaces, and `lo`.

pub mod addr;
pub mod distribution;
pub mod link;
pub mod netns;
pub mod nftables;
pub mod node;
pub mod qdisc;
pub mod route;
pub mod rtnl;
pub mod rule;
pub mod socket;
pub mod sysctl;
pub mod vlan;

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::error::{check, Error, Result};
use super::ns::Kind;
use super::thread::ThreadGuard;

/// Brings `lo` up in the network namespace `netns` (setns(2) there and back) or, with None,
/// in the calling thread's.
pub fn loopback_up_in(netns: Option<BorrowedFd<'_>>) -> Result<()> {
    let Some(fd) = netns else {
        return loopback_up();
    };
    let mut guard = ThreadGuard::join(&[(Kind::Net, fd)])?;
    let r = loopback_up();
    guard.restore()?;
    r
}

/// Brings the loopback interface up (ioctl SIOCGIFFLAGS/SIOCSIFFLAGS, netdevice(7)): a new
/// network namespace starts with `lo` down.
pub fn loopback_up() -> Result<()> {
    // SAFETY: socket(2) has no memory preconditions; the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(raw, "socket(AF_INET) to configure lo")?;
    // SAFETY: socket just returned this fd and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    req.ifr_name[0] = b'l' as libc::c_char;
    req.ifr_name[1] = b'o' as libc::c_char;
    // SAFETY: `req` is a valid ifreq naming "lo"; the kernel fills in its flags.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    check(r, "ioctl(SIOCGIFFLAGS) on lo")?;
    // SAFETY: SIOCGIFFLAGS set the `ifru_flags` member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: `req` is a valid ifreq with the new flags.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    if r < 0 {
        return Err(Error::last("ioctl(SIOCSIFFLAGS) to bring lo up").needs("CAP_NET_ADMIN"));
    }
    Ok(())
}
