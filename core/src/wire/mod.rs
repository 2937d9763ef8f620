//! Zero-copy views of the tunnel formats a mirror wraps frames in, in the
//! smoltcp style.
//!
//! Each protocol has two layers:
//!
//! * a `Packet<T: AsRef<[u8]>>` view: field offsets in a private
//!   `mod field`, `new_unchecked`, `new_checked` (= `new_unchecked` +
//!   `check_len`) and accessors that never panic once `check_len` passed;
//! * a `Repr`: a plain, validated struct with `parse`, `emit` and
//!   `buffer_len`; `emit` never panics on a buffer of `buffer_len()` bytes.
//!
//! The formats: Ethernet II, 802.1Q / 802.1ad tags, IPv4 and IPv6 (with
//! the extension-header walk), MPLS label stacks (RFC 3032), GRE (RFC
//! 2784/2890), Cisco MetaData in GRE (TrustSec SGT), ERSPAN type II and type III (draft-foschiano-erspan), VXLAN
//! (RFC 7348) and Geneve (RFC 8926).
//! They are the whole per-packet path of [`crate::decap`]; the transport
//! ports, TCP flags and ICMP type/code it reads are fixed offsets, read
//! there. ERSPAN type I has no header of its own: it is GRE with
//! protocol [`GreProtocol::Erspan`] and no sequence number, directly
//! followed by the mirrored Ethernet frame.

use std::fmt;

mod cisco_metadata;
mod erspan2;
mod erspan3;
mod ethernet;
mod geneve;
mod gre;
mod ipv4;
mod ipv6;
mod mpls;
mod vlan;
mod vxlan;

pub use cisco_metadata::{
    Packet as CiscoMetadataPacket, Repr as CiscoMetadataRepr,
    HEADER_LEN as CISCO_METADATA_HEADER_LEN, PROTOCOL as CISCO_METADATA_PROTOCOL,
};
pub use erspan2::{
    Packet as ErspanIIPacket, Repr as ErspanIIRepr, HEADER_LEN as ERSPAN_II_HEADER_LEN,
    VERSION as ERSPAN_II_VERSION,
};
pub use erspan3::{
    FrameType as ErspanFrameType, Packet as ErspanIIIPacket, Repr as ErspanIIIRepr,
    HEADER_LEN as ERSPAN_III_HEADER_LEN, SUBHEADER_LEN as ERSPAN_III_SUBHEADER_LEN,
    VERSION as ERSPAN_III_VERSION,
};
pub use ethernet::{
    is_vlan_ethertype, Packet as EthernetPacket, Repr as EthernetRepr, ETHERTYPE_ARP,
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_QINQ_LEGACY, ETHERTYPE_VLAN,
    HEADER_LEN as ETHERNET_HEADER_LEN,
};
pub use geneve::{
    Packet as GenevePacket, Repr as GeneveRepr, HEADER_LEN as GENEVE_HEADER_LEN,
    UDP_PORT as GENEVE_UDP_PORT,
};
pub use gre::{
    Packet as GrePacket, Protocol as GreProtocol, Repr as GreRepr, HEADER_LEN as GRE_HEADER_LEN,
};
pub use ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr, HEADER_LEN as IPV4_HEADER_LEN};
pub use ipv6::{
    auth_header_len as ip_auth_header_len, extensions as ipv6_extensions,
    Extensions as Ipv6Extensions, Fragment as Ipv6Fragment, Packet as Ipv6Packet, Repr as Ipv6Repr,
    HEADER_LEN as IPV6_HEADER_LEN,
};
pub use mpls::{
    is_mpls_ethertype, stack_payload as mpls_stack_payload, Packet as MplsPacket, Repr as MplsRepr,
    ETHERTYPE_MPLS_MULTICAST, ETHERTYPE_MPLS_UNICAST, HEADER_LEN as MPLS_HEADER_LEN,
    LABEL_MAX as MPLS_LABEL_MAX,
};
pub use vlan::{Packet as VlanPacket, Repr as VlanRepr, HEADER_LEN as VLAN_HEADER_LEN};
pub use vxlan::{
    Packet as VxlanPacket, Repr as VxlanRepr, HEADER_LEN as VXLAN_HEADER_LEN,
    UDP_PORT as VXLAN_UDP_PORT,
};

/// Why a buffer is not a valid header of a wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header (including the optional parts
    /// its flags announce).
    #[error("buffer too short for the header")]
    Truncated,
    /// The header is long enough but a field holds a value this format does
    /// not allow (e.g. an unsupported version).
    #[error("malformed header: {0}")]
    Malformed(&'static str),
}

/// Result of the wire parsers.
pub type Result<T> = core::result::Result<T, Error>;

/// Byte range of a field inside a header.
type Field = core::ops::Range<usize>;

/// Read a big-endian u16 at `at`; callers have checked the length.
fn get_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

/// Read a big-endian u32 at `at`; callers have checked the length.
fn get_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn put_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

fn put_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// A 24-bit VXLAN / Geneve network identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Vni(u32);

impl Vni {
    /// The largest VNI (2^24 - 1).
    pub const MAX: u32 = 0x00ff_ffff;

    /// A VNI, or `None` if `value` does not fit in 24 bits.
    pub fn new(value: u32) -> Option<Vni> {
        (value <= Vni::MAX).then_some(Vni(value))
    }

    /// The VNI as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
