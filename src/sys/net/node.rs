//! Network nodes for test topologies: a fresh network namespace (with its own UTS and, if asked,
//! mount namespace) made on a short-lived helper thread, held by fds, with no process in it.
//!
//! The helper thread unshare(2)s, sets the node up from inside (hostname, `lo` up, forwarding,
//! `/` private), opens the namespace fds and a NETLINK_ROUTE socket there, and exits: the calling
//! thread never moves, so nothing has to be restored. That also works in a process that could
//! not setns(2) back into its own namespaces (a child that owns a user namespace but shares the
//! host's network namespace).

use std::path::Path;

use super::rtnl::Rtnl;
use crate::sys::error::{Error, Result};
use crate::sys::mount::{set_propagation, Propagation};
use crate::sys::ns::{self, Kind, Namespace};
use crate::sys::uts;

/// What a node needs, validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Set in a new UTS namespace; None: the node has no UTS namespace of its own.
    pub hostname: Option<String>,
    /// A new mount namespace, with `/` made recursively private.
    pub mnt: bool,
    /// IPv4 and IPv6 forwarding on (a router).
    pub forwarding: bool,
}

/// A node's namespaces and a netlink socket inside its network namespace.
#[derive(Debug)]
pub struct Node {
    pub net: Namespace,
    pub uts: Option<Namespace>,
    pub mnt: Option<Namespace>,
    pub rtnl: Rtnl,
}

/// Creates a node (unshare(2) on a helper thread, then set-up from inside).
pub fn create(spec: &Spec) -> Result<Node> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("pyns-node".into())
            .stack_size(64 * 1024)
            .spawn_scoped(s, || inside(spec))
            .map_err(|e| {
                Error::new(
                    "start a thread to create the namespaces",
                    e.raw_os_error().unwrap_or(libc::EAGAIN),
                )
            })?
            .join()
            .unwrap_or_else(|_| Err(Error::condition("the namespace thread panicked")))
    })
}

/// Runs on the helper thread: leaves the caller's namespaces for good, then sets them up.
fn inside(spec: &Spec) -> Result<Node> {
    let mut kinds = vec![Kind::Net];
    if spec.hostname.is_some() {
        kinds.push(Kind::Uts);
    }
    if spec.mnt {
        kinds.push(Kind::Mnt);
    }
    ns::unshare(Kind::flags(&kinds))?;
    if spec.mnt {
        set_propagation(Path::new("/"), Propagation::Private, true)?;
    }
    if let Some(h) = &spec.hostname {
        uts::set_hostname(h)?;
    }
    super::loopback_up()?;
    if spec.forwarding {
        for knob in [
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/net/ipv6/conf/all/forwarding",
        ] {
            std::fs::write(knob, b"1").map_err(|e| {
                Error::new("turn forwarding on", e.raw_os_error().unwrap_or(libc::EIO))
                    .at(knob)
                    .needs("CAP_NET_ADMIN")
            })?;
        }
    }
    let held = |k: Kind, wanted: bool| wanted.then(|| Namespace::current(k)).transpose();
    Ok(Node {
        net: Namespace::current(Kind::Net)?,
        uts: held(Kind::Uts, spec.hostname.is_some())?,
        mnt: held(Kind::Mnt, spec.mnt)?,
        rtnl: Rtnl::open()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::net::link;

    fn root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_node_has_its_own_namespaces_and_the_caller_stays() {
        if !root() {
            return;
        }
        let before = Namespace::current(Kind::Net).unwrap();
        let mut node = create(&Spec {
            hostname: Some("n1".into()),
            mnt: true,
            forwarding: true,
        })
        .unwrap();
        assert!(Namespace::current(Kind::Net).unwrap().same_as(&before));
        assert!(!node.net.same_as(&before));
        assert!(node.uts.is_some() && node.mnt.is_some());
        let lo = link::get(&mut node.rtnl, "lo").unwrap();
        assert!(lo.up);
        let bare = create(&Spec::default()).unwrap();
        assert!(bare.uts.is_none() && bare.mnt.is_none());
        assert!(!bare.net.same_as(&node.net));
    }
}
