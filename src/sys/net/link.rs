//! Network interfaces by rtnetlink(7): look up, list, create (veth, bridge), change (and put
//! back what a refused change applied), delete.

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

/// The kinds of interface that take ports (`IFLA_MASTER`): those whose driver can enslave a
/// link (`ndo_add_slave`).
pub const MASTER_KINDS: [&str; 4] = ["bridge", "bond", "team", "vrf"];

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
    /// The MTUs the device accepts (`IFLA_MIN_MTU`, `IFLA_MAX_MTU`), when the kernel says.
    pub min_mtu: Option<u32>,
    pub max_mtu: Option<u32>,
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
            min_mtu: None,
            max_mtu: None,
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
                libc::IFLA_MIN_MTU => link.min_mtu = parse_u32(value).ok(),
                libc::IFLA_MAX_MTU => link.max_mtu = parse_u32(value).ok(),
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

/// Applies `change` to the link `name` (RTM_NEWLINK without NLM_F_CREATE, as `ip link set`),
/// found by name: a rename needs the link's index, and `set`.
pub fn change(rtnl: &mut Rtnl, name: &str, change: &Change<'_>) -> Result<()> {
    if change.rename.is_some() {
        return Err(Error::condition(format!(
            "renaming {name} needs its interface index"
        )));
    }
    let mut msg = set_message(0, change);
    msg.attributes
        .insert(0, LinkAttribute::IfName(name.to_owned()));
    rtnl.ack(RouteNetlinkMessage::NewLink(msg), 0, name)
}

/// The RTM_NEWLINK that applies `change` to the link with interface index `index`.
fn set_message(index: u32, change: &Change<'_>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
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
    msg
}

/// Applies `change` to `link`, as read just before, in one RTM_NEWLINK (as `ip link set`),
/// all or nothing: the kernel applies a request's parts one after the other (move, MAC, MTU,
/// name, up/down, master) and stops at the first it refuses, so after a refusal this puts
/// back what was applied (a port that lost its master is enslaved to it again, a link that
/// moved comes back) and returns the refusal. A change that moves the link (`change.netns`)
/// needs `moving`: a socket in the namespace it goes to, and the namespace it is in (None:
/// the calling thread's).
pub fn set(
    rtnl: &mut Rtnl,
    link: &Link,
    change: &Change<'_>,
    moving: Option<(&mut Rtnl, Option<BorrowedFd<'_>>)>,
) -> Result<()> {
    let msg = set_message(link.index, change);
    let Err(mut e) = rtnl.ack(RouteNetlinkMessage::NewLink(msg), 0, &link.name) else {
        return Ok(());
    };
    if let Err(r) = restore(rtnl, link, change, moving) {
        e.op = format!("{}; then putting {} back failed: {r}", e.op, link.name).into();
    }
    Err(e)
}

/// Where `put_back` leaves a link: where it is, or back in its namespace.
#[derive(Clone, Copy)]
enum Home<'a> {
    Here,
    Thread,
    Netns(BorrowedFd<'a>),
}

/// Puts `before` back after a refused `change`: where the link is now (still here, or moved
/// under its new name), and what of it differs.
fn restore(
    rtnl: &mut Rtnl,
    before: &Link,
    change: &Change<'_>,
    moving: Option<(&mut Rtnl, Option<BorrowedFd<'_>>)>,
) -> Result<()> {
    match (get_by_index(rtnl, before.index), moving) {
        (Ok(now), _) => put_back(rtnl, &now, before, Home::Here),
        (Err(e), Some((dest, home))) if e.errno == libc::ENODEV => {
            let now = get(dest, change.rename.unwrap_or(&before.name))?;
            let home = home.map_or(Home::Thread, Home::Netns);
            put_back(dest, &now, before, home)
        }
        (Err(e), _) => Err(e),
    }
}

/// Changes the link `now` back to `before` in one RTM_NEWLINK, moving it `home` if it moved.
fn put_back(rtnl: &mut Rtnl, now: &Link, before: &Link, home: Home<'_>) -> Result<()> {
    let mut msg = LinkMessage::default();
    msg.header.index = now.index;
    if now.name != before.name {
        msg.attributes
            .push(LinkAttribute::IfName(before.name.clone()));
    }
    let moves = match home {
        Home::Here => false,
        Home::Thread => {
            let tid = nix::unistd::gettid().as_raw().unsigned_abs();
            msg.attributes.push(LinkAttribute::NetNsPid(tid));
            true
        }
        Home::Netns(fd) => {
            msg.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
            true
        }
    };
    if now.mtu != before.mtu {
        msg.attributes.push(LinkAttribute::Mtu(before.mtu));
    }
    if now.mac != before.mac {
        if let Some(mac) = before.mac.as_deref().and_then(mac_bytes) {
            msg.attributes.push(LinkAttribute::Address(mac));
        }
    }
    // Moving releases a port from its master; the master's index is the home namespace's.
    if moves || now.master != before.master {
        if let Some(m) = before.master.or((!moves).then_some(0)) {
            msg.attributes.push(LinkAttribute::Controller(m));
        }
    }
    // Moving brings a link down.
    if moves || now.up != before.up {
        msg.header.change_mask = LinkFlags::Up;
        if before.up {
            msg.header.flags = LinkFlags::Up;
        }
    }
    if msg.attributes.is_empty() && msg.header.change_mask.is_empty() {
        return Ok(());
    }
    rtnl.ack(RouteNetlinkMessage::NewLink(msg), 0, &before.name)
}

/// The bytes of a hardware address as `format_mac` prints it.
fn mac_bytes(s: &str) -> Option<Vec<u8>> {
    s.split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
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
