//! What the VMs put on their virtual wires: TCP conversations (handshake,
//! data, FIN), UDP request/response (one datagram fragmented), ICMP and
//! ICMPv6 echo, ARP and LLDP, as IP packets or Ethernet frames.

use std::net::Ipv4Addr;

use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, PacketBuilder, TcpHeader,
    UdpHeader,
};

use crate::lab::{self, Conversation, Vm};
use crate::{
    build_error, vm, LabError, Logical, HALF_RTT_NS, IPV4_MTU_PAYLOAD, MSS, SEGMENT_GAP_NS,
};

/// Per-VM IPv4 identification counters.
pub(super) struct Ids([u16; lab::VMS.len()]);

impl Ids {
    pub(super) fn new() -> Ids {
        Ids([0; lab::VMS.len()])
    }

    fn next(&mut self, vm: &Vm) -> u16 {
        let at = lab::VMS.iter().position(|v| v.name == vm.name).unwrap_or(0);
        // Start each VM at a different, fixed value.
        let id = self.0[at].wrapping_add(0x1000 * (at as u16 + 1));
        self.0[at] = self.0[at].wrapping_add(1);
        id
    }
}

pub(super) fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((i + seed) % 26) as u8).collect()
}

pub(super) fn ipv4_header(
    ids: &mut Ids,
    src: &Vm,
    dst: &Vm,
    proto: IpNumber,
    df: bool,
) -> Result<Ipv4Header, LabError> {
    let mut header = Ipv4Header::new(0, 64, proto, src.ipv4.octets(), dst.ipv4.octets())
        .map_err(|e| build_error("IPv4 header", e))?;
    header.identification = ids.next(src);
    header.dont_fragment = df;
    Ok(header)
}

pub(super) fn ip_len(ip: &[u8]) -> u16 {
    match ip.first().map(|b| b >> 4) {
        Some(6) if ip.len() >= 6 => u16::from_be_bytes([ip[4], ip[5]]).saturating_add(40),
        _ if ip.len() >= 4 => u16::from_be_bytes([ip[2], ip[3]]),
        _ => 0,
    }
}

pub(super) struct Tcp<'a> {
    conv: usize,
    c: &'a Vm,
    s: &'a Vm,
    cport: u16,
    sport: u16,
    cseq: u32,
    sseq: u32,
}

impl Tcp<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        out: &mut Vec<Logical>,
        ids: &mut Ids,
        t_ns: u64,
        forward: bool,
        flags: (bool, bool, bool, bool),
        data: &[u8],
    ) -> Result<(), LabError> {
        let (syn, ack, psh, fin) = flags;
        let (src, dst, sp, dp, seq, ackno) = if forward {
            (self.c, self.s, self.cport, self.sport, self.cseq, self.sseq)
        } else {
            (self.s, self.c, self.sport, self.cport, self.sseq, self.cseq)
        };
        let mut tcp = TcpHeader::new(sp, dp, seq, 64_240);
        tcp.syn = syn;
        tcp.ack = ack;
        tcp.psh = psh;
        tcp.fin = fin;
        tcp.acknowledgment_number = if ack { ackno } else { 0 };
        let ip = ipv4_header(ids, src, dst, IpNumber::TCP, true)?;
        let mut bytes = Vec::new();
        PacketBuilder::ip(IpHeaders::Ipv4(ip, Ipv4Extensions::default()))
            .tcp_header(tcp)
            .write(&mut bytes, data)
            .map_err(|e| build_error("TCP segment", e))?;
        let advance = data.len() as u32 + u32::from(syn) + u32::from(fin);
        if forward {
            self.cseq = self.cseq.wrapping_add(advance);
        } else {
            self.sseq = self.sseq.wrapping_add(advance);
        }
        out.push(Logical {
            t_ns,
            conv: self.conv,
            forward,
            ip_len: ip_len(&bytes),
            ip: bytes,
            fragment: false,
        });
        Ok(())
    }
}

pub(super) const SYN: (bool, bool, bool, bool) = (true, false, false, false);
pub(super) const SYN_ACK: (bool, bool, bool, bool) = (true, true, false, false);
pub(super) const ACK: (bool, bool, bool, bool) = (false, true, false, false);
pub(super) const PSH_ACK: (bool, bool, bool, bool) = (false, true, true, false);
pub(super) const FIN_ACK: (bool, bool, bool, bool) = (false, true, false, true);

pub(super) fn tcp_conversation(
    index: usize,
    conv: &Conversation,
    (request, response, exchanges): (usize, usize, usize),
    ids: &mut Ids,
    out: &mut Vec<Logical>,
) -> Result<(), LabError> {
    let mut tcp = Tcp {
        conv: index,
        c: vm(conv.client)?,
        s: vm(conv.server)?,
        cport: conv.client_port,
        sport: conv.server_port,
        cseq: 0x1000_0000u32.wrapping_mul(index as u32 + 1) ^ 0x0135_7913,
        sseq: 0x2000_0000u32.wrapping_mul(index as u32 + 3) ^ 0x0246_8ace,
    };
    let base = conv.start_ms * 1_000_000;
    let mut t = base;
    tcp.push(out, ids, t, true, SYN, &[])?;
    t += HALF_RTT_NS;
    tcp.push(out, ids, t, false, SYN_ACK, &[])?;
    t += HALF_RTT_NS;
    tcp.push(out, ids, t, true, ACK, &[])?;
    let interval = conv.interval_ms * 1_000_000;
    for i in 0..exchanges {
        let mut t = base + 1_000_000 + i as u64 * interval;
        tcp.push(out, ids, t, true, PSH_ACK, &payload(request, i))?;
        t += HALF_RTT_NS;
        let body = payload(response, i + 7);
        let chunks: Vec<&[u8]> = body.chunks(MSS).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            let flags = if n + 1 == chunks.len() { PSH_ACK } else { ACK };
            tcp.push(out, ids, t, false, flags, chunk)?;
            t += SEGMENT_GAP_NS;
        }
        t += HALF_RTT_NS;
        tcp.push(out, ids, t, true, ACK, &[])?;
    }
    let mut t = base + exchanges as u64 * interval + 500_000_000;
    tcp.push(out, ids, t, true, FIN_ACK, &[])?;
    t += HALF_RTT_NS;
    tcp.push(out, ids, t, false, FIN_ACK, &[])?;
    t += HALF_RTT_NS;
    tcp.push(out, ids, t, true, ACK, &[])
}

#[allow(clippy::too_many_arguments)]
pub(super) fn udp_datagram(
    index: usize,
    forward: bool,
    t_ns: u64,
    src: &Vm,
    dst: &Vm,
    ports: (u16, u16),
    data: &[u8],
    ids: &mut Ids,
    out: &mut Vec<Logical>,
) -> Result<(), LabError> {
    let mut ip = ipv4_header(ids, src, dst, IpNumber::UDP, false)?;
    let udp = UdpHeader::with_ipv4_checksum(ports.0, ports.1, &ip, data)
        .map_err(|e| build_error("UDP header", e))?;
    let mut datagram = udp.to_bytes().to_vec();
    datagram.extend_from_slice(data);
    let fragmented = datagram.len() > IPV4_MTU_PAYLOAD;
    let chunks: Vec<&[u8]> = datagram.chunks(IPV4_MTU_PAYLOAD).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        ip.set_payload_len(chunk.len())
            .map_err(|e| build_error("IPv4 fragment", e))?;
        ip.more_fragments = n + 1 < chunks.len();
        ip.fragment_offset = IpFragOffset::try_new((n * IPV4_MTU_PAYLOAD / 8) as u16)
            .map_err(|e| build_error("IPv4 fragment offset", e))?;
        ip.header_checksum = ip.calc_header_checksum();
        let mut bytes = ip.to_bytes().to_vec();
        bytes.extend_from_slice(chunk);
        out.push(Logical {
            t_ns: t_ns + n as u64 * SEGMENT_GAP_NS,
            conv: index,
            forward,
            ip_len: ip_len(&bytes),
            ip: bytes,
            fragment: fragmented,
        });
    }
    Ok(())
}

pub(super) fn udp_conversation(
    index: usize,
    conv: &Conversation,
    (request, response, exchanges): (usize, usize, usize),
    ids: &mut Ids,
    out: &mut Vec<Logical>,
) -> Result<(), LabError> {
    let (c, s) = (vm(conv.client)?, vm(conv.server)?);
    let ports = (conv.client_port, conv.server_port);
    for i in 0..exchanges {
        let t = (conv.start_ms + i as u64 * conv.interval_ms) * 1_000_000;
        udp_datagram(index, true, t, c, s, ports, &payload(request, i), ids, out)?;
        let size = if i == lab::FRAGMENTED_EXCHANGE {
            lab::FRAGMENTED_RESPONSE
        } else {
            response
        };
        let back = (ports.1, ports.0);
        let data = payload(size, i + 3);
        udp_datagram(
            index,
            false,
            t + 2 * HALF_RTT_NS,
            s,
            c,
            back,
            &data,
            ids,
            out,
        )?;
    }
    Ok(())
}

pub(super) fn echo_conversation(
    index: usize,
    conv: &Conversation,
    (size, exchanges): (usize, usize),
    ids: &mut Ids,
    out: &mut Vec<Logical>,
) -> Result<(), LabError> {
    let (c, s) = (vm(conv.client)?, vm(conv.server)?);
    let ident = 0x4200 + index as u16;
    for i in 0..exchanges {
        let t = (conv.start_ms + i as u64 * conv.interval_ms) * 1_000_000;
        let seq = i as u16 + 1;
        let data = payload(size, i);
        for forward in [true, false] {
            let (src, dst) = if forward { (c, s) } else { (s, c) };
            let mut bytes = Vec::new();
            let written = if conv.ipv6 {
                let (Some(a), Some(b)) = (src.ipv6, dst.ipv6) else {
                    return Err(LabError::Unknown(conv.client));
                };
                let builder = PacketBuilder::ipv6(a.octets(), b.octets(), 64);
                if forward {
                    builder
                        .icmpv6_echo_request(ident, seq)
                        .write(&mut bytes, &data)
                } else {
                    builder
                        .icmpv6_echo_reply(ident, seq)
                        .write(&mut bytes, &data)
                }
            } else {
                let ip = ipv4_header(ids, src, dst, IpNumber::ICMP, false)?;
                let builder = PacketBuilder::ip(IpHeaders::Ipv4(ip, Ipv4Extensions::default()));
                if forward {
                    builder
                        .icmpv4_echo_request(ident, seq)
                        .write(&mut bytes, &data)
                } else {
                    builder
                        .icmpv4_echo_reply(ident, seq)
                        .write(&mut bytes, &data)
                }
            };
            written.map_err(|e| build_error("ICMP echo", e))?;
            out.push(Logical {
                t_ns: t + if forward { 0 } else { 2 * HALF_RTT_NS },
                conv: index,
                forward,
                ip_len: ip_len(&bytes),
                ip: bytes,
                fragment: false,
            });
        }
    }
    Ok(())
}

/// An Ethernet frame, 802.1Q-tagged when `vlan` is not 0.
pub(super) fn ethernet(
    src: [u8; 6],
    dst: [u8; 6],
    vlan: u16,
    ethertype: u16,
    body: &[u8],
) -> Vec<u8> {
    let mut frame = Vec::with_capacity(18 + body.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    if vlan != 0 {
        frame.extend_from_slice(&0x8100u16.to_be_bytes());
        frame.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

pub(super) fn arp(
    op: u16,
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_mac: [u8; 6],
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, 0x08, 0x00, 6, 4];
    body.extend_from_slice(&op.to_be_bytes());
    body.extend_from_slice(&sender_mac);
    body.extend_from_slice(&sender_ip.octets());
    body.extend_from_slice(&target_mac);
    body.extend_from_slice(&target_ip.octets());
    body
}

/// An LLDP PDU: chassis id (MAC), port id (name), TTL 120, end.
pub(super) fn lldp(chassis: [u8; 6], port: &str) -> Vec<u8> {
    let tlv = |kind: u16, value: &[u8]| {
        let head = (kind << 9) | (value.len() as u16 & 0x01ff);
        let mut out = head.to_be_bytes().to_vec();
        out.extend_from_slice(value);
        out
    };
    let mut body = Vec::new();
    body.extend(tlv(1, &[&[4u8][..], &chassis[..]].concat()));
    body.extend(tlv(2, &[&[5u8][..], port.as_bytes()].concat()));
    body.extend(tlv(3, &120u16.to_be_bytes()));
    body.extend(tlv(0, &[]));
    body
}
