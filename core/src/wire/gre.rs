//! GRE (RFC 2784 with the key and sequence number extensions of RFC 2890).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (optional)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Key (optional)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Sequence Number (optional)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Only version 0 is GRE proper (version 1 is PPTP's enhanced GRE), so
//! [`Repr::parse`] refuses other versions. The routing bit of RFC 1701
//! (0x4000) is refused too: no mirror sets it and its variable routing
//! field would make the payload offset unknowable.

use super::{get_u16, get_u32, put_u16, put_u32, Error, Field, Result};

/// Length of the fixed part of the header (flags, version, protocol).
pub const HEADER_LEN: usize = 4;

mod field {
    use super::Field;

    pub const FLAGS: Field = 0..2;
    pub const PROTOCOL: Field = 2..4;

    pub const FLAG_C: u16 = 0x8000;
    pub const FLAG_R: u16 = 0x4000;
    pub const FLAG_K: u16 = 0x2000;
    pub const FLAG_S: u16 = 0x1000;
    pub const VERSION_MASK: u16 = 0x0007;
}

/// Protocol carried by GRE (an ethertype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// IPv4 (0x0800): a routed GRE tunnel, not a mirror.
    Ipv4,
    /// IPv6 (0x86DD).
    Ipv6,
    /// Transparent Ethernet bridging (0x6558), e.g. NVGRE.
    TransparentEthernet,
    /// MPLS unicast (0x8847, RFC 4023): a label stack, then IP.
    Mpls,
    /// Cisco MetaData (0x8909): a TrustSec SGT header naming what follows.
    CiscoMetadata,
    /// ERSPAN type I and type II (0x88BE).
    Erspan,
    /// ERSPAN type III (0x22EB).
    ErspanIII,
    /// Any other protocol type.
    Unknown(u16),
}

impl From<u16> for Protocol {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => Protocol::Ipv4,
            0x86DD => Protocol::Ipv6,
            0x6558 => Protocol::TransparentEthernet,
            0x8847 => Protocol::Mpls,
            0x8909 => Protocol::CiscoMetadata,
            0x88BE => Protocol::Erspan,
            0x22EB => Protocol::ErspanIII,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u16 {
    fn from(value: Protocol) -> Self {
        match value {
            Protocol::Ipv4 => 0x0800,
            Protocol::Ipv6 => 0x86DD,
            Protocol::TransparentEthernet => 0x6558,
            Protocol::Mpls => 0x8847,
            Protocol::CiscoMetadata => 0x8909,
            Protocol::Erspan => 0x88BE,
            Protocol::ErspanIII => 0x22EB,
            Protocol::Unknown(other) => other,
        }
    }
}

/// A read/write view of a GRE header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the header its flags announce fits.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the fixed header and the optional fields its flags
    /// announce fit in the buffer. After this no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Unwrap the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn flags_word(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS.start)
    }

    /// Checksum present (C bit).
    pub fn checksum_present(&self) -> bool {
        self.flags_word() & field::FLAG_C != 0
    }

    /// RFC 1701 routing present (R bit).
    pub fn routing_present(&self) -> bool {
        self.flags_word() & field::FLAG_R != 0
    }

    /// Key present (K bit).
    pub fn key_present(&self) -> bool {
        self.flags_word() & field::FLAG_K != 0
    }

    /// Sequence number present (S bit).
    pub fn sequence_present(&self) -> bool {
        self.flags_word() & field::FLAG_S != 0
    }

    /// GRE version (0 for GRE, 1 for PPTP's enhanced GRE).
    pub fn version(&self) -> u8 {
        (self.flags_word() & field::VERSION_MASK) as u8
    }

    /// Protocol type of the payload.
    pub fn protocol(&self) -> Protocol {
        Protocol::from(get_u16(self.buffer.as_ref(), field::PROTOCOL.start))
    }

    /// Header length including the optional fields announced by the flags.
    /// Needs the first two bytes (callers of `check_len` have them).
    pub fn header_len(&self) -> usize {
        if self.buffer.as_ref().len() < 2 {
            return HEADER_LEN;
        }
        let mut len = HEADER_LEN;
        if self.checksum_present() || self.routing_present() {
            len += 4;
        }
        if self.key_present() {
            len += 4;
        }
        if self.sequence_present() {
            len += 4;
        }
        len
    }

    fn key_offset(&self) -> usize {
        HEADER_LEN
            + if self.checksum_present() || self.routing_present() {
                4
            } else {
                0
            }
    }

    fn sequence_offset(&self) -> usize {
        self.key_offset() + if self.key_present() { 4 } else { 0 }
    }

    /// The checksum field, if present.
    pub fn checksum(&self) -> Option<u16> {
        self.checksum_present()
            .then(|| get_u16(self.buffer.as_ref(), HEADER_LEN))
    }

    /// The key, if present.
    pub fn key(&self) -> Option<u32> {
        self.key_present()
            .then(|| get_u32(self.buffer.as_ref(), self.key_offset()))
    }

    /// The sequence number, if present.
    pub fn sequence(&self) -> Option<u32> {
        self.sequence_present()
            .then(|| get_u32(self.buffer.as_ref(), self.sequence_offset()))
    }

    /// Verify the checksum over header and payload (true when absent).
    pub fn verify_checksum(&self) -> bool {
        !self.checksum_present() || internet_checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the GRE header.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        data.get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_flags_word(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::FLAGS.start, value)
    }

    /// Set the protocol type.
    pub fn set_protocol(&mut self, value: Protocol) {
        put_u16(self.buffer.as_mut(), field::PROTOCOL.start, value.into())
    }

    /// Compute and store the checksum over the whole buffer (header and
    /// payload); the checksum must be present and the payload in place.
    pub fn fill_checksum(&mut self) {
        if !self.checksum_present() {
            return;
        }
        put_u16(self.buffer.as_mut(), HEADER_LEN, 0);
        let sum = internet_checksum(self.buffer.as_ref());
        put_u16(self.buffer.as_mut(), HEADER_LEN, sum);
    }

    /// The bytes after the GRE header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

/// RFC 1071 one's complement checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A parsed GRE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub protocol: Protocol,
    /// Whether a checksum field is present (its value is computed by
    /// [`Packet::fill_checksum`] once the payload is in place).
    pub checksum_present: bool,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
}

impl Repr {
    /// Parse a checked packet; refuses GRE versions other than 0 and the
    /// RFC 1701 routing bit.
    ///
    /// The flags word is read once and the optional fields are taken in
    /// order (a header on every tunneled frame: the accessors would read
    /// the flags again for each field's offset).
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        let flags = packet.flags_word();
        if flags & field::VERSION_MASK != 0 {
            return Err(Error::Malformed("GRE version is not 0"));
        }
        if flags & field::FLAG_R != 0 {
            return Err(Error::Malformed("GRE routing present"));
        }
        let data = packet.buffer.as_ref();
        let checksum_present = flags & field::FLAG_C != 0;
        // After `check_len` the announced fields are all in `data`.
        let mut at = HEADER_LEN + if checksum_present { 4 } else { 0 };
        let mut optional = |present: u16| {
            let value = (flags & present != 0).then(|| get_u32(data, at));
            at += if value.is_some() { 4 } else { 0 };
            value
        };
        let key = optional(field::FLAG_K);
        let sequence = optional(field::FLAG_S);
        Ok(Repr {
            protocol: packet.protocol(),
            checksum_present,
            key,
            sequence,
        })
    }

    /// Length of the header this repr emits.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + if self.checksum_present { 4 } else { 0 }
            + if self.key.is_some() { 4 } else { 0 }
            + if self.sequence.is_some() { 4 } else { 0 }
    }

    /// Write the header (checksum and reserved1 zeroed) into the start of
    /// `packet`'s buffer, which must hold at least `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let mut flags = 0u16;
        if self.checksum_present {
            flags |= field::FLAG_C;
        }
        if self.key.is_some() {
            flags |= field::FLAG_K;
        }
        if self.sequence.is_some() {
            flags |= field::FLAG_S;
        }
        packet.set_flags_word(flags);
        packet.set_protocol(self.protocol);
        let buf = packet.buffer.as_mut();
        let mut at = HEADER_LEN;
        if self.checksum_present {
            put_u32(buf, at, 0);
            at += 4;
        }
        if let Some(key) = self.key {
            put_u32(buf, at, key);
            at += 4;
        }
        if let Some(seq) = self.sequence {
            put_u32(buf, at, seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GRE header of an ERSPAN type II frame (tcpdump's
    /// erspan-type-ii-2.pcap, frame 1): S bit, protocol 0x88BE,
    /// sequence 1086760.
    static PACKET_BYTES: [u8; 8] = [0x10, 0x00, 0x88, 0xbe, 0x00, 0x10, 0x95, 0x28];

    /// GRE header with checksum and key, and a 4-byte payload.
    static CSUM_KEY_BYTES: [u8; 16] = [
        0xa0, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x45, 0x00, 0x00,
        0x14,
    ];

    fn packet_repr() -> Repr {
        Repr {
            protocol: Protocol::Erspan,
            checksum_present: false,
            key: None,
            sequence: Some(1_086_760),
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert!(!packet.checksum_present());
        assert!(!packet.key_present());
        assert!(packet.sequence_present());
        assert_eq!(packet.version(), 0);
        assert_eq!(packet.protocol(), Protocol::Erspan);
        assert_eq!(packet.sequence(), Some(1_086_760));
        assert_eq!(packet.key(), None);
        assert_eq!(packet.header_len(), 8);
        assert!(packet.payload().is_empty());
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 8];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_flags_word(field::FLAG_S);
        packet.set_protocol(Protocol::Erspan);
        put_u32(packet.buffer.as_mut(), 4, 1_086_760);
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
        assert_eq!(repr.buffer_len(), PACKET_BYTES.len());
        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_checksum_and_key() {
        let mut bytes = CSUM_KEY_BYTES;
        let mut packet = Packet::new_checked(&mut bytes[..]).expect("valid");
        assert_eq!(packet.header_len(), 12);
        assert_eq!(packet.key(), Some(42));
        assert_eq!(packet.protocol(), Protocol::Ipv4);
        assert!(!packet.verify_checksum());
        packet.fill_checksum();
        assert!(packet.verify_checksum());
        assert_ne!(packet.checksum(), Some(0));
        let repr = Repr::parse(&packet).expect("valid");
        assert_eq!(
            repr,
            Repr {
                protocol: Protocol::Ipv4,
                checksum_present: true,
                key: Some(42),
                sequence: None
            }
        );
        assert_eq!(
            Packet::new_unchecked(&bytes[..]).payload(),
            &[0x45, 0, 0, 0x14]
        );
    }

    #[test]
    fn test_truncated_and_malformed() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..3]).err(),
            Some(Error::Truncated)
        );
        // S bit announces 4 more bytes than there are.
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..6]).err(),
            Some(Error::Truncated)
        );
        let pptp = [0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0];
        let packet = Packet::new_checked(&pptp[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
    }

    #[test]
    fn test_protocol_roundtrip() {
        for value in [
            0x0800u16, 0x86dd, 0x6558, 0x8847, 0x8909, 0x88be, 0x22eb, 0x1234,
        ] {
            assert_eq!(u16::from(Protocol::from(value)), value);
        }
        assert_eq!(Protocol::from(0x1234), Protocol::Unknown(0x1234));
    }
}
