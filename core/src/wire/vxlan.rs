//! VXLAN header (RFC 7348).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{get_u32, put_u32, Error, Field, Result, Vni};

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;
/// IANA UDP destination port of VXLAN.
pub const UDP_PORT: u16 = 4789;

mod field {
    use super::Field;

    pub const FLAGS: usize = 0;
    pub const RESERVED0: Field = 1..4;
    pub const VNI: Field = 4..8;

    pub const FLAG_I: u8 = 0x08;
}

/// A read/write view of a VXLAN header and its payload.
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

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// I flag: the VNI is valid.
    pub fn vni_valid(&self) -> bool {
        self.flags() & field::FLAG_I != 0
    }

    /// The 24-bit VNI.
    pub fn vni(&self) -> Vni {
        Vni(get_u32(self.buffer.as_ref(), field::VNI.start) >> 8)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The inner Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the flags byte and zero the first reserved field.
    pub fn set_flags(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::FLAGS] = value;
        data[field::RESERVED0].fill(0);
    }

    /// Set the VNI and zero the last reserved byte.
    pub fn set_vni(&mut self, vni: Vni) {
        put_u32(self.buffer.as_mut(), field::VNI.start, vni.get() << 8)
    }
}

/// A parsed VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub vni: Vni,
}

impl Repr {
    /// Parse a header; refuses a header without the I flag (its VNI is
    /// meaningless).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.vni_valid() {
            return Err(Error::Malformed("VXLAN I flag not set"));
        }
        Ok(Repr { vni: packet.vni() })
    }

    /// Length of the emitted header.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_flags(field::FLAG_I);
        packet.set_vni(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VXLAN header of tcpdump's vxlan.pcap, frame 1: I flag, VNI 100,
    /// then the first two bytes of the inner frame.
    static PACKET_BYTES: [u8; 10] = [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x30];

    fn packet_repr() -> Repr {
        Repr {
            vni: Vni::new(100).expect("fits"),
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert!(packet.vni_valid());
        assert_eq!(packet.vni().get(), 100);
        assert_eq!(packet.payload(), &[0x00, 0x30]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 10];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_flags(0x08);
        packet.set_vni(Vni::new(100).expect("fits"));
        bytes[8..].copy_from_slice(&[0x00, 0x30]);
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
    fn test_invalid() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]).err(),
            Some(Error::Truncated)
        );
        let no_i = [0u8; 8];
        let packet = Packet::new_checked(&no_i[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
        assert_eq!(Vni::new(0x0100_0000), None);
    }
}
