//! Queueing disciplines by rtnetlink (tc(8)'s requests, made without the program): netem for
//! delay, jitter and loss (tc-netem(8)), tbf for a rate (tc-tbf(8)), and blackhole, which drops
//! every packet silently (a network partition).
//!
//! netlink-packet-route has no netem or tbf options, so `TCA_OPTIONS` is built here, laid out as
//! the kernel's `struct tc_netem_qopt` / `struct tc_tbf_qopt` plus their attributes, with the
//! crate's NLA types doing the framing. The bytes match what iproute2's `tc` sends.

use netlink_packet_core::{
    DefaultNla, Emitable, Parseable, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcHeader, TcMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::rtnl::Rtnl;
use crate::sys::error::{Error, Result};

const TCA_OPTIONS: u16 = 2;
const TCA_NETEM_CORR: u16 = 1;
const TCA_NETEM_DELAY_DIST: u16 = 2;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
/// `TC_LINKLAYER_ETHERNET`: with it the kernel computes transmit times itself (no rate table).
const TC_LINKLAYER_ETHERNET: u8 = 1;
/// Nanoseconds per packet-scheduler tick (`PSCHED_SHIFT` = 6).
const NS_PER_TICK: u64 = 64;

/// `TC_H_ROOT`: the root of a device's egress.
pub const ROOT: u32 = 0xFFFF_FFFF;

/// A qdisc handle `major:minor` as the kernel packs it.
pub const fn handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// netem's settings (tc-netem(8)); probabilities are 0.0 to 1.0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Netem {
    pub delay_ns: u64,
    pub jitter_ns: u64,
    /// Probability of dropping a packet.
    pub loss: f64,
    /// Packets queued at most (iproute2's default is 1000).
    pub limit: u32,
    /// How much a packet's loss depends on the previous one's (`loss random P CORR`).
    pub loss_corr: f64,
    /// Probability of sending a packet twice.
    pub duplicate: f64,
    /// Probability of sending a packet at once, ahead of the delayed ones (needs a delay).
    pub reorder: f64,
    /// Probability of flipping a random bit of a packet.
    pub corrupt: f64,
    /// The delay distribution table (`TCA_NETEM_DELAY_DIST`); empty: uniform.
    pub dist: Vec<i16>,
}

/// tbf's settings (tc-tbf(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tbf {
    /// Bytes per second.
    pub rate: u64,
    /// Bucket size in bytes: what may pass at once.
    pub burst: u32,
    /// Bytes queued at most, waiting for tokens.
    pub limit: u32,
}

/// A queueing discipline this module can install.
#[derive(Debug, Clone, PartialEq)]
pub enum Qdisc {
    Netem(Netem),
    Tbf(Tbf),
    Blackhole,
}

impl Qdisc {
    /// The kind as `tc` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Qdisc::Netem(_) => "netem",
            Qdisc::Tbf(_) => "tbf",
            Qdisc::Blackhole => "blackhole",
        }
    }

    /// The value of `TCA_OPTIONS`, if the kind takes options.
    pub fn options(&self) -> Option<Vec<u8>> {
        match self {
            Qdisc::Netem(n) => Some(netem_options(n)),
            Qdisc::Tbf(t) => Some(tbf_options(t)),
            Qdisc::Blackhole => None,
        }
    }
}

fn ticks(ns: u64) -> u32 {
    u32::try_from(ns / NS_PER_TICK).unwrap_or(u32::MAX)
}

fn emit(nlas: &[DefaultNla], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + nlas.buffer_len(), 0);
    nlas.emit(&mut out[start..]);
}

/// A probability as the kernel takes it: a share of 2**32 - 1.
fn share(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * f64::from(u32::MAX)).round() as u32
}

fn words(vs: &[u32]) -> Vec<u8> {
    vs.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// `struct tc_netem_qopt` (latency, limit, loss, gap, duplicate, jitter; times in ticks; a gap
/// of 1 with reordering, as `tc` sets it), then, in `tc`'s order, `TCA_NETEM_CORR`,
/// `REORDER`, `CORRUPT` (probability, correlation 0), `DELAY_DIST` (the table), and
/// `LATENCY64`/`JITTER64` in nanoseconds for times too long for 32-bit ticks.
fn netem_options(n: &Netem) -> Vec<u8> {
    let gap = u32::from(n.reorder > 0.0);
    let mut out = words(&[
        ticks(n.delay_ns),
        n.limit,
        share(n.loss),
        gap,
        share(n.duplicate),
        ticks(n.jitter_ns),
    ]);
    let mut extra = Vec::new();
    if n.loss_corr > 0.0 {
        let corr = words(&[0, share(n.loss_corr), 0]);
        extra.push(DefaultNla::new(TCA_NETEM_CORR, corr));
    }
    for (kind, p) in [
        (TCA_NETEM_REORDER, n.reorder),
        (TCA_NETEM_CORRUPT, n.corrupt),
    ] {
        if p > 0.0 {
            extra.push(DefaultNla::new(kind, words(&[share(p), 0])));
        }
    }
    if !n.dist.is_empty() {
        let table = n.dist.iter().flat_map(|v| v.to_ne_bytes()).collect();
        extra.push(DefaultNla::new(TCA_NETEM_DELAY_DIST, table));
    }
    for (kind, ns) in [
        (TCA_NETEM_LATENCY64, n.delay_ns),
        (TCA_NETEM_JITTER64, n.jitter_ns),
    ] {
        if ticks(ns) == u32::MAX {
            let v = i64::try_from(ns).unwrap_or(i64::MAX);
            extra.push(DefaultNla::new(kind, v.to_ne_bytes().to_vec()));
        }
    }
    emit(&extra, &mut out);
    out
}

/// `TCA_TBF_PARMS` (`struct tc_tbf_qopt`: rate, peak rate, limit, buffer, mtu), `TCA_TBF_BURST`,
/// and `TCA_TBF_RATE64` for rates that do not fit 32 bits.
fn tbf_options(t: &Tbf) -> Vec<u8> {
    let rate32 = u32::try_from(t.rate).unwrap_or(u32::MAX);
    let mut parms = Vec::with_capacity(36);
    // struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate.
    parms.extend_from_slice(&[0, TC_LINKLAYER_ETHERNET]);
    parms.extend_from_slice(&0u16.to_ne_bytes());
    parms.extend_from_slice(&(-1i16).to_ne_bytes());
    parms.extend_from_slice(&0u16.to_ne_bytes());
    parms.extend_from_slice(&rate32.to_ne_bytes());
    parms.extend_from_slice(&[0; 12]); // no peak rate
    let burst_ns = u64::from(t.burst).saturating_mul(1_000_000_000) / t.rate.max(1);
    for v in [t.limit, ticks(burst_ns), 0] {
        parms.extend_from_slice(&v.to_ne_bytes());
    }
    let mut nlas = vec![
        DefaultNla::new(TCA_TBF_PARMS, parms),
        DefaultNla::new(TCA_TBF_BURST, t.burst.to_ne_bytes().to_vec()),
    ];
    if rate32 == u32::MAX {
        nlas.push(DefaultNla::new(
            TCA_TBF_RATE64,
            t.rate.to_ne_bytes().to_vec(),
        ));
    }
    let mut out = Vec::new();
    emit(&nlas, &mut out);
    out
}

fn message(index: u32, parent: u32, handle: u32) -> TcMessage {
    let mut msg = TcMessage::default();
    msg.header = TcHeader {
        index: index as i32,
        handle: TcHandle::from(handle),
        parent: TcHandle::from(parent),
        ..TcHeader::default()
    };
    msg
}

/// Adds a qdisc to the link with interface index `index` under `parent` (`ROOT` or a class
/// `major:minor`) with handle `handle` (RTM_NEWQDISC, tc(8) `qdisc add`). `subject` names the
/// link in errors.
pub fn add(
    rtnl: &mut Rtnl,
    index: u32,
    parent: u32,
    handle: u32,
    qdisc: &Qdisc,
    subject: &str,
) -> Result<()> {
    let flags = NLM_F_CREATE | NLM_F_EXCL;
    new_qdisc(rtnl, message(index, parent, handle), qdisc, subject, flags)
}

/// Puts `qdisc` at the root of the link with interface index `index` in place of what is
/// there, in one request that changes nothing if the kernel refuses it (RTM_NEWQDISC with
/// NLM_F_REPLACE, tc(8) `qdisc replace ... root`); returns the new root's major handle, 1 or 3.
///
/// The new root needs a handle other than the old root's (with the same one, the kernel would
/// change the old qdisc's parameters, keeping its children, or refuse another kind): 1:
/// unless that is taken (EEXIST), then 3:.
pub fn replace_root(rtnl: &mut Rtnl, index: u32, qdisc: &Qdisc, subject: &str) -> Result<u16> {
    let flags = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_EXCL;
    for major in [1, 3] {
        let msg = message(index, ROOT, handle(major, 0));
        match new_qdisc(rtnl, msg, qdisc, subject, flags) {
            Err(e) if e.errno == libc::EEXIST && major == 1 => continue,
            r => return r.map(|()| major),
        }
    }
    Ok(3)
}

/// Sends RTM_NEWQDISC for `qdisc` with `flags`; a kind the kernel does not know (ENOENT, tc:
/// "Unknown qdisc") is an Unsupported error that says how to get it.
fn new_qdisc(
    rtnl: &mut Rtnl,
    mut msg: TcMessage,
    qdisc: &Qdisc,
    subject: &str,
    flags: u16,
) -> Result<()> {
    msg.attributes
        .push(TcAttribute::Kind(qdisc.kind().to_owned()));
    if let Some(opts) = qdisc.options() {
        msg.attributes
            .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, opts)));
    }
    let what = format!("{subject} ({})", qdisc.kind());
    match rtnl.ack(RouteNetlinkMessage::NewQueueDiscipline(msg), flags, &what) {
        Err(e) if e.errno == libc::ENOENT => Err(Error::unsupported(format!(
            "this kernel has no {kind} qdisc: load its module with `modprobe sch_{kind}` \
             (it ships with the kernel's modules: linux-image-$(uname -r) on Debian, \
             linux-modules-extra-$(uname -r) on Ubuntu), or build the kernel with \
             CONFIG_NET_SCH_{KIND}",
            kind = qdisc.kind(),
            KIND = qdisc.kind().to_uppercase()
        ))
        .hint(format!("modprobe sch_{}", qdisc.kind()))),
        r => r,
    }
}

/// Deletes the root qdisc of the link with interface index `index` (RTM_DELQDISC, tc(8)
/// `qdisc del root`), so that it is back to its default; a link with no qdisc of its own is
/// left as it is.
pub fn delete_root(rtnl: &mut Rtnl, index: u32, subject: &str) -> Result<()> {
    let msg = message(index, ROOT, 0);
    match rtnl.ack(RouteNetlinkMessage::DelQueueDiscipline(msg), 0, subject) {
        // EINVAL "Cannot delete qdisc with handle of zero", ENOENT: nothing installed.
        Err(e) if e.errno == libc::EINVAL || e.errno == libc::ENOENT => Ok(()),
        r => r,
    }
}

/// One qdisc as the kernel reports it (tc(8) `-s qdisc show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The interface index of its link.
    pub index: u32,
    pub kind: String,
    pub handle: u32,
    pub parent: u32,
    /// Packets it sent, and packets it dropped.
    pub packets: u32,
    pub drops: u32,
}

/// Every qdisc of every link of the namespace (RTM_GETQDISC dump, tc(8) `qdisc show`).
pub fn dump(rtnl: &mut Rtnl) -> Result<Vec<Shown>> {
    rtnl.dump(
        &RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
        "(all links)",
        |kind, payload| {
            if kind != libc::RTM_NEWQDISC {
                return None;
            }
            let m = TcMessage::parse(payload).ok()?;
            let mut q = Shown {
                index: u32::try_from(m.header.index).ok()?,
                kind: String::new(),
                handle: m.header.handle.into(),
                parent: m.header.parent.into(),
                packets: 0,
                drops: 0,
            };
            for a in m.attributes {
                match a {
                    TcAttribute::Kind(k) => q.kind = k,
                    TcAttribute::Stats(s) => (q.packets, q.drops) = (s.packets, s.drops),
                    _ => {}
                }
            }
            Some(q)
        },
    )
}

/// `TC_H_CLSACT`: where the clsact qdisc hangs, and its handle `ffff:`.
const CLSACT: u32 = 0xFFFF_FFF1;
/// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)`: clsact's egress hook.
const CLSACT_EGRESS: u32 = 0xFFFF_FFF3;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
/// `TCA_BPF_FLAG_ACT_DIRECT`: the program's return value is the action (no tc action).
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
const ETH_P_ALL: u16 = 3;

/// Attaches the loaded cls_bpf program `prog_fd` in direct-action mode at the egress of the
/// link with interface index `index`, under a clsact qdisc (tc(8) `qdisc add clsact; filter
/// add egress bpf da fd N`), in place of an earlier one. The filter holds the program: the
/// caller may close `prog_fd`.
pub fn attach_egress_bpf(rtnl: &mut Rtnl, index: u32, prog_fd: u32, subject: &str) -> Result<()> {
    delete_clsact(rtnl, index, subject)?;
    let mut q = message(index, CLSACT, handle(0xFFFF, 0));
    q.attributes.push(TcAttribute::Kind("clsact".to_owned()));
    let what = format!("{subject} (clsact)");
    rtnl.ack(
        RouteNetlinkMessage::NewQueueDiscipline(q),
        NLM_F_CREATE | NLM_F_EXCL,
        &what,
    )?;
    let mut f = message(index, CLSACT_EGRESS, 0);
    f.header.info = (1 << 16) | u32::from(ETH_P_ALL.to_be());
    f.attributes.push(TcAttribute::Kind("bpf".to_owned()));
    let mut opts = Vec::new();
    emit(
        &[
            DefaultNla::new(TCA_BPF_FD, prog_fd.to_ne_bytes().to_vec()),
            DefaultNla::new(TCA_BPF_NAME, b"pyns_loss\0".to_vec()),
            DefaultNla::new(
                TCA_BPF_FLAGS,
                TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes().to_vec(),
            ),
        ],
        &mut opts,
    );
    f.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, opts)));
    let what = format!("{subject} (bpf filter)");
    let r = rtnl.ack(
        RouteNetlinkMessage::NewTrafficFilter(f),
        NLM_F_CREATE | NLM_F_EXCL,
        &what,
    );
    if r.is_err() {
        let _ = delete_clsact(rtnl, index, subject);
    }
    r
}

/// Deletes the clsact qdisc of the link and its filters; nothing if there is none.
pub fn delete_clsact(rtnl: &mut Rtnl, index: u32, subject: &str) -> Result<()> {
    let msg = message(index, CLSACT, handle(0xFFFF, 0));
    match rtnl.ack(RouteNetlinkMessage::DelQueueDiscipline(msg), 0, subject) {
        Err(e) if e.errno == libc::EINVAL || e.errno == libc::ENOENT => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netem_options_match_iproute2() {
        // `tc qdisc add dev v0 root handle 1: netem delay 50ms 5ms loss 1% limit 1000`
        let tc: [u8; 24] = [
            0xc2, 0xeb, 0x0b, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x29, 0x5c, 0x8f, 0x02, 0, 0, 0, 0, 0,
            0, 0, 0, 0x2d, 0x31, 0x01, 0x00,
        ];
        let n = Netem {
            delay_ns: 50_000_000,
            jitter_ns: 5_000_000,
            loss: 0.01,
            limit: 1000,
            ..Netem::default()
        };
        assert_eq!(netem_options(&n), tc);
        // Too long for 32-bit ticks: the 64-bit attribute follows.
        let long = Netem {
            delay_ns: 300_000_000_000,
            ..n.clone()
        };
        let o = netem_options(&long);
        assert_eq!(o.len(), 24 + 12);
        assert_eq!(&o[..4], &u32::MAX.to_ne_bytes());
        assert_eq!(&o[26..28], &TCA_NETEM_LATENCY64.to_ne_bytes());
        assert_eq!(&o[28..], &300_000_000_000i64.to_ne_bytes());
        let all = Netem {
            loss: 1.0,
            ..n.clone()
        };
        assert_eq!(&netem_options(&all)[8..12], &u32::MAX.to_ne_bytes());
        // `... delay 50ms 5ms distribution normal loss 1% 25% duplicate 2% reorder 10%
        // corrupt 0.5%`: gap 1, duplicate in the struct; CORR, REORDER, CORRUPT, DELAY_DIST.
        let more = Netem {
            loss_corr: 0.25,
            duplicate: 0.02,
            reorder: 0.1,
            corrupt: 0.005,
            dist: vec![-32768, 0, 32767],
            ..n
        };
        let o = netem_options(&more);
        assert_eq!(&o[12..16], &1u32.to_ne_bytes());
        assert_eq!(&o[16..20], &share(0.02).to_ne_bytes());
        let attr = |at: usize| u16::from_ne_bytes([o[at + 2], o[at + 3]]);
        assert_eq!(attr(24), TCA_NETEM_CORR);
        assert_eq!(&o[32..36], &share(0.25).to_ne_bytes());
        assert_eq!(attr(40), TCA_NETEM_REORDER);
        assert_eq!(&o[44..48], &0x1999_999au32.to_ne_bytes());
        assert_eq!(attr(52), TCA_NETEM_CORRUPT);
        assert_eq!(attr(64), TCA_NETEM_DELAY_DIST);
        assert_eq!(&o[68..74], &[0x00, 0x80, 0, 0, 0xff, 0x7f]);
    }

    #[test]
    fn tbf_options_match_iproute2() {
        // `tc qdisc add dev v0 root tbf rate 8mbit burst 16k limit 100k`: TCA_TBF_PARMS
        // (cell_log differs: tc computes a rate table the kernel ignores with linklayer set).
        let tc_parms: [u8; 36] = [
            0x03, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x40, 0x42, 0x0f, 0x00, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0x00, 0x90, 0x01, 0x00, 0x00, 0xe8, 0x03, 0x00, 0, 0, 0, 0,
        ];
        let t = Tbf {
            rate: 1_000_000,
            burst: 16384,
            limit: 102_400,
        };
        let o = tbf_options(&t);
        assert_eq!(&o[..4], &[40, 0, 1, 0]);
        assert_eq!(&o[5..40], &tc_parms[1..]);
        assert_eq!(&o[40..48], &[8, 0, 6, 0, 0x00, 0x40, 0x00, 0x00]);
        assert_eq!(o.len(), 48);
        let fast = tbf_options(&Tbf {
            rate: 10_000_000_000,
            ..t
        });
        assert_eq!(fast.len(), 48 + 12);
        assert_eq!(&fast[52..], &10_000_000_000u64.to_ne_bytes());
    }

    #[test]
    fn handles_pack_major_minor() {
        assert_eq!(handle(1, 0), 0x0001_0000);
        assert_eq!(handle(1, 1), 0x0001_0001);
        assert_eq!(u32::from(TcHandle::from(ROOT)), ROOT);
        assert_eq!(Qdisc::Blackhole.options(), None);
    }
}
