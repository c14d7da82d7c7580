//! A synchronous NETLINK_ROUTE client (rtnetlink(7)): one socket, numbered requests answered
//! by an ACK, a NACK (errno) or a multipart dump, and a bounded cache of sockets per namespace.

use std::borrow::Cow;
use std::cell::RefCell;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use netlink_packet_core::{
    parse_string, DoneBuffer, ErrorBuffer, ErrorMessage, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload, NlasIterator, Parseable, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::sys::error::{Error, Result};
use crate::sys::ns::Kind;
use crate::sys::task::fork_generation;
use crate::sys::thread::ThreadGuard;

/// Receive buffer: the kernel fills dump datagrams up to 32 KiB, so 64 KiB always suffices.
const RECV_BUF: usize = 64 * 1024;

thread_local! {
    /// One receive buffer per thread, shared by every socket (a thread's requests take turns),
    /// so that a cached socket costs a few bytes besides its fd.
    static RECV: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// How often a dump that the kernel marked inconsistent (NLM_F_DUMP_INTR) is retried.
const DUMP_ATTEMPTS: usize = 5;

/// `NLMSGERR_ATTR_MSG` of the extended ACK (netlink(7)): the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Most sockets kept open across all namespace handles; beyond it, requests use a socket
/// that is closed right after.
pub const MAX_CACHED: usize = 256;

static CACHED: AtomicUsize = AtomicUsize::new(0);

/// A NETLINK_ROUTE socket bound to the network namespace it was opened in.
#[derive(Debug)]
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    /// The fork generation it was opened in (a forked child's differs, even with the same pid
    /// in a new pid namespace).
    forks: u64,
    counted: bool,
}

impl Rtnl {
    /// Opens a NETLINK_ROUTE socket in the calling thread's network namespace (socket(2),
    /// netlink(7)), with extended ACKs so that errors carry the kernel's message.
    pub fn open() -> Result<Rtnl> {
        let sock = Socket::new(NETLINK_ROUTE).map_err(|e| io_error("socket(NETLINK_ROUTE)", e))?;
        // Capped ACKs (no copy of the request), and kernel-side filtering of dumps.
        for (name, r) in [
            ("NETLINK_EXT_ACK", sock.set_ext_ack(true)),
            ("NETLINK_CAP_ACK", sock.set_cap_ack(true)),
            (
                "NETLINK_GET_STRICT_CHK",
                sock.set_netlink_get_strict_chk(true),
            ),
        ] {
            r.map_err(|e| io_error(format!("setsockopt({name})"), e))?;
        }
        Ok(Rtnl {
            sock,
            seq: 0,
            forks: fork_generation(),
            counted: false,
        })
    }

    /// Opens a NETLINK_ROUTE socket inside the network namespace `netns` without moving the
    /// caller: setns(2) there, socket(2), setns back. The socket stays in `netns`.
    pub fn open_in(netns: BorrowedFd<'_>) -> Result<Rtnl> {
        let mut guard = ThreadGuard::join(&[(Kind::Net, netns)])?;
        let rtnl = Rtnl::open();
        guard.restore()?;
        rtnl
    }

    /// Sends a request and waits for its ACK (rtnetlink(7)); a NACK becomes an `Error` named
    /// after the request (`"RTM_NEWLINK veth0"`) with the kernel's errno and message.
    pub fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16, subject: &str) -> Result<()> {
        let name = request_name(&msg);
        let seq = self.send(msg, flags | NLM_F_ACK, name, subject)?;
        self.receive(seq, name, subject, |_, _| false)?;
        Ok(())
    }

    /// Sends a request that the kernel answers with one message (`RTM_GETLINK` of one link);
    /// `parse` gets its type (`RTM_NEWLINK`) and the bytes after the netlink header.
    pub fn get<T>(
        &mut self,
        msg: RouteNetlinkMessage,
        subject: &str,
        parse: impl FnOnce(u16, &[u8]) -> Option<T>,
    ) -> Result<T> {
        let name = request_name(&msg);
        let seq = self.send(msg, 0, name, subject)?;
        let mut parse = Some(parse);
        let mut answer = None;
        self.receive(seq, name, subject, |kind, payload| {
            answer = parse.take().and_then(|p| p(kind, payload));
            true
        })?;
        answer.ok_or_else(|| {
            Error::new(
                format!("{name} {subject}: unexpected answer"),
                libc::EBADMSG,
            )
        })
    }

    /// Sends a dump request (NLM_F_DUMP) and keeps what `pick` makes of each message (its type
    /// and the bytes after the netlink header); a dump that the kernel marks inconsistent
    /// (changed while dumping) is started again.
    pub fn dump<T>(
        &mut self,
        msg: &RouteNetlinkMessage,
        subject: &str,
        mut pick: impl FnMut(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>> {
        let name = request_name(msg);
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            let seq = self.send(msg.clone(), NLM_F_DUMP, name, subject)?;
            let interrupted = self.receive(seq, name, subject, |kind, payload| {
                out.extend(pick(kind, payload));
                false
            })?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(Error::new(
            format!("{name} {subject}: the table kept changing during {DUMP_ATTEMPTS} dumps"),
            libc::EAGAIN,
        ))
    }

    fn send(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        name: &str,
        subject: &str,
    ) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        loop {
            match self.sock.send_to(&bytes, &SocketAddr::new(0, 0), 0) {
                Ok(_) => return Ok(self.seq),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(io_error(format!("send {name} {subject}"), e)),
            }
        }
    }

    /// Reads answers to request `seq` until its ACK, NACK, end of dump, or until `each`, which
    /// gets every other message of `seq` (type and payload), says it has the answer; returns
    /// whether the kernel flagged the dump as interrupted.
    fn receive(
        &mut self,
        seq: u32,
        name: &str,
        subject: &str,
        mut each: impl FnMut(u16, &[u8]) -> bool,
    ) -> Result<bool> {
        RECV.with(|cell| {
            let mut buf = cell.try_borrow_mut().map_err(|_| {
                Error::condition("a netlink answer was read while another one was being read")
            })?;
            if buf.capacity() < RECV_BUF {
                buf.reserve_exact(RECV_BUF);
            }
            self.receive_into(&mut buf, seq, name, subject, &mut each)
        })
    }

    fn receive_into(
        &self,
        buf: &mut Vec<u8>,
        seq: u32,
        name: &str,
        subject: &str,
        each: &mut impl FnMut(u16, &[u8]) -> bool,
    ) -> Result<bool> {
        let mut interrupted = false;
        let bad = |what: String| Error::new(format!("{name} {subject}: {what}"), libc::EBADMSG);
        loop {
            buf.clear();
            let n = match self.sock.recv(buf, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(io_error(format!("recv answer to {name} {subject}"), e)),
            };
            if n > buf.len() {
                return Err(Error::new(
                    format!("{name} {subject}: an answer of {n} bytes did not fit"),
                    libc::EMSGSIZE,
                ));
            }
            let mut off = 0;
            while off < n {
                let msg = NetlinkBuffer::new_checked(&buf[off..n])
                    .map_err(|e| bad(format!("bad answer: {e}")))?;
                let len = msg.length() as usize;
                off += (len + 3) & !3;
                if msg.sequence_number() != seq {
                    continue; // left over from an earlier, abandoned request
                }
                interrupted |= msg.flags() & NLM_F_DUMP_INTR != 0;
                let payload = msg.payload();
                match msg.message_type() {
                    NLMSG_ERROR => {
                        let err = ErrorBuffer::new_checked(&payload)
                            .and_then(|b| ErrorMessage::parse(&b))
                            .map_err(|e| bad(format!("bad NLMSG_ERROR: {e}")))?;
                        let code = err.raw_code();
                        if code == 0 {
                            return Ok(interrupted);
                        }
                        let text = kernel_message(msg.flags(), &err.header);
                        return Err(nack(name, subject, -code, text));
                    }
                    NLMSG_DONE => {
                        let code = DoneBuffer::new_checked(&payload)
                            .map(|d| d.code())
                            .unwrap_or(0);
                        if code < 0 {
                            return Err(nack(name, subject, -code, None));
                        }
                        return Ok(interrupted);
                    }
                    kind => {
                        if each(kind, payload) {
                            return Ok(interrupted);
                        }
                    }
                }
            }
        }
    }
}

impl AsFd for Rtnl {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        if self.counted {
            CACHED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The socket of one namespace handle, opened on first use and closed with the handle.
/// Requests from a second thread while it is busy, or in a forked child, use a fresh socket.
#[derive(Debug, Default)]
pub struct RtnlCache(Mutex<Option<Rtnl>>);

impl RtnlCache {
    pub const fn new() -> RtnlCache {
        RtnlCache(Mutex::new(None))
    }

    /// A cache holding `rtnl`, a socket opened inside the namespace already (counted among the
    /// cached ones even beyond `MAX_CACHED`: the caller may be unable to open another there).
    pub fn seeded(mut rtnl: Rtnl) -> RtnlCache {
        CACHED.fetch_add(1, Ordering::Relaxed);
        rtnl.counted = true;
        RtnlCache(Mutex::new(Some(rtnl)))
    }

    /// A cache holding `rtnl`, a socket opened inside the namespace already, if fewer than
    /// `MAX_CACHED` are cached; else an empty one (`rtnl` is closed: a socket is opened there
    /// again when needed, which the caller must be able to do).
    pub fn offered(mut rtnl: Rtnl) -> RtnlCache {
        if CACHED.fetch_add(1, Ordering::Relaxed) >= MAX_CACHED {
            CACHED.fetch_sub(1, Ordering::Relaxed);
            return RtnlCache::new();
        }
        rtnl.counted = true;
        RtnlCache(Mutex::new(Some(rtnl)))
    }

    /// Runs `f` with a socket inside `netns`: the cached one, or a new one (kept if fewer than
    /// `MAX_CACHED` are open).
    pub fn with<R>(
        &self,
        netns: BorrowedFd<'_>,
        f: impl FnOnce(&mut Rtnl) -> Result<R>,
    ) -> Result<R> {
        let Ok(mut slot) = self.0.try_lock() else {
            return f(&mut Rtnl::open_in(netns)?);
        };
        let forks = fork_generation();
        if slot.as_ref().is_some_and(|r| r.forks != forks) {
            *slot = None; // inherited over fork: the parent owns the conversation
        }
        if let Some(rtnl) = slot.as_mut() {
            return f(rtnl);
        }
        let mut rtnl = Rtnl::open_in(netns)?;
        if CACHED.fetch_add(1, Ordering::Relaxed) >= MAX_CACHED {
            CACHED.fetch_sub(1, Ordering::Relaxed);
            return f(&mut rtnl);
        }
        rtnl.counted = true;
        f(slot.insert(rtnl))
    }

    /// Closes the cached socket, if any.
    pub fn clear(&self) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = None;
        }
    }
}

/// How many sockets the caches hold open right now.
pub fn cached() -> usize {
    CACHED.load(Ordering::Relaxed)
}

fn nack(name: &str, subject: &str, errno: i32, text: Option<String>) -> Error {
    let op: Cow<'static, str> = match text {
        Some(t) => format!("{name} {subject} (the kernel says: {t})").into(),
        None => format!("{name} {subject}").into(),
    };
    Error::new(op, errno).needs("CAP_NET_ADMIN")
}

fn io_error(op: impl Into<Cow<'static, str>>, e: std::io::Error) -> Error {
    Error::new(op, e.raw_os_error().unwrap_or(libc::EIO)).needs("CAP_NET_ADMIN")
}

/// The kernel's extended-ACK text, if the NACK carries one: after the errno comes the request's
/// header (all of the request unless NLM_F_CAPPED), then attributes (NLM_F_ACK_TLVS).
fn kernel_message(flags: u16, after_errno: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || after_errno.len() < 16 {
        return None;
    }
    let request_len = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        u32::from_ne_bytes(after_errno[..4].try_into().ok()?) as usize
    };
    let tlvs = after_errno.get((request_len + 3) & !3..)?;
    NlasIterator::new(tlvs)
        .filter_map(|nla| nla.ok())
        .find(|nla| nla.kind() == NLMSGERR_ATTR_MSG)
        .and_then(|nla| parse_string(nla.value()).ok())
        .filter(|s| !s.is_empty())
}

/// The request's name as in rtnetlink(7): `RTM_NEWLINK`.
fn request_name(msg: &RouteNetlinkMessage) -> &'static str {
    use RouteNetlinkMessage as M;
    match msg {
        M::NewLink(_) => "RTM_NEWLINK",
        M::DelLink(_) => "RTM_DELLINK",
        M::GetLink(_) => "RTM_GETLINK",
        M::SetLink(_) => "RTM_SETLINK",
        M::NewAddress(_) => "RTM_NEWADDR",
        M::DelAddress(_) => "RTM_DELADDR",
        M::GetAddress(_) => "RTM_GETADDR",
        M::NewRoute(_) => "RTM_NEWROUTE",
        M::DelRoute(_) => "RTM_DELROUTE",
        M::GetRoute(_) => "RTM_GETROUTE",
        M::NewRule(_) => "RTM_NEWRULE",
        M::DelRule(_) => "RTM_DELRULE",
        M::NewQueueDiscipline(_) => "RTM_NEWQDISC",
        M::DelQueueDiscipline(_) => "RTM_DELQDISC",
        M::GetQueueDiscipline(_) => "RTM_GETQDISC",
        M::NewTrafficFilter(_) => "RTM_NEWTFILTER",
        _ => "rtnetlink request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    #[test]
    fn reads_the_extended_ack_text() {
        // 16-byte capped request header, then NLMSGERR_ATTR_MSG "bad mtu\0" (len 4+8).
        let mut b = vec![0u8; 16];
        b.extend_from_slice(&12u16.to_ne_bytes());
        b.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        b.extend_from_slice(b"bad mtu\0");
        assert_eq!(
            kernel_message(NLM_F_ACK_TLVS | NLM_F_CAPPED, &b).as_deref(),
            Some("bad mtu")
        );
        assert_eq!(kernel_message(NLM_F_CAPPED, &b), None);
        assert_eq!(kernel_message(NLM_F_ACK_TLVS, &b[..8]), None);
    }

    #[test]
    fn names_requests() {
        let m = RouteNetlinkMessage::DelLink(LinkMessage::default());
        assert_eq!(request_name(&m), "RTM_DELLINK");
    }

    #[test]
    fn getting_a_missing_link_is_enodev() {
        let mut rtnl = Rtnl::open().unwrap();
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName("pyns-no-such0".into()));
        let e = rtnl
            .get(
                RouteNetlinkMessage::GetLink(msg),
                "pyns-no-such0",
                |_, _| Some(()),
            )
            .unwrap_err();
        assert_eq!(e.errno, libc::ENODEV);
        assert!(e.op.starts_with("RTM_GETLINK pyns-no-such0"), "{}", e.op);
        assert_eq!(e.needs, "CAP_NET_ADMIN");
    }
}
