//! Geneve base header (RFC 8926). Options are skipped, not decoded.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Variable-Length Options                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{get_u16, get_u32, put_u16, put_u32, Error, Field, Result, Vni};

/// Length of the fixed Geneve header.
pub const HEADER_LEN: usize = 8;
/// IANA UDP destination port of Geneve.
pub const UDP_PORT: u16 = 6081;

mod field {
    use super::Field;

    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const VNI: Field = 4..8;
}

/// A read/write view of a Geneve header, its options and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the header and its options fit.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check the length. After this no accessor panics.
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

    /// Version (0).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// Length of the options in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f) * 4
    }

    /// O bit: control packet.
    pub fn control(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x80 != 0
    }

    /// C bit: critical options present.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x40 != 0
    }

    /// Protocol type of the payload (0x6558 for Ethernet).
    pub fn protocol(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    /// The 24-bit VNI.
    pub fn vni(&self) -> Vni {
        Vni(get_u32(self.buffer.as_ref(), field::VNI.start) >> 8)
    }

    /// Header plus options. Shorter buffers than the fixed header report
    /// the fixed length.
    pub fn header_len(&self) -> usize {
        if self.buffer.as_ref().is_empty() {
            HEADER_LEN
        } else {
            HEADER_LEN + self.options_len()
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The raw options.
    pub fn options(&self) -> &'a [u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload after the options.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version (0) and options length in bytes (a multiple of 4, at
    /// most 252), O and C bits.
    pub fn set_version_options(&mut self, options_len: usize, control: bool, critical: bool) {
        let data = self.buffer.as_mut();
        data[field::VER_OPTLEN] = ((options_len / 4) as u8) & 0x3f;
        data[field::FLAGS] = (u8::from(control) << 7) | (u8::from(critical) << 6);
    }

    /// Set the protocol type.
    pub fn set_protocol(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::PROTOCOL.start, value)
    }

    /// Set the VNI and zero the reserved byte.
    pub fn set_vni(&mut self, vni: Vni) {
        put_u32(self.buffer.as_mut(), field::VNI.start, vni.get() << 8)
    }
}

/// A parsed Geneve header (options are counted, not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub control: bool,
    pub critical: bool,
    pub protocol: u16,
    pub vni: Vni,
    /// Options length in bytes (their content is not kept).
    pub options_len: usize,
}

impl Repr {
    /// Parse a header; refuses versions other than 0.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 0 {
            return Err(Error::Malformed("Geneve version is not 0"));
        }
        Ok(Repr {
            control: packet.control(),
            critical: packet.critical(),
            protocol: packet.protocol(),
            vni: packet.vni(),
            options_len: packet.options_len(),
        })
    }

    /// Length of header plus options.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }

    /// Write the fixed header and zero the option bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_options(self.options_len, self.control, self.critical);
        packet.set_protocol(self.protocol);
        packet.set_vni(self.vni);
        let end = self.buffer_len();
        if let Some(options) = packet.buffer.as_mut().get_mut(HEADER_LEN..end) {
            options.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Geneve header as Open vSwitch sends it: one 8-byte option
    /// (class 0x0102, type 0x80, length 1, value 0x00000001), protocol
    /// Transparent Ethernet, VNI 0x00abcd, then two payload bytes.
    static PACKET_BYTES: [u8; 18] = [
        0x02, 0x40, 0x65, 0x58, 0x00, 0xab, 0xcd, 0x00, 0x01, 0x02, 0x80, 0x01, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x50,
    ];

    fn packet_repr() -> Repr {
        Repr {
            control: false,
            critical: true,
            protocol: 0x6558,
            vni: Vni::new(0xabcd).expect("fits"),
            options_len: 8,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.version(), 0);
        assert_eq!(packet.options_len(), 8);
        assert!(!packet.control());
        assert!(packet.critical());
        assert_eq!(packet.protocol(), 0x6558);
        assert_eq!(packet.vni().get(), 0xabcd);
        assert_eq!(packet.options(), &PACKET_BYTES[8..16]);
        assert_eq!(packet.payload(), &[0x00, 0x50]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 18];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_version_options(8, false, true);
        packet.set_protocol(0x6558);
        packet.set_vni(Vni::new(0xabcd).expect("fits"));
        bytes[8..].copy_from_slice(&PACKET_BYTES[8..]);
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
        assert_eq!(&bytes[..8], &PACKET_BYTES[..8]);
        assert_eq!(&bytes[8..], &[0u8; 8]);
    }

    #[test]
    fn test_truncated_options() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..15]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]).err(),
            Some(Error::Truncated)
        );
    }
}
