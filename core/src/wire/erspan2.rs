//! ERSPAN type II header (draft-foschiano-erspan, "version 1").
//!
//! Carried in GRE with protocol 0x88BE and the sequence-number bit set.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Ver  |          VLAN         | COS | En|T|    Session ID     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Reserved         |                  Index                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{get_u16, get_u32, put_u16, put_u32, Error, Field, Result};

/// Length of the type II header.
pub const HEADER_LEN: usize = 8;
/// Value of the version field for type II.
pub const VERSION: u8 = 1;

mod field {
    use super::Field;

    /// Version (4 bits) and VLAN (12 bits).
    pub const VER_VLAN: Field = 0..2;
    /// COS (3), En (2), T (1), session id (10).
    pub const COS_SESSION: Field = 2..4;
    /// Reserved (12) and index (20).
    pub const INDEX: Field = 4..8;
}

/// A read/write view of an ERSPAN type II header and its payload.
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

    fn ver_vlan(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::VER_VLAN.start)
    }

    fn cos_session(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::COS_SESSION.start)
    }

    /// Version (1 for type II).
    pub fn version(&self) -> u8 {
        (self.ver_vlan() >> 12) as u8
    }

    /// VLAN of the mirrored frame.
    pub fn vlan(&self) -> u16 {
        self.ver_vlan() & 0x0fff
    }

    /// Class of service of the mirrored frame.
    pub fn cos(&self) -> u8 {
        (self.cos_session() >> 13) as u8
    }

    /// Trunk encapsulation of the original frame (0 untagged, 1 ISL,
    /// 2 802.1Q, 3 VLAN preserved).
    pub fn encap(&self) -> u8 {
        ((self.cos_session() >> 11) & 0x3) as u8
    }

    /// Whether the mirrored frame was truncated (T bit).
    pub fn truncated(&self) -> bool {
        self.cos_session() & 0x0400 != 0
    }

    /// ERSPAN session id (10 bits).
    pub fn session_id(&self) -> u16 {
        self.cos_session() & 0x03ff
    }

    /// Port index (20 bits).
    pub fn index(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::INDEX.start) & 0x000f_ffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The mirrored frame after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version and VLAN.
    pub fn set_version_vlan(&mut self, version: u8, vlan: u16) {
        let value = (u16::from(version & 0xf) << 12) | (vlan & 0x0fff);
        put_u16(self.buffer.as_mut(), field::VER_VLAN.start, value)
    }

    /// Set COS, En, T and session id.
    pub fn set_cos_encap_truncated_session(
        &mut self,
        cos: u8,
        encap: u8,
        truncated: bool,
        session: u16,
    ) {
        let value = (u16::from(cos & 0x7) << 13)
            | (u16::from(encap & 0x3) << 11)
            | (u16::from(truncated) << 10)
            | (session & 0x03ff);
        put_u16(self.buffer.as_mut(), field::COS_SESSION.start, value)
    }

    /// Set the index (the reserved bits are zeroed).
    pub fn set_index(&mut self, index: u32) {
        put_u32(
            self.buffer.as_mut(),
            field::INDEX.start,
            index & 0x000f_ffff,
        )
    }
}

/// A parsed ERSPAN type II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub vlan: u16,
    pub cos: u8,
    pub encap: u8,
    pub truncated: bool,
    pub session_id: u16,
    pub index: u32,
}

impl Repr {
    /// Parse a header; refuses versions other than [`VERSION`].
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != VERSION {
            return Err(Error::Malformed("ERSPAN type II version is not 1"));
        }
        Ok(Repr {
            vlan: packet.vlan(),
            cos: packet.cos(),
            encap: packet.encap(),
            truncated: packet.truncated(),
            session_id: packet.session_id(),
            index: packet.index(),
        })
    }

    /// Length of the emitted header.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header; fields wider than their bit width are masked.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_vlan(VERSION, self.vlan);
        packet.set_cos_encap_truncated_session(
            self.cos,
            self.encap,
            self.truncated,
            self.session_id,
        );
        packet.set_index(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ERSPAN type II header of tcpdump's erspan-type-ii-2.pcap, frame 1:
    /// VLAN 101, COS 6, session 1, index 540773, followed by the first two
    /// bytes of the mirrored frame.
    static PACKET_BYTES: [u8; 10] = [0x10, 0x65, 0xc0, 0x01, 0x00, 0x08, 0x40, 0x65, 0x01, 0x00];

    fn packet_repr() -> Repr {
        Repr {
            vlan: 101,
            cos: 6,
            encap: 0,
            truncated: false,
            session_id: 1,
            index: 540_773,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.version(), 1);
        assert_eq!(packet.vlan(), 101);
        assert_eq!(packet.cos(), 6);
        assert_eq!(packet.encap(), 0);
        assert!(!packet.truncated());
        assert_eq!(packet.session_id(), 1);
        assert_eq!(packet.index(), 540_773);
        assert_eq!(packet.payload(), &[0x01, 0x00]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 10];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_version_vlan(1, 101);
        packet.set_cos_encap_truncated_session(6, 0, false, 1);
        packet.set_index(540_773);
        bytes[8..].copy_from_slice(&[0x01, 0x00]);
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
    fn test_truncated_and_version() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]).err(),
            Some(Error::Truncated)
        );
        let mut v2 = PACKET_BYTES;
        v2[0] = 0x20;
        let packet = Packet::new_checked(&v2[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
    }
}
