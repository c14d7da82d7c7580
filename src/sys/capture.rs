//! Packet capture without tcpdump: an AF_PACKET socket (packet(7)) opened inside a network
//! namespace, a TPACKET_V3 receive ring the kernel fills block by block, and a thread that
//! writes every packet to a pcapng file (`pcapng`) until told to stop.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::error::{check, Error, Result};
use super::ns::Kind;
use super::pcapng::{self, Direction, Reception, Writer};
use super::thread::ThreadGuard;

/// Size of one ring block: the kernel hands blocks over whole, when full or when they are
/// `RETIRE_MS` old.
const BLOCK_SIZE: u32 = 1 << 20;
/// Number of blocks: 16 MiB of ring, a second and a half of 10,000 packets/s of full-size
/// frames, or 16 stalls of the writer of `RETIRE_MS` each at low rates.
const BLOCK_NR: u32 = 16;
/// A block that is not full goes to the writer after this many milliseconds.
const RETIRE_MS: u32 = 50;
/// At stop, how many times `2 * RETIRE_MS` the writer waits at most for the last block.
const STOP_WAITS: u32 = 50;
/// The frame size that tpacket_req3 wants (TPACKET_V3 packs packets of any size in a block).
const FRAME_SIZE: u32 = 2048;
/// Offset of the sockaddr_ll behind a tpacket3_hdr: TPACKET_ALIGN(sizeof(tpacket3_hdr)).
const SLL_OFFSET: usize = 48;
const ETH_HLEN: usize = 14;

/// What a capture got: packets written and packets the kernel dropped (PACKET_STATISTICS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub captured: u64,
    pub dropped: u64,
}

/// A running capture; `stop` ends it. Dropping it stops it too (without reporting).
#[derive(Debug)]
pub struct Capture {
    wake: OwnedFd,
    thread: Option<JoinHandle<Result<Summary>>>,
    captured: Arc<AtomicU64>,
}

impl Capture {
    /// Starts capturing every packet of `interface` (None: of every interface) in the network
    /// namespace `netns` (None: the calling thread's) into a new pcapng file at `path`
    /// (packet(7): socket(AF_PACKET, SOCK_RAW), PACKET_RX_RING of TPACKET_V3, bind ETH_P_ALL).
    /// The socket is opened in `netns` by this thread (setns(2) there and back); a background
    /// thread writes the file.
    pub fn start(
        netns: Option<BorrowedFd<'_>>,
        interface: Option<&str>,
        path: &Path,
    ) -> Result<Capture> {
        let (sock, ifindex) = match netns {
            None => packet_socket(interface)?,
            Some(fd) => {
                let mut guard = ThreadGuard::join(&[(Kind::Net, fd)])?;
                let r = packet_socket(interface);
                guard.restore()?;
                r?
            }
        };
        let ring = Ring::map(&sock)?;
        // The file is made once the privileged steps passed: a refusal leaves nothing behind.
        let file =
            File::create(path).map_err(|e| io_error("create the capture file", e).at(path))?;
        bind(&sock, ifindex)?;
        let out = Writer::new(BufWriter::with_capacity(1 << 20, file), "pyns")
            .map_err(|e| io_error("write the capture file", e).at(path))?;
        // SAFETY: eventfd(2) has no memory preconditions; the fd is owned below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        check(raw, "eventfd for the capture thread")?;
        // SAFETY: eventfd just returned this fd and nothing else owns it.
        let wake = unsafe { OwnedFd::from_raw_fd(raw) };
        let wake2 = wake
            .try_clone()
            .map_err(|e| io_error("dup the eventfd", e))?;
        let captured = Arc::new(AtomicU64::new(0));
        let mut writer = Drain {
            sink: Sink {
                sock: sock.as_raw_fd(),
                out,
                interfaces: HashMap::new(),
                captured: captured.clone(),
            },
            sock,
            ring,
        };
        let thread = std::thread::Builder::new()
            .name("pyns-capture".into())
            .spawn(move || writer.run(wake2))
            .map_err(|e| io_error("start the capture thread", e))?;
        Ok(Capture {
            wake,
            thread: Some(thread),
            captured,
        })
    }

    /// Packets written so far.
    pub fn captured(&self) -> u64 {
        self.captured.load(Ordering::Relaxed)
    }

    /// Stops: the writer takes the packets the kernel still holds (the block being filled is
    /// handed over within `RETIRE_MS`; it waits 5 s at most), flushes and closes the file;
    /// returns what was captured and dropped.
    pub fn stop(mut self) -> Result<Summary> {
        self.finish()
    }

    fn finish(&mut self) -> Result<Summary> {
        let Some(thread) = self.thread.take() else {
            return Ok(Summary::default());
        };
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our eventfd.
        let r = unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
        check(r as libc::c_int, "write the capture thread's eventfd")?;
        thread
            .join()
            .map_err(|_| Error::condition("the capture thread panicked"))?
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn io_error(op: &'static str, e: std::io::Error) -> Error {
    Error::new(op, e.raw_os_error().unwrap_or(libc::EIO))
}

/// An AF_PACKET socket in the calling thread's network namespace, not yet receiving, and the
/// index of `interface` there (0: every interface).
fn packet_socket(interface: Option<&str>) -> Result<(OwnedFd, i32)> {
    // Protocol 0: nothing is queued until `bind` names ETH_P_ALL, after the ring exists.
    // SAFETY: socket(2) has no memory preconditions; the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::last("socket(AF_PACKET, SOCK_RAW)").needs("CAP_NET_RAW"));
    }
    // SAFETY: socket just returned this fd and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let ifindex = match interface {
        None => 0,
        Some(name) => {
            let mut req = ifreq();
            let name_bytes = name.bytes().take(libc::IFNAMSIZ - 1);
            for (d, s) in req.ifr_name.iter_mut().zip(name_bytes) {
                *d = s as libc::c_char;
            }
            // SAFETY: `req` is a valid ifreq with a NUL-terminated name (at most 15 bytes).
            let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) };
            check(r, format!("SIOCGIFINDEX {name}"))?;
            // SAFETY: SIOCGIFINDEX set the `ifru_ifindex` member of the union.
            unsafe { req.ifr_ifru.ifru_ifindex }
        }
    };
    let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
    setsockopt(
        &sock,
        libc::PACKET_VERSION,
        &version,
        "setsockopt(PACKET_VERSION, TPACKET_V3)",
    )?;
    Ok((sock, ifindex))
}

fn ifreq() -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn setsockopt<T>(sock: &OwnedFd, opt: libc::c_int, value: &T, op: &'static str) -> Result<()> {
    // SAFETY: `value` points to a live T of the size given.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    check(r, op).map(drop)
}

/// Starts the flow of packets: bind(2) to ETH_P_ALL on `ifindex` (0: every interface).
fn bind(sock: &OwnedFd, ifindex: i32) -> Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` is a valid sockaddr_ll of the size given.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    check(r, "bind(AF_PACKET, ETH_P_ALL)").map(drop)
}

/// The TPACKET_V3 receive ring, mapped into memory: `BLOCK_NR` blocks of `BLOCK_SIZE` bytes,
/// each owned by the kernel or by us as its `block_status` says.
#[derive(Debug)]
struct Ring {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping belongs to the Ring alone and is only read and written by its owner.
unsafe impl Send for Ring {}

impl Ring {
    fn map(sock: &OwnedFd) -> Result<Ring> {
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE,
            tp_block_nr: BLOCK_NR,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCK_NR,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(
            sock,
            libc::PACKET_RX_RING,
            &req,
            "setsockopt(PACKET_RX_RING)",
        )?;
        let len = (BLOCK_SIZE * BLOCK_NR) as usize;
        // SAFETY: maps the ring the kernel just made for this socket; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                sock.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last("mmap the packet ring"));
        }
        let ring = Ring {
            base: base.cast(),
            len,
        };
        // Children forked while it runs (Host.run) do not get the 16 MiB mapping.
        // SAFETY: advises on exactly the mapping just made.
        let r = unsafe { libc::madvise(base, len, libc::MADV_DONTFORK) };
        check(r, "madvise(MADV_DONTFORK) on the packet ring")?;
        Ok(ring)
    }

    /// Block `i` if the kernel has handed it over (TP_STATUS_USER), else None.
    fn ready(&self, i: usize) -> Option<&[u8]> {
        let off = i * BLOCK_SIZE as usize;
        // SAFETY: `off + 8` is inside the mapping; block_status is a u32 at offset 8 of the
        // block descriptor, which the kernel writes concurrently (hence volatile).
        let status = unsafe { std::ptr::read_volatile(self.base.add(off + 8).cast::<u32>()) };
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // Reads of the block happen after the kernel's writes that preceded its status.
        fence(Ordering::Acquire);
        // SAFETY: the block is ours until `release`, and lies inside the mapping.
        Some(unsafe { std::slice::from_raw_parts(self.base.add(off), BLOCK_SIZE as usize) })
    }

    /// How many packets the kernel has put so far in block `i`, which it owns and is filling.
    fn filling(&self, i: usize) -> u32 {
        let off = i * BLOCK_SIZE as usize;
        // SAFETY: `off + 12` is inside the mapping; num_pkts is a u32 at offset 12 of the
        // block descriptor, which the kernel writes concurrently (hence volatile).
        unsafe { std::ptr::read_volatile(self.base.add(off + 12).cast::<u32>()) }
    }

    /// Hands block `i` back to the kernel, its packet count cleared (the kernel sets it when
    /// it opens the block again; until then, `filling` must not see the old count).
    fn release(&self, i: usize) {
        let off = i * BLOCK_SIZE as usize;
        // SAFETY: `off + 12` is inside the mapping and the block is still ours.
        unsafe { std::ptr::write_volatile(self.base.add(off + 12).cast::<u32>(), 0) };
        fence(Ordering::Release);
        // SAFETY: `off + 8` is inside the mapping; from here on the kernel owns the block.
        unsafe {
            std::ptr::write_volatile(self.base.add(off + 8).cast::<u32>(), libc::TP_STATUS_KERNEL)
        };
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing borrows any more.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The capture thread's state: the socket, its ring, and where packets go.
struct Drain {
    sock: OwnedFd,
    ring: Ring,
    sink: Sink,
}

/// The file, the pcapng interface id of each interface index seen, and the count written.
struct Sink {
    /// The packet socket (owned by the `Drain`), to look interface names up.
    sock: libc::c_int,
    out: Writer<BufWriter<File>>,
    interfaces: HashMap<i32, u32>,
    captured: Arc<AtomicU64>,
}

impl Drain {
    fn run(&mut self, wake: OwnedFd) -> Result<Summary> {
        let mut block = 0usize;
        let mut stopping = false;
        let mut waited = 0;
        loop {
            if let Some(b) = self.ring.ready(block) {
                self.sink.write_block(b)?;
                self.ring.release(block);
                block = (block + 1) % BLOCK_NR as usize;
                continue;
            }
            if stopping {
                // The block being filled goes to us when it is RETIRE_MS old: wait for it if
                // it holds packets (the kernel counts them as it fills it), a bounded time.
                if self.ring.filling(block) == 0 || waited >= STOP_WAITS {
                    break;
                }
                waited += 1;
                self.poll(None, 2 * RETIRE_MS as libc::c_int)?;
                continue;
            }
            stopping = self.poll(Some(wake.as_raw_fd()), -1)?;
        }
        self.sink
            .out
            .flush()
            .map_err(|e| io_error("write the capture file", e))?;
        let dropped = self.dropped()?;
        Ok(Summary {
            captured: self.sink.captured.load(Ordering::Relaxed),
            dropped,
        })
    }

    /// Waits until the ring has a block or `wake` is readable; returns whether `wake` was.
    fn poll(&self, wake: Option<libc::c_int>, timeout: libc::c_int) -> Result<bool> {
        let mut fds = [
            libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: `fds` is a live array of 2 pollfds (a negative fd is ignored).
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if r >= 0 {
                if fds[0].revents & libc::POLLERR != 0 {
                    self.clear_error()?;
                }
                return Ok(fds[1].revents & libc::POLLIN != 0);
            }
            let e = Error::last("poll the packet socket");
            if e.errno != libc::EINTR {
                return Err(e);
            }
        }
    }

    /// Reads and so clears the socket's pending error (getsockopt SO_ERROR): the kernel sets
    /// ENETDOWN when the captured interface goes down or away, and poll(2) would report it
    /// again and again. Packets stop coming from a deleted interface; the capture goes on
    /// until stopped (and with every interface, the others still come).
    fn clear_error(&self) -> Result<()> {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` and `len` are live and `len` is the size of `err`.
        let r = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        check(r, "getsockopt(SO_ERROR)").map(drop)
    }

    /// Packets the kernel dropped since the last call (getsockopt PACKET_STATISTICS, which
    /// resets the counters).
    fn dropped(&self) -> Result<u64> {
        // SAFETY: tpacket_stats_v3 is plain old data; all-zero is a valid value.
        let mut st: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` and `len` are live and `len` is the size of `st`.
        let r = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        check(r, "getsockopt(PACKET_STATISTICS)")?;
        Ok(u64::from(st.tp_drops))
    }
}

impl Sink {
    /// Writes every packet of a block the kernel handed over.
    fn write_block(&mut self, block: &[u8]) -> Result<()> {
        let num = u32_at(block, 12) as usize;
        let mut at = u32_at(block, 16) as usize;
        for _ in 0..num {
            let Some(pkt) = block.get(at..) else {
                break;
            };
            let next = u32_at(pkt, 0) as usize;
            self.write_packet(pkt)?;
            if next == 0 {
                break;
            }
            at += next;
        }
        Ok(())
    }

    /// Writes the packet of one tpacket3_hdr (at the start of `pkt`).
    fn write_packet(&mut self, pkt: &[u8]) -> Result<()> {
        let ns = u64::from(u32_at(pkt, 4)) * 1_000_000_000 + u64::from(u32_at(pkt, 8));
        let snaplen = u32_at(pkt, 12) as usize;
        let len = u32_at(pkt, 16);
        let mac = u16_at(pkt, 24) as usize;
        let Some(sll) = pkt.get(SLL_OFFSET..SLL_OFFSET + std::mem::size_of::<libc::sockaddr_ll>())
        else {
            return Ok(());
        };
        let protocol = [sll[2], sll[3]];
        let ifindex = i32::from_ne_bytes([sll[4], sll[5], sll[6], sll[7]]);
        let hatype = u16_at(sll, 8);
        let pkttype = sll[10];
        let Some(data) = pkt.get(mac..mac + snaplen) else {
            return Ok(());
        };
        if pkttype == libc::PACKET_OUTGOING && hatype == libc::ARPHRD_LOOPBACK {
            // Every packet on lo is seen leaving and arriving: keep it once, as libpcap does.
            return Ok(());
        }
        let id = self.interface(ifindex)?;
        let (dir, rx) = match pkttype {
            libc::PACKET_OUTGOING => (Direction::Outbound, Reception::Unspecified),
            libc::PACKET_HOST => (Direction::Inbound, Reception::Unicast),
            libc::PACKET_MULTICAST => (Direction::Inbound, Reception::Multicast),
            libc::PACKET_BROADCAST => (Direction::Inbound, Reception::Broadcast),
            _ => (Direction::Inbound, Reception::Promiscuous),
        };
        let flags = pcapng::flags(dir, rx);
        let r = if hatype == libc::ARPHRD_ETHER || hatype == libc::ARPHRD_LOOPBACK {
            self.out.packet(id, ns, data, len, flags)
        } else {
            // No link-layer header (a tunnel, wireguard): one made up as `lo` has, with zero
            // addresses and the packet's protocol, so that every interface is Ethernet.
            let mut eth = [0u8; ETH_HLEN];
            eth[12..].copy_from_slice(&protocol);
            self.out
                .packet_parts(id, ns, &[&eth, data], len + ETH_HLEN as u32, flags)
        };
        r.map_err(|e| io_error("write the capture file", e))?;
        self.captured.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The pcapng interface id of `ifindex`, declaring it on first sight under its name in the
    /// socket's network namespace (ioctl SIOCGIFNAME on the socket itself).
    fn interface(&mut self, ifindex: i32) -> Result<u32> {
        if let Some(&id) = self.interfaces.get(&ifindex) {
            return Ok(id);
        }
        let mut req = ifreq();
        req.ifr_ifru.ifru_ifindex = ifindex;
        // SAFETY: `req` is a valid ifreq; the kernel writes the name into it.
        let r = unsafe { libc::ioctl(self.sock, libc::SIOCGIFNAME, &mut req) };
        let name = if r < 0 {
            format!("if{ifindex}") // gone already
        } else {
            let bytes: Vec<u8> = req
                .ifr_name
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let id = self
            .out
            .interface(&name)
            .map_err(|e| io_error("write the capture file", e))?;
        self.interfaces.insert(ifindex, id);
        Ok(id)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_ne_bytes([s[0], s[1]]))
}
