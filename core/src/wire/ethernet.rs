//! Ethernet II header (IEEE 802.3 clause 3.1.1, without the FCS: captures
//! do not carry it).
//!
//! ```text
//! +-------------------+-------------------+-----------+---------
//! | destination (6)   | source (6)        | type (2)  | payload
//! +-------------------+-------------------+-----------+---------
//! ```
//!
//! The ethertype is a plain `u16` compared with the constants below: on the
//! per-packet path a match on the number is all that is needed, and every
//! other value is data (an ARP frame is metered as "not IP", not an error
//! of this layer).

use super::{get_u16, put_u16, Error, Field, Result};

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// The pre-standard QinQ outer tag some switches still send.
pub const ETHERTYPE_QINQ_LEGACY: u16 = 0x9100;

/// True for the ethertypes that announce an 802.1Q / 802.1ad tag.
pub fn is_vlan_ethertype(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_LEGACY
    )
}

mod field {
    use super::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
}

/// A read/write view of an Ethernet II frame.
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

    /// Destination MAC address.
    pub fn destination(&self) -> [u8; 6] {
        mac(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source MAC address.
    pub fn source(&self) -> [u8; 6] {
        mac(&self.buffer.as_ref()[field::SOURCE])
    }

    /// The ethertype (or the first tag's TPID).
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }
}

fn mac(bytes: &[u8]) -> [u8; 6] {
    let mut out = [0u8; 6];
    out.copy_from_slice(bytes);
    out
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_destination(&mut self, value: [u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value);
    }

    pub fn set_source(&mut self, value: [u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value);
    }

    pub fn set_ethertype(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value);
    }
}

/// A parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: [u8; 6],
    pub dst: [u8; 6],
    pub ethertype: u16,
}

impl Repr {
    /// Parse a header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src: packet.source(),
            dst: packet.destination(),
            ethertype: packet.ethertype(),
        })
    }

    /// Length of the emitted header.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_destination(self.dst);
        packet.set_source(self.src);
        packet.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outer Ethernet header of tcpdump's erspan-type-ii-2.pcap, frame
    /// 1, and the first two bytes of its IPv4 header.
    static PACKET_BYTES: [u8; 16] = [
        0x00, 0x0c, 0x29, 0xf1, 0x58, 0x1e, 0x00, 0x50, 0x56, 0xc0, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00,
    ];

    fn packet_repr() -> Repr {
        Repr {
            dst: [0x00, 0x0c, 0x29, 0xf1, 0x58, 0x1e],
            src: [0x00, 0x50, 0x56, 0xc0, 0x00, 0x01],
            ethertype: ETHERTYPE_IPV4,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.destination(), [0x00, 0x0c, 0x29, 0xf1, 0x58, 0x1e]);
        assert_eq!(packet.source(), [0x00, 0x50, 0x56, 0xc0, 0x00, 0x01]);
        assert_eq!(packet.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(packet.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 16];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_destination([0x00, 0x0c, 0x29, 0xf1, 0x58, 0x1e]);
        packet.set_source([0x00, 0x50, 0x56, 0xc0, 0x00, 0x01]);
        packet.set_ethertype(ETHERTYPE_IPV4);
        bytes[14..].copy_from_slice(&[0x45, 0x00]);
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
    fn test_truncated() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..13]).err(),
            Some(Error::Truncated)
        );
        let header_only = Packet::new_checked(&PACKET_BYTES[..14]).expect("valid");
        assert_eq!(header_only.payload(), &[] as &[u8]);
        assert!(is_vlan_ethertype(0x8100) && is_vlan_ethertype(0x88a8));
        assert!(is_vlan_ethertype(0x9100) && !is_vlan_ethertype(ETHERTYPE_ARP));
    }
}
