//! The tunnels an IP packet carries: GRE (ERSPAN I/II/III, Ethernet as
//! NVGRE / Open vSwitch GRE, routed IP, MPLS and Cisco MetaData) and UDP
//! (VXLAN, Geneve).

use super::errors::{wire_error, DecapError};
use super::ethernet::ip_ethertype;
use super::ip::{Ip, IP_PROTO_GRE, IP_PROTO_UDP};
use crate::flow::Encap;
use crate::wire;

const UDP_HEADER_LEN: usize = 8;
/// Geneve protocol type of an Ethernet payload.
const GENEVE_ETHERNET: u16 = 0x6558;

/// What a tunnel carries.
#[derive(Clone, Copy)]
pub(super) enum Inner<'a> {
    /// An Ethernet frame (mirrors, overlays).
    Ethernet(&'a [u8]),
    /// An IPv4 / IPv6 packet (routed GRE).
    Ip(&'a [u8]),
}

/// One tunnel layer found inside an IP packet.
pub(super) struct Tunnel<'a> {
    pub(super) encap: Encap,
    pub(super) session: u16,
    /// VLAN carried in the ERSPAN header (type II / III).
    pub(super) erspan_vlan: Option<u16>,
    pub(super) vni: u32,
    pub(super) inner: Inner<'a>,
}

/// If `ip` carries a tunnel, the tunnel; `Ok(None)` when it is anything
/// else (including IP fragments), which is then metered as it is.
#[inline]
pub(super) fn tunnel<'a>(ip: &Ip<'a>) -> Result<Option<Tunnel<'a>>, DecapError> {
    if ip.fragmented {
        return Ok(None);
    }
    match ip.proto {
        IP_PROTO_GRE => gre(ip.payload),
        IP_PROTO_UDP => udp(ip.payload),
        _ => Ok(None),
    }
}

/// GRE protocol type of a keepalive (Cisco: the reflected packet carries
/// no payload type).
const GRE_KEEPALIVE: u16 = 0x0000;

/// A GRE tunnel: a mirror (ERSPAN), an overlay (Ethernet), or routed IP.
/// Anything else GRE carries is counted by reason, never metered as a GRE
/// flow: a keepalive ([`DecapError::GreKeepalive`]) or another protocol
/// ([`DecapError::GreNotIp`]).
fn gre(data: &[u8]) -> Result<Option<Tunnel<'_>>, DecapError> {
    let packet = wire::GrePacket::new_checked(data).map_err(|e| wire_error("gre", e))?;
    let repr = wire::GreRepr::parse(&packet).map_err(|e| wire_error("gre", e))?;
    let payload = packet.payload();
    fn routed(inner: &[u8]) -> Tunnel<'_> {
        Tunnel {
            encap: Encap::Gre,
            session: 0,
            erspan_vlan: None,
            vni: 0,
            inner: Inner::Ip(inner),
        }
    }
    let tunnel = match repr.protocol {
        wire::GreProtocol::Ipv4 | wire::GreProtocol::Ipv6 => routed(payload),
        wire::GreProtocol::Mpls => {
            let inner = wire::mpls_stack_payload(payload)
                .map_err(|_| DecapError::Truncated { layer: "mpls" })?;
            match ip_ethertype(inner)? {
                Some(_) => routed(inner),
                None => return Err(DecapError::GreNotIp(wire::ETHERTYPE_MPLS_UNICAST)),
            }
        }
        wire::GreProtocol::CiscoMetadata => {
            let cmd = wire::CiscoMetadataPacket::new_checked(payload)
                .map_err(|e| wire_error("cisco_metadata", e))?;
            let repr = wire::CiscoMetadataRepr::parse(&cmd)
                .map_err(|e| wire_error("cisco_metadata", e))?;
            match repr.ethertype {
                wire::ETHERTYPE_IPV4 | wire::ETHERTYPE_IPV6 => routed(cmd.payload()),
                other => return Err(DecapError::GreNotIp(other)),
            }
        }
        wire::GreProtocol::Unknown(GRE_KEEPALIVE) => return Err(DecapError::GreKeepalive),
        wire::GreProtocol::Unknown(other) => return Err(DecapError::GreNotIp(other)),
        wire::GreProtocol::Erspan if repr.sequence.is_none() => Tunnel {
            encap: Encap::ErspanI,
            session: 0,
            erspan_vlan: None,
            vni: 0,
            inner: Inner::Ethernet(payload),
        },
        wire::GreProtocol::Erspan => {
            let erspan =
                wire::ErspanIIPacket::new_checked(payload).map_err(|e| wire_error("erspan2", e))?;
            let repr = wire::ErspanIIRepr::parse(&erspan).map_err(|e| wire_error("erspan2", e))?;
            Tunnel {
                encap: Encap::ErspanII,
                session: repr.session_id,
                erspan_vlan: Some(repr.vlan),
                vni: 0,
                inner: Inner::Ethernet(erspan.payload()),
            }
        }
        wire::GreProtocol::ErspanIII => {
            let erspan = wire::ErspanIIIPacket::new_checked(payload)
                .map_err(|e| wire_error("erspan3", e))?;
            let repr = wire::ErspanIIIRepr::parse(&erspan).map_err(|e| wire_error("erspan3", e))?;
            if repr.frame_type != wire::ErspanFrameType::Ethernet {
                return Err(DecapError::Malformed {
                    layer: "erspan3",
                    what: "frame type is not Ethernet",
                });
            }
            Tunnel {
                encap: Encap::ErspanIII,
                session: repr.session_id,
                erspan_vlan: Some(repr.vlan),
                vni: 0,
                inner: Inner::Ethernet(erspan.payload()),
            }
        }
        wire::GreProtocol::TransparentEthernet => Tunnel {
            encap: Encap::Nvgre,
            session: 0,
            erspan_vlan: None,
            vni: repr.key.unwrap_or(0),
            inner: Inner::Ethernet(payload),
        },
    };
    Ok(Some(tunnel))
}

fn udp(data: &[u8]) -> Result<Option<Tunnel<'_>>, DecapError> {
    let (Some(header), Some(body)) = (data.get(..UDP_HEADER_LEN), data.get(UDP_HEADER_LEN..))
    else {
        return Ok(None);
    };
    let dst_port = u16::from_be_bytes([header[2], header[3]]);
    match dst_port {
        wire::VXLAN_UDP_PORT => {
            let packet =
                wire::VxlanPacket::new_checked(body).map_err(|e| wire_error("vxlan", e))?;
            let repr = wire::VxlanRepr::parse(&packet).map_err(|e| wire_error("vxlan", e))?;
            Ok(Some(Tunnel {
                encap: Encap::Vxlan,
                session: 0,
                erspan_vlan: None,
                vni: repr.vni.get(),
                inner: Inner::Ethernet(packet.payload()),
            }))
        }
        wire::GENEVE_UDP_PORT => {
            let packet =
                wire::GenevePacket::new_checked(body).map_err(|e| wire_error("geneve", e))?;
            let repr = wire::GeneveRepr::parse(&packet).map_err(|e| wire_error("geneve", e))?;
            if repr.protocol != GENEVE_ETHERNET {
                return Ok(None);
            }
            Ok(Some(Tunnel {
                encap: Encap::Geneve,
                session: 0,
                erspan_vlan: None,
                vni: repr.vni.get(),
                inner: Inner::Ethernet(packet.payload()),
            }))
        }
        _ => Ok(None),
    }
}
