//! `peel`: unwrap the layers a mirror or tunnel wrapped a frame in, down to
//! the inner Ethernet frame (or routed GRE's innermost IP packet) that is
//! metered, and `meter` / `meter_peeled`: read what the flow cache needs
//! from it.
//!
//! Every layer is read with the zero-copy views of [`crate::wire`]
//! (Ethernet, 802.1Q/QinQ, MPLS, IPv4, IPv6 and its extension headers, GRE,
//! ERSPAN I/II/III, VXLAN, Geneve); the transport fields (ports, TCP flags,
//! ICMP type and code) are fixed offsets read here. Each header is read
//! once: [`peel_and_meter`] keeps the innermost layer `peel` stopped at and
//! meters it without parsing it again.
//!
//! CONTRACT (implemented by the decap work; signatures are shared with the
//! exporter): never panics on any input; every failure is a [`DecapError`]
//! whose [`DecapError::reason`] is a stable counter label.

mod errors;
mod ethernet;
mod ip;
mod transport;
mod tunnels;

use std::net::IpAddr;

pub use self::errors::DecapError;
use self::ethernet::{link, Link};
use self::ip::{ip, ip_of, Ip};
use self::transport::meter_link;
use self::tunnels::{tunnel, Inner};
use crate::flow::Encap;
#[cfg(test)]
use crate::wire;
#[cfg(test)]
use errors::BAD_IP;

/// Default bound on nested encapsulations.
pub const DEFAULT_MAX_DEPTH: usize = 4;

/// What `peel` found: the inner frame and the metadata peeled on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peeled<'a> {
    /// The innermost Ethernet frame (its own 802.1Q tags still in place).
    pub frame: &'a [u8],
    /// The outermost tunnel that carried the frame ([`Encap::Span`] if none).
    pub encap: Encap,
    /// ERSPAN session id (0 if none).
    pub session: u16,
    /// VLAN from the ERSPAN header or the outer frame's tag (0 if none).
    pub outer_vlan: u16,
    /// VXLAN / Geneve VNI, or the whole 32-bit key of GRE carrying
    /// Ethernet (NVGRE's VSID is its upper 24 bits); 0 if none.
    pub vni: u32,
    /// Tunnel source / destination (ERSPAN mirror source, VXLAN / NVGRE
    /// endpoints).
    pub tunnel_src: Option<IpAddr>,
    pub tunnel_dst: Option<IpAddr>,
    /// Number of tunnel layers removed.
    pub depth: u8,
    /// The innermost IP packet when routed GRE carried it (inside `frame`,
    /// whose MACs and innermost VLAN it is metered with); `None` when
    /// `frame`'s own IP packet is the one metered. [`meter_peeled`] meters
    /// whichever it is.
    pub routed: Option<&'a [u8]>,
}

/// The metered view of an inner frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    /// Innermost 802.1Q VLAN id (0 if untagged).
    pub vlan: u16,
    /// IP total length (IPv4 total length, IPv6 payload length + 40), as
    /// the IP header says, even when the capture was truncated.
    pub ip_len: u16,
    pub tos: u8,
    pub tcp_flags: u8,
    pub icmp_type_code: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// IPv4 fragment: (identification, is first fragment). `None` if not a
    /// fragment.
    pub fragment: Option<(u32, bool)>,
}

/// Unwrap the mirror and overlay layers of an Ethernet `frame` down to the
/// Ethernet frame that is metered.
///
/// Layers recognised, in any nesting up to `max_depth` tunnels (one more is
/// [`DecapError::TooDeep`]): 802.1Q / 802.1ad / QinQ tags (skipped, the
/// outermost one recorded), MPLS label stacks above IP (skipped, as
/// [`meter`] does; not a tunnel), GRE 0x88BE without sequence number (ERSPAN type
/// I), GRE 0x88BE with sequence number + ERSPAN type II header, GRE 0x22EB +
/// ERSPAN type III header (Ethernet frame type only), GRE 0x6558 carrying
/// Ethernet (NVGRE, Open vSwitch GRE: [`Encap::Nvgre`]), UDP to 4789
/// (VXLAN) and UDP to 6081 carrying Ethernet (Geneve), over IPv4 or IPv6.
///
/// Routed GRE (protocol 0x0800 IPv4, 0x86DD IPv6, 0x8847 MPLS-labelled
/// IP, 0x8909 Cisco MetaData naming IPv4 / IPv6) is a tunnel too
/// ([`Encap::Gre`]): its IP packet is `routed`, itself
/// peeled again (IP in GRE in IP in GRE, or a VXLAN underlay routed through
/// GRE). A GRE keepalive (protocol 0) is [`DecapError::GreKeepalive`]; GRE
/// carrying anything else (CDP, an MPLS pseudowire, PPP) is
/// [`DecapError::GreNotIp`]: counted by reason, not metered as a flow.
/// Anything else is returned as it is, with depth 0; IP fragments are never
/// unwrapped.
///
/// Recorded metadata: `encap`, `tunnel_src` and `tunnel_dst` come from the
/// outermost tunnel; `session` from the outermost ERSPAN layer; `vni` from
/// the outermost VXLAN / Geneve / NVGRE layer (for NVGRE the whole GRE key,
/// 0 without one); `outer_vlan` is the VLAN field of the
/// outermost ERSPAN II/III header when there is one (the mirrored port's
/// VLAN), else the outermost 802.1Q tag of the captured frame.
///
/// Errors: a frame shorter than an Ethernet header, a truncated tag, a
/// recognised tunnel whose header is truncated or malformed, or GRE that
/// carries no IP or Ethernet.
pub fn peel(frame: &[u8], max_depth: usize) -> Result<Peeled<'_>, DecapError> {
    peel_with(frame, max_depth, |peeled, _, _| *peeled)
}

/// [`peel`] then [`meter_peeled`], with each layer parsed once (the
/// exporter's path: that pair parses the innermost Ethernet and IP headers
/// twice). The same results as that pair.
#[inline]
pub fn peel_and_meter(frame: &[u8], max_depth: usize) -> Result<(Peeled<'_>, Metered), DecapError> {
    peel_and_meter_with(frame, max_depth, |peeled, metered| (*peeled, *metered))
}

/// [`peel_and_meter`] handing both results to `then` by reference, where
/// they were built (the exporter's per-frame path: neither is moved
/// through a `Result` on its way out).
#[inline]
pub fn peel_and_meter_with<'a, T>(
    frame: &'a [u8],
    max_depth: usize,
    then: impl FnOnce(&Peeled<'a>, &Metered) -> T,
) -> Result<T, DecapError> {
    peel_with(frame, max_depth, |peeled, link, ip| {
        meter_link(link, ip).map(|metered| then(peeled, &metered))
    })?
}

/// The peeling loop of [`peel`]: `inner` gets what was peeled, the
/// innermost layer it stopped at, its link layer and, if it is IP (the
/// frame's own or routed GRE's), its IP header (or why that did not
/// parse), so [`peel_and_meter`] meters it without parsing it again or
/// moving it around.
#[inline]
fn peel_with<'a, T>(
    frame: &'a [u8],
    max_depth: usize,
    inner: impl FnOnce(&Peeled<'a>, &Link<'a>, Option<Result<Ip<'a>, DecapError>>) -> T,
) -> Result<T, DecapError> {
    let mut peeled = Peeled {
        frame,
        encap: Encap::Span,
        session: 0,
        outer_vlan: 0,
        vni: 0,
        tunnel_src: None,
        tunnel_dst: None,
        depth: 0,
        routed: None,
    };
    let mut erspan_seen = false;
    let mut overlay_seen = false;
    let mut link = link(frame)?;
    peeled.outer_vlan = link.outer_vlan;
    let mut ip = ip_of(&link);
    loop {
        // A broken IP header is not a tunnel: `meter` reports it.
        let found = match &ip {
            Some(Ok(ip)) => tunnel(ip)?.map(|t| (t, ip.src, ip.dst)),
            _ => None,
        };
        let Some((tunnel, src, dst)) = found else {
            return Ok(inner(&peeled, &link, ip));
        };
        if usize::from(peeled.depth) >= max_depth {
            return Err(DecapError::TooDeep);
        }
        if peeled.depth == 0 {
            peeled.encap = tunnel.encap;
            peeled.tunnel_src = Some(src);
            peeled.tunnel_dst = Some(dst);
        }
        if matches!(
            tunnel.encap,
            Encap::ErspanI | Encap::ErspanII | Encap::ErspanIII
        ) && !erspan_seen
        {
            erspan_seen = true;
            peeled.session = tunnel.session;
            if let Some(vlan) = tunnel.erspan_vlan {
                peeled.outer_vlan = vlan;
            }
        }
        if matches!(tunnel.encap, Encap::Vxlan | Encap::Geneve | Encap::Nvgre) && !overlay_seen {
            overlay_seen = true;
            peeled.vni = tunnel.vni;
        }
        peeled.depth = peeled.depth.saturating_add(1);
        match tunnel.inner {
            Inner::Ethernet(frame) => {
                peeled.frame = frame;
                peeled.routed = None;
                link = self::link(frame)?;
                ip = ip_of(&link);
            }
            Inner::Ip(packet) => {
                peeled.routed = Some(packet);
                ip = Some(self::ip(packet));
            }
        }
    }
}

/// [`meter`] of what [`peel`] found: the routed IP packet when there is
/// one (with the MACs and VLAN of the frame that carried it), else the
/// peeled frame.
pub fn meter_peeled(peeled: &Peeled<'_>) -> Result<Metered, DecapError> {
    let link = link(peeled.frame)?;
    let ip = match peeled.routed {
        Some(packet) => Some(ip(packet)),
        None => ip_of(&link),
    };
    meter_link(&link, ip)
}

/// Read the flow fields of an (inner) Ethernet frame.
///
/// * `vlan` is the innermost 802.1Q tag (0 untagged).
/// * An MPLS label stack (ethertype 0x8847 unicast or 0x8848 multicast,
///   after the tags if any) is walked to its bottom-of-stack entry, whatever
///   its depth; the IPv4 or IPv6 packet after it (told by its version
///   nibble) is metered. Anything else after the stack (an Ethernet
///   pseudowire) is [`DecapError::NotIp`] with the MPLS ethertype; a stack
///   cut before its bottom entry, or with nothing after it, is truncated.
/// * `ip_len` is what the IP header says (IPv4 total length, IPv6 payload
///   length + 40), even when the capture is truncated.
/// * `proto` is the upper-layer protocol: after an IPv4 authentication
///   header, or after the IPv6 extension headers (hop-by-hop, routing,
///   destination options, fragment, AH); a chain cut short ends at the
///   header cut short, whose number is then `proto`.
/// * IPv4 non-first fragments carry no transport header: ports and TCP
///   flags are 0 and `fragment` is `Some((id, false))`; the first fragment
///   has its ports and `Some((id, true))`. IPv6 fragments are reported the
///   same way with the 32-bit identification of the chain's first fragment
///   header.
/// * ICMP / ICMPv6: ports 0, `icmp_type_code` = type * 256 + code.
/// * A frame that routed GRE carries is metered at its GRE flow here; use
///   [`meter_peeled`] on what [`peel`] found to meter the inner packet.
///
/// Errors: non-IP ethertypes are [`DecapError::NotIp`]; headers cut short
/// are [`DecapError::Truncated`]; an IP header with impossible fields is
/// [`DecapError::Malformed`].
pub fn meter(frame: &[u8]) -> Result<Metered, DecapError> {
    let link = link(frame)?;
    let ip = ip_of(&link);
    meter_link(&link, ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header, PacketBuilder, VlanId};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// tcpdump's erspan-type-ii-2.pcap, frame 1: ERSPAN II session 1,
    /// VLAN 101, HSRP (UDP 1985) 10.200.101.2 → 224.0.0.2.
    static ERSPAN_II_FRAME: [u8; 112] = [
        0x00, 0x0c, 0x29, 0xf1, 0x58, 0x1e, 0x00, 0x50, 0x56, 0xc0, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x62, 0x01, 0x28, 0x40, 0x00, 0xfc, 0x2f, 0x74, 0xeb, 0xc0, 0xa8, 0xc3, 0x43,
        0xc0, 0xa8, 0xc3, 0xc4, 0x10, 0x00, 0x88, 0xbe, 0x00, 0x10, 0x95, 0x28, 0x10, 0x65, 0xc0,
        0x01, 0x00, 0x08, 0x40, 0x65, 0x01, 0x00, 0x5e, 0x00, 0x00, 0x02, 0x00, 0x00, 0x0c, 0x07,
        0xac, 0xfe, 0x08, 0x00, 0x45, 0xc0, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0x69,
        0x31, 0x0a, 0xc8, 0x65, 0x02, 0xe0, 0x00, 0x00, 0x02, 0x07, 0xc1, 0x07, 0xc1, 0x00, 0x1c,
        0xd9, 0x65, 0x00, 0x00, 0x10, 0x01, 0x03, 0x69, 0xfe, 0x00, 0x63, 0x69, 0x73, 0x63, 0x6f,
        0x00, 0x00, 0x00, 0x0a, 0xc8, 0x65, 0x01,
    ];

    /// tcpdump's erspan-type-iii-ft-0.pcap, frame 1: ERSPAN III, inner
    /// 802.1Q VLAN 20 ICMP echo 10.29.11.1 → 10.29.20.21.
    static ERSPAN_III_FRAME: [u8; 152] = [
        0x00, 0x50, 0x56, 0xac, 0xc8, 0x0c, 0xf8, 0xc2, 0x88, 0x90, 0xd2, 0x7b, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x8a, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x2f, 0x3d, 0x97, 0x0a, 0x1d, 0x1e, 0x68,
        0x0a, 0x1d, 0x0b, 0x0d, 0x00, 0x00, 0x22, 0xeb, 0x20, 0x14, 0x00, 0x00, 0xa3, 0x59, 0x5b,
        0xff, 0x00, 0x00, 0x00, 0x06, 0x00, 0x50, 0x56, 0xac, 0x18, 0xa0, 0xf8, 0xc2, 0x88, 0x90,
        0xd2, 0x7b, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00, 0x45, 0x00, 0x00, 0x54, 0x9d, 0x12, 0x40,
        0x00, 0x3f, 0x01, 0x6b, 0x47, 0x0a, 0x1d, 0x0b, 0x01, 0x0a, 0x1d, 0x14, 0x15, 0x08, 0x00,
        0x26, 0x9c, 0x3f, 0xcb, 0x00, 0xe2, 0x22, 0x64, 0x90, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x15,
        0x22, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
        0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26,
        0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
        0x36, 0x37,
    ];

    /// tcpdump's vxlan.pcap, frame 1: VNI 100, ICMP echo 192.168.203.3 →
    /// 192.168.203.5 between VTEPs 192.168.203.1 and 192.168.202.1.
    static VXLAN_FRAME: [u8; 148] = [
        0x00, 0x16, 0x3e, 0x08, 0x71, 0xcf, 0x36, 0xdc, 0x85, 0x1e, 0xb3, 0x40, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x86, 0xd2, 0xc0, 0x40, 0x00, 0x40, 0x11, 0x51, 0x52, 0xc0, 0xa8, 0xcb, 0x01,
        0xc0, 0xa8, 0xca, 0x01, 0xb0, 0x5d, 0x12, 0xb5, 0x00, 0x72, 0x00, 0x00, 0x08, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x30, 0x88, 0x01, 0x00, 0x02, 0x00, 0x16, 0x3e, 0x37,
        0xf6, 0x04, 0x08, 0x00, 0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x23,
        0x4f, 0xc0, 0xa8, 0xcb, 0x03, 0xc0, 0xa8, 0xcb, 0x05, 0x08, 0x00, 0xf6, 0xf2, 0x05, 0x0c,
        0x00, 0x01, 0xfc, 0xe2, 0x97, 0x51, 0x00, 0x00, 0x00, 0x00, 0xa6, 0xf8, 0x02, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
        0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
        0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    const MAC_A: [u8; 6] = [0x00, 0x50, 0x56, 0x00, 0x01, 0x11];
    const MAC_B: [u8; 6] = [0x00, 0x50, 0x56, 0x00, 0x02, 0x11];

    fn vlan(id: u16) -> VlanId {
        VlanId::try_new(id).expect("valid vlan")
    }

    /// A QinQ-tagged TCP SYN 10.10.1.11:40000 → 10.10.2.11:8443.
    fn qinq_tcp_syn() -> Vec<u8> {
        let builder = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .double_vlan(vlan(300), vlan(102))
            .ipv4([10, 10, 1, 11], [10, 10, 2, 11], 64)
            .tcp(40000, 8443, 1, 64240)
            .syn();
        let mut out = Vec::new();
        builder.write(&mut out, &[]).expect("write");
        out
    }

    /// An IPv6 UDP datagram with 100 bytes of payload.
    fn ipv6_udp() -> Vec<u8> {
        let builder = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(
                Ipv6Addr::new(0xfd00, 0x10, 1, 0, 0, 0, 0, 0x11).octets(),
                Ipv6Addr::new(0xfd00, 0x10, 3, 0, 0, 0, 0, 0x11).octets(),
                64,
            )
            .udp(5353, 53);
        let mut out = Vec::new();
        builder.write(&mut out, &[7u8; 100]).expect("write");
        out
    }

    /// An IPv4 fragment of a UDP datagram (id 242) at `offset` (8-byte
    /// units); the first fragment starts with a UDP header.
    fn ipv4_fragment(offset: u16, more: bool) -> Vec<u8> {
        let mut ip =
            Ipv4Header::new(28, 64, IpNumber::UDP, [10, 0, 0, 1], [10, 0, 0, 2]).expect("header");
        ip.identification = 242;
        ip.more_fragments = more;
        ip.fragment_offset = etherparse::IpFragOffset::try_new(offset).expect("offset");
        let mut out = Vec::new();
        etherparse::Ethernet2Header {
            source: MAC_A,
            destination: MAC_B,
            ether_type: etherparse::EtherType::IPV4,
        }
        .write(&mut out)
        .expect("write");
        ip.write(&mut out).expect("write");
        // UDP ports 5000 → 6000 (meaningful only in the first fragment).
        out.extend_from_slice(&[0x13, 0x88, 0x17, 0x70]);
        out.extend_from_slice(&[0u8; 24]);
        out
    }

    /// `inner` wrapped in outer Ethernet + IPv4 + GRE(`gre`) + `header`.
    fn gre_wrap(inner: &[u8], gre: wire::GreRepr, header: &[u8]) -> Vec<u8> {
        let mut payload = vec![0u8; gre.buffer_len()];
        gre.emit(&mut wire::GrePacket::new_unchecked(&mut payload));
        payload.extend_from_slice(header);
        payload.extend_from_slice(inner);
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(
            [198, 18, 0, 3],
            [198, 18, 0, 100],
            64,
        );
        let mut out = Vec::new();
        builder
            .write(&mut out, IpNumber::GRE, &payload)
            .expect("write");
        out
    }

    fn erspan_ii_wrap(inner: &[u8], session: u16, vlan: u16) -> Vec<u8> {
        let repr = wire::ErspanIIRepr {
            vlan,
            cos: 0,
            encap: 0,
            truncated: false,
            session_id: session,
            index: 0,
        };
        let mut header = vec![0u8; repr.buffer_len()];
        repr.emit(&mut wire::ErspanIIPacket::new_unchecked(&mut header));
        gre_wrap(
            inner,
            wire::GreRepr {
                protocol: wire::GreProtocol::Erspan,
                checksum_present: false,
                key: None,
                sequence: Some(7),
            },
            &header,
        )
    }

    fn vxlan_wrap(inner: &[u8], vni: u32) -> Vec<u8> {
        let repr = wire::VxlanRepr {
            vni: wire::Vni::new(vni).expect("fits"),
        };
        let mut payload = vec![0u8; repr.buffer_len()];
        repr.emit(&mut wire::VxlanPacket::new_unchecked(&mut payload));
        payload.extend_from_slice(inner);
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([172, 16, 0, 2], [172, 16, 0, 4], 64)
            .udp(49152, wire::VXLAN_UDP_PORT);
        let mut out = Vec::new();
        builder.write(&mut out, &payload).expect("write");
        out
    }

    #[test]
    fn peel_erspan_ii_real_frame() {
        let peeled = peel(&ERSPAN_II_FRAME, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!(peeled.encap, Encap::ErspanII);
        assert_eq!(peeled.session, 1);
        assert_eq!(peeled.outer_vlan, 101);
        assert_eq!(peeled.depth, 1);
        assert_eq!(
            peeled.tunnel_src,
            Some(IpAddr::V4(Ipv4Addr::new(192, 168, 195, 67)))
        );
        assert_eq!(peeled.frame.len(), 112 - 14 - 20 - 8 - 8);
        let m = meter(peeled.frame).expect("meter");
        assert_eq!(m.src, IpAddr::V4(Ipv4Addr::new(10, 200, 101, 2)));
        assert_eq!(m.dst, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 2)));
        assert_eq!((m.src_port, m.dst_port, m.proto), (1985, 1985, 17));
        assert_eq!((m.ip_len, m.tos, m.vlan), (48, 0xc0, 0));
        assert_eq!(m.src_mac, [0x00, 0x00, 0x0c, 0x07, 0xac, 0xfe]);
    }

    #[test]
    fn peel_erspan_iii_real_frame() {
        let peeled = peel(&ERSPAN_III_FRAME, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!(peeled.encap, Encap::ErspanIII);
        assert_eq!(peeled.session, 0);
        assert_eq!(peeled.outer_vlan, 20);
        assert_eq!(
            peeled.tunnel_dst,
            Some(IpAddr::V4(Ipv4Addr::new(10, 29, 11, 13)))
        );
        let m = meter(peeled.frame).expect("meter");
        assert_eq!(m.vlan, 20);
        assert_eq!(m.src, IpAddr::V4(Ipv4Addr::new(10, 29, 11, 1)));
        assert_eq!(m.dst, IpAddr::V4(Ipv4Addr::new(10, 29, 20, 21)));
        assert_eq!((m.proto, m.icmp_type_code, m.ip_len), (1, 0x0800, 84));
        assert_eq!(m.fragment, None);
    }

    #[test]
    fn peel_vxlan_real_frame() {
        let peeled = peel(&VXLAN_FRAME, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!(peeled.encap, Encap::Vxlan);
        assert_eq!(peeled.vni, 100);
        assert_eq!(peeled.outer_vlan, 0);
        let m = meter(peeled.frame).expect("meter");
        assert_eq!(m.src, IpAddr::V4(Ipv4Addr::new(192, 168, 203, 3)));
        assert_eq!((m.proto, m.icmp_type_code), (1, 0x0800));
    }

    #[test]
    fn span_frame_is_returned_as_is() {
        let frame = qinq_tcp_syn();
        let peeled = peel(&frame, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!(peeled.frame, &frame[..]);
        assert_eq!(
            (peeled.encap, peeled.depth, peeled.outer_vlan),
            (Encap::Span, 0, 300)
        );
        let m = meter(&frame).expect("meter");
        assert_eq!(m.vlan, 102);
        assert_eq!((m.src_port, m.dst_port, m.proto), (40000, 8443, 6));
        assert_eq!(m.tcp_flags, 0x02);
        assert_eq!(m.ip_len, 40);
        assert_eq!((m.src_mac, m.dst_mac), (MAC_A, MAC_B));
    }

    #[test]
    fn meter_ipv6() {
        let m = meter(&ipv6_udp()).expect("meter");
        assert_eq!(m.ip_len, 40 + 8 + 100);
        assert_eq!((m.src_port, m.dst_port, m.proto), (5353, 53, 17));
        assert!(m.src.is_ipv6());
    }

    #[test]
    fn meter_fragments() {
        let first = meter(&ipv4_fragment(0, true)).expect("meter");
        assert_eq!(first.fragment, Some((242, true)));
        assert_eq!((first.src_port, first.dst_port), (5000, 6000));
        let later = meter(&ipv4_fragment(1, false)).expect("meter");
        assert_eq!(later.fragment, Some((242, false)));
        assert_eq!((later.src_port, later.dst_port), (0, 0));
        assert_eq!(later.ip_len, 48);
    }

    /// Ethernet + IPv6 (next header: fragment) + fragment header (id
    /// 0x01020304) + 8 bytes of UDP.
    fn ipv6_fragment_frame(offset: u16, more: bool) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, 44, 64]);
        f.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
        f.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
        let offset_flags = offset << 3 | u16::from(more);
        f.extend_from_slice(&[17, 0]);
        f.extend_from_slice(&offset_flags.to_be_bytes());
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend_from_slice(&[0x13, 0x88, 0x17, 0x70, 0, 8, 0, 0]);
        f
    }

    #[test]
    fn meter_ipv6_fragments() {
        let first = meter(&ipv6_fragment_frame(0, true)).expect("meter");
        assert_eq!(first.fragment, Some((0x0102_0304, true)));
        assert_eq!(first.ip_len, 56);
        let later = meter(&ipv6_fragment_frame(2, false)).expect("meter");
        assert_eq!(later.fragment, Some((0x0102_0304, false)));
        assert_eq!((later.src_port, later.dst_port), (0, 0));
        // A fragment header with offset 0 and no more fragments: whole.
        let whole = meter(&ipv6_fragment_frame(0, false)).expect("meter");
        assert_eq!(whole.fragment, None);
        // The chain cut inside the fragment header: not a fragment we can
        // match, never a read past the frame.
        let frame = ipv6_fragment_frame(0, true);
        let cut = meter(&frame[..14 + 40 + 5]).expect("metered");
        assert_eq!((cut.fragment, cut.proto), (None, 44));
    }

    /// Found by `fuzz/` target `decap`: an IPv6 frame whose extension
    /// chain made etherparse 0.21's lax extension iterator read out of
    /// bounds (undefined behaviour). Metered without touching it now.
    #[test]
    fn meter_ipv6_fuzz_regression() {
        static FRAME: [u8; 68] = [
            0x68, 0xa3, 0xc4, 0xf9, 0x49, 0xf6, 0x54, 0x75, 0xd0, 0xc9, 0x0b, 0x81, 0x86, 0xdd,
            0x60, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x00, 0xff, 0xff,
            0xff, 0xbf, 0xde, 0xad, 0x49, 0x57, 0x21, 0x74, 0xe8, 0x2c, 0x48, 0x87, 0x00, 0x19,
            0xf9, 0xc7, 0x95, 0x63, 0x97, 0xd0, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x22, 0xa0, 0x88, 0x36, 0x40, 0x10, 0x01, 0x50, 0x0c, 0x5e, 0x00, 0x00,
        ];
        // Payload length 0, next header hop-by-hop with nothing after it:
        // a 40-byte packet of protocol 0, not a fragment.
        let m = meter(&FRAME).expect("metered");
        assert_eq!((m.ip_len, m.proto, m.fragment), (40, 0, None));
    }

    #[test]
    fn meter_truncated_capture_keeps_ip_length() {
        let frame = ipv6_udp();
        let m = meter(&frame[..14 + 40 + 8]).expect("meter");
        assert_eq!(m.ip_len, 148);
        assert_eq!(m.dst_port, 53);
        assert_eq!(
            meter(&frame[..14 + 40 + 2]),
            Err(DecapError::Truncated { layer: "udp" })
        );
    }

    /// Ethernet (IPv4) + a 20-byte IPv4 header (UDP 10.0.0.1 → 10.0.0.2,
    /// total length 28) + UDP 5000 → 6000.
    fn ipv4_udp() -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0x10, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&[0x13, 0x88, 0x17, 0x70, 0, 8, 0, 0]);
        f
    }

    #[test]
    fn meter_ip_header_edges() {
        let good = meter(&ipv4_udp()).expect("metered");
        assert_eq!((good.ip_len, good.tos, good.src_port), (28, 0x10, 5000));
        // IHL below 5: malformed.
        let mut f = ipv4_udp();
        f[14] = 0x44;
        assert_eq!(meter(&f), Err(BAD_IP));
        // IHL 15 (60 bytes) in a 28-byte datagram: the header is cut short.
        f[14] = 0x4f;
        assert_eq!(meter(&f), Err(DecapError::Truncated { layer: "ip" }));
        // Version 5 under ethertype IPv4: malformed.
        f[14] = 0x55;
        assert_eq!(meter(&f), Err(BAD_IP));
        // No IP byte at all after the Ethernet header: truncated.
        assert_eq!(
            meter(&ipv4_udp()[..14]),
            Err(DecapError::Truncated { layer: "ip" })
        );
        // Total length smaller than the header: counted as the header
        // says, the ports still read from what the capture holds.
        let mut f = ipv4_udp();
        f[17] = 12;
        let m = meter(&f).expect("metered");
        assert_eq!((m.ip_len, m.src_port, m.dst_port), (12, 5000, 6000));
        // Total length that ends inside the UDP ports: the ports are
        // beyond what the datagram holds (trailing bytes are padding).
        let mut f = ipv4_udp();
        f[17] = 22;
        assert_eq!(meter(&f), Err(DecapError::Truncated { layer: "udp" }));
        // An IPv4 authentication header is walked to the transport.
        let mut f = ipv4_udp();
        f[17] = 40;
        f[23] = 51;
        let ah = [17u8, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
        f.splice(34..34, ah);
        let m = meter(&f).expect("metered");
        assert_eq!((m.proto, m.src_port, m.ip_len), (17, 5000, 40));
        // The same AH cut short: metered as protocol 51.
        let m = meter(&f[..34 + 6]).expect("metered");
        assert_eq!((m.proto, m.src_port), (51, 0));
        // An IPv6 header cut short.
        assert_eq!(
            meter(&ipv6_udp()[..14 + 39]),
            Err(DecapError::Truncated { layer: "ip" })
        );
    }

    #[test]
    fn meter_truncated_ipv6_extensions() {
        // IPv6 → hop-by-hop announcing 16 bytes, only 8 captured.
        let mut f = ipv6_udp();
        f.truncate(14 + 40);
        f[14 + 6] = 0;
        f.extend_from_slice(&[17, 1, 0, 0, 0, 0, 0, 0]);
        let m = meter(&f).expect("metered");
        assert_eq!((m.proto, m.src_port, m.fragment), (0, 0, None));
        assert_eq!(m.ip_len, 148);
        // A fragment header whose next header is cut away: the walk stops
        // at it, the fragment is not matched, never a read past the frame.
        let frame = ipv6_fragment_frame(2, false);
        let m = meter(&frame[..14 + 40 + 7]).expect("metered");
        assert_eq!((m.proto, m.fragment), (44, None));
    }

    #[test]
    fn vlan_tag_at_the_end_of_the_frame() {
        let mut f = qinq_tcp_syn();
        // Cut after the first tag's TPID and two bytes of its TCI.
        assert_eq!(
            meter(&f[..16]),
            Err(DecapError::Truncated { layer: "vlan" })
        );
        // A complete tag, then nothing: no IP byte.
        assert_eq!(meter(&f[..22]), Err(DecapError::Truncated { layer: "ip" }));
        // Tags all the way down: every tag is consumed, the last one cut.
        f.truncate(12);
        for _ in 0..10 {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        }
        f.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(
            peel(&f, DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated { layer: "vlan" })
        );
    }

    #[test]
    fn meter_non_ip() {
        let mut arp = vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(meter(&arp), Err(DecapError::NotIp(0x0806)));
        assert_eq!(peel(&arp, 4).map(|p| p.depth), Ok(0));
        assert_eq!(
            meter(&arp[..10]),
            Err(DecapError::Truncated { layer: "ethernet" })
        );
    }

    /// `frame` (Ethernet + its tags + an IP packet) with an MPLS stack of
    /// `labels` inserted before the IP packet, the ethertype set to
    /// `ethertype`; the last entry has the bottom-of-stack bit.
    fn mpls_insert(frame: &[u8], at: usize, ethertype: u16, labels: &[u32]) -> Vec<u8> {
        let mut out = frame[..at - 2].to_vec();
        out.extend_from_slice(&ethertype.to_be_bytes());
        for (i, &label) in labels.iter().enumerate() {
            let repr = wire::MplsRepr {
                label,
                traffic_class: 0,
                bottom_of_stack: i + 1 == labels.len(),
                ttl: 63,
            };
            let mut entry = [0u8; wire::MPLS_HEADER_LEN];
            repr.emit(&mut wire::MplsPacket::new_unchecked(&mut entry[..]));
            out.extend_from_slice(&entry);
        }
        out.extend_from_slice(&frame[at..]);
        out
    }

    #[test]
    fn mpls_stacks_above_ip() {
        // Unicast, one label, IPv4 (the ethertype after the QinQ tags).
        let syn = qinq_tcp_syn();
        let plain = meter(&syn).expect("meter");
        let one = mpls_insert(&syn, 22, wire::ETHERTYPE_MPLS_UNICAST, &[100_704]);
        assert_eq!(meter(&one), Ok(plain), "the same flow, tags kept");
        assert_eq!(
            peel(&one, DEFAULT_MAX_DEPTH).map(|p| p.encap),
            Ok(Encap::Span)
        );
        // Multicast, a stack of five, IPv6, untagged.
        let v6 = ipv6_udp();
        let five = mpls_insert(
            &v6,
            14,
            wire::ETHERTYPE_MPLS_MULTICAST,
            &[3, 16, 17, 18, 0xfffff],
        );
        let m = meter(&five).expect("meter");
        assert_eq!(m, meter(&v6).expect("meter"));
        assert_eq!((m.ip_len, m.dst_port), (148, 53));
        // Inside a VXLAN tunnel (the inner frame labelled).
        let tunneled = vxlan_wrap(&one, 5001);
        let (peeled, m) = peel_and_meter(&tunneled, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!((peeled.encap, peeled.vni), (Encap::Vxlan, 5001));
        assert_eq!(m, plain);
        // The underlay labelled: VXLAN inside MPLS.
        let outer = mpls_insert(
            &vxlan_wrap(&syn, 7),
            14,
            wire::ETHERTYPE_MPLS_UNICAST,
            &[20, 21],
        );
        let (peeled, m) = peel_and_meter(&outer, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!(
            (peeled.encap, peeled.vni, peeled.depth),
            (Encap::Vxlan, 7, 1)
        );
        assert_eq!(m, plain);
    }

    #[test]
    fn mpls_not_ip_and_truncated() {
        let v6 = ipv6_udp();
        // An Ethernet pseudowire (control word, first nibble 0): not IP.
        let mut pw = mpls_insert(&v6, 14, wire::ETHERTYPE_MPLS_UNICAST, &[30]);
        pw[18] = 0x00;
        assert_eq!(meter(&pw), Err(DecapError::NotIp(0x8847)));
        assert_eq!(
            DecapError::NotIp(0x8847).reason(),
            "not_ip",
            "counted as not IP"
        );
        // Two entries, neither the bottom, then the IP header: the walk
        // reads the IP header as entries and runs out.
        let mut open = mpls_insert(&v6, 14, wire::ETHERTYPE_MPLS_UNICAST, &[30, 31]);
        open[20] &= !0x01;
        let cut = &open[..14 + 8];
        assert_eq!(meter(cut), Err(DecapError::Truncated { layer: "mpls" }));
        // Cut inside the stack, and right after its bottom.
        let two = mpls_insert(&v6, 14, wire::ETHERTYPE_MPLS_UNICAST, &[30, 31]);
        for len in 14..14 + 8 {
            assert_eq!(
                meter(&two[..len]),
                Err(DecapError::Truncated { layer: "mpls" }),
                "cut at {len}"
            );
        }
        assert_eq!(
            meter(&two[..14 + 8]),
            Err(DecapError::Truncated { layer: "mpls" })
        );
    }

    /// `inner` in GRE carrying Ethernet (0x6558) with `key`.
    fn teb_wrap(inner: &[u8], key: Option<u32>) -> Vec<u8> {
        gre_wrap(
            inner,
            wire::GreRepr {
                protocol: wire::GreProtocol::TransparentEthernet,
                checksum_present: false,
                key,
                sequence: None,
            },
            &[],
        )
    }

    #[test]
    fn gre_teb_is_an_overlay() {
        let inner = qinq_tcp_syn();
        // NVGRE: VSID 0x123456, FlowID 0x02; the whole key is kept.
        let frame = teb_wrap(&inner, Some(0x1234_5602));
        let (peeled, m) = peel_and_meter(&frame, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!(
            (peeled.encap, peeled.vni, peeled.depth),
            (Encap::Nvgre, 0x1234_5602, 1)
        );
        assert_eq!(peeled.vni >> 8, 0x12_3456, "the VSID");
        assert_eq!(
            (peeled.tunnel_src, peeled.tunnel_dst),
            (
                Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3))),
                Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100)))
            )
        );
        assert_eq!(peeled.frame, &inner[..]);
        assert_eq!(m, meter(&inner).expect("meter"));
        // Open vSwitch GRE without a key; checksum and sequence allowed.
        let bare = gre_wrap(
            &inner,
            wire::GreRepr {
                protocol: wire::GreProtocol::TransparentEthernet,
                checksum_present: true,
                key: None,
                sequence: Some(9),
            },
            &[],
        );
        let peeled = peel(&bare, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!((peeled.encap, peeled.vni), (Encap::Nvgre, 0));
        assert_eq!(peeled.frame, &inner[..]);
        // Mirrored with ERSPAN II: encap and session from the mirror, the
        // key from the overlay.
        let mirrored = erspan_ii_wrap(&frame, 3, 104);
        let peeled = peel(&mirrored, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!(
            (peeled.encap, peeled.session, peeled.vni, peeled.depth),
            (Encap::ErspanII, 3, 0x1234_5602, 2)
        );
        // Cut inside the inner Ethernet header.
        assert_eq!(
            peel(&frame[..frame.len() - inner.len() + 10], DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated { layer: "ethernet" })
        );
        // Cut inside the key.
        assert_eq!(
            peel(&frame[..14 + 20 + 6], DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated { layer: "gre" })
        );
    }

    /// `packet` (an IP packet, or what `protocol` names) in GRE in IPv4 in
    /// Ethernet; the frame's IP packet starts at byte 14.
    fn routed_wrap(packet: &[u8], protocol: wire::GreProtocol) -> Vec<u8> {
        gre_wrap(
            &[],
            wire::GreRepr {
                protocol,
                checksum_present: false,
                key: Some(40),
                sequence: None,
            },
            packet,
        )
    }

    #[test]
    fn routed_gre_meters_the_innermost_ip() {
        let syn = qinq_tcp_syn();
        let plain = meter(&syn).expect("meter");
        let inner_ip = &syn[22..];
        let frame = routed_wrap(inner_ip, wire::GreProtocol::Ipv4);
        let (peeled, m) = peel_and_meter(&frame, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!((peeled.encap, peeled.depth, peeled.vni), (Encap::Gre, 1, 0));
        assert_eq!(peeled.frame, &frame[..], "the frame that carried it");
        assert_eq!(peeled.routed, Some(inner_ip));
        assert_eq!(
            peeled.tunnel_src,
            Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3)))
        );
        assert_eq!(meter_peeled(&peeled), Ok(m));
        // The inner flow, with the carrying frame's MACs (untagged).
        assert_eq!(
            (m.src, m.dst, m.src_port, m.dst_port),
            (plain.src, plain.dst, 40000, 8443)
        );
        assert_eq!((m.proto, m.ip_len, m.tcp_flags, m.vlan), (6, 40, 0x02, 0));
        assert_eq!(m.src_mac, [2, 0, 0, 0, 0, 1]);
        // Nested: IP in GRE in IP in GRE, metered at the innermost.
        let nested = routed_wrap(&frame[14..], wire::GreProtocol::Ipv4);
        let (peeled, m2) = peel_and_meter(&nested, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!((peeled.encap, peeled.depth), (Encap::Gre, 2));
        assert_eq!(peeled.routed, Some(inner_ip));
        assert_eq!(m2, m);
        assert_eq!(peel(&nested, 1), Err(DecapError::TooDeep));
        // IPv6 in GRE.
        let v6 = ipv6_udp();
        let v6_frame = routed_wrap(&v6[14..], wire::GreProtocol::Ipv6);
        let (peeled, m) = peel_and_meter(&v6_frame, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!(peeled.encap, Encap::Gre);
        assert_eq!((m.dst_port, m.ip_len), (53, 148));
        // MPLS-labelled IPv4 in GRE (RFC 4023).
        let mut labelled = vec![0x00, 0x01, 0x01, 0x3f];
        labelled.extend_from_slice(inner_ip);
        let mpls_frame = routed_wrap(&labelled, wire::GreProtocol::Mpls);
        let (peeled, m) = peel_and_meter(&mpls_frame, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!((peeled.encap, m.dst_port), (Encap::Gre, 8443));
        // A VXLAN underlay routed through GRE: the overlay's frame.
        let vxlan = vxlan_wrap(&syn, 77);
        let vxlan_frame = routed_wrap(&vxlan[14..], wire::GreProtocol::Ipv4);
        let (peeled, m) = peel_and_meter(&vxlan_frame, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!(
            (peeled.encap, peeled.vni, peeled.depth),
            (Encap::Gre, 77, 2)
        );
        assert_eq!((peeled.frame, peeled.routed), (&syn[..], None));
        assert_eq!(m, plain);
        // A broken inner IP header: reported as the IP layer's error.
        let mut bad = inner_ip.to_vec();
        bad[0] = 0x55;
        assert_eq!(
            peel_and_meter(
                &routed_wrap(&bad, wire::GreProtocol::Ipv4),
                DEFAULT_MAX_DEPTH
            ),
            Err(BAD_IP)
        );
        let cut = routed_wrap(&inner_ip[..10], wire::GreProtocol::Ipv4);
        assert_eq!(
            peel_and_meter(&cut, DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated { layer: "ip" })
        );
        // A fragment of an IP-in-GRE packet is not unwrapped.
        let mut fragment = frame.clone();
        fragment[14 + 6] = 0x20;
        let (peeled, m) = peel_and_meter(&fragment, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!((peeled.encap, m.proto), (Encap::Span, 47));
    }

    #[test]
    fn routed_gre_with_cisco_metadata() {
        let syn = qinq_tcp_syn();
        let repr = wire::CiscoMetadataRepr {
            ethertype: wire::ETHERTYPE_IPV4,
            sgt: 17,
        };
        let mut tagged = vec![0u8; repr.buffer_len()];
        repr.emit(&mut wire::CiscoMetadataPacket::new_unchecked(&mut tagged));
        tagged.extend_from_slice(&syn[22..]);
        let frame = routed_wrap(&tagged, wire::GreProtocol::CiscoMetadata);
        let (peeled, m) = peel_and_meter(&frame, DEFAULT_MAX_DEPTH).expect("metered");
        assert_eq!(
            (peeled.encap, peeled.routed),
            (Encap::Gre, Some(&syn[22..]))
        );
        assert_eq!((m.src_port, m.dst_port, m.ip_len), (40000, 8443, 40));
        // A keepalive inside Cisco MetaData is still a keepalive.
        let reflected = routed_wrap(&[], wire::GreProtocol::Unknown(0));
        let mut tagged = tagged[..8].to_vec();
        tagged.extend_from_slice(&reflected[14..]);
        assert_eq!(
            peel(
                &routed_wrap(&tagged, wire::GreProtocol::CiscoMetadata),
                DEFAULT_MAX_DEPTH
            ),
            Err(DecapError::GreKeepalive)
        );
        // Naming ARP: not IP; cut short; another option.
        tagged[..2].copy_from_slice(&0x0806u16.to_be_bytes());
        let arp = routed_wrap(&tagged, wire::GreProtocol::CiscoMetadata);
        assert_eq!(
            peel(&arp, DEFAULT_MAX_DEPTH),
            Err(DecapError::GreNotIp(0x0806))
        );
        let cut = routed_wrap(&tagged[..5], wire::GreProtocol::CiscoMetadata);
        assert_eq!(
            peel(&cut, DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated {
                layer: "cisco_metadata"
            })
        );
        tagged[5] = 2;
        let other = routed_wrap(&tagged, wire::GreProtocol::CiscoMetadata);
        assert!(matches!(
            peel(&other, DEFAULT_MAX_DEPTH),
            Err(DecapError::Malformed {
                layer: "cisco_metadata",
                ..
            })
        ));
    }

    #[test]
    fn gre_keepalives_and_non_ip_are_counted_by_reason() {
        // Cisco's keepalive: IP in GRE whose inner IP packet is GRE with
        // protocol 0, addressed back to the sender; and that reflected
        // packet as the far end sends it on.
        let reflected = routed_wrap(&[], wire::GreProtocol::Unknown(0));
        let keepalive = routed_wrap(&reflected[14..], wire::GreProtocol::Ipv4);
        for frame in [&keepalive, &reflected] {
            assert_eq!(
                peel_and_meter(frame, DEFAULT_MAX_DEPTH),
                Err(DecapError::GreKeepalive)
            );
            assert_eq!(
                peel(frame, DEFAULT_MAX_DEPTH),
                Err(DecapError::GreKeepalive)
            );
        }
        assert_eq!(DecapError::GreKeepalive.reason(), "gre_keepalive");
        // CDP (0x2000) in GRE, and an MPLS pseudowire in GRE.
        let cdp = routed_wrap(&[2, 180, 0, 0], wire::GreProtocol::Unknown(0x2000));
        assert_eq!(
            peel_and_meter(&cdp, DEFAULT_MAX_DEPTH),
            Err(DecapError::GreNotIp(0x2000))
        );
        assert_eq!(DecapError::GreNotIp(0x2000).reason(), "gre_not_ip");
        let pw = routed_wrap(&[0, 1, 1, 64, 0, 0, 0, 0], wire::GreProtocol::Mpls);
        assert_eq!(
            peel_and_meter(&pw, DEFAULT_MAX_DEPTH),
            Err(DecapError::GreNotIp(0x8847))
        );
        assert_eq!(
            peel_and_meter(
                &routed_wrap(&[0, 1, 0, 64], wire::GreProtocol::Mpls),
                DEFAULT_MAX_DEPTH
            ),
            Err(DecapError::Truncated { layer: "mpls" })
        );
    }

    #[test]
    fn nested_and_too_deep() {
        // A VXLAN underlay frame mirrored with ERSPAN II.
        let inner = qinq_tcp_syn();
        let frame = erspan_ii_wrap(&vxlan_wrap(&inner, 10102), 3, 104);
        let peeled = peel(&frame, DEFAULT_MAX_DEPTH).expect("peel");
        assert_eq!(peeled.encap, Encap::ErspanII);
        assert_eq!(
            (peeled.session, peeled.outer_vlan, peeled.vni),
            (3, 104, 10102)
        );
        assert_eq!(peeled.depth, 2);
        assert_eq!(
            peeled.tunnel_src,
            Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3)))
        );
        assert_eq!(peeled.frame, &inner[..]);
        assert_eq!(peel(&frame, 1), Err(DecapError::TooDeep));
        let mut deep = inner.clone();
        for _ in 0..5 {
            deep = vxlan_wrap(&deep, 1);
        }
        assert_eq!(peel(&deep, DEFAULT_MAX_DEPTH), Err(DecapError::TooDeep));
        assert_eq!(peel(&deep, 5).map(|p| p.frame.to_vec()), Ok(inner));
    }

    #[test]
    fn truncated_tunnel_header_is_an_error() {
        // Cut inside the ERSPAN II header.
        assert_eq!(
            peel(&ERSPAN_II_FRAME[..14 + 20 + 8 + 4], DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated { layer: "erspan2" })
        );
        // Cut inside the inner Ethernet header of a VXLAN frame.
        assert_eq!(
            peel(&VXLAN_FRAME[..14 + 20 + 8 + 8 + 6], DEFAULT_MAX_DEPTH),
            Err(DecapError::Truncated { layer: "ethernet" })
        );
    }

    /// Deterministic xorshift64 for the no-panic loop.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn never_panics_on_truncations_and_mutations() {
        let frames: Vec<Vec<u8>> = vec![
            ERSPAN_II_FRAME.to_vec(),
            ERSPAN_III_FRAME.to_vec(),
            VXLAN_FRAME.to_vec(),
            qinq_tcp_syn(),
            ipv6_udp(),
            ipv4_fragment(1, false),
            erspan_ii_wrap(&vxlan_wrap(&qinq_tcp_syn(), 7), 3, 104),
            mpls_insert(
                &qinq_tcp_syn(),
                22,
                wire::ETHERTYPE_MPLS_UNICAST,
                &[1, 2, 3],
            ),
            teb_wrap(&ipv6_udp(), Some(0x0000_6401)),
            routed_wrap(
                &routed_wrap(&qinq_tcp_syn()[22..], wire::GreProtocol::Ipv4)[14..],
                wire::GreProtocol::Ipv4,
            ),
        ];
        let mut outcomes = 0usize;
        let mut run = |bytes: &[u8]| {
            let two_pass = peel(bytes, DEFAULT_MAX_DEPTH)
                .and_then(|peeled| meter_peeled(&peeled).map(|m| (peeled, m)));
            assert_eq!(peel_and_meter(bytes, DEFAULT_MAX_DEPTH), two_pass);
            let _ = meter(bytes);
            outcomes += 1;
        };
        for frame in &frames {
            for len in 0..=frame.len() {
                run(&frame[..len]);
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let pick = (xorshift(&mut state) % frames.len() as u64) as usize;
            let mut bytes = frames[pick].clone();
            let flips = 1 + xorshift(&mut state) % 4;
            for _ in 0..flips {
                let at = (xorshift(&mut state) % bytes.len() as u64) as usize;
                bytes[at] = xorshift(&mut state) as u8;
            }
            let cut = (xorshift(&mut state) % (bytes.len() as u64 + 1)) as usize;
            run(&bytes[..cut.max(bytes.len() / 2)]);
        }
        let truncations: usize = frames.iter().map(|f| f.len() + 1).sum();
        assert_eq!(outcomes, truncations + 20_000);
    }
}
