//! The transport fields a flow is metered with: ports, TCP flags, ICMP
//! type and code, read at fixed offsets.

use super::errors::DecapError;
use super::ethernet::Link;
use super::ip::{Ip, IP_PROTO_ICMP, IP_PROTO_ICMPV6, IP_PROTO_TCP, IP_PROTO_UDP};
use super::Metered;

/// [`meter`](super::meter) of a frame whose link layer and IP header are parsed.
#[inline]
pub(super) fn meter_link(
    link: &Link<'_>,
    ip: Option<Result<Ip<'_>, DecapError>>,
) -> Result<Metered, DecapError> {
    let ip = ip.ok_or(DecapError::NotIp(link.ethertype))??;
    let mut metered = Metered {
        src: ip.src,
        dst: ip.dst,
        src_port: 0,
        dst_port: 0,
        proto: ip.proto,
        vlan: link.inner_vlan,
        ip_len: ip.ip_len,
        tos: ip.tos,
        tcp_flags: 0,
        icmp_type_code: 0,
        src_mac: link.src_mac,
        dst_mac: link.dst_mac,
        fragment: ip.fragment,
    };
    if matches!(ip.fragment, Some((_, false))) {
        return Ok(metered);
    }
    let l4 = ip.payload;
    match ip.proto {
        IP_PROTO_TCP | IP_PROTO_UDP => {
            let layer = if ip.proto == IP_PROTO_TCP {
                "tcp"
            } else {
                "udp"
            };
            let ports = l4.get(..4).ok_or(DecapError::Truncated { layer })?;
            metered.src_port = u16::from_be_bytes([ports[0], ports[1]]);
            metered.dst_port = u16::from_be_bytes([ports[2], ports[3]]);
            if ip.proto == IP_PROTO_TCP {
                metered.tcp_flags = *l4.get(13).ok_or(DecapError::Truncated { layer })?;
            }
        }
        IP_PROTO_ICMP | IP_PROTO_ICMPV6 => {
            let layer = if ip.proto == IP_PROTO_ICMP {
                "icmp"
            } else {
                "icmpv6"
            };
            let head = l4.get(..2).ok_or(DecapError::Truncated { layer })?;
            metered.icmp_type_code = u16::from_be_bytes([head[0], head[1]]);
        }
        _ => {}
    }
    Ok(metered)
}
