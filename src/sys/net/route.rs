//! Routes of the main table by rtnetlink(7): parse, add, delete, list (IPv4 and IPv6).

use std::net::IpAddr;

use netlink_packet_core::{Parseable, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::addr::{family, version, Cidr};
use super::rtnl::Rtnl;
use crate::sys::error::Result;

const RT_TABLE_MAIN: u32 = RouteHeader::RT_TABLE_MAIN as u32;

/// A route to add or delete, validated: `dst` None is the default route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub version: u8,
    pub dst: Option<Cidr>,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
}

impl Spec {
    /// Checks `dst` ("default" or a network in CIDR form, whose host bits must be zero) and
    /// the gateway `via`; both must be of the same IP version. The output interface is set
    /// later, once its name has been looked up.
    pub fn parse(
        dst: &str,
        via: Option<&str>,
        metric: Option<u32>,
    ) -> std::result::Result<Spec, String> {
        let via = via
            .map(|v| {
                v.parse::<IpAddr>()
                    .map_err(|_| format!("bad gateway {v:?}: expected an IPv4 or IPv6 address"))
            })
            .transpose()?;
        let dst = if dst == "default" {
            None
        } else {
            let c = Cidr::parse(dst)?;
            if c.network() != c.addr {
                return Err(format!(
                    "route destination {dst:?} has host bits set; the network is {}/{}",
                    c.network(),
                    c.prefix
                ));
            }
            Some(c)
        };
        let version = match (dst, via) {
            (Some(d), Some(v)) if d.version() != version(v) => {
                return Err(format!(
                    "route to {} cannot go via {v}: one is IPv{}, the other IPv{}",
                    d,
                    d.version(),
                    version(v)
                ))
            }
            (Some(d), _) => d.version(),
            (None, Some(v)) => version(v),
            (None, None) => 4,
        };
        Ok(Spec {
            version,
            dst,
            via,
            oif: None,
            metric,
        })
    }

    /// "default" or the destination in CIDR form, as `ip route` prints it.
    pub fn describe(&self) -> String {
        self.dst
            .map_or_else(|| "default".to_owned(), |d| d.to_string())
    }

    fn message(&self) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(self.version);
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        if let Some(d) = self.dst {
            msg.header.destination_prefix_length = d.prefix;
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(d.addr)));
        }
        if let Some(v) = self.via {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(v)));
        }
        if let Some(i) = self.oif {
            msg.attributes.push(RouteAttribute::Oif(i));
        }
        if let Some(m) = self.metric {
            msg.attributes.push(RouteAttribute::Priority(m));
        }
        msg
    }
}

/// Adds the route to the main table (RTM_NEWROUTE, like `ip route add`: protocol boot,
/// scope link without a gateway).
pub fn add(rtnl: &mut Rtnl, spec: &Spec) -> Result<()> {
    let mut msg = spec.message();
    msg.header.protocol = RouteProtocol::Boot;
    msg.header.kind = RouteType::Unicast;
    msg.header.scope = if spec.via.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    rtnl.ack(
        RouteNetlinkMessage::NewRoute(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        &spec.describe(),
    )
}

/// Deletes the first route of the main table that matches (RTM_DELROUTE); unset fields of
/// `spec` match anything.
pub fn delete(rtnl: &mut Rtnl, spec: &Spec) -> Result<()> {
    let mut msg = spec.message();
    msg.header.scope = RouteScope::NoWhere;
    rtnl.ack(RouteNetlinkMessage::DelRoute(msg), 0, &spec.describe())
}

/// One route of the main table as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version: u8,
    pub dst: Option<Cidr>,
    pub via: Option<IpAddr>,
    /// The preferred source address (`src` in `ip route`).
    pub src: Option<IpAddr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
}

/// The routes of the main table, IPv4 then IPv6 (RTM_GETROUTE dump).
pub fn dump(rtnl: &mut Rtnl) -> Result<Vec<Route>> {
    let mut msg = RouteMessage::default();
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    rtnl.dump(
        &RouteNetlinkMessage::GetRoute(msg),
        "(main table)",
        |kind, payload| {
            if kind != libc::RTM_NEWROUTE {
                return None;
            }
            from_message(RouteMessage::parse(payload).ok()?)
        },
    )
}

fn from_message(m: RouteMessage) -> Option<Route> {
    let version = match u8::from(m.header.address_family) as i32 {
        libc::AF_INET => 4,
        libc::AF_INET6 => 6,
        _ => return None,
    };
    let mut table = u32::from(m.header.table);
    let mut r = Route {
        version,
        dst: None,
        via: None,
        src: None,
        oif: None,
        metric: None,
        protocol: m.header.protocol.into(),
        scope: m.header.scope.into(),
        kind: m.header.kind.into(),
    };
    for a in m.attributes {
        match a {
            RouteAttribute::Destination(d) => {
                r.dst = ip(d).map(|addr| Cidr {
                    addr,
                    prefix: m.header.destination_prefix_length,
                })
            }
            RouteAttribute::Gateway(g) => r.via = ip(g),
            RouteAttribute::PrefSource(s) => r.src = ip(s),
            RouteAttribute::Oif(i) => r.oif = Some(i),
            RouteAttribute::Priority(p) => r.metric = Some(p),
            RouteAttribute::Table(t) => table = t,
            _ => {}
        }
    }
    (table == RT_TABLE_MAIN).then_some(r)
}

fn ip(a: RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(a.into()),
        RouteAddress::Inet6(a) => Some(a.into()),
        _ => None,
    }
}

/// A route protocol as `ip route` names it (`RTPROT_*`).
pub fn protocol_name(p: u8) -> String {
    match p {
        0 => "unspec".into(),
        1 => "redirect".into(),
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        9 => "ra".into(),
        16 => "dhcp".into(),
        n => n.to_string(),
    }
}

/// A route type as `ip route` names it (`RTN_*`).
pub fn type_name(t: u8) -> String {
    const NAMES: [&str; 12] = [
        "unspec",
        "unicast",
        "local",
        "broadcast",
        "anycast",
        "multicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
        "xresolve",
    ];
    NAMES
        .get(usize::from(t))
        .map_or_else(|| t.to_string(), |n| (*n).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s = Spec::parse("default", Some("10.1.1.2"), None).unwrap();
        assert_eq!(
            (s.version, s.dst, s.describe().as_str()),
            (4, None, "default")
        );
        let s = Spec::parse("default", Some("fd00::1"), Some(10)).unwrap();
        assert_eq!((s.version, s.metric), (6, Some(10)));
        assert_eq!(Spec::parse("default", None, None).unwrap().version, 4);
        let s = Spec::parse("10.2.0.0/16", None, None).unwrap();
        assert_eq!(s.describe(), "10.2.0.0/16");
        assert_eq!(
            Spec::parse("10.2.0.9", None, None).unwrap().describe(),
            "10.2.0.9/32"
        );
        let e = Spec::parse("10.2.0.1/16", None, None).unwrap_err();
        assert!(e.contains("host bits") && e.contains("10.2.0.0/16"), "{e}");
        let e = Spec::parse("10.2.0.0/16", Some("fd00::1"), None).unwrap_err();
        assert!(e.contains("IPv4") && e.contains("IPv6"), "{e}");
        assert!(Spec::parse("10.2.0.0/16", Some("gw"), None).is_err());
        assert!(Spec::parse("defualt", None, None).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(protocol_name(2), "kernel");
        assert_eq!(protocol_name(200), "200");
        assert_eq!(type_name(1), "unicast");
        assert_eq!(type_name(7), "unreachable");
        assert_eq!(type_name(99), "99");
    }
}
