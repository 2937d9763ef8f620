//! An 802.1Q / 802.1ad VLAN tag, as it follows the TPID that the
//! preceding ethertype field holds (0x8100, 0x88A8 or 0x9100).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | PCP |D|       VLAN id         |     Ethertype (of what follows)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{get_u16, put_u16, Error, Field, Result};

/// Length of a tag (after its TPID).
pub const HEADER_LEN: usize = 4;

mod field {
    use super::Field;

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;

    pub const VID_MASK: u16 = 0x0fff;
    pub const DEI: u16 = 0x1000;
}

/// A read/write view of a VLAN tag and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the tag fits.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the tag fits. After this no accessor panics.
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

    fn tci(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & field::DEI != 0
    }

    /// The 12-bit VLAN id.
    pub fn vlan_id(&self) -> u16 {
        self.tci() & field::VID_MASK
    }

    /// The ethertype of what follows the tag (another TPID for QinQ).
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the tag.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set priority, DEI and VLAN id (the id is cut to 12 bits, the
    /// priority to 3).
    pub fn set_tci(&mut self, pcp: u8, dei: bool, vlan_id: u16) {
        let tci = u16::from(pcp & 0x7) << 13
            | if dei { field::DEI } else { 0 }
            | vlan_id & field::VID_MASK;
        put_u16(self.buffer.as_mut(), field::TCI.start, tci);
    }

    pub fn set_ethertype(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value);
    }
}

/// A parsed VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub pcp: u8,
    pub dei: bool,
    pub vlan_id: u16,
    pub ethertype: u16,
}

impl Repr {
    /// Parse a tag.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            pcp: packet.pcp(),
            dei: packet.dei(),
            vlan_id: packet.vlan_id(),
            ethertype: packet.ethertype(),
        })
    }

    /// Length of the emitted tag.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the tag.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_tci(self.pcp, self.dei, self.vlan_id);
        packet.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inner tag of tcpdump's erspan-type-iii-ft-0.pcap, frame 1:
    /// VLAN 20, then IPv4, then the first IPv4 byte.
    static PACKET_BYTES: [u8; 5] = [0x00, 0x14, 0x08, 0x00, 0x45];
    /// Priority 5, DEI, VLAN 4094, then 802.1Q again (QinQ).
    static TAGGED_BYTES: [u8; 4] = [0xbf, 0xfe, 0x81, 0x00];

    fn packet_repr() -> Repr {
        Repr {
            pcp: 0,
            dei: false,
            vlan_id: 20,
            ethertype: 0x0800,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(
            (packet.pcp(), packet.dei(), packet.vlan_id()),
            (0, false, 20)
        );
        assert_eq!(packet.ethertype(), 0x0800);
        assert_eq!(packet.payload(), &[0x45]);
        let tagged = Packet::new_checked(&TAGGED_BYTES[..]).expect("valid");
        assert_eq!(
            (tagged.pcp(), tagged.dei(), tagged.vlan_id()),
            (5, true, 4094)
        );
        assert_eq!(tagged.ethertype(), 0x8100);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 4];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_tci(5, true, 4094);
        packet.set_ethertype(0x8100);
        assert_eq!(&bytes[..], &TAGGED_BYTES[..]);
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
            Packet::new_checked(&PACKET_BYTES[..3]).err(),
            Some(Error::Truncated)
        );
    }
}
