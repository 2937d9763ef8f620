//! Cisco MetaData (CMD, draft-smith-kandula-sxp) as GRE carries it (GRE
//! protocol 0x8909): the TrustSec security group tag of the packet that
//! follows, and that packet's ethertype.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Ethertype (of what follows) |    Version    |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Option (length, type)    |   Security group tag (SGT)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The header is the fixed 8 bytes Wireshark's dissector reads (one SGT
//! option); [`Repr::parse`] refuses a version other than 1 or any other
//! option, whose length this view would not know.

use super::{get_u16, put_u16, Error, Field, Result};

/// Length of the header.
pub const HEADER_LEN: usize = 8;
/// GRE protocol type (and ethertype) of Cisco MetaData.
pub const PROTOCOL: u16 = 0x8909;
/// The only version.
pub const VERSION: u8 = 1;
/// The option word of the one option this view reads (the SGT), as
/// Cisco sends it and Wireshark decodes it.
pub const OPTION_SGT: u16 = 0x0001;

mod field {
    use super::Field;

    pub const ETHERTYPE: Field = 0..2;
    pub const VERSION: usize = 2;
    pub const LENGTH: usize = 3;
    pub const OPTION: Field = 4..6;
    pub const SGT: Field = 6..8;
}

/// A read/write view of a Cisco MetaData header and what follows it.
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

    /// Check that the header fits. After this no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Unwrap the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The ethertype of what follows the header.
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The length field.
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// The option word (length and type).
    pub fn option(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::OPTION.start)
    }

    /// The security group tag.
    pub fn sgt(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SGT.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_ethertype(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value);
    }

    pub fn set_version(&mut self, value: u8) {
        self.buffer.as_mut()[field::VERSION] = value;
    }

    pub fn set_length(&mut self, value: u8) {
        self.buffer.as_mut()[field::LENGTH] = value;
    }

    pub fn set_option(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::OPTION.start, value);
    }

    pub fn set_sgt(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::SGT.start, value);
    }
}

/// A parsed Cisco MetaData header (version 1, one SGT option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// The ethertype of what follows.
    pub ethertype: u16,
    pub sgt: u16,
}

impl Repr {
    /// Parse a header; refuses other versions and options.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != VERSION {
            return Err(Error::Malformed("Cisco MetaData version is not 1"));
        }
        if packet.length() != 1 || packet.option() != OPTION_SGT {
            return Err(Error::Malformed("Cisco MetaData option is not one SGT"));
        }
        Ok(Repr {
            ethertype: packet.ethertype(),
            sgt: packet.sgt(),
        })
    }

    /// Length of the emitted header.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_ethertype(self.ethertype);
        packet.set_version(VERSION);
        packet.set_length(1);
        packet.set_option(OPTION_SGT);
        packet.set_sgt(self.sgt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of tcpdump's various_gre.pcap, frame 25 (after GRE
    /// 0x8909 with key 0x28): IPv4 follows, SGT 0; then the first IPv4
    /// byte.
    static PACKET_BYTES: [u8; 9] = [0x08, 0x00, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0x45];
    /// IPv6 follows, SGT 4660.
    static SGT_BYTES: [u8; 8] = [0x86, 0xdd, 0x01, 0x01, 0x00, 0x01, 0x12, 0x34];

    fn packet_repr() -> Repr {
        Repr {
            ethertype: 0x0800,
            sgt: 0,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.ethertype(), 0x0800);
        assert_eq!((packet.version(), packet.length()), (1, 1));
        assert_eq!((packet.option(), packet.sgt()), (OPTION_SGT, 0));
        assert_eq!(packet.payload(), &[0x45]);
        let tagged = Packet::new_checked(&SGT_BYTES[..]).expect("valid");
        assert_eq!((tagged.ethertype(), tagged.sgt()), (0x86dd, 0x1234));
        assert!(tagged.payload().is_empty());
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 8];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_ethertype(0x86dd);
        packet.set_version(1);
        packet.set_length(1);
        packet.set_option(OPTION_SGT);
        packet.set_sgt(0x1234);
        assert_eq!(bytes, SGT_BYTES);
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
    fn test_truncated_and_malformed() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]).err(),
            Some(Error::Truncated)
        );
        let mut other = SGT_BYTES;
        other[2] = 2;
        let packet = Packet::new_checked(&other[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
        let mut longer = SGT_BYTES;
        longer[3] = 2;
        let packet = Packet::new_checked(&longer[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
    }
}
