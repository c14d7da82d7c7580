//! A pcapng writer (the PCAP Next Generation format of tcpdump/libpcap and Wireshark): one
//! Section Header Block, one Interface Description Block per interface (its name, nanosecond
//! timestamps) and one Enhanced Packet Block per packet (with its direction).

use std::io::{self, Write};

/// LINKTYPE_ETHERNET: every interface of a capture has this link type, because libpcap (and so
/// `tcpdump -r`) refuses a file whose interfaces have different ones.
pub const LINKTYPE_ETHERNET: u16 = 1;

/// The snapshot length declared for every interface (libpcap also wants them all equal).
pub const SNAPLEN: u32 = 262_144;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_END: u16 = 0;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_EPB_FLAGS: u16 = 2;

/// Which way a packet went, as the `epb_flags` option says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// How a received packet was addressed (`epb_flags` bits 2-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reception {
    Unspecified = 0,
    Unicast = 1,
    Multicast = 2,
    Broadcast = 3,
    Promiscuous = 4,
}

/// The `epb_flags` word of a packet.
pub fn flags(direction: Direction, reception: Reception) -> u32 {
    let dir = match direction {
        Direction::Inbound => 1,
        Direction::Outbound => 2,
    };
    dir | (reception as u32) << 2
}

/// Writes a pcapng section to `out`, block by block.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    interfaces: u32,
    block: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts a section: writes its Section Header Block, naming `application`.
    pub fn new(out: W, application: &str) -> io::Result<Writer<W>> {
        let mut w = Writer {
            out,
            interfaces: 0,
            block: Vec::with_capacity(4096),
        };
        w.begin(SHB);
        w.u32(BYTE_ORDER_MAGIC);
        w.u16(1); // major version
        w.u16(0); // minor version
        w.block.extend_from_slice(&(-1i64).to_le_bytes()); // section length: not given
        w.option(OPT_SHB_USERAPPL, application.as_bytes());
        w.option(OPT_END, &[]);
        w.end()?;
        Ok(w)
    }

    /// Declares an interface named `name` (an Interface Description Block, Ethernet, timestamps
    /// in nanoseconds); returns its id, which `packet` takes.
    pub fn interface(&mut self, name: &str) -> io::Result<u32> {
        self.begin(IDB);
        self.u16(LINKTYPE_ETHERNET);
        self.u16(0);
        self.u32(SNAPLEN);
        self.option(OPT_IF_NAME, name.as_bytes());
        self.option(OPT_IF_TSRESOL, &[9]);
        self.option(OPT_END, &[]);
        self.end()?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Writes one packet (an Enhanced Packet Block): `data` as captured, `len` its length on
    /// the wire, `ns` the time in nanoseconds since the epoch, `flags` from `flags()`.
    pub fn packet(
        &mut self,
        interface: u32,
        ns: u64,
        data: &[u8],
        len: u32,
        flags: u32,
    ) -> io::Result<()> {
        self.packet_parts(interface, ns, &[data], len, flags)
    }

    /// Like `packet`, with the captured bytes given in pieces (a header made up, then the rest).
    pub fn packet_parts(
        &mut self,
        interface: u32,
        ns: u64,
        parts: &[&[u8]],
        len: u32,
        flags: u32,
    ) -> io::Result<()> {
        let caplen: usize = parts.iter().map(|p| p.len()).sum();
        let caplen =
            u32::try_from(caplen).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        self.begin(EPB);
        self.u32(interface);
        self.u32((ns >> 32) as u32);
        self.u32(ns as u32);
        self.u32(caplen);
        self.u32(len.max(caplen));
        for p in parts {
            self.block.extend_from_slice(p);
        }
        self.pad();
        self.option(OPT_EPB_FLAGS, &flags.to_le_bytes());
        self.option(OPT_END, &[]);
        self.end()
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes what is buffered and gives the output back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn begin(&mut self, kind: u32) {
        self.block.clear();
        self.u32(kind);
        self.u32(0); // total length, filled in by `end`
    }

    fn end(&mut self) -> io::Result<()> {
        let total = (self.block.len() + 4) as u32;
        self.block[4..8].copy_from_slice(&total.to_le_bytes());
        self.u32(total);
        self.out.write_all(&self.block)
    }

    fn option(&mut self, code: u16, value: &[u8]) {
        self.u16(code);
        self.u16(value.len() as u16);
        self.block.extend_from_slice(value);
        self.pad();
    }

    fn pad(&mut self) {
        let n = (4 - self.block.len() % 4) % 4;
        self.block.extend_from_slice(&[0; 3][..n]);
    }

    fn u16(&mut self, v: u16) {
        self.block.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.block.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn blocks_are_framed_and_padded() {
        let mut w = Writer::new(Vec::new(), "pyns").unwrap();
        let id = w.interface("veth0").unwrap();
        assert_eq!(id, 0);
        let ns = 1_700_000_000_123_456_789u64;
        let flags = flags(Direction::Outbound, Reception::Unspecified);
        w.packet(id, ns, &[1, 2, 3, 4, 5], 60, flags).unwrap();
        let b = w.finish().unwrap();
        // Section header: type, length at both ends, byte-order magic.
        assert_eq!(u32_at(&b, 0), SHB);
        let shb = u32_at(&b, 4) as usize;
        assert_eq!(u32_at(&b, shb - 4) as usize, shb);
        assert_eq!(u32_at(&b, 8), BYTE_ORDER_MAGIC);
        // Interface: Ethernet, then its options.
        let idb = &b[shb..];
        assert_eq!(u32_at(idb, 0), IDB);
        let idb_len = u32_at(idb, 4) as usize;
        assert_eq!(u32::from_le_bytes([idb[8], idb[9], 0, 0]), 1);
        assert_eq!(&idb[20..25], b"veth0");
        // Packet: interface 0, the time split in two words, 5 bytes padded to 8, the flags.
        let epb = &idb[idb_len..];
        assert_eq!(u32_at(epb, 0), EPB);
        let epb_len = u32_at(epb, 4) as usize;
        assert_eq!(epb_len, epb.len());
        assert_eq!(epb_len % 4, 0);
        let t = (u64::from(u32_at(epb, 12)) << 32) | u64::from(u32_at(epb, 16));
        assert_eq!(t, ns);
        assert_eq!(u32_at(epb, 20), 5);
        assert_eq!(u32_at(epb, 24), 60);
        assert_eq!(&epb[28..36], &[1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(u32_at(epb, 40), 2);
    }
}
