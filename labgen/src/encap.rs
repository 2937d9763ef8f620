//! How each observation point sees a frame: the mirrors' SPAN tag and
//! ERSPAN I/II/III headers, the VXLAN and NVGRE underlays between hosts.

use std::net::Ipv4Addr;

use eastwest_core::flow::Encap;
use eastwest_core::wire;
use etherparse::{IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, PacketBuilder};

use crate::lab::{self, Conversation, Mirror};
use crate::{build_error, LabError, Pending, NVGRE_POINT, POINTS, START_SECS};

/// Outer Ethernet + IPv4 + `proto` + `payload`.
pub(super) fn outer_ipv4(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    proto: IpNumber,
    payload: &[u8],
) -> Result<Vec<u8>, LabError> {
    let mut ip = Ipv4Header::new(0, 64, proto, src.octets(), dst.octets())
        .map_err(|e| build_error("outer IPv4", e))?;
    ip.identification = id;
    ip.dont_fragment = true;
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ip(IpHeaders::Ipv4(ip, Ipv4Extensions::default()))
        .write(&mut out, proto, payload)
        .map_err(|e| build_error("outer IPv4", e))?;
    Ok(out)
}

/// Per-observation-point state of the encapsulation.
#[derive(Default)]
pub(super) struct Encoder {
    outer_ids: [u16; POINTS],
    /// ERSPAN II's GRE sequence number, per mirror.
    gre_sequence: [u32; POINTS],
}

impl Encoder {
    pub(super) fn encapsulate(&mut self, p: &Pending) -> Result<Vec<u8>, LabError> {
        let id = self.outer_ids[p.point];
        self.outer_ids[p.point] = id.wrapping_add(1);
        if let Some((from, to, key)) = p.underlay.filter(|_| p.point == NVGRE_POINT) {
            let gre = wire::GreRepr {
                protocol: wire::GreProtocol::TransparentEthernet,
                checksum_present: false,
                key: Some(key),
                sequence: None,
            };
            let mut body = vec![0u8; gre.buffer_len()];
            gre.emit(&mut wire::GrePacket::new_unchecked(&mut body));
            body.extend_from_slice(&p.inner);
            return outer_ipv4(
                from.uplink_mac,
                lab::UNDERLAY_GW_MAC,
                from.vtep,
                to.vtep,
                id,
                IpNumber::GRE,
                &body,
            );
        }
        if let Some((from, to, vni)) = p.underlay {
            let vxlan = wire::VxlanRepr {
                vni: wire::Vni::new(vni).ok_or_else(|| build_error("VXLAN", "VNI too large"))?,
            };
            let mut body = vec![0u8; 8 + vxlan.buffer_len()];
            let src_port = 49_152 + (fnv1a(&p.inner) % 16_384) as u16;
            body[0..2].copy_from_slice(&src_port.to_be_bytes());
            body[2..4].copy_from_slice(&wire::VXLAN_UDP_PORT.to_be_bytes());
            let udp_len = (8 + vxlan.buffer_len() + p.inner.len()) as u16;
            body[4..6].copy_from_slice(&udp_len.to_be_bytes());
            // UDP checksum 0: RFC 7348 lets VXLAN over IPv4 omit it.
            vxlan.emit(&mut wire::VxlanPacket::new_unchecked(&mut body[8..]));
            body.extend_from_slice(&p.inner);
            return outer_ipv4(
                from.uplink_mac,
                lab::UNDERLAY_GW_MAC,
                from.vtep,
                to.vtep,
                id,
                IpNumber::UDP,
                &body,
            );
        }
        let host = &lab::HOSTS[p.point];
        let (gre, header): (wire::GreRepr, Vec<u8>) = match host.mirror {
            Mirror::Span => return Ok(p.inner.clone()),
            Mirror::None => return Err(build_error("mirror", "a host without a mirror")),
            Mirror::ErspanI { .. } => (
                wire::GreRepr {
                    protocol: wire::GreProtocol::Erspan,
                    checksum_present: false,
                    key: None,
                    sequence: None,
                },
                Vec::new(),
            ),
            Mirror::ErspanII { session, .. } => {
                let repr = wire::ErspanIIRepr {
                    vlan: p.vlan,
                    cos: 0,
                    encap: 3,
                    truncated: false,
                    session_id: session,
                    index: 0x100 + u32::from(p.vlan),
                };
                let mut header = vec![0u8; repr.buffer_len()];
                repr.emit(&mut wire::ErspanIIPacket::new_unchecked(&mut header));
                let sequence = self.gre_sequence[p.point];
                self.gre_sequence[p.point] = sequence.wrapping_add(1);
                (
                    wire::GreRepr {
                        protocol: wire::GreProtocol::Erspan,
                        checksum_present: false,
                        key: None,
                        sequence: Some(sequence),
                    },
                    header,
                )
            }
            Mirror::ErspanIII { session, .. } => {
                let repr = wire::ErspanIIIRepr {
                    vlan: p.vlan,
                    cos: 0,
                    bso: 0,
                    truncated: false,
                    session_id: session,
                    // Granularity 0: units of 100 microseconds.
                    timestamp: ((START_SECS * 1_000_000_000 + p.t_ns) / 100_000) as u32,
                    sgt: 0,
                    p: false,
                    frame_type: wire::ErspanFrameType::Ethernet,
                    hw_id: 4,
                    egress: false,
                    granularity: 0,
                    subheader: None,
                };
                let mut header = vec![0u8; repr.buffer_len()];
                repr.emit(&mut wire::ErspanIIIPacket::new_unchecked(&mut header));
                (
                    wire::GreRepr {
                        protocol: wire::GreProtocol::ErspanIII,
                        checksum_present: false,
                        key: None,
                        sequence: None,
                    },
                    header,
                )
            }
        };
        let source = host
            .mirror
            .source()
            .ok_or_else(|| build_error("ERSPAN", "mirror without a source"))?;
        let mut body = vec![0u8; gre.buffer_len()];
        gre.emit(&mut wire::GrePacket::new_unchecked(&mut body));
        body.extend_from_slice(&header);
        body.extend_from_slice(&p.inner);
        outer_ipv4(
            host.uplink_mac,
            lab::MONITOR_MAC,
            source,
            lab::MONITOR_IP,
            id,
            IpNumber::GRE,
            &body,
        )
    }
}

/// FNV-1a over the inner frame: the VXLAN source port's entropy.
pub(super) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The encapsulation seen at an observation point.
pub(super) fn point_encap(point: usize) -> Encap {
    match lab::HOSTS.get(point) {
        Some(h) => h.mirror.encap().unwrap_or(h.overlay.encap()),
        None if point == NVGRE_POINT => Encap::Nvgre,
        None => Encap::Vxlan,
    }
}

pub(super) fn point_name(point: usize) -> String {
    let encap = point_encap(point).as_str();
    match lab::HOSTS.get(point) {
        Some(h) => format!("{}/{encap}", h.name),
        None => format!("underlay/{encap}"),
    }
}

/// NVGRE's FlowID of one direction of a conversation: a hash of its
/// addresses, protocol and ports.
pub(super) fn nvgre_flow_id(conv: &Conversation, forward: bool) -> u8 {
    let (a, b, pa, pb) = if forward {
        (conv.client, conv.server, conv.client_port, conv.server_port)
    } else {
        (conv.server, conv.client, conv.server_port, conv.client_port)
    };
    let key = format!("{a} {b} {:?} {pa} {pb}", conv.kind);
    (fnv1a(key.as_bytes()) & 0xff) as u8
}
