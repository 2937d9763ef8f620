//! Deterministic generator of the eastwest lab capture.
//!
//! The lab is a small virtual data center of six hypervisor hosts (see
//! [`lab`], the twin of `lab/inventory.toml`). Every conversation of
//! [`lab::CONVERSATIONS`] is rendered packet by packet (real TCP handshakes,
//! data and FIN, UDP request/response with one fragmented datagram, ICMP
//! and ICMPv6 echo) and each packet is written once per observation point
//! that sees it:
//!
//! * at the mirror of the sending VM's host and, for traffic between hosts,
//!   on the hosts' overlay underlay and at the mirror of the receiving VM's
//!   host: the ESXi hosts' VXLAN (outer UDP 4789 between the hosts' VTEPs,
//!   VNI of the destination VM's port group, inner frame untagged), the
//!   Hyper-V hosts' NVGRE (GRE 0x6558 between the provider addresses, key =
//!   the destination VM's VSID << 8 | a FlowID per flow direction, inner
//!   frame untagged);
//! * esx-01 mirrors to a SPAN port (frames with the port group's 802.1Q
//!   tag), esx-02 with ERSPAN type I, esx-03 with ERSPAN type II session 3
//!   (En = 3, the tag is preserved in the frame), esx-04 with ERSPAN type III
//!   session 4, Hyper-V host hv-01 with ERSPAN type II session 5, hv-02 not
//!   at all. Mirrored frames carry the 802.1Q tag of the local VM's port
//!   group (the sender's for traffic inside one host; Hyper-V's are
//!   untagged).
//!
//! The output is `lab.pcap` and `expected.json` ([`expected::Expected`]):
//! the flows a correct exporter reports, per observation point and
//! direction. Nothing depends on the clock or on randomness: two runs write
//! the same bytes.

mod encap;
pub mod expected;
pub mod lab;
mod packets;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use eastwest_core::pcapfile::{Precision, Writer, LINKTYPE_ETHERNET};

use encap::{nvgre_flow_id, point_encap, point_name, Encoder};
use expected::{ConversationTruth, Counters, Expected, FlowTruth, NonIp, ObservationPoint};
use lab::{Conversation, Expect, Host, Kind, Mirror, Overlay, Vm};
use packets::{arp, echo_conversation, ethernet, lldp, tcp_conversation, udp_conversation, Ids};

/// 2026-11-02T09:00:00Z, seconds since the Unix epoch.
pub const START_SECS: u64 = 1_793_610_000;
/// The same instant, as written in expected.json.
pub const START_RFC3339: &str = "2026-11-02T09:00:00Z";
/// Snap length of lab.pcap.
pub const SNAPLEN: u32 = 65_535;
/// Name of the capture file in the output directory.
pub const PCAP_FILE: &str = "lab.pcap";
/// Name of the truth file in the output directory.
pub const EXPECTED_FILE: &str = "expected.json";

const MSS: usize = 1_448;
const IPV4_MTU_PAYLOAD: usize = 1_480;
const HALF_RTT_NS: u64 = 150_000;
const SEGMENT_GAP_NS: u64 = 20_000;
/// Delay from the sender's mirror to the underlay and from the underlay to
/// the receiver's mirror.
const HOP_NS: u64 = 30_000;
const VXLAN_POINT: usize = lab::HOSTS.len();
const NVGRE_POINT: usize = lab::HOSTS.len() + 1;
/// Host mirrors, then the VXLAN and the NVGRE underlay.
const POINTS: usize = lab::HOSTS.len() + 2;
const GATEWAY_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x01];
const LLDP_MAC: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];

/// Why the lab could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("building a frame of {what}: {detail}")]
    Build { what: String, detail: String },
    #[error("the lab definition names an unknown VM or host {0:?}")]
    Unknown(&'static str),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("encoding expected.json: {0}")]
    Json(#[from] serde_json::Error),
}

fn build_error(what: impl Into<String>, detail: impl std::fmt::Display) -> LabError {
    LabError::Build {
        what: what.into(),
        detail: detail.to_string(),
    }
}

/// The generated capture and its truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lab {
    pub pcap: Vec<u8>,
    pub expected: Expected,
}

impl Lab {
    /// expected.json's text (pretty, with a final newline).
    pub fn expected_json(&self) -> Result<String, LabError> {
        let mut text = serde_json::to_string_pretty(&self.expected)?;
        text.push('\n');
        Ok(text)
    }
}

/// Generate the lab and write `lab.pcap` and `expected.json` into `dir`.
pub fn write(dir: &Path) -> Result<Lab, LabError> {
    let lab = generate()?;
    let io_err = |path: PathBuf| move |source| LabError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io_err(dir.to_path_buf()))?;
    let pcap_path = dir.join(PCAP_FILE);
    std::fs::write(&pcap_path, &lab.pcap).map_err(io_err(pcap_path.clone()))?;
    let json_path = dir.join(EXPECTED_FILE);
    std::fs::write(&json_path, lab.expected_json()?).map_err(io_err(json_path.clone()))?;
    Ok(lab)
}

/// One packet as the sending VM put it on its virtual wire.
#[derive(Debug, Clone)]
struct Logical {
    /// Nanoseconds after the lab's start.
    t_ns: u64,
    conv: usize,
    forward: bool,
    /// The IP packet (no link layer).
    ip: Vec<u8>,
    ip_len: u16,
    fragment: bool,
}

/// A frame waiting to be encapsulated and written, in time order.
#[derive(Debug, Clone)]
struct Pending {
    t_ns: u64,
    order: usize,
    /// Index into `lab::HOSTS`, or `VXLAN_POINT` / `NVGRE_POINT`.
    point: usize,
    /// The inner Ethernet frame.
    inner: Vec<u8>,
    /// Tag of the inner frame (0 untagged).
    vlan: u16,
    /// For the underlay: sending and receiving host, VNI (for NVGRE the
    /// whole GRE key).
    underlay: Option<(&'static Host, &'static Host, u32)>,
    /// For IP frames: which conversation and direction.
    ip: Option<(usize, bool, u16, bool)>,
    /// For non-IP frames: the ethertype.
    ethertype: u16,
}

fn vm(name: &'static str) -> Result<&'static Vm, LabError> {
    lab::vm(name).ok_or(LabError::Unknown(name))
}

fn host(name: &'static str) -> Result<&'static Host, LabError> {
    lab::host(name).ok_or(LabError::Unknown(name))
}

fn host_index(name: &'static str) -> Result<usize, LabError> {
    lab::HOSTS
        .iter()
        .position(|h| h.name == name)
        .ok_or(LabError::Unknown(name))
}

/// Generate the lab in memory.
pub fn generate() -> Result<Lab, LabError> {
    let mut ids = Ids::new();
    let mut logical = Vec::new();
    for (index, conv) in lab::CONVERSATIONS.iter().enumerate() {
        match conv.kind {
            Kind::Tcp {
                request,
                response,
                exchanges,
            } => tcp_conversation(
                index,
                conv,
                (request, response, exchanges),
                &mut ids,
                &mut logical,
            )?,
            Kind::Udp {
                request,
                response,
                exchanges,
            } => udp_conversation(
                index,
                conv,
                (request, response, exchanges),
                &mut ids,
                &mut logical,
            )?,
            Kind::Echo { payload, exchanges } => {
                echo_conversation(index, conv, (payload, exchanges), &mut ids, &mut logical)?
            }
        }
    }

    // Place every logical packet at the observation points that see it.
    let mut pending = Vec::new();
    for packet in &logical {
        let conv = &lab::CONVERSATIONS[packet.conv];
        let (c, s) = (vm(conv.client)?, vm(conv.server)?);
        let (src, dst) = if packet.forward { (c, s) } else { (s, c) };
        let ethertype = if conv.ipv6 { 0x86DD } else { 0x0800 };
        let ip = Some((packet.conv, packet.forward, packet.ip_len, packet.fragment));
        let mirrored = |point: usize, t_ns: u64, local: &Vm| Pending {
            t_ns,
            order: 0,
            point,
            inner: ethernet(src.mac, dst.mac, local.vlan, ethertype, &packet.ip),
            vlan: local.vlan,
            underlay: None,
            ip,
            ethertype,
        };
        let (src_host, dst_host) = (host(src.host)?, host(dst.host)?);
        if src_host.mirror != Mirror::None {
            pending.push(mirrored(host_index(src.host)?, packet.t_ns, src));
        }
        if src.host != dst.host {
            let (point, vni) = match (src_host.overlay, dst_host.overlay) {
                (Overlay::Vxlan, Overlay::Vxlan) => (VXLAN_POINT, dst.vni),
                (Overlay::Nvgre, Overlay::Nvgre) => (
                    NVGRE_POINT,
                    (dst.vni << 8) | u32::from(nvgre_flow_id(conv, packet.forward)),
                ),
                _ => return Err(build_error(conv.client, "hosts of different overlays")),
            };
            pending.push(Pending {
                t_ns: packet.t_ns + HOP_NS,
                order: 0,
                point,
                inner: ethernet(src.mac, dst.mac, 0, ethertype, &packet.ip),
                vlan: 0,
                underlay: Some((src_host, dst_host, vni)),
                ip,
                ethertype,
            });
            if dst_host.mirror != Mirror::None {
                pending.push(mirrored(
                    host_index(dst.host)?,
                    packet.t_ns + 2 * HOP_NS,
                    dst,
                ));
            }
        }
    }
    // Non-IP frames: ARP for the gateway on esx-01 and esx-03, LLDP from
    // esx-02's uplink switch mirrored by its ERSPAN session.
    let (web, fin) = (vm("web-01")?, vm("fin-fe-01")?);
    let gateway = |v: &Vm| {
        Ipv4Addr::new(
            v.ipv4.octets()[0],
            v.ipv4.octets()[1],
            v.ipv4.octets()[2],
            1,
        )
    };
    let mut non_ip = |point: usize,
                      t_ms: u64,
                      vlan: u16,
                      frame_src,
                      frame_dst,
                      ethertype: u16,
                      body: Vec<u8>| {
        pending.push(Pending {
            t_ns: t_ms * 1_000_000,
            order: 0,
            point,
            inner: ethernet(frame_src, frame_dst, vlan, ethertype, &body),
            vlan,
            underlay: None,
            ip: None,
            ethertype,
        });
    };
    for (point, v, t_ms) in [(0, web, 500), (0, web, 120_500), (2, fin, 29_500)] {
        non_ip(
            point,
            t_ms,
            v.vlan,
            v.mac,
            [0xff; 6],
            0x0806,
            arp(1, v.mac, v.ipv4, [0; 6], gateway(v)),
        );
        non_ip(
            point,
            t_ms + 1,
            v.vlan,
            GATEWAY_MAC,
            v.mac,
            0x0806,
            arp(2, GATEWAY_MAC, gateway(v), v.mac, v.ipv4),
        );
    }
    for n in 0..6u64 {
        non_ip(
            1,
            200 + n * 30_000,
            0,
            lab::UNDERLAY_GW_MAC,
            LLDP_MAC,
            0x88CC,
            lldp(lab::UNDERLAY_GW_MAC, "Ethernet1/2"),
        );
    }
    for (order, p) in pending.iter_mut().enumerate() {
        p.order = order;
    }
    pending.sort_by_key(|p| (p.t_ns, p.order));

    // Encapsulate, write, and account.
    let mut writer = Writer::new(Vec::new(), LINKTYPE_ETHERNET, SNAPLEN, Precision::Micro)
        .map_err(|e| build_error("pcap header", e))?;
    let mut encoder = Encoder::default();
    let mut frames_per_point = [0u64; POINTS];
    let mut flows: BTreeMap<(usize, bool, usize), FlowTruth> = BTreeMap::new();
    let mut non_ip: BTreeMap<(usize, u16), u64> = BTreeMap::new();
    for p in &pending {
        let frame = encoder.encapsulate(p)?;
        let ts = START_SECS * 1_000_000_000 + p.t_ns;
        writer
            .write_record(ts, &frame, frame.len() as u32)
            .map_err(|e| build_error("pcap record", e))?;
        frames_per_point[p.point] += 1;
        let Some((conv_index, forward, ip_len, fragment)) = p.ip else {
            *non_ip.entry((p.point, p.ethertype)).or_default() += 1;
            continue;
        };
        let ms = ts / 1_000_000;
        let flow = match flows.entry((conv_index, !forward, p.point)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(flow_truth(conv_index, forward, p, ms)?)
            }
        };
        flow.packets += 1;
        flow.bytes += u64::from(ip_len);
        flow.fragments += u64::from(fragment);
        flow.last_ms = ms;
    }
    let pcap = writer.into_inner().map_err(|e| build_error("pcap", e))?;

    let mut conversations = Vec::new();
    for (index, conv) in lab::CONVERSATIONS.iter().enumerate() {
        let (c, s) = (vm(conv.client)?, vm(conv.server)?);
        let mut forward = Counters::default();
        let mut reverse = Counters::default();
        for packet in logical.iter().filter(|l| l.conv == index) {
            let counters = if packet.forward {
                &mut forward
            } else {
                &mut reverse
            };
            counters.packets += 1;
            counters.bytes += u64::from(packet.ip_len);
        }
        let (proto, proto_name) = proto_of(conv);
        let (verdict, rule) = match conv.expect {
            Expect::Allowed => ("allowed", ""),
            Expect::Violation(rule) => ("violation", rule),
        };
        conversations.push(ConversationTruth {
            name: if conv.server_port != 0 {
                format!("{}->{} {}/{}", c.name, s.name, proto_name, conv.server_port)
            } else {
                format!("{}->{} {}", c.name, s.name, proto_name)
            },
            client_vm: c.name,
            server_vm: s.name,
            client_ip: ip_string(c, conv.ipv6)?,
            server_ip: ip_string(s, conv.ipv6)?,
            proto,
            client_port: conv.client_port,
            server_port: conv.server_port,
            same_host: c.host == s.host,
            verdict,
            rule,
            forward,
            reverse,
            flows: flows
                .iter()
                .filter(|((ci, _, _), _)| *ci == index)
                .map(|(_, f)| f.clone())
                .collect(),
        });
    }
    let observation_points = (0..POINTS)
        .filter(|&point| {
            lab::HOSTS
                .get(point)
                .is_none_or(|h| h.mirror != Mirror::None)
        })
        .map(|point| {
            let (host, source, session) = match lab::HOSTS.get(point) {
                Some(h) => (
                    h.name,
                    h.mirror.source().map(|a| a.to_string()).unwrap_or_default(),
                    h.mirror.session(),
                ),
                None => ("", String::new(), 0),
            };
            ObservationPoint {
                name: point_name(point),
                encap: point_encap(point).as_str(),
                host,
                mirror_source: source,
                session,
                frames: frames_per_point[point],
            }
        })
        .collect();
    let first_ms = pending
        .first()
        .map_or(0, |p| (START_SECS * 1_000_000_000 + p.t_ns) / 1_000_000);
    let last_ms = pending
        .last()
        .map_or(0, |p| (START_SECS * 1_000_000_000 + p.t_ns) / 1_000_000);
    Ok(Lab {
        pcap,
        expected: Expected {
            start: START_RFC3339.to_string(),
            first_ms,
            last_ms,
            frames: pending.len(),
            observation_points,
            conversations,
            non_ip: non_ip
                .into_iter()
                .map(|((point, ethertype), frames)| NonIp {
                    observation: point_name(point),
                    ethertype: format!("{ethertype:#06x}"),
                    frames,
                })
                .collect(),
        },
    })
}

fn proto_of(conv: &Conversation) -> (u8, &'static str) {
    match (conv.kind, conv.ipv6) {
        (Kind::Tcp { .. }, _) => (6, "tcp"),
        (Kind::Udp { .. }, _) => (17, "udp"),
        (Kind::Echo { .. }, false) => (1, "icmp"),
        (Kind::Echo { .. }, true) => (58, "icmpv6"),
    }
}

fn ip_string(vm: &Vm, v6: bool) -> Result<String, LabError> {
    vm.ip(v6)
        .map(|a: IpAddr| a.to_string())
        .ok_or(LabError::Unknown(vm.name))
}

fn flow_truth(
    conv_index: usize,
    forward: bool,
    p: &Pending,
    ms: u64,
) -> Result<FlowTruth, LabError> {
    let conv = &lab::CONVERSATIONS[conv_index];
    let (c, s) = (vm(conv.client)?, vm(conv.server)?);
    let (src, dst, sp, dp) = if forward {
        (c, s, conv.client_port, conv.server_port)
    } else {
        (s, c, conv.server_port, conv.client_port)
    };
    let (encap, attributed, tunnel_src, tunnel_dst, erspan_vlan, vni, session) =
        match (lab::HOSTS.get(p.point), p.underlay) {
            (_, Some((from, to, vni))) => (
                point_encap(p.point),
                from,
                from.vtep.to_string(),
                to.vtep.to_string(),
                0,
                vni,
                0,
            ),
            (Some(h), None) => (
                point_encap(p.point),
                h,
                h.mirror.source().map(|a| a.to_string()).unwrap_or_default(),
                h.mirror
                    .source()
                    .map(|_| lab::MONITOR_IP.to_string())
                    .unwrap_or_default(),
                match h.mirror {
                    Mirror::ErspanII { .. } | Mirror::ErspanIII { .. } => p.vlan,
                    Mirror::Span | Mirror::ErspanI { .. } | Mirror::None => 0,
                },
                0,
                h.mirror.session(),
            ),
            (None, None) => return Err(build_error("flow", "observation point without a host")),
        };
    Ok(FlowTruth {
        observation: point_name(p.point),
        direction: if forward { "forward" } else { "reverse" },
        encap: encap.as_str(),
        host: attributed.name,
        domain: attributed.domain,
        tunnel_src,
        tunnel_dst,
        vlan: p.vlan,
        erspan_vlan,
        vni,
        session,
        src_ip: ip_string(src, conv.ipv6)?,
        dst_ip: ip_string(dst, conv.ipv6)?,
        src_port: sp,
        dst_port: dp,
        packets: 0,
        bytes: 0,
        fragments: 0,
        first_ms: ms,
        last_ms: ms,
    })
}
