//! The link layer: Ethernet, 802.1Q / 802.1ad / QinQ tags and an MPLS
//! label stack above IP.

use super::errors::DecapError;
use crate::wire;

/// The link layer of a frame: MACs, 802.1Q/QinQ tags, an MPLS label
/// stack and what follows.
pub(super) struct Link<'a> {
    pub(super) src_mac: [u8; 6],
    pub(super) dst_mac: [u8; 6],
    /// First (outermost) VLAN id, 0 if untagged.
    pub(super) outer_vlan: u16,
    /// Last (innermost) VLAN id, 0 if untagged.
    pub(super) inner_vlan: u16,
    pub(super) ethertype: u16,
    pub(super) payload: &'a [u8],
}

#[inline]
pub(super) fn link(frame: &[u8]) -> Result<Link<'_>, DecapError> {
    let eth = wire::EthernetPacket::new_checked(frame)
        .map_err(|_| DecapError::Truncated { layer: "ethernet" })?;
    let mut link = Link {
        src_mac: eth.source(),
        dst_mac: eth.destination(),
        outer_vlan: 0,
        inner_vlan: 0,
        ethertype: eth.ethertype(),
        payload: eth.payload(),
    };
    let mut tagged = false;
    // Every tag consumes 4 bytes, so the loop ends.
    while wire::is_vlan_ethertype(link.ethertype) {
        let tag = wire::VlanPacket::new_checked(link.payload)
            .map_err(|_| DecapError::Truncated { layer: "vlan" })?;
        let id = tag.vlan_id();
        if !tagged {
            link.outer_vlan = id;
            tagged = true;
        }
        link.inner_vlan = id;
        link.ethertype = tag.ethertype();
        link.payload = tag.payload();
    }
    if wire::is_mpls_ethertype(link.ethertype) {
        let payload = wire::mpls_stack_payload(link.payload)
            .map_err(|_| DecapError::Truncated { layer: "mpls" })?;
        // What follows the stack has no type field: IP by its version
        // nibble, anything else (a pseudowire) stays MPLS, not IP.
        if let Some(ethertype) = ip_ethertype(payload)? {
            link.ethertype = ethertype;
            link.payload = payload;
        }
    }
    Ok(link)
}

/// The ethertype of an IP packet told by its version nibble (after an
/// MPLS stack, which names no type): `None` if it is neither 4 nor 6; an
/// empty packet is truncated.
pub(super) fn ip_ethertype(packet: &[u8]) -> Result<Option<u16>, DecapError> {
    match packet.first().map(|b| b >> 4) {
        None => Err(DecapError::Truncated { layer: "mpls" }),
        Some(4) => Ok(Some(wire::ETHERTYPE_IPV4)),
        Some(6) => Ok(Some(wire::ETHERTYPE_IPV6)),
        Some(_) => Ok(None),
    }
}
