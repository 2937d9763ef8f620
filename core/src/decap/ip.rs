//! The IP layer: IPv4 (with an authentication header) and IPv6 (with its
//! extension chain), and the fragment each one is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::errors::{DecapError, BAD_IP};
use super::ethernet::Link;
use crate::wire;

pub(super) const IP_PROTO_ICMP: u8 = 1;
pub(super) const IP_PROTO_TCP: u8 = 6;
pub(super) const IP_PROTO_UDP: u8 = 17;
pub(super) const IP_PROTO_GRE: u8 = 47;
const IP_PROTO_AH: u8 = 51;
pub(super) const IP_PROTO_ICMPV6: u8 = 58;

/// The IP layer of a frame, read once for both tunnel peeling and
/// metering.
pub(super) struct Ip<'a> {
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    /// IPv4 total length / IPv6 payload length + 40, as the header says.
    pub(super) ip_len: u16,
    pub(super) tos: u8,
    /// The upper-layer protocol (after an IPv4 AH or the IPv6 extension
    /// headers).
    pub(super) proto: u8,
    /// (identification, is first fragment) of a fragment: IPv4's header,
    /// or the first fragment header of an IPv6 chain.
    pub(super) fragment: Option<(u32, bool)>,
    /// The payload is a fragment (never a tunnel).
    pub(super) fragmented: bool,
    /// What the capture holds of the upper-layer payload.
    pub(super) payload: &'a [u8],
}

/// The IP packet of `link`, `None` if its ethertype is not IP.
///
/// The version nibble, not the ethertype, chooses IPv4 or IPv6 (as
/// etherparse's lax slice does too). Errors: an
/// empty payload or a header cut short is truncated; a version other than
/// 4 or 6, or an IPv4 IHL below 5, is malformed.
#[inline]
pub(super) fn ip_of<'a>(link: &Link<'a>) -> Option<Result<Ip<'a>, DecapError>> {
    (link.ethertype == wire::ETHERTYPE_IPV4 || link.ethertype == wire::ETHERTYPE_IPV6)
        .then(|| ip(link.payload))
}

#[inline]
pub(super) fn ip(data: &[u8]) -> Result<Ip<'_>, DecapError> {
    const TRUNCATED: DecapError = DecapError::Truncated { layer: "ip" };
    match data.first().map(|b| b >> 4) {
        None => Err(TRUNCATED),
        Some(4) => {
            let packet = wire::Ipv4Packet::new_checked(data).map_err(|e| match e {
                wire::Error::Truncated => TRUNCATED,
                wire::Error::Malformed(_) => BAD_IP,
            })?;
            let fragmented = packet.is_fragment();
            let mut proto = packet.protocol();
            let mut payload = packet.payload();
            // An authentication header is walked as IPv6 walks it; one cut
            // short leaves the protocol AH (metered as it is).
            if proto == IP_PROTO_AH {
                if let Some(len) = wire::ip_auth_header_len(payload) {
                    proto = payload[0];
                    payload = payload.get(len..).unwrap_or(&[]);
                }
            }
            Ok(Ip {
                src: IpAddr::V4(Ipv4Addr::from(packet.src_bytes())),
                dst: IpAddr::V4(Ipv4Addr::from(packet.dst_bytes())),
                ip_len: packet.total_len(),
                tos: packet.tos(),
                proto,
                fragment: fragmented
                    .then(|| (u32::from(packet.ident()), packet.frag_offset() == 0)),
                fragmented,
                payload,
            })
        }
        Some(6) => {
            let packet = wire::Ipv6Packet::new_checked(data).map_err(|_| TRUNCATED)?;
            let chain = wire::ipv6_extensions(packet.next_header(), packet.payload());
            Ok(Ip {
                src: IpAddr::V6(Ipv6Addr::from(packet.src_bytes())),
                dst: IpAddr::V6(Ipv6Addr::from(packet.dst_bytes())),
                ip_len: packet.payload_len().saturating_add(40),
                tos: packet.traffic_class(),
                proto: chain.protocol,
                fragment: chain
                    .first_fragment
                    .filter(|f| f.is_fragment())
                    .map(|f| (f.ident, f.offset == 0)),
                fragmented: chain.fragmented,
                payload: chain.payload,
            })
        }
        Some(_) => Err(BAD_IP),
    }
}
