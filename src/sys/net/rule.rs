//! Policy routing rules (FIB rules) by rtnetlink(7): add and delete, IPv4 and IPv6.
//!
//! `Topology.partition` uses them: a rule that matches a sender's source address (and the
//! receiver's own addresses) with the blackhole action drops those packets where they arrive,
//! silently (no ICMP), before the lookup of the `local` table, which is moved after it.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::addr::{family, Cidr};
use super::rtnl::Rtnl;
use crate::sys::error::Result;

/// The `local` routing table (`RT_TABLE_LOCAL`, rtnetlink(7)), which the kernel's rule at
/// priority 0 looks up.
pub const TABLE_LOCAL: u32 = 255;

/// What a rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Look the route up in this table (`ip rule ... lookup N`).
    Lookup(u32),
    /// Drop them silently (`ip rule ... blackhole`).
    Blackhole,
}

/// A rule to add or delete: IP version, selectors (None matches all), priority and action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub version: u8,
    pub src: Option<Cidr>,
    pub dst: Option<Cidr>,
    pub priority: u32,
    pub action: Action,
}

impl Rule {
    /// As `ip rule` prints it: `500: from 10.0.0.1/32 to 10.0.1.1/32 blackhole`.
    pub fn describe(&self) -> String {
        let sel = |c: Option<Cidr>| c.map_or_else(|| "all".to_owned(), |c| c.to_string());
        let mut s = format!("{}: from {}", self.priority, sel(self.src));
        if self.dst.is_some() {
            s += &format!(" to {}", sel(self.dst));
        }
        match self.action {
            Action::Lookup(t) => s + &format!(" lookup {t}"),
            Action::Blackhole => s + " blackhole",
        }
    }

    fn message(&self) -> RuleMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = family(self.version);
        msg.attributes.push(RuleAttribute::Priority(self.priority));
        if let Some(c) = self.src {
            msg.header.src_len = c.prefix;
            msg.attributes.push(RuleAttribute::Source(c.addr));
        }
        if let Some(c) = self.dst {
            msg.header.dst_len = c.prefix;
            msg.attributes.push(RuleAttribute::Destination(c.addr));
        }
        match self.action {
            Action::Lookup(t) => {
                msg.header.action = RuleAction::ToTable;
                // The header's table is a u8: larger ids travel in FRA_TABLE only.
                msg.header.table = u8::try_from(t).unwrap_or(0);
                msg.attributes.push(RuleAttribute::Table(t));
            }
            Action::Blackhole => msg.header.action = RuleAction::Blackhole,
        }
        msg
    }
}

/// Adds the rule (RTM_NEWRULE, like `ip rule add`); EEXIST if the same rule exists.
pub fn add(rtnl: &mut Rtnl, rule: &Rule) -> Result<()> {
    rtnl.ack(
        RouteNetlinkMessage::NewRule(rule.message()),
        NLM_F_CREATE | NLM_F_EXCL,
        &rule.describe(),
    )
}

/// Deletes the rule (RTM_DELRULE, like `ip rule del`); ENOENT if there is none.
pub fn delete(rtnl: &mut Rtnl, rule: &Rule) -> Result<()> {
    rtnl.ack(
        RouteNetlinkMessage::DelRule(rule.message()),
        0,
        &rule.describe(),
    )
}

/// Moves the lookup of the `local` table from priority 0 to `priority`, so that rules with a
/// lower priority see packets addressed to this namespace before they are delivered (the
/// usual `ip rule add pref N lookup local; ip rule del pref 0 lookup local`). Doing it again
/// changes nothing.
pub fn move_local(rtnl: &mut Rtnl, version: u8, priority: u32) -> Result<()> {
    let mut rule = Rule {
        version,
        src: None,
        dst: None,
        priority,
        action: Action::Lookup(TABLE_LOCAL),
    };
    match add(rtnl, &rule) {
        Err(e) if e.errno != libc::EEXIST => return Err(e),
        _ => {}
    }
    rule.priority = 0;
    match delete(rtnl, &rule) {
        Err(e) if e.errno != libc::ENOENT => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_like_ip_rule() {
        let r = Rule {
            version: 4,
            src: Some(Cidr::parse("10.0.0.1").unwrap()),
            dst: Some(Cidr::parse("10.0.1.1").unwrap()),
            priority: 500,
            action: Action::Blackhole,
        };
        assert_eq!(
            r.describe(),
            "500: from 10.0.0.1/32 to 10.0.1.1/32 blackhole"
        );
        let m = r.message();
        assert_eq!((m.header.src_len, m.header.dst_len), (32, 32));
        assert_eq!(m.header.action, RuleAction::Blackhole);
        let l = Rule {
            version: 6,
            src: None,
            dst: None,
            priority: 1000,
            action: Action::Lookup(TABLE_LOCAL),
        };
        assert_eq!(l.describe(), "1000: from all lookup 255");
        assert_eq!(l.message().header.table, 255);
    }
}
