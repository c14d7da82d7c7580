//! The one nf_tables table pyns makes: in a topology switch's network namespace, a bridge
//! chain at prerouting that drops MLD reports (ICMPv6 types 131 and 143), sent by netlink
//! (NETLINK_NETFILTER, one batch) as `nft` would send
//!
//! ```text
//! table bridge pyns { chain mld { type filter hook prerouting priority 0;
//!     meta l4proto ipv6-icmp icmpv6 type 143 drop; meta l4proto ipv6-icmp icmpv6 type 131 drop } }
//! ```
//!
//! Why: every host sends a few MLD reports when its link comes up, and a bridge with no
//! multicast querier (pyns' switches have none) floods each to all its ports, so the n-th
//! host on a switch cost O(n) deliveries and building a star of n hosts O(n²). With no
//! querier the bridge floods all multicast anyway (neighbour solicitations included), so the
//! reports serve no one.

use std::os::fd::{AsRawFd, OwnedFd};

use super::socket::socket_in;
use crate::sys::error::{Error, Result};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_BRIDGE: u8 = 7;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;

const TABLE: &[u8] = b"pyns\0";
const CHAIN: &[u8] = b"mld\0";
/// ICMPv6 types dropped: MLDv2 and MLDv1 listener reports.
const REPORTS: [u8; 2] = [143, 131];

/// A netlink attribute: type, payload (padded to 4 bytes when written).
fn attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn nested(out: &mut Vec<u8>, ty: u16, inner: &[u8]) {
    attr(out, ty | NLA_F_NESTED, inner);
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// One expression of a rule: `name` and its attributes.
fn expr(out: &mut Vec<u8>, name: &[u8], data: &[u8]) {
    let mut e = Vec::new();
    attr(&mut e, 1, name); // NFTA_EXPR_NAME
    nested(&mut e, 2, data); // NFTA_EXPR_DATA
    nested(out, 1, &e); // NFTA_LIST_ELEM
}

/// `cmp` of register 1 with `value`, equal.
fn cmp_eq(out: &mut Vec<u8>, value: u8) {
    let mut d = Vec::new();
    attr(&mut d, 1, &be32(1)); // NFTA_CMP_SREG: register 1
    attr(&mut d, 2, &be32(0)); // NFTA_CMP_OP: NFT_CMP_EQ
    let mut v = Vec::new();
    attr(&mut v, 1, &[value]); // NFTA_DATA_VALUE
    nested(&mut d, 3, &v); // NFTA_CMP_DATA
    expr(out, b"cmp\0", &d);
}

/// The rule's expressions: l4proto is ICMPv6, its type is `icmp_type`, drop.
fn rule_expressions(icmp_type: u8) -> Vec<u8> {
    let mut list = Vec::new();
    let mut meta = Vec::new();
    attr(&mut meta, 2, &be32(16)); // NFTA_META_KEY: NFT_META_L4PROTO
    attr(&mut meta, 1, &be32(1)); // NFTA_META_DREG: register 1
    expr(&mut list, b"meta\0", &meta);
    cmp_eq(&mut list, libc::IPPROTO_ICMPV6 as u8);
    let mut payload = Vec::new();
    attr(&mut payload, 1, &be32(1)); // NFTA_PAYLOAD_DREG: register 1
    attr(&mut payload, 2, &be32(2)); // NFTA_PAYLOAD_BASE: transport header
    attr(&mut payload, 3, &be32(0)); // NFTA_PAYLOAD_OFFSET
    attr(&mut payload, 4, &be32(1)); // NFTA_PAYLOAD_LEN
    expr(&mut list, b"payload\0", &payload);
    cmp_eq(&mut list, icmp_type);
    let mut code = Vec::new();
    attr(&mut code, 1, &be32(0)); // NFTA_VERDICT_CODE: NF_DROP
    let mut verdict = Vec::new();
    nested(&mut verdict, 2, &code); // NFTA_DATA_VERDICT
    let mut imm = Vec::new();
    attr(&mut imm, 1, &be32(0)); // NFTA_IMMEDIATE_DREG: the verdict register
    nested(&mut imm, 2, &verdict); // NFTA_IMMEDIATE_DATA
    expr(&mut list, b"immediate\0", &imm);
    list
}

/// A netlink message: header, nfgenmsg, attributes.
fn message(out: &mut Vec<u8>, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16, body: &[u8]) {
    let len = 16 + 4 + body.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[family, 0]);
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(body);
}

/// The batch that makes the table, its chain and the rules; its last sequence number.
fn batch() -> (Vec<u8>, u32) {
    let request = libc::NLM_F_REQUEST as u16;
    let create = request | (libc::NLM_F_CREATE | libc::NLM_F_ACK) as u16;
    let nft = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    let mut out = Vec::new();
    message(
        &mut out,
        NFNL_MSG_BATCH_BEGIN,
        request,
        1,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    let mut table = Vec::new();
    attr(&mut table, 1, TABLE); // NFTA_TABLE_NAME
    message(
        &mut out,
        nft(NFT_MSG_NEWTABLE),
        create,
        2,
        NFPROTO_BRIDGE,
        0,
        &table,
    );
    let mut chain = Vec::new();
    attr(&mut chain, 1, TABLE); // NFTA_CHAIN_TABLE
    attr(&mut chain, 3, CHAIN); // NFTA_CHAIN_NAME
    let mut hook = Vec::new();
    attr(&mut hook, 1, &be32(0)); // NFTA_HOOK_HOOKNUM: NF_BR_PRE_ROUTING
    attr(&mut hook, 2, &be32(0)); // NFTA_HOOK_PRIORITY
    nested(&mut chain, 4, &hook); // NFTA_CHAIN_HOOK
    attr(&mut chain, 7, b"filter\0"); // NFTA_CHAIN_TYPE
    message(
        &mut out,
        nft(NFT_MSG_NEWCHAIN),
        create,
        3,
        NFPROTO_BRIDGE,
        0,
        &chain,
    );
    let mut seq = 3;
    for t in REPORTS {
        let mut rule = Vec::new();
        attr(&mut rule, 1, TABLE); // NFTA_RULE_TABLE
        attr(&mut rule, 2, CHAIN); // NFTA_RULE_CHAIN
        nested(&mut rule, 4, &rule_expressions(t)); // NFTA_RULE_EXPRESSIONS
        seq += 1;
        let append = create | libc::NLM_F_APPEND as u16;
        message(
            &mut out,
            nft(NFT_MSG_NEWRULE),
            append,
            seq,
            NFPROTO_BRIDGE,
            0,
            &rule,
        );
    }
    message(
        &mut out,
        NFNL_MSG_BATCH_END,
        request,
        seq + 1,
        0,
        NFNL_SUBSYS_NFTABLES,
        &[],
    );
    (out, seq)
}

/// Makes the table in the calling thread's network namespace. Ok(false) where the kernel has no
/// nf_tables for bridges or refuses it (EPERM): the switch then floods the reports, which
/// costs time, not correctness.
pub fn drop_mld_reports() -> Result<bool> {
    let sock = match socket_in(None, libc::AF_NETLINK, libc::SOCK_RAW, NETLINK_NETFILTER) {
        Err(e) if e.errno == libc::EPROTONOSUPPORT => return Ok(false),
        r => r?,
    };
    // Never wait for ever on a kernel that would not answer.
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: SO_RCVTIMEO takes a timeval of this size; the socket is ours.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let (bytes, last) = batch();
    // SAFETY: `bytes` is valid for its length; the socket is ours.
    let sent = unsafe { libc::send(sock.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
    if sent < 0 {
        return Err(Error::last("send the nf_tables batch (MLD reports)"));
    }
    match acks(&sock, last) {
        Ok(()) => Ok(true),
        Err(e)
            if [
                libc::EPERM,
                libc::ENOENT,
                libc::EOPNOTSUPP,
                libc::EAFNOSUPPORT,
            ]
            .contains(&e.errno) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Reads the batch's acks up to the one for `last`; the first error is returned.
fn acks(sock: &OwnedFd, last: u32) -> Result<()> {
    let what = "nf_tables table for MLD reports (table bridge pyns)";
    let mut buf = vec![0u8; 8192];
    let mut first_err = None;
    loop {
        // SAFETY: `buf` is valid for writes of its length; the socket is ours.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(Error::last(format!("receive the acks of the {what}")));
        }
        let mut at = 0;
        while at + 20 <= n as usize {
            let h = &buf[at..];
            let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let ty = u16::from_ne_bytes([h[4], h[5]]);
            let seq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
            if ty == NLMSG_ERROR {
                let errno = -i32::from_ne_bytes([h[16], h[17], h[18], h[19]]);
                if errno != 0 {
                    first_err.get_or_insert(Error::new(format!("make the {what}"), errno));
                }
                if seq == last {
                    return first_err.map_or(Ok(()), Err);
                }
            }
            if len < 16 {
                break;
            }
            at += len.next_multiple_of(4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_is_framed() {
        let (bytes, last) = batch();
        assert_eq!(last, 5);
        // Walk the messages: begin, table, chain, two rules, end, each length a multiple of 4.
        let mut at = 0;
        let mut types = Vec::new();
        while at < bytes.len() {
            let len = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            types.push(u16::from_ne_bytes([bytes[at + 4], bytes[at + 5]]));
            assert_eq!(len % 4, 0);
            at += len;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(types, vec![16, 0xa00, 0xa03, 0xa06, 0xa06, 17]);
    }
}
