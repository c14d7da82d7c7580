//! IP addresses of interfaces by rtnetlink(7): CIDR parsing, add, delete, list (IPv4 and IPv6).

use std::fmt;
use std::net::IpAddr;

use netlink_packet_core::{Parseable, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::rtnl::Rtnl;
use crate::sys::error::Result;

/// An address with a prefix length, `10.1.1.1/24` or `fd00::1/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix`; without `/prefix` it is a host address (/32 or /128).
    pub fn parse(s: &str) -> std::result::Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| {
            format!("bad address {s:?}: expected an IPv4 or IPv6 address like '10.1.1.1/24'")
        })?;
        let max = max_prefix(addr);
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(format!(
                        "bad prefix length in {s:?}: expected 0 to {max} after the '/'"
                    ))
                }
            },
        };
        Ok(Cidr { addr, prefix })
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        version(self.addr)
    }

    /// The network address: the address with the host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// 32 for IPv4, 128 for IPv6.
pub fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// 4 or 6.
pub fn version(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        4
    } else {
        6
    }
}

pub(super) fn family(version: u8) -> AddressFamily {
    if version == 4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// A scope as `ip` names it (rtnetlink(7) `RT_SCOPE_*`): "global", "link", "host", ...
pub fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// The scope `ip addr add` gives an address: host for loopback, link for IPv6 link-local.
fn default_scope(addr: IpAddr) -> AddressScope {
    match addr {
        IpAddr::V4(a) if a.is_loopback() => AddressScope::Host,
        IpAddr::V6(a) if a.is_loopback() => AddressScope::Host,
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => AddressScope::Link,
        _ => AddressScope::Universe,
    }
}

/// One address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub cidr: Cidr,
    pub scope: u8,
}

fn message(index: u32, cidr: &Cidr) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family(cidr.version());
    msg.header.prefix_len = cidr.prefix;
    msg.header.index = index;
    msg.attributes.push(AddressAttribute::Local(cidr.addr));
    msg.attributes.push(AddressAttribute::Address(cidr.addr));
    msg
}

/// Adds `cidr` to the link with index `index` (RTM_NEWADDR, like `ip addr add`); IPv6
/// addresses skip duplicate address detection (IFA_F_NODAD), so they are usable at once.
pub fn add(rtnl: &mut Rtnl, index: u32, link: &str, cidr: &Cidr) -> Result<()> {
    let mut msg = message(index, cidr);
    msg.header.scope = default_scope(cidr.addr);
    if cidr.version() == 6 {
        msg.header.flags = AddressHeaderFlags::Nodad;
    }
    rtnl.ack(
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        &format!("{cidr} on {link}"),
    )
}

/// Removes `cidr` from the link with index `index` (RTM_DELADDR).
pub fn delete(rtnl: &mut Rtnl, index: u32, link: &str, cidr: &Cidr) -> Result<()> {
    let msg = message(index, cidr);
    rtnl.ack(
        RouteNetlinkMessage::DelAddress(msg),
        0,
        &format!("{cidr} on {link}"),
    )
}

/// The addresses of the link `index`, or of every link (RTM_GETADDR dump, both families).
pub fn dump(rtnl: &mut Rtnl, index: Option<u32>) -> Result<Vec<Addr>> {
    let mut msg = AddressMessage::default();
    msg.header.index = index.unwrap_or(0);
    rtnl.dump(
        &RouteNetlinkMessage::GetAddress(msg),
        "(addresses)",
        |kind, payload| {
            if kind != libc::RTM_NEWADDR {
                return None;
            }
            from_message(AddressMessage::parse(payload).ok()?, index)
        },
    )
}

fn from_message(m: AddressMessage, only: Option<u32>) -> Option<Addr> {
    if only.is_some_and(|i| i != m.header.index) {
        return None;
    }
    let (mut local, mut address) = (None, None);
    for a in m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(ip),
            AddressAttribute::Address(ip) => address = Some(ip),
            _ => {}
        }
    }
    Some(Addr {
        index: m.header.index,
        cidr: Cidr {
            addr: local.or(address)?,
            prefix: m.header.prefix_len,
        },
        scope: m.header.scope.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse() {
        let c = Cidr::parse("10.1.1.1/24").unwrap();
        assert_eq!(c.to_string(), "10.1.1.1/24");
        assert_eq!(c.version(), 4);
        assert_eq!(c.network().to_string(), "10.1.1.0");
        assert_eq!(Cidr::parse("10.1.1.1").unwrap().prefix, 32);
        let c = Cidr::parse("fd00::1:2/64").unwrap();
        assert_eq!((c.version(), c.prefix), (6, 64));
        assert_eq!(c.network().to_string(), "fd00::");
        assert_eq!(Cidr::parse("::1").unwrap().prefix, 128);
        assert_eq!(
            Cidr::parse("0.0.0.0/0").unwrap().network().to_string(),
            "0.0.0.0"
        );
        for bad in [
            "",
            "10.1.1/24",
            "10.1.1.1/33",
            "10.1.1.1/",
            "10.1.1.1/-1",
            "10.1.1.1/+1",
            "fd00::/129",
            "veth0",
            "10.1.1.1/24/1",
            "300.1.1.1/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(scope_name(0), "global");
        assert_eq!(scope_name(253), "link");
        assert_eq!(
            default_scope("127.0.0.2".parse().unwrap()),
            AddressScope::Host
        );
        assert_eq!(
            default_scope("fe80::1".parse().unwrap()),
            AddressScope::Link
        );
        assert_eq!(
            default_scope("10.0.0.1".parse().unwrap()),
            AddressScope::Universe
        );
    }
}
