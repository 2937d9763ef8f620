//! IPv6 fixed header (RFC 8200) and a walk over its extension headers, read
//! the way a capture needs it: lax about the payload.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Source Address (16)                        |
//! |                 Destination Address (16)                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`Packet::payload`] is what the buffer holds of the payload, cut to the
//! payload length when the buffer is longer; a payload length of 0 (a
//! jumbogram, or a sender that did not fill it in) is not trusted and the
//! payload runs to the end of the buffer.
//!
//! [`extensions`] walks hop-by-hop (first only), routing, destination
//! options, fragment and authentication headers to the upper-layer
//! protocol. A header cut short (or an AH with a zero length) ends the walk
//! there: its number is then the protocol, and what is left is the
//! payload, so a truncated chain is still metered, never read past.

use std::net::Ipv6Addr;

use super::{get_u16, get_u32, put_u16, put_u32, Error, Field, Result};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Next-header numbers of the extension headers [`extensions`] walks.
pub const NEXT_HOP_BY_HOP: u8 = 0;
pub const NEXT_ROUTING: u8 = 43;
pub const NEXT_FRAGMENT: u8 = 44;
pub const NEXT_AUTH: u8 = 51;
pub const NEXT_DEST_OPTIONS: u8 = 60;

/// Length of the fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

mod field {
    use super::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// A read/write view of an IPv6 fixed header and the part of its payload
/// that the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking its length.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer and check that the fixed header fits.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check that the fixed header fits. After this no accessor panics.
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

    fn ver_tc_flow(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    /// The version field (6 for IPv6).
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length as the header says (extension headers included).
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PAYLOAD_LEN.start)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address as bytes.
    pub fn src_bytes(&self) -> [u8; 16] {
        addr(&self.buffer.as_ref()[field::SRC])
    }

    /// Destination address as bytes.
    pub fn dst_bytes(&self) -> [u8; 16] {
        addr(&self.buffer.as_ref()[field::DST])
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }
}

fn addr(bytes: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(bytes);
    out
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload (extension headers included) the buffer holds: to the
    /// payload length, or to the end of the buffer if that comes first or
    /// the payload length is 0.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        let rest = data.get(HEADER_LEN..).unwrap_or(&[]);
        match usize::from(self.payload_len()) {
            0 => rest,
            len => rest.get(..len).unwrap_or(rest),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version 6, the traffic class and the flow label (20 bits).
    pub fn set_ver_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let value = 6 << 28 | u32::from(traffic_class) << 20 | flow_label & 0x000f_ffff;
        put_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, value);
    }

    pub fn set_payload_len(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::PAYLOAD_LEN.start, value);
    }

    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = value;
    }

    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&value.octets());
    }

    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&value.octets());
    }
}

/// A parsed IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub payload_len: u16,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Repr {
    /// Parse a fixed header; refuses a version other than 6.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::Malformed("IP version is not 6"));
        }
        Ok(Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the emitted header.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the fixed header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_ver_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }
}

/// A fragment header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub ident: u32,
    /// Offset in 8-byte units.
    pub offset: u16,
    pub more: bool,
}

impl Fragment {
    /// True when the header makes the payload a fragment (a header with
    /// offset 0 and no more fragments is an atomic fragment: whole).
    pub fn is_fragment(&self) -> bool {
        self.offset != 0 || self.more
    }
}

/// Where [`extensions`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions<'a> {
    /// The upper-layer protocol (or the header the walk stopped at).
    pub protocol: u8,
    /// What follows the last extension header walked.
    pub payload: &'a [u8],
    /// The first fragment header of the chain, if there is one.
    pub first_fragment: Option<Fragment>,
    /// True when any fragment header of the chain makes the payload a
    /// fragment.
    pub fragmented: bool,
}

/// Length of the IP authentication header (RFC 4302) at the start of
/// `data`, `None` when it is cut short or its length field is 0. Its length
/// is in 4-byte units minus 2; the minimum header is 12 bytes. Shared with
/// IPv4, where AH follows the header directly.
pub fn auth_header_len(data: &[u8]) -> Option<usize> {
    let units = *data.get(1)?;
    let len = (usize::from(units) + 2) * 4;
    (units != 0 && data.len() >= 12 && data.len() >= len).then_some(len)
}

/// Length of a hop-by-hop, routing or destination options header at the
/// start of `data` (8-byte units, not counting the first 8), `None` when
/// it is cut short.
fn options_header_len(data: &[u8]) -> Option<usize> {
    let len = (usize::from(*data.get(1)?) + 1) * 8;
    (data.len() >= len).then_some(len)
}

/// Walk the extension headers that start with `next_header` at the start
/// of `payload` (an IPv6 packet's payload) to the upper-layer protocol.
///
/// Hop-by-hop is only an extension header in first place (RFC 8200 4.1);
/// later, number 0 ends the walk like any unknown protocol. Every header
/// walked is at least 8 bytes, so the walk ends.
#[inline]
pub fn extensions(next_header: u8, payload: &[u8]) -> Extensions<'_> {
    let mut walk = Extensions {
        protocol: next_header,
        payload,
        first_fragment: None,
        fragmented: false,
    };
    let mut first = true;
    loop {
        let rest = walk.payload;
        let len = match walk.protocol {
            NEXT_HOP_BY_HOP if first => options_header_len(rest),
            NEXT_ROUTING | NEXT_DEST_OPTIONS => options_header_len(rest),
            NEXT_AUTH => auth_header_len(rest),
            NEXT_FRAGMENT => match rest.get(..FRAGMENT_HEADER_LEN) {
                Some(h) => {
                    let offset_flags = u16::from_be_bytes([h[2], h[3]]);
                    let fragment = Fragment {
                        ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                        offset: offset_flags >> 3,
                        more: offset_flags & 1 == 1,
                    };
                    walk.fragmented |= fragment.is_fragment();
                    walk.first_fragment.get_or_insert(fragment);
                    Some(FRAGMENT_HEADER_LEN)
                }
                None => None,
            },
            _ => None,
        };
        let (Some(len), Some(&next)) = (len, rest.first()) else {
            return walk;
        };
        walk.protocol = next;
        walk.payload = rest.get(len..).unwrap_or(&[]);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 UDP header (traffic class 0xb8, flow label 0x12345, payload
    /// length 108, hop limit 64, fd00:10:1::11 → fd00:10:3::11) and the
    /// first four bytes of its UDP header (5353 → 53).
    static PACKET_BYTES: [u8; 44] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x6c, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0xfd, 0x00, 0x00, 0x10, 0x00, 0x03,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x14, 0xe9, 0x00, 0x35,
    ];

    fn packet_repr() -> Repr {
        Repr {
            src: Ipv6Addr::new(0xfd00, 0x10, 1, 0, 0, 0, 0, 0x11),
            dst: Ipv6Addr::new(0xfd00, 0x10, 3, 0, 0, 0, 0, 0x11),
            next_header: 17,
            payload_len: 108,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(packet.version(), 6);
        assert_eq!(
            (packet.traffic_class(), packet.flow_label()),
            (0xb8, 0x12345)
        );
        assert_eq!((packet.payload_len(), packet.next_header()), (108, 17));
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.src_addr(), packet_repr().src);
        assert_eq!(packet.dst_addr(), packet_repr().dst);
        assert_eq!(packet.payload(), &[0x14, 0xe9, 0x00, 0x35]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = vec![0xa5; 44];
        let mut packet = Packet::new_unchecked(&mut bytes);
        packet.set_ver_tc_flow(0xb8, 0x12345);
        packet.set_payload_len(108);
        packet.set_next_header(17);
        packet.set_hop_limit(64);
        packet.set_src_addr(packet_repr().src);
        packet.set_dst_addr(packet_repr().dst);
        bytes[40..].copy_from_slice(&[0x14, 0xe9, 0x00, 0x35]);
        assert_eq!(&bytes[..], &PACKET_BYTES[..]);
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
        let mut v4 = PACKET_BYTES;
        v4[0] = 0x45;
        let packet = Packet::new_checked(&v4[..]).expect("long enough");
        assert!(matches!(Repr::parse(&packet), Err(Error::Malformed(_))));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes));
        assert_eq!(&bytes[..], &PACKET_BYTES[..HEADER_LEN]);
    }

    #[test]
    fn test_lax_payload() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..39]).err(),
            Some(Error::Truncated)
        );
        let mut bytes = PACKET_BYTES;
        // Padding beyond the payload length is not payload.
        bytes[5] = 2;
        assert_eq!(Packet::new_unchecked(&bytes[..]).payload(), &[0x14, 0xe9]);
        // Payload length 0 is not trusted.
        bytes[5] = 0;
        assert_eq!(Packet::new_unchecked(&bytes[..]).payload().len(), 4);
        // Header only.
        assert_eq!(Packet::new_unchecked(&bytes[..40]).payload(), &[] as &[u8]);
    }

    /// Hop-by-hop (8 bytes) → destination options (16) → AH (12) →
    /// fragment (id 0x01020304, offset 2, more) → UDP.
    fn chain() -> Vec<u8> {
        let mut c = vec![60, 0, 1, 4, 0, 0, 0, 0];
        c.extend_from_slice(&[51, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        c.extend_from_slice(&[44, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9]);
        c.extend_from_slice(&[17, 0, 0, 0x11, 1, 2, 3, 4]);
        c.extend_from_slice(&[0x13, 0x88, 0x17, 0x70]);
        c
    }

    #[test]
    fn test_extension_walk() {
        let c = chain();
        let walk = extensions(NEXT_HOP_BY_HOP, &c);
        assert_eq!(walk.protocol, 17);
        assert_eq!(walk.payload, &[0x13, 0x88, 0x17, 0x70]);
        let fragment = Fragment {
            ident: 0x0102_0304,
            offset: 2,
            more: true,
        };
        assert_eq!(walk.first_fragment, Some(fragment));
        assert!(walk.fragmented);
        // No extension header: the payload is the upper layer.
        let plain = extensions(6, &c);
        assert_eq!((plain.protocol, plain.payload.len()), (6, c.len()));
        assert_eq!(plain.first_fragment, None);
    }

    #[test]
    fn test_extension_walk_stops_at_damage() {
        let c = chain();
        // Cut inside every header: the walk stops at the header cut short,
        // which is then the protocol, and never reads past the buffer.
        for (cut, protocol) in [(7, 0), (20, 60), (30, 51), (40, 44)] {
            let walk = extensions(NEXT_HOP_BY_HOP, &c[..cut]);
            assert_eq!(walk.protocol, protocol, "cut at {cut}");
            assert!(!walk.fragmented);
        }
        // An AH with length 0 is not walked.
        let zero_ah = [17u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(extensions(NEXT_AUTH, &zero_ah).protocol, NEXT_AUTH);
        assert_eq!(auth_header_len(&zero_ah), None);
        assert_eq!(auth_header_len(&c[24..36]), Some(12));
        // Hop-by-hop after the first header ends the walk.
        let late = [0u8, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0];
        let walk = extensions(NEXT_DEST_OPTIONS, &late);
        assert_eq!((walk.protocol, walk.payload.len()), (0, 8));
        // An atomic fragment (offset 0, no more) is not fragmented.
        let atomic = [17u8, 0, 0, 0, 0, 0, 0, 7];
        let walk = extensions(NEXT_FRAGMENT, &atomic);
        assert!(!walk.fragmented);
        assert_eq!(walk.first_fragment.map(|f| f.is_fragment()), Some(false));
        assert_eq!(walk.protocol, 17);
    }
}
