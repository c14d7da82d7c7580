//! Network nodes for test topologies: a fresh network namespace (with its own UTS and, if asked,
//! mount namespace), held by fds, with no process in it.
//!
//! The node is set up from inside (hostname, `lo` up, forwarding, `/` private), and its
//! namespace fds and a NETLINK_ROUTE socket are opened there. The calling thread unshare(2)s
//! and comes back; where it could not come back (a child that owns a user namespace but shares
//! the host's network namespace), a short-lived helper thread does it and exits instead.

use std::os::fd::AsFd;
use std::path::Path;

use super::nftables;
use super::rtnl::Rtnl;
use super::sysctl::NetSysctl;
use crate::sys::error::{Error, Result};
use crate::sys::hostfs::{self, Op};
use crate::sys::mount::{set_propagation, Propagation};
use crate::sys::ns::{self, Kind, Namespace};
use crate::sys::thread::{self, ThreadGuard};
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
    /// Mounts made inside the new mount namespace, in order (the host's own files).
    pub mounts: Vec<Op>,
    /// A switch: bridged MLD reports are dropped (`nftables`).
    pub switch: bool,
}

/// A node's namespaces and a netlink socket inside its network namespace.
#[derive(Debug)]
pub struct Node {
    pub net: Namespace,
    pub uts: Option<Namespace>,
    pub mnt: Option<Namespace>,
    pub rtnl: Rtnl,
    /// Whether the calling thread can go into the node's network namespace and come back, so
    /// that `rtnl` may be closed and another socket opened there later (`Rtnl::open_in`).
    pub reopenable: bool,
}

/// Creates a node: unshare(2) on the calling thread and setns(2) back, or, where the thread
/// could not come back (its namespaces belong to a user namespace it has no CAP_SYS_ADMIN
/// in), on a helper thread. Mount namespaces are always made on a helper thread.
pub fn create(spec: &Spec) -> Result<Node> {
    if !spec.mnt && can_come_back() {
        let mut guard = ThreadGuard::unshare(&kinds(spec))?;
        let node = set_up(spec);
        guard.restore()?;
        return node.map(|n| Node {
            reopenable: true,
            ..n
        });
    }
    on_helper_thread(|| {
        ns::unshare(Kind::flags(&kinds(spec)))?;
        set_up(spec)
    })
}

/// A new UTS namespace with `hostname` set (uts_namespaces(7), sethostname(2)), held by an fd:
/// for a node made without one, once its programs need it. Made on a helper thread that ends
/// there, so that nothing has to come back.
pub fn uts(hostname: &str) -> Result<Namespace> {
    on_helper_thread(|| {
        ns::unshare(Kind::flags(&[Kind::Uts]))?;
        uts::set_hostname(hostname)?;
        Namespace::current(Kind::Uts)
    })
}

/// Runs `f` on a short-lived thread (a small stack), which ends in whatever namespaces `f`
/// moved it to.
fn on_helper_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("pyns-node".into())
            .stack_size(64 * 1024)
            .spawn_scoped(s, f)
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

/// Whether the calling thread may setns(2) into its own network and UTS namespaces, which is
/// what coming back after an unshare(2) takes (a setns into the namespace the thread is in
/// already changes nothing).
fn can_come_back() -> bool {
    [Kind::Net, Kind::Uts]
        .into_iter()
        .all(|k| thread::open_current(k).is_ok_and(|fd| ns::setns(fd.as_fd(), k.flag()).is_ok()))
}

fn kinds(spec: &Spec) -> Vec<Kind> {
    let mut kinds = vec![Kind::Net];
    if spec.hostname.is_some() {
        kinds.push(Kind::Uts);
    }
    if spec.mnt {
        kinds.push(Kind::Mnt);
    }
    kinds
}

/// Runs inside the new namespaces: sets them up from there and opens their handles.
fn set_up(spec: &Spec) -> Result<Node> {
    if spec.mnt {
        set_propagation(Path::new("/"), Propagation::Private, true)?;
        hostfs::apply_all(&spec.mounts)?;
    }
    if let Some(h) = &spec.hostname {
        uts::set_hostname(h)?;
    }
    super::loopback_up()?;
    let sysctl = NetSysctl::open()?;
    if spec.forwarding {
        for knob in ["ipv4/ip_forward", "ipv6/conf/all/forwarding"] {
            sysctl.write(knob, b"1").map_err(|e| {
                Error::new("turn forwarding on", e.raw_os_error().unwrap_or(libc::EIO))
                    .at(format!("/proc/sys/net/{knob}"))
                    .needs("CAP_NET_ADMIN")
            })?;
        }
    }
    ipv6_at_once(&sysctl)?;
    if spec.switch {
        nftables::drop_mld_reports()?; // false: not to be had here, only slower
    }
    let held = |k: Kind, wanted: bool| wanted.then(|| Namespace::current(k)).transpose();
    Ok(Node {
        net: Namespace::current(Kind::Net)?,
        uts: held(Kind::Uts, spec.hostname.is_some())?,
        mnt: held(Kind::Mnt, spec.mnt)?,
        rtnl: Rtnl::open()?,
        reopenable: false,
    })
}

/// IPv6 addresses usable at once and kept while a link is down, for the links born here
/// (`default`) and all others: no duplicate address detection (`accept_dad` 0; a tentative
/// link-local address would keep a router from soliciting its neighbours for a second or
/// more), `keep_addr_on_down` 1 (else taking a link down deletes its IPv6 addresses), and no
/// router solicitations (routes are pyns'; on a switch with n hosts each one was flooded to
/// all n, so building the star cost O(n²)).
/// Nothing to do on a kernel without IPv6 (no such files).
fn ipv6_at_once(sysctl: &NetSysctl) -> Result<()> {
    for (knob, value) in [
        ("ipv6/conf/default/accept_dad", b"0"),
        ("ipv6/conf/all/accept_dad", b"0"),
        ("ipv6/conf/default/keep_addr_on_down", b"1"),
        ("ipv6/conf/all/keep_addr_on_down", b"1"),
        ("ipv6/conf/default/router_solicitations", b"0"),
        ("ipv6/conf/all/router_solicitations", b"0"),
    ] {
        match sysctl.write(knob, value) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::new(
                    "set up IPv6 (no DAD, addresses kept on down)",
                    e.raw_os_error().unwrap_or(libc::EIO),
                )
                .at(format!("/proc/sys/net/{knob}"))
                .needs("CAP_NET_ADMIN"))
            }
            Ok(()) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::net::link;

    /// Whether the test can run as this user; if not, says so on stderr (not captured by the
    /// test harness, so `cargo test` shows it next to the test's "ok").
    fn root_or_skip(test: &str) -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() == 0 };
        if !root {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{test}: skipped: needs root");
        }
        root
    }

    #[test]
    fn a_node_has_its_own_namespaces_and_the_caller_stays() {
        if !root_or_skip("a_node_has_its_own_namespaces_and_the_caller_stays") {
            return;
        }
        let before = Namespace::current(Kind::Net).unwrap();
        let mut node = create(&Spec {
            hostname: Some("n1".into()),
            mnt: true,
            forwarding: true,
            mounts: Vec::new(),
            switch: false,
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
