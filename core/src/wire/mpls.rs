//! An MPLS label stack entry (RFC 3032), as it follows ethertype 0x8847
//! (unicast) or 0x8848 (multicast), or GRE protocol 0x8847 (RFC 4023).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Label                  | TC  |S|      TTL      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A stack is entries up to the first one with the bottom-of-stack bit S;
//! what follows carries no type field, so [`stack_payload`] returns it and
//! the caller tells IPv4 from IPv6 by its version nibble.

use super::{get_u32, put_u32, Error, Field, Result};

/// Length of one label stack entry.
pub const HEADER_LEN: usize = 4;
/// Ethertype of MPLS unicast.
pub const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
/// Ethertype of MPLS multicast.
pub const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
/// The largest label (2^20 - 1).
pub const LABEL_MAX: u32 = 0x000f_ffff;

mod field {
    use super::Field;

    pub const ENTRY: Field = 0..4;

    pub const LABEL_SHIFT: u32 = 12;
    pub const TC_SHIFT: u32 = 9;
    pub const TC_MASK: u32 = 0x7;
    pub const BOTTOM: u32 = 0x100;
    pub const TTL_MASK: u32 = 0xff;
}

/// True for the ethertypes that announce an MPLS label stack.
pub fn is_mpls_ethertype(ethertype: u16) -> bool {
    matches!(ethertype, ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST)
}

/// A read/write view of one label stack entry and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the entry fits.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the entry fits. After this no accessor panics.
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

    fn entry(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ENTRY.start)
    }

    /// The 20-bit label.
    pub fn label(&self) -> u32 {
        self.entry() >> field::LABEL_SHIFT
    }

    /// Traffic class (3 bits, formerly EXP).
    pub fn traffic_class(&self) -> u8 {
        ((self.entry() >> field::TC_SHIFT) & field::TC_MASK) as u8
    }

    /// Bottom of stack: the last entry.
    pub fn bottom_of_stack(&self) -> bool {
        self.entry() & field::BOTTOM != 0
    }

    pub fn ttl(&self) -> u8 {
        (self.entry() & field::TTL_MASK) as u8
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// What follows the entry (the next entry, or the payload after the
    /// bottom of the stack).
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set every field (the label is cut to 20 bits, the traffic class to
    /// 3).
    pub fn set_entry(&mut self, label: u32, traffic_class: u8, bottom: bool, ttl: u8) {
        let entry = (label & LABEL_MAX) << field::LABEL_SHIFT
            | (u32::from(traffic_class) & field::TC_MASK) << field::TC_SHIFT
            | if bottom { field::BOTTOM } else { 0 }
            | u32::from(ttl);
        put_u32(self.buffer.as_mut(), field::ENTRY.start, entry);
    }
}

/// A parsed label stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub label: u32,
    pub traffic_class: u8,
    pub bottom_of_stack: bool,
    pub ttl: u8,
}

impl Repr {
    /// Parse an entry.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            label: packet.label(),
            traffic_class: packet.traffic_class(),
            bottom_of_stack: packet.bottom_of_stack(),
            ttl: packet.ttl(),
        })
    }

    /// Length of the emitted entry.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the entry.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_entry(
            self.label,
            self.traffic_class,
            self.bottom_of_stack,
            self.ttl,
        );
    }
}

/// What follows a whole label stack: the entries are walked, whatever
/// their number, up to the one with the bottom-of-stack bit. A stack that
/// ends before its bottom entry is [`Error::Truncated`]. Every entry
/// consumes four bytes, so the walk ends.
pub fn stack_payload(data: &[u8]) -> Result<&[u8]> {
    let mut rest = data;
    loop {
        let entry = Packet::new_checked(rest)?;
        rest = entry.payload();
        if entry.bottom_of_stack() {
            return Ok(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label stack entry of tcpdump's mpls-traceroute.pcap, frame 1
    /// (label 100704, TC 0, bottom of stack, TTL 1), then the first byte
    /// of the IPv4 header it carries.
    static PACKET_BYTES: [u8; 5] = [0x18, 0x96, 0x01, 0x01, 0x45];
    /// Two entries (label 16, TC 5; label 1 048 575, bottom, TTL 255), then
    /// an IPv6 version nibble.
    static STACK_BYTES: [u8; 9] = [0x00, 0x01, 0x0a, 0x40, 0xff, 0xff, 0xf1, 0xff, 0x60];

    fn packet_repr() -> Repr {
        Repr {
            label: 100_704,
            traffic_class: 0,
            bottom_of_stack: true,
            ttl: 1,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.label(), 100_704);
        assert_eq!(packet.traffic_class(), 0);
        assert!(packet.bottom_of_stack());
        assert_eq!(packet.ttl(), 1);
        assert_eq!(packet.payload(), &[0x45]);
        let top = Packet::new_checked(&STACK_BYTES[..]).expect("valid");
        assert_eq!((top.label(), top.traffic_class()), (16, 5));
        assert!(!top.bottom_of_stack());
        assert_eq!(top.ttl(), 64);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 8];
        Packet::new_unchecked(&mut bytes[..4]).set_entry(16, 5, false, 64);
        Packet::new_unchecked(&mut bytes[4..]).set_entry(LABEL_MAX, 0, true, 255);
        assert_eq!(&bytes[..], &STACK_BYTES[..8]);
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
    fn test_stack_payload() {
        assert_eq!(stack_payload(&PACKET_BYTES), Ok(&[0x45][..]));
        assert_eq!(stack_payload(&STACK_BYTES), Ok(&[0x60][..]));
        // The bottom entry is the last byte: an empty payload.
        assert_eq!(stack_payload(&STACK_BYTES[..8]), Ok(&[][..]));
        // No bottom entry before the end.
        for len in 0..8 {
            assert_eq!(stack_payload(&STACK_BYTES[..len]), Err(Error::Truncated));
        }
        // A deep stack: 100 entries, the last one the bottom.
        let mut deep = vec![0u8; 400];
        for (i, entry) in deep.chunks_exact_mut(4).enumerate() {
            Packet::new_unchecked(entry).set_entry(i as u32, 0, i == 99, 64);
        }
        deep.push(0x45);
        assert_eq!(stack_payload(&deep), Ok(&[0x45][..]));
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..3]).err(),
            Some(Error::Truncated)
        );
        assert!(is_mpls_ethertype(0x8847) && is_mpls_ethertype(0x8848));
        assert!(!is_mpls_ethertype(0x0800));
    }
}
