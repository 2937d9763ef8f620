//! IPv4 header (RFC 791), read the way a capture needs it: lax about the
//! payload.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |    DS / TOS   |          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options (IHL > 5)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Lax, because a mirror truncates (snaplen) and a flow meter must still
//! count what the header says: [`Packet::check_len`] only needs the header
//! (with its options) in the buffer, not the whole datagram, and
//! [`Packet::payload`] is what the buffer holds of the payload, cut to the
//! total length when the buffer is longer (Ethernet padding). A total
//! length smaller than the header is not trusted: the payload then runs to
//! the end of the buffer. The checksum is not verified (mirrors forward
//! what the wire carried; a meter counts it either way).

use std::net::Ipv4Addr;

use super::{get_u16, put_u16, Error, Field, Result};

/// Length of the header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    use super::Field;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;

    pub const FLAG_DF: u16 = 0x4000;
    pub const FLAG_MF: u16 = 0x2000;
    pub const OFFSET_MASK: u16 = 0x1fff;
}

/// A read/write view of an IPv4 header and the part of its payload that
/// the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the header fits.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the header, with its options, fits: an empty buffer or
    /// one shorter than the IHL says is [`Error::Truncated`]; an IHL below
    /// 5 (a header shorter than its fixed part) is [`Error::Malformed`].
    /// After this no accessor panics. The version is not checked here
    /// ([`Repr::parse`] does).
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        let Some(&ver_ihl) = data.first() else {
            return Err(Error::Truncated);
        };
        if ver_ihl & 0x0f < 5 {
            return Err(Error::Malformed("IPv4 IHL smaller than 5"));
        }
        if data.len() < usize::from(ver_ihl & 0x0f) * 4 {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Unwrap the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DS field and ECN bits as one byte (the old TOS byte).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length as the header says.
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TOTAL_LEN.start)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    fn flags_frag(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG.start)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & field::FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_frag() & field::FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & field::OFFSET_MASK
    }

    /// True when this datagram is a fragment (more fragments follow or the
    /// offset is not 0).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (field::FLAG_MF | field::OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address as bytes.
    pub fn src_bytes(&self) -> [u8; 4] {
        addr(&self.buffer.as_ref()[field::SRC])
    }

    /// Destination address as bytes.
    pub fn dst_bytes(&self) -> [u8; 4] {
        addr(&self.buffer.as_ref()[field::DST])
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_bytes())
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_bytes())
    }
}

fn addr(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(bytes);
    out
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload the buffer holds: from the end of the header to the
    /// total length, or to the end of the buffer if that comes first or
    /// the total length is smaller than the header.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        let header_len = self.header_len();
        let total = usize::from(self.total_len());
        let end = if total < header_len {
            data.len()
        } else {
            total.min(data.len())
        };
        data.get(header_len..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version 4 and a header length of `header_len` bytes (a multiple
    /// of 4 from 20 to 60).
    pub fn set_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, value: u8) {
        self.buffer.as_mut()[field::TOS] = value;
    }

    pub fn set_total_len(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::TOTAL_LEN.start, value);
    }

    pub fn set_ident(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT.start, value);
    }

    /// Set the flags and the fragment offset (8-byte units, 13 bits).
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let value = if dont_frag { field::FLAG_DF } else { 0 }
            | if more_frags { field::FLAG_MF } else { 0 }
            | offset & field::OFFSET_MASK;
        put_u16(self.buffer.as_mut(), field::FLAGS_FRAG.start, value);
    }

    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&value.octets());
    }

    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&value.octets());
    }

    /// Compute and write the header checksum (RFC 1071) over the header
    /// length.
    pub fn fill_checksum(&mut self) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, 0);
        let header_len = self.header_len();
        let data = self.buffer.as_ref();
        let mut sum: u32 = data
            .get(..header_len)
            .unwrap_or(&[])
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, !(sum as u16));
    }
}

/// A parsed IPv4 header (options are skipped, not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub tos: u8,
    /// Total length (header + payload) as the header says.
    pub total_len: u16,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    pub ttl: u8,
}

impl Repr {
    /// Parse a header; refuses a version other than 4.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::Malformed("IP version is not 4"));
        }
        Ok(Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            tos: packet.tos(),
            total_len: packet.total_len(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            ttl: packet.ttl(),
        })
    }

    /// Length of the emitted header (no options).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header, without options, and its checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_header_len(HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len(self.total_len);
        packet.set_ident(self.ident);
        packet.set_flags_frag(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inner IPv4 header of tcpdump's erspan-type-ii-2.pcap, frame 1
    /// (HSRP, TOS 0xc0, TTL 1, UDP 10.200.101.2 → 224.0.0.2, total length
    /// 48), then the first four bytes of its UDP header.
    static PACKET_BYTES: [u8; 24] = [
        0x45, 0xc0, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0x69, 0x31, 0x0a, 0xc8, 0x65,
        0x02, 0xe0, 0x00, 0x00, 0x02, 0x07, 0xc1, 0x07, 0xc1,
    ];

    fn packet_repr() -> Repr {
        Repr {
            src: Ipv4Addr::new(10, 200, 101, 2),
            dst: Ipv4Addr::new(224, 0, 0, 2),
            protocol: 17,
            tos: 0xc0,
            total_len: 48,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            ttl: 1,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!((packet.version(), packet.header_len()), (4, 20));
        assert_eq!(
            (packet.tos(), packet.total_len(), packet.ttl()),
            (0xc0, 48, 1)
        );
        assert_eq!((packet.protocol(), packet.checksum()), (17, 0x6931));
        assert!(!packet.is_fragment());
        assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 200, 101, 2));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(224, 0, 0, 2));
        // Truncated capture: the payload is what the buffer holds.
        assert_eq!(packet.payload(), &[0x07, 0xc1, 0x07, 0xc1]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 24];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_header_len(20);
        packet.set_tos(0xc0);
        packet.set_total_len(48);
        packet.set_ident(0);
        packet.set_flags_frag(false, false, 0);
        packet.set_ttl(1);
        packet.set_protocol(17);
        packet.set_src_addr(Ipv4Addr::new(10, 200, 101, 2));
        packet.set_dst_addr(Ipv4Addr::new(224, 0, 0, 2));
        packet.fill_checksum();
        bytes[20..].copy_from_slice(&[0x07, 0xc1, 0x07, 0xc1]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &PACKET_BYTES[..HEADER_LEN]);
    }

    #[test]
    fn test_fragment_fields() {
        let mut bytes = PACKET_BYTES;
        Packet::new_unchecked(&mut bytes[..]).set_flags_frag(true, true, 185);
        let packet = Packet::new_checked(&bytes[..]).expect("valid");
        assert!(packet.dont_frag() && packet.more_frags() && packet.is_fragment());
        assert_eq!(packet.frag_offset(), 185);
        Packet::new_unchecked(&mut bytes[..]).set_flags_frag(true, false, 0);
        assert!(!Packet::new_unchecked(&bytes[..]).is_fragment());
    }

    #[test]
    fn test_lax_lengths() {
        // Empty, and a header cut short: truncated.
        assert_eq!(Packet::new_checked(&[][..]).err(), Some(Error::Truncated));
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..19]).err(),
            Some(Error::Truncated)
        );
        // IHL below 5 is malformed even when only its byte is there.
        assert!(matches!(
            Packet::new_checked(&[0x44u8][..]).err(),
            Some(Error::Malformed(_))
        ));
        // IHL 6 needs 24 bytes of header.
        let mut options = PACKET_BYTES;
        options[0] = 0x46;
        assert!(Packet::new_checked(&options[..23]).is_err());
        let packet = Packet::new_checked(&options[..]).expect("valid");
        assert_eq!(packet.payload(), &[] as &[u8]);
        // Padding beyond the total length is not payload.
        let mut padded = PACKET_BYTES.to_vec();
        padded[3] = 22;
        assert_eq!(Packet::new_unchecked(&padded[..]).payload(), &[0x07, 0xc1]);
        // A total length smaller than the header is not trusted.
        padded[3] = 8;
        assert_eq!(Packet::new_unchecked(&padded[..]).payload().len(), 4);
        // Version 6 in an IPv4 view: the view reads it, Repr refuses it.
        let mut v6 = PACKET_BYTES;
        v6[0] = 0x65;
        let packet = Packet::new_checked(&v6[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
    }
}
