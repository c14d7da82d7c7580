//! 802.1Q VLAN links (`ip link add NAME link LINK type vlan id VID`) by rtnetlink: the kind
//! the kernel's `8021q` module provides.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVlan, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::link;
use super::rtnl::Rtnl;
use crate::sys::error::{Error, Result};

/// The VLAN ids a tag can carry (0 and 4095 are reserved by IEEE 802.1Q).
pub const VIDS: std::ops::RangeInclusive<u16> = 1..=4094;

/// The module that provides the `vlan` link kind.
pub const MODULE: &str = "8021q";

/// Checks a VLAN id, before any request is made.
pub fn validate_vid(vid: i64) -> std::result::Result<u16, String> {
    u16::try_from(vid)
        .ok()
        .filter(|v| VIDS.contains(v))
        .ok_or_else(|| format!("vid must be a VLAN id from 1 to 4094, not {vid}"))
}

/// Creates the VLAN `name` with id `vid` on top of the link `parent` (RTM_NEWLINK with
/// IFLA_INFO_KIND "vlan", IFLA_VLAN_ID, IFLA_LINK), down, in the same namespace as `parent`.
/// A kernel without 8021q refuses with EOPNOTSUPP.
pub fn add(rtnl: &mut Rtnl, name: &str, parent: &str, vid: u16) -> Result<()> {
    let index = link::index(rtnl, parent)?;
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    msg.attributes.push(LinkAttribute::Link(index));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vlan),
        LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(vid)])),
    ]));
    match rtnl.ack(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        name,
    ) {
        // EOPNOTSUPP: no `vlan` link kind (8021q neither built in nor loadable on demand).
        Err(e) if e.errno == libc::EOPNOTSUPP => Err(Error::unsupported(format!(
            "this kernel has no VLAN support: the {MODULE} module is not loaded and could not \
             be loaded on demand (CONFIG_VLAN_8021Q); load it with `modprobe {MODULE}` (Debian \
             ships it in the linux-image package of the running kernel)"
        ))
        .hint(format!("modprobe {MODULE}"))),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vids_are_checked() {
        assert_eq!(validate_vid(1), Ok(1));
        assert_eq!(validate_vid(4094), Ok(4094));
        for bad in [0, 4095, -1, 65536 + 10] {
            assert!(
                validate_vid(bad).unwrap_err().contains("1 to 4094"),
                "{bad}"
            );
        }
    }
}
