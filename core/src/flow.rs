//! The flow key and the flow record.
//!
//! A flow is unidirectional: one 5-tuple seen at one observation point.
//! The key includes the hypervisor host the frame was attributed to and the
//! capture path, so the same packet seen through two mirrors becomes two
//! observations (the collector and dashboard count each conversation once),
//! never one double-counted flow.

use std::net::IpAddr;

/// How the metered frame reached the exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Encap {
    /// Plain Ethernet, possibly 802.1Q / QinQ tagged (a SPAN port).
    #[default]
    Span,
    /// ERSPAN type I (GRE 0x88BE, no ERSPAN header).
    ErspanI,
    /// ERSPAN type II (GRE 0x88BE, 8-byte header).
    ErspanII,
    /// ERSPAN type III (GRE 0x22EB, 12-byte header, optional subheader).
    ErspanIII,
    /// VXLAN overlay (UDP 4789).
    Vxlan,
    /// Geneve overlay (UDP 6081).
    Geneve,
    /// GRE carrying Ethernet (protocol 0x6558, transparent Ethernet
    /// bridging): NVGRE (RFC 7637, Hyper-V) and Open vSwitch / OpenStack
    /// GRE tenant networks, which put the same header on the wire. The flow's
    /// `vni` is the 32-bit GRE key (see [`FlowKey::vni`]).
    Nvgre,
    /// Routed GRE: IPv4 / IPv6 (or MPLS-labelled IP) in GRE, metered at the
    /// innermost IP packet.
    Gre,
}

impl Encap {
    /// Every variant, in a fixed order (for per-encapsulation counters).
    pub const ALL: [Encap; 8] = [
        Encap::Span,
        Encap::ErspanI,
        Encap::ErspanII,
        Encap::ErspanIII,
        Encap::Vxlan,
        Encap::Geneve,
        Encap::Nvgre,
        Encap::Gre,
    ];

    /// Stable lower-case name used in metrics, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Encap::Span => "span",
            Encap::ErspanI => "erspan1",
            Encap::ErspanII => "erspan2",
            Encap::ErspanIII => "erspan3",
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Nvgre => "nvgre",
            Encap::Gre => "gre",
        }
    }

    /// The code carried in NetFlow (see [`crate::netflow`]); inverse of
    /// [`Encap::from_code`].
    pub fn code(self) -> u8 {
        match self {
            Encap::Span => 0,
            Encap::ErspanI => 1,
            Encap::ErspanII => 2,
            Encap::ErspanIII => 3,
            Encap::Vxlan => 4,
            Encap::Geneve => 5,
            Encap::Nvgre => 6,
            Encap::Gre => 7,
        }
    }

    /// Decode a NetFlow code; unknown codes are `None`.
    pub fn from_code(code: u8) -> Option<Encap> {
        Encap::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// The key of one unidirectional flow at one observation point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub proto: u8,
    /// Innermost 802.1Q VLAN id of the metered frame (0 = untagged).
    pub vlan: u16,
    /// VXLAN / Geneve VNI the frame was carried in, or for
    /// [`Encap::Nvgre`] the whole 32-bit GRE key: NVGRE's VSID is its upper
    /// 24 bits (`vni >> 8`) and its FlowID the low 8; an Open vSwitch /
    /// OpenStack tenant network's segment id is the key itself (0 = none).
    pub vni: u32,
    /// Observation domain (NetFlow Source ID) of the host the frame was
    /// attributed to.
    pub domain: u32,
    /// How the frame was captured.
    pub encap: Encap,
    /// ERSPAN session id (0 when not ERSPAN).
    pub session: u16,
}

/// Counters and attributes of one flow, as exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub packets: u64,
    /// Sum of inner IP total lengths (IPv4 total length, IPv6 payload + 40).
    pub bytes: u64,
    /// Time of the first packet, milliseconds since the Unix epoch.
    pub first_ms: u64,
    /// Time of the last packet, milliseconds since the Unix epoch.
    pub last_ms: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u8,
    /// TOS / traffic class of the first packet.
    pub tos: u8,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// ICMP type * 256 + code (NetFlow ICMP_TYPE convention), 0 otherwise.
    pub icmp_type_code: u16,
}

/// Which way a unidirectional flow runs within its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the initiator to the responder.
    Request,
    /// From the responder back to the initiator.
    Reply,
}

/// Tell a reply from a request by the flow alone (both directions of a
/// conversation are separate flows, and the TCP flags of a flow are OR-ed,
/// so a SYN without ACK cannot be told apart):
///
/// * TCP, UDP, SCTP: the responder is the side with the lower port (the
///   service port; the initiator's is ephemeral), so a flow whose source port
///   is lower than its destination port is a reply. Equal ports: a request.
/// * ICMP echo/timestamp/information/address-mask replies (types 0, 14, 16,
///   18) and ICMPv6 echo replies (129) are replies; other ICMP is a request.
///
/// `icmp_type_code` is type * 256 + code, as in NetFlow's ICMP_TYPE.
pub fn direction(proto: u8, src_port: u16, dst_port: u16, icmp_type_code: u16) -> Direction {
    let icmp_type = icmp_type_code >> 8;
    let reply = match proto {
        6 | 17 | 132 => src_port < dst_port,
        1 => matches!(icmp_type, 0 | 14 | 16 | 18),
        58 => icmp_type == 129,
        _ => false,
    };
    if reply {
        Direction::Reply
    } else {
        Direction::Request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_come_from_the_service_port() {
        assert_eq!(direction(6, 41001, 8443, 0), Direction::Request);
        assert_eq!(direction(6, 8443, 41001, 0), Direction::Reply);
        assert_eq!(direction(17, 53, 53, 0), Direction::Request);
        assert_eq!(direction(17, 53, 33000, 0), Direction::Reply);
        assert_eq!(direction(47, 0, 0, 0), Direction::Request);
    }

    #[test]
    fn icmp_replies_by_type() {
        assert_eq!(direction(1, 0, 0, 8 << 8), Direction::Request);
        assert_eq!(direction(1, 0, 0, 0), Direction::Reply);
        assert_eq!(direction(1, 0, 0, 3 << 8 | 1), Direction::Request);
        assert_eq!(direction(58, 0, 0, 128 << 8), Direction::Request);
        assert_eq!(direction(58, 0, 0, 129 << 8), Direction::Reply);
    }

    #[test]
    fn encap_codes_round_trip() {
        for encap in Encap::ALL {
            assert_eq!(Encap::from_code(encap.code()), Some(encap));
        }
        assert_eq!(Encap::from_code(200), None);
    }
}
