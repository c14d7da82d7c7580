//! Network interfaces by rtnetlink(7): look up, list, create (veth, bridge), change, delete.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use netlink_packet_core::{parse_string, parse_u32, NlasIterator, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkHeader, LinkInfo,
    LinkMessage, LinkMessageBuffer,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::rtnl::Rtnl;
use crate::sys::error::{Error, Result};

/// `IFNAMSIZ` (netdevice(7)): names are at most 15 bytes plus the NUL.
pub const IFNAMSIZ: usize = 16;

/// Checks an interface name as the kernel's `dev_valid_name` does: 1 to 15 bytes, not `.` or
/// `..`, no `/`, `:`, whitespace or NUL.
pub fn validate_name(what: &str, name: &str) -> std::result::Result<(), String> {
    let max = IFNAMSIZ - 1;
    if name.is_empty() || name.len() > max {
        return Err(format!(
            "{what} {name:?} is {} bytes long; interface names are 1 to {max} bytes (IFNAMSIZ)",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{what} cannot be {name:?}"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | ':' | '\0') || c.is_whitespace())
    {
        return Err(format!(
            "{what} {name:?} contains {c:?}; interface names cannot hold '/', ':', whitespace \
             or NUL"
        ));
    }
    Ok(())
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff` (also with `-`), refusing multicast and all-zero
/// addresses, which no interface can take.
pub fn parse_mac(s: &str) -> std::result::Result<[u8; 6], String> {
    let bad = || format!("bad MAC address {s:?}: expected six hex bytes like '02:00:00:00:00:01'");
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "MAC address {s:?} is a multicast address (lowest bit of the first byte set)"
        ));
    }
    if mac == [0; 6] {
        return Err(format!("MAC address {s:?} is all zeros"));
    }
    Ok(mac)
}

/// `aa:bb:cc:dd:ee:ff`, as `ip link` prints hardware addresses.
pub fn format_mac(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// What the kernel reports about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    /// `IFLA_INFO_KIND` ("veth", "bridge"); None for `lo` and physical devices.
    pub kind: Option<String>,
    pub mac: Option<String>,
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// The index of the bridge (or bond) it is enslaved to.
    pub master: Option<u32>,
}

impl Link {
    /// Reads an `RTM_NEWLINK` answer, parsing only the attributes a `Link` holds (the kernel
    /// also sends statistics and per-family settings that would cost more to decode than the
    /// whole request).
    fn parse(kind: u16, payload: &[u8]) -> Option<Link> {
        if kind != libc::RTM_NEWLINK {
            return None;
        }
        let header = LinkHeader::parse(payload).ok()?;
        let mut link = Link {
            name: String::new(),
            index: header.index,
            kind: None,
            mac: None,
            mtu: 0,
            up: header.flags.contains(LinkFlags::Up),
            master: None,
        };
        let attrs = payload.get(std::mem::size_of::<LinkMessageBuffer>()..)?;
        for nla in NlasIterator::new(attrs) {
            let nla = nla.ok()?;
            let value = nla.value();
            match nla.kind() {
                libc::IFLA_IFNAME => link.name = parse_string(value).ok()?,
                libc::IFLA_MTU => link.mtu = parse_u32(value).ok()?,
                libc::IFLA_ADDRESS => link.mac = Some(format_mac(value)),
                libc::IFLA_MASTER => link.master = parse_u32(value).ok().filter(|i| *i != 0),
                libc::IFLA_LINKINFO => {
                    link.kind = NlasIterator::new(value)
                        .filter_map(|n| n.ok())
                        .find(|n| n.kind() == libc::IFLA_INFO_KIND)
                        .and_then(|n| parse_string(n.value()).ok());
                }
                _ => {}
            }
        }
        Some(link)
    }
}

fn get_link(rtnl: &mut Rtnl, msg: LinkMessage, subject: &str) -> Result<Link> {
    rtnl.get(RouteNetlinkMessage::GetLink(msg), subject, Link::parse)
}

fn skip_stats() -> LinkAttribute {
    LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats])
}

/// The link named `name` (RTM_GETLINK with IFLA_IFNAME); ENODEV if there is none.
pub fn get(rtnl: &mut Rtnl, name: &str) -> Result<Link> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    msg.attributes.push(skip_stats());
    get_link(rtnl, msg, name)
}

/// The interface index of the link `name` in the socket's namespace, as if_nametoindex(3)
/// finds it (ioctl SIOCGIFINDEX, netdevice(7), on the netlink socket itself): a name lookup
/// without the full RTM_GETLINK answer. ENODEV if there is none.
pub fn index(rtnl: &Rtnl, name: &str) -> Result<u32> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() || name.contains('\0') {
        return Err(Error::new(format!("SIOCGIFINDEX {name}"), libc::ENODEV));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming the link (NUL-terminated: the name is shorter than
    // ifr_name and the rest is zero); the kernel fills in ifr_ifindex.
    let r = unsafe { libc::ioctl(rtnl.as_fd().as_raw_fd(), libc::SIOCGIFINDEX, &mut req) };
    if r < 0 {
        return Err(Error::last(format!("SIOCGIFINDEX {name}")).needs("CAP_NET_ADMIN"));
    }
    // SAFETY: SIOCGIFINDEX set the `ifru_ifindex` member of the union.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    u32::try_from(index).map_err(|_| Error::new(format!("SIOCGIFINDEX {name}"), libc::EPROTO))
}

/// The link with interface index `index` (RTM_GETLINK); ENODEV if there is none.
pub fn get_by_index(rtnl: &mut Rtnl, index: u32) -> Result<Link> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(skip_stats());
    get_link(rtnl, msg, &format!("index {index}"))
}

/// Every link of the socket's namespace (RTM_GETLINK dump), in index order.
pub fn dump(rtnl: &mut Rtnl) -> Result<Vec<Link>> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(skip_stats());
    rtnl.dump(
        &RouteNetlinkMessage::GetLink(msg),
        "(all links)",
        Link::parse,
    )
}

fn create(rtnl: &mut Rtnl, name: &str, info: Vec<LinkInfo>) -> Result<()> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    msg.attributes.push(LinkAttribute::LinkInfo(info));
    rtnl.ack(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        name,
    )
}

/// Creates a veth pair (RTM_NEWLINK, veth(4)); with `peer_netns` the peer is born in that
/// network namespace (IFLA_NET_NS_FD on the peer), so it never has to be moved.
pub fn add_veth(
    rtnl: &mut Rtnl,
    name: &str,
    peer: &str,
    peer_netns: Option<BorrowedFd<'_>>,
) -> Result<()> {
    add_veth_with(rtnl, name, peer, peer_netns, &VethSetup::default())
}

/// How a new veth starts: the first end up or down (the peer cannot be brought up in the same
/// request: the kernel opens it before the pair is joined, and refuses with ENOTCONN), both
/// ends' MTU, the first end's master.
#[derive(Debug, Default, Clone, Copy)]
pub struct VethSetup {
    pub up: bool,
    pub mtu: Option<u32>,
    /// Index of a bridge in the first end's namespace to enslave the first end to.
    pub master: Option<u32>,
}

/// Creates a veth pair set up in the same request (RTM_NEWLINK, veth(4)): the first end up, an
/// MTU on both ends, the first end's master, as `ip link add ... up`.
pub fn add_veth_with(
    rtnl: &mut Rtnl,
    name: &str,
    peer: &str,
    peer_netns: Option<BorrowedFd<'_>>,
    setup: &VethSetup,
) -> Result<()> {
    let mut peer_msg = LinkMessage::default();
    peer_msg
        .attributes
        .push(LinkAttribute::IfName(peer.to_owned()));
    if let Some(fd) = peer_netns {
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
    }
    let mut msg = LinkMessage::default();
    if setup.up {
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
    }
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    if let Some(mtu) = setup.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(master) = setup.master {
        msg.attributes.push(LinkAttribute::Controller(master));
    }
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
    ]));
    rtnl.ack(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        name,
    )
}

/// Creates a bridge (RTM_NEWLINK with IFLA_INFO_KIND "bridge").
pub fn add_bridge(rtnl: &mut Rtnl, name: &str) -> Result<()> {
    create(rtnl, name, vec![LinkInfo::Kind(InfoKind::Bridge)])
}

/// Changes to one link, sent in one RTM_NEWLINK; None leaves a property as it is.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub up: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Index of the new master; 0 releases the link from its master.
    pub master: Option<u32>,
    /// New name; needs the link's index.
    pub rename: Option<&'a str>,
    /// Network namespace to move the link to (IFLA_NET_NS_FD).
    pub netns: Option<BorrowedFd<'a>>,
}

/// Applies `change` to the link `name` (RTM_NEWLINK without NLM_F_CREATE, as `ip link set`);
/// the link is named by `index` when given, else by name.
pub fn change(rtnl: &mut Rtnl, name: &str, index: Option<u32>, change: &Change<'_>) -> Result<()> {
    let mut msg = LinkMessage::default();
    match (index, change.rename) {
        (Some(i), _) => msg.header.index = i,
        (None, Some(_)) => {
            return Err(Error::condition(format!(
                "renaming {name} needs its interface index"
            )))
        }
        (None, None) => msg.attributes.push(LinkAttribute::IfName(name.to_owned())),
    }
    if let Some(new) = change.rename {
        msg.attributes.push(LinkAttribute::IfName(new.to_owned()));
    }
    if let Some(fd) = change.netns {
        msg.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
    }
    if let Some(mtu) = change.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = change.mac {
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    if let Some(master) = change.master {
        msg.attributes.push(LinkAttribute::Controller(master));
    }
    if let Some(up) = change.up {
        msg.header.change_mask = LinkFlags::Up;
        if up {
            msg.header.flags = LinkFlags::Up;
        }
    }
    rtnl.ack(RouteNetlinkMessage::NewLink(msg), 0, name)
}

/// Deletes the link `name` (RTM_DELLINK); deleting one end of a veth deletes both.
pub fn delete(rtnl: &mut Rtnl, name: &str) -> Result<()> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    rtnl.ack(RouteNetlinkMessage::DelLink(msg), 0, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dev_valid_name() {
        assert!(validate_name("name", "veth0").is_ok());
        assert!(validate_name("name", &"x".repeat(15)).is_ok());
        let e = validate_name("name", &"x".repeat(16)).unwrap_err();
        assert!(e.contains("15 bytes"), "{e}");
        // 8 two-byte characters are 16 bytes.
        assert!(validate_name("name", &"é".repeat(8)).is_err());
        for bad in ["", ".", "..", "a/b", "a b", "a:1", "a\tb", "a\0"] {
            assert!(validate_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn macs_parse_and_print() {
        let mac = parse_mac("02:AB:cd:00:00:01").unwrap();
        assert_eq!(mac, [2, 0xab, 0xcd, 0, 0, 1]);
        assert_eq!(format_mac(&mac), "02:ab:cd:00:00:01");
        assert_eq!(parse_mac("02-00-00-00-00-01").unwrap()[5], 1);
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "02:00:00:00:00:zz",
            "02:00:00:00:00:100",
            "02::00:00:00:00",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn loopback_is_found_by_name_and_index() {
        let mut rtnl = Rtnl::open().unwrap();
        let lo = get(&mut rtnl, "lo").unwrap();
        assert_eq!(lo.index, 1);
        assert_eq!(lo.kind, None);
        assert_eq!(lo.mac.as_deref(), Some("00:00:00:00:00:00"));
        assert_eq!(get_by_index(&mut rtnl, 1).unwrap(), lo);
        assert_eq!(index(&rtnl, "lo").unwrap(), 1);
        assert_eq!(index(&rtnl, "pyns-nope0").unwrap_err().errno, libc::ENODEV);
        assert!(dump(&mut rtnl).unwrap().contains(&lo));
    }
}
