//! ERSPAN type III header (draft-foschiano-erspan, "version 2").
//!
//! Carried in GRE with protocol 0x22EB (the GRE sequence number is
//! optional: real devices omit it).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Ver  |          VLAN         | COS |BSO|T|     Session ID    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Timestamp                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             SGT               |P|    FT   |   Hw ID   |D|Gra|O|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Platform specific subheader (8 bytes, when O is set)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{get_u16, get_u32, put_u16, put_u32, Error, Field, Result};

/// Length of the fixed type III header.
pub const HEADER_LEN: usize = 12;
/// Length of the optional platform-specific subheader.
pub const SUBHEADER_LEN: usize = 8;
/// Value of the version field for type III.
pub const VERSION: u8 = 2;

mod field {
    use super::Field;

    pub const VER_VLAN: Field = 0..2;
    pub const COS_SESSION: Field = 2..4;
    pub const TIMESTAMP: Field = 4..8;
    pub const SGT: Field = 8..10;
    pub const FLAGS: Field = 10..12;
    pub const SUBHEADER: Field = 12..20;
}

/// Frame type (FT) of the mirrored payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// An Ethernet frame (0).
    Ethernet,
    /// An IP packet without its Ethernet header (2).
    Ip,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for FrameType {
    fn from(value: u8) -> Self {
        match value {
            0 => FrameType::Ethernet,
            2 => FrameType::Ip,
            other => FrameType::Unknown(other),
        }
    }
}

impl From<FrameType> for u8 {
    fn from(value: FrameType) -> Self {
        match value {
            FrameType::Ethernet => 0,
            FrameType::Ip => 2,
            FrameType::Unknown(other) => other,
        }
    }
}

/// A read/write view of an ERSPAN type III header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the header (and subheader when the O
    /// bit is set) fits.
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

    fn ver_vlan(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::VER_VLAN.start)
    }

    fn cos_session(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::COS_SESSION.start)
    }

    fn flags(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS.start)
    }

    /// Version (2 for type III).
    pub fn version(&self) -> u8 {
        (self.ver_vlan() >> 12) as u8
    }

    /// VLAN of the mirrored frame.
    pub fn vlan(&self) -> u16 {
        self.ver_vlan() & 0x0fff
    }

    /// Class of service.
    pub fn cos(&self) -> u8 {
        (self.cos_session() >> 13) as u8
    }

    /// Bad/short/oversized indication (BSO, 2 bits).
    pub fn bso(&self) -> u8 {
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

    /// Timestamp (units given by the granularity).
    pub fn timestamp(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::TIMESTAMP.start)
    }

    /// Security group tag.
    pub fn sgt(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SGT.start)
    }

    /// P bit: the payload is an Ethernet PDU without its FCS.
    pub fn p(&self) -> bool {
        self.flags() & 0x8000 != 0
    }

    /// Frame type.
    pub fn frame_type(&self) -> FrameType {
        FrameType::from(((self.flags() >> 10) & 0x1f) as u8)
    }

    /// Hardware id (6 bits).
    pub fn hw_id(&self) -> u8 {
        ((self.flags() >> 4) & 0x3f) as u8
    }

    /// D bit: false = ingress, true = egress.
    pub fn egress(&self) -> bool {
        self.flags() & 0x0008 != 0
    }

    /// Timestamp granularity (2 bits).
    pub fn granularity(&self) -> u8 {
        ((self.flags() >> 1) & 0x3) as u8
    }

    /// O bit: a platform-specific subheader follows.
    pub fn subheader_present(&self) -> bool {
        self.flags() & 0x0001 != 0
    }

    /// Length of header plus subheader. Needs the first 12 bytes to see
    /// the O bit; shorter buffers report the fixed length.
    pub fn header_len(&self) -> usize {
        if self.buffer.as_ref().len() >= HEADER_LEN && self.subheader_present() {
            HEADER_LEN + SUBHEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The platform-specific subheader as a 64-bit number, when present.
    pub fn subheader(&self) -> Option<u64> {
        if !self.subheader_present() {
            return None;
        }
        let data = self.buffer.as_ref();
        let hi = get_u32(data, field::SUBHEADER.start);
        let lo = get_u32(data, field::SUBHEADER.start + 4);
        Some((u64::from(hi) << 32) | u64::from(lo))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The mirrored frame after the header (and subheader).
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version and VLAN.
    pub fn set_version_vlan(&mut self, version: u8, vlan: u16) {
        let value = (u16::from(version & 0xf) << 12) | (vlan & 0x0fff);
        put_u16(self.buffer.as_mut(), field::VER_VLAN.start, value)
    }

    /// Set COS, BSO, T and session id.
    pub fn set_cos_bso_truncated_session(
        &mut self,
        cos: u8,
        bso: u8,
        truncated: bool,
        session: u16,
    ) {
        let value = (u16::from(cos & 0x7) << 13)
            | (u16::from(bso & 0x3) << 11)
            | (u16::from(truncated) << 10)
            | (session & 0x03ff);
        put_u16(self.buffer.as_mut(), field::COS_SESSION.start, value)
    }

    /// Set the timestamp.
    pub fn set_timestamp(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::TIMESTAMP.start, value)
    }

    /// Set the security group tag.
    pub fn set_sgt(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::SGT.start, value)
    }

    /// Set P, FT, Hw ID, D, Gra and O.
    pub fn set_flags(
        &mut self,
        p: bool,
        frame_type: FrameType,
        hw_id: u8,
        egress: bool,
        granularity: u8,
        subheader: bool,
    ) {
        let value = (u16::from(p) << 15)
            | (u16::from(u8::from(frame_type) & 0x1f) << 10)
            | (u16::from(hw_id & 0x3f) << 4)
            | (u16::from(egress) << 3)
            | (u16::from(granularity & 0x3) << 1)
            | u16::from(subheader);
        put_u16(self.buffer.as_mut(), field::FLAGS.start, value)
    }

    /// Write the platform-specific subheader (the O bit must be set and
    /// the buffer long enough).
    pub fn set_subheader(&mut self, value: u64) {
        let data = self.buffer.as_mut();
        put_u32(data, field::SUBHEADER.start, (value >> 32) as u32);
        put_u32(data, field::SUBHEADER.start + 4, value as u32);
    }
}

/// A parsed ERSPAN type III header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub vlan: u16,
    pub cos: u8,
    pub bso: u8,
    pub truncated: bool,
    pub session_id: u16,
    pub timestamp: u32,
    pub sgt: u16,
    pub p: bool,
    pub frame_type: FrameType,
    pub hw_id: u8,
    pub egress: bool,
    pub granularity: u8,
    /// The platform-specific subheader (O bit), raw.
    pub subheader: Option<u64>,
}

impl Repr {
    /// Parse a header; refuses versions other than [`VERSION`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != VERSION {
            return Err(Error::Malformed("ERSPAN type III version is not 2"));
        }
        Ok(Repr {
            vlan: packet.vlan(),
            cos: packet.cos(),
            bso: packet.bso(),
            truncated: packet.truncated(),
            session_id: packet.session_id(),
            timestamp: packet.timestamp(),
            sgt: packet.sgt(),
            p: packet.p(),
            frame_type: packet.frame_type(),
            hw_id: packet.hw_id(),
            egress: packet.egress(),
            granularity: packet.granularity(),
            subheader: packet.subheader(),
        })
    }

    /// Length of the emitted header (and subheader).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + if self.subheader.is_some() {
                SUBHEADER_LEN
            } else {
                0
            }
    }

    /// Write the header; fields wider than their bit width are masked.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_vlan(VERSION, self.vlan);
        packet.set_cos_bso_truncated_session(self.cos, self.bso, self.truncated, self.session_id);
        packet.set_timestamp(self.timestamp);
        packet.set_sgt(self.sgt);
        packet.set_flags(
            self.p,
            self.frame_type,
            self.hw_id,
            self.egress,
            self.granularity,
            self.subheader.is_some(),
        );
        if let Some(sub) = self.subheader {
            packet.set_subheader(sub);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ERSPAN type III header of tcpdump's erspan-type-iii-ft-0.pcap,
    /// frame 1: VLAN 20, session 0, timestamp 2740542463, FT Ethernet,
    /// granularity 3, no subheader; then the first two mirrored bytes.
    static PACKET_BYTES: [u8; 14] = [
        0x20, 0x14, 0x00, 0x00, 0xa3, 0x59, 0x5b, 0xff, 0x00, 0x00, 0x00, 0x06, 0x00, 0x50,
    ];

    /// A header with every flag and a platform subheader (Platf ID 3,
    /// as Linux's ip-gre emits for type III with a hardware id).
    static SUBHEADER_BYTES: [u8; 20] = [
        0x2f, 0xff, 0xe7, 0xff, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34, 0x88, 0x19, 0x0c, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x2a,
    ];

    fn packet_repr() -> Repr {
        Repr {
            vlan: 20,
            cos: 0,
            bso: 0,
            truncated: false,
            session_id: 0,
            timestamp: 2_740_542_463,
            sgt: 0,
            p: false,
            frame_type: FrameType::Ethernet,
            hw_id: 0,
            egress: false,
            granularity: 3,
            subheader: None,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.version(), 2);
        assert_eq!(packet.vlan(), 20);
        assert_eq!(packet.session_id(), 0);
        assert_eq!(packet.timestamp(), 2_740_542_463);
        assert_eq!(packet.frame_type(), FrameType::Ethernet);
        assert_eq!(packet.granularity(), 3);
        assert!(!packet.subheader_present());
        assert_eq!(packet.payload(), &[0x00, 0x50]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 14];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_version_vlan(2, 20);
        packet.set_cos_bso_truncated_session(0, 0, false, 0);
        packet.set_timestamp(2_740_542_463);
        packet.set_sgt(0);
        packet.set_flags(false, FrameType::Ethernet, 0, false, 3, false);
        bytes[12..].copy_from_slice(&[0x00, 0x50]);
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
    fn test_subheader_roundtrip() {
        let packet = Packet::new_checked(&SUBHEADER_BYTES[..]).expect("valid");
        let repr = Repr::parse(&packet).expect("valid");
        assert_eq!(repr.vlan, 0xfff);
        assert_eq!(repr.cos, 7);
        assert_eq!(repr.bso, 0);
        assert!(repr.truncated);
        assert_eq!(repr.session_id, 0x3ff);
        assert_eq!(repr.sgt, 0x1234);
        assert!(repr.p);
        assert_eq!(repr.frame_type, FrameType::Ip);
        assert_eq!(repr.hw_id, 1);
        assert!(repr.egress);
        assert_eq!(repr.granularity, 0);
        assert_eq!(repr.subheader, Some(0x0c00_0000_0000_002a));
        assert_eq!(repr.buffer_len(), 20);
        assert!(packet.payload().is_empty());
        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &SUBHEADER_BYTES[..]);
        // The O bit announces 8 bytes that are missing.
        assert_eq!(
            Packet::new_checked(&SUBHEADER_BYTES[..19]).err(),
            Some(Error::Truncated)
        );
    }
}
